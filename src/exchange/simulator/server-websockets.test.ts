/**
 * The simulator's websockets: market and user streams through the real `binance` library's
 * WebsocketClient, and the stream paths, subscriptions, listen-key expiry and the data clock seen
 * with a plain `ws` client, on 127.0.0.1. The data clock is paused and driven by hand except in
 * the tests of the running clock; otherwise only short waits for frames to arrive on a socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Decimal } from '../../core/decimal.ts';
import { FIXTURE, HISTORY, closeOpen, err, open, rest, sim, waitFor, wsClient } from './server-test-support.ts';

afterEach(closeOpen);

describe('websockets through WebsocketClient', () => {
  it('streams non-final and final kline frames and mark prices on /market/stream', async () => {
    const s = await sim({ stepsPerKline: 4 });
    const { client, messages } = wsClient(s);
    await client.subscribeKlines('AVAXUSDT', '1m', 'usdm');
    await client.subscribeMarkPrice('AVAXUSDT', 'usdm', 1000);
    await waitFor(() => ['avaxusdt@kline_1m', 'avaxusdt@markPrice@1s'].every((x) => s.state().connections.streams.includes(x)), 'subscriptions');
    s.advance(1);
    await waitFor(() => messages.filter((m) => m.e === 'kline').length >= 4, 'kline frames');
    // played by hand: a mark price with every sub-step (the last one: the next kline's open)
    await waitFor(() => messages.filter((m) => m.e === 'markPriceUpdate').length >= 5, 'mark price frames');
    const klines = messages.filter((m) => m.e === 'kline') as { E: number; s: string; k: Record<string, unknown> }[];
    const k = FIXTURE[HISTORY]!;
    expect(klines.map((m) => m.k.x)).toEqual([false, false, false, true, false]);
    const final = klines[3]!;
    expect(final.s).toBe('AVAXUSDT');
    expect(final.k).toMatchObject({ s: 'AVAXUSDT', i: '1m', o: k.open, h: k.high, l: k.low, c: k.close, v: k.volume, q: k.quoteVolume, n: k.trades, x: true });
    expect(Object.keys(final.k).sort()).toEqual(['B', 'L', 'Q', 'T', 'V', 'c', 'f', 'h', 'i', 'l', 'n', 'o', 'q', 's', 't', 'v', 'x'].sort());
    expect((final.k.T as number) - (final.k.t as number)).toBe(59_999);
    expect(final.k.L as number - (final.k.f as number)).toBe((k.trades ?? 0) - 1);
    // the first partial frame (x=false) of the next kline opens at its open
    expect(klines[4]!.k).toMatchObject({ o: FIXTURE[HISTORY + 1]!.open, c: FIXTURE[HISTORY + 1]!.open, x: false });
    const marks = messages.filter((m) => m.e === 'markPriceUpdate') as Record<string, unknown>[];
    expect(marks.length).toBeGreaterThanOrEqual(4);
    expect(Object.keys(marks[0]!).filter((x) => x.length <= 2).sort()).toEqual(['E', 'P', 'T', 'e', 'i', 'p', 'r', 's']);
    expect(marks.at(-1)!.p).toBe(FIXTURE[HISTORY + 1]!.open);
  });

  it('delivers ORDER_TRADE_UPDATE and ACCOUNT_UPDATE on the user stream (/private/stream?listenKey=)', async () => {
    const s = await sim();
    const { client, messages } = wsClient(s);
    await client.subscribeUsdFuturesUserDataStream();
    await waitFor(() => s.state().connections.user === 1, 'user connection');
    const c = rest(s);
    const o = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'MARKET', quantity: 3, newClientOrderId: 'x-15PC4ZJyws1' });
    s.advance(1);
    await waitFor(() => messages.some((m) => m.e === 'ACCOUNT_UPDATE'), 'ACCOUNT_UPDATE');
    const updates = messages.filter((m) => m.e === 'ORDER_TRADE_UPDATE') as { E: number; T: number; o: Record<string, unknown> }[];
    expect(updates.map((u) => [u.o.x, u.o.X])).toEqual([
      ['NEW', 'NEW'],
      ['TRADE', 'FILLED'],
    ]);
    const trade = updates[1]!.o;
    const expected = new Decimal(FIXTURE[HISTORY + 1]!.open).times('0.9999').toNearest('0.001', Decimal.ROUND_FLOOR);
    expect(trade).toMatchObject({ s: 'AVAXUSDT', c: 'x-15PC4ZJyws1', S: 'SELL', o: 'MARKET', q: '3', l: '3', z: '3', L: expected.toFixed(), ap: expected.toFixed(), N: 'USDT', m: false, R: false, ps: 'BOTH' });
    expect(trade.i).toBe(o.orderId);
    expect(trade.n).toBe(expected.times(3).times('0.0005').toFixed());
    expect(Object.keys(trade).sort()).toEqual(
      ['s', 'c', 'S', 'o', 'f', 'q', 'p', 'ap', 'sp', 'x', 'X', 'i', 'l', 'z', 'L', 'n', 'N', 'T', 't', 'b', 'a', 'm', 'R', 'wt', 'ot', 'ps', 'cp', 'rp', 'pP', 'si', 'ss', 'V', 'pm', 'gtd'].sort(),
    );
    const acct = messages.find((m) => m.e === 'ACCOUNT_UPDATE') as { a: { m: string; B: Record<string, string>[]; P: Record<string, string>[] } };
    expect(acct.a.m).toBe('ORDER');
    expect(acct.a.P[0]).toMatchObject({ s: 'AVAXUSDT', pa: '-3', ep: expected.toFixed(), mt: 'cross', ps: 'BOTH', ma: 'USDT' });
    expect(acct.a.B[0]!.wb).toBe(new Decimal(10000).minus(expected.times(3).times('0.0005')).toFixed());
  });
});

describe('websocket paths with a plain ws client', () => {
  it('works when the library is given a wsUrl that already ends in /market/stream', async () => {
    const s = await sim();
    const { client, messages } = wsClient(s, `${s.wsUrl}/market/stream`);
    await client.subscribeKlines('AVAXUSDT', '1m', 'usdm');
    await client.subscribeUsdFuturesUserDataStream();
    await waitFor(() => s.state().connections.streams.includes('avaxusdt@kline_1m') && s.state().connections.user === 1, 'both connections');
    await rest(s).submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    s.step(1);
    await waitFor(() => messages.some((m) => m.e === 'kline') && messages.some((m) => m.e === 'ORDER_TRADE_UPDATE'), 'frames on both');
  });

  /** Open a socket and collect its parsed text frames. */
  async function connect(url: string): Promise<{ ws: WebSocket; frames: Record<string, unknown>[] }> {
    const ws = new WebSocket(url);
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    open.push({ close: () => ws.terminate() });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, frames };
  }

  it('serves ?streams= combined, /ws/<stream> raw, SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS and pings', async () => {
    const s = await sim();
    const combined = await connect(`${s.wsUrl}/stream?streams=avaxusdt@kline_1m/avaxusdt@markPrice`);
    const rawSock = await connect(`${s.wsUrl}/ws/avaxusdt@kline_1m`);
    const sub = await connect(`${s.wsUrl}/ws`);
    sub.ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['!markPrice@arr@1s'], id: 7 }));
    await waitFor(() => sub.frames.length === 1, 'subscribe answer');
    expect(sub.frames[0]).toEqual({ result: null, id: 7 });
    sub.ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 8 }));
    await waitFor(() => sub.frames.length === 2, 'list answer');
    expect(sub.frames[1]).toEqual({ result: ['!markPrice@arr@1s'], id: 8 });
    const pong = new Promise<void>((resolve) => sub.ws.once('pong', () => resolve()));
    sub.ws.ping();
    await pong;

    s.step(1);
    await waitFor(() => combined.frames.length >= 2 && rawSock.frames.length >= 1 && sub.frames.length >= 3, 'frames');
    expect(combined.frames.map((f) => f.stream).sort()).toEqual(['avaxusdt@kline_1m', 'avaxusdt@markPrice']);
    expect((combined.frames[0]!.data as Record<string, unknown>).s).toBe('AVAXUSDT');
    expect(rawSock.frames[0]!.e).toBe('kline'); // raw: no {stream,data} wrapper
    expect(Array.isArray(sub.frames[2])).toBe(true);

    sub.ws.send(JSON.stringify({ method: 'UNSUBSCRIBE', params: ['!markPrice@arr@1s'], id: 9 }));
    await waitFor(() => sub.frames.length === 4, 'unsubscribe answer');
    s.step(1);
    await waitFor(() => rawSock.frames.length >= 2, 'next raw frame');
    expect(sub.frames).toHaveLength(4);
  });

  it('serves the user stream raw on /ws/<listenKey> and refuses unknown listen keys', async () => {
    const s = await sim();
    const { listenKey } = await rest(s).getFuturesUserDataListenKey();
    const user = await connect(`${s.wsUrl}/ws/${listenKey}`);
    await rest(s).submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    await waitFor(() => user.frames.length === 1, 'order update');
    expect(user.frames[0]!.e).toBe('ORDER_TRADE_UPDATE');
    const bad = new WebSocket(`${s.wsUrl}/private/stream?listenKey=nope`);
    open.push({ close: () => bad.terminate() });
    const status = await new Promise<number>((resolve) => bad.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(400);
    bad.on('error', () => {});
  });

  it('expires a listen key after its TTL unless kept alive, sending listenKeyExpired and closing the socket', async () => {
    const s = await sim({ listenKeyTtlMs: 600 });
    const c = rest(s);
    const { listenKey } = await c.getFuturesUserDataListenKey();
    const user = await connect(`${s.wsUrl}/private/ws?listenKey=${listenKey}`);
    const closed = new Promise<number>((resolve) => user.ws.once('close', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 300));
    await c.keepAliveFuturesUserDataListenKey(); // pushes expiry to ~now + 600 ms
    await new Promise((r) => setTimeout(r, 400));
    expect(user.frames).toHaveLength(0); // 700 ms after creation, still alive thanks to the keepalive
    expect(await closed).toBe(1000);
    expect(user.frames).toEqual([{ e: 'listenKeyExpired', E: expect.stringMatching(/^\d+$/), listenKey }]);
    expect((await err(c.keepAliveFuturesUserDataListenKey())).code).toBe(-1125);
  });

  it('runs the data clock in real time at the given speed when not paused', async () => {
    const s = await sim({ paused: false, speed: 6000, stepsPerKline: 2 }); // a kline every 10 ms
    await waitFor(() => s.state().klineIndex >= HISTORY + 3, 'klines closing in real time');
    s.pause();
    const at = s.state().klineIndex;
    await new Promise((r) => setTimeout(r, 50));
    expect(s.state().klineIndex).toBe(at);
  });

  it('keeps the data clock on the wall clock: a late timer catches up instead of falling behind', async () => {
    const s = await sim({ paused: false, speed: 600, stepsPerKline: 12 }); // a sub-step every ~8.3 ms, a kline every 100 ms
    const t0 = s.dataTime();
    const wall = Date.now();
    while (Date.now() - wall < 300) {
      // block the event loop for 300 ms: the interval timer cannot fire meanwhile
    }
    await new Promise((r) => setTimeout(r, 30));
    s.pause();
    // 330 ms of wall time at ×600 ≈ 198 s of data; a clock that counted timer ticks would show ~5–10 s
    expect(s.dataTime() - t0).toBeGreaterThanOrEqual(180_000);
  });
});
