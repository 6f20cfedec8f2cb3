/**
 * Streams with discipline, end to end: the real `binance` library against perpbot's simulator on
 * 127.0.0.1, with the bot's timings compressed through `startLive`'s injectable timings.
 *
 * - An exchange that cannot be reached: websocket reconnects back off (bounded attempts) and the
 *   outage costs a bounded number of log lines; once the exchange comes up the bot goes ACTIVE
 *   without a single 429/418.
 * - Connection rotation (`live.rotateAfterMinutes`, compressed): connections are replaced and the
 *   market data keeps flowing.
 * - Many symbols are sharded over several connections.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './helpers/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { startLive, type RunningLiveBot } from '../src/kernel/live.ts';
import type { BinanceMarketSource } from '../src/market/binance-source.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
const KEYS = { BINANCE_API_KEY: 'perpbot-sim-key', BINANCE_API_SECRET: 'perpbot-sim-secret' };

const until = async (what: string, cond: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A pino logger at debug level that keeps every line (parsed). */
function capturingLogger() {
  const lines: Array<{ level: number; msg: string; time: number }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { level: number; msg: string; time: number });
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function liveConfig(dir: string, url: string, wsUrl: string, symbols: string[], overrides: Record<string, unknown> = {}) {
  return loadConfig({
    env: { BINANCE_BASE_URL: url, BINANCE_WS_URL: wsUrl },
    dotenvFile: null,
    overrides: {
      db: join(dir, 'live.sqlite'),
      'heartbeat.file': join(dir, 'heartbeat.json'),
      'log.file': 'false',
      symbols,
      'risk.fundingBlackoutMinutes': '0',
      strategies: [{ id: 'vwap-adx', name: 'vwap-adx', params: { allowLong: false, allowShort: false } }],
      ...overrides,
    },
  });
}

async function withBot(symbols: string[], url: string, wsUrl: string, timings: Parameters<typeof startLive>[5], log = capturingLogger(), overrides: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-streams-'));
  const config = liveConfig(dir, url, wsUrl, symbols, overrides);
  const bot: RunningLiveBot = await startLive(config, log.log, RULES, symbols, KEYS, timings);
  cleanup.push(async () => {
    await bot.stop();
    await bot.kernel.close(null, 'stopped');
    rmSync(dir, { recursive: true, force: true });
  });
  return { bot, source: bot.kernel.source as BinanceMarketSource, lines: log.lines, dir };
}

describe('live streams (simulator on 127.0.0.1)', () => {
  it('exchange unreachable: reconnects back off and log a bounded number of lines; when it comes back the bot goes ACTIVE with no 429/418', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const wsUrl = `ws://127.0.0.1:${port}`;
    // 10 minutes offline at the real 30 s cap is ~20 capped waits; 300 ms cap over 6 s is as many.
    const { bot, source, lines } = await withBot(['BTCUSDT', 'ETHUSDT'], url, wsUrl, { reconnect: { baseMs: 20, maxMs: 300 }, userReconnect: { baseMs: 20, maxMs: 300 } });
    const offlineMs = 6_000;
    await new Promise((r) => setTimeout(r, offlineMs));
    const loud = lines.filter((l) => l.level >= 30);
    const attempts = source.stats.reconnectAttempts;
    // Without back-off (a constant 20 ms) this would be ~300 attempts, each logged.
    expect(attempts).toBeGreaterThan(3);
    expect(attempts).toBeLessThan(150);
    expect(loud.length, loud.map((l) => l.msg).join('\n')).toBeLessThanOrEqual(12);
    expect(loud.filter((l) => /market connection lost/.test(l.msg))).toHaveLength(1);

    // The exchange comes up on that port: start-up completes, no rate-limit answer at all.
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`, `ETHUSDT=${BTC}`], port, history: 120 });
    cleanup.push(() => sim.close());
    await bot.ready;
    await until('ACTIVE', () => bot.kernel.healthSnapshot().risk.state === 'ACTIVE', 90_000);
    await until('market connection restored', () => lines.some((l) => /market connection restored/.test(l.msg)), 60_000);
    const c = bot.kernel.healthSnapshot().counters as Record<string, number>;
    expect(c.restRateLimited).toBe(0);
    expect(c.ipBannedUntil).toBe(0);
    expect(lines.some((l) => /\b(429|418)\b/.test(l.msg))).toBe(false);
  }, 180_000);

  it('connections rotate before 24 h (rotateAfterMs compressed) and market data keeps flowing', async () => {
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], history: 120, speed: 60 });
    cleanup.push(() => sim.close());
    const { bot, source, lines } = await withBot(['BTCUSDT'], sim.url, sim.wsUrl, { rotateAfterMs: 1_500 });
    await bot.ready;
    await until('market frames', () => source.health().BTCUSDT!.messages > 0);
    const opened = source.stats.connections;
    await until('two rotations', () => source.stats.connections >= opened + 2, 60_000);
    expect(lines.filter((l) => /replacing the market websocket connection/.test(l.msg)).length).toBeGreaterThanOrEqual(2);
    const before = source.health().BTCUSDT!.messages;
    await until('frames after rotation', () => source.health().BTCUSDT!.messages > before + 3, 30_000);
    expect(source.stats.duplicates).toBeGreaterThanOrEqual(0);
    expect(source.stats.staleStreams).toBe(0);
  }, 120_000);

  it('keeps the listen key alive (interval compressed): past the key\'s lifetime the same key still serves the user stream', async () => {
    // Keys live 3 s after their last keepalive; the bot keeps them alive every 500 ms.
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], history: 120, listenKeyTtlMs: 3_000 });
    cleanup.push(() => sim.close());
    const { bot } = await withBot(['BTCUSDT'], sim.url, sim.wsUrl, { listenKeyKeepaliveMs: 500 });
    await bot.ready;
    await until('a listen key', () => sim.state().listenKeys.length === 1);
    const key = sim.state().listenKeys[0]!.listenKey;
    await new Promise((r) => setTimeout(r, 7_000)); // over twice the key's lifetime
    const counters = bot.kernel.healthSnapshot().counters as Record<string, number>;
    expect(counters.listenKeyKeepalives).toBeGreaterThanOrEqual(5);
    expect(sim.state().listenKeys.map((k) => k.listenKey)).toEqual([key]);
    expect(counters.userStreamUp).toBe(1);
  }, 120_000);

  it('without keepalives the listen key expires: the user stream comes back on a new key', async () => {
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], history: 120, listenKeyTtlMs: 2_000 });
    cleanup.push(() => sim.close());
    const { bot } = await withBot(['BTCUSDT'], sim.url, sim.wsUrl, { listenKeyKeepaliveMs: 3_600_000 });
    await bot.ready;
    await until('a listen key', () => sim.state().listenKeys.length === 1);
    const key = sim.state().listenKeys[0]!.listenKey;
    await until('a new listen key after expiry', () => sim.state().listenKeys.some((k) => k.listenKey !== key), 60_000);
    await until('the user stream up again', () => (bot.kernel.healthSnapshot().counters as Record<string, number>).userStreamUp === 1, 60_000);
  }, 120_000);

  it('a 418 IP ban answered to any REST call halts trading: the heartbeat says halted (not ok) with the ban in the reason', async () => {
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], history: 120, rateLimits: { weightPerMinute: 600, banMs: 30_000 } });
    cleanup.push(() => sim.close());
    const { bot, dir } = await withBot(['BTCUSDT'], sim.url, sim.wsUrl, { listenKeyKeepaliveMs: 300 });
    await bot.ready;
    await until('ACTIVE', () => bot.kernel.healthSnapshot().risk.state === 'ACTIVE');
    // Another client on the same IP (this test) spends the budget, runs into the 429 and on into a ban.
    for (let status = 200; status !== 418; ) status = (await fetch(`${sim.url}/fapi/v1/time`)).status;
    const read = () => JSON.parse(readFileSync(join(dir, 'heartbeat.json'), 'utf8')) as { status: string; statusReason: string | null };
    await until('the heartbeat halted by the ban', () => read().status === 'halted' && /IP banned by Binance \(418\)/.test(read().statusReason ?? ''), 30_000);
    const c = bot.kernel.healthSnapshot().counters as Record<string, number>;
    expect(c.restRateLimited).toBeGreaterThanOrEqual(1);
    expect(c.ipBannedUntil).toBeGreaterThan(Date.now());
    // The gate holds every call until the ban ends: no more requests reach the exchange meanwhile.
    const keepalives = c.listenKeyKeepalives;
    await new Promise((r) => setTimeout(r, 1_500));
    expect((bot.kernel.healthSnapshot().counters as Record<string, number>).listenKeyKeepalives).toBe(keepalives);
  }, 120_000);

  it('spreads many symbols over several connections; from 50 symbols mark prices come from the one all-market stream', async () => {
    const symbols = RULES.symbols().filter((s) => s.endsWith('USDT')).slice(0, 130);
    // One short kline file reused under every name (parsing 130 full files would dominate the test).
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-streams-data-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const csv = join(dir, 'k.csv');
    writeFileSync(csv, readFileSync(BTC, 'utf8').split('\n').slice(0, 400).join('\n') + '\n');
    const sim: Simulator = await startSimulator({ data: symbols.map((s) => `${s}=${csv}`), history: 60, speed: 60 });
    cleanup.push(() => sim.close());
    // live.markPriceStreams auto: 130 symbols take the all-market stream, so a connection holds
    // 99 kline streams plus (on the first) the all-market one.
    const { bot, source } = await withBot(symbols, sim.url, sim.wsUrl, {}, capturingLogger(), { 'live.streamsPerConnection': '100' });
    expect(source.connectionCount).toBe(2);
    const marked = new Set<string>();
    bot.kernel.bus.consume('market.markPrice.*', (m) => void marked.add(m.symbol), { name: 'test-marks' });
    await bot.ready;
    await until('klines and mark prices on every symbol', () => symbols.every((s) => source.health()[s]!.messages > 0) && marked.size === symbols.length, 90_000);
    const streams = sim.state().connections.streams;
    expect(streams).toContain('!markPrice@arr@1s');
    expect(streams.filter((s) => s.includes('@markPrice'))).toEqual([]);
    expect(streams.filter((s) => s.endsWith('@kline_1m'))).toHaveLength(130);
    expect((bot.kernel.healthSnapshot().counters as Record<string, number>).restRateLimited).toBe(0);
  }, 180_000);

  it('live.markPriceStreams perSymbol: 2 streams per symbol, ≤ live.streamsPerConnection each', async () => {
    const symbols = RULES.symbols().filter((s) => s.endsWith('USDT')).slice(0, 6);
    const sim: Simulator = await startSimulator({ data: symbols.map((s) => `${s}=${BTC}`), history: 60, speed: 60 });
    cleanup.push(() => sim.close());
    const { bot, source } = await withBot(symbols, sim.url, sim.wsUrl, {}, capturingLogger(), { 'live.streamsPerConnection': '4', 'live.markPriceStreams': 'perSymbol' });
    expect(source.connectionCount).toBe(3); // 12 streams, 4 per connection
    const marked = new Set<string>();
    bot.kernel.bus.consume('market.markPrice.*', (m) => void marked.add(m.symbol), { name: 'test-marks' });
    await bot.ready;
    await until('mark prices on every symbol', () => marked.size === symbols.length, 60_000);
    expect(sim.state().connections.streams.filter((s) => s.endsWith('@markPrice@1s'))).toHaveLength(6);
    expect(sim.state().connections.market).toBe(3);
  }, 120_000);
});
