/**
 * Users' strategy modules: the example module loads through tsx, registers and runs in a replay
 * of real data (through the real CLI, as a user would: `perpbot backtest --config`), and every kind
 * of broken module is a STRATEGY_MODULE error naming the instance, the module and the problem
 * (the CLI exits 2 with it, before anything is written).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PerpbotError } from '../src/core/errors.ts';
import { projectPath } from '../src/core/paths.ts';
import type { StrategyConfig } from '../src/config/schema.ts';
import { loadStrategyModules } from './loader.ts';
import { getStrategy } from './registry.ts';

const EXAMPLE = projectPath('strategies/examples/ema-cross.ts');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-module-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cfg = (module: string, name = 'ema-cross', params: Record<string, unknown> = {}): StrategyConfig => ({ id: 'mine', name, symbols: [], params, module });

async function problem(c: StrategyConfig): Promise<string> {
  try {
    await loadStrategyModules([c], dir);
  } catch (err) {
    expect(err).toBeInstanceOf(PerpbotError);
    expect((err as PerpbotError).code).toBe('STRATEGY_MODULE');
    return (err as Error).message;
  }
  throw new Error('expected STRATEGY_MODULE');
}

describe('loadStrategyModules', () => {
  it('loads the example module (TypeScript, via tsx), registers it under its name, validates its params', async () => {
    await loadStrategyModules([cfg(EXAMPLE, 'ema-cross', { fast: 5, slow: 13 })], dir);
    const def = getStrategy('ema-cross');
    expect(def.intervals?.(def.params.parse({}))).toEqual(['15m']);
    // Loading it again (another instance of the same module) is fine.
    await loadStrategyModules([cfg(EXAMPLE)], dir);
  });

  it('a missing file, a syntax error, no export, a wrong shape: each named', async () => {
    expect(await problem(cfg('./missing.ts'))).toMatch(/^strategies\[mine\]\.module "\.\/missing\.ts": file not found \(.*missing\.ts\)$/);
    writeFileSync(join(dir, 'syntax.ts'), 'export default { name: "x", \n  create( => 1 };\n');
    expect(await problem(cfg('./syntax.ts'))).toMatch(/"\.\/syntax\.ts": cannot be loaded: .*/);
    writeFileSync(join(dir, 'none.ts'), 'export const other = 1;\n');
    expect(await problem(cfg('./none.ts'))).toMatch(/"\.\/none\.ts": exports no strategy/);
    writeFileSync(join(dir, 'shape.ts'), 'export default { name: "shape", description: "d", params: {}, create() {} };\n');
    expect(await problem(cfg('./shape.ts', 'shape'))).toMatch(/"\.\/shape\.ts": its export is not a StrategyDefinition: params: expected a zod schema/);
    writeFileSync(join(dir, 'nocreate.ts'), 'export default { name: "nocreate", description: "d", params: { safeParse() {} } };\n');
    expect(await problem(cfg('./nocreate.ts', 'nocreate'))).toMatch(/create: expected a function/);
    writeFileSync(join(dir, 'throws.ts'), 'throw new Error("module top level failed");\n');
    expect(await problem(cfg('./throws.ts'))).toMatch(/cannot be loaded: module top level failed/);
  });

  it('a name differing from the config, a name taken by a built-in, params failing the module schema', async () => {
    expect(await problem(cfg(EXAMPLE, 'other'))).toMatch(/the module's strategy is named "ema-cross" but the config's name is "other"/);
    writeFileSync(join(dir, 'taken.ts'), 'export default { name: "vwap-adx", description: "d", params: { safeParse: () => ({ success: true, data: {} }) }, create() {} };\n');
    expect(await problem(cfg('./taken.ts', 'vwap-adx'))).toMatch(/"vwap-adx" is already taken/);
    const msg = await problem(cfg(EXAMPLE, 'ema-cross', { fast: 30, slow: 21 }));
    expect(msg).toContain('strategies[mine].module');
    expect(msg).toContain('strategies[mine].params.fast: got 30, fast must be below slow');
    expect(await problem(cfg(EXAMPLE, 'ema-cross', { typo: 1 }))).toMatch(/unknown key\(s\) typo/);
  });
});

describe('a user module through the CLI', () => {
  const BIN = projectPath('bin/perpbot.js');
  const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
  function perpbot(config: object, sub: string) {
    writeFileSync(join(dir, `${sub}.json`), JSON.stringify(config));
    const r = spawnSync(process.execPath, [BIN, 'backtest', '--json', '--data', BTC, '--config', join(dir, `${sub}.json`), '--db', join(dir, sub, 'db.sqlite')], {
      encoding: 'utf8', cwd: projectPath('.'), env: { PATH: process.env.PATH ?? '', HOME: dir, PERPBOT_LOG_FILE: 'false', PERPBOT_HEARTBEAT_FILE: join(dir, sub, 'hb.json'), PERPBOT_RECORD_CANDLES: 'false' }, timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('the example module backtests on real data and trades', () => {
    const r = perpbot({ strategies: [{ id: 'mine', name: 'ema-cross', module: './strategies/examples/ema-cross.ts', params: { fast: 9, slow: 21 } }] }, 'ok');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { signals: number; fills: number; roundTrips: number };
    expect(report.signals).toBeGreaterThan(20);
    expect(report.fills).toBeGreaterThan(20);
    expect(report.roundTrips).toBeGreaterThan(10);
  });

  it('a broken module stops the bot at start with exit 2 naming the module, and writes nothing', () => {
    writeFileSync(join(dir, 'broken.ts'), 'export default {\n');
    const r = perpbot({ strategies: [{ id: 'mine', name: 'x', module: join(dir, 'broken.ts') }] }, 'broken');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^perpbot: strategies\[mine\]\.module ".*broken\.ts": cannot be loaded/);
    expect(existsSync(join(dir, 'broken', 'db.sqlite'))).toBe(false);
    const p = perpbot({ strategies: [{ id: 'mine', name: 'ema-cross', module: './strategies/examples/ema-cross.ts', params: { slow: 'x' } }] }, 'params');
    expect(p.code).toBe(2);
    expect(p.stderr).toContain('strategies[mine].params.slow');
  });
});
