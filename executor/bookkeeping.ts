/**
 * The executor's book of what comes back from the venue: order events (`order.update`: fills,
 * rejections, cancels, expiries, and events of orders perpbot did not place), position reports
 * (`account.update`), the matching of fills against reports, round trips and the PnL they feed
 * to the risk engine, the positions re-read when fills and reports stay unmatched, the TTL
 * cancel of LIMIT orders, and the book restored at start. Split from executor.ts, whose module
 * doc states the rules; these functions borrow the executor's state through a
 * {@link BookContext}, as ../src/exchange/binance/order-settlement.ts does the venue's.
 *
 * On the order path from a signal to the venue's submit the executor calls only these of them:
 * {@link closeOrder} (an order denied after the book reserved it), and from the executor's
 * `tick()`, which a signal runs first, {@link refreshOverduePositions} (returns at once while
 * everything is matched) and {@link cancelExpiredLimits} (only with a LIMIT TTL and orders open).
 * The executor's decisions read the shared maps directly.
 *
 * Units: quantities are base asset, signed where they are positions (negative = short); PnL,
 * fees and equity are quote asset (USDT); times are UTC epoch ms. Money is Decimal or decimal
 * text, never a float.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../src/bus/bus.ts';
import type { Clock } from '../src/core/clock.ts';
import { Decimal, ZERO, str } from '../src/core/decimal.ts';
import { errorMessage } from '../src/core/errors.ts';
import type { OrderEvent, OrderIntent, Position, PositionChanged, Symbol } from '../src/core/types.ts';
import { POSITION_REPORT_OVERDUE_MS, type ExecutorStats, type OpenOrder, type RoundTrip, type Trip } from './executor-types.ts';
import type { ProtectiveStops } from './protective-stops.ts';
import type { RiskEngine, StateChange } from './risk.ts';
import type { Venue } from './venue.ts';

/** The venue's last reported position of a symbol. */
export interface ReportedPosition {
  /** Signed, base asset. */
  quantity: Decimal;
  /** When it was reported (the report's `updatedAt`, never moving back), UTC epoch ms. */
  at: number;
}

/**
 * Fills of a symbol not yet matched by a position report, minus report changes not yet matched
 * by a fill. Binance sends ACCOUNT_UPDATE and ORDER_TRADE_UPDATE in either order (and two legs
 * of a reversal at the same millisecond), so fills and reports are matched by quantity, not by
 * time. While it is not zero the position held is not settled: no new order goes out for the
 * symbol and no round trip closes.
 */
export interface UnmatchedQuantity {
  /** Signed, base asset; never zero (a zero entry is deleted). */
  quantity: Decimal;
  /** Since when it has not been zero, UTC epoch ms (the executor's clock). */
  since: number;
}

/**
 * What the bookkeeping borrows from the executor (Executor builds it once). The maps and the
 * stats object are the executor's own, shared, not copied.
 */
export interface BookContext {
  bus: EventBus;
  venue: Venue;
  clock: Clock;
  log: Logger;
  risk: RiskEngine;
  /** The executor's counters these functions add to. */
  stats: ExecutorStats;
  /** The protective stops (null when `exchangeStop` is off): told of order events and positions. */
  stops: ProtectiveStops | null;
  /** Orders the executor is waiting on, by client order id (protective stops excluded). */
  open: Map<string, OpenOrder>;
  /** How many orders of each symbol are in `open` (absent = none). */
  openBySymbol: Map<Symbol, number>;
  /** The venue's last reported position per symbol. */
  reported: Map<Symbol, ReportedPosition>;
  /** Per symbol, fills and reports not matched yet (absent = matched). */
  unmatched: Map<Symbol, UnmatchedQuantity>;
  /** Round trips in progress, by symbol. */
  trips: Map<Symbol, Trip>;
  /** Completed round trips, oldest first (appended to). */
  roundTrips: RoundTrip[];
  /** Mutable: true while a read of the venue's positions ({@link refreshOverduePositions}) runs. */
  refreshingPositions: boolean;
  /**
   * Add a fill of perpbot's order to the executor's totals: `realizedPnl` (before fees) and
   * `commission`, quote asset decimal text, and `net` = realizedPnl − commission.
   */
  addPnl(realizedPnl: string, commission: string, net: Decimal): void;
  /** Log and publish a trading-state change (`risk.state`); null changes nothing. */
  publishState(change: StateChange | null): void;
  /** Keep `message` as the executor's last error. */
  noteError(message: string): void;
}

/**
 * Put the orders the database holds as open (with what has executed of them, base asset decimal
 * text) and the positions (the exchange's, after reconciliation) in the book. A position held
 * across the restart starts a round trip owned by the strategy of an open order of its symbol
 * (else `restored`), with no PnL yet. Protective stops must be filtered out before.
 * @throws Error (decimal.js `[DecimalError] Invalid argument`) when an `executedQty` or a position's quantity is not a decimal
 */
export function restoreBook(
  ctx: BookContext,
  openOrders: ReadonlyArray<{ intent: OrderIntent; executedQty: string }>,
  positions: ReadonlyArray<Position>,
): void {
  for (const { intent, executedQty } of openOrders) {
    ctx.open.set(intent.clientOrderId, { intent, executed: new Decimal(executedQty) });
    ctx.openBySymbol.set(intent.symbol, (ctx.openBySymbol.get(intent.symbol) ?? 0) + 1);
  }
  for (const p of positions) {
    const q = new Decimal(p.quantity);
    ctx.reported.set(p.symbol, { quantity: q, at: p.updatedAt });
    // A position held across the restart: its round trip continues, its earlier PnL is history.
    if (!q.isZero()) ctx.trips.set(p.symbol, { strategyId: ownerOf(p.symbol, openOrders), net: ZERO });
  }
}

function ownerOf(symbol: Symbol, orders: ReadonlyArray<{ intent: OrderIntent }>): string {
  return orders.find((o) => o.intent.symbol === symbol)?.intent.strategyId ?? 'restored';
}

/**
 * Cancel the open LIMIT orders older than `ttl` (ms, by their intent's `createdAt`) at `now`
 * (UTC epoch ms), each once until the venue answers; a failed cancel is logged, kept as the last
 * error and tried again on the next call. Never throws; does not wait for the venue.
 */
export function cancelExpiredLimits(ctx: BookContext, now: number, ttl: number): void {
  for (const o of ctx.open.values()) {
    if (o.intent.type !== 'LIMIT' || o.canceling || now - o.intent.createdAt < ttl) continue;
    o.canceling = true;
    ctx.log.info({ clientOrderId: o.intent.clientOrderId, ageMs: now - o.intent.createdAt }, 'limit order TTL reached: canceling');
    void ctx.venue.cancel(o.intent.symbol, o.intent.clientOrderId).catch((err: unknown) => {
      o.canceling = false; // try again on the next tick
      ctx.noteError(`TTL cancel of ${o.intent.clientOrderId}: ${errorMessage(err)}`);
      ctx.log.warn({ err, clientOrderId: o.intent.clientOrderId }, 'TTL cancel failed; retried on the next tick');
    });
  }
}

/**
 * Fills and position reports still unmatched after {@link POSITION_REPORT_OVERDUE_MS} at `now`
 * (UTC epoch ms): a lost ACCOUNT_UPDATE (ask the venue for its positions and publish them), or a
 * report of trades that are not perpbot's (manual trading, a liquidation: the report is the
 * truth, the difference is dropped with a warning). Either way the symbol is not blocked for
 * good. Never throws; does not wait for the venue (one read at a time; a failed read is logged,
 * kept as the last error and tried again on the next call).
 */
export function refreshOverduePositions(ctx: BookContext, now: number): void {
  if (ctx.unmatched.size === 0) return; // the hot path (every kline in replay)
  const overdue = [...ctx.unmatched].filter(([, u]) => now - u.since > POSITION_REPORT_OVERDUE_MS);
  if (overdue.length === 0 || ctx.refreshingPositions) return;
  ctx.refreshingPositions = true;
  ctx.log.warn({ symbols: overdue.map(([sym, u]) => `${sym} ${str(u.quantity)}`) }, 'fills and position updates do not match after a while: asking the venue for its positions');
  void ctx.venue
    .positions()
    .then((ps) => {
      for (const [sym] of overdue) {
        const position = ps.find((p) => p.symbol === sym) ?? { symbol: sym, quantity: '0', entryPrice: '0', realizedPnl: '0', fees: '0', updatedAt: now };
        // The venue's current position, fills included: the truth from now on (onPosition
        // clears the mismatch when it handles this, in order with the signals).
        const at = Math.max(position.updatedAt, ctx.reported.get(sym)?.at ?? 0);
        void ctx.bus.publish('account.update', { type: 'PositionChanged', ts: now, position: { ...position, updatedAt: at }, source: 'reconcile' });
      }
    })
    .catch((err: unknown) => {
      ctx.noteError(`positions: ${errorMessage(err)}`);
      ctx.log.warn({ err }, 'reading positions from the venue failed; retried on the next tick');
    })
    .finally(() => {
      ctx.refreshingPositions = false;
    });
}

/** Add `delta` (signed base asset) to the symbol's unmatched quantity; zero clears it. */
function match(ctx: BookContext, symbol: Symbol, delta: Decimal): void {
  if (delta.isZero()) return;
  const u = ctx.unmatched.get(symbol);
  const q = (u?.quantity ?? ZERO).plus(delta);
  if (q.isZero()) ctx.unmatched.delete(symbol);
  else ctx.unmatched.set(symbol, { quantity: q, since: u?.since ?? ctx.clock.now() });
}

/** Take `clientOrderId` out of the open orders (and its symbol's count); unknown ids change nothing. */
export function closeOrder(ctx: BookContext, clientOrderId: string): void {
  const o = ctx.open.get(clientOrderId);
  if (!o) return;
  ctx.open.delete(clientOrderId);
  const n = (ctx.openBySymbol.get(o.intent.symbol) ?? 1) - 1;
  if (n <= 0) ctx.openBySymbol.delete(o.intent.symbol);
  else ctx.openBySymbol.set(o.intent.symbol, n);
}

/**
 * An event of an order perpbot did not place: the position report will include its fills, so
 * they are matched against it (the symbol is not held up), but they count toward no strategy's
 * PnL, round trip, daily loss or daily quantity, nor the executor's totals.
 */
function onExternal(ctx: BookContext, e: OrderEvent): void {
  if (e.type === 'OrderAccepted') ctx.stats.externalOrders++;
  if (e.type !== 'OrderFilled') return;
  ctx.stats.externalFills++;
  const f = e.fill;
  ctx.log.warn({ clientOrderId: f.clientOrderId, symbol: f.symbol, side: f.side, quantity: f.quantity, price: f.price }, 'external fill (an order perpbot did not place): left out of strategy figures');
  match(ctx, f.symbol, f.side === 'BUY' ? new Decimal(f.quantity) : new Decimal(f.quantity).neg());
  closeTripIfFlat(ctx, f.symbol, f.time);
}

/**
 * Book one `order.update` event (the executor's queue, in bus order): an external order's event
 * is matched and counted only; perpbot's fills feed the totals, the risk engine (PnL, quantity
 * opened), the round trip and the matching; rejections, cancels, expiries and a last fill close
 * the order. The protective stops hear every event of perpbot's, with the intent the book held.
 * @throws Error (decimal.js `[DecimalError] Invalid argument`) when a fill's quantity, realized PnL or commission is not a decimal
 */
export function onOrderEvent(ctx: BookContext, e: OrderEvent): void {
  if (e.type !== 'OrderSubmitted' && e.type !== 'OrderDenied' && e.external !== undefined) {
    onExternal(ctx, e);
    return;
  }
  if (ctx.stops === null) return bookOrderEvent(ctx, e);
  const id = e.type === 'OrderFilled' ? e.fill.clientOrderId : e.type === 'OrderSubmitted' || e.type === 'OrderDenied' ? e.intent.clientOrderId : e.clientOrderId;
  const intent = ctx.open.get(id)?.intent;
  bookOrderEvent(ctx, e);
  ctx.stops.onOrderEvent(e, intent);
}

function bookOrderEvent(ctx: BookContext, e: OrderEvent): void {
  switch (e.type) {
    case 'OrderFilled': {
      ctx.stats.fills++;
      const f = e.fill;
      const now = f.time;
      const net = new Decimal(f.realizedPnl).minus(f.commission);
      ctx.addPnl(f.realizedPnl, f.commission, net);
      const o = ctx.open.get(f.clientOrderId);
      const strategyId = o?.intent.strategyId ?? ctx.trips.get(f.symbol)?.strategyId ?? 'unknown';
      ctx.risk.recordPnl(strategyId, net, now);
      if (o && !o.intent.reduceOnly) ctx.risk.recordOpened(f.symbol, new Decimal(f.quantity), now);
      const trip = ctx.trips.get(f.symbol);
      if (trip) trip.net = trip.net.plus(net);
      else ctx.trips.set(f.symbol, { strategyId, net });
      if (o) o.executed = o.executed.plus(f.quantity);
      match(ctx, f.symbol, f.side === 'BUY' ? new Decimal(f.quantity) : new Decimal(f.quantity).neg());
      if (e.status === 'FILLED') closeOrder(ctx, f.clientOrderId);
      closeTripIfFlat(ctx, f.symbol, f.time);
      return;
    }
    case 'OrderRejected':
      ctx.stats.rejected++;
      ctx.log.warn({ clientOrderId: e.clientOrderId, code: e.code, reason: e.reason }, 'order rejected by venue');
      closeOrder(ctx, e.clientOrderId);
      closeTripIfFlat(ctx, e.symbol, e.ts);
      return;
    case 'OrderCanceled':
    case 'OrderExpired':
      closeOrder(ctx, e.clientOrderId);
      closeTripIfFlat(ctx, e.symbol, e.ts);
      return;
    default:
      return;
  }
}

/**
 * Book a position report (`account.update`, in bus order). A report older than the one held is
 * ignored unless it comes from reconciliation; a reconciled report is the truth as it stands
 * (the symbol's mismatch is cleared), any other is matched against the fills. Then the round
 * trip may close, and the protective stops hear the new position.
 * @throws Error (decimal.js `[DecimalError] Invalid argument`) when the position's quantity is not a decimal
 */
export function onPosition(ctx: BookContext, e: PositionChanged): void {
  const p = e.position;
  const last = ctx.reported.get(p.symbol);
  // A report older than the one held (a slow REST poll racing the stream) changes nothing; the
  // exchange's truth (reconciliation) applies whichever clock stamped either.
  if (last && p.updatedAt < last.at && e.source !== 'reconcile') return;
  const q = new Decimal(p.quantity);
  ctx.reported.set(p.symbol, { quantity: q, at: Math.max(p.updatedAt, last?.at ?? 0) });
  // Restored and re-read positions are the truth as they stand: nothing to match.
  if (e.source === 'reconcile') ctx.unmatched.delete(p.symbol);
  else match(ctx, p.symbol, (last?.quantity ?? ZERO).minus(q));
  closeTripIfFlat(ctx, p.symbol, e.ts);
  ctx.stops?.onPosition(p.symbol, q);
}

/**
 * A round trip ends when the reported position is flat, every fill is in that report, and no
 * reduce-only order of the symbol is still open (its fill, carrying the trip's realized PnL,
 * may arrive after the exchange's position update). Then its net PnL feeds the loss streak.
 */
function closeTripIfFlat(ctx: BookContext, symbol: Symbol, ts: number): void {
  const trip = ctx.trips.get(symbol);
  if (!trip || ctx.unmatched.has(symbol) || !(ctx.reported.get(symbol)?.quantity ?? ZERO).isZero()) return;
  for (const o of ctx.open.values()) if (o.intent.symbol === symbol && o.intent.reduceOnly) return;
  ctx.trips.delete(symbol);
  ctx.stats.roundTrips++;
  if (trip.net.isNegative()) ctx.stats.losses++;
  else ctx.stats.wins++;
  ctx.roundTrips.push({ symbol, strategyId: trip.strategyId, netPnl: str(trip.net), closedAt: ts });
  ctx.publishState(ctx.risk.roundTripClosed(trip.net, ts));
}
