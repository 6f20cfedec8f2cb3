/**
 * perpbot's own domain types: what flows on the bus, what the executor and the venue exchange,
 * what the recorder persists. Binance wire types never appear here; an adapter maps them.
 *
 * Conventions (see ARCHITECTURE.md, "Money, ids, time"):
 * - `DecimalString`: a base-10 number as text ("108153.4", "0.001"), never a float. Prices are in
 *   the quote asset (USDT), quantities in the base asset (BTC), notionals, fees and PnL in the
 *   quote asset.
 * - Order and trade ids are int64 on Binance: always strings here.
 * - Times are UTC epoch milliseconds; a field named `…At`, `…Time` or `ts` says so.
 */

/** A base-10 decimal number carried as text so that no precision is lost, e.g. `"0.001"`. */
export type DecimalString = string;

/** A futures symbol in Binance's spelling, upper case, e.g. `"BTCUSDT"`. */
export type Symbol = string;

/** Order side as Binance spells it. */
export type Side = 'BUY' | 'SELL';

/** Order types perpbot places. Binance: POST /fapi/v1/order `type`. */
/**
 * Order types perpbot sends. `STOP_MARKET` is the protective stop: a conditional order that
 * Binance (since 2025-12-09) takes only through the Algo Order API (POST /fapi/v1/algoOrder,
 * algoType CONDITIONAL); on trigger it becomes a MARKET order closing the position.
 */
export type OrderType = 'MARKET' | 'LIMIT' | 'STOP_MARKET';

/** Time in force for LIMIT orders. GTX is Binance's post-only. */
export type TimeInForce = 'GTC' | 'IOC' | 'FOK' | 'GTX';

/** The run mode of the kernel; see ARCHITECTURE.md "The flow". */
export type Mode = 'replay' | 'paper' | 'live';

/**
 * One closed (or, in live streams, still-forming) 1-minute kline.
 * Prices in quote asset, volume in base asset, times in UTC epoch ms.
 * `closeTime` is `openTime + interval - 1` as Binance reports it (…59999).
 */
export interface Kline {
  symbol: Symbol;
  /** Interval, Binance spelling: `"1m"`. */
  interval: string;
  openTime: number;
  closeTime: number;
  open: DecimalString;
  high: DecimalString;
  low: DecimalString;
  close: DecimalString;
  /** Base-asset volume. */
  volume: DecimalString;
  /** Quote-asset volume, when the source has it (the 12-column archive and websockets do). */
  quoteVolume?: DecimalString;
  /** Number of trades, when known. */
  trades?: number;
  /** True when the kline is final (Binance's `x`). Replay sources only emit closed klines. */
  closed: boolean;
}

/** Event: a kline closed. Topic `market.kline.<SYMBOL>`. Never dropped by the bus. */
export interface KlineClosed {
  type: 'KlineClosed';
  /** Event time: the moment the close became known (closeTime + 1 in replay). */
  ts: number;
  kline: Kline;
}

/** Event: a new mark price. Topic `market.markPrice.<SYMBOL>`. May be conflated (latest wins). */
export interface MarkPriceUpdated {
  type: 'MarkPriceUpdated';
  ts: number;
  symbol: Symbol;
  markPrice: DecimalString;
  /** Index price, when the source has it. */
  indexPrice?: DecimalString;
  /** Current funding rate as a decimal fraction per 8 h (e.g. "0.0001"), when known. */
  fundingRate?: DecimalString;
  /** Next funding time, UTC epoch ms, when known. */
  nextFundingTime?: number;
}

/** What a strategy wants its position in a symbol to be. */
export type TargetPosition = 'LONG' | 'SHORT' | 'FLAT';

/** Why a strategy emitted a signal. `entry` opens, the others close (`exit_signal`: the strategy's own exit rule, e.g. a channel or mean crossed). */
export type SignalReason = 'entry' | 'exit_vwap' | 'stop' | 'time_stop' | 'manual' | 'exit_signal';

/**
 * Event: a strategy's decision. Topic `signal.<strategyId>`.
 * Signals state a target position, so a repeated signal never doubles a position.
 */
export interface SignalEmitted {
  type: 'SignalEmitted';
  ts: number;
  /** Deterministic: `${strategyId}:${symbol}:${klineOpenTime}:${seq}`. */
  signalId: string;
  strategyId: string;
  symbol: Symbol;
  target: TargetPosition;
  reason: SignalReason;
  /** The price the decision was based on (the kline close), quote asset. */
  refPrice: DecimalString;
  /** Indicator values used by the decision (e.g. vwap, upper, lower, adx), as numbers. */
  indicators: Record<string, number | null>;
  /**
   * Open time of the 1m kline the decision was made on, UTC epoch ms. The executor refuses a
   * signal whose kline closed too long ago (back-filled data must not trade at today's prices).
   */
  klineOpenTime?: number;
  /**
   * The protective stop level of the position this signal targets, quote asset (decimal string),
   * as the strategy states it (vwap-adx: its stop band at the entry kline). With
   * `risk.exchangeStop` the executor keeps a reduce-only STOP_MARKET (closePosition) at this
   * level on the exchange while the position is held; a later signal for the held position with
   * another `stopPrice` moves it. Absent: no exchange stop for this entry.
   */
  stopPrice?: DecimalString;
}

/** A request to place an order, produced by the executor from a signal (or by an operator). */
export interface OrderIntent {
  /** Deterministic client order id (Binance `newClientOrderId`, ^[.A-Z:/a-z0-9_-]{1,36}$). */
  clientOrderId: string;
  symbol: Symbol;
  side: Side;
  type: OrderType;
  /** Base-asset quantity, already rounded to the step size. */
  quantity: DecimalString;
  /** Limit price in quote asset, rounded to the tick size; absent for MARKET. */
  price?: DecimalString;
  timeInForce?: TimeInForce;
  /**
   * STOP_MARKET only: the trigger price, quote asset, on the tick (Binance `triggerPrice`,
   * compared with the MARK price: `workingType=MARK_PRICE`).
   */
  stopPrice?: DecimalString;
  /**
   * STOP_MARKET only: close the whole position when triggered (Binance `closePosition=true`);
   * `quantity` is then `"0"` and not sent.
   */
  closePosition?: boolean;
  reduceOnly: boolean;
  /** The strategy that asked for it, or `"operator"`. */
  strategyId: string;
  /** The signal it came from, if any. */
  signalId?: string;
  /** Reference price used for notional checks (mark or last close), quote asset. */
  refPrice: DecimalString;
  /** When the intent was created, UTC epoch ms (from the injected clock). */
  createdAt: number;
}

/** Order status as Binance spells it (ORDER_TRADE_UPDATE `X`), plus our pre-exchange states. */
export type OrderStatus =
  | 'PENDING_NEW'
  | 'NEW'
  | 'PARTIALLY_FILLED'
  | 'FILLED'
  | 'CANCELED'
  | 'REJECTED'
  | 'EXPIRED'
  | 'DENIED';

/** One execution (Binance "trade"). Append-only history. */
export interface Fill {
  /** int64 trade id as a string. */
  tradeId: string;
  /** int64 order id as a string. */
  orderId: string;
  clientOrderId: string;
  symbol: Symbol;
  side: Side;
  price: DecimalString;
  quantity: DecimalString;
  /** Fee paid, in `commissionAsset` (USDT for USDⓈ-M). */
  commission: DecimalString;
  commissionAsset: string;
  /** Realized PnL of this fill, quote asset, before commission (Binance's `rp`). */
  realizedPnl: DecimalString;
  /** True when this fill provided liquidity (maker fee). */
  maker: boolean;
  time: number;
}

/** A position in one symbol, one-way mode: `quantity` is signed (negative = short). */
export interface Position {
  symbol: Symbol;
  /** Signed base-asset quantity. "0" when flat. */
  quantity: DecimalString;
  /** Average entry price, quote asset; "0" when flat. */
  entryPrice: DecimalString;
  /** Realized PnL accumulated on this symbol, quote asset, before fees. */
  realizedPnl: DecimalString;
  /** Fees paid on this symbol, quote asset. */
  fees: DecimalString;
  updatedAt: number;
}

/**
 * What the exchange reports of an order perpbot did not place (its client order id is not
 * perpbot's: a person trading on the same account, another program). Events carrying it are
 * external: recorded, shown and alerted, attributed to no strategy, never counted in strategy
 * PnL, round trips or loss limits. Source: the user stream's ORDER_TRADE_UPDATE (`o.S`, `o.o`,
 * `o.q`, `o.p`, `o.R`), or only its trades (GET /fapi/v1/userTrades) in reconciliation.
 */
export interface ExternalOrderInfo {
  side: Side;
  /** Binance order type (`MARKET`, `LIMIT`, `STOP_MARKET`, …), or `UNKNOWN` when only trades are known. */
  type: string;
  /** Original quantity, base asset; "0" when unknown. */
  quantity: DecimalString;
  /** Limit price, quote asset; "0" for a market order or when unknown. */
  price: DecimalString;
  reduceOnly: boolean;
}

/** Events on topic `order.update`: the life of one order. */
export type OrderEvent =
  | OrderSubmitted
  | OrderAccepted
  | OrderRejected
  | OrderDenied
  | OrderFilled
  | OrderCanceled
  | OrderExpired;

/** The executor sent (or is about to send) an order to the venue; written ahead. */
export interface OrderSubmitted {
  type: 'OrderSubmitted';
  ts: number;
  intent: OrderIntent;
}

/** The venue accepted the order (Binance status NEW). */
export interface OrderAccepted {
  type: 'OrderAccepted';
  ts: number;
  /** Set when the order is not perpbot's (see {@link ExternalOrderInfo}). */
  external?: ExternalOrderInfo;
  clientOrderId: string;
  /** Exchange order id, int64 string. */
  orderId: string;
  symbol: Symbol;
}

/** The venue refused the order. `code` is Binance's error code when there is one. */
export interface OrderRejected {
  type: 'OrderRejected';
  ts: number;
  /** Set when the order is not perpbot's (see {@link ExternalOrderInfo}). */
  external?: ExternalOrderInfo;
  clientOrderId: string;
  symbol: Symbol;
  code: number | null;
  reason: string;
}

/**
 * perpbot refused to send the order: a filter or a risk check said no. Nothing left the process.
 * `check` names the filter or risk check (e.g. `MIN_NOTIONAL`, `maxOpenPositions`).
 */
export interface OrderDenied {
  type: 'OrderDenied';
  ts: number;
  /** The intent as it would have been sent (may carry unrounded values when rounding failed). */
  intent: OrderIntent;
  check: string;
  reason: string;
  /**
   * True when this process wrote the intent ahead (and then stopped it before sending): a
   * PENDING_NEW row of it becomes DENIED. Otherwise the denial never touches an existing row of
   * that client order id: that row is an order an earlier process wrote ahead and may have sent
   * (a signal decided again after a restart carries the same deterministic id).
   */
  writtenAhead?: boolean;
}

/** Part or all of an order was executed. */
export interface OrderFilled {
  type: 'OrderFilled';
  ts: number;
  /** Set when the order is not perpbot's (see {@link ExternalOrderInfo}). */
  external?: ExternalOrderInfo;
  fill: Fill;
  /** Cumulative filled quantity of the order after this fill, base asset. */
  cumulativeQuantity: DecimalString;
  /** Order status after this fill: PARTIALLY_FILLED or FILLED. */
  status: 'PARTIALLY_FILLED' | 'FILLED';
}

/** The order was canceled (by us, the TTL, or the venue). */
export interface OrderCanceled {
  type: 'OrderCanceled';
  ts: number;
  /** Set when the order is not perpbot's (see {@link ExternalOrderInfo}). */
  external?: ExternalOrderInfo;
  clientOrderId: string;
  orderId: string;
  symbol: Symbol;
  reason: string;
}

/** The order expired (IOC/FOK/GTX not filled, or reduce-only with nothing left to reduce). */
export interface OrderExpired {
  type: 'OrderExpired';
  ts: number;
  /** Set when the order is not perpbot's (see {@link ExternalOrderInfo}). */
  external?: ExternalOrderInfo;
  clientOrderId: string;
  orderId: string;
  symbol: Symbol;
  reason: string;
}

/** Event on topic `account.update`: a position changed. */
export interface PositionChanged {
  type: 'PositionChanged';
  ts: number;
  position: Position;
  /**
   * Why: a fill (the default), or `reconcile` — the position as the exchange has it, restored at
   * start-up or reconciled; strategies adopt only these.
   */
  source?: 'fill' | 'reconcile';
}

/**
 * Trading state of the risk engine:
 * - ACTIVE: every order that passes the checks may leave.
 * - REDUCING: only orders that shrink a position leave (automatic halts land here, so exits still run).
 * - HALTED: nothing leaves; an operator acts.
 */
export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

/** Event on topic `risk.state`. */
export interface TradingStateChanged {
  type: 'TradingStateChanged';
  ts: number;
  state: TradingState;
  previous: TradingState;
  reason: string;
}

/** Command: change the trading state (operator, alerts, CLI). */
export interface SetTradingState {
  type: 'SetTradingState';
  ts: number;
  state: TradingState;
  reason: string;
  /**
   * Apply only while the current state's reason is exactly this (live start-up lifts its own
   * "starting" halt and nothing else: a halt set meanwhile, e.g. a database failure, stays).
   */
  ifReason?: string;
  /** When a REDUCING state set by this command lifts itself, UTC epoch ms (restored automatic halts). */
  resumeAt?: number;
}

/** Health of one component, for the heartbeat (topic `system.health`). */
export interface ComponentHealth {
  type: 'ComponentHealth';
  ts: number;
  component: string;
  status: 'ok' | 'degraded' | 'down';
  detail?: string;
}
