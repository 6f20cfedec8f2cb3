/**
 * Settling the venue's orders from REST: the query by client order id, the unknown-outcome rule
 * (found → accepted; absent → trusted only once the request's recvWindow has run out), bringing
 * an order up to date from a REST answer (its trades first, then its final state), and the three
 * background passes that use them: {@link resolvePending} (orders whose outcome is unknown),
 * {@link pollOrders} (every open order, while the user-data stream is down) and
 * {@link auditOrders} (orders that ended on the exchange without their stream event). Split from
 * venue.ts, whose module doc states the rules; these functions borrow the venue's state through
 * a {@link SettlementContext}, as ./algo-venue.ts does.
 *
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api
 * (Query Order, Current All Open Orders, Account Trade List) and the error-code page (-2013).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import { Decimal } from '../../core/decimal.ts';
import { errorMessage } from '../../core/errors.ts';
import type { OrderEvent, OrderIntent, Position, PositionChanged, Symbol } from '../../core/types.ts';
import type { SubmitResult, VenueEvent } from '../../../executor/venue.ts';
import { VenueError, toVenueError } from './errors.ts';
import { mapRestOrder, mapUserTrades, type VenueOrder } from './mapper.ts';
import { backoffDelay } from './retry.ts';
import type { UsdmRestPort } from './venue.ts';

/**
 * Margin past a request's recvWindow before its absence is trusted, ms: clock-offset error and
 * the matching engine's own queue.
 */
const ABSENCE_GRACE_MS = 1_000;

/** What the venue knows of an order it placed or adopted. */
export interface TrackedOrder {
  intent: Pick<OrderIntent, 'clientOrderId' | 'symbol' | 'side' | 'type' | 'quantity' | 'reduceOnly'>;
  /** The exchange's order id (an algo id for a protective stop not triggered yet); null before acceptance. */
  orderId: string | null;
  accepted: boolean;
  terminal: boolean;
  /** Quantity filled so far, base asset. */
  executed: Decimal;
  /** Trade ids already reported as fills (each is reported once). */
  tradeIds: Set<string>;
  /**
   * Exchange time (UTC epoch ms) of the last POST of this order whose outcome is unknown, or
   * null: no POST may be pending. An absence (-2013) is final only after this + recvWindow.
   */
  unknownSince: number | null;
  /** A submit() of this order is running (the background resolver leaves it alone). */
  submitting: boolean;
  /** When the order was last compared with the exchange's open orders ({@link auditOrders}), or first tracked; local clock, UTC epoch ms. */
  checkedAt: number;
}

/** The answer to a query by client order id: found, not found (-2013), or unknown (the query failed). */
export type OrderQuery = { kind: 'found'; order: VenueOrder } | { kind: 'absent' } | { kind: 'unknown'; error: VenueError };

/** What the settlement borrows from the venue (BinanceVenue builds it once). */
export interface SettlementContext {
  rest: Pick<UsdmRestPort, 'getOrder' | 'getAccountTrades'>;
  /** The venue's tracked orders by client order id (shared, not copied). */
  orders: Map<string, TrackedOrder>;
  clock: Clock;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Back-off between query attempts, ms. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** recvWindow of signed requests, ms. */
  recvWindowMs: number;
  /** The venue's counters these passes add to. */
  stats: { queries: number; resolved: number; polls: number; audits: number; auditSettled: number };
  /** Take from the rate-limit budget: null when reserved at once, else a promise of the wait. */
  throttle: (weight: number, orders: number) => Promise<void> | null;
  /** Learn from a failed call (429/418 block, halt on a ban); returns the same error. */
  observe: (ve: VenueError) => VenueError;
  /** Mark an order accepted under `orderId` (OrderAccepted once). */
  accept: (t: TrackedOrder, orderId: string) => void;
  /** Mark an order rejected (OrderRejected once). */
  reject: (t: TrackedOrder, ve: VenueError) => SubmitResult;
  /** Apply order events once each. */
  apply: (events: readonly OrderEvent[]) => void;
  /** Pass an event to the venue's listeners. */
  emit: (e: VenueEvent) => void;
  /** The exchange's answer for one order, algo orders included; null when it does not know it. */
  lookup: (symbol: Symbol, clientOrderId: string) => Promise<VenueOrder | null>;
  /** The exchange's open orders, algo orders included. */
  openOrders: () => Promise<VenueOrder[]>;
  /** The exchange's positions. */
  positions: () => Promise<Position[]>;
}

/** Exchange time (UTC epoch ms) after which an order whose last POST began at `sentAt` can no longer appear. */
function absenceFinalAt(c: SettlementContext, sentAt: number): number {
  return sentAt + c.recvWindowMs + ABSENCE_GRACE_MS;
}

/**
 * GET /fapi/v1/order by client order id (weight 1), up to 3 tries for retryable failures.
 * @returns found, absent (-2013), or unknown with the last error (never throws)
 */
export async function queryOrder(c: SettlementContext, symbol: Symbol, clientOrderId: string): Promise<OrderQuery> {
  let lastErr: VenueError | null = null;
  for (let i = 0; i < 3; i++) {
    if (i > 0) await c.sleep(backoffDelay(i, c.backoffBaseMs, c.backoffMaxMs, true, c.random));
    c.stats.queries++;
    await c.throttle(1, 0);
    try {
      return { kind: 'found', order: mapRestOrder(await c.rest.getOrder({ symbol, origClientOrderId: clientOrderId })) };
    } catch (err) {
      const ve = c.observe(toVenueError(err, { method: 'GET', path: '/fapi/v1/order', now: c.clock.now() }));
      if (ve.binanceCode === -2013) return { kind: 'absent' };
      lastErr = ve;
      if (!ve.retryable) break;
    }
  }
  return { kind: 'unknown', error: lastErr! };
}

/**
 * After an unknown outcome: query by client order id. Found → accepted and brought up to date.
 * Absent (-2013) → trusted only once the last POST's recvWindow has run out (waits for it,
 * then asks again). The query fails → unknown.
 */
export async function settleUnknown(c: SettlementContext, t: TrackedOrder): Promise<'found' | 'absent' | 'unknown'> {
  for (let asked = 1; ; asked++) {
    const q = await queryOrder(c, t.intent.symbol, t.intent.clientOrderId);
    if (q.kind === 'unknown') return 'unknown';
    if (q.kind === 'found') {
      t.unknownSince = null;
      c.accept(t, q.order.orderId);
      // Its fills so far: a failure here is not an unknown outcome (the order is known to
      // exist); the stream, or the next poll, brings them.
      await settleFromRest(c, t, q.order).catch((err: unknown) => c.log.warn({ clientOrderId: t.intent.clientOrderId }, `reading the fills of an adopted order failed: ${errorMessage(err)}`));
      return 'found';
    }
    const wait = absenceFinalAt(c, t.unknownSince ?? 0) - c.clock.now();
    if (wait <= 0 || asked >= 2) {
      t.unknownSince = null;
      return 'absent';
    }
    await c.sleep(wait); // then ask once more: that answer is final
  }
}

/**
 * Bring a tracked order up to date from a REST answer for it: trades the venue has not reported
 * yet (GET /fapi/v1/userTrades, weight 5) become fills first, then a final CANCELED/EXPIRED state
 * its event, so partial fills of an order canceled while the stream was down are never lost.
 * @throws VenueError or the library's rejection when the trades cannot be read (nothing applied)
 */
export async function settleFromRest(c: SettlementContext, t: TrackedOrder, o: VenueOrder): Promise<void> {
  if (t.terminal) return;
  if (!new Decimal(o.executedQuantity).eq(t.executed)) {
    await c.throttle(5, 0);
    const id = t.intent.clientOrderId;
    const trades = mapUserTrades(await c.rest.getAccountTrades({ symbol: o.symbol, orderId: o.orderId, limit: 1000 }), (oid) => (oid === o.orderId ? id : undefined));
    let cum = new Decimal(0);
    const fills: OrderEvent[] = [];
    for (const f of trades.sort((a, b) => (BigInt(a.tradeId) < BigInt(b.tradeId) ? -1 : 1))) {
      cum = cum.plus(f.quantity);
      const full = cum.gte(o.quantity) || (o.status === 'FILLED' && cum.eq(o.executedQuantity));
      fills.push({ type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity: cum.toFixed(), status: full ? 'FILLED' : 'PARTIALLY_FILLED' });
    }
    c.apply(fills);
  }
  if (o.status === 'CANCELED') c.apply([{ type: 'OrderCanceled', ts: o.updatedAt, clientOrderId: o.clientOrderId, orderId: o.orderId, symbol: o.symbol, reason: 'canceled on the exchange' }]);
  else if (o.status === 'EXPIRED') c.apply([{ type: 'OrderExpired', ts: o.updatedAt, clientOrderId: o.clientOrderId, orderId: o.orderId, symbol: o.symbol, reason: 'expired on the exchange' }]);
}

/**
 * Settle every order whose outcome is unknown (a POST that timed out and whose query failed
 * too): found → accepted, with its fills and final state; absent once its recvWindow has run
 * out → `OrderRejected` (never placed), so the executor stops waiting on it.
 */
export async function resolvePending(c: SettlementContext): Promise<void> {
  for (const t of [...c.orders.values()]) {
    if (t.terminal || t.accepted || t.submitting || t.unknownSince === null) continue;
    const r = await settleUnknown(c, t);
    if (r === 'absent') {
      c.stats.resolved++;
      c.log.warn({ clientOrderId: t.intent.clientOrderId }, 'order whose outcome was unknown was never placed: rejected');
      c.reject(
        t,
        new VenueError('never placed: the exchange does not know the order (-2013) after its recvWindow ran out', {
          kind: 'business',
          binanceCode: -2013,
          httpStatus: 400,
          retryable: false,
          retryAfterMs: null,
          action: 'none',
          request: 'GET /fapi/v1/order',
        }),
      );
    } else if (r === 'found') c.stats.resolved++;
  }
}

/**
 * REST fallback while the user-data stream is down: every open tracked order is queried; new
 * trades become fills, final states their events; then positions are re-read and emitted.
 * @throws VenueError when positions or an order's trades cannot be read
 */
export async function pollOrders(c: SettlementContext): Promise<void> {
  c.stats.polls++;
  for (const [id, t] of [...c.orders]) {
    if (t.terminal || t.submitting) continue;
    const q = await queryOrder(c, t.intent.symbol, id);
    if (q.kind !== 'found') continue;
    if (!t.accepted) c.accept(t, q.order.orderId);
    t.unknownSince = null;
    await settleFromRest(c, t, q.order);
  }
  for (const p of await c.positions()) c.emit({ type: 'PositionChanged', ts: c.clock.now(), position: p } satisfies PositionChanged);
}

/**
 * While the user-data stream is up: settle from REST the orders that ended on the exchange
 * without their stream event reaching perpbot. Only accepted, unfinished orders tracked or last
 * checked at least `minAgeMs` ago are considered; with none, nothing is asked. Otherwise the open
 * orders (algo orders included) are read once, and only the considered orders missing from them
 * are looked up one by one and settled (a protective stop that never triggered only when its algo
 * order was canceled or expired). See BinanceVenue.audit for the full contract.
 * @returns the number of orders settled to a final status
 * @throws VenueError when the open orders or an order cannot be read
 */
export async function auditOrders(c: SettlementContext, minAgeMs: number): Promise<number> {
  const now = c.clock.now();
  const due = [...c.orders.values()].filter((t) => t.accepted && !t.terminal && !t.submitting && now - t.checkedAt >= minAgeMs);
  if (due.length === 0) return 0;
  c.stats.audits++;
  const open = new Set((await c.openOrders()).map((o) => o.clientOrderId));
  let settled = 0;
  for (const t of due) {
    t.checkedAt = now;
    if (t.terminal || open.has(t.intent.clientOrderId)) continue;
    // A protective stop that triggered is an order under the same client id; one that did not
    // is only an algo order (lookup asks for it), settled here when it was canceled or expired.
    const o = await c.lookup(t.intent.symbol, t.intent.clientOrderId);
    if (o === null || ('algoStatus' in o && o.status !== 'CANCELED' && o.status !== 'EXPIRED')) continue;
    await settleFromRest(c, t, o);
    if (t.terminal) {
      settled++;
      c.log.warn({ clientOrderId: t.intent.clientOrderId, symbol: t.intent.symbol, status: o.status }, 'order ended on the exchange without its user-data event reaching perpbot: settled from REST');
    }
  }
  c.stats.auditSettled += settled;
  return settled;
}
