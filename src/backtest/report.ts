/**
 * The report of a replay/backtest run: what the pipeline did (candles, signals, orders submitted
 * and denied, fills, round trips), what it earned (net PnL and fees summed exactly from the
 * decimal fills; drawdown and Sharpe from the marked-to-market equity curve), and how fast it
 * ran. `perpbot backtest --json` prints this object alone on stdout.
 */
import type { BusStats } from '../bus/bus.ts';
import type { ReplayFile } from '../market/replay-source.ts';
import type { Executor } from '../../executor/executor.ts';
import type { PerformanceSummary } from './performance.ts';
import { Decimal, str } from '../core/decimal.ts';
import type { Symbol } from '../core/types.ts';
import type { FundingBook, FundingPayment, FundingTotals } from './funding.ts';
import { computeMetrics, type BacktestMetrics, type TradeStats } from './metrics.ts';
import type { TradeRecord } from './trades.ts';

/** The report. Money fields are decimal strings in USDT; times UTC epoch ms. */
export interface BacktestReport {
  runId: string;
  mode: string;
  /** True when the run was interrupted before the end of the data. */
  interrupted: boolean;
  symbols: string[];
  data: Array<{ symbol: string; file: string; rows: number; from: number | null; to: number | null; gaps: number; missingMinutes: number }>;
  candles: number;
  signals: number;
  ordersSubmitted: number;
  ordersDenied: number;
  deniedByCheck: Record<string, number>;
  ordersRejected: number;
  fills: number;
  roundTrips: number;
  wins: number;
  losses: number;
  /** wins / roundTrips, or null without round trips. */
  winRate: number | null;
  startingBalance: string;
  /** Realized PnL before fees, USDT. */
  grossPnl: string;
  fees: string;
  /** grossPnl − fees, USDT (positions still open at the end are not included). */
  netPnl: string;
  /**
   * Funding over the run (see backtest/funding.ts): paid, received, net, counts; `enabled` false
   * when the run had no funding rates (`--funding none`, or a live/paper source).
   */
  funding: FundingTotals & { enabled: boolean };
  /** netPnl + funding.net, USDT: what the account kept from closed trading and funding. */
  netPnlAfterFunding: string;
  /** Every funding payment applied (also stored with the run's summary in the database). */
  fundingPayments: FundingPayment[];
  /** Trade statistics, exposure, monthly returns, per-symbol and per-strategy breakdowns, buy-and-hold benchmark. */
  metrics: BacktestMetrics;
  /** Equity at the end including open positions marked at their last close, and funding, USDT (float, analytics). */
  endingEquity: number;
  maxDrawdown: number;
  maxDrawdownPct: number;
  /** Annualised Sharpe ratio of daily returns (√365), or null with < 2 days. */
  sharpe: number | null;
  openPositions: Record<string, string>;
  elapsedMs: number;
  candlesPerSecond: number;
  bus: { published: number; delivered: number; conflated: number; handlerErrors: number };
  database: string;
}

/** Inputs of {@link buildReport}. */
export interface ReportInputs {
  runId: string;
  mode: string;
  /** The replayed files (none for live sources). */
  files: readonly ReplayFile[];
  symbols: string[];
  candles: number;
  elapsedMs: number;
  executor: Executor;
  perf: PerformanceSummary;
  bus: BusStats;
  dbFile: string;
  stopped: boolean;
  startingBalance: string;
  /** Round trips (funding attributed), see {@link TradeLedger}. */
  trades?: readonly TradeRecord[];
  /** The run's funding book; null or absent = funding off. */
  funding?: FundingBook | null;
  /** First open / last close per symbol (benchmark). */
  prices?: ReadonlyMap<Symbol, { first: string; last: string }>;
  /** Replayed span, UTC epoch ms [from, to). */
  span?: { from: number; to: number } | null;
}

const round = (x: number, dp: number): number => Math.round(x * 10 ** dp) / 10 ** dp;

/** Assemble the report. */
export function buildReport(i: ReportInputs): BacktestReport {
  const s = i.executor.stats;
  const totals = i.executor.totals();
  const fundingTotals: FundingTotals = i.funding?.totals() ?? { paid: '0', received: '0', net: '0', payments: 0, fundingTimes: 0, uncoveredSymbols: [], uncoveredSpans: [], sources: {} };
  const metrics = computeMetrics({
    trades: i.trades ?? [],
    dailyReturns: i.perf.dailyReturns,
    days: i.perf.days,
    span: i.span ?? null,
    symbols: i.symbols,
    prices: i.prices ?? new Map(),
    startingEquity: i.perf.startingEquity,
    endingEquity: i.perf.endingEquity,
  });
  return {
    runId: i.runId,
    mode: i.mode,
    interrupted: i.stopped,
    symbols: i.symbols,
    data: i.files.map((f) => ({
      symbol: f.symbol,
      file: f.path,
      rows: f.rows,
      from: f.firstOpenTime,
      to: f.lastOpenTime,
      gaps: f.gaps.length,
      missingMinutes: f.missingMinutes,
    })),
    candles: i.candles,
    signals: s.signals,
    ordersSubmitted: s.submitted,
    ordersDenied: s.denied,
    deniedByCheck: { ...s.deniedByCheck },
    ordersRejected: s.rejected,
    fills: s.fills,
    roundTrips: s.roundTrips,
    wins: s.wins,
    losses: s.losses,
    winRate: s.roundTrips > 0 ? round(s.wins / s.roundTrips, 4) : null,
    startingBalance: i.startingBalance,
    grossPnl: totals.realizedPnl,
    fees: totals.fees,
    netPnl: totals.netPnl,
    funding: { enabled: i.funding != null, ...fundingTotals },
    netPnlAfterFunding: str(new Decimal(totals.netPnl).plus(fundingTotals.net)),
    fundingPayments: i.funding ? [...i.funding.payments] : [],
    metrics,
    endingEquity: round(i.perf.endingEquity, 4),
    maxDrawdown: round(i.perf.maxDrawdown, 4),
    maxDrawdownPct: round(i.perf.maxDrawdownPct, 6),
    sharpe: i.perf.sharpe === null ? null : round(i.perf.sharpe, 4),
    openPositions: i.executor.positionSnapshot(),
    elapsedMs: round(i.elapsedMs, 1),
    candlesPerSecond: i.elapsedMs > 0 ? Math.round((i.candles / i.elapsedMs) * 1000) : 0,
    bus: { published: i.bus.published, delivered: i.bus.delivered, conflated: i.bus.conflated, handlerErrors: i.bus.handlerErrors },
    database: i.dbFile,
  };
}

/**
 * One warning line per stretch of data the funding rates do not reach (see
 * {@link FundingTotals.uncoveredSpans}), times as UTC `YYYY-MM-DD HH:MM`; none when funding is off.
 */
export function fundingWarnings(f: Pick<FundingTotals, 'uncoveredSpans'> & { enabled: boolean }): string[] {
  if (!f.enabled) return [];
  const utc = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 16);
  return (f.uncoveredSpans ?? []).map(
    (g) =>
      `warning: funding rates of ${g.symbol} ${g.where === 'start' ? 'start' : 'end'} at ${utc(g.where === 'start' ? g.to : g.from)}: its data ${utc(g.from)} → ${utc(g.to)} UTC is unfunded (more than one ${g.intervalMs / 3_600_000} h funding interval without a rate)`,
  );
}

/** The report as a few human-readable lines. */
export function formatReport(r: BacktestReport): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);
  const m = r.metrics;
  const breakdown = (what: string, g: Record<string, TradeStats>): string[] =>
    Object.entries(g).map(
      ([k, t]) => `  ${what} ${k}: ${t.trades} trades, win rate ${pct(t.winRate)}, net ${t.netPnl} (gross ${t.grossPnl}, fees ${t.fees}, funding ${t.funding}), profit factor ${t.profitFactor ?? 'n/a'}`,
    );
  const denied = Object.entries(r.deniedByCheck)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `run ${r.runId}${r.interrupted ? ' (interrupted)' : ''}: ${r.symbols.join(', ')}`,
    `  candles ${r.candles}, signals ${r.signals}, orders submitted ${r.ordersSubmitted}, denied ${r.ordersDenied}${denied ? ` (${denied})` : ''}, rejected ${r.ordersRejected}, fills ${r.fills}`,
    `  round trips ${r.roundTrips} (won ${r.wins}, lost ${r.losses}, win rate ${pct(r.winRate)})`,
    `  net PnL ${r.netPnl} USDT (gross ${r.grossPnl}, fees ${r.fees}); ending equity ${r.endingEquity.toFixed(2)} from ${r.startingBalance}`,
    `  funding ${r.funding.enabled ? `paid ${r.funding.paid}, received ${r.funding.received}, net ${r.funding.net} USDT (${r.funding.payments} payments)${r.funding.uncoveredSymbols.length ? `; no rates for ${r.funding.uncoveredSymbols.join(', ')}` : ''}` : 'off'}; net after funding ${r.netPnlAfterFunding} USDT`,
    ...fundingWarnings(r.funding).map((w) => `  ${w}`),
    `  max drawdown ${r.maxDrawdown.toFixed(2)} USDT (${pct(r.maxDrawdownPct)}), Sharpe ${r.sharpe ?? 'n/a'}, return ${pct(m.totalReturn)}`,
    `  average trade ${m.all.averageTrade ?? 'n/a'} USDT, profit factor ${m.all.profitFactor ?? 'n/a'}, expectancy ${m.all.expectancy ?? 'n/a'} USDT (${m.all.expectancyR ?? 'n/a'} R), exposure ${pct(m.exposure)}`,
    `  monthly returns: ${m.monthlyReturns.map((x) => `${x.month} ${pct(x.return)}`).join(', ') || 'n/a'}`,
    `  buy-and-hold ${m.benchmark ? `${pct(m.benchmark.return)} (${m.benchmark.legs.map((l) => `${l.symbol} ${pct(l.return)}`).join(', ')}), ending equity ${m.benchmark.endingEquity.toFixed(2)}` : 'n/a'}`,
    ...breakdown('symbol', m.bySymbol),
    ...breakdown('strategy', m.byStrategy),
    `  ${r.elapsedMs} ms, ${r.candlesPerSecond.toLocaleString('en-US')} candles/s; database ${r.database}`,
  ].join('\n');
}
