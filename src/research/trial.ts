/**
 * One optimisation trial: the whole pipeline (kernel, strategy, executor, simulated venue,
 * funding) replaying klines already in memory, with an in-memory SQLite database and candles not
 * recorded — a trial never writes into the bot's database. Used by the worker threads
 * (trial-thread.ts), by `perpbot worker` (BullMQ) and, for tests, directly.
 *
 * Windows (walk-forward): the data is cut to [warmupFrom, to); trading is HALTED ("warm-up")
 * until the first kline that closes inside [from, to), so the strategy's indicators see the
 * warm-up klines but no order is placed before `from`. Metrics are over [from, to) only.
 */
import type { Config } from '../config/schema.ts';
import type { Kline, KlineClosed, Symbol } from '../core/types.ts';
import { randomUUID } from 'node:crypto';
import { openDatabase } from '../../database/client.ts';
import { InlineRecordWriter } from '../../database/inline-writer.ts';
import { Kernel } from '../kernel/kernel.ts';
import { silentLogger } from '../logging/logger.ts';
import { loadReplayData, type ReplayData } from '../market/replay-source.ts';
import { FundingBook, loadFundingRates, type FundingRate } from '../backtest/funding.ts';
import { sharpe as annualisedSharpe } from '../backtest/performance.ts';
import { loadExchangeInfo, type ExchangeRules } from '../../executor/exchange-info.ts';

/** Everything a trial needs besides its parameters (built once per thread/process). */
export interface TrialContext {
  /** The validated base configuration (sizing, risk, sim, sessions); its strategies are replaced per trial. */
  config: Config;
  rules: ExchangeRules;
  data: ReplayData;
  /** Funding rates per symbol (null = funding off); a fresh FundingBook is made per trial. */
  funding: { rates: Map<Symbol, FundingRate[]>; sources: Record<string, string[]> } | null;
}

/** A time window of a trial, UTC epoch ms: warm-up from `warmupFrom`, trading in [from, to). */
export interface TrialWindow {
  warmupFrom: number;
  from: number;
  to: number;
}

/** What to run. */
export interface TrialSpec {
  strategy: string;
  /** Parameters as given to the strategy (validated before; the strategy host validates again). */
  params: Record<string, unknown>;
  /** Absent = the whole data. */
  window?: TrialWindow | undefined;
  /** Return the 15-minute equity curve of the trading window (walk-forward stitching). */
  wantCurve?: boolean | undefined;
  /** Configuration to run with instead of the context's (a BullMQ job carries the submitter's). */
  config?: Config | undefined;
}

/**
 * A trial's figures. Floats (analytics); USDT unless said. Ratios are null when undefined
 * (fewer than 2 days, no variance, no drawdown).
 */
export interface TrialMetrics {
  /** Annualised Sharpe of daily returns (√365, risk-free 0), as `perpbot backtest` reports it. */
  sharpe: number | null;
  /** Annualised Sortino of daily returns: mean / downside deviation (target 0) × √365 (Sortino & Price 1994). */
  sortino: number | null;
  /** Calmar: annualised return / max drawdown fraction (Young 1991). */
  calmar: number | null;
  /** Net PnL of closed trades after fees and funding (the report's netPnlAfterFunding), USDT. */
  net: number;
  /** Ending equity marked to market / starting equity − 1, over the trading window. */
  totalReturn: number;
  /** (1 + totalReturn)^(365 days / window length) − 1. */
  annualReturn: number;
  /** Largest peak-to-trough fall as a fraction of the peak. */
  maxDrawdownPct: number;
  roundTrips: number;
  winRate: number | null;
  profitFactor: number | null;
  endingEquity: number;
  /** Daily returns in the trading window (UTC days), fractions; for the deflated Sharpe. */
  dailyReturns: number[];
}

/** A trial's result; `curve` only when asked (t UTC epoch ms, equity USDT). */
export interface TrialOutcome {
  metrics: TrialMetrics;
  curve?: Array<{ t: number; equity: number }>;
}

function lowerBound(a: readonly Kline[], t: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as Kline).openTime < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The klines of `data` with openTime in [from, to), sharing the arrays' elements (no copy of klines). */
export function sliceData(data: ReplayData, from: number, to: number): ReplayData {
  const streams = data.streams.map((s) => s.slice(lowerBound(s, from), lowerBound(s, to)));
  return {
    streams,
    symbols: data.symbols,
    files: data.files,
    totalKlines: streams.reduce((a, s) => a + s.length, 0),
  };
}

/** Annualised Sortino ratio (√365) of daily returns, target 0; null with < 2 days or no down days. */
export function sortino(daily: readonly number[]): number | null {
  if (daily.length < 2) return null;
  const mean = daily.reduce((a, b) => a + b, 0) / daily.length;
  const down = Math.sqrt(daily.reduce((a, r) => a + Math.min(r, 0) ** 2, 0) / daily.length);
  return down > 0 ? (mean / down) * Math.sqrt(365) : null;
}

/**
 * Run one trial.
 * @throws PerpbotError STRATEGY_PARAMS when the parameters fail the strategy's schema (callers
 *   validate first and report such a trial as invalid)
 */
export async function runTrial(ctx: TrialContext, spec: TrialSpec): Promise<TrialOutcome> {
  const config: Config = { ...(spec.config ?? ctx.config), db: ':memory:', recordCandles: false, strategies: [{ id: 'opt', name: spec.strategy, symbols: [], params: spec.params }] };
  const w = spec.window;
  const data = w ? sliceData(ctx.data, w.warmupFrom, w.to) : ctx.data;
  const funding = ctx.funding ? new FundingBook(ctx.funding.rates, ctx.funding.sources) : null;
  const halted = w !== undefined && w.warmupFrom < w.from;
  // One in-memory database per trial, written on this thread: a writer thread per trial would
  // cost a thread start for a few hundred rows (and once timed out under load, failing the trial).
  const db = openDatabase(':memory:');
  const runId = randomUUID();
  const storage = { db, writer: new InlineRecordWriter(db, runId) };
  const kernel = Kernel.forReplay(
    { config, mode: 'replay', rules: ctx.rules, symbols: data.symbols, log: silentLogger(), heartbeat: false, runId, storage, ...(funding ? { funding } : {}), ...(halted ? { startHalted: 'warm-up' } : {}) },
    data,
  );
  if (halted) {
    let lifted = false;
    kernel.bus.consume(
      'market.kline.*',
      (ev) => {
        const k = (ev as KlineClosed).kline;
        if (lifted || k.closeTime + 1 <= w.from) return;
        lifted = true;
        void kernel.publish('order.request', { type: 'SetTradingState', ts: k.closeTime + 1, state: 'ACTIVE', reason: 'warm-up over', ifReason: 'warm-up' });
      },
      { name: 'warm-up', inline: true },
    );
  }
  let closed = false;
  try {
    const report = await kernel.run();
    const perf = kernel.perf.summary();
    await kernel.close(null, 'completed');
    closed = true;
    const from = w?.from ?? (report.data[0]?.from ?? 0);
    const fromDay = new Date(from).toISOString().slice(0, 10);
    const daily = w ? perf.dailyReturns.filter((_, i) => (perf.days[i] as string) >= fromDay) : perf.dailyReturns;
    const start = perf.startingEquity;
    const totalReturn = perf.endingEquity / start - 1;
    const spanMs = w ? w.to - w.from : Math.max(60_000, (kernel.clock.now() || from) - from);
    const annualReturn = Math.pow(1 + totalReturn, (365 * 86_400_000) / spanMs) - 1;
    const pf = report.metrics.all.profitFactor;
    const metrics: TrialMetrics = {
      sharpe: annualisedSharpe(daily),
      sortino: sortino(daily),
      calmar: perf.maxDrawdownPct > 0 ? annualReturn / perf.maxDrawdownPct : null,
      net: Number(report.netPnlAfterFunding),
      totalReturn,
      annualReturn,
      maxDrawdownPct: perf.maxDrawdownPct,
      roundTrips: report.roundTrips,
      winRate: report.winRate,
      profitFactor: pf === null || pf === undefined ? null : Number(pf),
      endingEquity: perf.endingEquity,
      dailyReturns: daily,
    };
    return spec.wantCurve ? { metrics, curve: perf.curve.filter((p) => p.t > from) } : { metrics };
  } finally {
    if (!closed) await kernel.close(null, 'failed');
  }
}

/** How to build a {@link TrialContext}: plain data, sent to each worker thread / process. */
export interface TrialContextSpec {
  config: Config;
  /** `--funding` values (empty = the default files; ["none"] = off). */
  funding: string[];
}

/**
 * Load the exchange rules, the kline files (parsed once here, kept for every trial) and the
 * funding rates.
 * @throws DataError / PerpbotError (SYMBOL_UNKNOWN, DATA_*) on bad input
 */
export function loadTrialContext(spec: TrialContextSpec): TrialContext {
  const rules = loadExchangeInfo(spec.config.exchangeInfo);
  const data = loadReplayData(spec.config.data);
  for (const s of data.symbols) rules.get(s);
  const off = spec.funding.length === 1 && spec.funding[0]?.toLowerCase() === 'none';
  return { config: spec.config, rules, data, funding: off ? null : loadFundingRates(data.symbols, spec.funding) };
}
