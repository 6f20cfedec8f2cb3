/**
 * Multi-timeframe bars from closed 1-minute klines: one aggregator per (strategy instance,
 * symbol) inside the strategy host, so replay, backtest, paper and live build bars the same way
 * from the same `KlineClosed` events.
 *
 * - Windows are [anchor + k·I, anchor + (k+1)·I) in UTC epoch ms, I the interval; the anchor is
 *   00:00 UTC, or the symbol's session open (`sessions.<SYMBOL>.alignBars`). Every supported
 *   interval divides a day, so the windows repeat identically every day.
 * - A bar closes with its last minute: it is emitted when the 1m kline opening at window end − 1 min
 *   closes. If that minute never comes, the bar is emitted when the first kline of a later window
 *   arrives (flagged, see below), never by a timer: a bar is only built from minutes seen.
 * - A missing minute is never invented: the bar keeps the minutes it has, `missingMinutes` counts
 *   the absent ones and `complete` is false. Gaps between consecutive klines are counted
 *   ({@link BarAggregator.gapMinutes}) and reported through the `onGap` callback (the host logs
 *   them). A window with no minute at all produces no bar. The first bar after start-up usually
 *   starts mid-window: it is emitted flagged incomplete too (its earlier minutes were not seen).
 * - Prices and volumes stay decimal strings: open = first minute's open, close = last minute's
 *   close, high/low = the extreme minute's text, volume = exact decimal sum.
 */
import type { Kline } from '../../src/core/types.ts';
import { Decimal, str } from '../../src/core/decimal.ts';
import { decimalToNumber } from '../../src/core/number-text.ts';

/** The bar intervals a strategy may ask for (Binance spelling). */
export const BAR_INTERVALS = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '1d'] as const;
/** One of {@link BAR_INTERVALS}. */
export type BarInterval = (typeof BAR_INTERVALS)[number];

/** Length of each interval, ms. */
export const INTERVAL_MS: Record<BarInterval, number> = {
  '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000,
  '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '1d': 86_400_000,
};

/** A closed multi-timeframe bar. Prices quote asset, volume base asset, decimal text; times UTC epoch ms. */
export interface Bar {
  symbol: string;
  interval: BarInterval;
  /** Window start. */
  openTime: number;
  /** Window end − 1 ms (Binance convention). */
  closeTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  /** 1m klines in the bar. */
  minutes: number;
  /** Minutes of the window with no kline (0 for a complete bar). */
  missingMinutes: number;
  /** True when every minute of the window was seen. */
  complete: boolean;
  /**
   * Open time of the 1m kline whose close emitted this bar: the window's last minute, or a later
   * minute when the last minute was missing. A signal decided on the bar uses it as `klineOpenTime`.
   */
  emittedOnKlineOpenTime: number;
}

/** A gap between two consecutive 1m klines. */
export interface KlineGap {
  symbol: string;
  /** Open time of the first missing minute. */
  from: number;
  /** Missing minutes. */
  minutes: number;
}

interface Building {
  openTime: number;
  open: string;
  high: string;
  low: string;
  highN: number;
  lowN: number;
  close: string;
  volume: Decimal;
  minutes: number;
}

/**
 * Aggregates one symbol's closed 1m klines into bars of several intervals.
 */
export class BarAggregator {
  private readonly building = new Map<BarInterval, Building>();
  private lastOpenTime: number | null = null;
  private gaps = 0;
  private readonly intervals: BarInterval[];

  /**
   * @param symbol the symbol whose klines are fed
   * @param intervals intervals to build, each one of {@link BAR_INTERVALS} ('1m' passes klines through as bars)
   * @param anchorMs window alignment, ms after 00:00 UTC (0 = UTC; a session open otherwise), a
   *   whole number of minutes in [0, 1 day)
   * @param onGap called for each gap between consecutive klines (the host logs it)
   * @throws RangeError for an unknown interval or a bad anchor
   */
  constructor(
    readonly symbol: string,
    intervals: readonly string[],
    readonly anchorMs = 0,
    private readonly onGap?: (gap: KlineGap) => void,
  ) {
    for (const i of intervals) {
      if (!(BAR_INTERVALS as readonly string[]).includes(i)) {
        throw new RangeError(`bar interval: got "${i}", expected one of ${BAR_INTERVALS.join(', ')}`);
      }
    }
    if (!Number.isInteger(anchorMs / 60_000) || anchorMs < 0 || anchorMs >= 86_400_000) {
      throw new RangeError(`bar anchor: got ${anchorMs} ms, expected whole minutes in [0, 1 day)`);
    }
    this.intervals = [...new Set(intervals as BarInterval[])].sort((a, b) => INTERVAL_MS[a] - INTERVAL_MS[b]);
  }

  /** Minutes missing between consecutive klines so far. */
  get gapMinutes(): number {
    return this.gaps;
  }

  /** Start of the window of `interval` containing `t`. */
  windowStart(interval: BarInterval, t: number): number {
    const len = INTERVAL_MS[interval];
    return Math.floor((t - this.anchorMs) / len) * len + this.anchorMs;
  }

  /**
   * Feed one closed 1m kline (in time order; a kline not newer than the previous one is ignored).
   * @returns the bars closed by it, shortest interval first (several when windows end together)
   * @throws RangeError when the kline is not a 1m kline of this symbol
   */
  update(k: Kline): Bar[] {
    if (k.symbol !== this.symbol) throw new RangeError(`BarAggregator(${this.symbol}): got a kline of ${k.symbol}`);
    if (k.closeTime - k.openTime !== 59_999) throw new RangeError(`BarAggregator(${this.symbol}): kline ${k.openTime} is not a 1m kline`);
    if (this.lastOpenTime !== null && k.openTime <= this.lastOpenTime) return [];
    if (this.lastOpenTime !== null && k.openTime > this.lastOpenTime + 60_000) {
      const minutes = (k.openTime - this.lastOpenTime) / 60_000 - 1;
      this.gaps += minutes;
      this.onGap?.({ symbol: this.symbol, from: this.lastOpenTime + 60_000, minutes });
    }
    this.lastOpenTime = k.openTime;
    const out: Bar[] = [];
    for (const interval of this.intervals) {
      const start = this.windowStart(interval, k.openTime);
      const b = this.building.get(interval);
      // A kline of a later window closes the previous bar whose last minute never came.
      if (b && b.openTime !== start) {
        out.push(this.finish(interval, b, k.openTime));
        this.building.delete(interval);
      }
      const cur = this.building.get(interval);
      const h = decimalToNumber(k.high);
      const l = decimalToNumber(k.low);
      if (!cur) {
        this.building.set(interval, {
          openTime: start, open: k.open, high: k.high, low: k.low, highN: h, lowN: l,
          close: k.close, volume: new Decimal(k.volume), minutes: 1,
        });
      } else {
        if (h > cur.highN) { cur.high = k.high; cur.highN = h; }
        if (l < cur.lowN) { cur.low = k.low; cur.lowN = l; }
        cur.close = k.close;
        cur.volume = cur.volume.plus(k.volume);
        cur.minutes++;
      }
      if (k.openTime + 60_000 === start + INTERVAL_MS[interval]) {
        out.push(this.finish(interval, this.building.get(interval)!, k.openTime));
        this.building.delete(interval);
      }
    }
    return out.sort((a, b) => a.closeTime - b.closeTime || INTERVAL_MS[a.interval] - INTERVAL_MS[b.interval]);
  }

  private finish(interval: BarInterval, b: Building, emittedOn: number): Bar {
    const expected = INTERVAL_MS[interval] / 60_000;
    return {
      symbol: this.symbol,
      interval,
      openTime: b.openTime,
      closeTime: b.openTime + INTERVAL_MS[interval] - 1,
      open: b.open,
      high: b.high,
      low: b.low,
      close: b.close,
      volume: str(b.volume),
      minutes: b.minutes,
      missingMinutes: expected - b.minutes,
      complete: b.minutes === expected,
      emittedOnKlineOpenTime: emittedOn,
    };
  }
}
