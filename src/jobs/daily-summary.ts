/**
 * The daily summary: once a day (node-cron, UTC; default 00:00) the long-lived bot (paper, live)
 * sends the team what the last UTC day did: fills, realized PnL, fees and their net, from the
 * database (so a restart during the day loses nothing), with the positions and the trading
 * state as they stand. Sent through the {@link Alerter} (Slack, or the log without a token).
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { Decimal } from '../core/decimal.ts';
import { errorMessage } from '../core/errors.ts';
import type { Symbol, TradingState } from '../core/types.ts';
import type { Db } from '../../database/client.ts';
import { fillsOfDay } from '../../database/queries.ts';

const DAY_MS = 86_400_000;

/** What one UTC day of a run did, from its fills. Money in USDT, decimal strings. */
export interface DaySummary {
  /** The day's start, UTC epoch ms. */
  dayStart: number;
  fills: number;
  /** Realized PnL before fees. */
  realizedPnl: string;
  fees: string;
  /** realizedPnl − fees. */
  netPnl: string;
  /** Fills per symbol. */
  fillsBySymbol: Record<Symbol, number>;
}

/**
 * Sum the fills of `runId` whose time lies in the UTC day starting at `dayStart`. Exact decimals;
 * commissions are taken as USDT (perpbot trades USDT-margined symbols).
 * @param dayStart UTC epoch ms of a day's 00:00
 */
export function summarizeDay(db: Db, runId: string, dayStart: number): DaySummary {
  const rows = fillsOfDay(db, runId, dayStart);
  let realized = new Decimal(0);
  let fees = new Decimal(0);
  const bySymbol: Record<Symbol, number> = {};
  for (const r of rows) {
    realized = realized.plus(r.realizedPnl);
    fees = fees.plus(r.commission);
    bySymbol[r.symbol] = (bySymbol[r.symbol] ?? 0) + 1;
  }
  return { dayStart, fills: rows.length, realizedPnl: realized.toFixed(), fees: fees.toFixed(), netPnl: realized.minus(fees).toFixed(), fillsBySymbol: bySymbol };
}

/** One line for the team: `2025-07-06 (UTC): 4 fills (BTCUSDT 4), net PnL −1.45 USDT (realized …, fees …); positions …; trading ACTIVE`. */
export function formatDaySummary(d: DaySummary, positions: Record<Symbol, string>, state: { state: TradingState; reason: string }): string {
  const day = new Date(d.dayStart).toISOString().slice(0, 10);
  const per = Object.entries(d.fillsBySymbol).map(([s, n]) => `${s} ${n}`).join(', ');
  const pos = Object.entries(positions).map(([s, q]) => `${s} ${q}`).join(', ') || 'flat';
  const st = state.state === 'ACTIVE' ? 'ACTIVE' : `${state.state} (${state.reason})`;
  return `${day} (UTC): ${d.fills} fills${per ? ` (${per})` : ''}, net PnL ${d.netPnl} USDT (realized ${d.realizedPnl}, fees ${d.fees}); positions ${pos}; trading ${st}`;
}

/** What the job reads and where it sends. */
export interface DailySummaryDeps {
  db: Db;
  runId: string;
  /** Sends the text (the kernel's Alerter). */
  send: (text: string) => void;
  positions: () => Record<Symbol, string>;
  tradingState: () => { state: TradingState; reason: string };
  /** Wall clock, UTC epoch ms. */
  now: () => number;
  log: Logger;
}

/**
 * Schedule the summary of the previous UTC day on `expression` (a cron expression, evaluated in
 * UTC; with six fields the first is seconds).
 * @returns the scheduled task; `stop()` it at shutdown
 * @throws RangeError naming the expression when node-cron cannot parse it
 */
export function startDailySummary(expression: string, deps: DailySummaryDeps): ScheduledTask {
  if (!cron.validate(expression)) throw new RangeError(`alerts.dailySummaryCron: "${expression}" is not a cron expression`);
  return cron.schedule(
    expression,
    () => {
      try {
        const dayStart = Math.floor(deps.now() / DAY_MS) * DAY_MS - DAY_MS;
        deps.send(formatDaySummary(summarizeDay(deps.db, deps.runId, dayStart), deps.positions(), deps.tradingState()));
      } catch (err) {
        deps.log.warn({ err }, `daily summary failed: ${errorMessage(err)}`);
      }
    },
    { timezone: 'Etc/UTC', name: `daily-summary-${deps.runId}`, noOverlap: true },
  );
}
