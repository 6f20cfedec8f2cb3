/**
 * Protective stops (STOP_MARKET, closePosition) in the MatchingEngine, on real BTCUSDT 1m klines
 * copied verbatim from data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv. Expected prices and PnL
 * worked out by hand from those rows (no slippage, taker fee 0.05 %).
 */
import { describe, expect, it } from 'vitest';
import type { Kline, OrderIntent } from '../../core/types.ts';
import { MatchingEngine, type EngineEvent } from './matching-engine.ts';

const ROWS = [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406', // K0
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633', // K1
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878', // K2
  '1751760180000,108113.2,108135.0,108113.2,108134.9,29.041', // K3
];
const K: Kline[] = ROWS.map((row) => {
  const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
  return { symbol: 'BTCUSDT', interval: '1m', openTime: Number(t), closeTime: Number(t) + 59_999, open, high, low, close, volume, closed: true };
});
const after = (i: number): number => K[i]!.closeTime + 1;

let seq = 0;
const order = (p: Partial<OrderIntent> & Pick<OrderIntent, 'side'>): OrderIntent => ({
  clientOrderId: `t-${++seq}`,
  symbol: 'BTCUSDT',
  type: 'MARKET',
  quantity: '0.01',
  reduceOnly: false,
  strategyId: 'test',
  refPrice: '108167.0',
  createdAt: 0,
  ...p,
});
const stop = (side: 'BUY' | 'SELL', stopPrice: string, id = `pbs-${++seq}`): OrderIntent =>
  order({ clientOrderId: id, side, type: 'STOP_MARKET', quantity: '0', stopPrice, closePosition: true, reduceOnly: true });

/** An engine holding a long of 0.01 BTC opened at K1's open (108166.9). */
function long(): MatchingEngine {
  const e = new MatchingEngine({ slippageBps: '0' });
  e.submit(order({ side: 'BUY' }), after(0));
  e.onKline(K[1]!);
  expect(e.position('BTCUSDT').quantity).toBe('0.01');
  return e;
}
const fills = (ev: readonly EngineEvent[]) => ev.flatMap((x) => (x.type === 'OrderFilled' ? [x.fill] : []));

describe('MatchingEngine: protective STOP_MARKET (closePosition)', () => {
  it('is accepted apart from the open orders and listed by openStops; one per side (-4130)', () => {
    const e = long();
    const s = stop('SELL', '108110.0');
    expect(e.submit(s, after(1))[0]!.type).toBe('OrderAccepted');
    expect(e.openOrders()).toEqual([]);
    expect(e.openStops().map((o) => [o.clientOrderId, o.stopPrice, o.status])).toEqual([[s.clientOrderId, '108110', 'NEW']]);
    const again = e.submit(stop('SELL', '108000.0'), after(1));
    expect(again[0]).toMatchObject({ type: 'OrderRejected', code: -4130 });
    expect(e.submit({ ...stop('SELL', '1'), closePosition: false }, after(1))[0]).toMatchObject({ type: 'OrderRejected', code: -1102 });
  });

  it('a SELL stop triggers when a kline low reaches it and fills the whole position at the stop price (taker)', () => {
    const e = long();
    const s = stop('SELL', '108110.0');
    e.submit(s, after(1)); // armed from K2's open (a minute boundary)
    const ev = e.onKline(K[2]!); // low 108100.0 ≤ 108110.0, open 108167.0 above it
    const f = fills(ev);
    expect(f).toHaveLength(1);
    // (108110.0 − 108166.9) × 0.01 = −0.569; fee 108110.0 × 0.01 × 0.0005 = 0.54055
    expect(f[0]).toMatchObject({ clientOrderId: s.clientOrderId, side: 'SELL', price: '108110', quantity: '0.01', realizedPnl: '-0.569', commission: '0.54055', maker: false, time: K[2]!.openTime });
    expect(ev.find((x) => x.type === 'OrderFilled')).toMatchObject({ status: 'FILLED', cumulativeQuantity: '0.01' });
    expect(e.position('BTCUSDT').quantity).toBe('0');
    expect(e.openStops()).toEqual([]);
    expect(e.getStop(s.clientOrderId)).toMatchObject({ status: 'FILLED', executedQuantity: '0.01', type: 'STOP_MARKET' });
  });

  it('is not armed on the rest of the kline on which it was placed (replay cannot see inside it)', () => {
    const e = long();
    e.submit(stop('SELL', '108110.0'), K[2]!.openTime + 30_000);
    expect(e.onMarkPrice('BTCUSDT', '108100.0', K[2]!.openTime + 40_000)).toEqual([]);
    expect(e.onKline(K[2]!)).toEqual([]); // K2 opened before the stop existed
    expect(e.openStops()).toHaveLength(1);
  });

  it('already beyond at the first price once armed (a gap): fills at that price, not at the better stop', () => {
    const e = long();
    e.submit(stop('SELL', '108120.0'), after(2)); // K2 closed at 108113.3: already below the stop
    const f = fills(e.onKline(K[3]!)); // K3 opens at 108113.2
    expect(f[0]).toMatchObject({ price: '108113.2', quantity: '0.01' });
  });

  it('on mark prices: the first armed mark beyond fills there; a later crossing fills at the stop price', () => {
    const a = long();
    a.submit(stop('SELL', '108110.0'), after(1));
    expect(a.onMarkPrice('BTCUSDT', '108150.0', after(1))).toEqual([]);
    expect(fills(a.onMarkPrice('BTCUSDT', '108090.5', after(1) + 5_000))[0]).toMatchObject({ price: '108110' });
    const b = long();
    b.submit(stop('SELL', '108110.0'), after(1));
    expect(fills(b.onMarkPrice('BTCUSDT', '108090.5', after(1)))[0]).toMatchObject({ price: '108090.5' });
  });

  it('a BUY stop protects a short: triggers at high ≥ stop; slippage moves the fill against the taker, on the tick', () => {
    const e = new MatchingEngine({ slippageBps: '1', tickSize: () => '0.1' });
    e.submit(order({ side: 'SELL' }), after(0));
    e.onKline(K[1]!); // short 0.01 at 108166.9 × (1 − 0.0001) = 108156.08… floored to 108156.0
    e.submit(stop('BUY', '108190.0'), after(1));
    const f = fills(e.onKline(K[2]!)); // high 108195.0 ≥ 108190.0
    // 108190.0 × 1.0001 = 108200.819 → ceil to the tick: 108200.9
    expect(f[0]).toMatchObject({ side: 'BUY', price: '108200.9', quantity: '0.01' });
    expect(e.position('BTCUSDT').quantity).toBe('0');
  });

  it('with nothing to close (the position was closed first) it does not trigger and stays open until canceled', () => {
    const e = long();
    const s = stop('SELL', '108110.0');
    e.submit(s, after(1));
    e.submit(order({ side: 'SELL', reduceOnly: true }), after(1)); // fills at K2's open, before the stop
    const ev = e.onKline(K[2]!); // its low crosses the stop
    expect(fills(ev).map((f) => f.clientOrderId)).not.toContain(s.clientOrderId);
    expect(ev.some((x) => x.type === 'OrderExpired')).toBe(false);
    expect(e.openStops().map((o) => o.clientOrderId)).toEqual([s.clientOrderId]);
  });

  it('cancel removes it; it never triggers afterwards', () => {
    const e = long();
    const s = stop('SELL', '108110.0');
    e.submit(s, after(1));
    expect(e.cancel('BTCUSDT', s.clientOrderId, after(1))[0]).toMatchObject({ type: 'OrderCanceled', clientOrderId: s.clientOrderId });
    expect(e.onKline(K[2]!)).toEqual([]);
    expect(e.getStop(s.clientOrderId)?.status).toBe('CANCELED');
  });
});
