/**
 * Read helpers over perpbot's database (drizzle queries) for the CLI, the report, the dashboard
 * and tests. Synchronous (better-sqlite3). Rows come back as drizzle reads them: camelCase
 * fields, money as decimal strings, times as UTC epoch ms, 0/1 flags as booleans, `indicators`
 * parsed from JSON. Safe on a read-only connection.
 */
import { and, asc, count, desc, eq, gte, inArray, lt, ne } from 'drizzle-orm';
import { Decimal } from '../src/core/decimal.ts';
import type { Db } from './client.ts';
import { countCandles } from './candles.ts';
import {
  OPEN_ORDER_STATUSES,
  fills,
  orders,
  positions,
  riskEvents,
  runs,
  signals,
  type FillRow,
  type OrderRow,
  type PositionRow,
  type RunRow,
  type SignalRow,
} from './schema.ts';

/** Row counts of one run (and of the shared candle table). */
export interface RunRowCounts {
  /** All stored klines (market data is shared by runs, so not per run). */
  candles: number;
  signals: number;
  orders: number;
  fills: number;
  positions: number;
  riskEvents: number;
}

/**
 * Count the rows recorded for `runId` in each table; `candles` counts every stored kline
 * (O(hours stored)).
 */
export function countRows(db: Db, runId: string): RunRowCounts {
  const d = db.db;
  const n = (rows: { n: number }[]): number => rows[0]?.n ?? 0;
  return {
    candles: countCandles(db),
    signals: n(d.select({ n: count() }).from(signals).where(eq(signals.runId, runId)).all()),
    orders: n(d.select({ n: count() }).from(orders).where(eq(orders.runId, runId)).all()),
    fills: n(d.select({ n: count() }).from(fills).where(eq(fills.runId, runId)).all()),
    positions: n(d.select({ n: count() }).from(positions).where(eq(positions.runId, runId)).all()),
    riskEvents: n(d.select({ n: count() }).from(riskEvents).where(eq(riskEvents.runId, runId)).all()),
  };
}

/** Every order of `runId` (including DENIED ones), oldest first (created_at, then client order id). */
export function ordersForRun(db: Db, runId: string): OrderRow[] {
  return db.db.select().from(orders).where(eq(orders.runId, runId)).orderBy(asc(orders.createdAt), asc(orders.clientOrderId)).all();
}

/**
 * perpbot's orders of `runId` that may still trade: PENDING_NEW (written ahead, venue answer
 * unknown), NEW, PARTIALLY_FILLED; oldest first. External orders (not placed by perpbot) are
 * left out: perpbot never restores, settles or cancels them.
 */
export function openOrders(db: Db, runId: string): OrderRow[] {
  return db.db
    .select()
    .from(orders)
    .where(and(eq(orders.runId, runId), eq(orders.external, false), inArray(orders.status, [...OPEN_ORDER_STATUSES])))
    .orderBy(asc(orders.createdAt), asc(orders.clientOrderId))
    .all();
}

/** Every fill of `runId`, in execution order (time, then symbol and trade id). */
export function fillsForRun(db: Db, runId: string): FillRow[] {
  return db.db.select().from(fills).where(eq(fills.runId, runId)).orderBy(asc(fills.time), asc(fills.symbol), asc(fills.tradeId)).all();
}

/**
 * Signals of `runId` in arrival order. With `limit`, the most recent `limit` signals (still in
 * arrival order).
 * @throws RangeError when `limit` is given and not an integer ≥ 0
 */
export function signalsForRun(db: Db, runId: string, limit?: number): SignalRow[] {
  if (limit === undefined) {
    return db.db.select().from(signals).where(eq(signals.runId, runId)).orderBy(asc(signals.id)).all();
  }
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit: got ${limit}, expected an integer >= 0`);
  return db.db.select().from(signals).where(eq(signals.runId, runId)).orderBy(desc(signals.id)).limit(limit).all().reverse();
}

/** The latest position of each symbol of `runId` (flat ones included, quantity "0"), by symbol. */
export function positionsForRun(db: Db, runId: string): PositionRow[] {
  return db.db.select().from(positions).where(eq(positions.runId, runId)).orderBy(asc(positions.symbol)).all();
}

/** The most recently started run (by started_at, then id), or undefined when there is none. */
export function lastRun(db: Db): RunRow | undefined {
  return db.db.select().from(runs).orderBy(desc(runs.startedAt), desc(runs.id)).limit(1).get();
}

/** The current UTC day's risk counters of a run, rebuilt from its fills (see {@link riskDayOf}). */
export interface RiskDay {
  /** Base-asset quantity opened or grown today (fills of orders that were not reduce-only), per symbol. */
  opened: Record<string, string>;
  /** Realized PnL net of commissions today, USDT, per strategy (a fill of an unknown order: "unknown"). */
  strategyPnl: Record<string, string>;
}

/** One fill of a day with what its order says of it (null for a fill of an order the database lacks). */
export interface DayFill {
  symbol: string;
  /** Base asset. */
  quantity: string;
  /** USDT. */
  realizedPnl: string;
  /** Commission asset (USDT for USDT-margined symbols). */
  commission: string;
  strategyId: string | null;
  reduceOnly: boolean | null;
}

/**
 * perpbot's own fills of `runId` in the UTC day that starts at `dayStart` (UTC epoch ms of a
 * 00:00), with their order's strategy and reduce-only flag. External fills (orders perpbot did
 * not place, `fills.external`) are left out: they belong to no strategy. Shared by the risk
 * restore and the daily summary; {@link externalFillsOfDay} counts the others.
 */
export function fillsOfDay(db: Db, runId: string, dayStart: number): DayFill[] {
  return db.db
    .select({ symbol: fills.symbol, quantity: fills.quantity, realizedPnl: fills.realizedPnl, commission: fills.commission, strategyId: orders.strategyId, reduceOnly: orders.reduceOnly })
    .from(fills)
    .leftJoin(orders, and(eq(orders.runId, fills.runId), eq(orders.clientOrderId, fills.clientOrderId)))
    .where(and(eq(fills.runId, runId), eq(fills.external, false), gte(fills.time, dayStart), lt(fills.time, dayStart + 86_400_000)))
    .all();
}

/** How many external fills (orders perpbot did not place) `runId` has in the UTC day starting at `dayStart`. */
export function externalFillsOfDay(db: Db, runId: string, dayStart: number): number {
  return (
    db.db
      .select({ n: count() })
      .from(fills)
      .where(and(eq(fills.runId, runId), eq(fills.external, true), gte(fills.time, dayStart), lt(fills.time, dayStart + 86_400_000)))
      .get()?.n ?? 0
  );
}

/**
 * The symbols perpbot has traded on `runId`: those with an order perpbot placed (not external,
 * not merely denied) in the database. With the configured symbols, what `perpbot flatten` closes.
 */
export function perpbotSymbols(db: Db, runId: string): string[] {
  return db.db
    .selectDistinct({ symbol: orders.symbol })
    .from(orders)
    .where(and(eq(orders.runId, runId), eq(orders.external, false), ne(orders.status, 'DENIED')))
    .all()
    .map((r) => r.symbol)
    .sort();
}

/**
 * Rebuild the risk engine's counters for the UTC day of `now` from the fills of `runId`, so a
 * restart neither resets the daily loss limit nor the daily quantity cap. Sums are exact
 * decimals. Commissions are taken as USDT (perpbot trades USDT-margined symbols).
 * @param now UTC epoch ms inside the day to rebuild
 */
export function riskDayOf(db: Db, runId: string, now: number): RiskDay {
  const rows = fillsOfDay(db, runId, Math.floor(now / 86_400_000) * 86_400_000);
  const opened = new Map<string, Decimal>();
  const pnl = new Map<string, Decimal>();
  for (const r of rows) {
    if (r.reduceOnly === false) opened.set(r.symbol, (opened.get(r.symbol) ?? new Decimal(0)).plus(r.quantity));
    const id = r.strategyId ?? 'unknown';
    pnl.set(id, (pnl.get(id) ?? new Decimal(0)).plus(r.realizedPnl).minus(r.commission));
  }
  const out = (m: Map<string, Decimal>) => Object.fromEntries([...m].map(([k, v]) => [k, v.toFixed()]));
  return { opened: out(opened), strategyPnl: out(pnl) };
}

/** The latest trading-state changes recorded for `runId` (risk_events), newest first. */
export function recentTradingStateChanges(db: Db, runId: string, limit = 50): Array<{ ts: number; state: string; reason: string }> {
  return db.db
    .select({ ts: riskEvents.ts, state: riskEvents.state, reason: riskEvents.reason })
    .from(riskEvents)
    .where(eq(riskEvents.runId, runId))
    .orderBy(desc(riskEvents.id))
    .limit(limit)
    .all();
}

/** Trade ids (int64 strings) of the fills the database holds for one order of `runId`. */
export function tradeIdsOfOrder(db: Db, runId: string, clientOrderId: string): string[] {
  return db.db
    .select({ tradeId: fills.tradeId })
    .from(fills)
    .where(and(eq(fills.runId, runId), eq(fills.clientOrderId, clientOrderId)))
    .all()
    .map((r) => r.tradeId);
}
