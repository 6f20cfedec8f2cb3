/**
 * Wilder's RSI, streaming, built on trading-signals' `WSMA` (Wilder's smoothed moving average)
 * and equal to TA-Lib `TA_RSI` (default compatibility, unstable period 0) to within float rounding
 * (tested to 1e-9 relative on the bundled real klines).
 *
 * Seeding: both TA-Lib and trading-signals average the first `period` one-bar gains and losses
 * (bars 1 … period) with an SMA, then smooth with Wilder's recursion avgₜ = avgₜ₋₁ + (xₜ − avgₜ₋₁)/period;
 * the first RSI comes at bar `period`. The one difference: when average gain and average loss
 * are both zero (a flat stretch), trading-signals' `RSI` says 100 and TA-Lib says 0. This class
 * composes two `WSMA`s itself and follows TA-Lib: RSI = 100·g/(g + l), and 0 when |g + l| < 1e-14.
 *
 * Source: J. Welles Wilder Jr., "New Concepts in Technical Trading Systems" (1978); TA-Lib 0.4
 * `ta_func/ta_RSI.c`.
 */
import { WSMA } from 'trading-signals';
import { checkFinite, checkPeriod } from './moving-averages.ts';

const TA_EPSILON = 1e-14;

/** Streaming RSI(period) on a 0–100 scale; inputs in any price unit (they cancel). */
export class Rsi {
  readonly period: number;
  private gain: WSMA;
  private loss: WSMA;
  private prev: number | null = null;
  private n = 0;
  private last: number | null = null;

  /**
   * @param period Wilder period, an integer 2 … 100000 (default 14)
   * @throws RangeError for a bad period
   */
  constructor(period = 14) {
    checkPeriod('Rsi', period);
    this.period = period;
    this.gain = new WSMA(period);
    this.loss = new WSMA(period);
  }

  /**
   * Feed one value (usually a close).
   * @returns the RSI (0–100), or null for the first `period` bars (first value at bar index `period`)
   * @throws RangeError when the input is not finite (state unchanged)
   */
  update(x: number): number | null {
    checkFinite('Rsi', x);
    this.n++;
    const prev = this.prev;
    this.prev = x;
    if (prev === null) return null;
    const d = x - prev;
    const g = this.gain.update(d > 0 ? d : 0, false);
    const l = this.loss.update(d < 0 ? -d : 0, false);
    if (g === null || l === null) return null;
    const sum = g + l;
    this.last = sum > -TA_EPSILON && sum < TA_EPSILON ? 0 : (100 * g) / sum;
    return this.last;
  }

  /** The latest output, or null before the first. */
  get value(): number | null {
    return this.last;
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
    this.gain = new WSMA(this.period);
    this.loss = new WSMA(this.period);
    this.prev = null;
    this.n = 0;
    this.last = null;
  }
}
