/**
 * Public types and defaults of the local Binance USDⓈ-M futures simulator (see ./server.ts for the
 * protocol it speaks and ./context.ts for the state they describe).
 */
import { projectPath } from '../../core/paths.ts';
import type { DecimalString, Fill, Symbol } from '../../core/types.ts';
import type { EngineOrder, MatchingEngine, MatchingEngineConfig } from '../sim/matching-engine.ts';
import type { FundingPayment, RouteFamily } from './context.ts';

export { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, DEFAULT_SIM_EXCHANGE_INFO } from './defaults.ts';

/** Default folder of recorded funding rates (`<SYMBOL>-funding-*.csv`). */
export const DEFAULT_FUNDING_DIR = projectPath('data', 'funding');

/** Binance's request-rate limits (GET /fapi/v1/exchangeInfo `rateLimits`), enforced per server. */
export interface RateLimits {
  /** REQUEST_WEIGHT per minute. Binance: 2400. */
  weightPerMinute: number;
  /** ORDERS per 10 seconds. Binance: 300. */
  ordersPer10s: number;
  /** ORDERS per minute. Binance: 1200. */
  ordersPerMinute: number;
  /**
   * How long a client that keeps sending after a 429 (before its Retry-After) is banned with 418,
   * ms. Binance: from 2 minutes up to 3 days. Default 120000.
   */
  banMs: number;
}

/** Options of {@link startSimulator}. Only `data` is required. */
export interface SimulatorOptions {
  /** Kline CSV specs: `SYMBOL=path` or a Binance-named path (see parseKlineSpec). May be empty when `dataDir` or `symbolsFile` is given. */
  data: string[];
  /** A folder of Binance-named kline CSVs (`BTCUSDT-1m-….csv`), one symbol per file name (./data-specs.ts). */
  dataDir?: string;
  /**
   * A file of `SYMBOL=PATH` lines (paths relative to the file), e.g. 300 symbols on a few files;
   * symbols replaying the same file share one copy of its klines. Every symbol must be in the
   * exchangeInfo (SYMBOL_UNKNOWN otherwise).
   */
  symbolsFile?: string;
  /** Recorded GET /fapi/v1/exchangeInfo JSON. Default {@link DEFAULT_SIM_EXCHANGE_INFO}. */
  exchangeInfo?: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one (see {@link Simulator.port}). */
  port?: number;
  /** Data-clock speed: how many times faster than real time the market is replayed. Default 1; 60 = one kline per second. */
  speed?: number;
  /** Start with the data clock paused (tests drive it with advance/step). Default false. */
  paused?: boolean;
  /** Sub-steps per kline: frames (x=false + mark price) sent during each minute. Default 12 (every 5 s at speed 1). */
  stepsPerKline?: number;
  /**
   * Also show the engine each sub-step's mark price (the forming kline's close so far), so MARKET
   * orders fill within one sub-step (5 s at speed 1 with 12 steps) instead of at the next kline's
   * open, and resting LIMIT orders can fill as the price path reaches them. Default false.
   */
  fillOnSubSteps?: boolean;
  /** Klines already closed when the server starts (served by /fapi/v1/klines). Default 500, capped to the data. */
  history?: number;
  /**
   * Shift the data so that the first live kline opens at the current wall-clock minute (and, when
   * not paused, start at the wall clock's sub-step inside it). Default true.
   */
  alignToNow?: boolean;
  /** API key. Default {@link DEFAULT_SIM_API_KEY}. */
  apiKey?: string;
  /** API secret. Default {@link DEFAULT_SIM_API_SECRET}. */
  apiSecret?: string;
  /** Starting wallet balance, USDT, decimal string. Default "10000". */
  balance?: DecimalString;
  /** Listen-key validity without keepalive, ms. Binance: 60 minutes (default). */
  listenKeyTtlMs?: number;
  /** Rate limits; missing fields take Binance's values. */
  rateLimits?: Partial<RateLimits>;
  /** Leverage of every symbol until POST /fapi/v1/leverage changes it. Default 20. */
  defaultLeverage?: number;
  /** Fee and slippage settings passed to the matching engine (ids and balance are set here). */
  engine?: Partial<Pick<MatchingEngineConfig, 'takerFeeRate' | 'makerFeeRate' | 'slippageBps'>>;
  /**
   * Extra REST route families served beside the built-in ones (./server.ts ROUTE_FAMILIES), e.g.
   * a test's or a work-in-progress endpoint family. A route defined twice throws at start.
   */
  routeFamilies?: readonly RouteFamily[];
  /**
   * Folder of recorded funding rates, files `<SYMBOL>-funding-*.csv` (`funding_time,funding_rate`).
   * Default {@link DEFAULT_FUNDING_DIR}; null = none (every symbol at `fundingRate`).
   */
  fundingDir?: string | null;
  /** Funding rate where no recorded one covers the data's time, decimal text. Default "0.0001". */
  fundingRate?: DecimalString;
}

/**
 * One fill as kept by the simulator (GET /fapi/v1/userTrades, /admin/state): `time` is the trade
 * time clients see (never ahead of the server clock), `dataTime` the data-clock time it filled at
 * (the kline open or sub-step the engine matched it on).
 */
export type SimFill = Fill & { dataTime: number };

/** What GET /admin/state returns (and {@link Simulator.state}). Money as decimal strings. */
export interface SimulatorState {
  /** Server clock (wall + skew), epoch ms. */
  serverTime: number;
  /** Data clock, epoch ms (shifted data time). */
  dataTime: number;
  /** Index of the kline being formed (number of klines closed so far). */
  klineIndex: number;
  /** Sub-step inside that kline, 0…stepsPerKline-1. */
  step: number;
  /** True when the data is exhausted. */
  ended: boolean;
  paused: boolean;
  /** Wallet balance, USDT. */
  balance: DecimalString;
  positions: { symbol: Symbol; positionAmt: DecimalString; entryPrice: DecimalString; markPrice: DecimalString; unrealizedProfit: DecimalString; realizedPnl: DecimalString; fees: DecimalString; leverage: number }[];
  openOrders: EngineOrder[];
  /** Open conditional (algo) orders: the protective stops (GET /fapi/v1/openAlgoOrders). */
  openAlgoOrders: EngineOrder[];
  fills: SimFill[];
  /** Funding settled so far (at most the last 10,000), oldest first. */
  funding: FundingPayment[];
  listenKeys: { listenKey: string; expiresAt: number }[];
  faults: FaultState;
  /** Open websocket connections, and the union of the market streams they are subscribed to. */
  connections: { market: number; user: number; streams: string[] };
}

/** Active fault injections. */
export interface FaultState {
  /** REST requests still to answer with `restErrorStatus`. */
  restErrors: number;
  restErrorStatus: number;
  /** REST requests still to leave unanswered. */
  restHangs: number;
  /** Only requests of this `METHOD /path` hang (e.g. `POST /fapi/v1/order`); null: any request. */
  restHangRequest: string | null;
  /** Server-clock skew, ms. */
  clockSkewMs: number;
  /** Delay of order acknowledgements (POST/DELETE /fapi/v1/order responses), ms. */
  orderAckDelayMs: number;
  /** Stalled streams and until when (server ms; null = until resumed). */
  stalled: { stream: string; until: number | null }[];
  /**
   * MARKET and GTC/GTX LIMIT orders fill in this many pieces (quantity ÷ pieces floored to the
   * step), one per sub-step mark price while the price allows; 0 or 1 = whole fills.
   */
  partialFills: number;
  /** Send each ACCOUNT_UPDATE before the ORDER_TRADE_UPDATE that caused it. */
  userEventsReorder: boolean;
  /** Send every user-data event twice. */
  userEventsDuplicate: boolean;
  /** Send no user-data event (lost in transit; the connection stays up). */
  userEventsDrop: boolean;
}

/**
 * A running simulator. All clock-control methods are synchronous: when they return, every frame
 * they produced has been handed to the sockets.
 */
export interface Simulator {
  /** The TCP port actually bound. */
  readonly port: number;
  /** REST base URL, `http://127.0.0.1:<port>` (USDMClient `baseUrl`). */
  readonly url: string;
  /** Websocket base URL, `ws://127.0.0.1:<port>` (WebsocketClient `wsUrl`). */
  readonly wsUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  /** The matching engine behind the account. */
  readonly engine: MatchingEngine;
  /** Symbols with data, in spec order. */
  readonly symbols: readonly Symbol[];
  /** Data clock, epoch ms. */
  dataTime(): number;
  /** Server clock (wall + skew), epoch ms. */
  serverTime(): number;
  /** Stop the real-time data clock. */
  pause(): void;
  /** Restart the real-time data clock. */
  resume(): void;
  /** Play `n` sub-steps (default 1). @returns how many were played (fewer at the end of the data) */
  step(n?: number): number;
  /** Play until `n` more klines have closed (default 1). @returns how many closed */
  advance(n?: number): number;
  /** The current mark price of `symbol` (the forming kline's close so far). */
  markPrice(symbol: Symbol): DecimalString;
  /** Snapshot for tests (same as GET /admin/state). */
  state(): SimulatorState;
  /** Close every socket, hanging request and timer, then the server. */
  close(): Promise<void>;
}

