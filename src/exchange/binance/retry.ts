/**
 * Retries and rate limits for Binance REST calls. Pure: time comes from an injected sleep and an
 * injected {@link Clock}, randomness from an injected source, so tests need no timers.
 *
 * - {@link withRetries}: exponential backoff with full jitter (AWS Architecture Blog,
 *   "Exponential Backoff And Jitter"), retrying only `retryable` {@link VenueError}s, never less
 *   than their `retryAfterMs`; a clock error (-1021) is retried once, after a clock resync.
 * - {@link RateLimitTracker}: reads X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S and
 *   X-MBX-ORDER-COUNT-1M and says how long to wait before the next request so as to stay under
 *   Binance's USDⓈ-M limits (2400 request weight per minute, 300 orders per 10 s, 1200 orders per
 *   minute; GET /fapi/v1/exchangeInfo `rateLimits`), minus a safety margin.
 *   https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info (LIMITS)
 */
import type { Clock } from '../../core/clock.ts';
import { VenueError } from './errors.ts';

/** What {@link withRetries} tells `onRetry` before each wait. */
export interface RetryInfo {
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** How long it will wait before the next attempt, ms. */
  delayMs: number;
  error: VenueError;
}

/** Options of {@link withRetries}. */
export interface RetryOptions {
  /** Total attempts including the first. Default 5. */
  attempts?: number;
  /** Backoff base, ms: the cap of the n-th wait is `baseMs · 2^(n−1)`. Default 250. */
  baseMs?: number;
  /** Largest backoff cap, ms. Default 10 000. */
  maxMs?: number;
  /** Full jitter (wait uniformly in [0, cap]) when true, else exactly the cap. Default true. */
  jitter?: boolean;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Waits `ms`. Default a setTimeout promise; inject a fake in tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait (log it, count it). */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Resynchronises the clock offset (clock-sync.ts) after a `clock` error (-1021, -5028); the call
   * is then retried once. Without it, clock errors are not retried.
   */
  resyncClock?: () => Promise<void>;
  /** Longest wait ever honoured for a `retryAfterMs`, ms; a longer one is rethrown. Default 120 000. */
  maxRetryAfterMs?: number;
  /**
   * Maps what `fn` throws before deciding, e.g. `(e) => toVenueError(e, { method: 'GET', path: '/fapi/v1/order' })`
   * for a raw `binance` library call; what it returns is what gets rethrown. Default: unchanged.
   */
  mapError?: (err: unknown) => unknown;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The n-th backoff wait (n ≥ 1): cap = min(maxMs, baseMs · 2^(n−1)); with jitter a uniform draw
 * in [0, cap] ("full jitter"), otherwise cap.
 * @returns ms, an integer
 */
export function backoffDelay(n: number, baseMs: number, maxMs: number, jitter: boolean, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(jitter ? random() * cap : cap);
}

/**
 * Run `fn` until it succeeds, retrying only retryable {@link VenueError}s.
 *
 * - Any other error (a business error, `unknown_outcome`, `ip_ban`, a non-VenueError) is
 *   rethrown at once: the caller must not resend a possibly placed order.
 * - The wait before attempt n+1 is the larger of the jittered backoff and the error's
 *   `retryAfterMs`; a `retryAfterMs` above `maxRetryAfterMs` is rethrown instead.
 * - A `clock` error is retried once, right after `resyncClock()`, and only if given.
 *
 * @param fn the call; receives the attempt number (1-based)
 * @returns what `fn` returns
 * @throws the last error when attempts run out, or the first non-retryable one
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 5);
  const baseMs = opts.baseMs ?? 250;
  const maxMs = opts.maxMs ?? 10_000;
  const jitter = opts.jitter ?? true;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? defaultSleep;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 120_000;
  let clockRetried = false;
  let backoffN = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (thrown) {
      const err = opts.mapError ? opts.mapError(thrown) : thrown;
      if (!(err instanceof VenueError) || !err.retryable || attempt >= attempts) throw err;
      let delayMs: number;
      if (err.kind === 'clock') {
        if (clockRetried || !opts.resyncClock) throw err;
        clockRetried = true;
        await opts.resyncClock();
        delayMs = 0;
      } else {
        backoffN += 1;
        delayMs = backoffDelay(backoffN, baseMs, maxMs, jitter, random);
        if (err.retryAfterMs !== null) {
          if (err.retryAfterMs > maxRetryAfterMs) throw err;
          delayMs = Math.max(delayMs, err.retryAfterMs);
        }
      }
      opts.onRetry?.({ attempt, delayMs, error: err });
      if (delayMs > 0) await sleep(delayMs);
    }
  }
}

/** Limits tracked by {@link RateLimitTracker}; defaults are Binance USDⓈ-M's. */
export interface RateLimits {
  /** Request weight per minute (REQUEST_WEIGHT, 1 MINUTE). Default 2400. */
  weightPerMinute?: number;
  /** Orders per 10 seconds (ORDERS, 10 SECOND). Default 300. */
  ordersPer10s?: number;
  /** Orders per minute (ORDERS, 1 MINUTE). Default 1200. */
  ordersPerMinute?: number;
  /** Fraction of each limit perpbot allows itself, in (0, 1]. Default 0.8. */
  safety?: number;
}

interface Counter {
  /** Window length, ms. */
  len: number;
  /** Usable budget per window (limit × safety, floored). */
  budget: number;
  /** Start of the window `used` belongs to, UTC epoch ms. */
  start: number;
  used: number;
}

/** Headers the tracker reads, lower case. */
const WEIGHT_1M = 'x-mbx-used-weight-1m';
const ORDERS_10S = 'x-mbx-order-count-10s';
const ORDERS_1M = 'x-mbx-order-count-1m';

/**
 * Binance rate-limit bookkeeping. Binance counts in fixed windows aligned to its clock (the
 * minute's and the 10-second interval's start), and reports the running counts in response
 * headers; the tracker keeps the larger of what the headers said and what it has reserved
 * itself since, so requests in flight count before their answers arrive.
 *
 * Use: `await sleep(tracker.waitMs(w, o)); tracker.reserve(w, o); send; tracker.update(headers)`.
 * The injected clock should be the exchange-corrected one (WallClock with the measured offset).
 */
export class RateLimitTracker {
  private readonly weight: Counter;
  private readonly orders10s: Counter;
  private readonly orders1m: Counter;
  private blockedUntilMs = 0;
  private bannedUntilMs = 0;
  /** Answers 429 (request rate limit) and 418 (IP ban) seen on any REST call since start. */
  readonly answered = { rateLimited429: 0, banned418: 0 };

  /**
   * @param clock time source, UTC epoch ms (exchange time)
   * @param limits limits and safety margin; see {@link RateLimits}
   * @throws RangeError when a limit is not positive or `safety` is outside (0, 1]
   */
  constructor(
    private readonly clock: Clock,
    limits: RateLimits = {},
  ) {
    const safety = limits.safety ?? 0.8;
    if (!(safety > 0 && safety <= 1)) throw new RangeError(`rate limit safety must be in (0, 1], got ${safety}`);
    const mk = (limit: number, len: number, name: string): Counter => {
      if (!(Number.isFinite(limit) && limit > 0)) throw new RangeError(`rate limit ${name} must be positive, got ${limit}`);
      return { len, budget: Math.max(1, Math.floor(limit * safety)), start: 0, used: 0 };
    };
    this.weight = mk(limits.weightPerMinute ?? 2400, 60_000, 'weightPerMinute');
    this.orders10s = mk(limits.ordersPer10s ?? 300, 10_000, 'ordersPer10s');
    this.orders1m = mk(limits.ordersPerMinute ?? 1200, 60_000, 'ordersPerMinute');
  }

  private roll(c: Counter, now: number): void {
    const start = now - (now % c.len);
    if (start !== c.start) {
      c.start = start;
      c.used = 0;
    }
  }

  /**
   * Record the counts a response reported (header names in any case; values as text or numbers).
   * A header absent from the response leaves its counter alone.
   * @param headers response headers (axios's object, or any record)
   */
  update(headers: Record<string, unknown> | undefined | null): void {
    if (!headers) return;
    const now = this.clock.now();
    const read = (name: string): number | undefined => {
      for (const [k, v] of Object.entries(headers)) {
        if (k.toLowerCase() !== name) continue;
        const n = Number(Array.isArray(v) ? v[0] : v);
        return Number.isFinite(n) && n >= 0 ? n : undefined;
      }
      return undefined;
    };
    for (const [c, name] of [
      [this.weight, WEIGHT_1M],
      [this.orders10s, ORDERS_10S],
      [this.orders1m, ORDERS_1M],
    ] as const) {
      const v = read(name);
      if (v === undefined) continue;
      this.roll(c, now);
      c.used = Math.max(c.used, v);
    }
  }

  /**
   * Count a request about to be sent: `weight` request weight and `orders` orders (1 for a new
   * order, 0 for queries and cancels).
   */
  reserve(weight: number, orders = 0): void {
    const now = this.clock.now();
    this.roll(this.weight, now);
    this.weight.used += weight;
    if (orders > 0) {
      this.roll(this.orders10s, now);
      this.roll(this.orders1m, now);
      this.orders10s.used += orders;
      this.orders1m.used += orders;
    }
  }

  /**
   * How long to wait before a request of `weight` and `orders` fits every budget.
   * @returns ms; 0 when it fits now, else the time to the start of the window that frees room
   * @throws RangeError when the request alone exceeds a budget (it would never fit)
   */
  waitMs(weight: number, orders = 0): number {
    const now = this.clock.now();
    let wait = 0;
    const check = (c: Counter, cost: number, name: string): void => {
      if (cost <= 0) return;
      if (cost > c.budget) throw new RangeError(`a request of ${cost} ${name} exceeds the budget of ${c.budget} per ${c.len / 1000} s`);
      this.roll(c, now);
      if (c.used + cost > c.budget) wait = Math.max(wait, c.start + c.len - now);
    };
    check(this.weight, weight, 'weight');
    check(this.orders10s, orders, 'orders');
    check(this.orders1m, orders, 'orders');
    return wait;
  }

  /**
   * Block every REST call for `retryAfterMs` (a 429 or 418 answer's Retry-After): hammering on
   * through a 429 earns a 418 IP ban, and requests during a ban lengthen it.
   * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info (LIMITS).
   * @param retryAfterMs how long, ms (≤ 0: nothing)
   * @param ban true for a 418 (IP ban): {@link bannedUntil} reports it until it ends
   */
  block(retryAfterMs: number, ban = false): void {
    if (!(retryAfterMs > 0)) return;
    const until = this.clock.now() + retryAfterMs;
    this.blockedUntilMs = Math.max(this.blockedUntilMs, until);
    if (ban) this.bannedUntilMs = Math.max(this.bannedUntilMs, until);
  }

  /**
   * Count a 429 or 418 answer (the venue and the REST gate call this for every one they get), for
   * the heartbeat and /metrics.
   * @param ban true for a 418
   */
  noteLimited(ban: boolean): void {
    if (ban) this.answered.banned418++;
    else this.answered.rateLimited429++;
  }

  /** How long every REST call must still wait for a 429/418 block, ms (0: none). */
  blockedMs(): number {
    return Math.max(0, this.blockedUntilMs - this.clock.now());
  }

  /** End of the IP ban in force (418), UTC epoch ms (exchange clock), or null when none is. */
  bannedUntil(): number | null {
    return this.bannedUntilMs > this.clock.now() ? this.bannedUntilMs : null;
  }

  /** Current counts in their windows, for the heartbeat. */
  snapshot(): { weight1m: number; orders10s: number; orders1m: number } {
    const now = this.clock.now();
    this.roll(this.weight, now);
    this.roll(this.orders10s, now);
    this.roll(this.orders1m, now);
    return { weight1m: this.weight.used, orders10s: this.orders10s.used, orders1m: this.orders1m.used };
  }
}
