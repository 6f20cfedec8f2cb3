/**
 * The live venue: perpbot's {@link Venue} on Binance USDⓈ-M futures REST, with order updates from
 * the user-data stream (ORDER_TRADE_UPDATE / ACCOUNT_UPDATE) and REST polling as the fallback
 * while that stream is down.
 *
 * Placing an order (the executor has already written it ahead with its deterministic client
 * order id):
 * - up to `attempts` tries, exponential backoff with full jitter, only for retryable failures
 *   (network, timeouts, 5xx, -1001, 429/-1003 after Retry-After, -1021 after a clock resync);
 * - business refusals (-2019, -4164, -1111, -4014, -2022, …) are final: `OrderRejected`;
 * - after an unknown outcome (timeout, network error, 5xx on POST /fapi/v1/order) it QUERIES the
 *   order by client order id before anything else: found → accepted; Binance says it does not
 *   exist (-2013) → it waits until the request's recvWindow has run out (Binance's matching
 *   engine refuses a request older than that, -5028, so a late original can no longer be placed)
 *   and asks again; still absent → resent with the same id. Binance keeps `newClientOrderId`
 *   unique among OPEN orders only, so a resend of a filled MARKET order would be accepted: never
 *   resend on one early -2013 (Binance's order index lags placement). The query itself fails →
 *   NOT resent (a market order may have filled): the outcome is unknown, and
 *   {@link BinanceVenue.resolvePending} keeps asking in the background until the order is found
 *   (accepted, its fills follow) or known never to have been placed (`OrderRejected`);
 * - every attempt refused before reaching the matching engine (429, -1021): `OrderRejected`, not
 *   an unknown outcome;
 * - a 429 or 418 anywhere (orders, queries, polls) blocks every REST call until its Retry-After;
 * - -4116 (duplicate client order id) means "already placed": it is queried and adopted;
 * - 418 (IP ban) halts trading through `onHalt` and says so.
 * Events reach listeners once each: OrderAccepted once per order, a fill once per trade id, a
 * terminal status once, whether it came from the stream, the REST answer or a poll.
 *
 * Settling orders from REST (the query by client order id, unknown outcomes, the poll while the
 * stream is down, the audit while it is up) is in ./order-settlement.ts; protective stops (algo
 * orders) in ./algo-venue.ts.
 *
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api
 * (New Order, Query Order, Cancel Order), .../user-data-streams (Event Order Update), and the
 * error-code page (-2013, -2011, -4116, -1021, 418/429).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import { Decimal } from '../../core/decimal.ts';
import type { ExternalOrderInfo, Fill, OrderEvent, OrderIntent, Position, Symbol } from '../../core/types.ts';
import { isPerpbotClientOrderId } from '../../../executor/client-order-id.ts';
import type { SubmitResult, Venue, VenueEvent, VenueListener } from '../../../executor/venue.ts';
import { VenueError, toVenueError } from './errors.ts';
import { mapAccountUpdate, mapExternalOrderInfo, mapOrderTradeUpdate, mapPositionRisks, mapRestOpenOrders, mapRestOrder, type VenueOrder } from './mapper.ts';
import { backoffDelay, type RateLimitTracker } from './retry.ts';
import { readUserTrades } from './user-trades.ts';
import { mapAlgoUpdate } from './algo-mapper.ts';
import { auditOrders, pollOrders, queryOrder, resolvePending, settleFromRest, settleUnknown, type SettlementContext, type TrackedOrder } from './order-settlement.ts';
import { cancelAlgoStop, lookupAlgo, openAlgoOrders, submitAlgoStop, type AlgoRestPort, type AlgoVenueContext } from './algo-venue.ts';

/** The REST calls the venue makes (the `binance` USDMClient satisfies it through a thin adapter). */
export interface UsdmRestPort {
  /** POST /fapi/v1/order; resolves with the raw (losslessly parsed) response. */
  submitNewOrder(params: Record<string, string | number | boolean>): Promise<unknown>;
  /** GET /fapi/v1/order by origClientOrderId. */
  getOrder(params: { symbol: string; origClientOrderId: string }): Promise<unknown>;
  /** DELETE /fapi/v1/order by origClientOrderId. */
  cancelOrder(params: { symbol: string; origClientOrderId: string }): Promise<unknown>;
  /** GET /fapi/v1/openOrders. */
  getAllOpenOrders(params?: { symbol?: string }): Promise<unknown>;
  /** GET /fapi/v3/positionRisk. */
  getPositionsV3(): Promise<unknown>;
  /** GET /fapi/v1/userTrades. */
  getAccountTrades(params: { symbol: string; orderId?: string; fromId?: string; startTime?: number; endTime?: number; limit?: number }): Promise<unknown>;
  /** The Algo Order API (protective stops); without it STOP_MARKET orders are refused and no algo order is listed. */
  algo?: AlgoRestPort;
}

/** Client order ids of protective stops (executor/protective-stops.ts STOP_PREFIX): algo orders. */
const STOP_ID_PREFIX = 'pb-stop-';

/** Options of {@link BinanceVenue}. */
export interface BinanceVenueOptions {
  rest: UsdmRestPort;
  clock: Clock;
  log: Logger;
  /** Tries per order for retryable failures. Default 5. */
  attempts?: number;
  /** Backoff base and cap, ms. Defaults 250 and 10,000. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Waits `ms` (injectable for tests). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Request-weight and order-count budget; the venue waits before exceeding it. */
  limits?: RateLimitTracker;
  /** Re-measure the clock offset after -1021. */
  resyncClock?: () => Promise<void>;
  /** Trading must stop (418 IP ban, auth failure): the kernel sets HALTED with this reason. */
  onHalt?: (reason: string) => void;
  /** Binance answered 429 (`rate_limit`) or 418 (`ip_ban`), with its Retry-After in ms if any (alerts). */
  onLimit?: (kind: 'rate_limit' | 'ip_ban', retryAfterMs: number | null, message: string) => void;
  /** recvWindow of signed requests, ms (config `binance.recvWindowMs`). Default 5,000. */
  recvWindowMs?: number;
}

const TERMINAL = new Set(['FILLED', 'CANCELED', 'EXPIRED', 'REJECTED']);
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** perpbot's Venue on Binance USDⓈ-M futures. */
export class BinanceVenue implements Venue {
  readonly name = 'binance';
  private readonly listeners: VenueListener[] = [];
  private readonly orders = new Map<string, TrackedOrder>();
  private readonly attempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  /** Commissions of the fills reported, per symbol, quote asset (ACCOUNT_UPDATE does not carry fees). */
  private readonly fees = new Map<Symbol, Decimal>();
  /** Realized PnL of the last position update per symbol (positionRisk carries none). */
  private readonly realized = new Map<Symbol, string>();
  /** No REST call before this exchange time (a 429's or 418's Retry-After), UTC epoch ms. */
  private blockedUntil = 0;
  /** Counters for the heartbeat. */
  readonly stats = { submitted: 0, retries: 0, queries: 0, unknownOutcomes: 0, resolved: 0, rejected: 0, duplicatesAdopted: 0, polls: 0, externalEvents: 0, audits: 0, auditSettled: 0 };

  /** What ./order-settlement.ts borrows: this venue's orders, budget and events. */
  private readonly settlement: SettlementContext;

  constructor(private readonly o: BinanceVenueOptions) {
    this.attempts = o.attempts ?? 5;
    this.sleep = o.sleep ?? defaultSleep;
    this.random = o.random ?? Math.random;
    this.settlement = {
      rest: o.rest,
      orders: this.orders,
      clock: o.clock,
      log: o.log,
      sleep: this.sleep,
      random: this.random,
      backoffBaseMs: o.backoffBaseMs ?? 250,
      backoffMaxMs: o.backoffMaxMs ?? 10_000,
      recvWindowMs: o.recvWindowMs ?? 5_000,
      stats: this.stats,
      throttle: (w, n) => this.throttle(w, n),
      observe: (ve) => this.observe(ve),
      accept: (t, orderId) => this.accept(t, orderId),
      reject: (t, ve) => this.reject(t, ve),
      apply: (events) => this.apply(events),
      emit: (e) => this.emit(e),
      lookup: (symbol, id) => this.lookup(symbol, id),
      openOrders: () => this.openOrders(),
      positions: () => this.positions(),
    };
  }

  /** Orders whose outcome is unknown now (sent, no answer yet), with since when (exchange time, UTC epoch ms). */
  unknownOrders(): Array<{ clientOrderId: string; symbol: Symbol; since: number }> {
    const out: Array<{ clientOrderId: string; symbol: Symbol; since: number }> = [];
    for (const t of this.orders.values()) if (t.unknownSince !== null && !t.terminal) out.push({ clientOrderId: t.intent.clientOrderId, symbol: t.intent.symbol, since: t.unknownSince });
    return out;
  }

  onEvent(listener: VenueListener): void {
    this.listeners.push(listener);
  }

  private emit(e: VenueEvent): void {
    if (e.type === 'PositionChanged') this.realized.set(e.position.symbol, e.position.realizedPnl);
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.o.log.error({ err, event: e.type }, 'venue listener failed');
      }
    }
  }

  /**
   * Seed the per-symbol totals from the database (after a restart): fees paid and realized PnL,
   * quote asset (USDT), as decimal strings.
   */
  seedFees(totals: Record<Symbol, string>, realizedPnl: Record<Symbol, string> = {}): void {
    for (const [s, f] of Object.entries(totals)) this.fees.set(s, new Decimal(f));
    for (const [s, r] of Object.entries(realizedPnl)) this.realized.set(s, r);
  }

  /**
   * Adopt orders known from the database (after a restart) so their updates are recognised.
   * `tradeIds`: the trades of the order the database already has, so a poll that re-reads them
   * does not report them again.
   */
  adopt(orders: ReadonlyArray<{ intent: TrackedOrder['intent']; orderId: string | null; executedQty: string; tradeIds?: readonly string[] }>): void {
    for (const x of orders) {
      this.orders.set(x.intent.clientOrderId, {
        intent: x.intent,
        orderId: x.orderId,
        accepted: x.orderId !== null,
        terminal: false,
        executed: new Decimal(x.executedQty),
        tradeIds: new Set(x.tradeIds ?? []),
        unknownSince: null,
        submitting: false,
        checkedAt: this.o.clock.now(),
      });
    }
  }

  /**
   * Take `weight` and `orders` from the rate-limit budget. Nothing blocking and budget left (the
   * usual case): reserved at once and null returned, so the caller sends in the same turn (the
   * order path: no other handler runs between the decision and the request). Otherwise a promise
   * that resolves once any 429/418 block has passed and the budget allows, with the budget reserved.
   */
  private throttle(weight: number, orders: number): Promise<void> | null {
    const l = this.o.limits;
    if (Math.max(this.blockedUntil - this.o.clock.now(), l?.blockedMs() ?? 0) > 0 || (l !== undefined && l.waitMs(weight, orders) > 0)) {
      return this.waitForBudget(weight, orders);
    }
    l?.reserve(weight, orders);
    return null;
  }

  private async waitForBudget(weight: number, orders: number): Promise<void> {
    const blocked = Math.max(this.blockedUntil - this.o.clock.now(), this.o.limits?.blockedMs() ?? 0);
    if (blocked > 0) await this.sleep(blocked);
    const l = this.o.limits;
    if (!l) return;
    const wait = l.waitMs(weight, orders);
    if (wait > 0) await this.sleep(wait);
    l.reserve(weight, orders);
  }

  /**
   * Learn from a failed REST call: a 429/418 Retry-After blocks every call until it has passed
   * (hammering on through a 429 earns a 418 ban); a 418 or an auth failure halts trading.
   * Source: Binance USDⓈ-M "General Info" (LIMITS: 429, 418 and Retry-After).
   */
  private observe(ve: VenueError): VenueError {
    if (ve.retryAfterMs !== null && ve.retryAfterMs > 0) {
      this.blockedUntil = Math.max(this.blockedUntil, this.o.clock.now() + ve.retryAfterMs);
      this.o.limits?.block(ve.retryAfterMs, ve.kind === 'ip_ban'); // shared with every other REST caller
    }
    if (ve.kind === 'rate_limit' || ve.kind === 'ip_ban') {
      this.o.limits?.noteLimited(ve.kind === 'ip_ban');
      this.o.onLimit?.(ve.kind, ve.retryAfterMs, ve.message);
    }
    if (ve.kind === 'ip_ban' || ve.kind === 'auth') this.o.onHalt?.(`${ve.kind === 'ip_ban' ? 'IP banned by Binance (418)' : 'authentication refused'}: ${ve.message}`);
    return ve;
  }

  private params(intent: OrderIntent): Record<string, string | number | boolean> {
    const p: Record<string, string | number | boolean> = {
      symbol: intent.symbol,
      side: intent.side,
      type: intent.type,
      quantity: intent.quantity,
      newClientOrderId: intent.clientOrderId,
      newOrderRespType: 'ACK',
    };
    if (intent.reduceOnly) p.reduceOnly = 'true';
    if (intent.type === 'LIMIT') {
      p.price = intent.price ?? '';
      p.timeInForce = intent.timeInForce ?? 'GTC';
    }
    return p;
  }

  /**
   * Place an order (see the module doc for retries and the unknown-outcome rule).
   * @returns accepted with the exchange order id, or rejected with Binance's code (also when every
   *   attempt was refused before reaching the matching engine: 429, -1021)
   * @throws VenueError (kind unknown_outcome or the last retryable one) when, after every
   *   attempt, it is still not known whether the order exists: the caller must not resend;
   *   {@link resolvePending} (and reconciliation at the next start) settles it
   */
  async submit(intent: OrderIntent): Promise<SubmitResult> {
    this.stats.submitted++;
    if (intent.type === 'STOP_MARKET') return this.submitStop(intent);
    const t: TrackedOrder = this.orders.get(intent.clientOrderId) ?? {
      intent,
      orderId: null,
      accepted: false,
      terminal: false,
      executed: new Decimal(0),
      tradeIds: new Set(),
      unknownSince: null,
      submitting: false,
      checkedAt: this.o.clock.now(),
    };
    this.orders.set(intent.clientOrderId, t);
    t.submitting = true;
    try {
      return await this.submitAttempts(t, intent);
    } finally {
      t.submitting = false;
    }
  }

  private async submitAttempts(t: TrackedOrder, intent: OrderIntent): Promise<SubmitResult> {
    let last: VenueError | null = null;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (attempt > 1) {
        this.stats.retries++;
        await this.sleep(Math.max(backoffDelay(attempt - 1, this.o.backoffBaseMs ?? 250, this.o.backoffMaxMs ?? 10_000, true, this.random), last?.retryAfterMs ?? 0));
      }
      const waiting = this.throttle(1, 1);
      if (waiting) await waiting;
      const sentAt = this.o.clock.now();
      try {
        const o = mapRestOrder(await this.o.rest.submitNewOrder(this.params(intent)));
        t.unknownSince = null;
        this.accept(t, o.orderId);
        return { accepted: true, orderId: o.orderId };
      } catch (err) {
        const ve = this.observe(toVenueError(err, { method: 'POST', path: '/fapi/v1/order', now: this.o.clock.now() }));
        last = ve;
        if (ve.binanceCode === -4116) {
          // Already placed (our id is deterministic): find it and adopt it.
          const found = await queryOrder(this.settlement, intent.symbol, intent.clientOrderId);
          if (found.kind === 'found') {
            this.stats.duplicatesAdopted++;
            t.unknownSince = null;
            this.accept(t, found.order.orderId);
            return { accepted: true, orderId: found.order.orderId };
          }
          continue;
        }
        if (ve.kind === 'ip_ban' || ve.kind === 'auth') return t.unknownSince === null ? this.reject(t, ve) : this.giveUp(t, ve);
        if (ve.kind === 'business') {
          // A refusal of THIS request; an earlier one may still be out there.
          return t.unknownSince === null ? this.reject(t, ve) : this.giveUp(t, ve);
        }
        if (ve.kind === 'clock') {
          await this.o.resyncClock?.();
          continue;
        }
        if (ve.kind === 'unknown_outcome' || ve.kind === 'timeout' || ve.kind === 'network' || ve.kind === 'server') {
          // The order may exist: ask before anything else; never resend on a guess.
          t.unknownSince = sentAt;
          const found = await settleUnknown(this.settlement, t);
          if (found === 'found') return { accepted: true, orderId: t.orderId! };
          if (found === 'unknown') {
            this.stats.unknownOutcomes++;
            this.o.log.error({ clientOrderId: intent.clientOrderId }, 'order outcome unknown and the query failed too: not resending; resolved in the background');
            throw ve;
          }
          continue; // absent for good: resend with the same client order id
        }
        // rate_limit and anything retryable: back off and try again
        if (!ve.retryable) return t.unknownSince === null ? this.reject(t, ve) : this.giveUp(t, ve);
      }
    }
    if (t.unknownSince === null && last !== null) {
      // Every attempt was refused before the matching engine (429, -1021): not placed.
      return this.reject(t, last);
    }
    return this.giveUp(t, last!);
  }

  /** The algo-order helper's view of this venue (./algo-venue.ts). */
  private algo(): AlgoVenueContext {
    const rest = this.o.rest.algo;
    if (rest === undefined) throw new VenueError('this venue has no Algo Order API port: protective stops cannot be placed', { kind: 'business', binanceCode: -4120, httpStatus: 400, retryable: false, retryAfterMs: null, action: 'none', request: 'POST /fapi/v1/algoOrder' });
    return {
      rest,
      attempts: this.attempts,
      backoffBaseMs: this.o.backoffBaseMs ?? 250,
      backoffMaxMs: this.o.backoffMaxMs ?? 10_000,
      random: this.random,
      now: () => this.o.clock.now(),
      sleep: this.sleep,
      throttle: (w, n) => this.throttle(w, n),
      observe: (ve) => this.observe(ve),
    };
  }

  /** A protective stop, through the Algo Order API (see ./algo-venue.ts). */
  private async submitStop(intent: OrderIntent): Promise<SubmitResult> {
    const t: TrackedOrder = this.orders.get(intent.clientOrderId) ?? { intent, orderId: null, accepted: false, terminal: false, executed: new Decimal(0), tradeIds: new Set(), unknownSince: null, submitting: false, checkedAt: this.o.clock.now() };
    this.orders.set(intent.clientOrderId, t);
    let ctx: AlgoVenueContext;
    try {
      ctx = this.algo();
    } catch (err) {
      return this.reject(t, err as VenueError);
    }
    const r = await submitAlgoStop(ctx, intent);
    if (r.kind === 'accepted') {
      this.accept(t, r.algoId);
      return { accepted: true, orderId: r.algoId };
    }
    if (r.kind === 'rejected') return this.reject(t, r.error);
    this.stats.unknownOutcomes++;
    throw r.error;
  }

  /** The outcome stays unknown: count it and throw (resolvePending settles it later). */
  private giveUp(t: TrackedOrder, ve: VenueError): never {
    this.stats.unknownOutcomes++;
    this.o.log.error({ clientOrderId: t.intent.clientOrderId }, `order outcome unknown after every attempt (${ve.message}); resolved in the background`);
    throw ve;
  }

  /**
   * Settle, in the background, every order whose outcome is unknown (a POST that timed out and
   * whose query failed too): found → accepted, with its fills and final state; absent once its
   * recvWindow has run out → `OrderRejected` (never placed), so the executor stops waiting on it.
   * The kernel calls this on an interval, whether or not the user-data stream is up.
   */
  resolvePending(): Promise<void> {
    return resolvePending(this.settlement);
  }

  private accept(t: TrackedOrder, orderId: string): void {
    t.orderId = orderId;
    if (t.accepted) return;
    t.accepted = true;
    this.emit({ type: 'OrderAccepted', ts: this.o.clock.now(), clientOrderId: t.intent.clientOrderId, orderId, symbol: t.intent.symbol });
  }

  private reject(t: TrackedOrder, ve: VenueError): SubmitResult {
    this.stats.rejected++;
    t.terminal = true;
    this.emit({ type: 'OrderRejected', ts: this.o.clock.now(), clientOrderId: t.intent.clientOrderId, symbol: t.intent.symbol, code: ve.binanceCode, reason: ve.message });
    return { accepted: false, code: ve.binanceCode, reason: ve.message };
  }

  /**
   * Apply order events (from the stream or synthesized from REST), once each.
   * @param external what the frame says of the order, asked only for an order that is not
   *   perpbot's (see {@link isPerpbotClientOrderId}): its events are passed on marked external
   *   (recorded, shown, alerted, attributed to no strategy), never acted upon
   */
  private apply(events: readonly OrderEvent[], external?: () => ExternalOrderInfo): void {
    for (const e of events) {
      const id = e.type === 'OrderFilled' ? e.fill.clientOrderId : e.type === 'OrderSubmitted' || e.type === 'OrderDenied' ? e.intent.clientOrderId : e.clientOrderId;
      const t = this.orders.get(id);
      if (t === undefined) {
        if (external !== undefined && !isPerpbotClientOrderId(id) && e.type !== 'OrderSubmitted' && e.type !== 'OrderDenied') {
          // Someone else's order on this account (a person in the web UI, another program):
          // never touched, but recorded and shown as external.
          this.stats.externalEvents++;
          this.o.log.warn({ clientOrderId: id, type: e.type, symbol: e.type === 'OrderFilled' ? e.fill.symbol : e.symbol }, 'update of an order perpbot did not place: recorded as external');
          this.emit({ ...e, external: external() });
          continue;
        }
        // perpbot's id but not tracked (an order of an earlier run settled by reconciliation): say so.
        this.o.log.info({ clientOrderId: id, type: e.type }, 'update of an order this venue does not track: ignored');
        continue;
      }
      switch (e.type) {
        case 'OrderAccepted':
          this.accept(t, e.orderId);
          break;
        case 'OrderFilled':
          if (t.tradeIds.has(e.fill.tradeId)) break;
          t.tradeIds.add(e.fill.tradeId);
          if (!t.accepted) this.accept(t, e.fill.orderId);
          t.executed = new Decimal(e.cumulativeQuantity);
          if (e.status === 'FILLED') t.terminal = true;
          this.fees.set(e.fill.symbol, (this.fees.get(e.fill.symbol) ?? new Decimal(0)).plus(e.fill.commission));
          this.emit(e);
          break;
        case 'OrderCanceled':
        case 'OrderExpired':
        case 'OrderRejected':
          if (t.terminal) break;
          t.terminal = true;
          this.emit(e);
          break;
        default:
          break;
      }
      if (t.terminal) this.forgetLater(id);
    }
  }

  /** Keep finished orders a little (late duplicates), then forget them: memory stays flat. */
  private forgetLater(id: string): void {
    if (this.orders.size > 10_000) {
      for (const [k, v] of this.orders) {
        if (v.terminal) this.orders.delete(k);
        if (this.orders.size <= 5_000) break;
      }
    }
    void id;
  }

  /**
   * A user-data frame (already parsed losslessly): ORDER_TRADE_UPDATE and ACCOUNT_UPDATE become
   * events; anything else is ignored. A malformed frame throws a DataError naming the field
   * (the caller counts and logs it).
   */
  onUserData(frame: unknown): void {
    const e = (frame as { e?: unknown } | null)?.e;
    if (e === 'ORDER_TRADE_UPDATE') this.apply(mapOrderTradeUpdate(frame), () => mapExternalOrderInfo(frame));
    else if (e === 'ALGO_UPDATE') this.apply(mapAlgoUpdate(frame));
    else if (e === 'ACCOUNT_UPDATE') for (const p of mapAccountUpdate(frame, { feesOf: (sym) => (this.fees.get(sym) ?? new Decimal(0)).toFixed() })) this.emit(p);
  }

  /**
   * REST fallback while the user-data stream is down: for every open tracked order, query it;
   * new trades become fills (from GET /fapi/v1/userTrades), final states their events; then
   * positions are re-read.
   */
  async poll(): Promise<void> {
    return pollOrders(this.settlement);
  }

  /**
   * While the user-data stream is up: find the orders that ended on the exchange without their
   * stream event reaching perpbot (a frame lost between Binance and here), and settle them from
   * REST, as {@link poll} does while the stream is down. Otherwise such an order would stay open
   * in the executor's book, and hold its symbol, until a reconnect or a restart.
   *
   * Only accepted, unfinished orders tracked or last checked at least `minAgeMs` ago are
   * considered; when there are none, nothing is asked. Otherwise one GET /fapi/v1/openOrders
   * (weight 40) and the open algo orders (weight 40) are read, and only the considered orders
   * missing from them are queried one by one (GET /fapi/v1/order, weight 1; a protective stop
   * that never triggered, GET /fapi/v1/algoOrder) and settled. Safe
   * against a stream event arriving meanwhile: fills are applied once per trade id and a final
   * status once, whichever path brings them first. Positions are not read here (a REST position
   * can be older than the stream's last ACCOUNT_UPDATE): fills without a position report are
   * matched by the executor, which asks the venue for positions when they stay unmatched.
   * @returns the number of orders settled to a final status
   * @throws VenueError when the open orders or an order cannot be read (the caller logs it and
   *   tries again at the next audit; orders already settled stay settled)
   */
  audit(minAgeMs: number): Promise<number> {
    return auditOrders(this.settlement, minAgeMs);
  }

  /**
   * Cancel by client order id. An order the exchange no longer has (-2011 / -2013: filled or
   * canceled already) is not an error: its final state arrives as an event.
   */
  async cancel(symbol: Symbol, clientOrderId: string): Promise<void> {
    if (clientOrderId.startsWith(STOP_ID_PREFIX)) {
      const t = this.orders.get(clientOrderId);
      if (await cancelAlgoStop(this.algo(), clientOrderId)) {
        this.apply([{ type: 'OrderCanceled', ts: this.o.clock.now(), clientOrderId, orderId: t?.orderId ?? '', symbol, reason: 'canceled' }]);
      }
      return;
    }
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      await this.throttle(1, 0);
      try {
        const o = mapRestOrder(await this.o.rest.cancelOrder({ symbol, origClientOrderId: clientOrderId }));
        const t = this.orders.get(clientOrderId);
        if (t) await settleFromRest(this.settlement, t, o);
        return;
      } catch (err) {
        const ve = this.observe(toVenueError(err, { method: 'DELETE', path: '/fapi/v1/order', now: this.o.clock.now() }));
        if (ve.binanceCode === -2011 || ve.binanceCode === -2013) return;
        if (!ve.retryable || attempt === this.attempts) throw ve;
        await this.sleep(Math.max(backoffDelay(attempt, this.o.backoffBaseMs ?? 250, this.o.backoffMaxMs ?? 10_000, true, this.random), ve.retryAfterMs ?? 0));
      }
    }
  }

  /** Positions as the exchange has them (GET /fapi/v3/positionRisk), non-zero and zero alike. */
  async positions(): Promise<Position[]> {
    await this.throttle(5, 0);
    // positionRisk carries neither fees nor realized PnL: keep what the venue already knows.
    return mapPositionRisks(await this.o.rest.getPositionsV3(), {
      feesOf: (sym) => (this.fees.get(sym) ?? new Decimal(0)).toFixed(),
      realizedPnlOf: (sym) => this.realized.get(sym) ?? '0',
    });
  }

  /** Open orders as the exchange has them (GET /fapi/v1/openOrders). */
  async openOrders(): Promise<VenueOrder[]> {
    await this.throttle(40, 0);
    const regular = mapRestOpenOrders(await this.o.rest.getAllOpenOrders());
    // Conditional orders (protective stops) are listed apart by Binance: open algo orders join them.
    return this.o.rest.algo === undefined ? regular : [...regular, ...(await openAlgoOrders(this.algo()))];
  }

  /** The exchange's answer for one order: the order, or null when it does not know it (-2013). */
  async lookup(symbol: Symbol, clientOrderId: string): Promise<VenueOrder | null> {
    const q = await queryOrder(this.settlement, symbol, clientOrderId);
    if (q.kind === 'found') return q.order;
    if (q.kind !== 'absent') throw q.error;
    // A protective stop not triggered (so no order of that client id): the algo order says.
    if (clientOrderId.startsWith(STOP_ID_PREFIX) && this.o.rest.algo !== undefined) return lookupAlgo(this.algo(), clientOrderId);
    return null;
  }

  /**
   * Trades of `symbol` from `startTime` (UTC epoch ms) on, oldest first (GET /fapi/v1/userTrades,
   * walked in 7-day windows and 1,000-trade pages: ./user-trades.ts).
   */
  trades(symbol: Symbol, startTime: number, clientOrderIdOf: (orderId: string) => string | undefined): Promise<Fill[]> {
    return readUserTrades({ rest: this.o.rest, now: () => this.o.clock.now(), throttle: (w, n) => this.throttle(w, n) }, symbol, startTime, clientOrderIdOf);
  }

}
