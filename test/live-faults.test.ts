/**
 * Live mode under faults: the live bot (startLive, the real `binance` library) against perpbot's
 * Binance-compatible simulator on 127.0.0.1, each fault injected through the simulator's admin
 * endpoints (POST /admin/…), and the bot recovering by itself. Each test states what recovery
 * means and asserts it.
 *
 * The simulator runs with `alignToNow: false`: the data keeps its real 2025 times, so every
 * kline the test closes with `sim.advance` is also closed by the wall clock. (Aligned to now,
 * `advance` runs the data clock ahead of the wall clock, and the REST back-fill drops klines
 * whose closeTime is still in the future of the local clock — see marketSource in
 * src/kernel/live.ts, `mapRestKlines(…, { now: clock.now() }).filter((k) => k.closed)`; fine
 * against Binance, whose closed klines are never in the future.) `live.warmupMinutes` reaches
 * back to the data, so the start-up warm-up back-fill delivers the simulator's history and the
 * live klines continue from it; the tests look at the klines that arrive after the warm-up.
 *
 * Malformed frames: the simulator's admin API cannot inject a raw frame, so that test puts a
 * websocket proxy on 127.0.0.1 between the bot and the simulator, which forwards everything and
 * can push garbage frames into the bot's market connection.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { projectPath } from '../src/core/paths.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { restPort, startLive, type LiveTimings, type RunningLiveBot } from '../src/kernel/live.ts';
import { RateLimitTracker } from '../src/exchange/binance/retry.ts';
import type { BinanceMarketSource } from '../src/market/binance-source.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
const MINUTE = 60_000;
/** Open time of the first kline of the BTCUSDT file. */
const DATA_START = Number(readFileSync(BTC, 'utf8').split('\n')[1]!.split(',')[0]);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** POST /admin/<path> on the simulator, as an operator would (over HTTP on 127.0.0.1). */
async function admin(sim: Simulator, path: string, body: object = {}): Promise<unknown> {
  const res = await fetch(`${sim.url}/admin/${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`admin ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** Open times of the klines the simulator has closed (GET /fapi/v1/klines, as any client sees them). */
async function simClosedOpenTimes(sim: Simulator): Promise<number[]> {
  const res = await fetch(`${sim.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1500`);
  const rows = (await res.json()) as Array<[number, ...unknown[]]>;
  return rows.map((r) => r[0]);
}

interface Setup {
  sim: Simulator;
  bot: RunningLiveBot;
  config: Config;
  dir: string;
  source: BinanceMarketSource;
  /** Open times of every closed kline the bot published on `market.kline.BTCUSDT`, in order. */
  opens: number[];
  /** Stop the bot and close its kernel (idempotent; afterEach does it otherwise). */
  stop(): Promise<void>;
}

async function setup(opts: { overrides?: Record<string, unknown>; wsUrl?: (sim: Simulator) => Promise<string>; timings?: LiveTimings } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-faults-'));
  const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 120, alignToNow: false });
  cleanup.push(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const wsUrl = opts.wsUrl ? await opts.wsUrl(sim) : sim.wsUrl;
  const config = loadConfig({
    env: { BINANCE_BASE_URL: sim.url, BINANCE_WS_URL: wsUrl },
    dotenvFile: null,
    overrides: {
      db: join(dir, 'live.sqlite'),
      'heartbeat.file': join(dir, 'heartbeat.json'),
      'log.file': 'false',
      symbols: ['BTCUSDT'],
      'risk.fundingBlackoutMinutes': '0',
      // The strategy runs but never enters: the orders in these tests are the operator's.
      strategies: [{ id: 'vwap-adx', name: 'vwap-adx', symbols: [], params: { allowLong: false, allowShort: false } }],
      // the start-up warm-up reaches back to the (2025) data
      'live.warmupMinutes': String(Math.ceil((Date.now() - DATA_START) / MINUTE) + 60),
      ...opts.overrides,
    },
  });
  const bot = await startLive(config, silentLogger(), RULES, ['BTCUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret }, opts.timings);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await bot.stop();
    await bot.kernel.close(null, 'stopped');
  };
  cleanup.push(stop);
  const opens: number[] = [];
  bot.kernel.bus.consume('market.kline.*', (m) => {
    opens.push(m.kline.openTime);
  });
  await bot.ready;
  await until('trading ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
  await until('market connected', () => bot.kernel.source.health().BTCUSDT!.state === 'connected' && sim.state().connections.streams.includes('btcusdt@kline_1m'));
  // The warm-up back-fill delivers the simulator's history; the tests count what comes after it.
  const history = await simClosedOpenTimes(sim);
  await until('the warm-up back-fill', () => opens[opens.length - 1] === history[history.length - 1], 10_000);
  opens.length = 0;
  return { sim, bot, config, dir, source: bot.kernel.source as BinanceMarketSource, opens, stop };
}

/** An operator MARKET order with a fixed client order id. */
function submit(t: Setup, clientOrderId: string, quantity = '0.002'): void {
  void t.bot.kernel.publish('order.request', {
    type: 'SubmitOrder',
    ts: Date.now(),
    intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity, reduceOnly: false, strategyId: 'operator', refPrice: t.sim.markPrice('BTCUSDT'), clientOrderId },
  });
}

/** The bot's database row of one order (read after the bot stopped). */
function dbOrder(t: Setup, clientOrderId: string): unknown {
  const db = new Database(t.config.db, { readonly: true });
  try {
    return db.prepare('select status, executed_qty from orders where client_order_id = ?').all(clientOrderId);
  } finally {
    db.close();
  }
}

/**
 * Exactly one order for `clientOrderId` on the exchange, filled: the engine accepted one order in
 * all, and the fills carrying that id add up to `quantity`.
 */
function expectOneFilledOrderOnExchange(sim: Simulator, clientOrderId: string, quantity: string): void {
  expect(sim.engine.stats().ordersAccepted).toBe(1);
  const fills = sim.state().fills.filter((f) => f.clientOrderId === clientOrderId);
  expect(fills.length).toBeGreaterThanOrEqual(1);
  expect(fills.reduce((a, f) => a + Number(f.quantity), 0)).toBeCloseTo(Number(quantity), 12);
  expect(sim.engine.getOrder(clientOrderId)?.status).toBe('FILLED');
}

/** Place an order, close the next kline (MARKET orders fill at its open), wait for the bot to record the fill. */
async function orderRoundTrip(t: Setup, clientOrderId: string, quantity = '0.002', ms = 10_000): Promise<void> {
  const fillsBefore = t.bot.kernel.executor.stats.fills;
  submit(t, clientOrderId, quantity);
  await until(`order ${clientOrderId} on the exchange`, () => t.sim.engine.getOrder(clientOrderId) !== undefined, ms);
  t.sim.advance(1);
  await until(`fill of ${clientOrderId} recorded by the bot`, () => t.bot.kernel.executor.stats.fills > fillsBefore, ms);
}

/** Assert the bot's klines are exactly the simulator's closed ones from the first it saw: none skipped, none twice. */
async function expectContiguous(t: Setup): Promise<void> {
  const simOpens = await simClosedOpenTimes(t.sim);
  const last = simOpens[simOpens.length - 1]!;
  await until('the bot caught up with the last closed kline', () => t.opens[t.opens.length - 1] === last, 10_000);
  await sleep(50); // nothing more may arrive
  expect(t.opens.length).toBeGreaterThan(0);
  const expected = simOpens.filter((o) => o >= t.opens[0]!);
  expect(t.opens).toEqual(expected);
  for (let i = 1; i < t.opens.length; i++) expect(t.opens[i]! - t.opens[i - 1]!).toBe(MINUTE);
}

describe('live bot against the simulator: faults and recovery', () => {
  it('drop every websocket → market data reconnects and back-fills (no minute skipped or twice), the user stream reconnects and a later fill reaches the bot', async () => {
    // Recovery means: the market source is `connected` again on a new connection, the klines
    // closed while it was down are back-filled, later klines keep arriving, and the fill of an
    // order placed after the drop reaches the bot — through the reconnected user stream (the
    // REST polling fallback is not needed: no poll beyond the catch-up one at reconnection).
    const t = await setup();
    t.sim.advance(2);
    await until('2 klines', () => t.opens.length === 2);
    const reconnectsBefore = t.source.stats.reconnects;
    const backfilledBefore = t.source.stats.backfilled; // the warm-up's

    const dropped = (await admin(t.sim, 'drop-websockets')) as { dropped: number };
    expect(dropped.dropped).toBe(2); // the market connection and the user-data connection
    t.sim.advance(3); // closed while nobody listens
    await until('both websockets back', () => t.sim.state().connections.market === 1 && t.sim.state().connections.user === 1, 10_000);
    await until('market source connected', () => t.source.health().BTCUSDT!.state === 'connected' && t.source.stats.reconnects > reconnectsBefore);
    await until('resubscribed', () => t.sim.state().connections.streams.includes('btcusdt@kline_1m'));
    // on reconnecting, the source back-fills from its last closed kline up to the last closed minute
    await until('the 3 missed klines back-filled from REST', () => t.opens.length === 5, 5_000);
    expect(t.source.stats.backfilled - backfilledBefore).toBe(3);
    t.sim.advance(2); // live again
    await expectContiguous(t);
    expect(t.opens.length).toBe(7);

    const polls = t.bot.venue.stats.polls;
    await orderRoundTrip(t, 'pb-fault-drop-1');
    expect(t.bot.venue.stats.polls).toBe(polls); // the fill came through the reconnected user stream
    await until('position', () => t.bot.kernel.executor.positionSnapshot().BTCUSDT === '0.002');
    await t.stop();
    expectOneFilledOrderOnExchange(t.sim, 'pb-fault-drop-1', '0.002');
    expect(dbOrder(t, 'pb-fault-drop-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  it('the whole market connection goes silent beyond live.streamSilenceMs → marked stale, replaced, and the missed closed klines back-filled from REST: none skipped or twice', async () => {
    // Recovery means: the source marks the symbol `stale`, replaces the connection (new
    // websocket, new SUBSCRIBE), and the klines that closed during the silence reach the bot
    // from GET /fapi/v1/klines, in order, exactly once, followed by the live ones.
    const t = await setup({ overrides: { 'live.streamSilenceMs': '500' } });
    // A running market: one sub-step every 25 ms (a kline every 300 ms), so silence is a fault.
    const ticker = setInterval(() => t.sim.step(1), 25);
    cleanup.push(() => clearInterval(ticker));
    await until('3 klines', () => t.opens.length >= 3);
    const reconnectsBefore = t.source.stats.reconnects;
    const backfilledBefore = t.source.stats.backfilled; // the warm-up's
    // The stale state lasts only until the new connection opens (milliseconds on loopback): the
    // source counts each time it marks a symbol stale, so count rather than sample the state.
    const staleBefore = t.source.stats.staleStreams;

    // Both market streams of the symbol stop (klines and mark prices) for 1.5 s.
    await admin(t.sim, 'stall', { stream: 'btcusdt@kline_1m', ms: 1_500 });
    await admin(t.sim, 'stall', { stream: 'btcusdt@markPrice@1s', ms: 1_500 });
    const klinesAtStall = t.opens.length;
    await until('marked stale', () => t.source.stats.staleStreams > staleBefore, 3_000);
    await until('connection replaced', () => t.source.stats.reconnects > reconnectsBefore, 3_000);
    await until('klines flow again after the stall', () => t.opens.length >= klinesAtStall + 8, 10_000);
    clearInterval(ticker);
    expect(t.source.stats.backfilled - backfilledBefore).toBeGreaterThanOrEqual(3); // ~5 klines closed during the 1.5 s stall
    expect(t.source.health().BTCUSDT!.state).toBe('connected');
    await expectContiguous(t);
    await t.stop();

    // What the recorder wrote agrees: candles_1m holds the same minutes, once each.
    const db = new Database(t.config.db, { readonly: true });
    try {
      const rows = db.prepare("select open_time from candles_1m where symbol = 'BTCUSDT' and open_time >= ? order by open_time").all(t.opens[0]!) as Array<{ open_time: number }>;
      expect(rows.map((r) => r.open_time)).toEqual(t.opens);
    } finally {
      db.close();
    }
  });

  // BUG (src/market/binance-source.ts, checkHealth ~l.264-282 and onFrame ~l.189-195): silence is
  // tracked per SYMBOL, and any frame of the symbol — a mark price included — refreshes it. So a
  // kline stream that stalls while `<symbol>@markPrice@1s` keeps flowing is never marked stale
  // and its connection is never replaced; the bot gets no klines for as long as the stall lasts
  // (the missing minutes are only back-filled once a later closed kline happens to arrive).
  // README "Streams": "Each stream's age of last message is in the heartbeat; one silent for
  // longer than live.streamSilenceMs is reconnected". Expected: per-stream (kline / mark price)
  // silence tracking, so this test would pass.
  it('the kline stream alone stalls (mark prices still flowing) beyond live.streamSilenceMs → marked stale and its connection replaced', async () => {
    const t = await setup({ overrides: { 'live.streamSilenceMs': '800' } });
    const ticker = setInterval(() => t.sim.step(1), 25);
    cleanup.push(() => clearInterval(ticker));
    await until('2 klines', () => t.opens.length >= 2);
    const reconnectsBefore = t.source.stats.reconnects;
    const staleBefore = t.source.stats.staleStreams;
    await admin(t.sim, 'stall', { stream: 'btcusdt@kline_1m', ms: 3_000 });
    await until('the silent kline stream marked stale and replaced', () => t.source.stats.staleStreams > staleBefore && t.source.stats.reconnects > reconnectsBefore, 10_000);
  });

  it('user-data events lost while the stream stays up → the order audit finds the filled order missing from the open orders and settles it from REST; the position follows', async () => {
    // Recovery means: with every user-data frame dropped (the connection up, so no REST polling),
    // the order the exchange filled is settled within a few audit intervals: FILLED in the
    // executor's book and the database, its fill recorded once, the position read from REST once
    // the fill stays without a position report (the executor's overdue check, 10 s).
    const t = await setup({ timings: { pollMs: 200, auditMs: 1_000 } });
    t.sim.advance(1);
    await admin(t.sim, 'user-events', { drop: true });
    const polls = t.bot.venue.stats.polls;
    submit(t, 'pb-fault-lost-1');
    await until('order on the exchange', () => t.sim.engine.getOrder('pb-fault-lost-1') !== undefined);
    t.sim.advance(1); // fills it at the next open; no ORDER_TRADE_UPDATE or ACCOUNT_UPDATE reaches the bot
    await until('filled on the exchange', () => t.sim.engine.getOrder('pb-fault-lost-1')?.status === 'FILLED');
    await until('the fill settled by the audit', () => t.bot.kernel.executor.stats.fills === 1, 10_000);
    expect(t.bot.kernel.executor.openOrders()).toEqual([]);
    expect(t.bot.venue.stats.auditSettled).toBe(1);
    expect(t.bot.venue.stats.polls).toBe(polls); // the stream was up all along: no polling
    await until('position read from REST', () => t.bot.kernel.executor.positionSnapshot().BTCUSDT === '0.002', 20_000);
    // An order still open on the exchange is left alone: found in the open orders, not queried.
    await admin(t.sim, 'user-events', { drop: false });
    const mark = Number(t.sim.markPrice('BTCUSDT'));
    const price = (Math.floor((mark * 0.97) / 10) * 10).toFixed(1); // resting, within PERCENT_PRICE
    void t.bot.kernel.publish('order.request', {
      type: 'SubmitOrder',
      ts: Date.now(),
      intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', price, timeInForce: 'GTC', quantity: '0.002', reduceOnly: false, strategyId: 'operator', refPrice: t.sim.markPrice('BTCUSDT'), clientOrderId: 'pb-fault-rest-1' },
    });
    await until('the resting order accepted', () => t.sim.engine.getOrder('pb-fault-rest-1')?.status === 'NEW' && t.bot.kernel.executor.openOrders().length === 1);
    const before = { ...t.bot.venue.stats };
    await until('two more audits', () => t.bot.venue.stats.audits >= before.audits + 2, 10_000);
    expect(t.bot.venue.stats.queries).toBe(before.queries);
    expect(t.bot.venue.stats.auditSettled).toBe(1);
    expect(t.bot.kernel.executor.openOrders().map((o) => o.clientOrderId)).toEqual(['pb-fault-rest-1']);
    await t.stop();
    expect(t.sim.state().fills.filter((f) => f.clientOrderId === 'pb-fault-lost-1').reduce((a, f) => a + Number(f.quantity), 0)).toBeCloseTo(0.002, 12);
    expect(dbOrder(t, 'pb-fault-lost-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  }, 45_000);

  it('5xx on the next REST requests during an order → retried safely (queried by client order id before resending): one order on the exchange, FILLED in the database', async () => {
    // Recovery means: the venue treats the 503 on POST /fapi/v1/order as "maybe placed", asks
    // GET /fapi/v1/order by client order id (retrying that query through the 503s), learns the
    // order does not exist (-2013) and only then sends it again; it fills once.
    const t = await setup();
    t.sim.advance(1);
    const before = { ...t.bot.venue.stats };
    await admin(t.sim, 'rest-errors', { count: 3, status: 503 });
    await orderRoundTrip(t, 'pb-fault-5xx-1');
    expect(t.sim.state().faults.restErrors).toBe(0); // all three were spent on this order
    expect(t.bot.venue.stats.retries - before.retries).toBe(1); // one resend, after the query said -2013
    expect(t.bot.venue.stats.queries - before.queries).toBeGreaterThanOrEqual(2);
    expect(t.bot.venue.stats.unknownOutcomes).toBe(before.unknownOutcomes);
    await t.stop();
    expectOneFilledOrderOnExchange(t.sim, 'pb-fault-5xx-1', '0.002');
    expect(dbOrder(t, 'pb-fault-5xx-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  it('the order request hangs (no answer until the 10 s client timeout) → the venue queries by client order id, finds nothing, resends once: one order, FILLED', async () => {
    // Recovery means: after the timeout (an unknown outcome) the venue does not resend blindly;
    // it asks by client order id (-2013: the hung request never reached the matching engine),
    // then resends with the same id; exactly one order exists and fills.
    const t = await setup();
    t.sim.advance(1);
    const before = { ...t.bot.venue.stats };
    await admin(t.sim, 'rest-hang', { count: 1, request: 'POST /fapi/v1/order' }); // not a back-fill or a poll that happens to come first
    await orderRoundTrip(t, 'pb-fault-hang-1', '0.002', 20_000);
    expect(t.sim.state().faults.restHangs).toBe(0);
    expect(t.bot.venue.stats.retries - before.retries).toBe(1);
    expect(t.bot.venue.stats.queries - before.queries).toBeGreaterThanOrEqual(1);
    await t.stop();
    expectOneFilledOrderOnExchange(t.sim, 'pb-fault-hang-1', '0.002');
    expect(dbOrder(t, 'pb-fault-hang-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  it('order acknowledgement delayed beyond the 10 s client timeout → no duplicate: the order is found by client order id and adopted, FILLED', async () => {
    // Recovery means: the order reached the exchange but its answer did not come back in time;
    // the venue asks by client order id, finds it, and never sends it a second time.
    // (The REST timeout is not configurable from perpbot's config: binance.timeoutMs exists in
    // client-options.ts but connectionSettings does not set it, so it is the 10 s default.)
    const t = await setup();
    t.sim.advance(1);
    const before = { ...t.bot.venue.stats };
    await admin(t.sim, 'order-ack-delay', { ms: 11_000 });
    const fillsBefore = t.bot.kernel.executor.stats.fills;
    submit(t, 'pb-fault-ack-1');
    await until('order on the exchange', () => t.sim.engine.getOrder('pb-fault-ack-1') !== undefined);
    await until('accepted by the venue (found by client order id after the timeout)', () => t.bot.venue.stats.queries > before.queries, 15_000);
    await admin(t.sim, 'clear-faults');
    t.sim.advance(1);
    await until('fill recorded', () => t.bot.kernel.executor.stats.fills > fillsBefore);
    expect(t.bot.venue.stats.retries - before.retries).toBe(0); // never resent
    await t.stop();
    expectOneFilledOrderOnExchange(t.sim, 'pb-fault-ack-1', '0.002');
    expect(dbOrder(t, 'pb-fault-ack-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  it('listen keys expire → the user-data stream comes back on a new listen key and later fills still arrive', async () => {
    // Recovery means: after listenKeyExpired (and the socket closed), the library creates a new
    // listen key and reconnects the user stream; an order placed afterwards has its fill
    // reach the bot (through the stream, or the REST polling fallback while it is down).
    const t = await setup();
    t.sim.advance(1);
    const oldKeys = t.sim.state().listenKeys.map((k) => k.listenKey);
    expect(oldKeys.length).toBe(1);
    const expired = (await admin(t.sim, 'expire-listen-keys')) as { expired: string[] };
    expect(expired.expired).toEqual(oldKeys);
    await until(
      'a new listen key with its user stream connected',
      () => {
        const s = t.sim.state();
        return s.listenKeys.length === 1 && !oldKeys.includes(s.listenKeys[0]!.listenKey) && s.connections.user === 1;
      },
      15_000,
    );
    // The simulator sees the socket before the library reports it open: wait for the bot's view.
    await until('the bot sees its user stream up', () => (t.bot.kernel.healthSnapshot().counters as Record<string, number>).userStreamUp === 1, 10_000);
    const polls = t.bot.venue.stats.polls; // the catch-up poll after the reconnect has started by now
    await orderRoundTrip(t, 'pb-fault-lk-1');
    await orderRoundTrip(t, 'pb-fault-lk-2');
    expect(t.bot.venue.stats.polls).toBe(polls); // the fills came through the new user stream, not the polling fallback
    await t.stop();
    expect(t.sim.engine.stats().ordersAccepted).toBe(2);
    expect(dbOrder(t, 'pb-fault-lk-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
    expect(dbOrder(t, 'pb-fault-lk-2')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  // BUG (src/kernel/live.ts, startLive's `syncClock`, l.408 as of writing): after -1021 the
  // venue calls resyncClock, which re-measures the offset and stores it in the WallClock and the
  // heartbeat, but never hands it to the `binance` library (`rest.setTimeOffset(off.offsetMs)`).
  // The library signs with `Date.now() + getTimeOffset()` (node_modules/binance/lib/util/
  // BaseRestClient.js l.154) and its offset stays 0 (client-options.ts sets disableTimeSync: true
  // and says perpbot calls setTimeOffset), so every retry is rejected with -1021 again; after
  // live.orderAttempts the venue throws it as an unknown outcome: the order is never placed, yet
  // stays "open" in the executor's book (every later signal on the symbol is denied
  // orderInFlight until a restart reconciles). The same offset is missing at start-up, so a bot
  // whose clock is off by more than recvWindow never gets through its signed start-up calls.
  // Expected: the resync sets the library's offset and the retry goes through (this test passes).
  it('server clock skewed 3 s beyond recvWindow → -1021, the venue resyncs the clock and the order goes through', async () => {
    const t = await setup({ overrides: { 'live.orderAttempts': '3' } });
    t.sim.advance(1);
    await admin(t.sim, 'clock-skew', { ms: t.config.binance.recvWindowMs + 3_000 });
    const before = { ...t.bot.venue.stats };
    submit(t, 'pb-fault-skew-1');
    // placed, or given up on (every attempt rejected): whichever comes first
    await until('the order placed or given up', () => t.sim.engine.getOrder('pb-fault-skew-1') !== undefined || t.bot.venue.stats.unknownOutcomes > before.unknownOutcomes, 10_000);
    expect(t.bot.kernel.clock.now() - Date.now()).toBeGreaterThan(7_000); // the venue did resync its clock…
    // Today: every attempt was answered -1021 (the error below), and the venue gave up.
    if (t.sim.engine.getOrder('pb-fault-skew-1') === undefined) expect(t.bot.kernel.executor.error ?? '').toMatch(/code -1021 INVALID_TIMESTAMP/);
    expect(t.sim.engine.getOrder('pb-fault-skew-1')).toBeDefined(); // …but the signed retries still carried the old timestamp
    t.sim.advance(1);
    await until('fill recorded', () => t.bot.kernel.executor.stats.fills === 1);
    await t.stop();
    expectOneFilledOrderOnExchange(t.sim, 'pb-fault-skew-1', '0.002');
    expect(dbOrder(t, 'pb-fault-skew-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  it('malformed frames on the market stream (through a websocket proxy) are counted and skipped; the bot keeps running and its heartbeat stays fresh', async () => {
    // Recovery means: nothing to recover from — a bad frame is counted (source stats and the
    // symbol's `errors`), skipped, and the next klines arrive as usual, none skipped or twice;
    // the process keeps running and writes its heartbeat every heartbeat.intervalMs.
    let proxy: Awaited<ReturnType<typeof wsProxy>> | null = null;
    const t = await setup({
      overrides: { 'heartbeat.intervalMs': '200' },
      wsUrl: async (sim) => {
        proxy = await wsProxy(sim.wsUrl);
        cleanup.push(() => proxy!.close());
        return proxy.url;
      },
    });
    const p = proxy!;
    let finished = false;
    void t.bot.done.then(() => (finished = true));
    t.sim.advance(2);
    await until('2 klines', () => t.opens.length === 2);
    const errorsBefore = t.source.health().BTCUSDT!.errors;
    const last = t.opens[1]!;
    const k = (over: Record<string, unknown>) => ({ t: last + MINUTE, T: last + 2 * MINUTE - 1, s: 'BTCUSDT', i: '1m', f: 1, L: 2, o: '1', c: '1', h: '1', l: '1', v: '1', n: 1, x: true, q: '0', V: '0', Q: '0', B: '0', ...over });
    const frames = [
      JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', E: last + 2 * MINUTE, s: 'BTCUSDT', k: k({ c: 'abc' }) } }), // a price that is not a number
      JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', E: last + 2 * MINUTE, s: 'BTCUSDT', k: k({ t: 'soon' }) } }), // a time that is not a number
      JSON.stringify({ stream: 'btcusdt@kline_1m', data: { e: 'kline', E: last + 2 * MINUTE, s: 'BTCUSDT' } }), // no kline at all
      JSON.stringify({ stream: 'btcusdt@markPrice@1s', data: { e: 'markPriceUpdate', E: 'x', s: 'BTCUSDT', p: null } }),
      '{"stream":"btcusdt@kline_1m","data":{"e":"kline",', // truncated JSON
      'not json at all',
    ];
    expect(p.injectMarket(frames)).toBe(1); // one market connection
    const malformedJson = 4;
    await until('the well-formed JSON frames counted as malformed', () => t.source.stats.malformed >= malformedJson, 5_000);
    expect(t.source.health().BTCUSDT!.errors - errorsBefore).toBeGreaterThanOrEqual(malformedJson);

    // The heartbeat keeps being written every heartbeat.intervalMs (200 ms) while the bot runs on.
    const hb = join(t.dir, 'heartbeat.json');
    const end = Date.now() + 1_200;
    while (Date.now() < end) {
      const doc = JSON.parse(readFileSync(hb, 'utf8')) as { timeMs: number; status: string };
      expect(Date.now() - doc.timeMs).toBeLessThan(200 + 400);
      expect(['ok', 'degraded']).toContain(doc.status);
      await sleep(100);
    }
    t.sim.advance(3);
    await expectContiguous(t);
    expect(t.opens.length).toBe(5);
    expect(finished).toBe(false);
    await orderRoundTrip(t, 'pb-fault-garbage-1');
    await t.stop();
    expect(dbOrder(t, 'pb-fault-garbage-1')).toEqual([{ status: 'FILLED', executed_qty: '0.002' }]);
  });

  // BUG (minor; src/market/binance-source.ts attach(), the 'exception' handler ~l.171-173): a
  // frame that is not JSON never reaches onFrame — the `binance` library fails to parse it and
  // emits 'exception', which the source only logs. It is skipped (good) but not counted:
  // stats.malformed and the symbol's `errors` stay put, so the heartbeat cannot show it.
  // README "Streams": "A malformed frame is counted on its stream, logged and skipped."
  // Expected: parse failures counted too (at least in stats.malformed).
  it('a market frame that is not JSON is counted as malformed (not only logged)', async () => {
    let proxy: Awaited<ReturnType<typeof wsProxy>> | null = null;
    const t = await setup({
      wsUrl: async (sim) => {
        proxy = await wsProxy(sim.wsUrl);
        cleanup.push(() => proxy!.close());
        return proxy.url;
      },
    });
    t.sim.advance(1);
    await until('1 kline', () => t.opens.length === 1);
    expect(proxy!.injectMarket(['{"stream":"btcusdt@kline_1m","data":{"e":"kline",', 'not json at all'])).toBe(1);
    t.sim.advance(1); // a good frame after the bad ones: they have been read by now
    await until('2 klines', () => t.opens.length === 2);
    expect(t.source.stats.malformed).toBe(2);
  });
});

describe('found while benchmarking (bench/latency.ts)', () => {
  // BUG (src/kernel/live.ts `restPort`, l.330-336 as of writing, with RateLimitTracker.update in
  // src/exchange/binance/retry.ts l.191-212): after EVERY REST answer the port feeds the tracker
  // `rest.getRateLimitStates()`, the `binance` library's LAST SEEN X-MBX-* values — it keeps a
  // header's value when an answer does not carry it (node_modules/binance/lib/util/
  // BaseRestClient.js updateApiLimitState), and only order answers carry X-MBX-ORDER-COUNT-*.
  // `update` then rolls to the CURRENT window and sets used = max(used, value). So the order
  // count of the previous 10 s (or 1 min) window is charged again to the new one by its first
  // answer of any kind (a query, a poll, or an order answer that crosses the boundary). After a
  // burst of 200 orders, the next window allows only 40 before the venue sleeps up to 10 s (up to
  // 60 s for the minute counter). The bench saw a 2.9 s wait at ~100 orders in a window.
  // Expected: take order counts only from the answer that carried them (its own headers), and
  // not from a window that has ended; this test would then pass.
  it("a new 10 s window's order budget is not charged with the previous window's count", async () => {
    let now = 1_800_000_000_000 + 2_000; // 2 s into a 10 s window
    const tracker = new RateLimitTracker({ now: () => now } as never);
    // The library's header cache as getRateLimitStates() returns it: order answers update the
    // order counts; other answers carry none, so the last seen values stay.
    const seen = { 'x-mbx-used-weight-1m': 0, 'x-mbx-order-count-10s': 0, 'x-mbx-order-count-1m': 0 };
    const client = {
      postPrivate: async () => {
        seen['x-mbx-order-count-10s']++;
        seen['x-mbx-order-count-1m']++;
        seen['x-mbx-used-weight-1m']++;
        return { orderId: 1 };
      },
      getOrder: async () => {
        seen['x-mbx-used-weight-1m']++;
        return { orderId: 1 };
      },
      getRateLimitStates: () => ({ ...seen }),
    };
    const port = restPort(client as never, tracker);
    for (let i = 0; i < 200; i++) {
      tracker.reserve(1, 1); // what the venue does before each order
      await port.submitNewOrder({});
    }
    expect(tracker.snapshot().orders10s).toBe(200);
    now += 8_500; // the next 10 s window (same minute): no order sent in it yet
    await port.getOrder({ symbol: 'BTCUSDT', origClientOrderId: 'pb-x' }); // a query (e.g. a poll)
    expect(tracker.snapshot().orders10s).toBe(0); // today: 200
    for (let i = 0; i < 41; i++) tracker.reserve(1, 1);
    expect(tracker.waitMs(1, 1)).toBe(0); // today: ~9.5 s
  });
});

/**
 * A websocket proxy on 127.0.0.1: each client connection is forwarded, path and query intact,
 * to `target`, frame for frame in both directions; `injectMarket` sends raw text frames to the
 * clients of market connections (paths under /market).
 */
async function wsProxy(target: string): Promise<{ url: string; injectMarket(frames: string[]): number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const pairs: Array<{ path: string; client: WebSocket; upstream: WebSocket }> = [];
  wss.on('connection', (client, req) => {
    const path = req.url ?? '/';
    const upstream = new WebSocket(target + path);
    const pending: Array<{ data: WebSocket.RawData; binary: boolean }> = [];
    pairs.push({ path, client, upstream });
    client.on('message', (data, binary) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary });
      else pending.push({ data, binary });
    });
    upstream.on('open', () => {
      for (const m of pending) upstream.send(m.data, { binary: m.binary });
      pending.length = 0;
    });
    upstream.on('message', (data, binary) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary });
    });
    upstream.on('close', () => client.close());
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
    client.on('error', () => upstream.terminate());
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    injectMarket(frames) {
      let n = 0;
      for (const p of pairs) {
        if (!p.path.startsWith('/market') || p.client.readyState !== WebSocket.OPEN) continue;
        for (const f of frames) p.client.send(f);
        n++;
      }
      return n;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const p of pairs) {
          p.client.terminate();
          p.upstream.terminate();
        }
        wss.close(() => r());
      }),
  };
}
