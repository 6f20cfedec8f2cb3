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
  /** Equity at the end including open positions marked at their last close, USDT (float, analytics). */
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
}

const round = (x: number, dp: number): number => Math.round(x * 10 ** dp) / 10 ** dp;

/** Assemble the report. */
export function buildReport(i: ReportInputs): BacktestReport {
  const s = i.executor.stats;
  const totals = i.executor.totals();
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

/** The report as a few human-readable lines. */
export function formatReport(r: BacktestReport): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);
  const denied = Object.entries(r.deniedByCheck)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `run ${r.runId}${r.interrupted ? ' (interrupted)' : ''}: ${r.symbols.join(', ')}`,
    `  candles ${r.candles}, signals ${r.signals}, orders submitted ${r.ordersSubmitted}, denied ${r.ordersDenied}${denied ? ` (${denied})` : ''}, rejected ${r.ordersRejected}, fills ${r.fills}`,
    `  round trips ${r.roundTrips} (won ${r.wins}, lost ${r.losses}, win rate ${pct(r.winRate)})`,
    `  net PnL ${r.netPnl} USDT (gross ${r.grossPnl}, fees ${r.fees}); ending equity ${r.endingEquity.toFixed(2)} from ${r.startingBalance}`,
    `  max drawdown ${r.maxDrawdown.toFixed(2)} USDT (${pct(r.maxDrawdownPct)}), Sharpe ${r.sharpe ?? 'n/a'}`,
    `  ${r.elapsedMs} ms, ${r.candlesPerSecond.toLocaleString('en-US')} candles/s; database ${r.database}`,
  ].join('\n');
}
