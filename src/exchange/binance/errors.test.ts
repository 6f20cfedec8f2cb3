import { USDMClient } from 'binance';
import { describe, expect, it } from 'vitest';
import { PerpbotError } from '../../core/errors.ts';
import { BINANCE_ERROR_CATALOGUE, classify, retryAfterToMs, toVenueError, VenueError } from './errors.ts';

const KEY = 'testApiKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const SECRET = 'testApiSecretBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

/** A canned HTTP answer (or a thrown network error) served by an axios adapter: no network. */
type Canned = { status: number; body: string; headers?: Record<string, string> } | { throw: Record<string, unknown> };

/** A real `binance` USDMClient whose axios adapter answers `canned`; returns what it rejects with. */
async function rejectionOf(canned: Canned, call: (c: USDMClient) => Promise<unknown>, parseExceptions = false): Promise<unknown> {
  const client = new USDMClient(
    { api_key: KEY, api_secret: SECRET, baseUrl: 'http://127.0.0.1:9', parseExceptions, beautifyResponses: false },
    {
      proxy: false,
      adapter: async (config) => {
        if ('throw' in canned) throw { ...canned.throw, config, request: {} };
        const response = { data: canned.body, status: canned.status, statusText: '', headers: canned.headers ?? {}, config, request: {} };
        if (canned.status >= 200 && canned.status < 300) return response;
        // What axios's settle() rejects with for a non-2xx answer (an AxiosError).
        const code = canned.status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST';
        throw { name: 'AxiosError', message: `Request failed with status code ${canned.status}`, code, config, request: {}, response };
      },
    },
  );
  try {
    await call(client);
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const placeOrder = (c: USDMClient): Promise<unknown> =>
  c.submitNewOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: 0.001, newClientOrderId: 'x-15PC4ZJy-test-1' });
const getOrder = (c: USDMClient): Promise<unknown> => c.getOrder({ symbol: 'BTCUSDT', origClientOrderId: 'x-15PC4ZJy-test-1' });

describe('classify (the catalogue)', () => {
  it.each([
    // [status, code, message, kind, retryable, action]
    [400, -2019, 'Margin is insufficient.', 'business', false, 'none'],
    [400, -4164, "Order's notional must be no smaller than 100", 'business', false, 'none'],
    [400, -1111, 'Precision is over the maximum defined for this asset.', 'business', false, 'none'],
    [400, -4014, 'Price not increased by tick size.', 'business', false, 'none'],
    [400, -2022, 'ReduceOnly Order is rejected.', 'business', false, 'none'],
    [400, -1013, 'Invalid message.', 'business', false, 'none'],
    [400, -4003, 'Quantity less than or equal to zero.', 'business', false, 'none'],
    [400, -2010, 'Order would immediately match and take.', 'business', false, 'none'],
    [400, -2011, 'Unknown order sent.', 'business', false, 'query_order'],
    [400, -2013, 'Order does not exist.', 'business', false, 'none'],
    [400, -4116, 'ClientOrderId is duplicated.', 'business', false, 'query_order'],
    [400, -5022, 'Due to the order could not be executed as maker, the Post Only order will be rejected.', 'business', false, 'none'],
    [400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.", 'clock', true, 'resync_clock'],
    [400, -5028, 'Timestamp for this request is outside of the ME recvWindow.', 'clock', true, 'resync_clock'],
    [401, -2015, 'Invalid API-key, IP, or permissions for action.', 'auth', false, 'halt'],
    [400, -1022, 'Signature for this request is not valid.', 'auth', false, 'halt'],
    [403, null, '', 'auth', false, 'halt'],
    [429, -1003, 'Too many requests; current limit is 2400 requests per minute.', 'rate_limit', true, 'retry'],
    [429, null, '', 'rate_limit', true, 'retry'],
    [400, -1015, 'Too many new orders; current limit is 300 orders per TEN_SECONDS.', 'rate_limit', true, 'retry'],
    [418, -1003, 'Way too many requests; IP banned until 1700000060000.', 'ip_ban', false, 'halt'],
    [null, -1003, 'Way too many requests; IP banned until 1700000060000.', 'ip_ban', false, 'halt'],
    [418, null, '', 'ip_ban', false, 'halt'],
    [503, -1001, 'Internal error; unable to process your request. Please try again.', 'server', true, 'retry'],
    [400, -1008, 'Server is currently overloaded with other requests.', 'server', true, 'retry'],
    [502, null, '', 'server', true, 'retry'],
    [408, null, '', 'timeout', true, 'retry'],
    [400, -1007, 'Timeout waiting for response from backend server.', 'timeout', true, 'retry'],
    [400, -9999, 'something new', 'business', false, 'none'],
  ] as const)('HTTP %s code %s → %s', (status, code, msg, kind, retryable, action) => {
    expect(classify(status, code, msg, { method: 'GET', path: '/fapi/v1/order' })).toMatchObject({ kind, retryable, action });
  });

  it('makes ambiguous answers to an order placement unknown_outcome, never retryable', () => {
    const post = { method: 'POST', path: '/fapi/v1/order' };
    for (const [status, code] of [
      [502, null],
      [500, null],
      [503, null],
      [408, null],
      [400, -1007],
      [500, -1006],
      [500, -1000],
    ] as const) {
      expect(classify(status, code, '', post)).toEqual(expect.objectContaining({ kind: 'unknown_outcome', retryable: false, action: 'query_order' }));
    }
    // A definite refusal of a placement stays what it is.
    expect(classify(400, -2019, '', post).kind).toBe('business');
    expect(classify(400, -4116, '', post)).toMatchObject({ kind: 'business', action: 'query_order' });
    // DELETE and GET are not placements.
    expect(classify(502, null, '', { method: 'DELETE', path: '/fapi/v1/order' }).kind).toBe('server');
    expect(classify(502, null, '', { method: 'POST', path: '/fapi/v1/listenKey' }).kind).toBe('server');
    expect(classify(502, null, '', { method: 'POST', path: '/fapi/v1/batchOrders' }).kind).toBe('unknown_outcome');
  });

  it('never retries a catalogued business error', () => {
    for (const [code, entry] of Object.entries(BINANCE_ERROR_CATALOGUE)) {
      if (entry.kind === 'business') expect({ code, retryable: entry.retryable }).toEqual({ code, retryable: false });
    }
  });

  it('retryAfterToMs reads seconds', () => {
    expect(retryAfterToMs('7')).toBe(7000);
    expect(retryAfterToMs('0.5')).toBe(500);
    expect(retryAfterToMs(undefined)).toBeNull();
    expect(retryAfterToMs('soon')).toBeNull();
  });
});

describe('toVenueError on the binance library’s real rejections (axios adapter, no network)', () => {
  it('400 -2019 from POST order: business, with status, code and name', async () => {
    const err = await rejectionOf({ status: 400, body: '{"code":-2019,"msg":"Margin is insufficient."}' }, placeOrder);
    const v = toVenueError(err);
    expect(v).toBeInstanceOf(VenueError);
    expect(v).toBeInstanceOf(PerpbotError);
    expect(v).toMatchObject({ code: 'VENUE', kind: 'business', binanceCode: -2019, httpStatus: 400, retryable: false, retryAfterMs: null, binanceName: 'MARGIN_NOT_SUFFICIENT' });
    expect(v.message).toBe('Binance POST /fapi/v1/order: HTTP 400, code -2019 MARGIN_NOT_SUFFICIENT, Margin is insufficient.');
  });

  it('the same with the library’s default parsed rejection (no HTTP status in it)', async () => {
    const err = (await rejectionOf({ status: 400, body: '{"code":-2019,"msg":"Margin is insufficient."}' }, placeOrder, true)) as Record<string, unknown>;
    expect(Object.keys(err).sort()).toEqual(['body', 'code', 'headers', 'message', 'requestBody', 'requestOptions', 'requestUrl']);
    const v = toVenueError(err, { method: 'POST' });
    expect(v).toMatchObject({ kind: 'business', binanceCode: -2019, httpStatus: null, retryable: false });
    expect(v.message).toBe('Binance POST /fapi/v1/order: code -2019 MARGIN_NOT_SUFFICIENT, Margin is insufficient.');
  });

  it('429 honours Retry-After', async () => {
    const err = await rejectionOf(
      { status: 429, body: '{"code":-1003,"msg":"Too many requests; current limit is 2400 requests per minute."}', headers: { 'retry-after': '12' } },
      getOrder,
    );
    expect(toVenueError(err)).toMatchObject({ kind: 'rate_limit', retryable: true, retryAfterMs: 12_000, httpStatus: 429, binanceCode: -1003 });
  });

  it('-1003 without Retry-After waits for the next minute given the exchange time', async () => {
    const err = await rejectionOf({ status: 429, body: '{"code":-1003,"msg":"Too many requests."}' }, getOrder);
    expect(toVenueError(err, { now: 1_700_000_025_000 }).retryAfterMs).toBe(15_000);
  });

  it('418 is an IP ban: halt, with the ban’s end', async () => {
    const err = await rejectionOf({ status: 418, body: '{"code":-1003,"msg":"Way too many requests; IP banned until 1700000060000. Please use the websocket for live updates to avoid bans."}' }, getOrder);
    expect(toVenueError(err, { now: 1_700_000_000_000 })).toMatchObject({ kind: 'ip_ban', retryable: false, action: 'halt', retryAfterMs: 60_000, httpStatus: 418 });
  });

  it('a 502 HTML page: server (retry) on GET, unknown_outcome on POST order', async () => {
    const html = { status: 502, body: '<html><body>502 Bad Gateway</body></html>' };
    const g = toVenueError(await rejectionOf(html, getOrder));
    expect(g).toMatchObject({ kind: 'server', retryable: true, httpStatus: 502, binanceCode: null });
    expect(g.message).toBe('Binance GET /fapi/v1/order: HTTP 502, <html><body>502 Bad Gateway</body></html>');
    expect(toVenueError(await rejectionOf(html, placeOrder))).toMatchObject({ kind: 'unknown_outcome', retryable: false, action: 'query_order' });
  });

  it('a timeout: retryable on GET, unknown_outcome on POST order', async () => {
    const timeout = { throw: { code: 'ECONNABORTED', message: 'timeout of 5000ms exceeded' } };
    expect(toVenueError(await rejectionOf(timeout, getOrder))).toMatchObject({ kind: 'timeout', retryable: true, httpStatus: null });
    const p = toVenueError(await rejectionOf(timeout, placeOrder));
    expect(p).toMatchObject({ kind: 'unknown_outcome', retryable: false, action: 'query_order' });
    expect(p.message).toBe('Binance POST /fapi/v1/order: timed out (ECONNABORTED): timeout of 5000ms exceeded');
  });

  it('a refused connection: network, retryable on GET; unknown_outcome on POST order', async () => {
    const refused = { throw: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' } };
    expect(toVenueError(await rejectionOf(refused, getOrder))).toMatchObject({ kind: 'network', retryable: true, action: 'retry' });
    expect(toVenueError(await rejectionOf(refused, placeOrder)).kind).toBe('unknown_outcome');
  });

  it('-1021 is a clock error: resync then retry', async () => {
    const err = await rejectionOf({ status: 400, body: '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}' }, getOrder);
    expect(toVenueError(err)).toMatchObject({ kind: 'clock', retryable: true, action: 'resync_clock' });
  });

  it('never puts the key, the secret or the signature into the message or details', async () => {
    for (const parse of [false, true]) {
      const err = await rejectionOf({ status: 400, body: `{"code":-1022,"msg":"Signature for this request is not valid. signature=deadbeef apiKey=${KEY}"}` }, placeOrder, parse);
      const v = toVenueError(err, { method: 'POST' });
      const text = `${v.message} ${JSON.stringify(v.details)} ${v.stack ?? ''}`;
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('deadbeef');
      expect(text).not.toMatch(/signature=[0-9a-f]{64}/);
      expect(v.kind).toBe('auth');
      expect(v.cause).toBeUndefined();
    }
  });

  it('a string rejection (request never sent) is a non-retryable network error; a VenueError passes through', () => {
    const v = toVenueError('Invalid URL', { method: 'GET', path: '/fapi/v1/time' });
    expect(v).toMatchObject({ kind: 'network', retryable: false });
    expect(v.message).toBe('Binance GET /fapi/v1/time: request not sent: Invalid URL');
    expect(toVenueError(v)).toBe(v);
  });
});
