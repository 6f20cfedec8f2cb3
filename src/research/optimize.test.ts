/**
 * optimize on the real bundled klines with real worker threads: a trial equals `perpbot backtest`
 * with the same parameters; invalid parameters are reported, not crashed; results and the output
 * file do not depend on the number of workers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { getStrategy } from '../../strategies/registry.ts';
import { TrialPool } from './pool.ts';
import { optimize, type OptimizeResult } from './optimize.ts';
import { parseParamSpecs } from './params.ts';
import { optimizeCsv } from './output.ts';

const config = loadConfig({ env: {}, dotenvFile: null, overrides: { 'log.file': 'false' } });
const ctx = { config, funding: ['none'] };
const pools: TrialPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

async function search(workers: number): Promise<OptimizeResult> {
  const pool = new TrialPool(workers, ctx);
  pools.push(pool);
  return optimize(pool, {
    strategy: getStrategy('vwap-adx'),
    baseParams: {},
    dims: parseParamSpecs(['bandK=2,3', 'stopK=2.5,3']),
    objective: 'net',
    method: 'grid',
    seed: 1,
    neighbourhood: false,
  });
}

describe('optimize (worker threads, bundled BTCUSDT+ETHUSDT data)', () => {
  let two: OptimizeResult;
  it('runs every grid point; stopK ≤ bandK trials are invalid with the schema message', async () => {
    two = await search(2);
    expect(two.trials.map((t) => t.params)).toEqual([
      { bandK: 2, stopK: 2.5 },
      { bandK: 2, stopK: 3 },
      { bandK: 3, stopK: 2.5 },
      { bandK: 3, stopK: 3 },
    ]);
    expect(two.counts).toEqual({ trials: 4, valid: 2, invalid: 2, failed: 0 });
    expect(two.trials[2]?.error).toBe('stopK: stopK must be greater than bandK');
    expect(two.trials[3]?.valid).toBe(false);
  }, 180_000);

  it('the default point (bandK=2 stopK=3) equals `perpbot backtest --funding none` (27 round trips, net −32.95824265 with the exchange stops on)', () => {
    const t = two.trials[1];
    expect(t?.valid).toBe(true);
    expect(t?.metrics?.roundTrips).toBe(27);
    expect(t?.metrics?.net).toBeCloseTo(-32.95824265, 9);
    expect(t?.objective).toBe(t?.metrics?.net);
    // a different point trades differently
    expect(two.trials[0]?.metrics?.roundTrips).not.toBe(27);
    expect(two.ranked.map((r) => r.trial)).toEqual([...two.ranked].sort((a, b) => (b.objective as number) - (a.objective as number)).map((r) => r.trial));
  });

  it('one worker gives a byte-identical CSV to two workers', async () => {
    const one = await search(1);
    expect(optimizeCsv(one, { hash: 'h' })).toBe(optimizeCsv(two, { hash: 'h' }));
  }, 180_000);
});
