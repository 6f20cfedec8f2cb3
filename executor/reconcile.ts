/**
 * Reconciliation: what the database believes against what the exchange says, after a crash or a
 * restart (crash-only design: state comes back from SQLite and is checked against the venue).
 *
 * Pure: it takes the two views and returns every difference and what to do about it. The
 * kernel (live mode, at start) and `perpbot recover` fetch the views and apply the actions; the
 * bot does not trade while a reconciliation it needed has not been applied (fail-closed).
 *
 * Rules:
 * - An order open on the exchange whose client order id the database knows is ADOPTED: the
 *   database takes the exchange's status, order id and executed quantity.
 * - An order open on the exchange with perpbot's client-order-id prefix (`pb-`) that the database
 *   does not know (lost before its write-ahead committed, which the executor forbids, or a
 *   database restored from an older copy) is ADOPTED as well, flagged `unknown`.
 * - An order open on the exchange whose client order id is not perpbot's (see
 *   {@link isPerpbotClientOrderId}) is someone else's (manual trading): reported, recorded as
 *   external, never touched.
 * - An order open in the database that the exchange no longer lists as open is SETTLED from the
 *   exchange's answer for it (filled, canceled, expired, or never received: rejected locally).
 * - Fills the exchange reports that the database lacks are INSERTED (idempotently: fills are keyed
 *   by symbol and trade id); those of orders perpbot did not place are inserted as external.
 * - Positions FOLLOW THE EXCHANGE; every difference is reported with both quantities.
 *
 * Quantities are decimal strings in the base asset (positions signed, one-way mode).
 */
import { Decimal, str } from '../src/core/decimal.ts';
import type { ExternalOrderInfo, Fill, OrderEvent, OrderStatus, PositionChanged, Side, Symbol } from '../src/core/types.ts';
import { isPerpbotClientOrderId } from './client-order-id.ts';

export { CLIENT_ORDER_PREFIX } from './client-order-id.ts';

/** An order as the database has it. */
export interface LocalOrder {
  clientOrderId: string;
  orderId: string | null;
  symbol: Symbol;
  side: Side;
  quantity: string;
  status: OrderStatus;
  executedQty: string;
}

/** An order as the exchange reports it (GET /fapi/v1/openOrders or /fapi/v1/order). */
export interface ExchangeOrder {
  clientOrderId: string;
  orderId: string;
  symbol: Symbol;
  side: Side;
  quantity: string;
  /** Binance order status (NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, …). */
  status: OrderStatus;
  executedQty: string;
}

/** The database's view. */
export interface LocalState {
  /** Orders the database holds as open (PENDING_NEW, NEW, PARTIALLY_FILLED). */
  openOrders: LocalOrder[];
  /** Signed position per symbol; symbols absent are flat. */
  positions: Record<Symbol, string>;
  /** Trade ids the database has, per symbol. */
  knownTradeIds: Record<Symbol, ReadonlySet<string>>;
}

/** The exchange's view. */
export interface ExchangeState {
  openOrders: ExchangeOrder[];
  /**
   * The exchange's answer for each locally open order it no longer lists as open, by client
   * order id; `null` when it does not know the order at all (-2013: never received).
   */
  settled: Record<string, ExchangeOrder | null>;
  /** Signed position per symbol (one-way mode); symbols absent are flat. */
  positions: Record<Symbol, string>;
  /** Trades since the last one the database knows, per the exchange (GET /fapi/v1/userTrades). */
  trades: Fill[];
}

/** One difference and the action that resolves it. */
export type ReconcileAction =
  | { kind: 'adopt'; order: ExchangeOrder; unknown: boolean; was: OrderStatus | null; localExecutedQty: string }
  | { kind: 'foreign'; order: ExchangeOrder }
  | { kind: 'settle'; clientOrderId: string; symbol: Symbol; was: OrderStatus; now: OrderStatus; executedQty: string; orderId: string | null; localExecutedQty: string }
  | { kind: 'insertFill'; fill: Fill }
  | { kind: 'position'; symbol: Symbol; local: string; exchange: string };

/** The result: every action, in a stable order (adopt, foreign, settle, fills, positions). */
export interface Reconciliation {
  actions: ReconcileAction[];
  /** True when the database already agrees with the exchange. */
  clean: boolean;
}

const bySymbolThenId = <T extends { symbol: string }>(key: (t: T) => string) => (a: T, b: T) =>
  a.symbol === b.symbol ? (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) : a.symbol < b.symbol ? -1 : 1;

/** Compare the two views. Pure; never throws on well-formed input. */
export function reconcile(local: LocalState, exchange: ExchangeState): Reconciliation {
  const actions: ReconcileAction[] = [];
  const localById = new Map(local.openOrders.map((o) => [o.clientOrderId, o]));
  const exchangeOpen = new Set(exchange.openOrders.map((o) => o.clientOrderId));

  for (const o of [...exchange.openOrders].sort(bySymbolThenId((x) => x.clientOrderId))) {
    const mine = localById.get(o.clientOrderId);
    if (mine) {
      if (mine.status !== o.status || mine.orderId !== o.orderId || !new Decimal(mine.executedQty).eq(o.executedQty)) {
        actions.push({ kind: 'adopt', order: o, unknown: false, was: mine.status, localExecutedQty: mine.executedQty });
      }
    } else if (isPerpbotClientOrderId(o.clientOrderId)) {
      actions.push({ kind: 'adopt', order: o, unknown: true, was: null, localExecutedQty: '0' });
    } else {
      actions.push({ kind: 'foreign', order: o });
    }
  }

  for (const o of [...local.openOrders].sort(bySymbolThenId((x) => x.clientOrderId))) {
    if (exchangeOpen.has(o.clientOrderId)) continue;
    const answer = exchange.settled[o.clientOrderId];
    if (answer === undefined) continue; // not asked: the caller must ask before applying
    actions.push({
      kind: 'settle',
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      was: o.status,
      now: answer === null ? 'REJECTED' : answer.status,
      executedQty: answer === null ? '0' : answer.executedQty,
      orderId: answer === null ? null : answer.orderId,
      localExecutedQty: o.executedQty,
    });
  }

  const seen = new Set<string>();
  for (const f of [...exchange.trades].sort(bySymbolThenId((x) => x.tradeId.padStart(20, '0')))) {
    const key = `${f.symbol}:${f.tradeId}`;
    if (seen.has(key) || local.knownTradeIds[f.symbol]?.has(f.tradeId)) continue;
    seen.add(key);
    actions.push({ kind: 'insertFill', fill: f });
  }

  const symbols = [...new Set([...Object.keys(local.positions), ...Object.keys(exchange.positions)])].sort();
  for (const s of symbols) {
    const l = new Decimal(local.positions[s] ?? '0');
    const x = new Decimal(exchange.positions[s] ?? '0');
    if (!l.eq(x)) actions.push({ kind: 'position', symbol: s, local: str(l), exchange: str(x) });
  }

  return { actions, clean: actions.every((a) => a.kind === 'foreign') };
}

/** One line per action, as `perpbot recover --dry-run` prints them. */
export function formatReconciliation(r: Reconciliation): string {
  if (r.actions.length === 0) return 'database and exchange agree: nothing to do';
  return r.actions
    .map((a) => {
      switch (a.kind) {
        case 'adopt':
          return a.unknown
            ? `adopt order ${a.order.clientOrderId} (${a.order.symbol} ${a.order.side} ${a.order.quantity}, exchange id ${a.order.orderId}): open on the exchange, missing from the database`
            : `adopt order ${a.order.clientOrderId} (${a.order.symbol}): database ${a.was} → exchange ${a.order.status}, executed ${a.order.executedQty}`;
        case 'foreign':
          return `leave order ${a.order.clientOrderId} (${a.order.symbol} ${a.order.side} ${a.order.quantity}): not placed by perpbot`;
        case 'settle':
          return `settle order ${a.clientOrderId} (${a.symbol}): database ${a.was} → exchange ${a.now}, executed ${a.executedQty}`;
        case 'insertFill':
          return `insert fill ${a.fill.symbol} trade ${a.fill.tradeId}: ${a.fill.side} ${a.fill.quantity} @ ${a.fill.price} (order ${a.fill.clientOrderId})`;
        case 'position':
          return `position ${a.symbol}: database ${a.local} → exchange ${a.exchange}`;
      }
    })
    .join('\n');
}

/**
 * The actions as perpbot's own events, so the database (through the recorder) and the executor
 * learn the exchange's truth the same way they learn everything else:
 * - adopt → `OrderAccepted` (the exchange order id and NEW), unless the order is already known as
 *   accepted with that id; its executed quantity arrives as fills;
 * - settle → `OrderCanceled` / `OrderExpired` / `OrderRejected` (never received); FILLED needs no
 *   event of its own: its fills are in `insertFill`;
 * - insertFill → `OrderFilled` (status FILLED when the fill completes the order as far as the
 *   exchange's answer says, else PARTIALLY_FILLED); a fill of an order that is not perpbot's is
 *   marked `external` (type UNKNOWN: GET /fapi/v1/userTrades does not say), and one whose client
 *   order id is unknown gets `ext-<orderId>`;
 * - position → `PositionChanged` with the exchange's quantity and entry price, the database's
 *   realized PnL and fees (cumulative history the exchange does not report), stamped with the
 *   exchange's update time when it is later than `now`.
 * - foreign (an open order that is not perpbot's) → `OrderAccepted` marked `external`, so it is
 *   recorded (idempotently) and alerted.
 * @param positions per symbol: the exchange's entry price and update time, the database's realized PnL and fees
 */
export function reconciliationEvents(
  r: Reconciliation,
  now: number,
  positions: Record<Symbol, { entryPrice?: string; updatedAt?: number; realizedPnl?: string; fees?: string }> = {},
): Array<OrderEvent | PositionChanged> {
  const out: Array<OrderEvent | PositionChanged> = [];
  // Per order: what the database already has executed (the missing fills add to it), and the
  // exchange's final executed quantity when the order is done.
  const filledTotal = new Map<string, Decimal>();
  const finalQty = new Map<string, string>();
  for (const a of r.actions) {
    if (a.kind === 'settle') {
      filledTotal.set(a.clientOrderId, new Decimal(a.localExecutedQty));
      if (a.now === 'FILLED') finalQty.set(a.clientOrderId, a.executedQty);
    }
    if (a.kind === 'adopt') {
      filledTotal.set(a.order.clientOrderId, new Decimal(a.localExecutedQty));
      finalQty.set(a.order.clientOrderId, a.order.status === 'FILLED' ? a.order.executedQty : '');
    }
  }
  for (const a of r.actions) {
    switch (a.kind) {
      case 'adopt':
        if (a.was !== 'NEW' && a.was !== 'PARTIALLY_FILLED') {
          out.push({ type: 'OrderAccepted', ts: now, clientOrderId: a.order.clientOrderId, orderId: a.order.orderId, symbol: a.order.symbol });
        }
        break;
      case 'settle':
        if (a.now === 'CANCELED') out.push({ type: 'OrderCanceled', ts: now, clientOrderId: a.clientOrderId, orderId: a.orderId ?? '', symbol: a.symbol, reason: 'reconciled: canceled on the exchange' });
        else if (a.now === 'EXPIRED') out.push({ type: 'OrderExpired', ts: now, clientOrderId: a.clientOrderId, orderId: a.orderId ?? '', symbol: a.symbol, reason: 'reconciled: expired on the exchange' });
        else if (a.now === 'REJECTED') out.push({ type: 'OrderRejected', ts: now, clientOrderId: a.clientOrderId, symbol: a.symbol, code: -2013, reason: 'reconciled: the exchange does not know this order (never received)' });
        break;
      case 'insertFill': {
        if (!isPerpbotClientOrderId(a.fill.clientOrderId)) {
          const f: Fill = { ...a.fill, clientOrderId: a.fill.clientOrderId || `ext-${a.fill.orderId}` };
          const cum = (filledTotal.get(f.clientOrderId) ?? new Decimal(0)).plus(f.quantity);
          filledTotal.set(f.clientOrderId, cum);
          const external: ExternalOrderInfo = { side: f.side, type: 'UNKNOWN', quantity: '0', price: '0', reduceOnly: false };
          // Still listed open on the exchange: partly filled; otherwise done.
          const stillOpen = r.actions.some((x) => x.kind === 'foreign' && x.order.orderId === f.orderId);
          out.push({ type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity: str(cum), status: stillOpen ? 'PARTIALLY_FILLED' : 'FILLED', external });
          break;
        }
        const f = a.fill;
        const cum = (filledTotal.get(f.clientOrderId) ?? new Decimal(0)).plus(f.quantity);
        filledTotal.set(f.clientOrderId, cum);
        const total = finalQty.get(f.clientOrderId);
        const full = total !== undefined && total !== '' && cum.gte(total);
        out.push({ type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity: str(cum), status: full ? 'FILLED' : 'PARTIALLY_FILLED' });
        break;
      }
      case 'position': {
        const p = positions[a.symbol] ?? {};
        const t = Math.max(now, p.updatedAt ?? 0);
        out.push({
          type: 'PositionChanged',
          ts: t,
          position: { symbol: a.symbol, quantity: a.exchange, entryPrice: p.entryPrice ?? '0', realizedPnl: p.realizedPnl ?? '0', fees: p.fees ?? '0', updatedAt: t },
          source: 'reconcile',
        });
        break;
      }
      case 'foreign': {
        const o = a.order;
        out.push({ type: 'OrderAccepted', ts: now, clientOrderId: o.clientOrderId, orderId: o.orderId, symbol: o.symbol, external: { side: o.side, type: 'UNKNOWN', quantity: o.quantity, price: '0', reduceOnly: false } });
        break;
      }
    }
  }
  return out;
}
