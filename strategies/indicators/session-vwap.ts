/**
 * Session VWAP anchored at 00:00 UTC with volume-weighted standard-deviation bands, streaming,
 * O(1) and allocation-free per kline.
 *
 * Numerics: the running-sum form σ² = Σv·tp²/Σv − VWAP² cancels catastrophically for BTC
 * (tp² ≈ 1e10 while σ² may be ≈ 1e2), so mean and variance are updated with West's weighted
 * incremental algorithm (D.H.D. West, "Updating mean and variance estimates: an improved method",
 * CACM 22(9), 1979) on prices shifted by the session's first typical price, which keeps every
 * intermediate at the size of the intraday deviations rather than of the price itself.
 */

const DAY_MS = 86_400_000;

/** Upper and lower band around the VWAP, quote asset. */
export interface VwapBand {
  upper: number;
  lower: number;
}

/**
 * Session VWAP of closed 1m klines, resetting on the first kline whose `openTime` falls on a new
 * UTC day (day = floor(openTime / 86 400 000)).
 *
 * Per kline: typical price tp = (high + low + close) / 3, weight = volume.
 * - `vwap`  = Σ(tp·v) / Σv
 * - `stdev` = sqrt(Σ v·(tp − vwap)² / Σv) (population, volume-weighted; ≥ 0)
 * - `band(k)` = vwap ± k·stdev
 *
 * Null means "no volume traded yet in this session" (Σv = 0: before the first kline, or the
 * session's klines so far all had zero volume); NaN is never returned.
 *
 * Units: prices in the quote asset (USDT), volume in the base asset (BTC), times UTC epoch ms.
 */
export class SessionVwap {
  private day = Number.NEGATIVE_INFINITY;
  private n = 0;
  /** Σv of the session, base asset. */
  private w = 0;
  /** Shift: first typical price with volume in the session. */
  private shift = 0;
  /** Weighted mean of (tp − shift). */
  private mean = 0;
  /** Σ v·(tp − mean)² (West's running sum of squared deviations). */
  private m2 = 0;

  /**
   * Feed one closed kline. A kline whose UTC day differs from the current session's (including an
   * earlier day) starts a new session. Zero-volume klines count in `count` but do not move the VWAP.
   * @param openTime kline open time, UTC epoch ms
   * @param high kline high, quote asset
   * @param low kline low, quote asset
   * @param close kline close, quote asset
   * @param volume kline volume, base asset, ≥ 0
   * @throws RangeError when a price or the volume is not finite, or the volume is negative
   *   (the state is left unchanged)
   */
  update(openTime: number, high: number, low: number, close: number, volume: number): void {
    if (!(volume >= 0) || (openTime + high + low + close + volume) * 0 !== 0) {
      throw new RangeError(
        `SessionVwap.update: bad input openTime=${openTime} high=${high} low=${low} close=${close} volume=${volume}`,
      );
    }
    const day = Math.floor(openTime / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      this.n = 0;
      this.w = 0;
      this.mean = 0;
      this.m2 = 0;
    }
    this.n++;
    if (volume === 0) return;

    const tp = (high + low + close) / 3;
    if (this.w === 0) {
      this.shift = tp;
      this.w = volume;
      this.mean = 0;
      this.m2 = 0;
      return;
    }
    // West (1979): W += w; Δ = x − μ; μ += Δ·w/W; M2 += w·Δ·(x − μ_new)
    const x = tp - this.shift;
    const w = this.w + volume;
    const delta = x - this.mean;
    const mean = this.mean + (delta * volume) / w;
    this.m2 += volume * delta * (x - mean);
    this.mean = mean;
    this.w = w;
  }

  /** Session VWAP, quote asset; null while the session has no volume. */
  get vwap(): number | null {
    return this.w > 0 ? this.shift + this.mean : null;
  }

  /** Volume-weighted standard deviation of the typical price, quote asset; null while no volume. */
  get stdev(): number | null {
    if (!(this.w > 0)) return null;
    const v = this.m2 / this.w;
    return v > 0 ? Math.sqrt(v) : 0;
  }

  /**
   * Bands vwap ± k·stdev, quote asset; null while the session has no volume.
   * Allocates one small object; on a hot path prefer {@link upper} / {@link lower}.
   * @param k width in standard deviations (e.g. 1, 2)
   */
  band(k: number): VwapBand | null {
    if (!(this.w > 0)) return null;
    const mid = this.shift + this.mean;
    const s = this.stdev as number;
    return { upper: mid + k * s, lower: mid - k * s };
  }

  /** vwap + k·stdev without allocating, quote asset; null while no volume. */
  upper(k: number): number | null {
    if (!(this.w > 0)) return null;
    return this.shift + this.mean + k * (this.stdev as number);
  }

  /** vwap − k·stdev without allocating, quote asset; null while no volume. */
  lower(k: number): number | null {
    if (!(this.w > 0)) return null;
    return this.shift + this.mean - k * (this.stdev as number);
  }

  /** Klines fed in the current session (zero-volume ones included); 0 before the first kline. */
  get count(): number {
    return this.n;
  }

  /** Σ volume of the current session, base asset; 0 before any volume. */
  get volume(): number {
    return this.w;
  }

  /** 00:00 UTC of the current session, UTC epoch ms; null before the first kline. */
  get sessionStart(): number | null {
    return this.n > 0 ? this.day * DAY_MS : null;
  }

  /** Forget everything; the next kline opens a new session. */
  reset(): void {
    this.day = Number.NEGATIVE_INFINITY;
    this.n = 0;
    this.w = 0;
    this.shift = 0;
    this.mean = 0;
    this.m2 = 0;
  }
}
