/**
 * Read helpers over perpbot's database (drizzle queries) for the CLI, the report, the dashboard
 * and tests. Synchronous (better-sqlite3). Rows come back as drizzle reads them: camelCase
 * fields, money as decimal strings, times as UTC epoch ms, 0/1 flags as booleans, `indicators`
 * parsed from JSON. Safe on a read-only connection.
 */
import { and, asc, count, desc, eq, inArray } from 'drizzle-orm';
import type { Db } from './client.ts';
import {
  OPEN_ORDER_STATUSES,
  candles1m,
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
  /** All rows of `candles_1m` (market data is shared by runs, so not per run). */
  candles: number;
  signals: number;
  orders: number;
  fills: number;
  positions: number;
  riskEvents: number;
}

/**
 * Count the rows recorded for `runId` in each table; `candles` counts the whole shared
 * `candles_1m` table (a full scan: O(candles)).
 */
export function countRows(db: Db, runId: string): RunRowCounts {
  const d = db.db;
  const n = (rows: { n: number }[]): number => rows[0]?.n ?? 0;
  return {
    candles: n(d.select({ n: count() }).from(candles1m).all()),
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
 * Orders of `runId` that may still trade: PENDING_NEW (written ahead, venue answer unknown),
 * NEW, PARTIALLY_FILLED; oldest first.
 */
export function openOrders(db: Db, runId: string): OrderRow[] {
  return db.db
    .select()
    .from(orders)
    .where(and(eq(orders.runId, runId), inArray(orders.status, [...OPEN_ORDER_STATUSES])))
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
