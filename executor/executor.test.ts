/**
 * Executor tests with real components: the real EventBus, a ReplayClock, the real SimVenue /
 * MatchingEngine (with the same tick rounding and filter hook the kernel plugs in), the real
 * bundled exchangeInfo, and real klines copied verbatim from
 * data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv and ETHUSDT-1m-2025-07-06_2025-07-17.csv
 * (the harness and the klines are in executor-test-support.ts, shared with
 * executor-denials.test.ts and executor-state.test.ts).
 *
 * Each minute is replayed the way src/kernel/kernel.ts `replay()` does it: clock.set(closeTime+1),
 * venue.onKline(k) (fills of orders placed on the previous close happen at this kline's open),
 * publish the kline, drain the bus; signals are then published on `signal.<id>` and drained.
 *
 * Simulated fees: taker 0.0005, slippage 0 bps (so a MARKET fill is exactly the next open).
 * Every expected number is worked out by hand in the comment beside it.
 *
 * This file: client order ids, entries, exits and reversals, fills and position updates out of
 * step, venue answers, restore after a restart, and the limit order TTL.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OrderIntent } from '../src/core/types.ts';
import { clientOrderIdFor } from './executor.ts';
import { b, harness } from './executor-test-support.ts';

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
