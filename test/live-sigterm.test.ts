/**
 * SIGTERM at any moment of live start-up, with the real CLI (`node bin/perpbot.js run --mode live`)
 * in a child process against the simulator on 127.0.0.1: the bot stops within a few seconds with
 * exit code 0, no unhandled error, and its heartbeat says `stopped`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BIN = projectPath('bin/perpbot.js');
const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
const SYMBOLS = RULES.symbols().filter((s) => s.endsWith('USDT')).slice(0, 100);

let sim: Simulator;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'perpbot-sigterm-data-'));
  const csv = join(dataDir, 'k.csv');
  writeFileSync(csv, readFileSync(BTC, 'utf8').split('\n').slice(0, 700).join('\n') + '\n');
  sim = await startSimulator({ data: SYMBOLS.map((s) => `${s}=${csv}`), history: 500 });
}, 120_000);
afterAll(async () => {
  await sim?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Start the CLI, wait for a log line matching `moment`, send SIGTERM.
 * @returns exit code, signal, ms from SIGTERM to exit, the output and the final heartbeat
 */
async function sigtermAt(moment: RegExp, baseUrl: string, wsUrl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-sigterm-'));
  const hbFile = join(dir, 'heartbeat.json');
  const child = spawn(process.execPath, [BIN, 'run', '--mode', 'live'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      BINANCE_BASE_URL: baseUrl,
      BINANCE_WS_URL: wsUrl,
      BINANCE_API_KEY: 'perpbot-sim-key',
      BINANCE_API_SECRET: 'perpbot-sim-secret',
      PERPBOT_DB: join(dir, 'live.sqlite'),
      PERPBOT_HEARTBEAT_FILE: hbFile,
      PERPBOT_LOG_DIR: join(dir, 'logs'),
      PERPBOT_SYMBOLS: SYMBOLS.join(','),
      PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
    },
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  try {
    const end = Date.now() + 90_000;
    while (!moment.test(out)) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`never saw ${moment} (exit ${child.exitCode}):\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const t = Date.now();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const r = await exited;
    clearTimeout(killer);
    const hb = JSON.parse(readFileSync(hbFile, 'utf8')) as { status: string };
    return { ...r, ms: Date.now() - t, out, hb };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SIGTERM during live start-up (real CLI, child process)', () => {
  const cases: Array<[string, RegExp]> = [
    ['at the first log line (the bot not built yet: modules, database, kernel)', /"msg":"api token/],
    ['right after the start (before the clock offset)', /"msg":"live trading"/],
    ['after the clock offset (filters, account set-up)', /clock offset to Binance measured/],
    ['after the account set-up (user stream, reconciliation)', /account set up/],
  ];
  for (const [when, moment] of cases) {
    it(`${when}: exits 0 within a few seconds, heartbeat stopped, no unhandled error`, async () => {
      const r = await sigtermAt(moment, sim.url, sim.wsUrl);
      expect(r.signal, r.out.slice(-2000)).toBeNull();
      expect(r.code, r.out.slice(-2000)).toBe(0);
      expect(r.ms).toBeLessThan(15_000);
      expect(r.out).not.toMatch(/Unhandled|worker has exited/);
      expect(r.hb.status).toBe('stopped');
    }, 150_000);
  }

  it('while start-up retries an exchange that cannot be reached: exits 0 within a few seconds', async () => {
    const r = await sigtermAt(/failed \(attempt 1\)/, 'http://127.0.0.1:9', 'ws://127.0.0.1:9');
    expect(r.code, r.out.slice(-2000)).toBe(0);
    expect(r.ms).toBeLessThan(15_000);
    expect(r.out).not.toMatch(/Unhandled|worker has exited/);
    expect(r.hb.status).toBe('stopped');
  }, 150_000);
});
