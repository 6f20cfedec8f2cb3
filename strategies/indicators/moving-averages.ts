/**
 * Streaming moving averages and MACD on floats, one `update` per closed bar, built on the
 * `trading-signals` library (v8) and seeded exactly as TA-Lib does, so that every output equals
 * TA-Lib's `TA_SMA`, `TA_EMA` and `TA_MACD` (default compatibility, unstable period 0) to within
 * float rounding (tested to 1e-9 relative on the bundled real klines).
 *
 * Where trading-signals differs from TA-Lib, and what is done about it:
 * - `SMA`: identical (mean of the last `period` inputs); used as is.
 * - `EMA`: trading-signals seeds with the first input (EMA₀ = x₀) and reports a value from bar 0;
 *   TA-Lib seeds with the SMA of the first `period` inputs and outputs from bar `period − 1`.
 *   {@link Ema} feeds the first `period` inputs to a trading-signals `SMA` and hands that SMA to a
 *   fresh trading-signals `EMA` as its first input (the library's seed, x·k + x·(1−k) = x), then
 *   every later input: from there both compute EMAₜ = EMAₜ₋₁ + k·(xₜ − EMAₜ₋₁), k = 2/(period+1).
 * - `MACD`: trading-signals starts both EMAs at bar 0; TA-Lib (`ta_MACD.c`, `TA_INT_MACD`) seeds the
 *   fast EMA with the SMA of the `fast` bars *ending at bar slow − 1*, so both lines start together
 *   at bar slow − 1, and the signal EMA is seeded with the SMA of the first `signal` MACD values.
 *   {@link Macd} is therefore composed of three {@link Ema}s started at those bars.
 *
 * Source of the formulas: TA-Lib 0.4 `ta_func/ta_SMA.c`, `ta_EMA.c`, `ta_MACD.c`; G. Appel,
 * "Technical Analysis: Power Tools for Active Investors" (2005) for MACD(12, 26, 9).
 */
import { EMA, SMA } from 'trading-signals';

/** Throws a RangeError unless `period` is an integer in [min, 100000] (TA-Lib's bounds). */
export function checkPeriod(what: string, period: number, min = 2): void {
  if (!Number.isInteger(period) || period < min || period > 100_000) {
    throw new RangeError(`${what} period: got ${period}, expected an integer ${min} … 100000`);
  }
}

/** Throws a RangeError naming the indicator unless every input is a finite number. */
export function checkFinite(what: string, ...xs: number[]): void {
  for (const x of xs) {
    if (!Number.isFinite(x)) throw new RangeError(`${what}.update: non-finite input ${xs.join(', ')}`);
  }
}

/**
 * Simple moving average of the last `period` inputs (TA-Lib `TA_SMA`; trading-signals `SMA`).
 * Units: those of the input (e.g. a price in USDT).
 */
export class Sma {
  readonly period: number;
  private sma: SMA;
  private n = 0;
  private last: number | null = null;

  /**
   * @param period window length in bars, an integer 1 … 100000
   * @throws RangeError for a bad period
   */
  constructor(period: number) {
    checkPeriod('Sma', period, 1);
    this.period = period;
    this.sma = new SMA(period);
  }

  /**
   * Feed one value.
   * @returns the mean of the last `period` values, or null for the first `period − 1` bars
   * @throws RangeError when the input is not finite (state unchanged)
   */
  update(x: number): number | null {
    checkFinite('Sma', x);
    this.n++;
    this.last = this.sma.update(x, false);
    return this.last;
  }

  /** The latest output, or null before the first. */
  get value(): number | null {
    return this.last;
  }

  /** True once a value is available (bar index ≥ period − 1). */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Bars fed so far. */
  get count(): number {
    return this.n;
  }

  /** Start over. */
  reset(): void {
    this.sma = new SMA(this.period);
    this.n = 0;
    this.last = null;
  }
}

/**
 * Exponential moving average seeded like TA-Lib `TA_EMA`: the first output, at bar `period − 1`,
 * is the SMA of the first `period` inputs; then EMAₜ = EMAₜ₋₁ + k·(xₜ − EMAₜ₋₁), k = 2/(period + 1).
 * Implemented with trading-signals' `SMA` (seed) and `EMA` (recursion); see the module note.
 */
export class Ema {
  readonly period: number;
  private seed: SMA;
  private ema: EMA;
  private n = 0;
  private last: number | null = null;

  /**
   * @param period an integer 1 … 100000 (smoothing k = 2/(period + 1))
   * @throws RangeError for a bad period
   */
  constructor(period: number) {
    checkPeriod('Ema', period, 1);
    this.period = period;
    this.seed = new SMA(period);
    this.ema = new EMA(period);
  }

  /**
   * Feed one value.
   * @returns the EMA, or null for the first `period − 1` bars
   * @throws RangeError when the input is not finite (state unchanged)
   */
  update(x: number): number | null {
    checkFinite('Ema', x);
    this.n++;
    if (this.n < this.period) {
      this.seed.update(x, false);
      return null;
    }
    if (this.n === this.period) {
      const sma = this.seed.update(x, false) as number;
      this.last = this.ema.update(sma, false);
      return this.last;
    }
    this.last = this.ema.update(x, false);
    return this.last;
  }

  /** The latest output, or null before the first. */
  get value(): number | null {
    return this.last;
  }

  /** True once a value is available (bar index ≥ period − 1). */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Bars fed so far. */
  get count(): number {
    return this.n;
  }

  /** Start over. */
  reset(): void {
    this.seed = new SMA(this.period);
    this.ema = new EMA(this.period);
    this.n = 0;
    this.last = null;
  }
}

/** One MACD output: MACD line, signal line, histogram (units of the input, e.g. USDT). */
export interface MacdValue {
  /** EMA(fast) − EMA(slow). */
  macd: number;
  /** EMA(signal) of the MACD line. */
  signal: number;
  /** macd − signal. */
  histogram: number;
}

/**
 * MACD(fast, slow, signal) seeded exactly as TA-Lib `TA_MACD`: the slow EMA starts at bar 0, the
 * fast EMA at bar `slow − fast` (so its SMA seed covers the `fast` bars ending at bar slow − 1),
 * the signal EMA over the MACD line from bar slow − 1. The first output comes at bar
 * slow + signal − 2 (TA-Lib's lookback; 33 for 12/26/9).
 */
export class Macd {
  readonly fast: number;
  readonly slow: number;
  readonly signalPeriod: number;
  private fastEma: Ema;
  private slowEma: Ema;
  private signalEma: Ema;
  private n = 0;
  private last: MacdValue | null = null;

  /**
   * @param fast fast EMA period (default 12), an integer ≥ 2
   * @param slow slow EMA period (default 26), an integer > fast
   * @param signal signal EMA period (default 9), an integer ≥ 1
   * @throws RangeError for bad periods or fast ≥ slow
   */
  constructor(fast = 12, slow = 26, signal = 9) {
    checkPeriod('Macd fast', fast);
    checkPeriod('Macd slow', slow);
    checkPeriod('Macd signal', signal, 1);
    if (fast >= slow) throw new RangeError(`Macd: fast period ${fast} must be below slow period ${slow}`);
    this.fast = fast;
    this.slow = slow;
    this.signalPeriod = signal;
    this.fastEma = new Ema(fast);
    this.slowEma = new Ema(slow);
    this.signalEma = new Ema(signal);
  }

  /**
   * Feed one value (usually a close).
   * @returns the MACD triple, or null before bar slow + signal − 2
   * @throws RangeError when the input is not finite (state unchanged)
   */
  update(x: number): MacdValue | null {
    checkFinite('Macd', x);
    this.n++;
    const s = this.slowEma.update(x);
    const f = this.n > this.slow - this.fast ? this.fastEma.update(x) : null;
    if (s === null || f === null) return null;
    const macd = f - s;
    const sig = this.signalEma.update(macd);
    if (sig === null) return null;
    this.last = { macd, signal: sig, histogram: macd - sig };
    return this.last;
  }

  /** The latest output, or null before the first. */
  get value(): MacdValue | null {
    return this.last;
  }

  /** True once a value is available. */
  get isStable(): boolean {
    return this.last !== null;
  }

  /** Start over. */
  reset(): void {
    this.fastEma = new Ema(this.fast);
    this.slowEma = new Ema(this.slow);
    this.signalEma = new Ema(this.signalPeriod);
    this.n = 0;
    this.last = null;
  }
}
