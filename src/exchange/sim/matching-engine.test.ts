/**
 * MatchingEngine tests on real BTCUSDT 1m klines copied verbatim from
 * data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv (open_time,open,high,low,close,volume).
 * Expected money values were worked out by hand and cross-checked with Python's `decimal`
 * module (an independent implementation), never taken from the engine's own output.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../core/decimal.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Kline, OrderIntent } from '../../core/types.ts';
import {
  GTX_WOULD_TAKE,
  IOC_NOT_FILLED,
  MatchingEngine,
  NO_EVENTS,
  REDUCE_ONLY_NOTHING,
  REDUCE_ONLY_REMAINDER,
  comparePlainDecimal,
  type EngineEvent,
} from './matching-engine.ts';

/** Rows 2..8 of the CSV (2025-07-06 00:00 .. 00:06 UTC). */
const ROWS = [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406', // K0
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633', // K1
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878', // K2
  '1751760180000,108113.2,108135.0,108113.2,108134.9,29.041', // K3
  '1751760240000,108135.0,108135.0,108121.1,108121.2,13.233', // K4
  '1751760300000,108121.2,108125.7,108090.0,108090.1,34.616', // K5
  '1751760360000,108090.1,108090.1,108090.0,108090.0,7.093', // K6
];
/** Rows 188..189 of the CSV: the second opens above the first's high (a gap between klines). */
const GAP_ROWS = [
  '1751771160000,108013.1,108044.6,108013.1,108044.6,25.021',
  '1751771220000,108045.3,108051.5,108045.2,108051.5,8.678',
];

function kline(row: string, symbol = 'BTCUSDT'): Kline {
  const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
  const openTime = Number(t);
  return { symbol, interval: '1m', openTime, closeTime: openTime + 59_999, open, high, low, close, volume, closed: true };
}
const K = ROWS.map((r) => kline(r));
const k = (i: number): Kline => K[i]!;
/** The moment kline i's close becomes known (KlineClosed.ts in replay): a decision time. */
const after = (i: number): number => k(i).closeTime + 1;

let seq = 0;
function intent(p: Partial<OrderIntent> & Pick<OrderIntent, 'side'>): OrderIntent {
  return {
    clientOrderId: p.clientOrderId ?? `t-${++seq}`,
    symbol: 'BTCUSDT',
    type: 'MARKET',
    quantity: '0.01',
    reduceOnly: false,
    strategyId: 'test',
    refPrice: '108167.0',
    createdAt: 0,
    ...p,
  };
}

function ofType<T extends EngineEvent['type']>(events: readonly EngineEvent[], type: T): Extract<EngineEvent, { type: T }>[] {
  return events.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
}
function onlyFill(events: readonly EngineEvent[]) {
  const fills = ofType(events, 'OrderFilled');
  expect(fills).toHaveLength(1);
  return fills[0]!;
}

const noSlip = () => new MatchingEngine({ slippageBps: '0' });
const tick01 = () => new Decimal('0.1');

describe('MatchingEngine: market orders', () => {
  it('buy then sell on later klines: exact fill prices, realized PnL, fees and balance (no slippage)', () => {
    const e = noSlip();
    expect(e.onKline(k(0))).toBe(NO_EVENTS);
    const acc = e.submit(intent({ side: 'BUY' }), after(0));
    expect(acc).toMatchObject([{ type: 'OrderAccepted', ts: after(0), symbol: 'BTCUSDT' }]);

    const ev1 = e.onKline(k(1));
    expect(ev1.map((x) => x.type)).toEqual(['OrderFilled', 'PositionChanged']);
    const f1 = onlyFill(ev1);
    expect(f1.fill).toMatchObject({ price: '108166.9', quantity: '0.01', commission: '0.5408345', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: k(1).openTime, side: 'BUY' });
    expect(f1).toMatchObject({ status: 'FILLED', cumulativeQuantity: '0.01', ts: k(1).openTime });
    expect(ev1[1]).toMatchObject({ type: 'PositionChanged', position: { symbol: 'BTCUSDT', quantity: '0.01', entryPrice: '108166.9', realizedPnl: '0', fees: '0.5408345', updatedAt: k(1).openTime } });

    e.submit(intent({ side: 'SELL', reduceOnly: true }), after(1));
    const f2 = onlyFill(e.onKline(k(2)));
    // (108167.0 − 108166.9) × 0.01 = 0.001; fee 108167.0 × 0.01 × 0.0005 = 0.540835
    expect(f2.fill).toMatchObject({ price: '108167', quantity: '0.01', realizedPnl: '0.001', commission: '0.540835', maker: false });
    expect(e.position('BTCUSDT')).toMatchObject({ quantity: '0', entryPrice: '0', realizedPnl: '0.001', fees: '1.0816695' });
    // 10000 + 0.001 − 0.5408345 − 0.540835
    expect(e.balance()).toBe('9998.9193305');
  });

  it('slippage goes against the taker and rounds to the tick away from its favour', () => {
    const e = new MatchingEngine({ tickSize: tick01 }); // default 1 bps
    e.onKline(k(0));
    e.submit(intent({ side: 'BUY' }), after(0));
    const buy = onlyFill(e.onKline(k(1)));
    // 108166.9 × 1.0001 = 108177.71669 → ceil to 0.1 = 108177.8 (BUY pays more)
    expect(buy.fill.price).toBe('108177.8');
    expect(buy.fill.commission).toBe('0.540889');
    e.submit(intent({ side: 'SELL' }), after(1));
    const sell = onlyFill(e.onKline(k(2)));
    // 108167.0 × 0.9999 = 108156.1833 → floor to 0.1 = 108156.1 (SELL receives less)
    expect(sell.fill.price).toBe('108156.1');
    expect(sell.fill.realizedPnl).toBe('-0.217'); // (108156.1 − 108177.8) × 0.01
    expect(sell.fill.commission).toBe('0.5407805');
    expect(e.balance()).toBe('9998.7013305'); // 10000 − 0.217 − 0.540889 − 0.5407805
  });

  it('accepts the tick size as exchangeInfo text ("0.10")', () => {
    const e = new MatchingEngine({ tickSize: (s) => (s === 'BTCUSDT' ? '0.10' : undefined) });
    e.submit(intent({ side: 'BUY' }), after(0));
    expect(onlyFill(e.onKline(k(1))).fill.price).toBe('108177.8');
  });

  it('slippage without a tick size is exact', () => {
    const e = new MatchingEngine();
    e.submit(intent({ side: 'BUY' }), after(0));
    expect(onlyFill(e.onKline(k(1))).fill.price).toBe('108177.71669');
    e.submit(intent({ side: 'SELL' }), after(1));
    expect(onlyFill(e.onKline(k(2))).fill.price).toBe('108156.1833');
  });

  it('never fills on the kline it was decided on (no look-ahead)', () => {
    const e = noSlip();
    // Submitted at kline 0's close time (still inside kline 0): kline 0 must not fill it.
    e.submit(intent({ side: 'BUY' }), k(0).closeTime);
    expect(e.onKline(k(0))).toBe(NO_EVENTS);
    expect(e.openOrders('BTCUSDT')).toHaveLength(1);
    expect(onlyFill(e.onKline(k(1))).fill.price).toBe('108166.9');

    // Submitted in the middle of kline 2 (paper mode): kline 2 opened before it, so kline 3 fills.
    e.submit(intent({ side: 'SELL' }), k(2).openTime + 30_000);
    expect(e.onKline(k(2))).toEqual([]);
    expect(onlyFill(e.onKline(k(3))).fill.price).toBe('108113.2');
  });

  it('fills on the next mark price at or after submit time', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), 1_000);
    expect(e.onMarkPrice('BTCUSDT', '108150.1', 999)).toEqual([]);
    expect(e.onMarkPrice('ETHUSDT', '2500', 2_000)).toBe(NO_EVENTS);
    const f = onlyFill(e.onMarkPrice('BTCUSDT', '108150.2', 1_000));
    expect(f.fill).toMatchObject({ price: '108150.2', time: 1_000, maker: false });
  });

  it('ignores klines that are not closed', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), after(0));
    expect(e.onKline({ ...k(1), closed: false })).toBe(NO_EVENTS);
    expect(onlyFill(e.onKline(k(1))).fill.price).toBe('108166.9');
  });

  it('returns the shared frozen empty array when there is nothing to match', () => {
    const e = noSlip();
    for (const x of K) expect(e.onKline(x)).toBe(NO_EVENTS);
    expect(Object.isFrozen(NO_EVENTS)).toBe(true);
    expect(e.lastPrice('BTCUSDT')).toEqual({ price: '108090.0', ts: k(6).closeTime });
  });

  it('an older kline shown late (a back-fill) does not turn the last price back', () => {
    const e = noSlip();
    e.onKline(k(6));
    e.onKline(k(2));
    expect(e.lastPrice('BTCUSDT')).toEqual({ price: '108090.0', ts: k(6).closeTime });
  });
});

describe('MatchingEngine: positions', () => {
  it('averages the entry on increase', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), after(0));
    e.onKline(k(1));
    e.submit(intent({ side: 'BUY', quantity: '0.03' }), after(1));
    e.onKline(k(2));
    // (108166.9 × 0.01 + 108167.0 × 0.03) / 0.04
    expect(e.position('BTCUSDT')).toMatchObject({ quantity: '0.04', entryPrice: '108166.975' });
    expect(e.unrealizedPnl('BTCUSDT', '108167.975')).toBe('0.04');
  });

  it('flips through zero: closes at entry, opens the rest at the fill price', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), after(0));
    e.onKline(k(1)); // long 0.01 @ 108166.9
    e.submit(intent({ side: 'SELL', quantity: '0.03' }), after(1));
    const ev = e.onKline(k(2));
    const flip = onlyFill(ev);
    expect(flip.fill).toMatchObject({ price: '108167', quantity: '0.03', realizedPnl: '0.001', commission: '1.622505' });
    expect(ev[1]).toMatchObject({ type: 'PositionChanged', position: { quantity: '-0.02', entryPrice: '108167' } });
    expect(e.unrealizedPnl('BTCUSDT', '108113.2')).toBe('1.076'); // short gains: −0.02 × (108113.2 − 108167.0)

    e.submit(intent({ side: 'BUY', quantity: '0.02', reduceOnly: true }), after(2));
    const close = onlyFill(e.onKline(k(3)));
    // (108167.0 − 108113.2) × 0.02 = 1.076 for a short
    expect(close.fill).toMatchObject({ price: '108113.2', realizedPnl: '1.076', commission: '1.081132' });
    expect(e.position('BTCUSDT')).toMatchObject({ quantity: '0', entryPrice: '0', realizedPnl: '1.077', fees: '3.2444715' });
    expect(e.balance()).toBe('9997.8325285'); // 10000 + 1.077 − 3.2444715
    expect(e.unrealizedPnl('BTCUSDT', '1')).toBe('0');
  });

  it('balance = start + Σ realized PnL − Σ fees, exactly, over a mixed sequence', () => {
    const e = new MatchingEngine({ startingBalance: '2500.5', tickSize: tick01 });
    const plan: [number, OrderIntent][] = [
      [0, intent({ side: 'BUY', quantity: '0.013' })],
      [1, intent({ side: 'BUY', type: 'LIMIT', price: '108120.0', quantity: '0.007' })],
      [2, intent({ side: 'SELL', quantity: '0.05' })],
      [3, intent({ side: 'BUY', quantity: '0.011' })],
      [4, intent({ side: 'BUY', quantity: '0.019', reduceOnly: true })],
    ];
    let pnl = new Decimal(0);
    let fees = new Decimal(0);
    for (let i = 0; i < ROWS.length; i++) {
      for (const [at, it] of plan) if (at === i) expect(e.submit(it, after(i))[0]!.type).toBe('OrderAccepted');
      const ev = e.onKline(k(i + 1 < K.length ? i + 1 : i));
      for (const f of ofType(ev, 'OrderFilled')) {
        pnl = pnl.plus(f.fill.realizedPnl);
        fees = fees.plus(f.fill.commission);
      }
    }
    expect(e.stats()).toMatchObject({ fills: 5, ordersFilled: 5, openOrders: 0 });
    expect(e.position('BTCUSDT').quantity).toBe('0');
    expect(e.balance()).toBe(new Decimal('2500.5').plus(pnl).minus(fees).toFixed());
    expect(e.stats()).toMatchObject({ realizedPnl: pnl.toFixed(), fees: fees.toFixed() });
    expect(e.positions()).toHaveLength(1);
  });
});

describe('MatchingEngine: limit orders', () => {
  it('rests, then fills as maker at its price when a later kline trades through it', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY', type: 'LIMIT', price: '108120.0' }), after(1));
    // K2: open 108167.0 above the limit (no cross at open), low 108100.0 reaches it.
    const f = onlyFill(e.onKline(k(2)));
    expect(f.fill).toMatchObject({ price: '108120', maker: true, commission: '0.21624', time: k(2).openTime });
    expect(e.getOrder(f.fill.clientOrderId)).toMatchObject({ status: 'FILLED', executedQuantity: '0.01', averagePrice: '108120', timeInForce: 'GTC' });
  });

  it('does not fill while not crossed; fills when the low touches the price exactly', () => {
    const e = noSlip();
    const id = 'lim-not-crossed';
    e.submit(intent({ clientOrderId: id, side: 'BUY', type: 'LIMIT', price: '108090.0', timeInForce: 'GTC' }), after(2));
    expect(e.onKline(k(3))).toEqual([]); // low 108113.2
    expect(e.onKline(k(4))).toEqual([]); // low 108121.1
    expect(e.getOrder(id)?.status).toBe('NEW');
    const f = onlyFill(e.onKline(k(5))); // low 108090.0
    expect(f.fill).toMatchObject({ price: '108090', maker: true });
  });

  it('crossed at the open of the first kline after submit: taker at the open', () => {
    const e = noSlip();
    e.submit(intent({ side: 'SELL', type: 'LIMIT', price: '108100.0' }), after(2));
    const f = onlyFill(e.onKline(k(3))); // open 108113.2 ≥ 108100.0
    expect(f.fill).toMatchObject({ price: '108113.2', maker: false, commission: '0.540566' });
  });

  it('a resting order gapped through by a later open fills at its own price as maker', () => {
    const [a, b] = GAP_ROWS.map((r) => kline(r)) as [Kline, Kline];
    const e = noSlip();
    e.submit(intent({ side: 'SELL', type: 'LIMIT', price: '108045.0' }), a.openTime);
    expect(e.onKline(a)).toEqual([]); // high 108044.6: rests
    const f = onlyFill(e.onKline(b)); // opens at 108045.3, above the limit
    expect(f.fill).toMatchObject({ price: '108045', maker: true, commission: '0.21609' });
  });

  it('IOC fills at the arrival price when marketable, else expires without resting', () => {
    const e = noSlip();
    e.submit(intent({ clientOrderId: 'ioc-1', side: 'BUY', type: 'LIMIT', price: '108150.0', timeInForce: 'IOC' }), after(1));
    e.submit(intent({ clientOrderId: 'ioc-2', side: 'BUY', type: 'LIMIT', price: '108170.0', timeInForce: 'IOC' }), after(1));
    const ev = e.onKline(k(2)); // open 108167.0, low 108100.0
    expect(ev[0]).toMatchObject({ type: 'OrderExpired', clientOrderId: 'ioc-1', reason: IOC_NOT_FILLED, ts: k(2).openTime });
    expect(ev[1]).toMatchObject({ type: 'OrderFilled', fill: { clientOrderId: 'ioc-2', price: '108167', maker: false } });
    expect(e.getOrder('ioc-1')?.status).toBe('EXPIRED');
    expect(e.openOrders()).toEqual([]);
  });

  it('GTX: rejected with -5022 when it would cross the last price, rests and makes otherwise', () => {
    const e = noSlip();
    e.onKline(k(0)); // last price 108167.0
    const rej = e.submit(intent({ side: 'BUY', type: 'LIMIT', price: '108167.0', timeInForce: 'GTX' }), after(0));
    expect(rej).toMatchObject([{ type: 'OrderRejected', code: -5022 }]);
    expect(e.submit(intent({ side: 'SELL', type: 'LIMIT', price: '108160.0', timeInForce: 'GTX' }), after(0))[0]).toMatchObject({ type: 'OrderRejected', code: -5022 });
    e.submit(intent({ clientOrderId: 'gtx', side: 'BUY', type: 'LIMIT', price: '108160.0', timeInForce: 'GTX' }), after(0));
    expect(e.onKline(k(1))).toEqual([]); // low 108166.9
    expect(onlyFill(e.onKline(k(2))).fill).toMatchObject({ clientOrderId: 'gtx', price: '108160', maker: true });
  });

  it('GTX expires when the market opens through it on arrival', () => {
    const e = noSlip(); // no price seen yet: accepted
    e.submit(intent({ clientOrderId: 'gtx-2', side: 'SELL', type: 'LIMIT', price: '108100.0', timeInForce: 'GTX' }), after(0));
    expect(e.onKline(k(1))).toEqual([
      { type: 'OrderExpired', ts: k(1).openTime, clientOrderId: 'gtx-2', orderId: '1000000000000000001', symbol: 'BTCUSDT', reason: GTX_WOULD_TAKE },
    ]);
  });

  it('rejects a LIMIT without a price (-1102) and bad quantities (-4003)', () => {
    const e = noSlip();
    expect(e.submit(intent({ side: 'BUY', type: 'LIMIT' }), 0)[0]).toMatchObject({ type: 'OrderRejected', code: -1102 });
    expect(e.submit(intent({ side: 'BUY', quantity: '0' }), 0)[0]).toMatchObject({ code: -4003 });
    expect(e.submit(intent({ side: 'BUY', quantity: 'abc' }), 0)[0]).toMatchObject({ code: -1102 });
    expect(e.stats().ordersRejected).toBe(3);
  });
});

describe('MatchingEngine: reduce-only', () => {
  it('is rejected with -2022 when there is no position or it would increase it', () => {
    const e = noSlip();
    expect(e.submit(intent({ side: 'SELL', reduceOnly: true }), after(0))).toMatchObject([
      { type: 'OrderRejected', code: -2022, reason: 'ReduceOnly Order is rejected.' },
    ]);
    e.submit(intent({ side: 'BUY' }), after(0));
    e.onKline(k(1));
    expect(e.submit(intent({ side: 'BUY', reduceOnly: true }), after(1))[0]).toMatchObject({ code: -2022 });
    expect(e.submit(intent({ side: 'SELL', reduceOnly: true }), after(1))[0]!.type).toBe('OrderAccepted');
  });

  it('is capped to the position at fill time; the remainder expires', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), after(0));
    e.onKline(k(1));
    e.submit(intent({ clientOrderId: 'ro-big', side: 'SELL', quantity: '0.05', reduceOnly: true }), after(1));
    const ev = e.onKline(k(2));
    expect(ev.map((x) => x.type)).toEqual(['OrderFilled', 'PositionChanged', 'OrderExpired']);
    expect(ev[0]).toMatchObject({ fill: { quantity: '0.01', realizedPnl: '0.001' }, cumulativeQuantity: '0.01', status: 'PARTIALLY_FILLED' });
    expect(ev[2]).toMatchObject({ clientOrderId: 'ro-big', reason: REDUCE_ONLY_REMAINDER });
    expect(e.position('BTCUSDT').quantity).toBe('0');
    expect(e.getOrder('ro-big')).toMatchObject({ status: 'EXPIRED', executedQuantity: '0.01', quantity: '0.05' });
  });

  it('expires with "nothing to reduce" when the position is already flat at fill time', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY' }), after(0));
    e.onKline(k(1));
    e.submit(intent({ clientOrderId: 'ro-1', side: 'SELL', reduceOnly: true }), after(1));
    e.submit(intent({ clientOrderId: 'ro-2', side: 'SELL', reduceOnly: true }), after(1));
    const ev = e.onKline(k(2));
    expect(ev.map((x) => x.type)).toEqual(['OrderFilled', 'PositionChanged', 'OrderExpired']);
    expect(ev[2]).toMatchObject({ clientOrderId: 'ro-2', reason: REDUCE_ONLY_NOTHING });
    expect(e.position('BTCUSDT').quantity).toBe('0');
  });
});

describe('MatchingEngine: ids, duplicates, cancel, config', () => {
  it('order and trade ids are exact int64 strings beyond 2^53', () => {
    const e = new MatchingEngine({ slippageBps: '0', firstOrderId: 8389766049535966587n, firstTradeId: 9007199254740993n });
    const a = e.submit(intent({ side: 'BUY' }), after(0));
    const b = e.submit(intent({ side: 'BUY' }), after(0));
    expect(a[0]).toMatchObject({ type: 'OrderAccepted', orderId: '8389766049535966587' });
    expect(b[0]).toMatchObject({ orderId: '8389766049535966588' });
    expect(String(Number('8389766049535966587'))).not.toBe('8389766049535966587'); // a float would lose it
    const fills = ofType(e.onKline(k(1)), 'OrderFilled');
    expect(fills.map((f) => [f.fill.orderId, f.fill.tradeId])).toEqual([
      ['8389766049535966587', '9007199254740993'],
      ['8389766049535966588', '9007199254740994'],
    ]);
  });

  it('rejects a clientOrderId already used by an open order (-4116); reusable once finished', () => {
    const e = noSlip();
    const lim = intent({ clientOrderId: 'dup', side: 'BUY', type: 'LIMIT', price: '100000.0' });
    expect(e.submit(lim, 0)[0]!.type).toBe('OrderAccepted');
    expect(e.submit(lim, 1)).toMatchObject([{ type: 'OrderRejected', code: -4116, reason: 'ClientOrderId is duplicated.', clientOrderId: 'dup' }]);
    expect(e.cancel('BTCUSDT', 'dup', 2)).toMatchObject([{ type: 'OrderCanceled', clientOrderId: 'dup', orderId: '1000000000000000001', ts: 2 }]);
    expect(e.submit(lim, 3)[0]).toMatchObject({ type: 'OrderAccepted', orderId: '1000000000000000002' });
  });

  it('cancel: removes an open order, which then never fills; unknown or finished ids give no events', () => {
    const e = noSlip();
    e.submit(intent({ clientOrderId: 'c1', side: 'BUY', type: 'LIMIT', price: '108120.0' }), after(1));
    expect(e.cancel('ETHUSDT', 'c1', after(1))).toBe(NO_EVENTS); // wrong symbol
    expect(e.isOpen('c1')).toBe(true);
    const ev = e.cancel('BTCUSDT', 'c1', after(1), 'ttl');
    expect(ev).toMatchObject([{ type: 'OrderCanceled', reason: 'ttl' }]);
    expect(e.cancel('BTCUSDT', 'c1', after(1))).toHaveLength(0);
    expect(e.cancel('BTCUSDT', 'nope', after(1))).toHaveLength(0);
    expect(e.onKline(k(2))).toBe(NO_EVENTS); // low 108100.0 would have filled it
    expect(e.getOrder('c1')?.status).toBe('CANCELED');
    expect(e.stats()).toMatchObject({ ordersCanceled: 1, openOrders: 0, fills: 0 });
  });

  it('cancelAll cancels every open order of the symbol in submission order', () => {
    const e = noSlip();
    e.submit(intent({ clientOrderId: 'x1', side: 'BUY', type: 'LIMIT', price: '1000' }), 0);
    e.submit(intent({ clientOrderId: 'x2', side: 'BUY', type: 'LIMIT', price: '1001' }), 0);
    e.submit(intent({ clientOrderId: 'y1', symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', price: '10' }), 0);
    expect(e.cancelAll('BTCUSDT', 5).map((x) => (x.type === 'OrderCanceled' ? x.clientOrderId : ''))).toEqual(['x1', 'x2']);
    expect(e.openOrders().map((o) => o.clientOrderId)).toEqual(['y1']);
  });

  it('calls the validate hook first and answers with its code', () => {
    const seen: string[] = [];
    const e = new MatchingEngine({
      validate: (i) => {
        seen.push(i.clientOrderId);
        return i.quantity === '0.0001' ? { code: -4164, reason: "Order's notional must be no smaller than 100" } : null;
      },
    });
    expect(e.submit(intent({ clientOrderId: 'v1', side: 'BUY', quantity: '0.0001' }), 0)).toMatchObject([{ type: 'OrderRejected', code: -4164 }]);
    expect(e.submit(intent({ clientOrderId: 'v2', side: 'BUY' }), 0)[0]!.type).toBe('OrderAccepted');
    expect(seen).toEqual(['v1', 'v2']);
  });

  it('keeps a bounded history of finished orders', () => {
    const e = new MatchingEngine({ orderHistoryLimit: 2 });
    for (const id of ['h1', 'h2', 'h3']) {
      e.submit(intent({ clientOrderId: id, side: 'BUY', type: 'LIMIT', price: '1' }), 0);
      e.cancel('BTCUSDT', id, 0);
    }
    expect(e.getOrder('h1')).toBeUndefined();
    expect(e.getOrder('h3')?.status).toBe('CANCELED');
  });

  it('refuses an invalid configuration with a ConfigError listing every problem', () => {
    let err: unknown;
    try {
      new MatchingEngine({ takerFeeRate: '5%', slippageBps: '-1', firstOrderId: 0n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toHaveLength(3);
  });
});

describe('comparePlainDecimal', () => {
  it('compares plain decimal text exactly', () => {
    const cases: [string, string, number][] = [
      ['108090.0', '108090', 0],
      ['108090.00', '108090.0', 0],
      ['108089.9', '108090', -1],
      ['108090.01', '108090.0', 1],
      ['99999.99', '108090', -1],
      ['00012.5', '12.50', 0],
      ['0.001', '0.0009', 1],
      ['0', '0.0', 0],
      ['7', '7.', 0],
      ['123456789012345678901234567890.1', '123456789012345678901234567890.09', 1],
    ];
    for (const [a, b, want] of cases) {
      expect(comparePlainDecimal(a, b), `${a} vs ${b}`).toBe(want);
      expect(comparePlainDecimal(b, a), `${b} vs ${a}`).toBe(-want || 0);
      expect(Math.sign(new Decimal(a).cmp(b))).toBe(want); // agrees with decimal.js
    }
    for (const bad of ['', '.5', '-1', '1e5', '1.2.3', ' 1', '1,5', 'NaN']) expect(comparePlainDecimal(bad, '1')).toBeNaN();
  });

  it('limit matching falls back to Decimal for non-plain price text', () => {
    const e = noSlip();
    e.submit(intent({ side: 'BUY', type: 'LIMIT', price: '1.0812e5' }), 0);
    expect(e.onMarkPrice('BTCUSDT', '1.08121e5', 1)).toEqual([]);
    expect(onlyFill(e.onMarkPrice('BTCUSDT', '1.0812e5', 2)).fill).toMatchObject({ price: '108120', maker: true });
    e.submit(intent({ side: 'BUY', type: 'LIMIT', price: '1' }), 3);
    expect(() => e.onMarkPrice('BTCUSDT', 'oops', 4)).toThrow(TypeError);
  });
});

describe('MatchingEngine: partial fills and funding (simulator fault switches)', () => {
  it('maxFillQuantity fills a MARKET order in pieces over successive mark prices, the position following each piece', () => {
    const e = new MatchingEngine({ slippageBps: '0', maxFillQuantity: (o) => (o.remaining.gt('0.004') ? new Decimal('0.004') : undefined) });
    e.onKline(k(0));
    e.submit(intent({ side: 'BUY', clientOrderId: 'pf-1' }), after(0));
    const t = after(0);
    const a = e.onMarkPrice('BTCUSDT', '100', t + 1);
    expect(onlyFill(a)).toMatchObject({ status: 'PARTIALLY_FILLED', cumulativeQuantity: '0.004', fill: { quantity: '0.004', price: '100' } });
    expect(e.position('BTCUSDT').quantity).toBe('0.004');
    expect(e.getOrder('pf-1')).toMatchObject({ status: 'PARTIALLY_FILLED', executedQuantity: '0.004' });
    expect(onlyFill(e.onMarkPrice('BTCUSDT', '101', t + 2))).toMatchObject({ status: 'PARTIALLY_FILLED', cumulativeQuantity: '0.008' });
    expect(onlyFill(e.onMarkPrice('BTCUSDT', '102', t + 3))).toMatchObject({ status: 'FILLED', cumulativeQuantity: '0.01', fill: { quantity: '0.002' } });
    expect(e.position('BTCUSDT')).toMatchObject({ quantity: '0.01', entryPrice: '100.8' });
    expect(e.isOpen('pf-1')).toBe(false);
    expect(e.onMarkPrice('BTCUSDT', '103', t + 4)).toBe(NO_EVENTS);
  });

  it('a reduce-only order in pieces does not expire while each piece fits the position, then expires the part beyond it', () => {
    const e = new MatchingEngine({ slippageBps: '0', maxFillQuantity: () => new Decimal('0.003') });
    e.onKline(k(0));
    e.submit(intent({ side: 'BUY', quantity: '0.003' }), after(0));
    e.onMarkPrice('BTCUSDT', '100', after(0) + 1);
    e.submit(intent({ side: 'BUY', quantity: '0.002' }), after(0) + 1);
    e.onMarkPrice('BTCUSDT', '100', after(0) + 2);
    expect(e.position('BTCUSDT').quantity).toBe('0.005');
    e.submit(intent({ side: 'SELL', quantity: '0.01', reduceOnly: true, clientOrderId: 'ro-1' }), after(0) + 3);
    const ev = e.onMarkPrice('BTCUSDT', '100', after(0) + 3);
    expect(onlyFill(ev)).toMatchObject({ status: 'PARTIALLY_FILLED', fill: { quantity: '0.003' } });
    expect(ofType(ev, 'OrderExpired')).toHaveLength(0);
    expect(e.position('BTCUSDT').quantity).toBe('0.002');
    const ev2 = e.onMarkPrice('BTCUSDT', '100', after(0) + 4);
    expect(onlyFill(ev2).fill.quantity).toBe('0.002');
    expect(ofType(ev2, 'OrderExpired')).toHaveLength(1);
    expect(e.position('BTCUSDT').quantity).toBe('0');
  });

  it('applyFunding moves the wallet balance exactly', () => {
    const e = noSlip();
    expect(e.applyFunding('-1.08167')).toBe('9998.91833');
    expect(e.applyFunding('0.5')).toBe('9999.41833');
    expect(e.balance()).toBe('9999.41833');
  });
});
