/**
 * Read queries of the API and the dashboard (drizzle, synchronous, safe on a read-only
 * connection): paged and filtered orders, fills and signals; candles aggregated to 5m/15m/1h
 * with the strategy's session VWAP and bands; PnL sums; the equity curve; risk and operator
 * command history. Money stays decimal strings; times are UTC epoch ms.
 */
import { and, asc, count, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import { Decimal } from '../src/core/decimal.ts';
import { SessionVwap } from '../strategies/indicators/session-vwap.ts';
import type { Db } from '../database/client.ts';
import { candleRange as storedCandleRange, lastCandle, readCandles } from '../database/candles.ts';
import { fills, operatorCommands, orders, riskEvents, signals, type FillRow, type OperatorCommandRow, type OrderRow, type RiskEventRow, type SignalRow } from '../database/schema.ts';

/** A page request: symbol and time filters (UTC epoch ms, `from` inclusive, `to` exclusive), newest first. */
export interface PageQuery {
  symbol?: string;
  from?: number;
  to?: number;
  /** Rows per page (1–1000). */
  limit: number;
  /** Rows to skip (newest first). */
  offset: number;
}

/** A page of rows, newest first, with the total matching the filters. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

function page<T>(items: T[], total: number, q: PageQuery): Page<T> {
  return { items, total, limit: q.limit, offset: q.offset };
}

/** Orders of a run (including DENIED), newest first, filtered by symbol and created_at. */
export function ordersPage(db: Db, runId: string, q: PageQuery): Page<OrderRow> {
  const w: SQL[] = [eq(orders.runId, runId)];
  if (q.symbol) w.push(eq(orders.symbol, q.symbol));
  if (q.from !== undefined) w.push(gte(orders.createdAt, q.from));
  if (q.to !== undefined) w.push(lt(orders.createdAt, q.to));
  const where = and(...w);
  const total = db.db.select({ n: count() }).from(orders).where(where).get()?.n ?? 0;
  const items = db.db.select().from(orders).where(where).orderBy(desc(orders.createdAt), desc(orders.clientOrderId)).limit(q.limit).offset(q.offset).all();
  return page(items, total, q);
}

/** Fills of a run, newest first, filtered by symbol and time. */
export function fillsPage(db: Db, runId: string, q: PageQuery): Page<FillRow> {
  const w: SQL[] = [eq(fills.runId, runId)];
  if (q.symbol) w.push(eq(fills.symbol, q.symbol));
  if (q.from !== undefined) w.push(gte(fills.time, q.from));
  if (q.to !== undefined) w.push(lt(fills.time, q.to));
  const where = and(...w);
  const total = db.db.select({ n: count() }).from(fills).where(where).get()?.n ?? 0;
  const items = db.db.select().from(fills).where(where).orderBy(desc(fills.time), desc(fills.tradeId)).limit(q.limit).offset(q.offset).all();
  return page(items, total, q);
}

/** Signals of a run (with their indicator values), newest first, filtered by symbol and time. */
export function signalsPage(db: Db, runId: string, q: PageQuery): Page<SignalRow> {
  const w: SQL[] = [eq(signals.runId, runId)];
  if (q.symbol) w.push(eq(signals.symbol, q.symbol));
  if (q.from !== undefined) w.push(gte(signals.ts, q.from));
  if (q.to !== undefined) w.push(lt(signals.ts, q.to));
  const where = and(...w);
  const total = db.db.select({ n: count() }).from(signals).where(where).get()?.n ?? 0;
  const items = db.db.select().from(signals).where(where).orderBy(desc(signals.id)).limit(q.limit).offset(q.offset).all();
  return page(items, total, q);
}

/** Trading-state changes of a run, newest first (at most `limit`). */
export function riskHistory(db: Db, runId: string, limit = 200): RiskEventRow[] {
  return db.db.select().from(riskEvents).where(eq(riskEvents.runId, runId)).orderBy(desc(riskEvents.id)).limit(limit).all();
}

/** Operator commands of a run, newest first (at most `limit`). */
export function commandHistory(db: Db, runId: string, limit = 200): OperatorCommandRow[] {
  return db.db.select().from(operatorCommands).where(eq(operatorCommands.runId, runId)).orderBy(desc(operatorCommands.id)).limit(limit).all();
}

/** Realized PnL (before fees), fees and their difference over the fills of a run since `from` (UTC ms; all time when absent), USDT. */
export function pnlSince(db: Db, runId: string, from?: number): { realizedPnl: string; fees: string; netPnl: string; fills: number } {
  const w: SQL[] = [eq(fills.runId, runId)];
  if (from !== undefined) w.push(gte(fills.time, from));
  let realized = new Decimal(0);
  let fees = new Decimal(0);
  let n = 0;
  for (const r of db.db.select({ p: fills.realizedPnl, c: fills.commission }).from(fills).where(and(...w)).all()) {
    realized = realized.plus(r.p);
    fees = fees.plus(r.c);
    n++;
  }
  return { realizedPnl: realized.toFixed(), fees: fees.toFixed(), netPnl: realized.minus(fees).toFixed(), fills: n };
}

/** The time of the latest opening fill (an order that was not reduce-only) of a symbol: when its position began, UTC ms; null when none. */
export function openedAt(db: Db, runId: string, symbol: string): number | null {
  const r = db.db
    .select({ t: fills.time })
    .from(fills)
    .innerJoin(orders, and(eq(orders.runId, fills.runId), eq(orders.clientOrderId, fills.clientOrderId)))
    .where(and(eq(fills.runId, runId), eq(fills.symbol, symbol), eq(orders.reduceOnly, false)))
    .orderBy(desc(fills.time))
    .limit(1)
    .get();
  return r?.t ?? null;
}

/** Time of the latest fill of a run, UTC ms, or null. */
export function lastFillTime(db: Db, runId: string): number | null {
  return db.db.select({ t: fills.time }).from(fills).where(eq(fills.runId, runId)).orderBy(desc(fills.time)).limit(1).get()?.t ?? null;
}

/** The last recorded close of a symbol (its newest stored kline), or null. */
export function lastClose(db: Db, symbol: string): string | null {
  return lastCandle(db, symbol)?.close ?? null;
}

/** Symbols that have candles, signals or fills in the database (for a finished run's dashboard). */
export function knownSymbols(db: Db, runId: string): string[] {
  const rows = db.db.all<{ s: string }>(sql`SELECT DISTINCT symbol AS s FROM signals WHERE run_id = ${runId} UNION SELECT DISTINCT symbol AS s FROM fills WHERE run_id = ${runId} UNION SELECT DISTINCT symbol AS s FROM candle_blocks`);
  return rows.map((r) => r.s).sort();
}

/** Candle aggregation intervals the API serves, in minutes. */
export const INTERVALS = { '1m': 1, '5m': 5, '15m': 15, '1h': 60 } as const;
/** An interval name. */
export type Interval = keyof typeof INTERVALS;

/** One candle with the strategy's indicator values at its close (null while the session has no volume). */
export interface CandleWithBands {
  /** Open time, UTC epoch ms. */
  time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  /** Session VWAP (anchored 00:00 UTC), quote asset. */
  vwap: number | null;
  /** VWAP ± bandK·σ (entry bands). */
  upper: number | null;
  lower: number | null;
  /** VWAP ± stopK·σ (stop bands). */
  stopUpper: number | null;
  stopLower: number | null;
}

/**
 * Candles of `symbol` in [from, to) aggregated to `interval`, each with the session VWAP and its
 * bands as the strategy computes them (SessionVwap over the 1-minute candles from the session's
 * start, so the first bucket's values are right too). The last `limit` buckets.
 */
export function candlesWithBands(db: Db, symbol: string, q: { interval: Interval; from?: number; to?: number; limit: number; bandK: number; stopK: number }): CandleWithBands[] {
  const minutes = INTERVALS[q.interval];
  const to = q.to ?? Number.MAX_SAFE_INTEGER;
  // Without `from`: the last `limit` buckets, i.e. this many minutes back from the last candle.
  let from = q.from;
  if (from === undefined) {
    const last = lastCandle(db, symbol, to);
    if (!last) return [];
    from = Math.floor((last.openTime - (q.limit - 1) * minutes * 60_000) / (minutes * 60_000)) * minutes * 60_000;
  }
  const sessionStart = Math.floor(from / 86_400_000) * 86_400_000;
  const rows = readCandles(db, symbol, sessionStart, to);
  const vwap = new SessionVwap();
  const out: CandleWithBands[] = [];
  const bucketMs = minutes * 60_000;
  for (const r of rows) {
    vwap.update(r.openTime, Number(r.high), Number(r.low), Number(r.close), Number(r.volume));
    if (r.openTime < from) continue;
    const t = Math.floor(r.openTime / bucketMs) * bucketMs;
    const bands = {
      vwap: vwap.vwap,
      upper: vwap.upper(q.bandK),
      lower: vwap.lower(q.bandK),
      stopUpper: vwap.upper(q.stopK),
      stopLower: vwap.lower(q.stopK),
    };
    const cur = out[out.length - 1];
    if (cur && cur.time === t) {
      if (new Decimal(r.high).gt(cur.high)) cur.high = r.high;
      if (new Decimal(r.low).lt(cur.low)) cur.low = r.low;
      cur.close = r.close;
      cur.volume = new Decimal(cur.volume).plus(r.volume).toFixed();
      Object.assign(cur, bands);
    } else {
      out.push({ time: t, open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume, ...bands });
    }
  }
  return out.slice(-q.limit);
}

/** One point of the equity curve: after a fill, USDT. */
export interface EquityPoint {
  /** UTC epoch ms. */
  time: number;
  /** Starting balance + realized PnL − fees so far. */
  equity: string;
  /** Fall from the highest equity so far, as a fraction (0 = at the peak, 0.05 = 5 % below). */
  drawdown: number;
}

/** The realized equity curve of a run (one point per fill, from `startingBalance`) with its drawdown; at most `limit` points (the last ones). */
export function equityCurve(db: Db, runId: string, startingBalance: string, limit = 5000): EquityPoint[] {
  let equity = new Decimal(startingBalance);
  let peak = equity;
  const out: EquityPoint[] = [];
  const rows = db.db.select({ t: fills.time, p: fills.realizedPnl, c: fills.commission }).from(fills).where(eq(fills.runId, runId)).orderBy(asc(fills.time), asc(fills.tradeId)).all();
  for (const r of rows) {
    equity = equity.plus(r.p).minus(r.c);
    if (equity.gt(peak)) peak = equity;
    out.push({ time: r.t, equity: equity.toFixed(), drawdown: peak.isZero() ? 0 : peak.minus(equity).div(peak).toNumber() });
  }
  return out.slice(-limit);
}

/** Candle time range of a symbol (UTC ms of the first and last open time), or null. */
export function candleRange(db: Db, symbol: string): { first: number; last: number } | null {
  return storedCandleRange(db, symbol);
}
