/**
 * Backtest metrics beyond the equity curve: trade statistics (average trade, profit factor,
 * expectancy), exposure time, monthly returns, breakdowns per symbol and per strategy, and a
 * buy-and-hold benchmark of the same symbols. Pure functions of a run's round trips, daily
 * returns and prices, so an optimiser can call {@link computeMetrics} on any run.
 *
 * Money sums (PnL, fees, funding) are exact decimal strings; ratios and returns are floats
 * (analytics, rounded for display).
 */
import { Decimal, ZERO, str } from '../core/decimal.ts';
import type { Symbol } from '../core/types.ts';
import type { TradeRecord } from './trades.ts';

/** Trade statistics of a set of closed round trips (net of fees and funding). */
export interface TradeStats {
  trades: number;
  wins: number;
  losses: number;
  /** wins / trades; null without trades. A trade at exactly 0 counts as a win (as the executor counts it). */
  winRate: number | null;
  /** Σ net PnL, USDT. */
  netPnl: string;
  grossPnl: string;
  fees: string;
  funding: string;
  /** Mean net PnL per trade, USDT; null without trades. */
  averageTrade: string | null;
  /** Mean net PnL of the winners / of the losers (a negative number), USDT. */
  averageWin: string | null;
  averageLoss: string | null;
  /** Σ winning net PnL / |Σ losing net PnL|; null when there is no loss (undefined ratio). */
  profitFactor: number | null;
  /**
   * Expectancy per trade, USDT: P(win) × average win + P(loss) × average loss (average loss is
   * negative). Equal to the average trade by construction; given for its usual name.
   */
  expectancy: string | null;
  /** Expectancy in units of the average loss (Van Tharp's R): expectancy / |average loss|; null without losses. */
  expectancyR: number | null;
  /** Longest trade and mean holding time, minutes. */
  averageHoldMinutes: number | null;
}

/** One month of the equity curve. */
export interface MonthlyReturn {
  /** `YYYY-MM` (UTC). */
  month: string;
  /** Compounded daily returns of the month's replayed days, fraction (0.01 = 1 %). */
  return: number;
}

/** Buy-and-hold of one symbol over the replayed span. */
export interface BenchmarkLeg {
  symbol: Symbol;
  /** First kline's open and last kline's close, quote asset. */
  firstPrice: string;
  lastPrice: string;
  /** lastPrice / firstPrice − 1. */
  return: number;
}

/** Buy-and-hold benchmark: the starting balance split equally across the symbols, bought at the first open, unlevered, no fees or funding. */
export interface Benchmark {
  legs: BenchmarkLeg[];
  /** Mean of the legs' returns (equal weights). */
  return: number;
  /** startingBalance × return, USDT (float). */
  pnl: number;
  endingEquity: number;
}

/** Everything {@link computeMetrics} returns. */
export interface BacktestMetrics {
  /** Closed round trips only (a trip still open at the end is left out). */
  all: TradeStats;
  bySymbol: Record<string, TradeStats>;
  byStrategy: Record<string, TradeStats>;
  /** Fraction of the replayed span with at least one position open (0–1). */
  exposure: number;
  /** Per symbol: fraction of the span with a position in it. */
  exposureBySymbol: Record<string, number>;
  monthlyReturns: MonthlyReturn[];
  benchmark: Benchmark | null;
  /** Strategy return over the run: endingEquity / startingEquity − 1. */
  totalReturn: number;
}

/** Inputs of {@link computeMetrics}. */
export interface MetricsInputs {
  trades: readonly TradeRecord[];
  /** Daily returns and their UTC days (`YYYY-MM-DD`), as PerformanceTracker.summary gives them. */
  dailyReturns: readonly number[];
  days: readonly string[];
  /** Replayed span [from, to), UTC epoch ms; null when nothing was replayed. */
  span: { from: number; to: number } | null;
  symbols: readonly Symbol[];
  /** Per symbol: first open and last close of the replay, decimal strings. */
  prices: ReadonlyMap<Symbol, { first: string; last: string }>;
  startingEquity: number;
  endingEquity: number;
}

const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/**
 * Trade statistics of closed round trips.
 * Profit factor: gross profits / gross losses (e.g. Pardo, "The Evaluation and Optimization of
 * Trading Strategies", 2008). Expectancy: Van Tharp, "Trade Your Way to Financial Freedom".
 */
export function tradeStats(trades: readonly TradeRecord[]): TradeStats {
  const closed = trades.filter((t) => t.exitTime !== null);
  let net = ZERO;
  let gross = ZERO;
  let fees = ZERO;
  let funding = ZERO;
  let winSum = ZERO;
  let lossSum = ZERO;
  let wins = 0;
  let holdMs = 0;
  for (const t of closed) {
    const n = new Decimal(t.netPnl);
    net = net.plus(n);
    gross = gross.plus(t.grossPnl);
    fees = fees.plus(t.fees);
    funding = funding.plus(t.funding);
    if (n.isNegative()) lossSum = lossSum.plus(n);
    else {
      wins++;
      winSum = winSum.plus(n);
    }
    holdMs += (t.exitTime as number) - t.entryTime;
  }
  const n = closed.length;
  const losses = n - wins;
  const avg = (d: Decimal, k: number) => (k === 0 ? null : str(d.div(k).toDecimalPlaces(8)));
  const avgLoss = losses === 0 ? null : lossSum.div(losses);
  const expectancy = n === 0 ? null : winSum.div(n).plus(lossSum.div(n)); // P(w)·W̄ + P(l)·L̄ = Σ/n
  return {
    trades: n,
    wins,
    losses,
    winRate: n === 0 ? null : r6(wins / n),
    netPnl: str(net),
    grossPnl: str(gross),
    fees: str(fees),
    funding: str(funding),
    averageTrade: avg(net, n),
    averageWin: avg(winSum, wins),
    averageLoss: avg(lossSum, losses),
    profitFactor: lossSum.isZero() ? null : r6(winSum.div(lossSum.abs()).toNumber()),
    expectancy: expectancy === null ? null : str(expectancy.toDecimalPlaces(8)),
    expectancyR: expectancy === null || avgLoss === null || avgLoss.isZero() ? null : r6(expectancy.div(avgLoss.abs()).toNumber()),
    averageHoldMinutes: n === 0 ? null : Math.round((holdMs / n / 60_000) * 10) / 10,
  };
}

/** Length of the union of [a, b) intervals clipped to `span`, ms. */
function covered(intervals: Array<[number, number]>, span: { from: number; to: number }): number {
  const xs = intervals.map(([a, b]) => [Math.max(a, span.from), Math.min(b, span.to)] as [number, number]).filter(([a, b]) => b > a);
  xs.sort((p, q) => p[0] - q[0]);
  let total = 0;
  let cur: [number, number] | null = null;
  for (const x of xs) {
    if (cur && x[0] <= cur[1]) cur[1] = Math.max(cur[1], x[1]);
    else {
      if (cur) total += cur[1] - cur[0];
      cur = [x[0], x[1]];
    }
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

/** Monthly returns: the compounded daily returns of each UTC month. */
export function monthlyReturns(dailyReturns: readonly number[], days: readonly string[]): MonthlyReturn[] {
  const m = new Map<string, number>();
  dailyReturns.forEach((r, i) => {
    const month = (days[i] ?? '').slice(0, 7);
    m.set(month, (1 + (m.get(month) ?? 0)) * (1 + r) - 1);
  });
  return [...m].map(([month, ret]) => ({ month, return: r6(ret) }));
}

/**
 * All metrics of one run (see {@link BacktestMetrics}). The optimiser's entry point: pure, no I/O.
 */
export function computeMetrics(i: MetricsInputs): BacktestMetrics {
  const group = (key: (t: TradeRecord) => string): Record<string, TradeStats> => {
    const g = new Map<string, TradeRecord[]>();
    for (const t of i.trades) g.set(key(t), [...(g.get(key(t)) ?? []), t]);
    return Object.fromEntries([...g].sort(([a], [b]) => a.localeCompare(b)).map(([k, ts]) => [k, tradeStats(ts)]));
  };
  const spanMs = i.span ? i.span.to - i.span.from : 0;
  const interval = (t: TradeRecord): [number, number] => [t.entryTime, t.exitTime ?? i.span?.to ?? t.entryTime];
  const exposureBySymbol: Record<string, number> = {};
  for (const s of i.symbols) exposureBySymbol[s] = spanMs > 0 && i.span ? r6(covered(i.trades.filter((t) => t.symbol === s).map(interval), i.span) / spanMs) : 0;
  const legs: BenchmarkLeg[] = [];
  for (const s of i.symbols) {
    const p = i.prices.get(s);
    if (!p || new Decimal(p.first).isZero()) continue;
    legs.push({ symbol: s, firstPrice: p.first, lastPrice: p.last, return: r6(new Decimal(p.last).div(p.first).minus(1).toNumber()) });
  }
  const bret = legs.length === 0 ? 0 : legs.reduce((a, l) => a + l.return, 0) / legs.length;
  return {
    all: tradeStats(i.trades),
    bySymbol: group((t) => t.symbol),
    byStrategy: group((t) => t.strategyId),
    exposure: spanMs > 0 && i.span ? r6(covered(i.trades.map(interval), i.span) / spanMs) : 0,
    exposureBySymbol,
    monthlyReturns: monthlyReturns(i.dailyReturns, i.days),
    benchmark: legs.length === 0 ? null : { legs, return: r6(bret), pnl: Math.round(i.startingEquity * bret * 100) / 100, endingEquity: Math.round(i.startingEquity * (1 + bret) * 100) / 100 },
    totalReturn: i.startingEquity > 0 ? r6(i.endingEquity / i.startingEquity - 1) : 0,
  };
}
