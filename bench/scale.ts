/**
 * `npm run bench:scale`: live start-up at scale, figures printed (never asserted).
 *
 * For each N (default 10, 50, 150, 300 symbols) it starts the simulator and the bot as separate
 * processes (`perpbot simulator`, `perpbot run --mode live`), the bot pointed at the simulator
 * on 127.0.0.1, and prints:
 * - start → ACTIVE: from spawning the bot to its heartbeat saying trading ACTIVE, s (includes
 *   node and tsx loading the sources), and from the bot's first log line to its ACTIVE line;
 * - the bot's CPU (% of one core) and RSS over a window after ACTIVE, and the simulator's CPU;
 * - klines recorded (rows of candles_1m with open time in the window) vs klines the simulator
 *   closed in the window (× N), and the REST 429/418 answers the bot counted.
 *
 * The simulator gets one kline file per symbol: the bundled BTCUSDT file, cut to its first 2,000
 * rows, under each symbol name (symbols taken from data/exchange-info, TRADING perpetuals, 323 in the bundled file).
 *
 * Options: `--n 10,50,150,300`, `--window-s 65` (the measuring window after ACTIVE).
 * Linux only (reads /proc for CPU and RSS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { projectPath } from '../src/core/paths.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : def);
const Ns = opt('--n', '10,50,150,300').split(',').map(Number);
const windowMs = Number(opt('--window-s', '65')) * 1000;
const BIN = projectPath('bin/perpbot.js');
const TICKS = 100; // USER_HZ of /proc/<pid>/stat on Linux

function symbolsFromExchangeInfo(n: number): string[] {
  const info = JSON.parse(readFileSync(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'), 'utf8')) as { symbols: Array<{ symbol: string; status: string; contractType: string; quoteAsset: string }> };
  const out = info.symbols.filter((s) => s.status === 'TRADING' && s.contractType === 'PERPETUAL').map((s) => s.symbol);
  if (out.length < n) throw new Error(`only ${out.length} symbols in the exchange info`);
  return ['BTCUSDT', ...out.filter((s) => s !== 'BTCUSDT')].slice(0, n);
}

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | null | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
  });
}

async function runOnce(n: number, dir: string, csv: string): Promise<Record<string, string | number>> {
  const symbols = symbolsFromExchangeInfo(n);
  const sim = spawn(process.execPath, [BIN, 'simulator', '--port', '0', '--history', '500', ...symbols.flatMap((s) => ['--data', `${s}=${csv}`])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let banner = '';
  sim.stdout!.on('data', (b: Buffer) => (banner += b.toString()));
  sim.stderr!.on('data', (b: Buffer) => (banner += b.toString()));
  const url = await waitFor('the simulator', () => /(http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1], 120_000);
  const wsUrl = url.replace('http:', 'ws:');
  const runDir = join(dir, `n${n}`);
  mkdirSync(runDir, { recursive: true });
  const heartbeat = join(runDir, 'heartbeat.json');
  const db = join(runDir, 'live.sqlite');
  const t0 = Date.now();
  const bot = spawn(process.execPath, [BIN, 'run', '--mode', 'live', '--db', db, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      BINANCE_BASE_URL: url,
      BINANCE_WS_URL: wsUrl,
      BINANCE_API_KEY: 'perpbot-sim-key',
      BINANCE_API_SECRET: 'perpbot-sim-secret',
      PERPBOT_SYMBOLS: symbols.join(','),
      PERPBOT_HEARTBEAT_FILE: heartbeat,
      PERPBOT_HEARTBEAT_INTERVAL_MS: '500',
      PERPBOT_LOG_DIR: join(runDir, 'logs'),
      PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
    },
  });
  let botOut = '';
  bot.stdout!.on('data', (b: Buffer) => (botOut += b.toString()));
  bot.stderr!.on('data', (b: Buffer) => (botOut += b.toString()));
  const hb = () => {
    try {
      return JSON.parse(readFileSync(heartbeat, 'utf8')) as { risk: { state: string }; counters?: Record<string, number>; lastError?: { message: string } | null };
    } catch {
      return null;
    }
  };
  try {
    await waitFor('ACTIVE', () => hb()?.risk.state === 'ACTIVE' || bot.exitCode !== null, 600_000);
    if (bot.exitCode !== null) throw new Error(`the bot exited ${bot.exitCode}: ${botOut.slice(-2000)}`);
    const activeS = (Date.now() - t0) / 1000;
    // The same from the bot's own log: its first line ('live trading', after node and tsx loaded) to ACTIVE.
    const times = (re: RegExp) => botOut.split('\n').filter((l) => re.test(l)).map((l) => Date.parse((JSON.parse(l) as { time: string }).time))[0];
    let fromLogS = NaN;
    try {
      await waitFor('the ACTIVE log line', () => /HALTED → ACTIVE/.test(botOut), 10_000);
      fromLogS = ((times(/HALTED → ACTIVE/) ?? NaN) - (times(/"live trading"/) ?? NaN)) / 1000;
    } catch {
      // figure left out
    }
    const botCpu0 = cpuSeconds(bot.pid!);
    const simCpu0 = cpuSeconds(sim.pid!);
    const w0 = Date.now();
    const state0 = (await (await fetch(`${url}/admin/state`)).json()) as { klineIndex: number; dataTime: number };
    await sleep(windowMs);
    const state1 = (await (await fetch(`${url}/admin/state`)).json()) as { klineIndex: number; dataTime: number };
    const wall = (Date.now() - w0) / 1000;
    const botCpu = ((cpuSeconds(bot.pid!) - botCpu0) / wall) * 100;
    const simCpu = ((cpuSeconds(sim.pid!) - simCpu0) / wall) * 100;
    const rss = rssMb(bot.pid!);
    // Klines the simulator closed in the window, and the bot's rows for them (it may lag a few s).
    await sleep(5_000);
    const closedPerSymbol = state1.klineIndex - state0.klineIndex;
    const from = state0.dataTime - (state0.dataTime % 60_000);
    const to = from + closedPerSymbol * 60_000;
    const rows = existsSync(db) ? (new Database(db, { readonly: true }).prepare('SELECT COUNT(*) AS c FROM candles_1m WHERE open_time >= ? AND open_time < ?').get(from, to) as { c: number }).c : 0;
    const c = hb()?.counters ?? {};
    const limited = Number(c.restRateLimited ?? 0);
    return {
      N: n,
      'spawn→ACTIVE s': activeS.toFixed(1),
      'log→ACTIVE s': fromLogS.toFixed(1),
      'bot CPU %': botCpu.toFixed(0),
      'bot RSS MB': rss.toFixed(0),
      'sim CPU %': simCpu.toFixed(0),
      'klines recorded/closed': `${rows}/${closedPerSymbol * n}`,
      'connections': Number(c.marketConnections ?? 0),
      '429/418': limited,
    };
  } finally {
    await stopChild(bot);
    await stopChild(sim);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'perpbot-scale-'));
try {
  const csv = join(dir, 'klines.csv');
  writeFileSync(csv, readFileSync(projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'), 'utf8').split('\n').slice(0, 2001).join('\n') + '\n');
  const rows: Array<Record<string, string | number>> = [];
  for (const n of Ns) {
    const r = await runOnce(n, dir, csv);
    console.log(JSON.stringify(r));
    rows.push(r);
  }
  console.table(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
