/**
 * Authentication and rate limits of the REST API, as Binance enforces them
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info):
 * - API key in `X-MBX-APIKEY` (-2014 missing, -2015 wrong, HTTP 401);
 * - SIGNED endpoints: `timestamp`, optional `recvWindow` ≤ 60000 (-1131), `signature` = hex
 *   HMAC-SHA256 of the query string + body exactly as sent, minus the signature (-1022); -1021
 *   outside recvWindow or more than 1000 ms ahead of the server clock;
 * - REQUEST_WEIGHT per minute and ORDERS per 10 s / minute: 429 with `Retry-After` (-1003 / -1015)
 *   past a limit, then 418 -1003 (ban) for a client that keeps sending before its Retry-After.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { MINUTE, intParam, type SimContext } from './context.ts';
import { BinanceApiError, apiError } from './wire.ts';

/** Rate-limit accounting of one server. */
export interface RateLimiter {
  /** `X-MBX-USED-WEIGHT-1M`, and for order endpoints `X-MBX-ORDER-COUNT-10S`/`-1M`. */
  headers(isOrder: boolean): Record<string, string>;
  /** Count a request. @throws BinanceApiError 429 / 418 past the limits */
  charge(weight: number, isOrder: boolean): void;
}

/** A rate limiter for `ctx.limits` (windows on the wall clock). */
export function createRateLimiter(ctx: SimContext): RateLimiter {
  const limits = ctx.limits;
  const rl = { minute: 0, weight: 0, tenS: 0, orders10s: 0, orderMinute: 0, orders1m: 0, retryUntil: 0, bannedUntil: 0 };
  function headers(isOrder: boolean): Record<string, string> {
    const h: Record<string, string> = { 'X-MBX-USED-WEIGHT-1M': String(rl.weight) };
    if (isOrder) {
      h['X-MBX-ORDER-COUNT-10S'] = String(rl.orders10s);
      h['X-MBX-ORDER-COUNT-1M'] = String(rl.orders1m);
    }
    return h;
  }
  function charge(weight: number, isOrder: boolean): void {
    const now = Date.now();
    if (now < rl.bannedUntil) {
      const secs = Math.ceil((rl.bannedUntil - now) / 1000);
      throw new BinanceApiError(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${rl.bannedUntil}. Please use the websocket for live updates to avoid bans.`, { 'Retry-After': String(secs) });
    }
    if (now < rl.retryUntil) {
      rl.bannedUntil = now + limits.banMs;
      rl.retryUntil = 0;
      const secs = Math.ceil(limits.banMs / 1000);
      throw new BinanceApiError(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${rl.bannedUntil}. Please use the websocket for live updates to avoid bans.`, { 'Retry-After': String(secs) });
    }
    const minute = Math.floor(now / MINUTE);
    if (minute !== rl.minute) {
      rl.minute = minute;
      rl.weight = 0;
    }
    rl.weight += weight;
    if (rl.weight > limits.weightPerMinute) {
      rl.retryUntil = (minute + 1) * MINUTE;
      const secs = Math.ceil((rl.retryUntil - now) / 1000);
      throw new BinanceApiError(429, -1003, apiError(-1003, [String(limits.weightPerMinute)]).msg, { 'Retry-After': String(secs), ...headers(isOrder) });
    }
    if (isOrder) {
      const tenS = Math.floor(now / 10_000);
      if (tenS !== rl.tenS) {
        rl.tenS = tenS;
        rl.orders10s = 0;
      }
      if (minute !== rl.orderMinute) {
        rl.orderMinute = minute;
        rl.orders1m = 0;
      }
      rl.orders10s++;
      rl.orders1m++;
      if (rl.orders10s > limits.ordersPer10s) {
        const secs = Math.ceil(((tenS + 1) * 10_000 - now) / 1000);
        throw new BinanceApiError(429, -1015, apiError(-1015, [String(limits.ordersPer10s), 'TEN_SECONDS']).msg, { 'Retry-After': String(secs), ...headers(true) });
      }
      if (rl.orders1m > limits.ordersPerMinute) {
        const secs = Math.ceil(((minute + 1) * MINUTE - now) / 1000);
        throw new BinanceApiError(429, -1015, apiError(-1015, [String(limits.ordersPerMinute), 'MINUTE']).msg, { 'Retry-After': String(secs), ...headers(true) });
      }
    }
  }
  return { headers, charge };
}

/**
 * Check the API key and, when `signed`, timestamp/recvWindow and signature.
 * @throws BinanceApiError -2014, -2015 (401), -1102, -1131, -1021, -1022 (400)
 */
export function checkAuth(ctx: SimContext, req: IncomingMessage, rawQuery: string, rawBody: string, p: URLSearchParams, signed: boolean): void {
  const key = req.headers['x-mbx-apikey'];
  if (typeof key !== 'string' || key === '') throw apiError(-2014, [], 401);
  if (key !== ctx.apiKey) throw apiError(-2015, [], 401);
  if (!signed) return;
  const sig = p.get('signature');
  if (sig === null || sig === '') throw apiError(-1102, ['signature']);
  const ts = intParam(p, 'timestamp', true)!;
  const rw = intParam(p, 'recvWindow', false) ?? 5000;
  if (rw > 60000 || rw <= 0) throw apiError(-1131);
  const now = ctx.serverTime();
  if (ts > now + 1000) throw new BinanceApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
  if (now - ts > rw) throw apiError(-1021);
  const strip = (s: string): string => s.split('&').filter((x) => x !== '' && !x.startsWith('signature=')).join('&');
  const payload = strip(rawQuery) + strip(rawBody);
  const want = createHmac('sha256', ctx.apiSecret).update(payload).digest();
  const got = /^[0-9a-fA-F]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw apiError(-1022);
}
