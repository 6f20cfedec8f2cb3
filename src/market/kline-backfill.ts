/**
 * The market source's REST back-fill of closed klines: a bounded number of requests in flight
 * (p-limit), a failed request retried with jittered exponential back-off until it succeeds or the
 * source stops, and failures logged once when the first symbol starts failing and once when the
 * last recovers. Split from binance-source.ts.
 */
import type { Logger } from 'pino';
import pLimit, { type LimitFunction } from 'p-limit';
import { errorMessage } from '../core/errors.ts';
import type { Kline, Symbol } from '../core/types.ts';
import { backoffDelay } from '../exchange/binance/retry.ts';
import { abortableSleep } from '../exchange/binance/rest-gate.ts';

/** Back-off between attempts of a failed back-fill, ms: 1 s doubling to 30 s, with jitter. */
export const BACKFILL_RETRY_MS = { first: 1_000, max: 30_000 } as const;

/** Options of {@link KlineBackfill}. */
export interface KlineBackfillOptions {
  /**
   * Closed klines of `symbol` with openTime in [fromOpenTime, toOpenTime] (UTC epoch ms), from
   * REST, in order. A rejection is retried; one whose error is named `StoppedError` (the bot is
   * stopping) ends the back-fill.
   */
  fetchKlines: (symbol: Symbol, fromOpenTime: number, toOpenTime: number) => Promise<Kline[]>;
  /** Requests in flight at once (each is paced further by the REST weight budget). */
  concurrency: number;
  /** Counters this back-fill adds to (the source's stats). */
  stats: { backfilled: number; backfillFailures: number };
  log: Logger;
  /** Waits between attempts (tests shorten it). Default: a timer that {@link KlineBackfill.stop} ends early. */
  sleep?: (ms: number) => Promise<void>;
  /** Random source in [0, 1) for jitter. */
  random: () => number;
}

/** Back-fills of closed klines from REST, shared by every symbol of a market source. */
export class KlineBackfill {
  private readonly limit: LimitFunction;
  /** Symbols whose back-fill is failing now (logged once when the first starts, once when the last recovers). */
  private readonly failing = new Set<Symbol>();
  /** Aborted by {@link stop}: ends the back-off waits. */
  private readonly stopping = new AbortController();
  private stopped = false;

  /** @throws TypeError from p-limit when `concurrency` is not a whole number ≥ 1 */
  constructor(private readonly o: KlineBackfillOptions) {
    this.limit = pLimit(o.concurrency);
  }

  /**
   * Fetch the closed klines of `symbol` with openTime in [from, to] (UTC epoch ms) and hand each
   * to `deliver`, in order. A failed request is retried with back-off ({@link BACKFILL_RETRY_MS},
   * jittered) until it succeeds or {@link stop} is called; the caller's later klines of that
   * symbol wait on the returned promise, other symbols' back-fills go on. Minutes the exchange
   * itself does not return (an exchange outage) are not asked again. Never rejects for a failed
   * request; rejects only with what `deliver` throws.
   */
  async run(symbol: Symbol, from: number, to: number, deliver: (k: Kline) => Promise<void>): Promise<void> {
    if (to < from) return;
    for (let attempt = 1; !this.stopped; attempt++) {
      // After stop() the queued requests run at once and end here: none reaches the exchange.
      const ks = await this.limit(async () => {
        if (this.stopped) return 'stopped' as const;
        try {
          return await this.o.fetchKlines(symbol, from, to);
        } catch (err) {
          if (this.stopped || (err as { name?: unknown } | null)?.name === 'StoppedError') return 'stopped' as const; // the bot is stopping
          this.o.stats.backfillFailures++;
          if (this.failing.size === 0) this.o.log.error({ symbol, from, to }, `kline back-fill failing: ${errorMessage(err)}; retrying with back-off up to ${BACKFILL_RETRY_MS.max / 1000} s (that symbol's later klines wait; logged again once all recover)`);
          else this.o.log.debug({ symbol, attempt }, `kline back-fill failed again: ${errorMessage(err)}`);
          this.failing.add(symbol);
          return null;
        }
      });
      if (ks === 'stopped') return;
      if (ks === null) {
        await this.sleep(Math.max(BACKFILL_RETRY_MS.first, backoffDelay(attempt, BACKFILL_RETRY_MS.first, BACKFILL_RETRY_MS.max, true, this.o.random)));
        continue;
      }
      if (this.failing.delete(symbol) && this.failing.size === 0) this.o.log.info({ failures: this.o.stats.backfillFailures }, 'kline back-fill recovered for every symbol');
      for (const k of ks) {
        if (k.closed && k.openTime >= from && k.openTime <= to) {
          this.o.stats.backfilled++;
          await deliver(k);
        }
      }
      return;
    }
  }

  /** Stop: queued requests are not sent, back-off waits end, and every {@link run} returns. */
  stop(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  /** Waits `ms` (the injected sleep, else a timer that {@link stop} ends early). */
  private sleep(ms: number): Promise<void> {
    return this.o.sleep ? this.o.sleep(ms) : abortableSleep(ms, this.stopping.signal);
  }
}
