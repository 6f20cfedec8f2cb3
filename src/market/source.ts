/**
 * Market data sources: where klines and mark prices come from. Replay reads recorded files;
 * live and paper read Binance's websockets. The kernel gives every source the same
 * {@link MarketFeed}, so strategies, the executor and the recorder cannot tell them apart.
 */
import type { Kline, MarkPriceUpdated, Symbol } from '../core/types.ts';
import type { SourceHealth } from '../health/heartbeat.ts';

/** What a source feeds into the kernel. */
export interface MarketFeed {
  /**
   * Klines that closed at the same minute (at most one per symbol), in time order across calls.
   * The bot may take the next ones when this returns undefined, or once the returned promise
   * resolves: in replay, after every decision and order caused by these klines (deterministic);
   * live, as soon as they are queued.
   */
  klines(group: readonly Kline[]): Promise<void> | undefined;
  /** A mark price update (may be conflated by the bus under load). */
  markPrice(update: MarkPriceUpdated): void;
  /** The source's health changed (connected, stale, reconnecting): the heartbeat is written now. */
  healthChanged(): void;
}

/** A source of market data for a set of symbols. */
export interface MarketDataSource {
  /** A short name for logs, e.g. `replay` or `binance-mainnet`. */
  readonly name: string;
  readonly symbols: readonly Symbol[];
  /** Stream into `feed` until the data ends (replay) or {@link stop} is called (live). */
  run(feed: MarketFeed): Promise<void>;
  /** Ask {@link run} to finish after the current step. */
  stop(): void;
  /** Health per symbol (stream), for the heartbeat. */
  health(): Record<Symbol, SourceHealth>;
}
