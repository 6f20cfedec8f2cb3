/**
 * Live/replay parity, end to end: the whole bot in live mode (`startLive`: the real `binance`
 * library, REST + websockets, user-data stream, SQLite) against the in-process Binance-compatible
 * simulator replaying recorded real BTCUSDT klines, one kline at a time; then a replay
 * (`Kernel.forReplay`, the in-process simulated venue) of exactly the klines the live bot recorded.
 * Both runs must emit the same signals and send the same orders, filled at the same prices,
 * protective stops on the exchange included (`risk.exchangeStop`, on): placed after each entry
 * fills, triggered by the price crossing them (live: the simulator's mark price, sub-step by
 * sub-step; replay: the kline's range), filled at the stop price, or canceled when the strategy's
 * exit closes the position first.
 *
 * Choices that make the two runs comparable (same config in both):
 * - the simulator serves its data shifted to now (`alignToNow`, the default: with the data's own
 *   2025 times the live bot's start-up warm-up, src/kernel/live.ts `warmupStart`, would treat
 *   every streamed kline as older than what it already has and drop it). The replay is fed the
 *   klines the live bot recorded in candles_1m, shifted times included, so kline open times,
 *   session VWAP anchors (00:00 UTC), signal ids and the deterministic client order ids are the
 *   same in both runs and are compared directly.
 * - the first `HISTORY` klines are served as already closed and never streamed; the live bot
 *   back-fills them at start (the warm-up: `source.resumeFrom(warmupStart(…))`, then
 *   binance-source.ts `resync` on connect), so it sees history + streamed klines, all recorded.
 *   HISTORY is below ADX(14)'s warm-up (27 klines), so no signal can fall on a back-filled kline
 *   (live would refuse one older than risk.maxSignalAgeMs as stale; replay would trade it).
 * - `fillOnSubSteps: true` and one sub-step after each order: the simulator then shows the
 *   engine the forming kline's first sub-step price, which is its open (wire.ts `partialKline`,
 *   segment 0), so a MARKET order decided on kline N's close fills at kline N+1's open, as in
 *   replay. (Without it the simulator fills at kline N+2's open: see the last test.)
 * - clock-dependent parts are switched off, because live runs on the wall clock and replay on the
 *   data clock while this test drives the data far faster than real time: the strategy's time stop
 *   and volatility guard (mark prices vs. kline range by design), the risk engine's funding
 *   blackout, daily loss limit and consecutive-loss halt (UTC day / cooldown on the clock).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { startLive, type RunningLiveBot } from '../src/kernel/live.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { loadReplayData } from '../src/market/replay-source.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
const HISTORY = 20;
const KLINES = 300;
const MINUTE = 60_000;

/** The same configuration for both runs (environment variables, as the CLI reads them). */
function envFor(strategies: object[]): Record<string, string> {
  return {
    PERPBOT_SYMBOLS: 'BTCUSDT',
    PERPBOT_STRATEGIES: JSON.stringify(strategies),
    PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
    PERPBOT_RISK_DAILY_LOSS_LIMIT: '0',
    PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES: '0',
    PERPBOT_LOG_FILE: 'false',
    PERPBOT_RISK_EXCHANGE_STOP: 'true',
  };
}
const ENV = envFor([
  {
    id: 'vwap-adx',
    name: 'vwap-adx',
    symbols: [],
    params: { bandK: 0.75, stopK: 1.5, adxMax: 100, minSessionKlines: 5, timeStopMinutes: 0, volGuardMaxMove: 1 },
  },
]);
/**
 * The bar strategies, with short periods so that 300 klines give them trades; their warm-ups
 * (donchian: 6 five-minute bars, rsi: 20 three-minute bars) exceed the HISTORY back-fill, so no
 * signal falls on a back-filled kline. Their bars are built by the strategy host in both runs.
 */
const BAR_STRATEGIES: Array<{ label: string; env: Record<string, string> }> = [
  {
    label: 'donchian-breakout (5m bars)',
    env: envFor([{ id: 'dcb', name: 'donchian-breakout', params: { interval: '5m', entryPeriod: 5, exitPeriod: 3, atrPeriod: 5, stopAtr: 1 } }]),
  },
  {
    label: 'rsi-reversion (3m bars)',
    env: envFor([{ id: 'rsi', name: 'rsi-reversion', params: { interval: '3m', rsiPeriod: 2, trendPeriod: 20, exitPeriod: 3, oversold: 25, overbought: 75, maxHoldBars: 3, stopAtr: 0.5 } }]),
  },
];
const STEPS = 12; // the simulator's sub-steps per kline (its default)

const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};


interface SignalRow {
  signal_id: string;
  target: string;
  reason: string;
  ref_price: string;
}
interface OrderRow {
  client_order_id: string;
  signal_id: string | null;
  side: string;
  quantity: string;
  stop_price: string | null;
  reduce_only: number;
  status: string;
  executed_qty: string;
  denied_check: string | null;
}
interface FillRow {
  client_order_id: string;
  side: string;
  price: string;
  quantity: string;
  commission: string;
  realized_pnl: string;
}
interface CandleRow {
  open_time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

function readRun(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      signals: db.prepare('select signal_id, target, reason, ref_price from signals order by id').all() as SignalRow[],
      orders: db.prepare('select client_order_id, signal_id, side, quantity, stop_price, reduce_only, status, executed_qty, denied_check from orders order by created_at, rowid').all() as OrderRow[],
      fills: db.prepare('select client_order_id, side, price, quantity, commission, realized_pnl from fills order by time, trade_id').all() as FillRow[],
      candles: db.prepare("select open_time, open, high, low, close, volume from candles_1m where symbol = 'BTCUSDT' order by open_time").all() as CandleRow[],
      positions: db.prepare('select symbol, quantity, entry_price, realized_pnl, fees from positions order by symbol').all(),
    };
  } finally {
    db.close();
  }
}

/** Start the simulator and the live bot; wait until the bot trades and listens. */
async function startBoth(dir: string, fillOnSubSteps: boolean, cleanup: Array<() => Promise<void> | void>, env = ENV) {
  const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: HISTORY, fillOnSubSteps });
  cleanup.push(() => sim.close());
  const config = loadConfig({
    env: { ...env, BINANCE_BASE_URL: sim.url, BINANCE_WS_URL: sim.wsUrl },
    dotenvFile: null,
    overrides: { db: join(dir, 'live.sqlite'), 'heartbeat.file': join(dir, 'heartbeat.json') },
  });
  const bot: RunningLiveBot = await startLive(config, silentLogger(), RULES, ['BTCUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await bot.stop();
    await bot.kernel.close(null, 'stopped');
  };
  cleanup.push(stop);
  await bot.ready;
  await until('trading ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
  await until('market and user streams subscribed', () => {
    const c = sim.state().connections;
    return c.streams.includes('btcusdt@kline_1m') && c.user >= 1;
  });
  // the warm-up back-fill delivered the history, up to the last closed kline
  // (up to 30 s: a REST kline counts as closed 2 s after its close, so a start just after a
  // close waits for the next back-fill pass; under the full suite's load that took over 10 s once)
  await until('history back-filled', () => bot.kernel.source.health().BTCUSDT!.lastEventTime === sim.dataTime() - 1, 30_000);
  return { sim, bot, config, stop };
}

/** Replay exactly `candles` through Kernel.forReplay with the same configuration. */
async function replay(dir: string, candles: CandleRow[], env = ENV) {
  const csv = join(dir, 'BTCUSDT-1m-seen.csv');
  writeFileSync(csv, ['open_time,open,high,low,close,volume', ...candles.map((c) => [c.open_time, c.open, c.high, c.low, c.close, c.volume].join(','))].join('\n') + '\n');
  const config = loadConfig({ env, dotenvFile: null, overrides: { db: join(dir, 'replay.sqlite'), data: [`BTCUSDT=${csv}`] } });
  const kernel = Kernel.forReplay({ config, mode: 'replay', rules: RULES, symbols: ['BTCUSDT'], log: silentLogger(), heartbeat: false }, loadReplayData(config.data));
  let report: Awaited<ReturnType<Kernel['run']>> | null = null;
  try {
    report = await kernel.run();
  } finally {
    await kernel.close(report, report ? 'completed' : 'failed');
  }
  return { report: report!, ...readRun(config.db) };
}

type Run = ReturnType<typeof readRun>;

/**
 * One parity run: live against the simulator, then replay of what it saw, with `env`.
 * @param minSignals the fewest signals the run must have for the comparison to mean something
 */
function parity(label: string, env: Record<string, string>, minSignals: number) {
describe(`live mode over recorded real data = a replay of the same data: ${label}`, () => {
  let live: Run;
  let rep: Run & { report: Awaited<ReturnType<Kernel['run']>> };
  let simFills: ReturnType<Simulator['state']>['fills'];
  let simPosition: ReturnType<Simulator['state']>['positions'];
  let steppedFills = 0;
  let firstOpen = 0;
  const teardown: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-parity-'));
    teardown.push(() => rmSync(dir, { recursive: true, force: true }));
    const { sim, bot, config, stop } = await startBoth(dir, true, teardown, env);
    firstOpen = sim.dataTime(); // the forming kline: the first one that will be streamed
    const k = bot.kernel;

    const stops = k.executor.stops!;
    expect(stops).not.toBeNull();
    /** The bot's stops agree with the exchange's (no placement or cancel in flight). */
    const stopsSettled = () => stops.pending() === null && sim.state().openAlgoOrders.length === stops.openStops().length;
    const simPos = () => sim.state().positions.find((p) => p.symbol === 'BTCUSDT')?.positionAmt ?? '0';
    for (let i = 0; i < KLINES; i++) {
      // The kline's sub-steps but the last: a stop may trigger on a mark price meanwhile. Its fill
      // and the position reach the bot before the kline closes, as on the exchange, where a stop
      // fires long before the minute's close (the two websockets are not ordered with each other).
      const phase = sim.state().step;
      if (STEPS - 1 - phase > 0) expect(sim.step(STEPS - 1 - phase)).toBe(STEPS - 1 - phase);
      await until(`stops and position settled in kline ${i}`, () => stopsSettled() && (k.executor.positionSnapshot().BTCUSDT ?? '0') === simPos());
      await k.bus.drain();
      expect(sim.step(1)).toBe(1); // the kline closes
      const closeTime = firstOpen + (i + 1) * MINUTE - 1;
      await until(`kline ${i} reaches the bot`, () => k.source.health().BTCUSDT!.lastEventTime === closeTime);
      await k.bus.drain(); // strategy → signal → executor → REST order placed (or denied)
      // Orders decided on the last kline stay open: the replay has no later kline to fill them.
      if (i < KLINES - 1 && k.executor.openOrders().length > 0) {
        const fillsBefore = sim.state().fills.length;
        await until('orders accepted by the exchange', () => sim.state().openOrders.length === k.executor.openOrders().length);
        // One sub-step: the engine sees the forming kline's open; the orders fill there.
        expect(sim.step(1)).toBe(1);
        expect(sim.state().openOrders).toEqual([]);
        steppedFills += sim.state().fills.length - fillsBefore;
        await until('fills reach the bot', () => k.executor.openOrders().length === 0);
        const want = sim.state().positions.find((p) => p.symbol === 'BTCUSDT')?.positionAmt ?? '0';
        await until('position reaches the bot', () => (k.executor.positionSnapshot().BTCUSDT ?? '0') === want);
        await k.bus.drain();
        // the entry's stop placed (or the exit's stop canceled) before the kline goes on
        await until('stops settled', stopsSettled);
      }
    }
    expect(k.executor.stats.venueErrors).toBe(0);
    await until('orders of the last kline accepted', () => sim.state().openOrders.length === k.executor.openOrders().length);
    await stop();
    simFills = sim.state().fills;
    simPosition = sim.state().positions;
    live = readRun(config.db);
    rep = await replay(dir, live.candles, env);
    // eslint-disable-next-line no-console
    console.log(`parity ${label}: ${live.candles.length} klines, ${live.signals.length} signals, ${live.orders.filter((o) => o.status !== 'DENIED').length} orders sent, ${live.orders.filter((o) => o.status === 'DENIED').length} denied, ${live.fills.length} fills`);
  }, 80_000);

  afterAll(async () => {
    for (const c of teardown.reverse()) await c();
  });

  it(`the live bot saw exactly the ${HISTORY} back-filled and ${KLINES} streamed klines, once each and in order; the replay saw the same`, () => {
    expect(live.candles).toHaveLength(HISTORY + KLINES);
    expect(live.candles.map((c) => c.open_time)).toEqual(Array.from({ length: HISTORY + KLINES }, (_, i) => firstOpen + (i - HISTORY) * MINUTE));
    const csvRows = readFileSync(BTC, 'utf8').trim().split('\n').slice(1, 1 + HISTORY + KLINES).map((r) => r.split(',').slice(1, 6).join(','));
    expect(live.candles.map((c) => [c.open, c.high, c.low, c.close, c.volume].join(','))).toEqual(csvRows);
    expect(rep.report.candles).toBe(HISTORY + KLINES);
    expect(rep.candles).toEqual(live.candles);
  });

  it('identical signals: same kline (the signal id carries its open time), target, reason and reference price, in the same order', () => {
    expect(live.signals.length).toBeGreaterThanOrEqual(minSignals);
    expect(new Set(live.signals.map((s) => s.reason)).size).toBeGreaterThanOrEqual(3); // entries and exits of more than one kind
    expect(live.signals).toEqual(rep.signals);
  });

  it('identical orders: client order ids, sides, quantities, reduce-only flags and outcomes; the exchange got each once', () => {
    const isStop = (o: OrderRow) => o.client_order_id.startsWith('pb-stop-');
    const all = live.orders.filter((o) => o.status !== 'DENIED');
    const stopOrders = all.filter(isStop);
    if (label === 'vwap-adx') {
      // vwap-adx states its stop band with each entry: protective stops, one per entry that
      // filled, each triggered (FILLED), canceled after the strategy's exit, still open at the
      // end, or refused because the price was already beyond it (-2021, in both runs alike)
      expect(stopOrders.length).toBeGreaterThanOrEqual(3);
      expect(stopOrders.every((o) => ['FILLED', 'CANCELED', 'NEW', 'REJECTED'].includes(o.status) && o.stop_price !== null)).toBe(true);
      expect(stopOrders.some((o) => o.status === 'CANCELED')).toBe(true);
      expect(stopOrders.some((o) => o.status === 'FILLED')).toBe(true);
    }
    const sent = all.filter((o) => !isStop(o));
    expect(sent.length).toBeGreaterThanOrEqual(minSignals);
    expect(sent.some((o) => o.reduce_only === 1)).toBe(true);
    // all filled, but those decided on the last kline (no later kline to fill them, in either run)
    const lastKline = `:${live.candles[live.candles.length - 1]!.open_time}:`;
    const filled = sent.filter((o) => !o.signal_id!.includes(lastKline));
    expect(filled.every((o) => o.status === 'FILLED' && o.executed_qty === o.quantity)).toBe(true);
    expect(sent.filter((o) => o.signal_id!.includes(lastKline)).every((o) => o.status === 'NEW')).toBe(true);
    expect(live.orders).toEqual(rep.orders);
    const filledAll = all.filter((o) => o.status === 'FILLED');
    expect(simFills.map((f) => f.clientOrderId)).toEqual(filledAll.map((o) => o.client_order_id));
    expect(steppedFills).toBe(filled.length); // stops fill on their own, within a kline
  });

  it('identical fills (one matching engine: the next kline\'s open ± 1 bps on the tick, taker fee) and realized PnL', () => {
    expect(live.fills).toEqual(rep.fills);
    expect(live.fills).toEqual(
      simFills.map((f) => ({ client_order_id: f.clientOrderId, side: f.side, price: f.price, quantity: f.quantity, commission: f.commission, realized_pnl: f.realizedPnl })),
    );
    // each fill is at the open of the kline after its signal's kline, moved 1 bps against the taker
    const opens = new Map(live.candles.map((c) => [c.open_time, c.open]));
    const signalOf = new Map(live.orders.map((o) => [o.client_order_id, o.signal_id]));
    // a triggered stop fills at its stop price, moved 1 bps against the taker; or, when the first
    // price the simulator shows after the stop arrived is already beyond it (a gap through the
    // stop: how soon the stop lands after its entry depends on timing), at that price, which is
    // worse than the stop (src/exchange/sim/matching-engine.ts matchStops)
    const stopOf = new Map(live.orders.filter((o) => o.stop_price !== null).map((o) => [o.client_order_id, Number(o.stop_price)]));
    for (const f of live.fills) {
      const stop = stopOf.get(f.client_order_id);
      if (stop !== undefined) {
        const price = Number(f.price);
        const off = Math.abs(price - stop) / stop;
        const gapped = f.side === 'SELL' ? price < stop : price > stop;
        // at the stop ± 1 bps, or through it by at most one sub-step's move
        expect(off < 0.00011 || (gapped && off < 0.002), `${f.side} stop fill at ${price}, stop ${stop}`).toBe(true);
        continue;
      }
      const t = Number(signalOf.get(f.client_order_id)!.split(':')[2]);
      const open = Number(opens.get(t + MINUTE));
      expect(Math.abs(Number(f.price) - open) / open).toBeLessThan(0.00011);
    }
  });

  it('the same positions: quantity, entry price and realized PnL (and the exchange agrees)', () => {
    const pick = (rows: unknown[]) => (rows as Array<Record<string, unknown>>).map(({ symbol, quantity, entry_price, realized_pnl }) => ({ symbol, quantity, entry_price, realized_pnl }));
    expect(pick(live.positions)).toEqual(pick(rep.positions));
    expect(live.positions.map((p) => (p as { quantity: string }).quantity)).toEqual(simPosition.map((p) => p.positionAmt));
  });

  // BUG (src/exchange/binance/venue.ts:323): `onUserData` maps ACCOUNT_UPDATE with
  // `mapAccountUpdate(frame)` and no `feesOf` extra (mapper.ts PositionExtras), so every live
  // PositionChanged carries fees "0" and the positions table of a live run says fees 0 although
  // the fills table holds the commissions paid. Replay records their sum. Should: live positions
  // carry the fees paid on the symbol, as replay does.
  it('the same positions: fees paid (live records the commissions like replay)', () => {
    const fees = (rows: unknown[]) => (rows as Array<{ fees: string }>).map((p) => p.fees);
    expect(fees(rep.positions)[0]).not.toBe('0');
    expect(fees(live.positions)).toEqual(fees(rep.positions));
  });
});

}

parity('vwap-adx', ENV, 10);
for (const { label, env } of BAR_STRATEGIES) parity(label, env, 6);

describe("the simulator's default fill model (fillOnSubSteps off)", () => {
  const teardown: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of teardown.reverse()) await c();
  });

  it('fills a MARKET order decided on kline N at kline N+2\'s open, one kline later than replay (documented in server.ts)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-parity-default-'));
    teardown.push(() => rmSync(dir, { recursive: true, force: true }));
    const { sim, bot, stop } = await startBoth(dir, false, teardown);
    const firstOpen = sim.dataTime();
    const k = bot.kernel;
    let i = 0;
    for (; i < 60 && k.executor.openOrders().length === 0; i++) {
      sim.advance(1);
      await until(`kline ${i} reaches the bot`, () => k.source.health().BTCUSDT!.lastEventTime === firstOpen + (i + 1) * MINUTE - 1);
      await k.bus.drain();
    }
    const order = k.executor.openOrders()[0]!;
    expect(order).toBeDefined();
    const decidedOn = Number(order.signalId!.split(':')[2]);
    expect(decidedOn).toBe(firstOpen + (i - 1) * MINUTE);
    await until('order accepted', () => sim.state().openOrders.length === 1);
    // the whole next kline (N+1) plays: its open was shown to the engine before the order arrived
    sim.step(11);
    expect(sim.state().fills).toEqual([]);
    sim.step(1); // N+1 closes, N+2 opens: the order fills at N+2's open
    const fill = sim.state().fills[0]!;
    expect(fill.clientOrderId).toBe(order.clientOrderId);
    expect(fill.dataTime).toBe(decidedOn + 2 * MINUTE); // its trade time (`time`) is bounded by the server clock
    // the data row of a (shifted) open time: the stream starts at row HISTORY
    const rows = readFileSync(BTC, 'utf8').trim().split('\n').slice(1);
    const openOf = (t: number) => Number(rows[HISTORY + (t - firstOpen) / MINUTE]!.split(',')[1]);
    const n2 = openOf(decidedOn + 2 * MINUTE);
    expect(Math.abs(Number(fill.price) - n2) / n2).toBeLessThan(0.00011);
    await until('fill reaches the bot', () => k.executor.stats.fills === 1);
    await stop();
  });
});
