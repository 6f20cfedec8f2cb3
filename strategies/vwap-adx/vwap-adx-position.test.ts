/**
 * What vwap-adx believes it holds, on the real bundled BTCUSDT 1m klines: positions adopted from
 * the account, and entries or exits refused by the executor or the venue, checked against the
 * independent decision rule (vwap-adx-test-support.ts).
 */
import { describe, expect, it } from 'vitest';
import type { OrderDenied, OrderIntent, OrderRejected, OrderSubmitted, TargetPosition } from '../../src/core/types.ts';
import { ADX, BASE, ENTRIES, Harness, K, MIN, N, REFS, decide } from './vwap-adx-test-support.ts';

describe('vwap-adx adopts the account position', () => {
  const pos = (quantity: string, source: 'fill' | 'reconcile' = 'reconcile') => ({
    type: 'PositionChanged' as const,
    ts: 0,
    position: { symbol: 'BTCUSDT', quantity, entryPrice: '108000', realizedPnl: '0', fees: '0', updatedAt: 0 },
    source,
  });

  it('a restored position is adopted, and then the exit rules apply to it', () => {
    const h = new Harness(K).feedTo(200);
    expect(h.held).toBe('FLAT');
    h.strategy.onPosition!(pos('0.009'));
    expect(h.held).toBe('LONG');
    const before = h.signals.length;
    h.feedTo(N);
    const exits = h.signals.slice(before).filter((s) => s.req.target === 'FLAT');
    expect(exits.length).toBeGreaterThan(0); // it closes what it adopted
    expect(h.signals[before]!.req.target).toBe('FLAT'); // and the first thing it does is exit, not enter
  });

  it('a position changed by a fill (an operator\'s manual order) is not adopted', () => {
    const h = new Harness(K).feedTo(200);
    h.strategy.onPosition!(pos('0.009', 'fill'));
    expect(h.held).toBe('FLAT');
    h.strategy.onPosition!(pos('0.009'));
    expect(h.held).toBe('LONG');
  });

  it('a flat account makes a strategy that believes it holds a position flat again', () => {
    const h = new Harness(K);
    h.strategy.onPosition!(pos('-0.009'));
    expect(h.held).toBe('SHORT');
    h.strategy.onPosition!(pos('0'));
    expect(h.held).toBe('FLAT');
  });
});

describe('vwap-adx refused orders', () => {
  const intent = (clientOrderId: string, target: TargetPosition): OrderIntent => ({
    clientOrderId,
    symbol: 'BTCUSDT',
    side: target === 'SHORT' ? 'SELL' : 'BUY',
    type: 'MARKET',
    quantity: '0.009',
    reduceOnly: false,
    strategyId: 'va',
    refPrice: '108000',
    createdAt: 0,
  });

  /** The first bar after `from` where the reference says a FLAT strategy enters. */
  function nextQualifying(from: number): { i: number; target: TargetPosition } {
    for (let i = from; i < N; i++) {
      const d = decide(K, REFS, ADX, i, 'FLAT', 0);
      expect(d.borderline).toBe(false);
      if (d.signal) return { i, target: d.signal.target };
    }
    throw new Error(`no qualifying bar after ${from}`);
  }

  for (const how of ['OrderDenied without submission', 'OrderSubmitted then OrderRejected'] as const) {
    it(`${how} for the entry restores FLAT; the next qualifying kline signals again`, () => {
      const e = ENTRIES[0]!;
      const h = new Harness(K).feedTo(e.i + 1);
      expect(h.held).toBe(e.req.target);
      const id = `va-BTCUSDT-${e.req.klineOpenTime}-0`;
      if (how === 'OrderDenied without submission') {
        const denied: OrderDenied = { type: 'OrderDenied', ts: h.clock.now(), intent: intent(id, e.req.target), check: 'maxOpenPositions', reason: 'limit' };
        h.strategy.onOrderUpdate(denied);
      } else {
        const submitted: OrderSubmitted = { type: 'OrderSubmitted', ts: h.clock.now(), intent: intent(id, e.req.target) };
        const rejected: OrderRejected = { type: 'OrderRejected', ts: h.clock.now(), clientOrderId: id, symbol: 'BTCUSDT', code: -2019, reason: 'Margin is insufficient.' };
        h.strategy.onOrderUpdate(submitted);
        h.strategy.onOrderUpdate(rejected);
      }
      expect(h.strategy.state()).toMatchObject({ held: 'FLAT', refusals: 1 });
      const next = nextQualifying(e.i + 1);
      const before = h.signals.length;
      h.feedTo(next.i + 1);
      expect(h.signals.slice(before).map((s) => [s.i, s.req.target, s.req.reason])).toEqual([[next.i, next.target, 'entry']]);
      expect(h.held).toBe(next.target);
      // Without the refusal the strategy would have stayed in the first position at that bar.
      expect(BASE.signals.some((s) => s.i === next.i && s.req.reason === 'entry')).toBe(false);
    });
  }

  it('a refused exit restores the position and the exit is decided again on the next kline', () => {
    const exit = BASE.signals.find((s) => s.req.reason !== 'entry')!;
    const entry = [...BASE.signals].reverse().find((s) => s.i < exit.i)!;
    const h = new Harness(K).feedTo(exit.i + 1);
    expect(h.held).toBe('FLAT');
    const id = `va-BTCUSDT-${exit.req.klineOpenTime}-0`;
    h.strategy.onOrderUpdate({ type: 'OrderDenied', ts: h.clock.now(), intent: { ...intent(id, 'FLAT'), reduceOnly: true }, check: 'HALTED', reason: 'halted' });
    expect(h.held).toBe(entry.req.target);
    // The reference decision for the next bar, still holding since the entry.
    const d = decide(K, REFS, ADX, exit.i + 1, entry.req.target, K.openTime[entry.i]! + MIN);
    expect(d.borderline).toBe(false);
    const before = h.signals.length;
    h.feedTo(exit.i + 2);
    const got = h.signals.slice(before).map((s) => ({ target: s.req.target, reason: s.req.reason }));
    expect(got).toEqual(d.signal ? [d.signal] : []);
  });

  it('a fill of the entry keeps the position (no refusal)', () => {
    const e = ENTRIES[0]!;
    const h = new Harness(K).feedTo(e.i + 1);
    const id = 'va-fill-1';
    h.strategy.onOrderUpdate({ type: 'OrderSubmitted', ts: 0, intent: intent(id, e.req.target) });
    h.strategy.onOrderUpdate({
      type: 'OrderFilled',
      ts: 0,
      fill: { tradeId: '1', orderId: '1', clientOrderId: id, symbol: 'BTCUSDT', side: 'BUY', price: '1', quantity: '0.009', commission: '0', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: 0 },
      cumulativeQuantity: '0.009',
      status: 'FILLED',
    });
    expect(h.strategy.state()).toMatchObject({ held: e.req.target, refusals: 0 });
  });
});
