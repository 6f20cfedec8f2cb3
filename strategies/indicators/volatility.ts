/**
 * Streaming volatility and channel indicators on floats, one `update` per closed bar, built on
 * `trading-signals` (v8) and equal to TA-Lib (default compatibility, unstable period 0) to
 * within float rounding (tested to 1e-9 relative on the bundled real klines):
 *
 * - {@link Atr}: Wilder's Average True Range = TA-Lib `TA_ATR`. trading-signals' `ATR` counts bar 0's
 *   high − low as a true range and so outputs one bar early with a different seed; TA-Lib has no
 *   true range at bar 0 (no previous close) and seeds with the SMA of TR₁ … TR_period, first output at
 *   bar `period`. This class feeds trading-signals' `TR` every bar and its `WSMA` from bar 1 on.
 * - {@link BollingerBands}: SMA(period) ± k·σ, σ the population standard deviation of the same
 *   window = TA-Lib `TA_BBANDS` with MA type SMA and nbDevUp = nbDevDn = k; trading-signals'
 *   `BollingerBands` as is (two-pass σ; TA-Lib's running sums differ only by rounding).
 * - {@link Donchian}: highest high and lowest low of the last `period` bars including the current one
 *   = TA-Lib `TA_MAX(high)` / `TA_MIN(low)`; trading-signals' `DonchianChannels` as is.
 *
 * Sources: J. Welles Wilder Jr., "New Concepts in Technical Trading Systems" (1978) (true range,
 * ATR); J. Bollinger, "Bollinger on Bollinger Bands" (2001); R. Donchian's N-bar channel as used by
 * the Turtle rules (C. Faith, "Way of the Turtle", 2007); TA-Lib 0.4 `ta_ATR.c`, `ta_BBANDS.c`,
 * `ta_MAX.c`, `ta_MIN.c`.
 */
import { BollingerBands as TsBollinger, DonchianChannels, TR, WSMA } from 'trading-signals';
import { checkFinite, checkPeriod } from './moving-averages.ts';

/** Streaming ATR(period), in the price unit of the inputs (e.g. USDT). */
export class Atr {
  readonly period: number;
  private tr = new TR();
  private smooth: WSMA;
  private n = 0;
  private lastTr: number | null = null;
  private last: number | null = null;

  /**
   * @param period Wilder period, an integer 1 … 100000 (default 14)
   * @throws RangeError for a bad period
   */
  constructor(period = 14) {
    checkPeriod('Atr', period, 1);
    this.period = period;
    this.smooth = new WSMA(period);
  }

  /**
   * Feed one closed bar.
   * @returns the ATR, or null for the first `period` bars (first value at bar index `period`)
   * @throws RangeError when an input is not finite (state unchanged)
   */
  update(high: number, low: number, close: number): number | null {
    checkFinite('Atr', high, low, close);
    this.n++;
    const tr = this.tr.update({ high, low, close }, false) as number;
    if (this.n === 1) return null;
    this.lastTr = tr;
    this.last = this.smooth.update(tr, false);
    return this.last;
  }

  /** The latest ATR, or null before the first. */
  get value(): number | null {
    return this.last;
  }

  /** The latest true range (null at bar 0, which has no previous close). */
  get trueRange(): number | null {
    return this.lastTr;
  }

  /** True once a value is available (bar index ≥ period). */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Bars fed so far. */
  get count(): number {
    return this.n;
  }

  /** Start over. */
  reset(): void {
    this.tr = new TR();
    this.smooth = new WSMA(this.period);
    this.n = 0;
    this.lastTr = null;
    this.last = null;
  }
}

/** A band triple, in the unit of the input (e.g. USDT). */
export interface Bands {
  upper: number;
  middle: number;
  lower: number;
}

/** Streaming Bollinger Bands: middle = SMA(period), upper/lower = middle ± k·σ (population σ). */
export class BollingerBands {
  readonly period: number;
  readonly k: number;
  private bb: TsBollinger;
  private n = 0;
  private last: Bands | null = null;

  /**
   * @param period window in bars, an integer 2 … 100000 (default 20)
   * @param k band width in standard deviations, a finite number > 0 (default 2)
   * @throws RangeError for a bad period or k
   */
  constructor(period = 20, k = 2) {
    checkPeriod('BollingerBands', period);
    if (!(Number.isFinite(k) && k > 0)) throw new RangeError(`BollingerBands k: got ${k}, expected a number > 0`);
    this.period = period;
    this.k = k;
    this.bb = new TsBollinger(period, k);
  }

  /**
   * Feed one value (usually a close).
   * @returns the bands, or null for the first `period − 1` bars
   * @throws RangeError when the input is not finite (state unchanged)
   */
  update(x: number): Bands | null {
    checkFinite('BollingerBands', x);
    this.n++;
    const r = this.bb.update(x, false);
    this.last = r ? { upper: r.upper, middle: r.middle, lower: r.lower } : null;
    return this.last;
  }

  /** The latest bands, or null before the first. */
  get value(): Bands | null {
    return this.last;
  }

  /** True once a value is available (bar index ≥ period − 1). */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Start over. */
  reset(): void {
    this.bb = new TsBollinger(this.period, this.k);
    this.n = 0;
    this.last = null;
  }
}

/** Streaming Donchian channel: highest high, lowest low and their midpoint over the last `period` bars. */
export class Donchian {
  readonly period: number;
  private dc: DonchianChannels;
  private last: Bands | null = null;

  /**
   * @param period window in bars including the current one, an integer 1 … 100000 (default 20)
   * @throws RangeError for a bad period
   */
  constructor(period = 20) {
    checkPeriod('Donchian', period, 1);
    this.period = period;
    this.dc = new DonchianChannels(period);
  }

  /**
   * Feed one closed bar.
   * @returns upper = max high, lower = min low, middle = their mean over the last `period` bars
   *   (current included), or null for the first `period − 1` bars
   * @throws RangeError when an input is not finite (state unchanged)
   */
  update(high: number, low: number): Bands | null {
    checkFinite('Donchian', high, low);
    const r = this.dc.update({ high, low }, false);
    this.last = r ? { upper: r.upper, middle: r.middle, lower: r.lower } : null;
    return this.last;
  }

  /** The latest channel, or null before the first. */
  get value(): Bands | null {
    return this.last;
  }

  /** True once a value is available. */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Start over. */
  reset(): void {
    this.dc = new DonchianChannels(this.period);
    this.last = null;
  }
}
