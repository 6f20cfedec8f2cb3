/**
 * How the {@link RecordWriter} (./writer.ts) turns one buffered order, position or risk event
 * into rows inside its flush transaction: which statement of ./writer-sql.ts each event type
 * runs, the order row of an external order inserted before its events, a fill's sums on its
 * order row, and the counting of rows and orphan events for the writer's stats. The rules an
 * event follows are stated on `RecordWriter.orderEvent`, `position` and `riskEvent`.
 * Split from writer.ts.
 *
 * Units: prices are quote asset, quantities base asset, times UTC epoch ms. Money is decimal
 * text, summed with decimal.js (40 significant digits, half-even), never a float.
 */
import type Database from 'better-sqlite3';
import { dec, str } from '../src/core/decimal.ts';
import type { Fill, OrderEvent, OrderIntent, OrderStatus, PositionChanged, TradingStateChanged } from '../src/core/types.ts';
import type { SQL } from './writer-sql.ts';

/** A record the writer applies in arrival order at a flush (after candles and signals). */
export type BufferedEvent = OrderEvent | PositionChanged | TradingStateChanged;

/** A value bound to a statement parameter: text (decimal strings included), number or NULL. */
export type Bind = string | number | null;

/** The writer's prepared statements, one per entry of {@link SQL}, by the same name. */
export type WriterStatements = { [K in keyof typeof SQL]: Database.Statement };

/**
 * Rows one flush wrote (counts, not amounts), added to the writer's stats once its transaction
 * commits: inserted candles, signals, orders and fills, and order events that matched no order.
 */
export interface Delta {
  candles: number;
  signals: number;
  orders: number;
  fills: number;
  orphans: number;
}

const TERMINAL: ReadonlySet<OrderStatus> = new Set<OrderStatus>(['FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'DENIED']);

/**
 * The named parameters of an order row (insertOrder, insertDenied, upsertDenied) from an intent
 * of run `runId`: `quantity` base asset, `price`, `stopPrice` and `refPrice` quote asset as the
 * intent's decimal strings (absent → null), `reduceOnly` as 0/1, `createdAt` the intent's and
 * `updatedAt` the given time (UTC epoch ms). Does not validate (the caller has).
 */
export function orderParams(runId: string, i: OrderIntent, updatedAt: number): Record<string, Bind> {
  return {
    runId,
    clientOrderId: i.clientOrderId,
    symbol: i.symbol,
    side: i.side,
    type: i.type,
    quantity: i.quantity,
    price: i.price ?? null,
    stopPrice: i.stopPrice ?? null,
    timeInForce: i.timeInForce ?? null,
    reduceOnly: i.reduceOnly ? 1 : 0,
    strategyId: i.strategyId,
    signalId: i.signalId ?? null,
    refPrice: i.refPrice,
    createdAt: i.createdAt,
    updatedAt,
  };
}

/**
 * Apply one buffered event of run `runId` through the prepared statements `s`, adding what it
 * inserted (orders, fills) and whether it matched no order (orphans) to `delta`. Must run inside
 * the writer's flush transaction; the event's money fields were validated when it was buffered.
 * @throws Error from better-sqlite3 when a statement fails (the flush rolls back)
 * @throws TypeError when a stored `executed_qty` or `cum_quote` is not a decimal string
 */
export function applyEvent(s: WriterStatements, runId: string, e: BufferedEvent, delta: Delta): void {
  if (e.type !== 'PositionChanged' && e.type !== 'TradingStateChanged' && e.type !== 'OrderSubmitted' && e.type !== 'OrderDenied' && e.external !== undefined) {
    // Someone else's order: its row exists (strategy "external") before its events apply.
    const x = e.external;
    const symbol = e.type === 'OrderFilled' ? e.fill.symbol : e.symbol;
    const clientOrderId = e.type === 'OrderFilled' ? e.fill.clientOrderId : e.clientOrderId;
    const orderId = e.type === 'OrderFilled' ? e.fill.orderId : e.type === 'OrderRejected' ? null : e.orderId;
    delta.orders += s.insertExternalOrder.run({ runId, clientOrderId, orderId, symbol, side: x.side, type: x.type, quantity: x.quantity, price: x.price === '0' ? null : x.price, reduceOnly: x.reduceOnly ? 1 : 0, ts: e.ts }).changes;
  }
  switch (e.type) {
    case 'OrderSubmitted':
      delta.orders += s.insertOrder.run(orderParams(runId, e.intent, e.ts)).changes;
      return;
    case 'OrderDenied': {
      const existed = s.orderExists.get(runId, e.intent.clientOrderId) !== undefined;
      (e.writtenAhead === true ? s.upsertDenied : s.insertDenied).run({ ...orderParams(runId, e.intent, e.ts), check: e.check, reason: e.reason });
      if (!existed) delta.orders++;
      return;
    }
    case 'OrderAccepted':
      if (s.accepted.run({ runId, clientOrderId: e.clientOrderId, orderId: e.orderId, ts: e.ts }).changes === 0) delta.orphans++;
      return;
    case 'OrderRejected': {
      const r = s.rejected.run({ runId, clientOrderId: e.clientOrderId, code: e.code, reason: e.reason, ts: e.ts });
      if (r.changes === 0) countIfOrphan(s, runId, e.clientOrderId, delta);
      return;
    }
    case 'OrderCanceled':
    case 'OrderExpired': {
      const status: OrderStatus = e.type === 'OrderCanceled' ? 'CANCELED' : 'EXPIRED';
      const r = s.closed.run({ runId, clientOrderId: e.clientOrderId, orderId: e.orderId, status, reason: e.reason, ts: e.ts });
      if (r.changes === 0) countIfOrphan(s, runId, e.clientOrderId, delta);
      return;
    }
    case 'OrderFilled':
      applyFill(s, runId, e.fill, e.status, e.ts, delta, e.external !== undefined);
      return;
    case 'PositionChanged': {
      const p = e.position;
      (e.source === 'reconcile' ? s.truePosition : s.upsertPosition).run(runId, p.symbol, p.quantity, p.entryPrice, p.realizedPnl, p.fees, p.updatedAt);
      return;
    }
    case 'TradingStateChanged':
      s.insertRisk.run(runId, e.ts, e.state, e.previous, e.reason);
      return;
  }
}

function applyFill(s: WriterStatements, runId: string, f: Fill, status: 'PARTIALLY_FILLED' | 'FILLED', ts: number, delta: Delta, external: boolean): void {
  const inserted = s.insertFill.run(
    runId,
    f.tradeId,
    f.orderId,
    f.clientOrderId,
    f.symbol,
    f.side,
    f.price,
    f.quantity,
    f.commission,
    f.commissionAsset,
    f.realizedPnl,
    f.maker ? 1 : 0,
    f.time,
    external ? 1 : 0,
  ).changes;
  if (inserted === 0) return; // the same fill again: already counted in the order
  delta.fills++;
  const row = s.orderForFill.get(runId, f.clientOrderId) as
    | { executed_qty: string; cum_quote: string; status: OrderStatus }
    | undefined;
  if (row === undefined) {
    delta.orphans++;
    return;
  }
  const qty = dec(f.quantity, 'fill.quantity');
  const executed = dec(row.executed_qty, 'orders.executed_qty').plus(qty);
  const cumQuote = dec(row.cum_quote, 'orders.cum_quote').plus(dec(f.price, 'fill.price').times(qty));
  s.filled.run({
    runId,
    clientOrderId: f.clientOrderId,
    orderId: f.orderId,
    executedQty: str(executed),
    cumQuote: str(cumQuote),
    avgPrice: executed.isZero() ? null : str(cumQuote.div(executed)),
    status: TERMINAL.has(row.status) ? row.status : status,
    ts,
  });
}

function countIfOrphan(s: WriterStatements, runId: string, clientOrderId: string, delta: Delta): void {
  if (s.orderExists.get(runId, clientOrderId) === undefined) delta.orphans++;
}
