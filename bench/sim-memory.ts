/**
 * RSS of the simulator serving many symbols from one kline file (issue #9): `N` trading
 * perpetuals of the bundled exchangeInfo, each replaying the bundled BTCUSDT file (as `--data`
 * specs, as the CLI would pass them), paused, no clients.
 * Prints one JSON line: symbols, klines per symbol, RSS and heap used after a GC, MB.
 *
 *   node --expose-gc bin/run-ts.js bench/sim-memory.ts [N=300]
 */
import { readFileSync } from 'node:fs';
import { projectPath } from '../src/core/paths.ts';
import { startSimulator } from '../src/exchange/simulator/server.ts';

const n = Number(process.argv[2] ?? 300);
const info = JSON.parse(readFileSync(projectPath('data', 'exchange-info', 'fapi-exchangeInfo-2024-10-02.json'), 'utf8')) as { symbols: { symbol: string; contractType: string; quoteAsset: string; status: string }[] };
const names = info.symbols.filter((s) => s.contractType === 'PERPETUAL' && s.status === 'TRADING').map((s) => s.symbol).slice(0, n);
const file = projectPath('data', 'klines', 'BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const rss0 = process.memoryUsage().rss;
const started = Date.now();
const sim = await startSimulator({ data: names.map((s) => `${s}=${file}`), paused: true });
const startMs = Date.now() - started;
(globalThis as { gc?: () => void }).gc?.();
const m = process.memoryUsage();
console.log(JSON.stringify({ symbols: names.length, startMs, rssMB: Math.round(m.rss / 1e6), rssBeforeMB: Math.round(rss0 / 1e6), heapUsedMB: Math.round(m.heapUsed / 1e6) }));
await sim.close();
