/**
 * The public types, constants and Binance error codes of the matching engine
 * (./matching-engine.ts, which re-exports all of them): what callers and the exchange simulator
 * build on, apart from the engine's logic.
 */
import type { Decimal } from '../../core/decimal.ts';
import type {
  DecimalString,
  OrderAccepted,
  OrderCanceled,
  OrderExpired,
  OrderFilled,
  OrderIntent,
  OrderRejected,
  OrderStatus,
  OrderType,
  PositionChanged,
  Side,
  Symbol,
  TimeInForce,
} from '../../core/types.ts';

/** Everything the engine reports: the life of orders and the positions they change. */
export type EngineEvent =
  | OrderAccepted
  | OrderRejected
  | OrderFilled
  | OrderCanceled
  | OrderExpired
  | PositionChanged;

/**
 * The shared, frozen, empty event list returned when a call produced nothing (the hot path of
 * {@link MatchingEngine.onKline} allocates nothing). Compare with `length === 0`, never mutate.
 */
export const NO_EVENTS: readonly EngineEvent[] = Object.freeze([] as EngineEvent[]);

/**
 * Binance error codes (and their message text) the engine answers with.
 * See https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 */
export const SIM_ERROR = {
  /** -1100 ILLEGAL_CHARS: `newClientOrderId` outside `^[.A-Z:/a-z0-9_-]{1,36}$`. */
  ILLEGAL_CHARS: { code: -1100, reason: "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'." },
  /** -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED (price on a LIMIT, quantity). Use {@link mandatoryParam}. */
  MANDATORY_PARAM: -1102,
  /** -1115 INVALID_TIME_IN_FORCE. */
  INVALID_TIF: { code: -1115, reason: 'Invalid timeInForce.' },
  /** -1116 INVALID_ORDER_TYPE. */
  INVALID_ORDER_TYPE: { code: -1116, reason: 'Invalid orderType.' },
  /** -1117 INVALID_SIDE. */
  INVALID_SIDE: { code: -1117, reason: 'Invalid side.' },
  /** -2022 REDUCE_ONLY_REJECT: a reduce-only order that would open or increase a position. */
  REDUCE_ONLY_REJECT: { code: -2022, reason: 'ReduceOnly Order is rejected.' },
  /** -4001 PRICE_LESS_THAN_ZERO (the engine also refuses a price of 0). */
  PRICE_LE_ZERO: { code: -4001, reason: 'Price less than 0.' },
  /** -4003 QTY_LESS_THAN_ZERO: quantity ≤ 0. */
  QTY_LE_ZERO: { code: -4003, reason: 'Quantity less than or equal to zero.' },
  /** -2021 ORDER_WOULD_IMMEDIATELY_TRIGGER: a stop already at or beyond the current price. */
  WOULD_TRIGGER: { code: -2021, reason: 'Order would immediately trigger.' },
  /** -4130: an open closePosition STOP/TAKE_PROFIT order in this direction already exists. */
  STOP_EXISTS: { code: -4130, reason: 'An open stop or take profit order with GTE and closePosition in the direction is existing.' },
  /** -4116 DUPLICATED_CLIENT_ORDER_ID: another OPEN order already uses this `newClientOrderId`. */
  DUPLICATE_CLIENT_ORDER_ID: { code: -4116, reason: 'ClientOrderId is duplicated.' },
  /** -5022 GTX_ORDER_REJECT: a post-only order that would immediately take liquidity. */
  GTX_REJECT: {
    code: -5022,
    reason: 'Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history',
  },
} as const;

/** -1102 with Binance's text for parameter `param` (e.g. `"price"`). */
export function mandatoryParam(param: string): { code: number; reason: string } {
  return { code: SIM_ERROR.MANDATORY_PARAM, reason: `Mandatory parameter '${param}' was not sent, was empty/null, or malformed.` };
}

/** `OrderExpired.reason` when a reduce-only order meets a flat or opposite position at fill time. */
export const REDUCE_ONLY_NOTHING = 'reduce-only: nothing to reduce';
/** `OrderExpired.reason` for the part of a reduce-only order beyond the position it closed. */
export const REDUCE_ONLY_REMAINDER = 'reduce-only: remaining quantity exceeds position';
/** `OrderExpired.reason` for an IOC/FOK LIMIT not marketable at its arrival price. */
export const IOC_NOT_FILLED = 'IOC/FOK: not marketable at arrival';
/** `OrderExpired.reason` for a GTX whose arrival price would have made it a taker (Binance -5022). */
export const GTX_WOULD_TAKE = 'GTX: would take liquidity at arrival (-5022)';

/** Rejection returned by {@link MatchingEngineConfig.validate}: a Binance code and its message. */
export interface EngineRejection {
  code: number;
  reason: string;
}

/** Configuration of a {@link MatchingEngine}. Every field has a default. */
export interface MatchingEngineConfig {
  /** Taker fee rate as a decimal fraction of notional. Default `"0.0005"` (0.05 %). */
  takerFeeRate: DecimalString;
  /** Maker fee rate as a decimal fraction of notional (may be negative for a rebate). Default `"0.0002"`. */
  makerFeeRate: DecimalString;
  /**
   * Slippage applied to MARKET fills, basis points of the price, against the taker (BUY pays
   * more, SELL receives less). Default `"1"`. Not applied to LIMIT fills.
   */
  slippageBps: DecimalString;
  /** Starting wallet balance, USDT. Default `"10000"`. */
  startingBalance: DecimalString;
  /**
   * Tick size per symbol, used to round slipped MARKET prices to the tick *away* from the taker's
   * favour (BUY up, SELL down); a Decimal or decimal text (e.g. exchangeInfo PRICE_FILTER
   * `tickSize` "0.10"). `undefined` (or a missing function) = no rounding.
   */
  tickSize?: (symbol: Symbol) => Decimal | DecimalString | undefined;
  /** First exchange order id (int64). Default `1000000000000000001n`. Ids are sequential. */
  firstOrderId?: bigint;
  /** First trade id (int64). Default `1000000001n`. Ids are sequential. */
  firstTradeId?: bigint;
  /**
   * Optional pre-check called first by {@link MatchingEngine.submit} (exchange filters, e.g. from
   * executor/filters.ts). Return a rejection to refuse the order with that code, or `null`.
   */
  validate?: (intent: OrderIntent) => EngineRejection | null;
  /**
   * How many finished (filled, canceled, expired) orders {@link MatchingEngine.getOrder} still
   * knows, oldest forgotten first. Default 1000. Bounded so memory stays flat.
   */
  orderHistoryLimit?: number;
  /**
   * Optional cap on the quantity of one fill (partial fills): called each time an order would
   * fill; a positive quantity smaller than the order's remainder fills only that much, and the
   * order stays PARTIALLY_FILLED in the book to fill again at the next bar or mark price.
   * `undefined` = fill the whole remainder (Binance's usual outcome at these sizes).
   */
  maxFillQuantity?: (order: { symbol: Symbol; type: OrderType; timeInForce: TimeInForce | null; quantity: DecimalString; remaining: Decimal }) => Decimal | undefined;
}

/** A snapshot of one order as the engine knows it (Binance GET /fapi/v1/order, our spelling). */
export interface EngineOrder {
  /** Exchange order id, int64 as a string. */
  orderId: string;
  clientOrderId: string;
  symbol: Symbol;
  side: Side;
  type: OrderType;
  /** `null` for MARKET; LIMIT defaults to GTC when the intent had none. */
  timeInForce: TimeInForce | null;
  /** Ordered quantity, base asset. */
  quantity: DecimalString;
  /** Limit price, quote asset; `null` for MARKET. */
  price: DecimalString | null;
  /** STOP_MARKET trigger price, quote asset; `null` for other types. */
  stopPrice: DecimalString | null;
  reduceOnly: boolean;
  /** NEW, PARTIALLY_FILLED (open), or FILLED, CANCELED, EXPIRED (finished). */
  status: OrderStatus;
  /** Filled quantity so far, base asset. */
  executedQuantity: DecimalString;
  /** Quantity-weighted average fill price, quote asset; `"0"` before any fill. */
  averagePrice: DecimalString;
  /** Submit time, UTC epoch ms. */
  submittedAt: number;
  /** Time of the last change, UTC epoch ms. */
  updatedAt: number;
  /** The intent as submitted. */
  intent: OrderIntent;
}

/** Counters kept instead of histories (memory stays flat). */
export interface EngineStats {
  ordersAccepted: number;
  ordersRejected: number;
  ordersFilled: number;
  ordersCanceled: number;
  ordersExpired: number;
  /** Number of fills (trades). */
  fills: number;
  /** Open orders right now. */
  openOrders: number;
  /** Σ realized PnL over all symbols, USDT, before fees. */
  realizedPnl: DecimalString;
  /** Σ fees over all symbols, USDT. */
  fees: DecimalString;
}
