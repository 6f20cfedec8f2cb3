/**
 * The simulator's admin fault injection (REST errors and hangs, delayed order acknowledgements,
 * dropped websockets, stalled streams, expired listen keys, GET /admin/state) and its rate limits,
 * against the real `binance` library on 127.0.0.1. The data clock is paused and driven by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { USDMClient } from 'binance';
import { Decimal } from '../../core/decimal.ts';
import { HISTORY, adminPost, closeOpen, err, rest, sim, waitFor, wsClient } from './server-test-support.ts';

afterEach(closeOpen);

describe('admin fault injection', () => {
  it('answers 5xx or hangs the next REST requests', async () => {
    const s = await sim();
    const c = rest(s);
    await adminPost(s, 'rest-errors', { count: 2, status: 502 });
    const e1 = (await err(c.testConnectivity())) as unknown as { code: number; headers?: unknown };
    expect(e1.code).toBe(-1001);
    await err(c.testConnectivity());
    expect(await c.testConnectivity()).toEqual({});
    await adminPost(s, 'rest-hang', { count: 1 });
    const hung = new USDMClient({ baseUrl: s.url }, { proxy: false, timeout: 200 });
    const h = (await err(hung.testConnectivity())) as unknown as { code?: string; message?: string };
    expect(String(h.code ?? h.message)).toMatch(/ECONNABORTED|timeout/);
    expect(await c.testConnectivity()).toEqual({});
  });

  it('hangs only the requests of the given "METHOD /path" when asked so; other requests are answered meanwhile', async () => {
    const s = await sim();
    const c = rest(s);
    await adminPost(s, 'rest-hang', { count: 1, request: 'GET /fapi/v1/time' });
    expect(await c.testConnectivity()).toEqual({}); // GET /fapi/v1/ping: answered, the hang still armed
    expect(s.state().faults.restHangs).toBe(1);
    const hung = new USDMClient({ baseUrl: s.url }, { proxy: false, timeout: 200 });
    const h = (await err(hung.getServerTime())) as unknown as { code?: string; message?: string };
    expect(String(h.code ?? h.message)).toMatch(/ECONNABORTED|timeout/);
    expect(s.state().faults.restHangs).toBe(0);
    expect(typeof (await c.getServerTime())).toBe('number');
    const bad = await fetch(`${s.url}/admin/rest-hang`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 1, request: 'fapi/v1/order' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('request: expected "METHOD /path"');
  });

  it('delays order acknowledgements while the order is already live', async () => {
    const s = await sim();
    const c = rest(s);
    await adminPost(s, 'order-ack-delay', { ms: 150 });
    const t = Date.now();
    const pending = c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    await waitFor(() => s.state().openOrders.length === 1, 'order on the book');
    await pending;
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('drops websockets (the client reconnects), stalls a stream and expires listen keys', async () => {
    const s = await sim();
    const { client, messages } = wsClient(s);
    const reconnected: unknown[] = [];
    client.on('reconnected', (e: unknown) => reconnected.push(e));
    await client.subscribeKlines('AVAXUSDT', '1m', 'usdm');
    await waitFor(() => s.state().connections.streams.includes('avaxusdt@kline_1m'), 'subscription');

    await adminPost(s, 'stall', { stream: 'avaxusdt@kline_1m' });
    s.advance(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(messages.filter((m) => m.e === 'kline')).toHaveLength(0);
    await adminPost(s, 'unstall', { stream: 'avaxusdt@kline_1m' });
    s.step(1);
    await waitFor(() => messages.some((m) => m.e === 'kline'), 'kline after unstall');

    const dropped = (await adminPost(s, 'drop-websockets')) as { dropped: number };
    expect(dropped.dropped).toBe(1);
    await waitFor(() => reconnected.length === 1 && s.state().connections.streams.includes('avaxusdt@kline_1m'), 'reconnect and resubscribe', 5000);

    await client.subscribeUsdFuturesUserDataStream();
    await waitFor(() => s.state().connections.user === 1, 'user connection');
    const key = s.state().listenKeys[0]!.listenKey;
    await adminPost(s, 'expire-listen-keys');
    await waitFor(() => messages.some((m) => m.e === 'listenKeyExpired'), 'listenKeyExpired');
    expect(messages.find((m) => m.e === 'listenKeyExpired')).toMatchObject({ listenKey: key, E: expect.stringMatching(/^\d{13}$/) });
    // the client respawns the user stream with a fresh listen key
    await waitFor(() => s.state().connections.user === 1 && s.state().listenKeys.length === 1, 'respawned user stream', 5000);
  });

  it('reports orders, fills, positions and balance on GET /admin/state', async () => {
    const s = await sim();
    await rest(s).submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 2 });
    s.advance(1);
    const st = (await (await fetch(`${s.url}/admin/state`)).json()) as { fills: unknown[]; positions: { positionAmt: string }[]; balance: string; klineIndex: number };
    expect(st.fills).toHaveLength(1);
    expect(st.positions[0]!.positionAmt).toBe('2');
    expect(st.klineIndex).toBe(HISTORY + 1);
    expect(new Decimal(st.balance).lt(10000)).toBe(true);
  });
});

describe('rate limits', () => {
  it('reports used weight and order counts, answers 429 with Retry-After past the limit, then 418 when the client keeps going', async () => {
    const s = await sim({ rateLimits: { weightPerMinute: 3, banMs: 5000 } });
    const c = rest(s);
    await c.testConnectivity();
    expect(c.getRateLimitStates()['x-mbx-used-weight-1m']).toBe(1);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    expect(c.getRateLimitStates()['x-mbx-order-count-10s']).toBe(1);
    expect(c.getRateLimitStates()['x-mbx-order-count-1m']).toBe(1);
    await c.testConnectivity();
    await c.testConnectivity();
    const e = await err(c.testConnectivity());
    expect(e.code).toBe(-1003);
    expect(Number(e.headers['retry-after'])).toBeGreaterThan(0);
    const banned = await err(c.testConnectivity());
    expect(banned.code).toBe(-1003);
    expect(banned.message).toContain('banned');
    expect(Number(banned.headers['retry-after'])).toBe(5);
  });
});
