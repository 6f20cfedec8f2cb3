/**
 * Executor tests with real components: the real EventBus, a ReplayClock, the real SimVenue /
 * MatchingEngine (with the same tick rounding and filter hook the kernel plugs in), the real
 * bundled exchangeInfo, and real klines copied verbatim from
 * data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv and ETHUSDT-1m-2025-07-06_2025-07-17.csv.
 *
 * Each minute is replayed the way src/kernel/kernel.ts `replay()` does it: clock.set(closeTime+1),
 * venue.onKline(k) (fills of orders placed on the previous close happen at this kline's open),
 * publish the kline, drain the bus; signals are then published on `signal.<id>` and drained.
 *
 * Simulated fees: taker 0.0005, slippage 0 bps (so a MARKET fill is exactly the next open).
 * Every expected number is worked out by hand in the comment beside it.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus/bus.ts';
import { ReplayClock } from '../src/core/clock.ts';
import { Decimal, ZERO, str } from '../src/core/decimal.ts';
import type {
  Kline,
  OrderEvent,
  OrderIntent,
  PositionChanged,
  SignalEmitted,
  TargetPosition,
  TradingState,
  TradingStateChanged,
} from '../src/core/types.ts';
import { SimVenue } from '../src/exchange/sim/sim-venue.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { loadExchangeInfo } from './exchange-info.ts';
import { Executor, clientOrderIdFor, type OrderJournal, type SizingConfig } from './executor.ts';
import { validateOrder } from './filters.ts';
import type { RiskLimits } from './risk.ts';
import type { Venue } from './venue.ts';

const RULES = loadExchangeInfo(fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url)));

function klines(symbol: string, rows: string[]): Kline[] {
  return rows.map((row) => {
    const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
    const openTime = Number(t);
    return { symbol, interval: '1m', openTime, closeTime: openTime + 59_999, open, high, low, close, volume, closed: true };
  });
}

// BTCUSDT rows 0–7 of the CSV (2025-07-06 00:00–00:07 UTC), verbatim.
const BTC = klines('BTCUSDT', [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406',
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633',
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878',
  '1751760180000,108113.2,108135.0,108113.2,108134.9,29.041',
  '1751760240000,108135.0,108135.0,108121.1,108121.2,13.233',
  '1751760300000,108121.2,108125.7,108090.0,108090.1,34.616',
  '1751760360000,108090.1,108090.1,108090.0,108090.0,7.093',
  '1751760420000,108090.1,108094.3,108090.0,108094.2,14.995',
]);
// BTCUSDT rows 473–485 (2025-07-06 07:53–08:05 UTC), around the 08:00 funding time, verbatim.
const BTC_0800 = klines('BTCUSDT', [
  '1751788380000,108000.0,108000.1,107994.6,107994.6,15.03',
  '1751788440000,107994.6,107994.7,107994.6,107994.7,13.259',
  '1751788500000,107994.6,107994.7,107994.6,107994.6,3.41',
  '1751788560000,107994.7,107994.7,107994.6,107994.6,4.974',
  '1751788620000,107994.6,108003.0,107994.6,108000.1,34.512',
  '1751788680000,108000.0,108000.0,107991.3,107991.4,23.878',
  '1751788740000,107991.3,107991.4,107991.3,107991.3,11.258',
  '1751788800000,107991.4,107996.0,107988.1,107996.0,62.962',
  '1751788860000,107996.0,107996.0,107972.1,107972.2,14.488',
  '1751788920000,107972.2,107972.2,107966.7,107966.7,25.183',
  '1751788980000,107966.8,107975.1,107966.7,107975.0,39.559',
  '1751789040000,107975.1,107981.7,107970.3,107981.7,22.322',
  '1751789100000,107981.7,107998.0,107981.6,107998.0,28.397',
]);
// ETHUSDT rows 0–1 of the CSV, verbatim (ETHUSDT: MIN_NOTIONAL 20, step 0.001).
const ETH = klines('ETHUSDT', ['1751760000000,2515.25,2516.09,2515.12,2515.26,1011.866', '1751760060000,2515.26,2515.46,2515.02,2515.43,834.149']);

const b = (i: number): Kline => BTC[i]!;
const at0800 = (openTimeMinute: number): Kline => {
  const k = BTC_0800.find((x) => new Date(x.openTime).getUTCMinutes() === openTimeMinute);
  if (!k) throw new Error(`no kline at minute ${openTimeMinute}`);
  return k;
};

type Recorded = OrderEvent | PositionChanged | TradingStateChanged;
type Of<T extends Recorded['type']> = Extract<Recorded, { type: T }>;

const BASE_LIMITS: RiskLimits = {
  maxOpenPositions: 2,
  maxNotionalPerSymbol: new Decimal('5000'),
  maxDailyQuantity: new Map(),
  dailyLossLimit: new Decimal('300'),
  maxConsecutiveLosses: 0,
  haltCooldownMinutes: 0,
  fundingBlackoutMinutes: 0, // the data starts at 00:00 UTC, a funding time; tests of the window turn it on
};
const BASE_SIZING: SizingConfig = { mode: 'fixed_notional', notional: '1000', equityFraction: '0.1', leverage: 5 };

interface HarnessOptions {
  limits?: Partial<RiskLimits>;
  sizing?: Partial<SizingConfig>;
  limitOrderTtlMs?: number;
  /**
   * Deliver each fill after the position update it caused, as Binance often does
   * (ACCOUNT_UPDATE before ORDER_TRADE_UPDATE); the simulated venue sends the fill first.
   */
  positionFirst?: boolean;
}

/** A kernel-like wiring of the executor with a real bus, replay clock and simulated venue. */
function harness(o: HarnessOptions = {}) {
  const clock = new ReplayClock(0);
  const handlerErrors: unknown[] = [];
  const bus = new EventBus({ onHandlerError: (_s, err) => handlerErrors.push(err) });
  const sim = new SimVenue({
    clock,
    config: {
      takerFeeRate: '0.0005',
      makerFeeRate: '0.0002',
      slippageBps: '0',
      startingBalance: '10000',
      tickSize: (s) => (RULES.has(s) ? RULES.get(s).priceFilter.tickSize : undefined),
      validate: (intent) => {
        const v = validateOrder(RULES.get(intent.symbol), intent);
        return v ? { code: v.code, reason: v.reason } : null;
      },
    },
  });
  // Exactly like the kernel: venue events go onto the bus.
  const ctl = { journalError: null as string | null, venueError: null as string | null, holdPositions: false };
  const heldFills: OrderEvent[] = [];
  const heldPositions: PositionChanged[] = [];
  sim.onEvent((e) => {
    if (o.positionFirst && e.type === 'OrderFilled') {
      heldFills.push(e);
      return;
    }
    if (e.type === 'PositionChanged') {
      if (ctl.holdPositions) {
        heldPositions.push(e);
        return;
      }
      void bus.publish('account.update', e);
      for (const f of heldFills.splice(0)) void bus.publish('order.update', f);
    } else void bus.publish('order.update', e);
  });
  /** Deliver the position updates held back by `ctl.holdPositions`. */
  async function releasePositions(): Promise<void> {
    ctl.holdPositions = false;
    for (const p of heldPositions.splice(0)) await bus.publish('account.update', p);
    await bus.drain();
  }

  /** Calls to the journal and to the venue, in the order they happened. */
  const trace: string[] = [];
  const journaled: OrderIntent[] = [];
  const venueSaw: OrderIntent[] = [];
  const journal: OrderJournal = {
    recordIntent(intent) {
      trace.push(`journal ${intent.clientOrderId}`);
      if (ctl.journalError !== null) throw new Error(ctl.journalError);
      if (journaled.some((j) => j.clientOrderId === intent.clientOrderId)) return false;
      journaled.push(intent);
      return true;
    },
  };
  const venue: Venue = {
    name: sim.name,
    submit(intent) {
      trace.push(`venue ${intent.clientOrderId}`);
      venueSaw.push(intent);
      if (ctl.venueError !== null) return Promise.reject(new Error(ctl.venueError));
      return sim.submit(intent);
    },
    cancel: (symbol, id) => sim.cancel(symbol, id),
    onEvent: (l) => sim.onEvent(l),
    positions: () => sim.positions(),
  };

  const limits: RiskLimits = { ...BASE_LIMITS, ...o.limits };
  const executor = new Executor({
    bus,
    venue,
    rules: RULES,
    clock,
    sizing: { ...BASE_SIZING, ...o.sizing },
    limits,
    journal,
    log: silentLogger(),
    startingEquity: '10000',
    ...(o.limitOrderTtlMs !== undefined ? { limitOrderTtlMs: o.limitOrderTtlMs } : {}),
  });
  executor.start();

  const events: Recorded[] = [];
  bus.consume(['order.update', 'account.update', 'risk.state'], (m) => void events.push(m), { name: 'recorder' });

  const of = <T extends Recorded['type']>(type: T): Of<T>[] => events.filter((e): e is Of<T> => e.type === type);

  /** One replay minute (one kline per symbol, same open time), in the kernel's order. */
  async function bar(...group: Kline[]): Promise<void> {
    clock.set(group[0]!.closeTime + 1);
    for (const k of group) sim.onKline(k);
    for (const k of group) await bus.publish(`market.kline.${k.symbol}`, { type: 'KlineClosed', ts: clock.now(), kline: k });
    await bus.drain();
  }

  /** A strategy signal decided on kline `k`'s close. */
  async function signal(target: TargetPosition, k: Kline, seq = 0, strategyId = 's1'): Promise<SignalEmitted> {
    const s: SignalEmitted = {
      type: 'SignalEmitted',
      ts: clock.now(),
      signalId: `${strategyId}:${k.symbol}:${k.openTime}:${seq}`,
      strategyId,
      symbol: k.symbol,
      target,
      reason: target === 'FLAT' ? 'exit_vwap' : 'entry',
      refPrice: k.close,
      indicators: {},
      klineOpenTime: k.openTime,
    };
    await bus.publish(`signal.${strategyId}`, s);
    await bus.drain();
    return s;
  }

  async function setState(state: TradingState, reason: string): Promise<void> {
    await bus.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state, reason });
    await bus.drain();
  }

  return { clock, bus, sim, executor, events, of, trace, journaled, venueSaw, ctl, handlerErrors, bar, signal, setState, releasePositions };
}

const ID_RE = /^pb-[A-Za-z0-9_-]{22}$/;

describe('clientOrderIdFor', () => {
  it('is pb- + the first 22 base64url chars of sha256("<signalId>|<leg>")', () => {
    const sid = 's1:BTCUSDT:1751760000000:0';
    const expected = `pb-${createHash('sha256').update(`${sid}|open`).digest('base64url').slice(0, 22)}`;
    expect(clientOrderIdFor(sid, 'open')).toBe(expected);
    expect(clientOrderIdFor(sid, 'open')).toMatch(ID_RE);
    expect(clientOrderIdFor(sid, 'open')).toHaveLength(25);
    expect(clientOrderIdFor(sid, 'open')).toBe(clientOrderIdFor(sid, 'open'));
    expect(clientOrderIdFor(sid, 'close')).not.toBe(clientOrderIdFor(sid, 'open'));
    expect(clientOrderIdFor('s1:BTCUSDT:1751760000000:1', 'open')).not.toBe(clientOrderIdFor(sid, 'open'));
  });
});

describe('Executor: entries, exits, reversals', () => {
  it('LONG → one MARKET BUY of floor(1000 / 108167.0, 0.001) = 0.009, journaled before the venue sees it', async () => {
    const h = harness();
    await h.bar(b(0));
    const s = await h.signal('LONG', b(0));
    const id = clientOrderIdFor(s.signalId, 'open');
    expect(id).toMatch(ID_RE);

    const submitted = h.of('OrderSubmitted');
    expect(submitted).toHaveLength(1);
    const expectedIntent: OrderIntent = {
      clientOrderId: id,
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'MARKET',
      quantity: '0.009', // 1000 / 108167.0 = 0.009244… → floor to step 0.001
      reduceOnly: false,
      strategyId: 's1',
      signalId: 's1:BTCUSDT:1751760000000:0',
      refPrice: '108167.0',
      createdAt: 1751760060000, // the replay clock: kline 0 closeTime + 1
    };
    expect(submitted[0]).toEqual({ type: 'OrderSubmitted', ts: 1751760060000, intent: expectedIntent });
    // Written ahead: the journal was called before the venue, with the very intent sent.
    expect(h.trace).toEqual([`journal ${id}`, `venue ${id}`]);
    expect(h.journaled).toEqual([expectedIntent]);
    expect(h.venueSaw).toEqual([expectedIntent]);
    // Accepted, open, not filled yet (the sim never fills inside submit).
    expect(h.of('OrderAccepted').map((e) => e.clientOrderId)).toEqual([id]);
    expect(h.events.map((e) => e.type)).toEqual(['OrderSubmitted', 'OrderAccepted']);
    expect(h.executor.openOrders()).toEqual([expectedIntent]);
    expect(h.executor.positionSnapshot()).toEqual({});
    expect(h.handlerErrors).toEqual([]);
  });

  it('the same signal gives the same client order id in another run (replay is deterministic)', async () => {
    const ids: string[] = [];
    for (let run = 0; run < 2; run++) {
      const h = harness();
      await h.bar(b(0));
      await h.signal('LONG', b(0));
      ids.push(h.of('OrderSubmitted')[0]!.intent.clientOrderId);
    }
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).toBe(clientOrderIdFor('s1:BTCUSDT:1751760000000:0', 'open'));
  });

  it('the entry fills on the next kline, at its open', async () => {
    const h = harness();
    await h.bar(b(0));
    const s = await h.signal('LONG', b(0));
    await h.bar(b(1));
    const fills = h.of('OrderFilled');
    expect(fills).toHaveLength(1);
    expect(fills[0]!.status).toBe('FILLED');
    expect(fills[0]!.cumulativeQuantity).toBe('0.009');
    expect(fills[0]!.fill).toMatchObject({
      clientOrderId: clientOrderIdFor(s.signalId, 'open'),
      side: 'BUY',
      price: '108166.9', // kline 1 open, 0 bps slippage
      quantity: '0.009',
      commission: '0.48675105', // 108166.9 × 0.009 × 0.0005 = 973.5021 × 0.0005
      realizedPnl: '0',
      time: 1751760060000,
    });
    expect(h.of('PositionChanged').map((e) => [e.position.quantity, e.position.entryPrice])).toEqual([['0.009', '108166.9']]);
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
    expect(h.executor.openOrders()).toEqual([]);
    expect(h.executor.currentEquity()).toBe('9999.51324895'); // 10000 − 0.48675105
  });

  it('FLAT while long → one reduce-only SELL of the whole position; the round trip is recorded', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    await h.bar(b(2));
    const s = await h.signal('FLAT', b(2));
    const submitted = h.of('OrderSubmitted');
    expect(submitted).toHaveLength(2);
    expect(submitted[1]!.intent).toEqual({
      clientOrderId: clientOrderIdFor(s.signalId, 'close'),
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'MARKET',
      quantity: '0.009',
      reduceOnly: true,
      strategyId: 's1',
      signalId: 's1:BTCUSDT:1751760120000:0',
      refPrice: '108113.3',
      createdAt: 1751760180000,
    });
    await h.bar(b(3));
    const exit = h.of('OrderFilled')[1]!.fill;
    expect([exit.side, exit.price, exit.quantity]).toEqual(['SELL', '108113.2', '0.009']);
    expect(exit.realizedPnl).toBe('-0.4833'); // (108113.2 − 108166.9) × 0.009
    expect(exit.commission).toBe('0.4865094'); // 108113.2 × 0.009 × 0.0005
    expect(h.executor.positionSnapshot()).toEqual({});
    // Net of the round trip: −0.4833 − 0.48675105 − 0.4865094
    expect(h.executor.trades()).toEqual([{ symbol: 'BTCUSDT', strategyId: 's1', netPnl: '-1.45656045', closedAt: 1751760180000 }]);
    expect(h.executor.stats).toMatchObject({ roundTrips: 1, wins: 0, losses: 1, fills: 2, submitted: 2 });
    expect(h.handlerErrors).toEqual([]);
  });

  it('a repeated LONG while long is ignored: no order, no denial', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    const before = h.events.length;
    await h.bar(b(2));
    await h.signal('LONG', b(2));
    expect(h.events.length).toBe(before);
    expect(h.venueSaw).toHaveLength(1);
    expect(h.executor.stats).toMatchObject({ signals: 2, ignoredSignals: 1, submitted: 1, denied: 0 });
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
  });

  it('SHORT while long → reduce-only close leg, then the open leg; both fill on the next kline', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    await h.bar(b(2));
    const s = await h.signal('SHORT', b(2));
    const close = clientOrderIdFor(s.signalId, 'close');
    const open = clientOrderIdFor(s.signalId, 'open');
    const legs = h.of('OrderSubmitted').slice(1).map((e) => e.intent);
    expect(legs.map((i) => [i.clientOrderId, i.side, i.quantity, i.reduceOnly])).toEqual([
      [close, 'SELL', '0.009', true],
      [open, 'SELL', '0.009', false], // 1000 / 108113.3 = 0.009249… → 0.009
    ]);
    expect(h.trace.slice(2)).toEqual([`journal ${close}`, `venue ${close}`, `journal ${open}`, `venue ${open}`]);
    await h.bar(b(3));
    const fills = h.of('OrderFilled').slice(1).map((e) => e.fill);
    expect(fills.map((f) => [f.clientOrderId, f.side, f.price, f.quantity, f.realizedPnl, f.commission])).toEqual([
      [close, 'SELL', '108113.2', '0.009', '-0.4833', '0.4865094'],
      [open, 'SELL', '108113.2', '0.009', '0', '0.4865094'],
    ]);
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '-0.009' });
    expect(h.executor.trades().map((t) => t.netPnl)).toEqual(['-1.45656045']);
    expect(h.executor.openOrders()).toEqual([]);
  });
});

describe('Executor: denials are events, and nothing leaves', () => {
  it('BTCUSDT with sizing notional "50": 50 / 108167.0 floors to 0 → OrderDenied check sizing', async () => {
    // On BTCUSDT any quantity ≥ minQty 0.001 is ≥ 108 USDT here, so MIN_NOTIONAL 100 cannot be
    // reached through sizing: the sizing step refuses first.
    const h = harness({ sizing: { notional: '50' } });
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    const denied = h.of('OrderDenied');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.check).toBe('sizing');
    expect(denied[0]!.reason).toBe('BUY BTCUSDT: notional 50 / refPrice 108167 floors to quantity 0 at MARKET_LOT_SIZE stepSize 0.001');
    expect(h.venueSaw).toEqual([]);
    expect(h.journaled).toEqual([]);
  });

  it('notional below MIN_NOTIONAL (ETHUSDT, notional "15") → OrderDenied check MIN_NOTIONAL with Binance -4164', async () => {
    const h = harness({ sizing: { notional: '15' } });
    await h.bar(ETH[0]!);
    await h.signal('LONG', ETH[0]!);
    const denied = h.of('OrderDenied');
    expect(denied).toHaveLength(1);
    // 15 / 2515.26 = 0.00596… → 0.005; 0.005 × 2515.26 = 12.5763 < 20
    expect(denied[0]!.check).toBe('MIN_NOTIONAL');
    expect(denied[0]!.reason).toBe('notional 12.5763 < MIN_NOTIONAL 20 (Binance -4164)');
    expect(denied[0]!.intent).toMatchObject({ symbol: 'ETHUSDT', side: 'BUY', quantity: '0.005', reduceOnly: false });
    expect(denied[0]!.ts).toBe(1751760060000);
    expect(h.venueSaw).toEqual([]);
    expect(h.journaled).toEqual([]);
    expect(h.executor.stats.deniedByCheck).toEqual({ MIN_NOTIONAL: 1 });
  });

  it('a signal while an order of the symbol is still open → OrderDenied check orderInFlight', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    const s2 = await h.signal('SHORT', b(0), 1);
    await h.signal('LONG', b(0), 2);
    const denied = h.of('OrderDenied');
    expect(denied.map((e) => [e.check, e.reason])).toEqual([
      ['orderInFlight', 'an order of BTCUSDT is still open'],
      ['orderInFlight', 'an order of BTCUSDT is still open'],
    ]);
    expect(denied[0]!.intent).toMatchObject({ clientOrderId: clientOrderIdFor(s2.signalId, 'x'), side: 'SELL', quantity: '0' });
    expect(h.venueSaw).toHaveLength(1);
    // Once filled, the symbol is free again.
    await h.bar(b(1));
    await h.signal('SHORT', b(1));
    expect(h.venueSaw.map((i) => [i.side, i.reduceOnly])).toEqual([
      ['BUY', false],
      ['SELL', true],
      ['SELL', false],
    ]);
  });

  it('FLAT while the entry is still in flight is denied (orderInFlight), not silently ignored as "already flat"', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    const flat = await h.signal('FLAT', b(0), 1);
    const denied = h.of('OrderDenied');
    expect(denied.map((e) => e.check)).toEqual(['orderInFlight']);
    expect(denied[0]!.intent).toMatchObject({ clientOrderId: clientOrderIdFor(flat.signalId, 'x'), side: 'SELL', reduceOnly: true });
    expect(h.executor.stats.ignoredSignals).toBe(0);
  });

  it('maxNotionalPerSymbol 900: 0.009 × 108167.0 = 973.503 → OrderDenied', async () => {
    const h = harness({ limits: { maxNotionalPerSymbol: new Decimal('900') } });
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.quantity])).toEqual([
      ['maxNotionalPerSymbol', 'BTCUSDT notional after order 973.5 > limit 900', '0.009'],
    ]);
    expect(h.venueSaw).toEqual([]);
    expect(h.journaled).toEqual([]);
    expect(h.of('OrderSubmitted')).toEqual([]);
  });

  it('maxOpenPositions 1: with BTCUSDT open, an ETHUSDT entry is denied', async () => {
    const h = harness({ limits: { maxOpenPositions: 1 } });
    await h.bar(b(0), ETH[0]!);
    await h.signal('LONG', b(0));
    await h.bar(b(1), ETH[1]!);
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
    await h.signal('LONG', ETH[1]!);
    const denied = h.of('OrderDenied');
    // 1000 / 2515.43 = 0.3975… → 0.397
    expect(denied.map((e) => [e.check, e.reason, e.intent.symbol, e.intent.quantity])).toEqual([
      ['maxOpenPositions', '1 positions open, limit 1', 'ETHUSDT', '0.397'],
    ]);
    expect(h.venueSaw.map((i) => i.symbol)).toEqual(['BTCUSDT']);
  });

  // Regression: openPositionCount() once counted only filled positions, so two entries on
  // different symbols decided on the same close both passed (0 open, the other still in flight)
  // and the account ended with 2 positions under a limit of 1. An entry order in flight counts.
  it('maxOpenPositions 1: two entries decided on the same close must not both leave', async () => {
    const h = harness({ limits: { maxOpenPositions: 1 } });
    await h.bar(b(0), ETH[0]!);
    await h.signal('LONG', b(0));
    await h.signal('LONG', ETH[0]!);
    // 1000 / 2515.26 = 0.39757… → 0.397
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.symbol, e.intent.quantity])).toEqual([
      ['maxOpenPositions', '1 positions open, limit 1', 'ETHUSDT', '0.397'],
    ]);
    await h.bar(b(1), ETH[1]!);
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
  });

  // BUG (executor/executor.ts, onSignal() reversal → place()): the open leg of a reversal is
  // risk-checked against the position BEFORE the close leg fills, so maxNotionalCheck sees
  // |+0.009 − 0.013| = 0.004 × 108113.3 = 432.45 instead of |0 − 0.013| × 108113.3 = 1405.47.
  // Input: limit 1000, sizing notional 1500, long 0.009 (operator order), then a SHORT signal.
  // Expected: the open leg (SELL 0.013) is denied with maxNotionalPerSymbol.
  // Actual: it is sent and the account ends short 0.013 BTC = 1405.47 USDT > the 1000 limit.
  it('maxNotionalPerSymbol is enforced on the open leg of a reversal', async () => {
    const h = harness({ limits: { maxNotionalPerSymbol: new Decimal('1000') }, sizing: { notional: '1500' } });
    await h.bar(b(0));
    await h.bus.publish('order.request', {
      type: 'SubmitOrder',
      ts: h.clock.now(),
      intent: { clientOrderId: 'pb-op-long-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.009', reduceOnly: false, strategyId: 'operator', refPrice: '108167.0' },
    });
    await h.bus.drain();
    await h.bar(b(1));
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' }); // 973.503 ≤ 1000
    await h.bar(b(2));
    await h.signal('SHORT', b(2));
    // 1500 / 108113.3 = 0.01387… → 0.013; after both legs: |−0.013| × 108113.3 = 1405.4729 > 1000
    expect(h.of('OrderDenied').map((e) => [e.check, e.intent.quantity, e.intent.reduceOnly])).toEqual([['maxNotionalPerSymbol', '0.013', false]]);
    await h.bar(b(3));
    expect(h.executor.positionSnapshot()).toEqual({});
  });

  it('funding window (5 min): no entries from 00:00 to 00:05:00.000 inclusive, entries again at 00:06', async () => {
    const h = harness({ limits: { fundingBlackoutMinutes: 5 } });
    await h.bar(b(0)); // clock 00:01:00.000
    await h.signal('LONG', b(0));
    for (let i = 1; i <= 4; i++) {
      await h.bar(b(i)); // clock 00:02 … 00:05:00.000
      await h.signal('LONG', b(i));
    }
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason])).toEqual([
      ['fundingWindow', '60 s from a funding time (blackout 5 min)'],
      ['fundingWindow', '120 s from a funding time (blackout 5 min)'],
      ['fundingWindow', '180 s from a funding time (blackout 5 min)'],
      ['fundingWindow', '240 s from a funding time (blackout 5 min)'],
      ['fundingWindow', '300 s from a funding time (blackout 5 min)'],
    ]);
    expect(h.venueSaw).toEqual([]);
    await h.bar(b(5)); // clock 00:06:00.000
    await h.signal('LONG', b(5));
    expect(h.venueSaw.map((i) => [i.side, i.quantity, i.createdAt])).toEqual([['BUY', '0.009', 1751760360000]]);
  });

  it('funding window around 08:00: an exit inside the window leaves; entries are denied 07:57–08:05:00.000 and leave at 08:06', async () => {
    const h = harness({ limits: { fundingBlackoutMinutes: 5 } });
    await h.bar(at0800(53)); // clock 07:54:00, 6 min before 08:00
    await h.signal('LONG', at0800(53)); // 1000 / 107994.6 = 0.00925… → 0.009
    await h.bar(at0800(54)); // fills at 107994.6
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
    await h.bar(at0800(55)); // clock 07:56:00, 4 min before: inside the window
    await h.signal('FLAT', at0800(55));
    expect(h.of('OrderDenied')).toEqual([]);
    await h.bar(at0800(56)); // the exit fills at 107994.7
    expect(h.executor.positionSnapshot()).toEqual({});
    await h.signal('LONG', at0800(56)); // clock 07:57:00
    for (const m of [0, 3, 4]) {
      await h.bar(at0800(m)); // clock 08:01, 08:04, 08:05:00.000
      await h.signal('LONG', at0800(m));
    }
    expect(h.of('OrderDenied').map((e) => e.reason)).toEqual([
      '180 s from a funding time (blackout 5 min)',
      '60 s from a funding time (blackout 5 min)',
      '240 s from a funding time (blackout 5 min)',
      '300 s from a funding time (blackout 5 min)',
    ]);
    await h.bar(at0800(5)); // clock 08:06:00
    await h.signal('LONG', at0800(5));
    expect(h.venueSaw.map((i) => [i.side, i.reduceOnly, i.refPrice])).toEqual([
      ['BUY', false, '107994.6'],
      ['SELL', true, '107994.6'],
      ['BUY', false, '107998.0'],
    ]);
  });

  it('journal failure → OrderDenied check journal, and NOTHING reaches the venue', async () => {
    const h = harness();
    h.ctl.journalError = 'SQLITE_FULL: database or disk is full';
    await h.bar(b(0));
    const s = await h.signal('LONG', b(0));
    const id = clientOrderIdFor(s.signalId, 'open');
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.clientOrderId])).toEqual([
      ['journal', 'write-ahead failed: SQLITE_FULL: database or disk is full', id],
    ]);
    expect(h.trace).toEqual([`journal ${id}`]);
    expect(h.venueSaw).toEqual([]);
    expect(h.sim.engine.stats().ordersAccepted + h.sim.engine.stats().ordersRejected).toBe(0);
    expect(h.of('OrderSubmitted')).toEqual([]);
    expect(h.executor.openOrders()).toEqual([]);
    expect(h.executor.error).toBe('journal: SQLITE_FULL: database or disk is full');
    expect(h.executor.stats).toMatchObject({ submitted: 0, denied: 1, deniedByCheck: { journal: 1 } });
    // The symbol is not left blocked: once the journal works, the next signal goes out.
    h.ctl.journalError = null;
    await h.bar(b(1));
    await h.signal('LONG', b(1));
    expect(h.venueSaw.map((i) => i.side)).toEqual(['BUY']);
  });
});

describe('Executor: trading state', () => {
  it('SetTradingState HALTED on order.request: entries and exits denied (tradingState), TradingStateChanged on risk.state', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.setState('HALTED', 'operator: maintenance');
    await h.setState('HALTED', 'operator: maintenance'); // the same command again: no event
    await h.setState('HALTED', 'operator: extended'); // same state, new reason: the reason is news
    await h.signal('LONG', b(0));
    expect(h.of('TradingStateChanged')).toEqual([
      { type: 'TradingStateChanged', ts: 1751760060000, state: 'HALTED', previous: 'ACTIVE', reason: 'operator: maintenance' },
      { type: 'TradingStateChanged', ts: 1751760060000, state: 'HALTED', previous: 'HALTED', reason: 'operator: extended' },
    ]);
    expect(h.executor.tradingState()).toEqual({ state: 'HALTED', reason: 'operator: extended', consecutiveLosses: 0 });
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly])).toEqual([
      ['tradingState', 'trading is HALTED: no order leaves', 'BUY', false],
    ]);

    await h.setState('ACTIVE', 'operator: resume');
    await h.signal('LONG', b(0), 1);
    await h.bar(b(1));
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });

    await h.setState('HALTED', 'operator: stop');
    await h.signal('FLAT', b(1));
    expect(h.of('OrderDenied').slice(1).map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly, e.intent.quantity])).toEqual([
      ['tradingState', 'trading is HALTED: no order leaves', 'SELL', true, '0.009'],
    ]);
    expect(h.venueSaw).toHaveLength(1);

    await h.setState('ACTIVE', 'operator: resume 2');
    await h.signal('FLAT', b(1), 1);
    expect(h.venueSaw.map((i) => [i.side, i.reduceOnly])).toEqual([
      ['BUY', false],
      ['SELL', true],
    ]);
    expect(h.of('TradingStateChanged').map((e) => [e.state, e.previous, e.reason, e.ts])).toEqual([
      ['HALTED', 'ACTIVE', 'operator: maintenance', 1751760060000],
      ['HALTED', 'HALTED', 'operator: extended', 1751760060000],
      ['ACTIVE', 'HALTED', 'operator: resume', 1751760060000],
      ['HALTED', 'ACTIVE', 'operator: stop', 1751760120000],
      ['ACTIVE', 'HALTED', 'operator: resume 2', 1751760120000],
    ]);
    expect(h.executor.stats.deniedByCheck).toEqual({ tradingState: 2 });
  });

  /**
   * Three losing round trips on klines 0–6 (maxConsecutiveLosses 2, haltCooldownMinutes 3):
   *  trip 1: LONG @k0 → BUY 0.009 @108166.9 (k1 open); FLAT @k2 → SELL @108113.2 (k3 open)
   *          rp (108113.2 − 108166.9) × 0.009 = −0.4833, fees 0.48675105 + 0.4865094 → −1.45656045
   *  trip 2: LONG @k3 → BUY 0.009 @108135.0 (k4 open); SHORT @k4 → close SELL @108121.2 (k5 open)
   *          rp (108121.2 − 108135.0) × 0.009 = −0.1242, fees 0.4866075 + 0.4865454 → −1.0973529
   *          → 2 losses in a row: REDUCING. The open leg SELL 0.009 @108121.2 fills too.
   *  trip 3: LONG @k5 → close leg BUY 0.009 (reduce-only: allowed) @108090.1 (k6 open),
   *          open leg BUY denied (tradingState);
   *          rp (108121.2 − 108090.1) × 0.009 = 0.2799, fees 0.4865454 + 0.48640545 → −0.69305085
   */
  async function losingRun(o: { positionFirst?: boolean } = {}) {
    const h = harness({ limits: { maxConsecutiveLosses: 2, haltCooldownMinutes: 3 }, ...o });
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    await h.bar(b(2));
    await h.signal('FLAT', b(2));
    await h.bar(b(3));
    await h.signal('LONG', b(3));
    await h.bar(b(4));
    await h.signal('SHORT', b(4));
    await h.bar(b(5));
    await h.signal('LONG', b(5));
    await h.bar(b(6));
    return h;
  }

  it('consecutive losing round trips → REDUCING published; entries denied, exits allowed; lifted after the cooldown', async () => {
    const h = await losingRun();
    expect(h.executor.trades().map((t) => [t.netPnl, t.closedAt])).toEqual([
      ['-1.45656045', 1751760180000],
      ['-1.0973529', 1751760300000],
      ['-0.69305085', 1751760360000],
    ]);
    expect(h.of('TradingStateChanged')).toEqual([
      {
        type: 'TradingStateChanged',
        ts: 1751760360000, // published while handling k5's fills: clock = k5 closeTime + 1
        state: 'REDUCING',
        previous: 'ACTIVE',
        reason: '2 losing round trips in a row (limit 2)',
      },
    ]);
    // At k5 the LONG's exit leg left, its entry leg was denied.
    const k5 = h.of('OrderSubmitted').filter((e) => e.intent.signalId === 's1:BTCUSDT:1751760300000:0');
    expect(k5.map((e) => [e.intent.side, e.intent.reduceOnly, e.intent.quantity])).toEqual([['BUY', true, '0.009']]);
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly])).toEqual([
      ['tradingState', 'trading is REDUCING: only orders that shrink a position leave', 'BUY', false],
    ]);
    expect(h.executor.positionSnapshot()).toEqual({});
    expect(h.executor.tradingState()).toEqual({ state: 'REDUCING', reason: '2 losing round trips in a row (limit 2)', consecutiveLosses: 3 });

    // k6 (clock 00:07:00): the cooldown (3 min from the 00:05:00 fill) is not over → denied.
    await h.signal('LONG', b(6));
    expect(h.of('OrderDenied')).toHaveLength(2);
    expect(h.of('OrderDenied')[1]!.check).toBe('tradingState');
    // k7 (clock 00:08:00.000 = 00:05:00 + 3 min): the halt lifts and the entry leaves.
    await h.bar(b(7));
    await h.signal('LONG', b(7));
    expect(h.of('TradingStateChanged').slice(1)).toEqual([
      { type: 'TradingStateChanged', ts: 1751760480000, state: 'ACTIVE', previous: 'REDUCING', reason: 'consecutive-loss cooldown over' },
    ]);
    expect(h.executor.tradingState()).toEqual({ state: 'ACTIVE', reason: '', consecutiveLosses: 0 });
    expect(h.venueSaw.at(-1)).toMatchObject({ side: 'BUY', reduceOnly: false, quantity: '0.009', refPrice: '108094.2' });
    expect(h.handlerErrors).toEqual([]);
  });

  it("with Binance's order (each position update before its fill) the same round trips close with the same PnL", async () => {
    const fillFirst = await losingRun();
    const positionFirst = await losingRun({ positionFirst: true });
    // Each fill really did arrive after its position update.
    const order = positionFirst.events.filter((e) => e.type === 'OrderFilled' || e.type === 'PositionChanged').map((e) => e.type);
    expect(order.slice(0, 4)).toEqual(['PositionChanged', 'OrderFilled', 'PositionChanged', 'OrderFilled']);
    expect(positionFirst.executor.trades().map((t) => t.netPnl)).toEqual(['-1.45656045', '-1.0973529', '-0.69305085']);
    expect(positionFirst.executor.trades().map((t) => t.netPnl)).toEqual(fillFirst.executor.trades().map((t) => t.netPnl));
    expect(positionFirst.of('TradingStateChanged').map((e) => [e.state, e.reason])).toEqual([['REDUCING', '2 losing round trips in a row (limit 2)']]);
    expect(positionFirst.executor.stats).toMatchObject({ roundTrips: 3, wins: 0, losses: 3 });
  });

  it('totals() equal the sums of the fills, exactly; equity matches the simulated wallet', async () => {
    const h = await losingRun();
    const fills = h.of('OrderFilled').map((e) => e.fill);
    expect(fills.map((f) => [f.side, f.price, f.realizedPnl, f.commission])).toEqual([
      ['BUY', '108166.9', '0', '0.48675105'],
      ['SELL', '108113.2', '-0.4833', '0.4865094'],
      ['BUY', '108135', '0', '0.4866075'],
      ['SELL', '108121.2', '-0.1242', '0.4865454'],
      ['SELL', '108121.2', '0', '0.4865454'],
      ['BUY', '108090.1', '0.2799', '0.48640545'],
    ]);
    const rp = fills.reduce((a, f) => a.plus(f.realizedPnl), ZERO);
    const fee = fills.reduce((a, f) => a.plus(f.commission), ZERO);
    // −0.4833 − 0.1242 + 0.2799 = −0.3276; Σ fees = 2.9193642; net = −3.2469642
    expect(h.executor.totals()).toEqual({ realizedPnl: '-0.3276', fees: '2.9193642', netPnl: '-3.2469642' });
    expect(h.executor.totals()).toEqual({ realizedPnl: str(rp), fees: str(fee), netPnl: str(rp.minus(fee)) });
    // Σ round trips = Σ fills (every fill belonged to a closed trip).
    expect(str(h.executor.trades().reduce((a, t) => a.plus(t.netPnl), ZERO))).toBe('-3.2469642');
    expect(h.executor.currentEquity()).toBe('9996.7530358');
    expect(h.executor.currentEquity()).toBe(h.sim.engine.balance());
  });

  it('stats counters over the losing run', async () => {
    const h = await losingRun();
    expect(h.executor.stats).toEqual({
      signals: 5, // LONG k0, FLAT k2, LONG k3, SHORT k4, LONG k5
      ignoredSignals: 0,
      submitted: 6, // open k0, close k2, open k3, close+open k4, close k5
      denied: 1,
      deniedByCheck: { tradingState: 1 },
      rejected: 0,
      fills: 6,
      roundTrips: 3,
      wins: 0,
      losses: 3,
      venueErrors: 0,
      externalFills: 0,
      externalOrders: 0,
    });
    expect(h.journaled).toHaveLength(6);
    expect(h.venueSaw).toEqual(h.journaled);
  });
});

describe('Executor: funding times from the mark price stream', () => {
  it("uses the symbol's announced next funding time instead of the 8-hourly schedule", async () => {
    const schedule = harness({ limits: { fundingBlackoutMinutes: 5 } });
    await schedule.bar(b(2));
    await schedule.signal('LONG', b(2)); // 00:03: 3 min after 00:00 by the schedule
    expect(schedule.of('OrderDenied').map((e) => e.check)).toEqual(['fundingWindow']);

    const announced = harness({ limits: { fundingBlackoutMinutes: 5 } });
    await announced.bus.publish('market.markPrice.BTCUSDT', { type: 'MarkPriceUpdated', ts: b(2).closeTime, symbol: 'BTCUSDT', markPrice: '108113.3', nextFundingTime: b(0).openTime + 3_600_000 });
    await announced.bus.drain();
    await announced.bar(b(2));
    await announced.signal('LONG', b(2)); // next funding at 01:00 (an hourly symbol), 57 min away
    expect(announced.of('OrderDenied')).toEqual([]);
    expect(announced.of('OrderSubmitted')).toHaveLength(1);
  });
});

describe('Executor: fills and position updates out of step', () => {
  it('after a fill, no new order leaves until the position update arrives (it would be decided on a stale position)', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    h.ctl.holdPositions = true;
    await h.bar(b(1)); // the entry fills; its position update is held back
    expect(h.of('OrderFilled')).toHaveLength(1);
    expect(h.executor.openOrders()).toEqual([]);
    await h.signal('LONG', b(1), 1); // the position still reads flat: a second entry would double it
    expect(h.of('OrderSubmitted')).toHaveLength(1);
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason])).toEqual([['orderInFlight', 'fills and the position update of BTCUSDT do not match yet']]);
    await h.releasePositions();
    await h.signal('LONG', b(1), 2); // now known to be long: nothing to do
    expect(h.of('OrderSubmitted')).toHaveLength(1);
    expect(h.executor.stats.ignoredSignals).toBe(1);
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
  });

  it('a position update that never comes: after a while the executor asks the venue, and the symbol trades again', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    h.ctl.holdPositions = true;
    await h.bar(b(1));
    h.clock.set(h.clock.now() + 11_000);
    h.executor.tick();
    await new Promise((r) => setTimeout(r, 10));
    await h.bus.drain();
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });
    await h.signal('FLAT', b(1), 1);
    expect(h.of('OrderSubmitted').at(-1)!.intent).toMatchObject({ side: 'SELL', reduceOnly: true, quantity: '0.009' });
  });

  it('a signal id seen before (re-emitted after a restart) is not sent again, even when its first order already filled', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    await h.signal('FLAT', b(1));
    await h.bar(b(2));
    expect(h.executor.positionSnapshot()).toEqual({});
    await h.signal('LONG', b(0)); // the same signal id as the first entry
    expect(h.of('OrderSubmitted')).toHaveLength(2);
    expect(h.of('OrderDenied').map((e) => e.check)).toEqual(['duplicate']);
    expect(h.venueSaw).toHaveLength(2);
  });
});

describe('Executor: venue answers', () => {
  it('a venue rejection (-2022 reduce-only with no position) counts as rejected and frees the symbol', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.bus.publish('order.request', {
      type: 'SubmitOrder',
      ts: h.clock.now(),
      intent: { clientOrderId: 'pb-op-close-1', symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.009', reduceOnly: true, strategyId: 'operator', refPrice: '108167.0' },
    });
    await h.bus.drain();
    expect(h.of('OrderRejected').map((e) => [e.clientOrderId, e.code])).toEqual([['pb-op-close-1', -2022]]);
    expect(h.executor.stats).toMatchObject({ submitted: 1, rejected: 1, denied: 0 });
    expect(h.executor.openOrders()).toEqual([]);
    expect(h.of('OrderSubmitted')[0]!.intent.createdAt).toBe(1751760060000);
    await h.signal('LONG', b(0));
    expect(h.venueSaw.map((i) => i.clientOrderId)).toEqual(['pb-op-close-1', clientOrderIdFor('s1:BTCUSDT:1751760000000:0', 'open')]);
  });

  it('an operator LIMIT price off the tick is rounded toward the passive side (BUY down, SELL up) before it is validated', async () => {
    const h = harness();
    await h.bar(b(0));
    const limit = (id: string, side: 'BUY' | 'SELL', price: string) =>
      h.bus.publish('order.request', {
        type: 'SubmitOrder',
        ts: h.clock.now(),
        intent: { clientOrderId: id, symbol: 'BTCUSDT', side, type: 'LIMIT', price, timeInForce: 'GTC', quantity: '0.001', reduceOnly: false, strategyId: 'operator', refPrice: '108167.0' },
      });
    await limit('pb-op-buy', 'BUY', '108100.07');
    await h.bus.drain();
    await limit('pb-op-sell', 'SELL', '108200.01');
    await h.bus.drain();
    expect(h.venueSaw.map((i) => [i.clientOrderId, i.price])).toEqual([['pb-op-buy', '108100'], ['pb-op-sell', '108200.1']]); // BTCUSDT tick 0.1
  });

  it('a malformed operator order (reference price 0) is denied with its reason, not dropped in a handler error', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.bus.publish('order.request', {
      type: 'SubmitOrder',
      ts: h.clock.now(),
      intent: { clientOrderId: 'pb-op-bad', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', reduceOnly: false, strategyId: 'operator', refPrice: '0' },
    });
    await h.bus.drain();
    expect(h.of('OrderDenied').map((e) => [e.intent.clientOrderId, e.check])).toEqual([['pb-op-bad', 'error']]);
    expect(h.handlerErrors).toEqual([]);
    expect(h.venueSaw).toEqual([]);
  });

  it('a venue failure (outcome unknown) counts venueErrors, keeps the order open, and blocks the symbol', async () => {
    const h = harness();
    h.ctl.venueError = 'ECONNRESET';
    await h.bar(b(0));
    const s = await h.signal('LONG', b(0));
    expect(h.executor.stats).toMatchObject({ submitted: 1, venueErrors: 1 });
    expect(h.executor.error).toBe('venue: ECONNRESET');
    expect(h.executor.openOrders().map((i) => i.clientOrderId)).toEqual([clientOrderIdFor(s.signalId, 'open')]);
    h.ctl.venueError = null;
    await h.bar(b(1));
    await h.signal('LONG', b(1));
    expect(h.of('OrderDenied').map((e) => e.check)).toEqual(['orderInFlight']);
  });
});

describe('Executor.restore (after a restart)', () => {
  it('knows the open orders and positions it restored: no second order while one is open, exits close the restored position', async () => {
    const h = harness();
    const intent = {
      clientOrderId: 'pb-restored-entry-000000',
      symbol: 'BTCUSDT',
      side: 'BUY' as const,
      type: 'MARKET' as const,
      quantity: '0.009',
      reduceOnly: false,
      strategyId: 'vwap-adx',
      refPrice: '108167.0',
      createdAt: 1751760060000,
    };
    h.executor.restore([{ intent, executedQty: '0' }], [{ symbol: 'ETHUSDT', quantity: '-0.397', entryPrice: '2517.64', realizedPnl: '0', fees: '0', updatedAt: 0 }]);
    expect(h.executor.openOrders().map((o) => o.clientOrderId)).toEqual(['pb-restored-entry-000000']);
    expect(h.executor.positionSnapshot()).toEqual({ ETHUSDT: '-0.397' });
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    expect(h.of('OrderDenied').map((e) => e.check)).toEqual(['orderInFlight']);
  });

  it('refuses to restore once orders were placed in this process', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    expect(h.executor.stats.submitted).toBe(1);
    expect(() => h.executor.restore([], [])).toThrow(/after orders were placed/);
  });
});

describe('limit order TTL', () => {
  it('a resting LIMIT order is canceled once its age reaches the TTL, not before', async () => {
    const h = harness({ limitOrderTtlMs: 90_000 });
    await h.bar(b(0));
    void h.bus.publish('order.request', {
      type: 'SubmitOrder',
      ts: h.clock.now(),
      intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', price: '100000.0', timeInForce: 'GTC', quantity: '0.002', reduceOnly: false, strategyId: 'operator', refPrice: '108167.0' },
    });
    await h.bus.drain();
    expect(h.of('OrderAccepted')).toHaveLength(1);
    await h.bar(b(1)); // age 60 s < 90 s
    h.executor.tick();
    await h.bus.drain();
    const canceledEarly = h.of('OrderCanceled').length;
    await h.bar(b(2)); // age 120 s ≥ 90 s
    h.executor.tick();
    await h.bus.drain();
    expect(canceledEarly).toBe(0);
    expect(h.of('OrderCanceled')).toHaveLength(1);
    expect(h.executor.openOrders()).toEqual([]);
  });
});

describe('stale signals', () => {
  it('a signal on a kline that closed longer ago than maxSignalAgeMs is denied (staleSignal); a fresh one goes through', async () => {
    const h = harness({ limits: { maxSignalAgeMs: 60_000 } });
    await h.bar(b(0));
    await h.bar(b(1));
    await h.bar(b(2));
    // the clock is at b(2)'s close: a decision on b(0) is 2 minutes old
    await h.signal('LONG', b(0));
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason])).toEqual([['staleSignal', "the signal's kline closed 120 s ago (limit 60 s)"]]);
    expect(h.venueSaw).toHaveLength(0);
    await h.signal('LONG', b(2));
    expect(h.venueSaw).toHaveLength(1);
  });
});

