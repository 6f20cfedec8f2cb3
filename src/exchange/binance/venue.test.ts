/**
 * The live venue's order rules with a scripted REST port: each failure Binance (or the network)
 * can produce, on cue, and what the venue must do about it. The failures are the shapes the
 * `binance` library / axios reject with; orders are real-looking Binance REST answers.
 */
import { describe, expect, it } from 'vitest';
import type { OrderIntent } from '../../core/types.ts';
import { ReplayClock } from '../../core/clock.ts';
import { silentLogger } from '../../logging/logger.ts';
import type { VenueEvent } from '../../../executor/venue.ts';
import { BinanceVenue, type UsdmRestPort } from './venue.ts';

const BIG_ID = '8389766049535966587';
const intent: OrderIntent = {
  clientOrderId: 'pb-0123456789abcdefghijkl',
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.009',
  reduceOnly: false,
  strategyId: 'vwap-adx',
  signalId: 'vwap-adx:BTCUSDT:1751760000000:0',
  refPrice: '108167.0',
  createdAt: 1751760060000,
};
const restOrder = (p: Record<string, unknown> = {}) => ({
  orderId: BIG_ID,
  clientOrderId: intent.clientOrderId,
  symbol: 'BTCUSDT',
  status: 'NEW',
  side: 'BUY',
  type: 'MARKET',
  timeInForce: 'GTC',
  price: '0',
  avgPrice: '0.00',
  origQty: '0.009',
  executedQty: '0',
  cumQuote: '0',
  reduceOnly: false,
  updateTime: 1751760060100,
  ...p,
});

// What the library/axios reject with.
const timeout = () => ({ code: 'ECONNABORTED', message: 'timeout of 10000ms exceeded', request: {} });
const binance = (code: number, msg: string, status = 400) => ({ code, message: msg, body: { code, msg }, headers: {}, status, data: { code, msg } });
const http = (status: number, headers: Record<string, string> = {}) => ({ response: { status, data: '', headers } });

type Step = (() => unknown) | { throw: unknown };

function venue(script: { submit?: Step[]; get?: Step[]; cancel?: Step[]; open?: () => unknown[] }) {
  const calls: string[] = [];
  const take = (list: Step[] | undefined, what: string) => {
    calls.push(what);
    const s = list?.shift();
    if (s === undefined) throw new Error(`unscripted ${what}`);
    if (typeof s === 'function') return Promise.resolve(s());
    return Promise.reject(s.throw);
  };
  const rest: UsdmRestPort = {
    submitNewOrder: async (p) => {
      expect(p.newClientOrderId).toBe(intent.clientOrderId);
      return take(script.submit, 'POST order');
    },
    getOrder: async () => take(script.get, 'GET order'),
    cancelOrder: async () => take(script.cancel, 'DELETE order'),
    getAllOpenOrders: async () => {
      calls.push('GET openOrders');
      return script.open?.() ?? [];
    },
    getPositionsV3: async () => [],
    getAccountTrades: async () => [],
  };
  const halts: string[] = [];
  const sleeps: number[] = [];
  const clock = new ReplayClock(1751760060000);
  const v = new BinanceVenue({
    rest,
    clock,
    log: silentLogger(),
    attempts: 5,
    recvWindowMs: 5000,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.set(clock.now() + ms); // time passes while the venue waits
    },
    random: () => 0.5,
    onHalt: (r) => halts.push(r),
  });
  const events: VenueEvent[] = [];
  v.onEvent((e) => events.push(e));
  return { v, calls, events, halts, sleeps, clock };
}

describe('BinanceVenue.audit (user stream up: orders that ended without their stream event)', () => {
  it('asks nothing while no accepted order is old enough', async () => {
    const t = venue({ submit: [() => restOrder()] });
    expect(await t.v.audit(60_000)).toBe(0); // no order at all
    await t.v.submit(intent);
    t.clock.set(t.clock.now() + 59_999);
    expect(await t.v.audit(60_000)).toBe(0); // accepted, not old enough
    expect(t.calls).toEqual(['POST order']);
    expect(t.v.stats.audits).toBe(0);
  });

  it('leaves an order the exchange lists as open alone, and settles one it does not list from its REST status', async () => {
    let open = [restOrder()];
    const t = venue({ submit: [() => restOrder()], get: [() => restOrder({ status: 'CANCELED', updateTime: 1751760130000 })], open: () => open });
    await t.v.submit(intent);
    t.clock.set(t.clock.now() + 60_000);
    expect(await t.v.audit(60_000)).toBe(0);
    expect(t.calls).toEqual(['POST order', 'GET openOrders']);
    t.clock.set(t.clock.now() + 30_000);
    expect(await t.v.audit(60_000)).toBe(0); // checked 30 s ago: not due yet
    expect(t.calls).toHaveLength(2);
    open = [];
    t.clock.set(t.clock.now() + 30_000);
    expect(await t.v.audit(60_000)).toBe(1);
    expect(t.calls).toEqual(['POST order', 'GET openOrders', 'GET openOrders', 'GET order']);
    expect(t.events.at(-1)).toMatchObject({ type: 'OrderCanceled', clientOrderId: intent.clientOrderId });
    expect(t.v.stats).toMatchObject({ audits: 2, auditSettled: 1 });
    t.clock.set(t.clock.now() + 120_000);
    expect(await t.v.audit(60_000)).toBe(0); // settled: never asked about again
    expect(t.calls).toHaveLength(4);
  });
});

describe('BinanceVenue.audit of protective stops (algo orders)', () => {
  const stop = { clientOrderId: 'pb-stop-abc', symbol: 'ETHUSDT', side: 'SELL' as const, type: 'STOP_MARKET' as const, quantity: '0', reduceOnly: true };
  const algoRow = (algoStatus: string) => ({
    algoId: 2000000037542090, clientAlgoId: 'pb-stop-abc', algoType: 'CONDITIONAL', orderType: 'STOP_MARKET', symbol: 'ETHUSDT', side: 'SELL',
    positionSide: 'BOTH', timeInForce: 'GTC', quantity: '0', algoStatus, triggerPrice: '3000.00', price: '0', workingType: 'MARK_PRICE',
    closePosition: true, reduceOnly: true, createTime: 1751760000000, updateTime: 1751760090000,
  });
  function stopVenue(algoStatus: string, openAlgo: unknown[]) {
    const calls: string[] = [];
    const clock = new ReplayClock(1751760060000);
    const v = new BinanceVenue({
      rest: {
        submitNewOrder: async () => Promise.reject(new Error('not in this test')),
        getOrder: async () => {
          calls.push('GET order');
          return Promise.reject(binance(-2013, 'Order does not exist.'));
        },
        cancelOrder: async () => Promise.reject(new Error('not in this test')),
        getAllOpenOrders: async () => (calls.push('GET openOrders'), []),
        getPositionsV3: async () => [],
        getAccountTrades: async () => [],
        algo: {
          submitNewAlgoOrder: async () => Promise.reject(new Error('not in this test')),
          cancelAlgoOrder: async () => Promise.reject(new Error('not in this test')),
          getAlgoOrder: async () => (calls.push('GET algoOrder'), algoRow(algoStatus)),
          getOpenAlgoOrders: async () => (calls.push('GET openAlgoOrders'), openAlgo),
        },
      },
      clock,
      log: silentLogger(),
      sleep: async () => undefined,
    });
    const events: VenueEvent[] = [];
    v.onEvent((e) => events.push(e));
    v.adopt([{ intent: stop, orderId: '2000000037542090', executedQty: '0' }]);
    clock.set(clock.now() + 60_000);
    return { v, calls, events };
  }

  it('a stop the exchange still lists is left alone', async () => {
    const t = stopVenue('NEW', [algoRow('NEW')]);
    expect(await t.v.audit(60_000)).toBe(0);
    expect(t.calls).toEqual(['GET openOrders', 'GET openAlgoOrders']);
  });

  it('a stop canceled on the exchange (its ALGO_UPDATE lost) is settled as canceled', async () => {
    const t = stopVenue('CANCELED', []);
    expect(await t.v.audit(60_000)).toBe(1);
    expect(t.calls).toEqual(['GET openOrders', 'GET openAlgoOrders', 'GET order', 'GET algoOrder']);
    expect(t.events).toEqual([expect.objectContaining({ type: 'OrderCanceled', clientOrderId: 'pb-stop-abc' })]);
  });

  it('a FINISHED algo without its triggered order is not settled from the algo (its order is the truth)', async () => {
    const t = stopVenue('FINISHED', []);
    expect(await t.v.audit(60_000)).toBe(0);
    expect(t.events).toEqual([]);
  });
});

describe('BinanceVenue.submit', () => {
  it('accepted: one POST, one OrderAccepted with the int64 id as exact text', async () => {
    const t = venue({ submit: [() => restOrder()] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.calls).toEqual(['POST order']);
    expect(t.events).toEqual([{ type: 'OrderAccepted', ts: 1751760060000, clientOrderId: intent.clientOrderId, orderId: BIG_ID, symbol: 'BTCUSDT' }]);
  });

  it('a timeout is an unknown outcome: it queries first and adopts the order it finds, without resending', async () => {
    const t = venue({ submit: [{ throw: timeout() }], get: [() => restOrder({ status: 'FILLED', executedQty: '0.009' })] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.calls).toEqual(['POST order', 'GET order']);
  });

  it('a timeout, then -2013 (the order does not exist): asked again once its recvWindow ran out, then resent with the same client order id', async () => {
    const absent = () => ({ throw: binance(-2013, 'Order does not exist.') });
    const t = venue({ submit: [{ throw: timeout() }, () => restOrder()], get: [absent(), absent()] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.calls).toEqual(['POST order', 'GET order', 'GET order', 'POST order']);
    // recvWindow 5 s + 1 s of grace from the POST: Binance's matching engine refuses it after that (-5028)
    expect(t.sleeps[0]).toBe(6000);
    expect(t.v.stats.retries).toBe(1);
  });

  it("a timeout, -2013 at once (Binance's order index lags), then found on the second look: adopted, never resent", async () => {
    const t = venue({ submit: [{ throw: timeout() }], get: [{ throw: binance(-2013, 'Order does not exist.') }, () => restOrder({ status: 'NEW' })] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.calls).toEqual(['POST order', 'GET order', 'GET order']);
  });

  it('an unknown outcome is settled in the background: never placed → OrderRejected, so the executor stops waiting', async () => {
    const unavailable = () => ({ throw: http(503) });
    const absent = () => ({ throw: binance(-2013, 'Order does not exist.') });
    const t = venue({ submit: [{ throw: timeout() }], get: [unavailable(), unavailable(), unavailable(), absent()] });
    await expect(t.v.submit(intent)).rejects.toMatchObject({ code: 'VENUE' });
    expect(t.events).toEqual([]);
    t.clock.set(t.clock.now() + 10_000); // past the POST's recvWindow
    await t.v.resolvePending();
    expect(t.events).toMatchObject([{ type: 'OrderRejected', clientOrderId: intent.clientOrderId, code: -2013 }]);
    expect(t.v.stats.resolved).toBe(1);
    await t.v.resolvePending(); // settled: not asked again
    expect(t.calls.filter((c) => c === 'GET order')).toHaveLength(4);
  });

  it('an unknown outcome is settled in the background: found filled → accepted, then its fills', async () => {
    const unavailable = () => ({ throw: http(503) });
    const t = venue({ submit: [{ throw: timeout() }], get: [unavailable(), unavailable(), unavailable(), () => restOrder({ status: 'FILLED', executedQty: '0.009' })] });
    await expect(t.v.submit(intent)).rejects.toMatchObject({ code: 'VENUE' });
    await t.v.resolvePending();
    expect(t.events.map((e) => e.type)).toEqual(['OrderAccepted']); // the scripted port has no trades to report
    expect(t.calls).toEqual(['POST order', 'GET order', 'GET order', 'GET order', 'GET order']);
  });

  it('a timeout and a failing query: NOT resent; the outcome stays unknown (reconciliation settles it)', async () => {
    const t = venue({ submit: [{ throw: timeout() }], get: [{ throw: http(503) }, { throw: http(503) }, { throw: http(503) }] });
    await expect(t.v.submit(intent)).rejects.toMatchObject({ code: 'VENUE' });
    expect(t.calls).toEqual(['POST order', 'GET order', 'GET order', 'GET order']);
    expect(t.events).toEqual([]);
    expect(t.v.stats.unknownOutcomes).toBe(1);
  });

  it('-4116 (duplicate client order id) means already placed: queried and adopted', async () => {
    const t = venue({ submit: [{ throw: binance(-4116, 'ClientOrderId is duplicated.') }], get: [() => restOrder()] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.v.stats.duplicatesAdopted).toBe(1);
  });

  it.each([
    [-2019, 'Margin is insufficient.'],
    [-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only)."],
    [-1111, 'Precision is over the maximum defined for this asset.'],
    [-2022, 'ReduceOnly Order is rejected.'],
  ])('business refusal %i is final: no retry, OrderRejected with the code', async (code, msg) => {
    const t = venue({ submit: [{ throw: binance(code, msg) }] });
    const r = await t.v.submit(intent);
    expect(r).toMatchObject({ accepted: false, code });
    expect(t.calls).toEqual(['POST order']);
    expect(t.events).toMatchObject([{ type: 'OrderRejected', code, clientOrderId: intent.clientOrderId }]);
  });

  it('429 waits for Retry-After, then retries', async () => {
    const t = venue({ submit: [{ throw: http(429, { 'retry-after': '7' }) }, () => restOrder()] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.sleeps).toEqual([7000]);
  });

  it('418 (IP ban) halts trading and rejects, never retries', async () => {
    const t = venue({ submit: [{ throw: { ...http(418, { 'retry-after': '120' }), response: { status: 418, data: { code: -1003, msg: 'Way too many requests; IP banned until 1751760180000.' }, headers: { 'retry-after': '120' } } } }] });
    const r = await t.v.submit(intent);
    expect(r.accepted).toBe(false);
    expect(t.calls).toEqual(['POST order']);
    expect(t.halts).toHaveLength(1);
    expect(t.halts[0]).toMatch(/IP banned by Binance \(418\)/);
  });

  it('5 attempts at most; when every one was refused before the matching engine (429) the order is rejected, not unknown', async () => {
    const tooMany = binance(-1003, 'Too many requests; current limit is 2400 requests per minute.', 429);
    const t = venue({ submit: [1, 2, 3, 4, 5].map(() => ({ throw: tooMany })) });
    expect(await t.v.submit(intent)).toMatchObject({ accepted: false, code: -1003 });
    expect(t.calls.filter((c) => c === 'POST order')).toHaveLength(5);
    expect(t.events).toMatchObject([{ type: 'OrderRejected', code: -1003 }]);
    expect(t.v.stats.unknownOutcomes).toBe(0);
  });

  it('5 attempts at most; 5xx each time, each shown absent after its recvWindow: rejected as never placed', async () => {
    const t = venue({ submit: [1, 2, 3, 4, 5].map(() => ({ throw: http(503) })), get: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(() => ({ throw: binance(-2013, 'Order does not exist.') })) });
    expect(await t.v.submit(intent)).toMatchObject({ accepted: false });
    expect(t.calls.filter((c) => c === 'POST order')).toHaveLength(5);
    expect(t.calls.filter((c) => c === 'GET order')).toHaveLength(10);
    expect(t.v.stats.unknownOutcomes).toBe(0);
  });

  it('a 429 on a query blocks every REST call until its Retry-After', async () => {
    const t = venue({ submit: [{ throw: timeout() }], get: [{ throw: http(429, { 'retry-after': '30' }) }, () => restOrder()] });
    expect(await t.v.submit(intent)).toEqual({ accepted: true, orderId: BIG_ID });
    expect(t.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(30_000);
  });
});

describe('BinanceVenue updates', () => {
  const otu = (x: string, X: string, extra: Record<string, unknown> = {}) => ({
    e: 'ORDER_TRADE_UPDATE',
    T: 1751760060200,
    E: 1751760060201,
    o: {
      s: 'BTCUSDT', c: intent.clientOrderId, S: 'BUY', o: 'MARKET', f: 'GTC', q: '0.009', p: '0', ap: '108167.0', sp: '0', x, X,
      i: BIG_ID, l: '0', z: '0', L: '0', n: '0', N: 'USDT', T: 1751760060200, t: 0, b: '0', a: '0', m: false, R: false,
      wt: 'CONTRACT_PRICE', ot: 'MARKET', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_TAKER', pm: 'NONE', gtd: 0,
      ...extra,
    },
  });

  it('stream and REST answers are de-duplicated: one accept, one event per trade id, one terminal state', async () => {
    const t = venue({ submit: [() => restOrder()] });
    await t.v.submit(intent);
    t.v.onUserData(otu('NEW', 'NEW'));
    const trade = otu('TRADE', 'FILLED', { l: '0.009', z: '0.009', L: '108167.0', n: '0.48675150', t: 1000000001 });
    t.v.onUserData(trade);
    t.v.onUserData(trade); // a replayed frame after a reconnect
    expect(t.events.map((e) => e.type)).toEqual(['OrderAccepted', 'OrderFilled']);
    expect(t.events[1]).toMatchObject({ status: 'FILLED', fill: { tradeId: '1000000001', price: '108167.0', commission: '0.48675150', orderId: BIG_ID } });
  });

  it('updates of orders perpbot did not place are passed on marked external (with what the frame says of the order), never tracked', async () => {
    const t = venue({});
    const neu = { ...otu('NEW', 'NEW'), o: { ...otu('NEW', 'NEW').o, c: 'web_manual_order' } };
    t.v.onUserData(neu);
    const trade = otu('TRADE', 'FILLED', { l: '0.009', z: '0.009', L: '108167.0', n: '0.48675150', t: 1000000001 });
    t.v.onUserData({ ...trade, o: { ...trade.o, c: 'web_manual_order' } });
    const external = { side: neu.o.S, type: neu.o.o, quantity: neu.o.q, price: neu.o.p, reduceOnly: neu.o.R };
    expect(t.events.map((e) => e.type)).toEqual(['OrderAccepted', 'OrderFilled']);
    expect(t.events[0]).toMatchObject({ clientOrderId: 'web_manual_order', external });
    expect(t.events[1]).toMatchObject({ fill: { clientOrderId: 'web_manual_order', quantity: '0.009', price: '108167.0' }, external });
    expect(t.v.stats.externalEvents).toBe(2);
    // an id with perpbot's prefix that this venue does not track is not someone else's: ignored
    t.v.onUserData({ ...otu('NEW', 'NEW'), o: { ...otu('NEW', 'NEW').o, c: 'pb-op-old-0' } });
    expect(t.events).toHaveLength(2);
  });

  it('cancel of an order already gone (-2011) is not an error', async () => {
    const t = venue({ cancel: [{ throw: binance(-2011, 'Unknown order sent.') }] });
    await expect(t.v.cancel('BTCUSDT', intent.clientOrderId)).resolves.toBeUndefined();
  });
});
