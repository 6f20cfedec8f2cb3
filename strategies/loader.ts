/**
 * Loads users' strategy modules (`strategies[].module` in the config) before the bot starts, and
 * registers them like the built-in strategies.
 *
 * A module is a TypeScript (.ts, .mts) or JavaScript (.js, .mjs) file, path relative to the working
 * directory, whose `default` export (or `export const strategy`) is a {@link StrategyDefinition}:
 * `{ name, description, params: <zod schema>, create(params, ctx), intervals?(params) }`; see
 * strategies/examples/ema-cross.ts and the README ("Your own strategy"). TypeScript is compiled on
 * load by tsx's programmatic API (`tsImport`), so this works whether perpbot itself runs from its
 * TypeScript sources or from a compiled build.
 *
 * Every problem is a PerpbotError with code STRATEGY_MODULE (the CLI exits 2) naming the instance,
 * the module and the problem: file not found, a load error (syntax error, failing import, a throw
 * at top level), no definition of the right shape, a name that differs from the config's `name`
 * or is taken by another strategy, or parameters failing the module's own schema.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PerpbotError } from '../src/core/errors.ts';
import type { StrategyConfig } from '../src/config/schema.ts';
import type { StrategyDefinition } from './contract.ts';
import { getStrategy, parseStrategyParams, registerStrategy, strategyNames } from './registry.ts';

/** Modules already loaded in this process, by absolute path. */
const loaded = new Map<string, StrategyDefinition<unknown>>();

function fail(cfg: StrategyConfig, problem: string): never {
  throw new PerpbotError('STRATEGY_MODULE', `strategies[${cfg.id}].module "${cfg.module}": ${problem}`);
}

/**
 * What is wrong with `def` as a StrategyDefinition, or null when its shape is right.
 */
export function definitionProblem(def: unknown): string | null {
  if (typeof def !== 'object' || def === null) return `expected an object, got ${def === null ? 'null' : typeof def}`;
  const d = def as Record<string, unknown>;
  if (typeof d.name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(d.name)) return `name: expected a string of a-z, 0-9 and -, got ${JSON.stringify(d.name)}`;
  if (typeof d.description !== 'string') return `description: expected a string, got ${typeof d.description}`;
  const params = d.params as { safeParse?: unknown } | undefined;
  if (typeof params !== 'object' || params === null || typeof params.safeParse !== 'function') return 'params: expected a zod schema (z.strictObject({...}))';
  if (typeof d.create !== 'function') return `create: expected a function (params, ctx) => Strategy, got ${typeof d.create}`;
  if (d.intervals !== undefined && typeof d.intervals !== 'function') return `intervals: expected a function (params) => intervals, got ${typeof d.intervals}`;
  return null;
}

/**
 * Load, check and register every module of `configs`, and validate each instance's parameters
 * against the module's own schema.
 * @param cwd the directory relative module paths start from (the working directory)
 * @throws PerpbotError STRATEGY_MODULE naming the instance, the module and the problem
 */
export async function loadStrategyModules(configs: readonly StrategyConfig[], cwd = process.cwd()): Promise<void> {
  for (const cfg of configs) {
    if (cfg.module === undefined) continue;
    const path = resolve(cwd, cfg.module);
    let def = loaded.get(path);
    if (!def) {
      if (!existsSync(path) || !statSync(path).isFile()) fail(cfg, `file not found (${path})`);
      let mod: Record<string, unknown>;
      try {
        // tsx only when a strategy module is configured (~60 ms to load).
        const { tsImport } = await import('tsx/esm/api');
        mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        fail(cfg, `cannot be loaded: ${msg.split('\n').slice(0, 3).join(' ').trim()}`);
      }
      let candidate = mod.default ?? mod.strategy;
      // A file tsx loads as CommonJS (no "type": "module" above it) arrives as { default: exports }.
      if (typeof candidate === 'object' && candidate !== null && !('create' in candidate)) {
        const inner = candidate as Record<string, unknown>;
        if ('default' in inner || 'strategy' in inner) candidate = inner.default ?? inner.strategy;
        else if (!('name' in inner)) candidate = undefined; // only other exports
      }
      if (candidate === undefined) fail(cfg, 'exports no strategy: expected `export default` (or `export const strategy`) of a StrategyDefinition');
      const problem = definitionProblem(candidate);
      if (problem) fail(cfg, `its export is not a StrategyDefinition: ${problem}`);
      def = candidate as StrategyDefinition<unknown>;
      if (strategyNames().includes(def.name) && getStrategy(def.name) !== def) {
        fail(cfg, `its strategy name "${def.name}" is already taken by another strategy`);
      }
      if (!strategyNames().includes(def.name)) registerStrategy(def);
      loaded.set(path, def);
    }
    if (cfg.name !== def.name) fail(cfg, `the module's strategy is named "${def.name}" but the config's name is "${cfg.name}"`);
    try {
      parseStrategyParams(def, cfg.id, cfg.params);
    } catch (err) {
      fail(cfg, (err as Error).message);
    }
  }
}
