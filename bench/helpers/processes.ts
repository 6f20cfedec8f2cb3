/**
 * The simulator and the bot as separate processes, as an operator runs them (`perpbot simulator`,
 * `perpbot run --mode live` pointed at it on 127.0.0.1), and what benches read of them: CPU and
 * RSS from /proc (Linux only), the heartbeat file, /metrics, the bot's candles_1m rows.
 * Used by bench/scale.ts and bench/soak.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { projectPath } from '../../src/core/paths.ts';
import type { SimulatorState } from '../../src/exchange/simulator/types.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const BIN = projectPath('bin/perpbot.js');
const TICKS = 100; // USER_HZ of /proc/<pid>/stat on Linux
const BUNDLED_BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');

/**
 * The first `n` TRADING perpetuals of the bundled exchangeInfo (323 of them), BTCUSDT first.
 * @throws Error when the file has fewer than `n`
 */
export function symbolsFromExchangeInfo(n: number): string[] {
  const info = JSON.parse(readFileSync(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'), 'utf8')) as { symbols: Array<{ symbol: string; status: string; contractType: string }> };
  const out = info.symbols.filter((s) => s.status === 'TRADING' && s.contractType === 'PERPETUAL').map((s) => s.symbol);
  if (out.length < n) throw new Error(`only ${out.length} symbols in the exchange info`);
  return ['BTCUSDT', ...out.filter((s) => s !== 'BTCUSDT')].slice(0, n);
}

/**
 * Write the first `rows` klines of the bundled BTCUSDT file (16,567 1m klines) to `file`, for
 * many symbols to replay.
 * @returns `file`
 * @throws Error when the bundled file holds fewer klines
 */
export function writeKlineCsv(file: string, rows: number): string {
  const lines = readFileSync(BUNDLED_BTC, 'utf8').trimEnd().split('\n');
  if (lines.length - 1 < rows) throw new Error(`the bundled kline file holds ${lines.length - 1} klines, ${rows} needed`);
  writeFileSync(file, lines.slice(0, rows + 1).join('\n') + '\n');
  return file;
}

/** CPU seconds (user + system) of a process so far, s. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/**
 * CPU seconds of each thread of a process, user and system, keyed by thread name (`comm`; Node
 * names most of its threads `node`) and thread id: `node#1234`. The main thread's id is the
 * process id. Threads that exited are not counted. Linux only (`/proc/<pid>/task`).
 */
export function threadCpuSeconds(pid: number): Map<string, { user: number; system: number }> {
  const out = new Map<string, { user: number; system: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      out.set(`${name}#${tid}`, { user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS });
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return out;
}

/** Resident set size of a process (VmRSS), MB (2^20 bytes); NaN when unreadable. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `fn` every 100 ms until it returns a truthy value.
 * @param ms time limit, ms
 * @throws Error naming `what` on time-out
 */
export async function waitFor<T>(what: string, fn: () => T | undefined | null | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** SIGTERM a child (SIGKILL after 15,000 ms); resolves when it has exited. */
export function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
  });
}

/** Spawn `node bin/perpbot.js …args`, its stdout and stderr collected into `out()`. */
function perpbot(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  const add = (b: Buffer) => {
    text += b.toString();
    // Bounded over a day of logs: the start-up lines (the inspector's address…) and the latest.
    if (text.length > 4_000_000) text = `${text.slice(0, 100_000)}\n…\n${text.slice(-2_000_000)}`;
  };
  child.stdout!.on('data', add);
  child.stderr!.on('data', add);
  return { child, out: () => text };
}

/** A `perpbot simulator` process. */
export interface SimulatorCli {
  child: ChildProcess;
  /** REST base URL, http://127.0.0.1:PORT. */
  url: string;
  wsUrl: string;
  /** GET /admin/state. */
  state(): Promise<SimulatorState>;
  /** POST /admin/<what> (pause, resume). */
  admin(what: 'pause' | 'resume'): Promise<void>;
}

/**
 * Start `perpbot simulator --port 0` replaying `csv` under every symbol name (a `--symbols-file`
 * written beside `csv`).
 * @param o.history klines already closed at start; o.speed data clock × real time (default 1);
 *   o.paused start with the data clock stopped (POST /admin/resume starts it); o.stepsPerKline
 *   websocket updates per kline (default the simulator's, 12)
 * @throws Error when no URL is printed within 120,000 ms
 */
export async function startSimulatorCli(o: { symbols: string[]; csv: string; history: number; speed?: number; paused?: boolean; stepsPerKline?: number }): Promise<SimulatorCli> {
  const args = ['simulator', '--port', '0', '--history', String(o.history), ...(o.speed ? ['--speed', String(o.speed)] : []), ...(o.paused ? ['--paused'] : []), ...(o.stepsPerKline ? ['--steps-per-kline', String(o.stepsPerKline)] : [])];
  // Every symbol replays the same file: one --symbols-file (the simulator holds the file once).
  const symbolsFile = join(dirname(o.csv), `symbols-${o.symbols.length}.txt`);
  writeFileSync(symbolsFile, o.symbols.map((s) => `${s}=${basename(o.csv)}`).join('\n') + '\n');
  const { child, out } = perpbot([...args, '--symbols-file', symbolsFile]);
  const url = await waitFor('the simulator', () => /(http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1] ?? (child.exitCode !== null && `exited: ${out()}`), 120_000);
  if (url.startsWith('exited')) throw new Error(`the simulator ${url}`);
  return {
    child,
    url,
    wsUrl: url.replace('http:', 'ws:'),
    state: async () => (await (await fetch(`${url}/admin/state`)).json()) as SimulatorState,
    admin: async (what) => {
      const r = await fetch(`${url}/admin/${what}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      if (!r.ok) throw new Error(`POST /admin/${what}: ${r.status} ${await r.text()}`);
    },
  };
}

/** The part of status/heartbeat.json benches read. */
export interface Heartbeat {
  risk: { state: string };
  counters?: Record<string, number>;
  lastError?: { message: string } | null;
}

/** A `perpbot run --mode live` process. */
export interface BotCli {
  child: ChildProcess;
  /** The SQLite file. */
  db: string;
  /** Its log so far (JSON lines, stdout and stderr). */
  out(): string;
  /** The heartbeat file, parsed; null while missing or half-written. */
  heartbeat(): Heartbeat | null;
  /** GET /metrics (with the API token), as name → value of the unlabelled samples. */
  metrics(): Promise<Map<string, number>>;
  /**
   * A full garbage collection in the bot (inspector `HeapProfiler.collectGarbage`).
   * @throws Error unless started with `inspect`
   */
  collectGarbage(): Promise<void>;
  /**
   * Start V8's CPU profiler in the bot (inspector `Profiler.start`).
   * @throws Error unless started with `inspect`
   */
  startCpuProfile(): Promise<void>;
  /** Stop it: the profile (`Profiler.Profile`, the `.cpuprofile` format) since the start. */
  stopCpuProfile(): Promise<unknown>;
  /** Close the inspector session, if any. */
  closeInspector(): void;
}

/**
 * One Chrome DevTools Protocol call on an inspector session, opened on first use.
 * @param url the `ws://127.0.0.1:PORT/UUID` the process printed ("Debugger listening on …")
 */
function inspectorSession(url: () => string | undefined): { call(method: string, params?: object): Promise<unknown>; close(): void } {
  let ws: Promise<WebSocket> | null = null;
  let seq = 0;
  const open = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const u = url();
      if (!u) return reject(new Error('no inspector: start the bot with inspect'));
      const s = new WebSocket(u);
      s.once('open', () => resolve(s));
      s.once('error', reject);
    });
  return {
    async call(method, params) {
      const s = await (ws ??= open());
      const id = ++seq;
      return new Promise<unknown>((resolve, reject) => {
        const onMessage = (data: WebSocket.RawData) => {
          const m = JSON.parse(data.toString()) as { id?: number; error?: { message: string }; result?: unknown };
          if (m.id !== id) return;
          s.off('message', onMessage);
          if (m.error) reject(new Error(`${method}: ${m.error.message}`));
          else resolve(m.result);
        };
        s.on('message', onMessage);
        s.send(JSON.stringify({ id, method, ...(params ? { params } : {}) }));
      });
    },
    close() {
      void ws?.then((s) => s.close()).catch(() => undefined);
      ws = null;
    },
  };
}

/**
 * Start the bot in live mode against a simulator, its files (database, heartbeat every 500 ms,
 * logs) under `runDir`, its API on a free port with a random token (PERPBOT_API_TOKEN).
 * @param o.env more variables (config overrides); o.nodeOptions more node flags (NODE_OPTIONS);
 *   o.inspect with the inspector on a free port, for {@link BotCli.collectGarbage}
 */
export async function startBotCli(o: { sim: Pick<SimulatorCli, 'url' | 'wsUrl'>; symbols: string[]; runDir: string; logLevel?: string; env?: Record<string, string>; nodeOptions?: string[]; inspect?: boolean }): Promise<BotCli> {
  mkdirSync(o.runDir, { recursive: true });
  const heartbeatFile = join(o.runDir, 'heartbeat.json');
  const db = join(o.runDir, 'live.sqlite');
  const token = randomBytes(16).toString('hex');
  const port = await freePort();
  const nodeOptions = [process.env.NODE_OPTIONS ?? '', ...(o.nodeOptions ?? []), ...(o.inspect ? ['--inspect=127.0.0.1:0'] : [])].join(' ').trim();
  const { child, out } = perpbot(['run', '--mode', 'live', '--db', db, '--log-level', o.logLevel ?? 'info'], {
    ...process.env,
    BINANCE_BASE_URL: o.sim.url,
    BINANCE_WS_URL: o.sim.wsUrl,
    BINANCE_API_KEY: 'perpbot-sim-key',
    BINANCE_API_SECRET: 'perpbot-sim-secret',
    PERPBOT_SYMBOLS: o.symbols.join(','),
    PERPBOT_HEARTBEAT_FILE: heartbeatFile,
    PERPBOT_HEARTBEAT_INTERVAL_MS: '500',
    PERPBOT_LOG_DIR: join(o.runDir, 'logs'),
    PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
    PERPBOT_API_PORT: String(port),
    PERPBOT_API_TOKEN: token,
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    ...o.env,
  });
  const inspector = inspectorSession(() => /Debugger listening on (ws:\/\/\S+)/.exec(out())?.[1]);
  return {
    child,
    db,
    out,
    heartbeat: () => {
      try {
        return JSON.parse(readFileSync(heartbeatFile, 'utf8')) as Heartbeat;
      } catch {
        return null;
      }
    },
    metrics: async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).text();
      const m = new Map<string, number>();
      for (const line of text.split('\n')) {
        const r = /^([a-zA-Z_:][\w:]*) (\S+)$/.exec(line);
        if (r) m.set(r[1]!, Number(r[2]));
      }
      return m;
    },
    collectGarbage: async () => void (await inspector.call('HeapProfiler.collectGarbage')),
    startCpuProfile: async () => {
      await inspector.call('Profiler.enable');
      await inspector.call('Profiler.start');
    },
    stopCpuProfile: async () => ((await inspector.call('Profiler.stop')) as { profile: unknown }).profile,
    closeInspector: () => inspector.close(),
  };
}

/**
 * Wait until the bot's heartbeat says trading ACTIVE.
 * @param ms time limit, ms
 * @throws Error when the bot exits first (with the end of its log) or on time-out
 */
export async function waitActive(bot: BotCli, ms: number): Promise<void> {
  await waitFor('ACTIVE', () => bot.heartbeat()?.risk.state === 'ACTIVE' || bot.child.exitCode !== null, ms);
  if (bot.child.exitCode !== null) throw new Error(`the bot exited ${bot.child.exitCode}: ${bot.out().slice(-2000)}`);
}

/** Rows of candles_1m with open time in [from, to) (epoch ms); 0 when there is no database. */
export function candlesRecorded(db: string, from: number, to: number): number {
  if (!existsSync(db)) return 0;
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare('SELECT COUNT(*) AS c FROM candles_1m WHERE open_time >= ? AND open_time < ?').get(from, to) as { c: number }).c;
  } finally {
    d.close();
  }
}
