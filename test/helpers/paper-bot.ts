/**
 * Test helpers for the operating surface: the simulator in this process, the bot as a child
 * process (`perpbot run --mode paper`) with its API on a free loopback port, a local Slack stand-in
 * recording alerts, and real Chromium through playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from './free-port.ts';
export { freePort };
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { projectPath } from '../../src/core/paths.ts';
import type { Heartbeat } from '../../src/health/heartbeat.ts';
import { startSimulator, type Simulator } from '../../src/exchange/simulator/server.ts';

export const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
/** Secrets the bot is given; none may ever appear in a response, log or page. */
export const SLACK_TOKEN = 'xoxb-0000000000-1111111111-SLACKSECRETabcdefghij';
export const API_KEY = 'KEYk3y0000000000000000000000000000000000000000000000000000000001';
export const API_SECRET = 'SECs3cr3t000000000000000000000000000000000000000000000000000002';

/** Wait until `cond` holds (polling every 50 ms), or throw naming `what`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A local Slack Web API stand-in: answers ok, keeps every posted body. */
export async function startSlackStub(): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      bodies.push(decodeURIComponent(b.replace(/\+/g, ' ')));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"channel":"C1","ts":"1.2"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

/** A paper bot in a child process against a simulator in this process. */
export interface PaperBot {
  dir: string;
  sim: Simulator;
  child: ChildProcess;
  url: string;
  port: number;
  db: string;
  heartbeatFile: string;
  tokenFile: string;
  /** What the child printed (stdout + stderr). */
  output(): string;
  /** The log files' content. */
  logs(): string;
  heartbeat(): Heartbeat;
  token(): string;
  slack: { bodies: string[] };
  /** Environment for CLI child processes that talk to this bot. */
  cliEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Strategy params that enter often (narrow bands, no ADX filter), so signals and fills come quickly. */
export const EAGER_STRATEGY = [{ id: 'vwap-adx', name: 'vwap-adx', symbols: [], params: { bandK: 0.3, stopK: 5, adxMax: 100, minSessionKlines: 3, volGuardMaxMove: 0.5, timeStopMinutes: 0 } }];

/**
 * Start the simulator (paused, 300 klines of history) and `perpbot run --mode paper` against it,
 * API on a free port, token generated into a file; wait for the API and the market stream.
 */
export async function startPaperBot(extraEnv: Record<string, string> = {}): Promise<PaperBot> {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-api-'));
  mkdirSync(join(dir, 'logs'));
  const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 300 });
  const slack = await startSlackStub();
  const port = await freePort();
  const paths = { db: join(dir, 'paper.sqlite'), heartbeatFile: join(dir, 'heartbeat.json'), tokenFile: join(dir, 'api-token') };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    BINANCE_BASE_URL: sim.url,
    BINANCE_WS_URL: sim.wsUrl,
    BINANCE_API_KEY: API_KEY,
    BINANCE_API_SECRET: API_SECRET,
    SLACK_BOT_TOKEN: SLACK_TOKEN,
    SLACK_CHANNEL: 'C1',
    PERPBOT_SLACK_API_URL: slack.url,
    PERPBOT_DB: paths.db,
    PERPBOT_HEARTBEAT_FILE: paths.heartbeatFile,
    PERPBOT_HEARTBEAT_INTERVAL_MS: '200',
    PERPBOT_LOG_DIR: join(dir, 'logs'),
    PERPBOT_LOG_LEVEL: 'debug',
    PERPBOT_SYMBOLS: 'BTCUSDT',
    PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
    PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES: '0',
    PERPBOT_RISK_DAILY_LOSS_LIMIT: '0',
    PERPBOT_STRATEGIES: JSON.stringify(EAGER_STRATEGY),
    PERPBOT_API_PORT: String(port),
    PERPBOT_API_TOKEN_FILE: paths.tokenFile,
    PERPBOT_DAILY_SUMMARY_CRON: '',
    // The warm-up back-fill covers the simulator's 300 klines of history at any hour: by default it
    // reaches back to the UTC session's start or 60 minutes, so between 00:00 and ~05:00 UTC the
    // bot would start with fewer klines than the tests count on.
    PERPBOT_LIVE_WARMUP_MINUTES: '300',
    ...extraEnv,
  };
  let out = '';
  const child = spawn(process.execPath, [projectPath('bin/perpbot.js'), 'run', '--mode', 'paper'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const bot: PaperBot = {
    dir,
    sim,
    child,
    url,
    port,
    ...paths,
    output: () => out,
    logs: () => readdirSync(join(dir, 'logs')).map((f) => readFileSync(join(dir, 'logs', f), 'utf8')).join('\n'),
    heartbeat: () => JSON.parse(readFileSync(paths.heartbeatFile, 'utf8')) as Heartbeat,
    token: () => readFileSync(paths.tokenFile, 'utf8').trim(),
    slack,
    cliEnv: { PATH: env.PATH!, HOME: env.HOME!, PERPBOT_API_TOKEN_FILE: paths.tokenFile, PERPBOT_API_PORT: String(port), PERPBOT_HEARTBEAT_FILE: paths.heartbeatFile, PERPBOT_LOG_FILE: 'false', PERPBOT_DB: paths.db },
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await sim.close();
      await slack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await until('the API to answer', async () => {
      if (child.exitCode !== null) throw new Error(`the bot exited ${child.exitCode}: ${out}`);
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    }, 120_000);
    // The subscription is registered some time after the socket opens: step until frames arrive.
    await until('market frames', async () => {
      sim.step(1);
      const s = await api(bot, '/api/status');
      return ((s.sources as Record<string, { messages: number }>).BTCUSDT?.messages ?? 0) > 0;
    }, 30_000);
  } catch (err) {
    await bot.stop();
    throw err;
  }
  return bot;
}

/** GET (or POST with a body) on the bot's API with its token; throws on a non-2xx answer. */
export async function api(bot: PaperBot, path: string, body?: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${bot.url}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { Authorization: `Bearer ${bot.token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Advance the simulator one kline at a time until the bot holds a position (the eager strategy enters). */
export async function untilPosition(bot: PaperBot, maxKlines = 120): Promise<Array<Record<string, string>>> {
  for (let i = 0; i < maxKlines; i++) {
    const p = (await api(bot, '/api/positions')).positions as Array<Record<string, string>>;
    if (p.length > 0) return p;
    bot.sim.advance(1);
    await new Promise((r) => setTimeout(r, 150));
    bot.sim.step(2); // mark prices after the order: the simulated venue fills on them
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error('no position after advancing the simulator');
}

/** Real Chromium (Debian's), headless; playwright gives every launch a fresh temporary profile. */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: process.env.PERPBOT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, close: () => browser.close() };
}

/** Where tests save screenshots (kept for people to look at; ignored by git). */
export const SCREENSHOT_DIR = projectPath('test-output/screenshots');
