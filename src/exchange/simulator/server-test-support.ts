/**
 * Test support for the simulator server tests (not used by the bot): a paused simulator on
 * 127.0.0.1 over the bundled AVAXUSDT fixture, clients of the real `binance` library pointed at it,
 * and the list of what a test opened, which each test file closes in its own afterEach with
 * {@link closeOpen}.
 */
import { expect } from 'vitest';
import { USDMClient, WebsocketClient } from 'binance';
import { projectPath } from '../../core/paths.ts';
import { readKlineCsv } from '../../market/kline-csv.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from './server.ts';

const AVAX = projectPath('src', 'market', 'fixtures', 'AVAXUSDT-1m-2025-02-head.csv');
const INFO = projectPath('data', 'exchange-info', 'fapi-exchangeInfo-2024-10-02.json');
/** The klines of the bundled AVAXUSDT fixture the simulator plays. */
export const FIXTURE = readKlineCsv(AVAX, 'AVAXUSDT').klines;
/** Klines already closed when the simulator starts. */
export const HISTORY = 10;

/** Simulators, clients and sockets a test opened; {@link closeOpen} closes them, newest first. */
export const open: { close(): Promise<void> | void }[] = [];

/** Close everything in {@link open}, newest first (each test file runs it in its afterEach). */
export async function closeOpen(): Promise<void> {
  while (open.length > 0) await open.pop()!.close();
}

/** A paused simulator over the AVAXUSDT fixture with HISTORY klines closed, closed after the test. */
export async function sim(extra: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ data: [`AVAXUSDT=${AVAX}`], exchangeInfo: INFO, paused: true, history: HISTORY, ...extra });
  open.push(s);
  return s;
}

/** A USDMClient of the real `binance` library for the simulator, signing with the given key and secret. */
export function rest(s: Simulator, key = s.apiKey, secret = s.apiSecret): USDMClient {
  return new USDMClient({ api_key: key, api_secret: secret, baseUrl: s.url }, { proxy: false });
}

/** The rejection of `p` (the library's error: Binance code, message, headers); throws when `p` resolves. */
export async function err(p: Promise<unknown>): Promise<{ code: number; message: string; headers: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: number; message: string; headers: Record<string, string> };
  }
  throw new Error('expected a rejection');
}

/** POST a JSON body to /admin/<path> of the simulator; expects 200 and returns the answer. */
export async function adminPost(s: Simulator, path: string, body: unknown = {}): Promise<unknown> {
  const r = await fetch(`${s.url}/admin/${path}`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
  return r.json();
}

/** Poll every 5 ms until `cond()` holds; throws after `ms` naming `what`. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const silent = { trace: () => {}, info: () => {}, error: () => {} };

/** A WebsocketClient that is fully closed afterwards (sockets, ping timers, listen-key keepalive timers). */
export function wsClient(s: Simulator, wsUrl = s.wsUrl): { client: WebsocketClient; messages: Record<string, unknown>[] } {
  const client = new WebsocketClient(
    { api_key: s.apiKey, api_secret: s.apiSecret, wsUrl, restOptions: { baseUrl: s.url }, requestOptions: { proxy: false } } as never,
    silent,
  );
  const messages: Record<string, unknown>[] = [];
  client.on('message', (m: unknown) => messages.push(m as Record<string, unknown>));
  client.on('exception', () => {});
  open.push({
    close: async () => {
      // The user-data manager keeps a 50-minute keepalive interval per listen key: clear it.
      const cache = ((client as unknown as { getUserDataStreamManager(): unknown }).getUserDataStreamManager() as { listenKeyStateCache: { listenKeyStateStore: Record<string, unknown>; clearAllListenKeyState(k: string): void } }).listenKeyStateCache;
      for (const k of Object.keys(cache.listenKeyStateStore)) cache.clearAllListenKeyState(k);
      client.closeAll(true);
      client.removeAllListeners();
      await new Promise((r) => setTimeout(r, 20));
    },
  });
  return { client, messages };
}
