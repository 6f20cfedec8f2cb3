/**
 * Order validation of the matching engine: the checks {@link MatchingEngine.submit} runs before
 * accepting an order, each failure answered with Binance's error code and text
 * ({@link SIM_ERROR}), and the parsed quantity, price, stop and time in force of an order that
 * passes. Reads the engine's state through {@link OrderCheckContext}; changes nothing.
 *
 * Split from matching-engine.ts.
 */
import { Decimal, ZERO, isDecimalString } from '../../core/decimal.ts';
import type { OrderIntent, Symbol, TimeInForce } from '../../core/types.ts';
import { SIM_ERROR, mandatoryParam, type EngineRejection } from './engine-types.ts';
import type { PosState } from './position-accounting.ts';
import type { Book, SimOrder } from './sim-order.ts';

/** Binance's `newClientOrderId` pattern (POST /fapi/v1/order). */
const CLIENT_ORDER_ID_RE = /^[.A-Z:/a-z0-9_-]{1,36}$/;

/** What {@link checkOrder} reads from the engine (its live maps, never copied). */
export interface OrderCheckContext {
  /** `MatchingEngineConfig.validate`, run first. */
  readonly validate: ((intent: OrderIntent) => EngineRejection | null) | undefined;
  /** Per-symbol books: open stops (-4130) and the last prices (-2021, -5022). */
  readonly books: ReadonlyMap<Symbol, Book>;
  /** Open orders by client order id (-4116). */
  readonly openById: ReadonlyMap<string, SimOrder>;
  /** Open stops by client order id (-4116). */
  readonly stopById: ReadonlyMap<string, SimOrder>;
  /** Positions by symbol (reduce-only, -2022). */
  readonly pos: ReadonlyMap<Symbol, PosState>;
}

/**
 * An order that passed {@link checkOrder}, parsed. MARKET: `tif`, `price`, `stop` null.
 * LIMIT: `price` (quote asset) and `tif` (GTC when the intent had none). STOP_MARKET
 * (closePosition): `qty` 0 (base asset; set when it triggers), `stop` the trigger price.
 */
export interface CheckedOrder {
  tif: TimeInForce | null;
  qty: Decimal;
  price: Decimal | null;
  stop: Decimal | null;
}

/**
 * Validate `intent` against the engine's state, in this order (the first failure wins):
 * `ctx.validate`; `clientOrderId` pattern (-1100); side (-1117); type (-1116). STOP_MARKET:
 * `closePosition` not true or `stopPrice` missing/malformed (-1102), stop ≤ 0 (-4001), client
 * order id of an open stop (-4116), an open stop on the same symbol and side (-4130), the first
 * price of the last bar seen already at or beyond the stop (-2021). Other types: quantity
 * malformed (-1102) or ≤ 0 (-4003); LIMIT price missing/malformed (-1102) or ≤ 0 (-4001),
 * timeInForce (-1115); client order id of an open order (-4116); reduce-only with no position or
 * on the side that would increase it (-2022); GTX whose price would cross the last price (-5022).
 * @returns the rejection (Binance code and text), or the parsed order; never throws
 */
export function checkOrder(intent: OrderIntent, ctx: OrderCheckContext): EngineRejection | CheckedOrder {
  if (ctx.validate !== undefined) {
    const r = ctx.validate(intent);
    if (r !== null) return r;
  }
  if (typeof intent.clientOrderId !== 'string' || !CLIENT_ORDER_ID_RE.test(intent.clientOrderId)) return SIM_ERROR.ILLEGAL_CHARS;
  if (intent.side !== 'BUY' && intent.side !== 'SELL') return SIM_ERROR.INVALID_SIDE;
  if (intent.type !== 'MARKET' && intent.type !== 'LIMIT' && intent.type !== 'STOP_MARKET') return SIM_ERROR.INVALID_ORDER_TYPE;
  if (intent.type === 'STOP_MARKET') {
    // Only the protective stop: closePosition (no quantity), triggered on the price shown.
    if (intent.closePosition !== true) return mandatoryParam('closePosition');
    if (intent.stopPrice === undefined || !isDecimalString(intent.stopPrice)) return mandatoryParam('triggerPrice');
    const stop = new Decimal(intent.stopPrice);
    if (stop.lte(0)) return SIM_ERROR.PRICE_LE_ZERO;
    if (ctx.stopById.has(intent.clientOrderId)) return SIM_ERROR.DUPLICATE_CLIENT_ORDER_ID;
    for (const o of ctx.books.get(intent.symbol)?.stops ?? []) if (o.side === intent.side) return SIM_ERROR.STOP_EXISTS;
    // Binance -2021 when the mark is already at or beyond the stop. The engine's stand-in for
    // the mark at placement is the first price of the last bar it saw (replay: the open of the
    // kline the entry filled on; the exchange simulator: the mark of that moment).
    const ref = ctx.books.get(intent.symbol)?.lastOpen ?? null;
    if (ref !== null && isDecimalString(ref) && (intent.side === 'SELL' ? new Decimal(ref).lte(stop) : new Decimal(ref).gte(stop))) return SIM_ERROR.WOULD_TRIGGER;
    return { tif: null, qty: ZERO, price: null, stop };
  }
  if (!isDecimalString(intent.quantity)) return mandatoryParam('quantity');
  const qty = new Decimal(intent.quantity);
  if (qty.lte(0)) return SIM_ERROR.QTY_LE_ZERO;
  let price: Decimal | null = null;
  let tif: TimeInForce | null = null;
  if (intent.type === 'LIMIT') {
    if (intent.price === undefined || !isDecimalString(intent.price)) return mandatoryParam('price');
    price = new Decimal(intent.price);
    if (price.lte(0)) return SIM_ERROR.PRICE_LE_ZERO;
    tif = intent.timeInForce ?? 'GTC';
    if (tif !== 'GTC' && tif !== 'IOC' && tif !== 'FOK' && tif !== 'GTX') return SIM_ERROR.INVALID_TIF;
  }
  if (ctx.openById.has(intent.clientOrderId)) return SIM_ERROR.DUPLICATE_CLIENT_ORDER_ID;
  if (intent.reduceOnly) {
    const q = ctx.pos.get(intent.symbol)?.qty ?? ZERO;
    if (intent.side === 'BUY' ? !q.isNeg() || q.isZero() : !q.isPos() || q.isZero()) return SIM_ERROR.REDUCE_ONLY_REJECT;
  }
  if (tif === 'GTX' && price !== null) {
    const last = ctx.books.get(intent.symbol)?.last ?? null;
    if (last !== null && isDecimalString(last)) {
      const l = new Decimal(last);
      if (intent.side === 'BUY' ? price.gte(l) : price.lte(l)) return SIM_ERROR.GTX_REJECT;
    }
  }
  return { tif, qty, price, stop: null };
}
