/**
 * Executor denials: every refused order is an OrderDenied event and nothing reaches the journal
 * or the venue (sizing, exchange filters, orders in flight, risk limits, the funding window, the
 * journal, stale signals), plus funding times announced on the mark price stream.
 *
 * Real components and real klines, replayed as the kernel does (see executor-test-support.ts);
 * simulated fees: taker 0.0005, slippage 0 bps. Every expected number is worked out by hand in
 * the comment beside it.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../src/core/decimal.ts';
import { clientOrderIdFor } from './executor.ts';
import { ETH, at0800, b, harness } from './executor-test-support.ts';

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
