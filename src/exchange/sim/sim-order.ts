/**
 * The matching engine's internal order records: {@link SimOrder} (one order as the engine tracks
 * it while it rests and fills), the per-symbol {@link Book} of open orders, open stops and last
 * price, the order side of a fill ({@link recordFill}, {@link filledEvent}), and
 * {@link snapshot}, the read-only {@link EngineOrder} view handed to callers.
 * Internal to the engine (not re-exported by matching-engine.ts).
 *
 * Split from matching-engine.ts.
 */
import { str, type Decimal } from '../../core/decimal.ts';
import type { OrderFilled, OrderIntent, OrderStatus, OrderType, Side, Symbol, TimeInForce } from '../../core/types.ts';
import type { EngineOrder } from './engine-types.ts';

/**
 * One accepted order as the engine tracks it. Mutable fields change as it arrives, fills and
 * finishes. Quantities in the base asset, prices in the quote asset, times UTC epoch ms.
 */
export interface SimOrder {
  readonly intent: OrderIntent;
  /** Exchange order id, int64 as a string. */
  readonly orderId: string;
  readonly symbol: Symbol;
  readonly side: Side;
  readonly type: OrderType;
  /** `null` for MARKET and STOP_MARKET; LIMIT defaults to GTC. */
  readonly tif: TimeInForce | null;
  /** Ordered quantity; for a closePosition stop 0 until it triggers, then the position closed. */
  qty: Decimal;
  /** Limit price; `null` unless LIMIT. */
  readonly price: Decimal | null;
  /** `price` as plain canonical text, for the allocation-free comparison against bar prices. */
  readonly priceText: string | null;
  readonly reduceOnly: boolean;
  readonly submittedAt: number;
  /** Filled quantity so far. */
  executed: Decimal;
  /** Σ price × quantity of the fills so far, quote asset (USDT). */
  quoteExecuted: Decimal;
  status: OrderStatus;
  /** STOP_MARKET: trigger price, and the time from which it is armed (UTC epoch ms). */
  readonly stop: Decimal | null;
  readonly armedFrom: number;
  /** True once the order has seen its first price after submit (it has "arrived" and rests). */
  arrived: boolean;
  updatedAt: number;
}

/** The engine's state for one symbol: its open orders, open stops and the last price seen. */
export interface Book {
  /** Open orders of the symbol, in submission order. */
  open: SimOrder[];
  /** Open (untriggered) STOP_MARKET orders of the symbol, in submission order. */
  stops: SimOrder[];
  /** Last price seen (kline close or mark), text, and its time. */
  last: string | null;
  /** The first price of the last bar seen (kline open, or the mark): the -2021 check of stops. */
  lastOpen: string | null;
  /** Time of `last`, UTC epoch ms (kline closeTime or mark ts); 0 before any price. */
  lastTs: number;
}

/** An empty book: no orders, no price seen yet. */
export function newBook(): Book {
  return { open: [], stops: [], last: null, lastOpen: null, lastTs: 0 };
}

/**
 * Book a fill of `qty` (base asset) for `notional` (`price × qty`, USDT) on `o`: executed and
 * quote-executed totals, status (FILLED once `executed ≥ qty`, else PARTIALLY_FILLED), `updatedAt`
 * = `t` (UTC epoch ms). Does not touch the position, the counters or the engine's open set.
 * @returns true when the order is now fully filled
 */
export function recordFill(o: SimOrder, qty: Decimal, notional: Decimal, t: number): boolean {
  o.executed = o.executed.plus(qty);
  o.quoteExecuted = o.quoteExecuted.plus(notional);
  const full = o.executed.gte(o.qty);
  o.status = full ? 'FILLED' : 'PARTIALLY_FILLED';
  o.updatedAt = t;
  return full;
}

/**
 * The `OrderFilled` event of one fill of `o`, after {@link recordFill} (its `cumulativeQuantity`
 * is `o.executed`). Commission in USDT.
 * @param tradeId the fill's trade id, int64 as a string
 * @param price fill price, quote asset; `qty` base asset; `commission`, `realized` USDT
 * @param full what {@link recordFill} returned: status FILLED, else PARTIALLY_FILLED
 * @param t fill time, UTC epoch ms (the event's `ts` and the fill's `time`)
 */
export function filledEvent(o: SimOrder, tradeId: string, price: Decimal, qty: Decimal, commission: Decimal, realized: Decimal, maker: boolean, full: boolean, t: number): OrderFilled {
  return {
    type: 'OrderFilled',
    ts: t,
    fill: {
      tradeId,
      orderId: o.orderId,
      clientOrderId: o.intent.clientOrderId,
      symbol: o.symbol,
      side: o.side,
      price: str(price),
      quantity: str(qty),
      commission: str(commission),
      commissionAsset: 'USDT',
      realizedPnl: str(realized),
      maker,
      time: t,
    },
    cumulativeQuantity: str(o.executed),
    status: full ? 'FILLED' : 'PARTIALLY_FILLED',
  };
}

/**
 * The public view of `o` (Binance GET /fapi/v1/order, our spelling): decimals rendered as plain
 * text, `averagePrice` the quantity-weighted fill price (`"0"` before any fill). A copy: later
 * changes to `o` do not show in it.
 */
export function snapshot(o: SimOrder): EngineOrder {
  return {
    orderId: o.orderId,
    clientOrderId: o.intent.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    timeInForce: o.tif,
    quantity: str(o.qty),
    price: o.price === null ? null : str(o.price),
    stopPrice: o.stop === null ? null : str(o.stop),
    reduceOnly: o.reduceOnly,
    status: o.status,
    executedQuantity: str(o.executed),
    averagePrice: o.executed.isZero() ? '0' : str(o.quoteExecuted.div(o.executed)),
    submittedAt: o.submittedAt,
    updatedAt: o.updatedAt,
    intent: o.intent,
  };
}
