/**
 * The simulator against the real `binance` library (USDMClient, WebsocketClient) on 127.0.0.1:
 * market data and signed trading over REST, and more of the protocol (maker fills, signatures,
 * client order ids, v2 endpoints, userTrades paging, sub-step fills, order rate limits).
 * The data clock is paused and driven by hand, so nothing depends on wall-clock timing except
 * short waits for frames to arrive on a socket. Websockets are in server-websockets.test.ts,
 * fault injection and rate limits in server-faults.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../core/decimal.ts';
import { FIXTURE, HISTORY, adminPost, closeOpen, err, rest, sim, waitFor, wsClient } from './server-test-support.ts';

afterEach(closeOpen);

describe('market data over REST', () => {
  it('answers ping, time, exchangeInfo, klines and premiumIndex like Binance', async () => {
    const s = await sim();
    const c = rest(s);
    expect(await c.testConnectivity()).toEqual({});
    const before = Date.now();
    const { serverTime } = (await c.get('fapi/v1/time')) as { serverTime: number };
    expect(serverTime).toBeGreaterThanOrEqual(before - 5);
    const info = await c.getExchangeInfo();
    expect(info.symbols.find((x) => x.symbol === 'AVAXUSDT')).toBeDefined();
    expect(info.serverTime).toBeGreaterThanOrEqual(before - 5);
    expect(info.rateLimits).toContainEqual({ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 });

    const ks = (await c.getKlines({ symbol: 'AVAXUSDT', interval: '1m' })) as unknown[][];
    expect(ks).toHaveLength(HISTORY); // only closed klines
    const shift = (ks[0]![0] as number) - FIXTURE[0]!.openTime;
    expect(shift % 60_000).toBe(0);
    expect(ks[0]).toEqual([FIXTURE[0]!.openTime + shift, '34.4220', '34.4260', '34.3600', '34.3600', '9896', FIXTURE[0]!.closeTime + shift, '340376.0940', 1391, '0', '0', '0']);
    s.advance(2);
    const after = (await c.getKlines({ symbol: 'AVAXUSDT', interval: '1m', limit: 3 })) as unknown[][];
    expect(after.map((k) => k[0])).toEqual([9, 10, 11].map((i) => FIXTURE[i]!.openTime + shift));
    const ranged = (await c.getKlines({ symbol: 'AVAXUSDT', interval: '1m', startTime: FIXTURE[2]!.openTime + shift, endTime: FIXTURE[4]!.openTime + shift })) as unknown[][];
    expect(ranged.map((k) => k[1])).toEqual([FIXTURE[2]!.open, FIXTURE[3]!.open, FIXTURE[4]!.open]);

    const mark = (await c.getMarkPrice({ symbol: 'AVAXUSDT' })) as unknown as Record<string, unknown>;
    expect(mark.symbol).toBe('AVAXUSDT');
    expect(mark.markPrice).toBe(FIXTURE[HISTORY + 2]!.open); // kline 12 just opened
    expect(typeof mark.lastFundingRate).toBe('string');
    expect(typeof mark.nextFundingTime).toBe('number');
    const bad = await err(c.getKlines({ symbol: 'NOPEUSDT', interval: '1m' }));
    expect(bad.code).toBe(-1121);
  });
});

describe('signed trading through USDMClient', () => {
  it('fills a MARKET order at the next kline open with exact decimals and shows it in positionRisk and userTrades', async () => {
    const s = await sim();
    const c = rest(s);
    const placed = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 10 });
    expect(placed.status).toBe('NEW');
    expect(typeof placed.orderId).toBe('number');
    expect(placed.orderId).toBe(700000000001);
    expect(placed.origQty).toBe('10');

    s.advance(1); // kline HISTORY closes, kline HISTORY+1 opens: the order fills at its open
    const open = new Decimal(FIXTURE[HISTORY + 1]!.open);
    // 1 bp slippage against the buyer, rounded up to the 0.001 tick (independent arithmetic)
    const expected = open.times('1.0001').toNearest('0.001', Decimal.ROUND_CEIL);
    const trades = await c.getAccountTrades({ symbol: 'AVAXUSDT' });
    expect(trades).toHaveLength(1);
    const t = trades[0]!;
    expect(t.price).toBe(expected.toFixed());
    expect(t.qty).toBe('10');
    expect(t.commission).toBe(expected.times(10).times('0.0005').toFixed());
    expect(t.orderId).toBe(placed.orderId);
    expect(t.side).toBe('BUY');
    expect(typeof t.id).toBe('number');

    const q = (await c.getOrder({ symbol: 'AVAXUSDT', orderId: placed.orderId })) as unknown as Record<string, unknown>;
    expect(q.status).toBe('FILLED');
    expect(q.avgPrice).toBe(expected.toFixed());
    expect(q.cumQuote).toBe(expected.times(10).toFixed());

    const pos = await c.getPositionsV3({ symbol: 'AVAXUSDT' });
    expect(pos).toHaveLength(1);
    expect(pos[0]!.positionAmt).toBe('10');
    expect(pos[0]!.entryPrice).toBe(expected.toFixed());
    expect(pos[0]!.markPrice).toBe(FIXTURE[HISTORY + 1]!.open);

    const bal = await c.getBalanceV3();
    expect(bal[0]!.balance).toBe(new Decimal(10000).minus(expected.times(10).times('0.0005')).toFixed());
    const acct = (await c.getAccountInformationV3()) as unknown as { positions: { positionAmt: string }[]; totalWalletBalance: string };
    expect(acct.positions[0]!.positionAmt).toBe('10');
    expect(acct.totalWalletBalance).toBe(bal[0]!.balance);
  });

  it('rests a LIMIT order, lists it, cancels it, and answers -2013/-2011 for unknown orders', async () => {
    const s = await sim();
    const c = rest(s);
    const o = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC', newClientOrderId: 'x-15PC4ZJyrest1' });
    expect(o.status).toBe('NEW');
    s.advance(1);
    const list = await c.getAllOpenOrders({ symbol: 'AVAXUSDT' });
    expect(list.map((x) => x.clientOrderId)).toEqual(['x-15PC4ZJyrest1']);
    const dup = await err(c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC', newClientOrderId: 'x-15PC4ZJyrest1' }));
    expect(dup.code).toBe(-4116);
    const canceled = await c.cancelOrder({ symbol: 'AVAXUSDT', origClientOrderId: 'x-15PC4ZJyrest1' });
    expect(canceled.status).toBe('CANCELED');
    expect((await err(c.cancelOrder({ symbol: 'AVAXUSDT', orderId: o.orderId }))).code).toBe(-2011);
    expect((await err(c.getOrder({ symbol: 'AVAXUSDT', orderId: 1 }))).code).toBe(-2013);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'LIMIT', quantity: 1, price: 40, timeInForce: 'GTC' });
    expect(await c.cancelAllOpenOrders({ symbol: 'AVAXUSDT' })).toEqual({ code: 200, msg: 'The operation of cancel all open order is done.' });
    expect(await c.getAllOpenOrders()).toEqual([]);
  });

  it('surfaces -1022 for a bad signature, -2015 for a bad key and -1021 for timestamps outside recvWindow', async () => {
    const s = await sim();
    expect((await err(rest(s, s.apiKey, 'wrong-secret').getBalanceV3())).code).toBe(-1022);
    const badKey = await err(rest(s, 'nope', s.apiSecret).getBalanceV3());
    expect(badKey.code).toBe(-2015);
    await adminPost(s, 'clock-skew', { ms: 10_000 }); // server ahead: the request is too old
    const old = await err(rest(s).getBalanceV3());
    expect(old.code).toBe(-1021);
    expect(old.message).toBe('Timestamp for this request is outside of the recvWindow.');
    await adminPost(s, 'clock-skew', { ms: -3000 }); // server behind: the request is from the future
    const ahead = await err(rest(s).getBalanceV3());
    expect(ahead.code).toBe(-1021);
    expect(ahead.message).toContain('ahead');
    await adminPost(s, 'clock-skew', { ms: 0 });
    expect(await rest(s).getBalanceV3()).toHaveLength(1);
  });

  it('answers filter breaches with Binance codes, with the reduce-only MIN_NOTIONAL exemption', async () => {
    const s = await sim();
    const c = rest(s);
    const lim = { symbol: 'AVAXUSDT', side: 'BUY' as const, type: 'LIMIT' as const, timeInForce: 'GTC' as const };
    expect((await err(c.submitNewOrder({ ...lim, quantity: 1, price: 30.0005 }))).code).toBe(-4014); // tick 0.001 (4 decimals allowed)
    expect((await err(c.submitNewOrder({ ...lim, quantity: 1, price: 30.00001 }))).code).toBe(-1111); // pricePrecision 4
    expect((await err(c.submitNewOrder({ ...lim, quantity: 1.5, price: 30 }))).code).toBe(-1111); // quantityPrecision 0
    const small = await err(c.submitNewOrder({ ...lim, quantity: 1, price: 4 })); // notional 4 < 5
    expect(small.code).toBe(-4164);
    expect(small.message).toBe("Order's notional must be no smaller than 5 (unless you choose reduce only).");
    // reduce-only passes MIN_NOTIONAL; with no position the exchange then says -2022
    expect((await err(c.submitNewOrder({ ...lim, quantity: 1, price: 4, reduceOnly: 'true' }))).code).toBe(-2022);
    expect((await err(c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'MARKET', quantity: 1, reduceOnly: 'true' }))).code).toBe(-2022);
    expect((await err(c.submitNewOrder({ ...lim, quantity: 0, price: 30 }))).code).toBe(-4003);
    expect((await err(c.submitNewOrder({ ...lim, quantity: 1, price: 60 }))).code).toBe(-4016); // above mark × 1.1
  });

  it('answers -2019 when initial margin (notional / leverage) exceeds the available balance', async () => {
    const s = await sim({ balance: '100' });
    const c = rest(s);
    // ~34 USDT × 100 = ~3400 notional / 20x = ~170 > 100
    expect((await err(c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 100 }))).code).toBe(-2019);
    expect(await c.setLeverage({ symbol: 'AVAXUSDT', leverage: 50 })).toEqual({ leverage: 50, maxNotionalValue: '250000', symbol: 'AVAXUSDT' });
    expect((await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 100 })).status).toBe('NEW');
  });

  it('keeps margin type and position mode with -4046 and -4059', async () => {
    const s = await sim();
    const c = rest(s);
    expect((await err(c.setMarginType({ symbol: 'AVAXUSDT', marginType: 'CROSSED' }))).code).toBe(-4046);
    expect(await c.setMarginType({ symbol: 'AVAXUSDT', marginType: 'ISOLATED' })).toEqual({ code: 200, msg: 'success' });
    expect(await c.getCurrentPositionMode()).toEqual({ dualSidePosition: false });
    expect((await err(c.setPositionMode({ dualSidePosition: 'false' }))).code).toBe(-4059);
  });

  it('creates, keeps alive and closes a listen key with the API key only', async () => {
    const s = await sim();
    const c = rest(s);
    const { listenKey } = await c.getFuturesUserDataListenKey();
    expect(listenKey).toMatch(/^[A-Za-z0-9]{64}$/);
    expect((await c.getFuturesUserDataListenKey()).listenKey).toBe(listenKey);
    expect(await c.keepAliveFuturesUserDataListenKey()).toEqual({ listenKey });
    expect(await c.closeFuturesUserDataListenKey()).toEqual({});
    expect((await err(c.keepAliveFuturesUserDataListenKey())).code).toBe(-1125);
    expect((await err(rest(s, 'nope').getFuturesUserDataListenKey())).code).toBe(-2015);
  });
});

describe('more of the protocol', () => {
  it('fills a resting LIMIT order as maker at its price when a later kline trades through it', async () => {
    const s = await sim();
    const { client, messages } = wsClient(s);
    await client.subscribeUsdFuturesUserDataStream();
    await waitFor(() => s.state().connections.user === 1, 'user connection');
    const c = rest(s);
    // find a later kline whose low reaches below the current open, and bid there
    const ref = new Decimal(FIXTURE[HISTORY]!.open);
    const j = FIXTURE.findIndex((k, i) => i > HISTORY + 1 && new Decimal(k.low).lt(ref.minus('0.05')));
    expect(j).toBeGreaterThan(0);
    const limit = ref.minus('0.05').toFixed(3);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 2, price: limit as unknown as number, timeInForce: 'GTC' }); // sent as the exact text
    // no fill before kline j closes
    let filledAt = -1;
    for (let i = HISTORY; i <= j && filledAt < 0; i++) {
      s.advance(1);
      if (s.state().fills.length > 0) filledAt = i;
    }
    const firstTouch = FIXTURE.findIndex((k, i) => i > HISTORY && new Decimal(k.low).lte(limit));
    expect(filledAt).toBe(firstTouch);
    const [t] = await c.getAccountTrades({ symbol: 'AVAXUSDT' });
    expect(t!.maker).toBe(true);
    expect(t!.price).toBe(new Decimal(limit).toFixed());
    expect(t!.commission).toBe(new Decimal(limit).times(2).times('0.0002').toFixed());
    await waitFor(() => messages.some((m) => m.e === 'ORDER_TRADE_UPDATE' && (m.o as Record<string, unknown>).x === 'TRADE'), 'trade update');
    const tu = messages.find((m) => m.e === 'ORDER_TRADE_UPDATE' && (m.o as Record<string, unknown>).x === 'TRADE') as { o: Record<string, unknown> };
    expect(tu.o.m).toBe(true);
    expect(await c.getAccountCommissionRate({ symbol: 'AVAXUSDT' })).toEqual({ symbol: 'AVAXUSDT', makerCommissionRate: '0.0002', takerCommissionRate: '0.0005' });
  });

  it('verifies signatures over query string + body exactly as sent, and asks for the API key and timestamp', async () => {
    const s = await sim();
    const { createHmac } = await import('node:crypto');
    const sign = (payload: string) => createHmac('sha256', s.apiSecret).update(payload).digest('hex');
    const body = `symbol=AVAXUSDT&side=BUY&type=LIMIT&quantity=1&price=20&timeInForce=GTC&timestamp=${Date.now()}`;
    const ok = await fetch(`${s.url}/fapi/v1/order`, {
      method: 'POST',
      headers: { 'X-MBX-APIKEY': s.apiKey, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `${body}&signature=${sign(body)}`,
    });
    expect(ok.status).toBe(200);
    const json = await ok.text();
    expect(json).toMatch(/"orderId":\d+,/); // a bare JSON number
    expect(ok.headers.get('x-mbx-order-count-10s')).toBe('1');
    // mixed: part in the query, part in the body; the signature covers query + body concatenated
    const q = `symbol=AVAXUSDT&timestamp=${Date.now()}`;
    const b = 'side=BUY&type=LIMIT&quantity=1&price=21&timeInForce=GTC';
    const mixed = await fetch(`${s.url}/fapi/v1/order?${q}`, { method: 'POST', headers: { 'X-MBX-APIKEY': s.apiKey }, body: `${b}&signature=${sign(q + b)}` });
    expect(mixed.status).toBe(200);
    const noKey = await fetch(`${s.url}/fapi/v3/balance?timestamp=${Date.now()}&signature=00`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({ code: -2014, msg: 'API-key format invalid.' });
    const noTs = await fetch(`${s.url}/fapi/v3/balance?signature=${sign('')}`, { headers: { 'X-MBX-APIKEY': s.apiKey } });
    expect(await noTs.json()).toEqual({ code: -1102, msg: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed." });
  });

  it('signs and echoes client order ids with URL-encoded characters, and closes a position reduce-only', async () => {
    const s = await sim();
    const c = rest(s);
    const id = 'x-15PC4ZJy:a/b.c_d';
    const o = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 4, newClientOrderId: id });
    expect(o.clientOrderId).toBe(id);
    s.advance(1);
    expect((await c.getOrder({ symbol: 'AVAXUSDT', origClientOrderId: id })).status).toBe('FILLED');
    // reduce-only larger than the position: capped to it, the rest expires
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'MARKET', quantity: 10, reduceOnly: 'true', newClientOrderId: 'x-15PC4ZJyclose' });
    s.advance(1);
    const closed = await c.getOrder({ symbol: 'AVAXUSDT', origClientOrderId: 'x-15PC4ZJyclose' });
    expect(closed.status).toBe('EXPIRED');
    expect(closed.executedQty).toBe('4');
    expect(await c.getPositionsV3({ symbol: 'AVAXUSDT' })).toEqual([]);
  });

  it('serves the deprecated v2 positionRisk, account and balance the library still has', async () => {
    const s = await sim();
    const c = rest(s);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 3 });
    s.advance(1);
    const [p] = await c.getPositions();
    expect(p).toMatchObject({ symbol: 'AVAXUSDT', positionAmt: '3', leverage: '20', marginType: 'cross', positionSide: 'BOTH', isAutoAddMargin: 'false' });
    const v3 = await c.getBalanceV3();
    expect(await c.getBalance()).toEqual(v3);
    const acct = (await c.getAccountInformation()) as unknown as { canTrade: boolean; positions: { symbol: string; positionAmt: string; leverage: string }[] };
    expect(acct.canTrade).toBe(true);
    expect(acct.positions).toEqual([expect.objectContaining({ symbol: 'AVAXUSDT', positionAmt: '3', leverage: '20' })]);
  });

  it('pages userTrades by fromId and time, newest last', async () => {
    const s = await sim();
    const c = rest(s);
    for (let i = 0; i < 3; i++) {
      await c.submitNewOrder({ symbol: 'AVAXUSDT', side: i % 2 === 0 ? 'BUY' : 'SELL', type: 'MARKET', quantity: 1 });
      s.advance(1);
    }
    const all = await c.getAccountTrades({ symbol: 'AVAXUSDT' });
    expect(all.map((t) => t.id)).toEqual([5000000001, 5000000002, 5000000003]);
    expect((await c.getAccountTrades({ symbol: 'AVAXUSDT', fromId: 5000000002 })).map((t) => t.id)).toEqual([5000000002, 5000000003]);
    expect((await c.getAccountTrades({ symbol: 'AVAXUSDT', limit: 1 })).map((t) => t.id)).toEqual([5000000003]);
    expect((await c.getAccountTrades({ symbol: 'AVAXUSDT', startTime: all[1]!.time })).map((t) => t.id)).toEqual([5000000002, 5000000003]);
    expect(all[1]!.realizedPnl).toBe(new Decimal(all[1]!.price).minus(all[0]!.price).toFixed()); // closed 1 long
  });

  it('with fillOnSubSteps, fills a MARKET order at the next sub-step mark price', async () => {
    const s = await sim({ fillOnSubSteps: true, stepsPerKline: 3 });
    const c = rest(s);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'MARKET', quantity: 1 });
    s.step(1);
    const k = FIXTURE[HISTORY]!;
    const firstExtreme = new Decimal(k.close).gte(k.open) ? k.low : k.high; // the path's second point
    const [t] = await c.getAccountTrades({ symbol: 'AVAXUSDT' });
    expect(t!.price).toBe(new Decimal(firstExtreme).times('0.9999').toNearest('0.001', Decimal.ROUND_FLOOR).toFixed());
  });

  it('limits orders per 10 s with -1015 and stalls a stream for a while only', async () => {
    const s = await sim({ rateLimits: { ordersPer10s: 1 } });
    const c = rest(s);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    const e = await err(c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' }));
    // (unless the first order landed at the very end of a 10-second window)
    if (e.code !== undefined) {
      expect(e.code).toBe(-1015);
      expect(e.message).toBe('Too many new orders; current limit is 1 orders per TEN_SECONDS.');
    }
    await adminPost(s, 'stall', { stream: '*', ms: 30 });
    expect(s.state().faults.stalled).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 40));
    expect(s.state().faults.stalled).toHaveLength(0);
  });
});
