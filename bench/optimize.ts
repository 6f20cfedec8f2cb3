/**
 * Optimisation throughput (`npm run bench`, or `node bin/run-ts.js bench/optimize.ts`): trials
 * per minute of `perpbot optimize` on the bundled BTCUSDT+ETHUSDT klines (≈ 33,000 candles a
 * trial, funding on), with 1 and with 2 worker threads. Each thread first loads the data and runs
 * one warm-up trial (not timed); then the same 48 grid points are timed. Printed, never asserted.
 */
import { loadConfig } from '../src/config/load.ts';
import { getStrategy } from '../strategies/registry.ts';
import { TrialPool } from '../src/research/pool.ts';
import { optimize } from '../src/research/optimize.ts';
import { parseParamSpecs } from '../src/research/params.ts';

const config = loadConfig({ env: {}, dotenvFile: null, overrides: { 'log.file': 'false' } });
const dims = parseParamSpecs(['bandK=1.5:2.75:0.25', 'adxMax=15,20,25,30', 'stopK=3.5,4']);

async function trialsPerMinute(workers: number): Promise<{ rate: number; trials: number; ms: number }> {
  const pool = new TrialPool(workers, { config, funding: [] });
  try {
    await Promise.all(Array.from({ length: workers }, () => pool.run({ strategy: 'vwap-adx', params: {} }))); // warm-up
    const t0 = performance.now();
    const r = await optimize(pool, { strategy: getStrategy('vwap-adx'), baseParams: {}, dims, objective: 'sharpe', method: 'grid', seed: 1, neighbourhood: false });
    const ms = performance.now() - t0;
    return { rate: (r.counts.trials / ms) * 60_000, trials: r.counts.trials, ms };
  } finally {
    await pool.close();
  }
}

const one = await trialsPerMinute(1);
console.log(`optimize, 1 worker thread: ${one.rate.toFixed(1)} trials/min (${one.trials} trials of the bundled 2-symbol data in ${(one.ms / 1000).toFixed(1)} s)`);
const two = await trialsPerMinute(2);
console.log(`optimize, 2 worker threads: ${two.rate.toFixed(1)} trials/min (${two.trials} trials in ${(two.ms / 1000).toFixed(1)} s); ×${(two.rate / one.rate).toFixed(2)} vs 1 thread on ${(await import('node:os')).availableParallelism()} cores`);
