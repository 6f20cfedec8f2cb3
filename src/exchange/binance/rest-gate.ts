/**
 * One gate for every Binance REST call that is not an order (start-up, back-fill, account
 * set-up, refreshes): before a call it waits out a 429/418 block and the request-weight budget of
 * the shared {@link RateLimitTracker}, reserves the call's weight, and after the answer records the
 * weight Binance reported (X-MBX-USED-WEIGHT-1M) and any Retry-After. The venue throttles its own
 * calls against the same tracker, so both draw on one budget and one block.
 *
 * Sources: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 * (LIMITS: 2400 request weight per minute per IP; 429 with Retry-After; repeated violations earn
 * a 418 IP ban of 2 minutes to 3 days), and each endpoint's "Request Weight" section.
 */
import type { RateLimitTracker } from './retry.ts';
import { toVenueError, type VenueError } from './errors.ts';

/** The part of the `binance` library's REST client the gate reads. */
export interface RateLimitHeaderSource {
  /** The latest rate-limit headers the client saw (X-MBX-USED-WEIGHT-1M…). */
  getRateLimitStates(): unknown;
}

/** Options of {@link RestGate}. */
export interface RestGateOptions {
  /** Waits `ms`; tests inject a fake. Default: an unref'd timer that ends early when `signal` aborts. */
  sleep?: (ms: number) => Promise<void>;
  /** Aborted when the bot stops: waiting calls give up (throw {@link StoppedError}) instead of sending. */
  signal?: AbortSignal;
  /** Told of every 429/418 answer (after the block is recorded): log it, halt on a ban. */
  onLimited?: (err: VenueError) => void;
}

/** Thrown by calls abandoned because the bot is stopping. */
export class StoppedError extends Error {
  constructor(what = 'a REST call') {
    super(`${what} abandoned: the bot is stopping`);
    this.name = 'StoppedError';
  }
}

/**
 * Wait `ms`, ending early (resolved) when `signal` aborts; the timer never keeps the process alive.
 * @param ms how long, ms
 * @param signal optional abort signal
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    t.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Kline request weight by `limit`, Binance USDⓈ-M GET /fapi/v1/klines: [1,100) → 1,
 * [100,500) → 2, [500,1000] → 5, > 1000 → 10.
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
 * @param limit klines asked for, 1..1500
 */
export function klineWeight(limit: number): number {
  return limit < 100 ? 1 : limit < 500 ? 2 : limit <= 1000 ? 5 : 10;
}

/**
 * The `limit` of a kline page for `remaining` klines, cheapest per kline: up to 99 in one
 * weight-1 request; beyond, pages of 499 (weight 2: 250 klines per weight, against 200 for
 * 1000 at weight 5 and 150 for 1500 at weight 10).
 * @param remaining klines still wanted, ≥ 1
 * @returns the limit to send, 1..499
 */
export function klinePageLimit(remaining: number): number {
  return remaining <= 99 ? Math.max(1, remaining) : 499;
}

/** Waits, reserves and records around REST calls; see the file's header. */
export class RestGate {
  /** Calls made, and calls that ended in a 429/418. */
  readonly stats = { calls: 0, limited: 0 };
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly rest: RateLimitHeaderSource,
    readonly limits: RateLimitTracker,
    private readonly o: RestGateOptions = {},
  ) {
    this.sleep = o.sleep ?? ((ms) => abortableSleep(ms, o.signal));
  }

  /**
   * Run `call` once it fits: after any 429/418 block and within the weight budget.
   * @param weight the endpoint's request weight (Binance's docs), ≥ 1
   * @param call the library call
   * @returns what `call` returns
   * @throws what `call` throws (unchanged); RangeError when `weight` exceeds the budget;
   *   {@link StoppedError} once `signal` aborted
   */
  async call<T>(weight: number, call: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.o.signal?.aborted) throw new StoppedError();
      const blocked = this.limits.blockedMs();
      if (blocked > 0) {
        await this.sleep(blocked);
        continue;
      }
      const wait = this.limits.waitMs(weight);
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      break;
    }
    if (this.o.signal?.aborted) throw new StoppedError();
    this.limits.reserve(weight);
    this.stats.calls++;
    try {
      return await call();
    } catch (err) {
      const ve = toVenueError(err);
      if (ve.kind === 'rate_limit' || ve.kind === 'ip_ban') {
        this.stats.limited++;
        this.limits.noteLimited(ve.kind === 'ip_ban');
        // No Retry-After: wait out the rest of the minute window (Binance counts per minute).
        this.limits.block(ve.retryAfterMs ?? 60_000, ve.kind === 'ip_ban');
        this.o.onLimited?.(ve);
      }
      throw err;
    } finally {
      const st = this.rest.getRateLimitStates() as Record<string, unknown> | undefined;
      if (st) this.limits.update({ 'x-mbx-used-weight-1m': st['x-mbx-used-weight-1m'] });
    }
  }
}
