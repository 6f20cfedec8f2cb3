/**
 * `npm run bench`: throughput figures, printed (never asserted).
 *
 * 1. The bus alone: messages/s through one subscriber, draining after every message (as replay
 *    does) and in batches.
 * 2. The whole pipeline (bus, strategy, executor, simulated venue, SQLite recorder) replaying
 *    real klines: the bundled BTCUSDT/ETHUSDT files repeated with shifted times to ≥ 1,000,000
 *    candles, for one symbol and for two.
 *
 * Each pipeline case runs twice: with every candle written to candles_1m (the default
 * configuration) and with `recordCandles` off (signals, orders, fills, positions still written).
 *
 * 3. Latency of the live bot against the simulator (bench/latency.ts).
 * 4. Optimisation throughput: trials/min of `perpbot optimize` on 1 and 2 worker threads
 *    (bench/optimize.ts).
 *
 * Options: `--candles N` (default 1,000,000); `--only bus|pipeline|latency|optimize` runs one
 * part (e.g. under `node --cpu-prof`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../src/bus/bus.ts';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import type { Kline, SignalEmitted } from '../src/core/types.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { readKlineCsv, shiftKlines } from '../src/market/kline-csv.ts';
import type { ReplayData } from '../src/market/replay-source.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const args = process.argv.slice(2);
const target = Number(args[args.indexOf('--candles') + 1] ?? NaN) || 1_000_000;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const runs = (part: string) => only === undefined || only === part;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function benchBus(): Promise<void> {
  const signal: SignalEmitted = {
    type: 'SignalEmitted',
    ts: 0,
    signalId: 's',
    strategyId: 's',
    symbol: 'BTCUSDT',
    target: 'FLAT',
    reason: 'exit_vwap',
    refPrice: '1',
    indicators: {},
  };
  for (const batch of [1, 1000]) {
    const bus = new EventBus();
    let seen = 0;
    bus.consume('signal.*', () => {
      seen++;
    });
    const n = 2_000_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      for (let j = 0; j < batch; j++) bus.publish('signal.s', signal);
      await bus.drain();
    }
    const ms = performance.now() - t0;
    if (seen !== n) throw new Error(`bus bench lost messages: ${seen} of ${n}`);
    console.log(`bus alone, drain every ${batch === 1 ? 'message' : `${batch} messages`}: ${fmt((n / ms) * 1000)} msg/s (${n.toLocaleString('en-US')} in ${ms.toFixed(0)} ms)`);
  }
}

function repeat(files: Array<{ symbol: string; path: string }>, minCandles: number): ReplayData {
  const base = files.map((f) => ({ ...f, klines: readKlineCsv(f.path, f.symbol).klines }));
  const perCopy = base.reduce((a, b) => a + b.klines.length, 0);
  const copies = Math.ceil(minCandles / perCopy);
  const first = base[0]!.klines[0]!.openTime;
  const last = base[0]!.klines[base[0]!.klines.length - 1]!.openTime;
  // shift by whole days so the UTC sessions (VWAP anchor) and funding times line up as in the data
  const span = Math.ceil((last - first + 60_000) / 86_400_000) * 86_400_000;
  const streams: Kline[][] = base.map((f) => {
    const out: Kline[] = [];
    for (let c = 0; c < copies; c++) {
      const shifted = c === 0 ? f.klines : shiftKlines(f.klines, c * span);
      for (const k of shifted) out.push(k);
    }
    return out;
  });
  return {
    streams,
    symbols: base.map((f) => f.symbol),
    files: base.map((f, i) => ({
      symbol: f.symbol,
      path: f.path,
      rows: streams[i]!.length,
      gaps: [],
      missingMinutes: 0,
      firstOpenTime: streams[i]![0]!.openTime,
      lastOpenTime: streams[i]![streams[i]!.length - 1]!.openTime,
    })),
    totalKlines: streams.reduce((a, s) => a + s.length, 0),
  };
}

/** One replay of `data` through a fresh kernel and database; the report. */
async function replayOnce(data: ReplayData, recordCandles: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-bench-'));
  try {
    const config = loadConfig({
      env: {},
      dotenvFile: null,
      overrides: { db: join(dir, 'bench.sqlite'), recordCandles: recordCandles ? 'true' : 'false', 'log.file': 'false' },
    });
    const rules = loadExchangeInfo(config.exchangeInfo);
    const kernel = Kernel.forReplay({ config, mode: 'replay', rules, symbols: data.symbols, log: silentLogger(), heartbeat: false }, data);
    const report = await kernel.run();
    await kernel.close(report, 'completed');
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median and range of `runs` replays (after one warm-up), printed as one line. */
async function benchPipeline(label: string, data: ReplayData, recordCandles: boolean, runs = 3): Promise<void> {
  await replayOnce(data, recordCandles); // warm-up: JIT, page cache
  const reports = [];
  for (let i = 0; i < runs; i++) reports.push(await replayOnce(data, recordCandles));
  const rates = reports.map((r) => r.candlesPerSecond).sort((a, b) => a - b);
  const r = reports[0]!;
  console.log(
    `pipeline, ${label}, candles_1m ${recordCandles ? 'written' : 'off'}: ${fmt(rates[Math.floor(rates.length / 2)]!)} candles/s median ` +
      `(${fmt(rates[0]!)}–${fmt(rates[rates.length - 1]!)} over ${runs} runs of ${fmt(r.candles)} candles; ${r.signals} signals, ${r.ordersSubmitted} orders, ${r.fills} fills each)`,
  );
}

const btc = { symbol: 'BTCUSDT', path: projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv') };
const eth = { symbol: 'ETHUSDT', path: projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv') };

console.log(`perpbot bench — node ${process.version}, ${new Date().toISOString()}`);
// Exchange info loading is not timed; the replay clock starts when the first kline is published.
void loadExchangeInfo;
if (runs('bus')) await benchBus();
if (runs('pipeline')) {
  const one = repeat([btc], target);
  const two = repeat([btc, eth], target);
  for (const record of [true, false]) {
    await benchPipeline('1 symbol (BTCUSDT)', one, record);
    await benchPipeline('2 symbols (BTCUSDT+ETHUSDT)', two, record);
  }
}

// 3. Latency of the live bot against the simulator: kline close → order request (bench/latency.ts).
if (runs('latency')) await import('./latency.ts');

// 4. Optimisation throughput: trials per minute on 1 and 2 worker threads (bench/optimize.ts).
if (runs('optimize')) await import('./optimize.ts');
