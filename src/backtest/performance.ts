/**
 * Performance of a run, for the report: the equity curve marked to market at every kline close,
 * its maximum drawdown, and daily returns (UTC days) for the Sharpe ratio.
 *
 * This is analytics, not accounting: it works in floats. The money that matters (orders, fills,
 * positions, PnL in the database) stays decimal; the report's net PnL and fees are summed from
 * the decimal fills, not from here.
 */
import type { Kline, Position } from '../core/types.ts';
import { decimalToNumber } from '../core/number-text.ts';

const DAY_MS = 86_400_000;

interface Held {
  qty: number;
  entry: number;
  /** realized PnL − fees on this symbol so far, USDT */
  settled: number;
}

/** Equity-curve statistics. */
export interface PerformanceSummary {
  startingEquity: number;
  endingEquity: number;
  peakEquity: number;
  /** Largest peak-to-trough fall, USDT. */
  maxDrawdown: number;
  /** Largest peak-to-trough fall as a fraction of the peak (0.05 = 5 %). */
  maxDrawdownPct: number;
  /** Daily returns (UTC days), fractions. */
  dailyReturns: number[];
  /** Annualised Sharpe of daily returns, √365 (crypto trades every day), risk-free 0; null with < 2 days or no variance. */
  sharpe: number | null;
  /** UTC day (`YYYY-MM-DD`) of each entry of `dailyReturns`, same order. */
  days: string[];
  /** Funding cash flows added to equity, USDT (float, analytics; the exact sum is in the report's funding totals). */
  funding: number;
  /**
   * The equity curve, at most one point per {@link CURVE_STEP_MS} (the last sample in each step):
   * `t` UTC epoch ms (kline close + 1), `equity` USDT marked to market.
   */
  curve: Array<{ t: number; equity: number }>;
}

/** Resolution of the recorded equity curve: 15 minutes. */
export const CURVE_STEP_MS = 15 * 60_000;

/** Tracks equity from position updates and kline closes. */
export class PerformanceTracker {
  private held = new Map<string, Held>();
  /** Last close text per symbol (parsed only while a position is open on it). */
  private lastClose = new Map<string, string>();
  /** Symbols with a non-zero position. */
  private open = 0;
  /** A position changed since the last sample. */
  private dirty = false;
  private settled = 0;
  private unrealized = 0;
  private peak: number;
  private maxDd = 0;
  private maxDdPct = 0;
  private day = -1;
  private dayStartEquity: number;
  private equity: number;
  private readonly daily: number[] = [];
  private readonly dayNames: string[] = [];
  private fundingTotal = 0;
  private readonly curve: Array<{ t: number; equity: number }> = [];

  /** @param startingEquity wallet balance at start, USDT */
  constructor(private readonly startingEquity: number) {
    this.peak = startingEquity;
    this.dayStartEquity = startingEquity;
    this.equity = startingEquity;
  }

  /** A position changed (fills): update its quantity, entry and settled PnL. */
  onPosition(p: Position): void {
    const prev = this.held.get(p.symbol);
    const settled = Number(p.realizedPnl) - Number(p.fees);
    this.settled += settled - (prev?.settled ?? 0);
    const qty = Number(p.quantity);
    if ((prev?.qty ?? 0) !== 0) this.open--;
    if (qty !== 0) this.open++;
    this.held.set(p.symbol, { qty, entry: Number(p.entryPrice), settled });
    this.recomputeUnrealized();
    this.dirty = true;
  }

  /**
   * A funding payment was applied (see funding.ts): `amount` USDT, negative = paid. It moves
   * equity at once (sampled at `t`, the funding time).
   */
  onFunding(amount: number, t: number): void {
    this.fundingTotal += amount;
    this.settled += amount;
    this.dirty = true;
    this.sample(t + 1);
  }

  private recomputeUnrealized(): void {
    let u = 0;
    // forEach: no iterator and no [key, value] pair per held symbol (this runs per kline while a position is open)
    this.held.forEach((h, s) => {
      if (h.qty !== 0) {
        const px = this.lastClose.get(s);
        if (px !== undefined) u += h.qty * (decimalToNumber(px) - h.entry);
      }
    });
    this.unrealized = u;
  }

  /**
   * A kline closed: mark its symbol to the close and sample the equity curve. With no position
   * open and none changed, equity cannot move, so only the day boundary is looked at (this runs
   * per kline).
   */
  onKline(k: Kline): void {
    this.lastClose.set(k.symbol, k.close);
    if (this.open > 0 || this.dirty) {
      const h = this.held.get(k.symbol);
      if (h !== undefined && h.qty !== 0) this.recomputeUnrealized();
      this.dirty = false;
      this.sample(k.closeTime + 1);
    } else if (Math.floor(k.closeTime / DAY_MS) !== this.day) this.sample(k.closeTime + 1);
  }

  private sample(t: number): void {
    const prevEq = this.equity;
    const eq = this.startingEquity + this.settled + this.unrealized;
    this.equity = eq;
    const d = Math.floor((t - 1) / DAY_MS);
    if (d !== this.day) {
      // The previous day closed at the previous sample's equity; the new day starts from there.
      if (this.day >= 0) {
        this.daily.push(this.dayStartEquity > 0 ? prevEq / this.dayStartEquity - 1 : 0);
        this.dayNames.push(dayName(this.day));
      }
      this.day = d;
      this.dayStartEquity = prevEq;
    }
    const last = this.curve[this.curve.length - 1];
    if (last !== undefined && Math.floor((last.t - 1) / CURVE_STEP_MS) === Math.floor((t - 1) / CURVE_STEP_MS)) {
      last.t = t;
      last.equity = eq;
    } else this.curve.push({ t, equity: eq });
    if (eq > this.peak) this.peak = eq;
    const dd = this.peak - eq;
    if (dd > this.maxDd) this.maxDd = dd;
    if (this.peak > 0 && dd / this.peak > this.maxDdPct) this.maxDdPct = dd / this.peak;
  }

  /** The statistics so far (the current day counts as one more daily return). */
  summary(): PerformanceSummary {
    const returns = [...this.daily];
    const days = [...this.dayNames];
    if (this.day >= 0) {
      returns.push(this.dayStartEquity > 0 ? this.equity / this.dayStartEquity - 1 : 0);
      days.push(dayName(this.day));
    }
    return {
      startingEquity: this.startingEquity,
      endingEquity: this.equity,
      peakEquity: this.peak,
      maxDrawdown: this.maxDd,
      maxDrawdownPct: this.maxDdPct,
      dailyReturns: returns,
      sharpe: sharpe(returns),
      days,
      funding: this.fundingTotal,
      curve: this.curve.map((p) => ({ ...p })),
    };
  }
}

function dayName(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Annualised Sharpe ratio of daily returns: mean / sample standard deviation × √365.
 * @returns null with fewer than two returns or zero variance
 */
export function sharpe(daily: readonly number[]): number | null {
  const n = daily.length;
  if (n < 2) return null;
  const mean = daily.reduce((a, b) => a + b, 0) / n;
  const variance = daily.reduce((a, r) => a + (r - mean) ** 2, 0) / (n - 1);
  // Equal returns leave a variance of rounding noise (~1e-34), not a real one.
  if (!(variance > 1e-24 * Math.max(1, mean * mean))) return null;
  return (mean / Math.sqrt(variance)) * Math.sqrt(365);
}
