/**
 * The strategy registry: strategies by name. Built-in strategies register here; a user's own
 * strategy module can call {@link registerStrategy} before the kernel starts.
 */
import { PerpbotError } from '../src/core/errors.ts';
import type { StrategyDefinition } from './contract.ts';
import { vwapAdx } from './vwap-adx/vwap-adx.ts';
import { donchianBreakout } from './donchian-breakout/donchian-breakout.ts';
import { rsiReversion } from './rsi-reversion/rsi-reversion.ts';

const registry = new Map<string, StrategyDefinition<unknown>>();

/**
 * Register a strategy definition.
 * @throws TypeError when the name is already taken
 */
export function registerStrategy<P>(def: StrategyDefinition<P>): void {
  if (registry.has(def.name)) throw new TypeError(`strategy "${def.name}" is already registered`);
  registry.set(def.name, def as StrategyDefinition<unknown>);
}

/**
 * Look a strategy up by name.
 * @throws PerpbotError code STRATEGY_UNKNOWN naming the strategy and the known names
 */
export function getStrategy(name: string): StrategyDefinition<unknown> {
  const def = registry.get(name);
  if (!def) {
    throw new PerpbotError('STRATEGY_UNKNOWN', `unknown strategy "${name}" (known: ${[...registry.keys()].join(', ')})`);
  }
  return def;
}

/**
 * Validate parameters against a strategy's schema.
 * @throws PerpbotError code STRATEGY_PARAMS naming each bad parameter, its value and what was expected
 */
export function parseStrategyParams(def: StrategyDefinition<unknown>, strategyId: string, params: unknown): unknown {
  const r = def.params.safeParse(params);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') return `strategies[${strategyId}].params: unknown key(s) ${i.keys.join(', ')}`;
    const key = i.path.join('.');
    const value = key && typeof params === 'object' && params !== null ? (params as Record<string, unknown>)[String(i.path[0])] : undefined;
    return `strategies[${strategyId}].params.${key}: got ${JSON.stringify(value)}, ${i.message}`;
  });
  throw new PerpbotError('STRATEGY_PARAMS', `invalid strategy parameters:\n  - ${lines.join('\n  - ')}`);
}

/** Names of the registered strategies. */
export function strategyNames(): string[] {
  return [...registry.keys()];
}

registerStrategy(vwapAdx);
registerStrategy(donchianBreakout);
registerStrategy(rsiReversion);
