/**
 * A local Binance USDⓈ-M futures exchange (fapi) that the real `binance` npm library cannot tell
 * from the real one: one `node:http` server on 127.0.0.1 answering Binance's REST paths, with a
 * `ws` WebSocketServer on the same port (upgrade by path) for market and user-data streams, and an
 * unauthenticated `/admin/…` API for fault injection and inspection.
 *
 * Everything trades through the project's one {@link MatchingEngine} (src/exchange/sim), orders are
 * checked with executor/filters.ts `validateOrder` against a recorded exchangeInfo
 * (executor/exchange-info.ts), and prices come from kline CSV files (src/market/kline-csv.ts).
 *
 * Two clocks:
 * - the **server clock** = wall clock + an admin skew: `GET /fapi/v1/time`, `serverTime`, the
 *   `timestamp`/`recvWindow` check, listen-key expiry and rate-limit windows;
 * - the **data clock**: the replayed market. Each 1-minute kline is played in `stepsPerKline`
 *   sub-steps (a non-final `x:false` kline frame and a mark price at each, then the final `x:true`
 *   frame). With `speed` s the data clock runs s times faster than real time (60 → one kline per
 *   second); `pause()`/`advance()`/`step()` drive it by hand (tests). Kline times are shifted so
 *   the first replayed kline opens at the current wall-clock minute (`alignToNow`, default).
 *   Market events (`E`), order and fill times are data-clock times.
 *
 * Fill model (the engine's): an order is stamped 1 ms after the data clock's "now". At the start of
 * each kline the engine is shown the kline's open as a mark price, so MARKET orders fill at the
 * next kline's open (± slippage) the moment it starts; LIMIT orders rest and fill at their price
 * when a closed kline trades through them.
 *
 * Ids: `orderId`, trade `id`, `i` and `t` are JSON numbers, as Binance sends them, written from the
 * engine's int64 strings digit for digit. They start at 700000000001 (orders) and 5000000001
 * (trades), below 2^53, so JavaScript clients that `JSON.parse` (the `binance` library does) read
 * them exactly.
 *
 * Not modelled: hedge mode (orders are refused with -4061 while dualSidePosition is true),
 * isolated margin accounting (the margin type is stored and reported only), liquidation, funding
 * payments, order types other than MARKET and LIMIT, kline intervals other than 1m.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { Decimal, ZERO, dec, isDecimalString, str } from '../../core/decimal.ts';
import { projectPath } from '../../core/paths.ts';
import type { DecimalString, Fill, Kline, OrderIntent, Side, Symbol } from '../../core/types.ts';
import { readKlineCsv, parseKlineSpec, shiftKlines } from '../../market/kline-csv.ts';
import { loadExchangeInfo, type ExchangeRules } from '../../../executor/exchange-info.ts';
import { validateOrder } from '../../../executor/filters.ts';
import { MatchingEngine, type EngineEvent, type EngineOrder, type MatchingEngineConfig } from '../sim/matching-engine.ts';
import { createAlgoOrders } from './algo-orders.ts';
import {
  BinanceApiError,
  accountUpdate,
  apiError,
  klineEvent,
  klineRow,
  orderJson,
  orderTradeUpdate,
  partialKline,
  raw,
  toJson,
  type AccountUpdatePosition,
  type OrderExtras,
  type OrderUpdateExec,
} from './wire.ts';

/** Default API key of the simulator (send it as `X-MBX-APIKEY`). */
export const DEFAULT_SIM_API_KEY = 'perpbot-sim-key';
/** Default API secret of the simulator (HMAC-SHA256 key of `signature`). */
export const DEFAULT_SIM_API_SECRET = 'perpbot-sim-secret';
/** Default exchangeInfo file: the recorded mainnet response bundled in data/. */
export const DEFAULT_SIM_EXCHANGE_INFO = projectPath('data', 'exchange-info', 'fapi-exchangeInfo-2024-10-02.json');

const MINUTE = 60_000;
const FIRST_ORDER_ID = 700000000001n;
const FIRST_TRADE_ID = 5000000001n;
const MAINT_MARGIN_RATE = new Decimal('0.004');
const FUNDING_RATE = '0.00010000';
const ORDER_INDEX_LIMIT = 50_000;

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
  /** Kline CSV specs, one per symbol: `SYMBOL=path` or a Binance-named path (see parseKlineSpec). */
  data: string[];
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
}

/** One fill as kept by the simulator (GET /fapi/v1/userTrades, /admin/state). */
export type SimFill = Fill;

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
  /** Server-clock skew, ms. */
  clockSkewMs: number;
  /** Delay of order acknowledgements (POST/DELETE /fapi/v1/order responses), ms. */
  orderAckDelayMs: number;
  /** Stalled streams and until when (server ms; null = until resumed). */
  stalled: { stream: string; until: number | null }[];
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

interface Conn {
  ws: WebSocket;
  kind: 'market' | 'user';
  combined: boolean;
  streams: Set<string>;
  listenKey: string | null;
}

interface Route {
  weight: (p: URLSearchParams) => number;
  auth: 'none' | 'key' | 'signed';
  order?: boolean;
  handler: (p: URLSearchParams) => unknown;
}

function intParam(p: URLSearchParams, name: string, required: boolean): number | undefined {
  const v = p.get(name);
  if (v === null || v === '') {
    if (required) throw apiError(-1102, [name]);
    return undefined;
  }
  if (!/^-?\d+$/.test(v)) throw apiError(-1102, [name]);
  return Number(v);
}

function strParam(p: URLSearchParams, name: string): string {
  const v = p.get(name);
  if (v === null || v === '') throw apiError(-1102, [name]);
  return v;
}

/** A plausible notional cap for a leverage (Binance's brackets are per symbol; not modelled). */
function maxNotional(leverage: number): string {
  return leverage <= 20 ? '1000000' : leverage <= 50 ? '250000' : '50000';
}

function nextFundingTime(t: number): number {
  const eight = 8 * 60 * MINUTE;
  return Math.floor(t / eight) * eight + eight;
}

/**
 * Start a simulator on 127.0.0.1 (`opts.port`, 0 = any free port) and resolve once it listens.
 *
 * REST (JSON; errors are `{"code":<Binance code>,"msg":"…"}` with Binance's HTTP status — 400
 * request errors, 401 -2014/-2015 key errors, 429 -1003/-1015 rate limits with `Retry-After`, 418
 * -1003 ban; every /fapi answer carries `X-MBX-USED-WEIGHT-1M`, order endpoints also
 * `X-MBX-ORDER-COUNT-10S`/`-1M`):
 * - public: GET /fapi/v1/ping, /time, /exchangeInfo (the file, `serverTime` and `rateLimits`
 *   updated), /klines (1m only; closed klines only; startTime/endTime/limit ≤ 1500 as Binance),
 *   /premiumIndex (mark = forming kline's close so far, funding rate 0.0001), /ticker/price;
 * - SIGNED (`timestamp`, optional `recvWindow` ≤ 60000, `signature` = hex HMAC-SHA256 of the query
 *   string + body exactly as sent, minus the signature; header X-MBX-APIKEY): POST/GET/DELETE
 *   /fapi/v1/order, DELETE /fapi/v1/allOpenOrders, GET /fapi/v1/openOrders, GET /fapi/v3/positionRisk,
 *   /fapi/v3/account, /fapi/v3/balance (and the v2 forms of those three), /fapi/v1/userTrades,
 *   /fapi/v1/commissionRate,
 *   POST /fapi/v1/leverage, /fapi/v1/marginType, GET/POST /fapi/v1/positionSide/dual;
 *   -2014 missing key, -2015 wrong key, -1102 missing timestamp/signature, -1021 outside recvWindow
 *   or > 1000 ms ahead, -1022 bad signature;
 * - order checks, in order: parameters (-1102, -1117, -1116, -1115, -1100, -1121), exchange filters
 *   via executor/filters.ts validateOrder (-1111, -4014, -4013, -4002, -4003, -4004, -4005, -4023,
 *   -4016, -4024, -4164 unless reduce-only), -4116 duplicate open client id, -2019 initial margin
 *   (notional ÷ leverage of the part that opens or grows a position) above the available balance,
 *   then the engine (-2022 reduce-only that would open or grow, -5022 GTX that would take);
 *   -2013 GET of an unknown order, -2011 DELETE of an unknown or finished order (as Binance);
 * - API key only: POST/PUT/DELETE /fapi/v1/listenKey (one key per account, `listenKeyTtlMs`;
 *   PUT on none → -1125).
 *
 * Websockets (same port): market data on /market/stream, /public/stream, /stream (combined
 * `{"stream","data"}` frames, `?streams=a/b` or SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS) and /ws,
 * /ws/<stream> (raw frames); streams `<symbol>@kline_1m`, `<symbol>@markPrice[@1s]`,
 * `!markPrice@arr[@1s]`. User data on /private/stream?listenKey= (combined, `stream` = the key),
 * /private/ws?listenKey=, /private/ws/<key>, /ws/<key> (raw): ORDER_TRADE_UPDATE, ACCOUNT_UPDATE
 * (reason ORDER), listenKeyExpired (then the socket is closed). Unknown listen key → HTTP 400 on
 * upgrade. Any path prefix before those endpoints is ignored.
 *
 * Admin (no auth, JSON body): see ADMIN_ENDPOINTS in ./cli.ts and {@link SimulatorState}.
 *
 * @throws DataError when a kline file is missing or malformed, PerpbotError EXCHANGE_INFO_INVALID
 *   / SYMBOL_UNKNOWN when the exchangeInfo is bad or lacks a data symbol, RangeError on bad options
 */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const apiKey = opts.apiKey ?? DEFAULT_SIM_API_KEY;
  const apiSecret = opts.apiSecret ?? DEFAULT_SIM_API_SECRET;
  const speed = opts.speed ?? 1;
  const steps = opts.stepsPerKline ?? 12;
  const ttl = opts.listenKeyTtlMs ?? 60 * MINUTE;
  const defaultLeverage = opts.defaultLeverage ?? 20;
  const limits: RateLimits = { weightPerMinute: 2400, ordersPer10s: 300, ordersPerMinute: 1200, banMs: 120_000, ...opts.rateLimits };
  if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`stepsPerKline must be an integer ≥ 1, got ${steps}`);
  if (opts.data.length === 0) throw new RangeError('at least one kline data spec is needed');

  // ---------------------------------------------------------------- data
  const infoPath = opts.exchangeInfo ?? DEFAULT_SIM_EXCHANGE_INFO;
  const rules: ExchangeRules = loadExchangeInfo(infoPath);
  const infoDoc = JSON.parse(readFileSync(infoPath, 'utf8')) as Record<string, unknown>;
  const symbols: Symbol[] = [];
  const rawKlines = new Map<Symbol, Kline[]>();
  for (const spec of opts.data) {
    const { symbol, path } = parseKlineSpec(spec);
    rules.get(symbol);
    rawKlines.set(symbol, readKlineCsv(path, symbol).klines);
    if (!symbols.includes(symbol)) symbols.push(symbol);
  }
  let minOpen = Infinity;
  let maxOpen = -Infinity;
  for (const ks of rawKlines.values()) {
    if (ks.length === 0) continue;
    minOpen = Math.min(minOpen, ks[0]!.openTime);
    maxOpen = Math.max(maxOpen, ks[ks.length - 1]!.openTime);
  }
  if (!Number.isFinite(minOpen)) throw new RangeError('the kline files hold no klines');
  const timelineLen = (maxOpen - minOpen) / MINUTE + 1;
  const history = Math.max(0, Math.min(opts.history ?? 500, timelineLen - 1));
  const offset = opts.alignToNow === false ? 0 : Math.floor(Date.now() / MINUTE) * MINUTE - (minOpen + history * MINUTE);
  const t0 = minOpen + offset;
  /** Per symbol: kline by timeline index (undefined in gaps). */
  const bars = new Map<Symbol, (Kline | undefined)[]>();
  for (const [symbol, ks] of rawKlines) {
    const arr: (Kline | undefined)[] = new Array(timelineLen);
    for (const k of shiftKlines(ks, offset)) arr[(k.openTime - t0) / MINUTE] = k;
    bars.set(symbol, arr);
  }
  const tickSizes = new Map(symbols.map((s) => [s, rules.get(s).priceFilter.tickSize]));

  const engine = new MatchingEngine({
    ...opts.engine,
    startingBalance: opts.balance ?? '10000',
    firstOrderId: FIRST_ORDER_ID,
    firstTradeId: FIRST_TRADE_ID,
    tickSize: (s) => tickSizes.get(s),
    orderHistoryLimit: 10_000,
  });
  const takerFee = dec(opts.engine?.takerFeeRate ?? '0.0005');
  const makerFee = dec(opts.engine?.makerFeeRate ?? '0.0002');

  // ---------------------------------------------------------------- account state kept beside the engine
  const leverage = new Map<Symbol, number>();
  const marginType = new Map<Symbol, 'cross' | 'isolated'>();
  let dualSide = false;
  const fills: SimFill[] = [];
  const FILL_LIMIT = 100_000;
  const extras = new Map<string, OrderExtras>(); // by orderId
  const orderById = new Map<string, string>(); // orderId → clientOrderId
  const firstTradeIds = new Map<Symbol, number>(symbols.map((s) => [s, 1_000_000_001]));

  // ---------------------------------------------------------------- clocks
  const stepMs = MINUTE / steps;
  let index = history; // kline being formed
  // Aligned and running: start at the wall clock's position inside the current minute.
  let phase = opts.alignToNow !== false && opts.paused !== true ? Math.min(steps - 1, Math.floor((Date.now() % MINUTE) / stepMs)) : 0;
  let ended = index >= timelineLen;
  const faults: FaultState = { restErrors: 0, restErrorStatus: 503, restHangs: 0, clockSkewMs: 0, orderAckDelayMs: 0, stalled: [] };
  const serverTime = (): number => Date.now() + faults.clockSkewMs;
  const dataTime = (): number => (ended ? t0 + timelineLen * MINUTE : t0 + index * MINUTE + phase * stepMs);

  const lev = (s: Symbol): number => leverage.get(s) ?? defaultLeverage;
  const lastClose = new Map<Symbol, string>();

  function currentBar(symbol: Symbol): Kline | undefined {
    if (ended) return undefined;
    const k = bars.get(symbol)?.[index];
    return k === undefined ? undefined : partialKline(k, phase, steps);
  }

  function markPrice(symbol: Symbol): DecimalString {
    const k = currentBar(symbol);
    if (k !== undefined) return k.close;
    return lastClose.get(symbol) ?? '0';
  }

  // history: feed the engine the closed klines
  for (let i = 0; i < history; i++) {
    for (const s of symbols) {
      const k = bars.get(s)![i];
      if (k !== undefined) {
        engine.onKline(k);
        lastClose.set(s, k.close);
        firstTradeIds.set(s, firstTradeIds.get(s)! + (k.trades ?? 0));
      }
    }
  }

  // ---------------------------------------------------------------- websocket fan-out
  const conns = new Set<Conn>();

  function pruneStalls(): void {
    const now = serverTime();
    if (faults.stalled.some((s) => s.until !== null && s.until <= now)) faults.stalled = faults.stalled.filter((s) => s.until === null || s.until > now);
  }

  function stalled(stream: string): boolean {
    if (faults.stalled.length === 0) return false;
    pruneStalls();
    let hit = false;
    for (const s of faults.stalled) if (s.stream === '*' || s.stream === stream) hit = true;
    return hit;
  }

  function sendMarket(stream: string, data: unknown): void {
    if (conns.size === 0 || stalled(stream)) return;
    let text: string | null = null;
    let combinedText: string | null = null;
    for (const c of conns) {
      if (c.kind !== 'market' || !c.streams.has(stream) || c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.combined) c.ws.send((combinedText ??= toJson({ stream, data })));
      else c.ws.send((text ??= toJson(data)));
    }
  }

  function sendUser(data: unknown, onlyKey?: string): void {
    if (stalled('user')) return;
    for (const c of conns) {
      if (c.kind !== 'user' || c.ws.readyState !== WebSocket.OPEN) continue;
      if (onlyKey !== undefined && c.listenKey !== onlyKey) continue;
      if (onlyKey === undefined && (c.listenKey === null || !listenKeys.has(c.listenKey))) continue;
      if (c.listenKey !== null && stalled(c.listenKey)) continue;
      c.ws.send(toJson(c.combined ? { stream: c.listenKey, data } : data));
    }
  }

  function marketFrames(isFinal: boolean): void {
    if (conns.size === 0) return;
    const E = isFinal ? t0 + (index + 1) * MINUTE : dataTime();
    const marks: unknown[] = [];
    for (const s of symbols) {
      const k = bars.get(s)?.[index];
      const lower = s.toLowerCase();
      if (k !== undefined) {
        const shown = isFinal ? k : partialKline(k, phase, steps);
        sendMarket(`${lower}@kline_1m`, klineEvent(shown, E, firstTradeIds.get(s)!));
      }
      const p = isFinal && k !== undefined ? k.close : markPrice(s);
      const mark = { e: 'markPriceUpdate', E, s, p, P: p, i: p, r: FUNDING_RATE, T: nextFundingTime(E) };
      marks.push(mark);
      sendMarket(`${lower}@markPrice`, mark);
      sendMarket(`${lower}@markPrice@1s`, mark);
    }
    sendMarket('!markPrice@arr', marks);
    sendMarket('!markPrice@arr@1s', marks);
  }

  // ---------------------------------------------------------------- engine events → user data
  function openNotionals(symbol: Symbol): { bids: string; asks: string } {
    let bids = ZERO;
    let asks = ZERO;
    for (const o of engine.openOrders(symbol)) {
      const px = o.price ?? markPrice(symbol);
      const n = dec(o.quantity).minus(dec(o.executedQuantity)).times(dec(px));
      if (o.side === 'BUY') bids = bids.plus(n);
      else asks = asks.plus(n);
    }
    return { bids: str(bids), asks: str(asks) };
  }

  function breakEven(qty: Decimal, entry: Decimal): Decimal {
    if (qty.isZero()) return ZERO;
    return qty.isPos() ? entry.times(takerFee.plus(1)) : entry.times(new Decimal(1).minus(takerFee));
  }

  /** Record a fill (userTrades, state) and add it to its order's quote total; returns that total. */
  function bookFill(f: Fill): Decimal {
    if (fills.length >= FILL_LIMIT) fills.shift();
    fills.push(f);
    const ex = extras.get(f.orderId) ?? { cumQuote: ZERO };
    ex.cumQuote = ex.cumQuote.plus(dec(f.price).times(dec(f.quantity)));
    extras.set(f.orderId, ex);
    return ex.cumQuote;
  }

  // Conditional (algo) orders: routes and user-data frames in ./algo-orders.ts.
  const algo = createAlgoOrders({ engine, rules, symbolParam, markPrice, dataTime, dualSide: () => dualSide, sendUser, bookFill, openNotionals });

  function handleEvents(events: readonly EngineEvent[], eventTime: number): void {
    for (const ev of events) {
      if (algo.onEvent(ev, eventTime)) continue;
      switch (ev.type) {
        case 'OrderAccepted': {
          orderById.set(ev.orderId, ev.clientOrderId);
          extras.set(ev.orderId, { cumQuote: ZERO });
          if (orderById.size > ORDER_INDEX_LIMIT) {
            // bounded like the engine's own history (it forgets finished orders beyond 10000)
            const oldest = orderById.keys().next().value!;
            orderById.delete(oldest);
            extras.delete(oldest);
          }
          const o = engine.getOrder(ev.clientOrderId);
          if (o !== undefined) sendUser(orderTradeUpdate(o, { x: 'NEW' }, eventTime, ev.ts, openNotionals(o.symbol)));
          break;
        }
        case 'OrderFilled': {
          const f = ev.fill;
          const cumQuote = bookFill(f);
          const snap = engine.getOrder(f.clientOrderId);
          if (snap === undefined) break;
          const cum = dec(ev.cumulativeQuantity);
          const o: EngineOrder = { ...snap, status: ev.status, executedQuantity: ev.cumulativeQuantity, averagePrice: str(cumQuote.div(cum)), updatedAt: f.time };
          const exec: OrderUpdateExec = { x: 'TRADE', fill: { tradeId: f.tradeId, price: f.price, quantity: f.quantity, commission: f.commission, realizedPnl: f.realizedPnl, maker: f.maker } };
          sendUser(orderTradeUpdate(o, exec, eventTime, f.time, openNotionals(f.symbol)));
          break;
        }
        case 'PositionChanged': {
          const p = ev.position;
          const q = dec(p.quantity);
          const mark = markPrice(p.symbol);
          const pos: AccountUpdatePosition = {
            s: p.symbol,
            pa: p.quantity,
            ep: p.entryPrice,
            cr: p.realizedPnl,
            up: engine.unrealizedPnl(p.symbol, mark),
            mt: marginType.get(p.symbol) ?? 'cross',
            bep: str(breakEven(q, dec(p.entryPrice))),
          };
          sendUser(accountUpdate(eventTime, ev.ts, engine.balance(), [pos]));
          break;
        }
        case 'OrderCanceled':
        case 'OrderExpired': {
          const o = engine.getOrder(ev.clientOrderId);
          if (o !== undefined) sendUser(orderTradeUpdate(o, { x: ev.type === 'OrderCanceled' ? 'CANCELED' : 'EXPIRED' }, eventTime, ev.ts, openNotionals(o.symbol)));
          break;
        }
        case 'OrderRejected':
          break;
      }
    }
  }

  // ---------------------------------------------------------------- the data clock
  function startKline(): void {
    const t = t0 + index * MINUTE;
    for (const s of symbols) {
      const k = bars.get(s)![index];
      if (k === undefined) continue;
      handleEvents(engine.onMarkPrice(s, k.open, t, false), t); // stops: from the first sub-step (matching-engine.ts)
    }
    marketFrames(false);
  }

  function closeKline(): void {
    marketFrames(true);
    const E = t0 + (index + 1) * MINUTE;
    for (const s of symbols) {
      const k = bars.get(s)![index];
      if (k === undefined) continue;
      lastClose.set(s, k.close);
      firstTradeIds.set(s, firstTradeIds.get(s)! + (k.trades ?? 0));
      handleEvents(engine.onKline(k), E);
    }
  }

  /** One sub-step. @returns 'step' | 'closed' (a kline closed) | 'end' */
  function stepOnce(): 'step' | 'closed' | 'end' {
    if (ended) return 'end';
    phase++;
    if (phase < steps) {
      marketFrames(false);
      if (opts.fillOnSubSteps === true) {
        const t = dataTime();
        for (const s of symbols) {
          const k = bars.get(s)![index];
          if (k !== undefined) handleEvents(engine.onMarkPrice(s, partialKline(k, phase, steps).close, t), t);
        }
      } else {
        // Protective stops trigger on the mark price (Binance workingType MARK_PRICE) all the same.
        const t = dataTime();
        for (const s of symbols) {
          const k = bars.get(s)![index];
          if (k !== undefined) handleEvents(engine.triggerStops(s, partialKline(k, phase, steps).close, t), t);
        }
      }
      return 'step';
    }
    closeKline();
    index++;
    phase = 0;
    if (index >= timelineLen) {
      ended = true;
      return 'closed';
    }
    startKline();
    return 'closed';
  }

  if (!ended) startKline();

  let paused = opts.paused === true;
  let timer: NodeJS.Timeout | null = null;
  const realStepMs = stepMs / speed;
  /** Where the data clock stood (in sub-steps) at the wall time it was last armed or stepped by hand. */
  let base = { steps: 0, wall: 0 };
  const position = (): number => index * steps + phase;
  const rebase = (): void => {
    base = { steps: position(), wall: Date.now() };
  };
  /**
   * Run the data clock: each tick plays every sub-step due by the wall clock since `base` (a
   * late timer catches up instead of letting the data fall behind the server clock over hours),
   * at most 1,000 a tick.
   */
  function arm(): void {
    if (timer !== null || paused || ended) return;
    rebase();
    timer = setInterval(() => {
      const due = base.steps + Math.floor((Date.now() - base.wall) / realStepMs);
      for (let n = 0; position() < due && n < 1_000; n++) {
        if (stepOnce() === 'end') {
          if (timer !== null) clearInterval(timer);
          timer = null;
          return;
        }
      }
    }, Math.max(1, realStepMs));
  }
  arm();
  // Aligned to the wall clock at real speed: the current sub-step began at its boundary, not now.
  if (timer !== null && speed === 1 && opts.alignToNow !== false) base.wall -= base.wall % stepMs;

  // ---------------------------------------------------------------- listen keys
  const listenKeys = new Map<string, number>(); // key → expiresAt (server clock)
  function expireKey(key: string): void {
    listenKeys.delete(key);
    // E as a string: what Binance's futures stream really sends (adshao/go-binance#510), unlike its docs.
    const ev = { e: 'listenKeyExpired', E: String(serverTime()), listenKey: key };
    for (const c of conns) {
      if (c.kind !== 'user' || c.listenKey !== key) continue;
      if (c.ws.readyState === WebSocket.OPEN) c.ws.send(toJson(c.combined ? { stream: key, data: ev } : ev));
      c.ws.close(1000, 'listenKeyExpired');
    }
  }
  const keyTimer = setInterval(() => {
    const now = serverTime();
    for (const [k, exp] of listenKeys) if (exp <= now) expireKey(k);
  }, Math.max(10, Math.min(1000, Math.floor(ttl / 4))));
  keyTimer.unref();
  // Binance's websocket server pings every 3 minutes (clients answer with a pong).
  const pingTimer = setInterval(() => {
    for (const c of conns) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }, 180_000);
  pingTimer.unref();

  // ---------------------------------------------------------------- rate limits
  const rl = { minute: 0, weight: 0, tenS: 0, orders10s: 0, orderMinute: 0, orders1m: 0, retryUntil: 0, bannedUntil: 0 };
  function rateHeaders(isOrder: boolean): Record<string, string> {
    const h: Record<string, string> = { 'X-MBX-USED-WEIGHT-1M': String(rl.weight) };
    if (isOrder) {
      h['X-MBX-ORDER-COUNT-10S'] = String(rl.orders10s);
      h['X-MBX-ORDER-COUNT-1M'] = String(rl.orders1m);
    }
    return h;
  }
  function chargeRequest(weight: number, isOrder: boolean): void {
    const now = Date.now();
    if (now < rl.bannedUntil) {
      const secs = Math.ceil((rl.bannedUntil - now) / 1000);
      throw new BinanceApiError(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${rl.bannedUntil}. Please use the websocket for live updates to avoid bans.`, { 'Retry-After': String(secs) });
    }
    if (now < rl.retryUntil) {
      rl.bannedUntil = now + limits.banMs;
      rl.retryUntil = 0;
      const secs = Math.ceil(limits.banMs / 1000);
      throw new BinanceApiError(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${rl.bannedUntil}. Please use the websocket for live updates to avoid bans.`, { 'Retry-After': String(secs) });
    }
    const minute = Math.floor(now / MINUTE);
    if (minute !== rl.minute) {
      rl.minute = minute;
      rl.weight = 0;
    }
    rl.weight += weight;
    if (rl.weight > limits.weightPerMinute) {
      rl.retryUntil = (minute + 1) * MINUTE;
      const secs = Math.ceil((rl.retryUntil - now) / 1000);
      throw new BinanceApiError(429, -1003, apiError(-1003, [String(limits.weightPerMinute)]).msg, { 'Retry-After': String(secs), ...rateHeaders(isOrder) });
    }
    if (isOrder) {
      const tenS = Math.floor(now / 10_000);
      if (tenS !== rl.tenS) {
        rl.tenS = tenS;
        rl.orders10s = 0;
      }
      if (minute !== rl.orderMinute) {
        rl.orderMinute = minute;
        rl.orders1m = 0;
      }
      rl.orders10s++;
      rl.orders1m++;
      if (rl.orders10s > limits.ordersPer10s) {
        const secs = Math.ceil(((tenS + 1) * 10_000 - now) / 1000);
        throw new BinanceApiError(429, -1015, apiError(-1015, [String(limits.ordersPer10s), 'TEN_SECONDS']).msg, { 'Retry-After': String(secs), ...rateHeaders(true) });
      }
      if (rl.orders1m > limits.ordersPerMinute) {
        const secs = Math.ceil(((minute + 1) * MINUTE - now) / 1000);
        throw new BinanceApiError(429, -1015, apiError(-1015, [String(limits.ordersPerMinute), 'MINUTE']).msg, { 'Retry-After': String(secs), ...rateHeaders(true) });
      }
    }
  }

  // ---------------------------------------------------------------- auth
  function checkAuth(req: IncomingMessage, rawQuery: string, rawBody: string, p: URLSearchParams, signed: boolean): void {
    const key = req.headers['x-mbx-apikey'];
    if (typeof key !== 'string' || key === '') throw apiError(-2014, [], 401);
    if (key !== apiKey) throw apiError(-2015, [], 401);
    if (!signed) return;
    const sig = p.get('signature');
    if (sig === null || sig === '') throw apiError(-1102, ['signature']);
    const ts = intParam(p, 'timestamp', true)!;
    const rw = intParam(p, 'recvWindow', false) ?? 5000;
    if (rw > 60000 || rw <= 0) throw apiError(-1131);
    const now = serverTime();
    if (ts > now + 1000) throw new BinanceApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.");
    if (now - ts > rw) throw apiError(-1021);
    const strip = (s: string): string => s.split('&').filter((x) => x !== '' && !x.startsWith('signature=')).join('&');
    const payload = strip(rawQuery) + strip(rawBody);
    const want = createHmac('sha256', apiSecret).update(payload).digest();
    const got = /^[0-9a-fA-F]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw apiError(-1022);
  }

  // ---------------------------------------------------------------- REST handlers
  function symbolParam(p: URLSearchParams): Symbol {
    const s = strParam(p, 'symbol').toUpperCase();
    if (!bars.has(s)) throw apiError(-1121);
    return s;
  }

  function lookupOrder(p: URLSearchParams, notFound: number): EngineOrder {
    const symbol = symbolParam(p);
    const oid = p.get('orderId');
    const cid = p.get('origClientOrderId');
    if ((oid === null || oid === '') && (cid === null || cid === '')) {
      throw new BinanceApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
    }
    let o: EngineOrder | undefined;
    if (oid !== null && oid !== '') {
      const c = orderById.get(oid);
      o = c === undefined ? undefined : engine.getOrder(c);
      if (o !== undefined && o.orderId !== oid) o = undefined;
    } else {
      o = engine.getOrder(cid!);
    }
    if (o === undefined || o.symbol !== symbol) throw apiError(notFound);
    return o;
  }

  function accountNumbers(): {
    wallet: Decimal;
    upnl: Decimal;
    posIm: Decimal;
    orderIm: Decimal;
    maint: Decimal;
    perSymbol: Map<Symbol, { qty: Decimal; entry: Decimal; mark: string; up: Decimal; notional: Decimal; im: Decimal; mm: Decimal; orderIm: Decimal; realized: string; fees: string; updatedAt: number }>;
  } {
    const wallet = dec(engine.balance());
    let upnl = ZERO;
    let posIm = ZERO;
    let orderIm = ZERO;
    let maint = ZERO;
    const perSymbol = new Map();
    const touch = (s: Symbol) => {
      let e = perSymbol.get(s);
      if (e === undefined) {
        const p = engine.position(s);
        const mark = markPrice(s);
        const qty = dec(p.quantity);
        const notional = qty.times(dec(mark));
        const up = dec(engine.unrealizedPnl(s, mark));
        const im = notional.abs().div(lev(s));
        const mm = notional.abs().times(MAINT_MARGIN_RATE);
        e = { qty, entry: dec(p.entryPrice), mark, up, notional, im, mm, orderIm: ZERO, realized: p.realizedPnl, fees: p.fees, updatedAt: p.updatedAt };
        perSymbol.set(s, e);
        upnl = upnl.plus(up);
        posIm = posIm.plus(im);
        maint = maint.plus(mm);
      }
      return e;
    };
    for (const p of engine.positions()) touch(p.symbol);
    for (const o of engine.openOrders()) {
      const e = touch(o.symbol);
      if (o.reduceOnly) continue;
      const m = dec(o.quantity).minus(dec(o.executedQuantity)).times(dec(o.price ?? e.mark)).div(lev(o.symbol));
      e.orderIm = e.orderIm.plus(m);
      orderIm = orderIm.plus(m);
    }
    return { wallet, upnl, posIm, orderIm, maint, perSymbol };
  }

  function available(): Decimal {
    const a = accountNumbers();
    return a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
  }

  function newOrder(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const side = strParam(p, 'side');
    if (side !== 'BUY' && side !== 'SELL') throw apiError(-1117);
    const type = strParam(p, 'type');
    if (type !== 'MARKET' && type !== 'LIMIT') throw apiError(-1116);
    const ps = p.get('positionSide');
    if (dualSide || (ps !== null && ps !== '' && ps !== 'BOTH')) throw apiError(-4061);
    const quantity = strParam(p, 'quantity');
    if (!isDecimalString(quantity)) throw apiError(-1102, ['quantity']);
    let price: string | undefined;
    let tif: string | undefined;
    if (type === 'LIMIT') {
      price = strParam(p, 'price');
      if (!isDecimalString(price)) throw apiError(-1102, ['price']);
      tif = p.get('timeInForce') ?? '';
      if (tif === '') throw apiError(-1102, ['timeInForce']);
      if (!['GTC', 'IOC', 'FOK', 'GTX'].includes(tif)) throw apiError(-1115);
    }
    const ro = p.get('reduceOnly');
    if (ro !== null && ro !== 'true' && ro !== 'false') throw apiError(-1130, ['reduceOnly']);
    const reduceOnly = ro === 'true';
    const respType = p.get('newOrderRespType');
    if (respType !== null && respType !== 'ACK' && respType !== 'RESULT') throw apiError(-1130, ['newOrderRespType']);
    let clientOrderId = p.get('newClientOrderId') ?? '';
    if (clientOrderId === '') clientOrderId = `sim${randomBytes(11).toString('hex')}`;
    if (!/^[.A-Z:/a-z0-9_-]{1,36}$/.test(clientOrderId)) throw apiError(-1100, ['newClientOrderId']);
    const mark = markPrice(symbol);
    const v = validateOrder(rules.get(symbol), { side, type, quantity, price, reduceOnly, refPrice: mark });
    if (v !== null) {
      const r = rules.get(symbol);
      const arg = v.code === -4164 ? [r.minNotional.notional] : v.code === -4016 ? [str(dec(mark).times(dec(r.percentPrice.multiplierUp)))] : v.code === -4024 ? [str(dec(mark).times(dec(r.percentPrice.multiplierDown)))] : [];
      throw apiError(v.code, v.code === -1102 ? ['price'] : arg);
    }
    if (engine.isOpen(clientOrderId)) throw apiError(-4116);
    if (!reduceOnly) {
      const q = dec(quantity);
      const pos = dec(engine.position(symbol).quantity);
      const opposite = side === 'BUY' ? pos.isNeg() : pos.isPos();
      const increasing = opposite ? Decimal.max(ZERO, q.minus(pos.abs())) : q;
      const need = increasing.times(dec(price ?? mark)).div(lev(symbol));
      if (need.gt(available())) throw apiError(-2019);
    }
    const now = dataTime() + 1;
    const intent: OrderIntent = {
      clientOrderId,
      symbol,
      side: side as Side,
      type,
      quantity,
      reduceOnly,
      strategyId: 'simulator',
      refPrice: mark,
      createdAt: now,
    };
    if (price !== undefined) intent.price = price;
    if (tif !== undefined) intent.timeInForce = tif as OrderIntent['timeInForce'];
    const events = engine.submit(intent, now);
    const first = events[0];
    if (first?.type === 'OrderRejected') {
      throw new BinanceApiError(400, first.code ?? -1000, first.reason);
    }
    handleEvents(events, now);
    const o = engine.getOrder(clientOrderId)!;
    return orderJson(o, extras.get(o.orderId), { withCumQty: true, withTime: false });
  }

  function cancelOrder(p: URLSearchParams): unknown {
    const o = lookupOrder(p, -2011);
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw apiError(-2011);
    const now = dataTime() + 1;
    const events = engine.cancel(o.symbol, o.clientOrderId, now);
    if (events.length === 0) throw apiError(-2011);
    handleEvents(events, now);
    const after = engine.getOrder(o.clientOrderId)!;
    return orderJson(after, extras.get(after.orderId), { withCumQty: true, withTime: false });
  }

  function positionRows(filter: Symbol | null): unknown[] {
    const a = accountNumbers();
    const rows: unknown[] = [];
    for (const [s, e] of a.perSymbol) {
      if (filter !== null && s !== filter) continue;
      if (e.qty.isZero() && e.orderIm.isZero() && engine.openOrders(s).length === 0) continue;
      const n = openNotionals(s);
      rows.push({
        symbol: s,
        positionSide: 'BOTH',
        positionAmt: str(e.qty),
        entryPrice: str(e.entry),
        breakEvenPrice: str(breakEven(e.qty, e.entry)),
        markPrice: e.mark,
        unRealizedProfit: str(e.up),
        liquidationPrice: '0',
        isolatedMargin: '0',
        notional: str(e.notional),
        marginAsset: 'USDT',
        isolatedWallet: '0',
        initialMargin: str(e.im.plus(e.orderIm)),
        maintMargin: str(e.mm),
        positionInitialMargin: str(e.im),
        openOrderInitialMargin: str(e.orderIm),
        adl: 0,
        bidNotional: n.bids,
        askNotional: n.asks,
        updateTime: e.updatedAt,
      });
    }
    return rows;
  }

  function accountV3(): unknown {
    const a = accountNumbers();
    const avail = a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
    const margin = a.wallet.plus(a.upnl);
    const maxW = Decimal.max(ZERO, Decimal.min(avail, a.wallet));
    const t = dataTime();
    return {
      totalInitialMargin: str(a.posIm.plus(a.orderIm)),
      totalMaintMargin: str(a.maint),
      totalWalletBalance: str(a.wallet),
      totalUnrealizedProfit: str(a.upnl),
      totalMarginBalance: str(margin),
      totalPositionInitialMargin: str(a.posIm),
      totalOpenOrderInitialMargin: str(a.orderIm),
      totalCrossWalletBalance: str(a.wallet),
      totalCrossUnPnl: str(a.upnl),
      availableBalance: str(avail),
      maxWithdrawAmount: str(maxW),
      assets: [
        {
          asset: 'USDT',
          walletBalance: str(a.wallet),
          unrealizedProfit: str(a.upnl),
          marginBalance: str(margin),
          maintMargin: str(a.maint),
          initialMargin: str(a.posIm.plus(a.orderIm)),
          positionInitialMargin: str(a.posIm),
          openOrderInitialMargin: str(a.orderIm),
          crossWalletBalance: str(a.wallet),
          crossUnPnl: str(a.upnl),
          availableBalance: str(avail),
          maxWithdrawAmount: str(maxW),
          updateTime: t,
        },
      ],
      positions: [...a.perSymbol]
        .filter(([, e]) => !e.qty.isZero())
        .map(([s, e]) => ({
          symbol: s,
          positionSide: 'BOTH',
          positionAmt: str(e.qty),
          unrealizedProfit: str(e.up),
          isolatedMargin: '0',
          notional: str(e.notional),
          isolatedWallet: '0',
          initialMargin: str(e.im),
          maintMargin: str(e.mm),
          updateTime: e.updatedAt,
        })),
    };
  }

  /** GET /fapi/v2/positionRisk rows: every data symbol (flat ones too), with leverage and margin type. */
  function positionRowsV2(filter: Symbol | null): unknown[] {
    const a = accountNumbers();
    return symbols
      .filter((s) => filter === null || s === filter)
      .map((s) => {
        const e = a.perSymbol.get(s);
        const mark = e?.mark ?? markPrice(s);
        const qty = e?.qty ?? ZERO;
        const entry = e?.entry ?? ZERO;
        return {
          symbol: s,
          positionAmt: str(qty),
          entryPrice: str(entry),
          breakEvenPrice: str(breakEven(qty, entry)),
          markPrice: mark,
          unRealizedProfit: str(e?.up ?? ZERO),
          liquidationPrice: '0',
          leverage: String(lev(s)),
          maxNotionalValue: maxNotional(lev(s)),
          marginType: marginType.get(s) ?? 'cross',
          isolatedMargin: '0',
          isAutoAddMargin: 'false',
          positionSide: 'BOTH',
          notional: str(e?.notional ?? ZERO),
          isolatedWallet: '0',
          updateTime: e?.updatedAt ?? 0,
        };
      });
  }

  /** GET /fapi/v2/account: the v3 body plus the v2 flags and per-symbol position rows. */
  function accountV2(): unknown {
    const v3 = accountV3() as Record<string, unknown>;
    const a = accountNumbers();
    return {
      feeTier: 0,
      canTrade: true,
      canDeposit: true,
      canWithdraw: true,
      updateTime: 0,
      multiAssetsMargin: false,
      tradeGroupId: -1,
      ...v3,
      positions: symbols.map((s) => {
        const e = a.perSymbol.get(s);
        return {
          symbol: s,
          initialMargin: str(e === undefined ? ZERO : e.im.plus(e.orderIm)),
          maintMargin: str(e?.mm ?? ZERO),
          unrealizedProfit: str(e?.up ?? ZERO),
          positionInitialMargin: str(e?.im ?? ZERO),
          openOrderInitialMargin: str(e?.orderIm ?? ZERO),
          leverage: String(lev(s)),
          isolated: (marginType.get(s) ?? 'cross') === 'isolated',
          entryPrice: str(e?.entry ?? ZERO),
          breakEvenPrice: str(breakEven(e?.qty ?? ZERO, e?.entry ?? ZERO)),
          maxNotional: maxNotional(lev(s)),
          bidNotional: openNotionals(s).bids,
          askNotional: openNotionals(s).asks,
          positionSide: 'BOTH',
          positionAmt: str(e?.qty ?? ZERO),
          updateTime: e?.updatedAt ?? 0,
        };
      }),
    };
  }

  function balanceV3(): unknown {
    const a = accountNumbers();
    const avail = a.wallet.plus(a.upnl).minus(a.posIm).minus(a.orderIm);
    return [
      {
        accountAlias: 'SgsRmYFzAuTi',
        asset: 'USDT',
        balance: str(a.wallet),
        crossWalletBalance: str(a.wallet),
        crossUnPnl: str(a.upnl),
        availableBalance: str(avail),
        maxWithdrawAmount: str(Decimal.max(ZERO, Decimal.min(avail, a.wallet))),
        marginAvailable: true,
        updateTime: dataTime(),
      },
    ];
  }

  function userTrades(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (limit < 1 || limit > 1000) throw apiError(-1130, ['limit']);
    const fromId = p.get('fromId');
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    let list = fills.filter((f) => f.symbol === symbol);
    if (fromId !== null && fromId !== '') {
      if (!/^\d+$/.test(fromId)) throw apiError(-1102, ['fromId']);
      const from = BigInt(fromId);
      list = list.filter((f) => BigInt(f.tradeId) >= from).slice(0, limit);
    } else if (start !== undefined || end !== undefined) {
      const s = start ?? (end! - 7 * 24 * 60 * MINUTE);
      const e = end ?? s + 7 * 24 * 60 * MINUTE;
      list = list.filter((f) => f.time >= s && f.time <= e).slice(0, limit);
    } else {
      list = list.slice(-limit);
    }
    return list.map((f) => ({
      buyer: f.side === 'BUY',
      commission: f.commission,
      commissionAsset: f.commissionAsset,
      id: raw(f.tradeId),
      maker: f.maker,
      orderId: raw(f.orderId),
      price: f.price,
      qty: f.quantity,
      quoteQty: str(dec(f.price).times(dec(f.quantity))),
      realizedPnl: f.realizedPnl,
      side: f.side,
      positionSide: 'BOTH',
      symbol: f.symbol,
      time: f.time,
    }));
  }

  function klines(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const interval = strParam(p, 'interval');
    if (interval !== '1m') throw apiError(-1120);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (limit < 1 || limit > 1500) throw apiError(-1130, ['limit']);
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    const arr = bars.get(symbol)!;
    const closed = ended ? timelineLen : index; // klines [0, closed) are closed
    const idx = (t: number): number => Math.ceil((t - t0) / MINUTE); // first index with openTime >= t
    let lo = 0;
    let hi = closed; // exclusive
    if (end !== undefined) hi = Math.min(hi, Math.max(0, Math.floor((end - t0) / MINUTE) + 1));
    if (start !== undefined) lo = Math.max(0, idx(start));
    const out: unknown[] = [];
    if (start !== undefined) {
      for (let i = lo; i < hi && out.length < limit; i++) if (arr[i] !== undefined) out.push(klineRow(arr[i]!));
    } else {
      for (let i = hi - 1; i >= lo && out.length < limit; i--) if (arr[i] !== undefined) out.push(klineRow(arr[i]!));
      out.reverse();
    }
    return out;
  }

  function premiumIndex(p: URLSearchParams): unknown {
    const one = (s: Symbol) => {
      const m = markPrice(s);
      const t = dataTime();
      return { symbol: s, markPrice: m, indexPrice: m, estimatedSettlePrice: m, lastFundingRate: FUNDING_RATE, interestRate: '0.00010000', nextFundingTime: nextFundingTime(t), time: t };
    };
    const s = p.get('symbol');
    if (s !== null && s !== '') return one(symbolParam(p));
    return symbols.map(one);
  }

  function listenKeyCreate(): unknown {
    const now = serverTime();
    for (const [k, exp] of listenKeys) {
      if (exp > now) {
        listenKeys.set(k, now + ttl);
        return { listenKey: k };
      }
    }
    const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const k = [...randomBytes(64)].map((b) => ALNUM[b % ALNUM.length]).join('');
    listenKeys.set(k, now + ttl);
    return { listenKey: k };
  }

  function listenKeyKeepAlive(): unknown {
    const now = serverTime();
    for (const [k, exp] of listenKeys) {
      if (exp > now) {
        listenKeys.set(k, now + ttl);
        return { listenKey: k };
      }
    }
    throw apiError(-1125);
  }

  function listenKeyDelete(): unknown {
    for (const k of [...listenKeys.keys()]) {
      listenKeys.delete(k);
      for (const c of conns) if (c.kind === 'user' && c.listenKey === k) c.ws.close(1000, 'listenKey closed');
    }
    return {};
  }

  const servedRateLimits = [
    { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: limits.weightPerMinute },
    { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: limits.ordersPerMinute },
    { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: limits.ordersPer10s },
  ];
  const w = (n: number) => () => n;
  const routes: Record<string, Route> = {
    'GET /fapi/v1/ping': { weight: w(1), auth: 'none', handler: () => ({}) },
    'GET /fapi/v1/time': { weight: w(1), auth: 'none', handler: () => ({ serverTime: serverTime() }) },
    'GET /fapi/v1/exchangeInfo': { weight: w(1), auth: 'none', handler: () => ({ ...infoDoc, serverTime: serverTime(), rateLimits: servedRateLimits }) },
    'GET /fapi/v1/klines': {
      weight: (p) => {
        const l = Number(p.get('limit') ?? 500);
        return l < 100 ? 1 : l < 500 ? 2 : l <= 1000 ? 5 : 10;
      },
      auth: 'none',
      handler: klines,
    },
    'GET /fapi/v1/premiumIndex': { weight: (p) => (p.get('symbol') ? 1 : 10), auth: 'none', handler: premiumIndex },
    'GET /fapi/v1/ticker/price': { weight: (p) => (p.get('symbol') ? 1 : 2), auth: 'none', handler: (p) => {
      const one = (s: Symbol) => ({ symbol: s, price: markPrice(s), time: dataTime() });
      const s = p.get('symbol');
      return s !== null && s !== '' ? one(symbolParam(p)) : symbols.map(one);
    } },
    'GET /fapi/v1/commissionRate': { weight: w(20), auth: 'signed', handler: (p) => ({ symbol: symbolParam(p), makerCommissionRate: str(makerFee), takerCommissionRate: str(takerFee) }) },
    'POST /fapi/v1/order': { weight: w(0), auth: 'signed', order: true, handler: newOrder },
    'GET /fapi/v1/order': { weight: w(1), auth: 'signed', handler: (p) => {
      const o = lookupOrder(p, -2013);
      return orderJson(o, extras.get(o.orderId), { withCumQty: false, withTime: true });
    } },
    'DELETE /fapi/v1/order': { weight: w(1), auth: 'signed', handler: cancelOrder },
    'DELETE /fapi/v1/allOpenOrders': { weight: w(1), auth: 'signed', handler: (p) => {
      const symbol = symbolParam(p);
      const now = dataTime() + 1;
      handleEvents(engine.cancelAll(symbol, now), now);
      return { code: 200, msg: 'The operation of cancel all open order is done.' };
    } },
    'GET /fapi/v1/openOrders': { weight: (p) => (p.get('symbol') ? 1 : 40), auth: 'signed', handler: (p) => {
      const s = p.get('symbol');
      const list = s !== null && s !== '' ? engine.openOrders(symbolParam(p)) : engine.openOrders();
      return list.map((o) => orderJson(o, extras.get(o.orderId), { withCumQty: false, withTime: true }));
    } },
    'GET /fapi/v3/positionRisk': { weight: w(5), auth: 'signed', handler: (p) => {
      const s = p.get('symbol');
      return positionRows(s !== null && s !== '' ? symbolParam(p) : null);
    } },
    'GET /fapi/v3/account': { weight: w(5), auth: 'signed', handler: accountV3 },
    'GET /fapi/v3/balance': { weight: w(5), auth: 'signed', handler: balanceV3 },
    'GET /fapi/v2/positionRisk': { weight: w(5), auth: 'signed', handler: (p) => {
      const s = p.get('symbol');
      return positionRowsV2(s !== null && s !== '' ? symbolParam(p) : null);
    } },
    'GET /fapi/v2/account': { weight: w(5), auth: 'signed', handler: accountV2 },
    'GET /fapi/v2/balance': { weight: w(5), auth: 'signed', handler: balanceV3 },
    'GET /fapi/v1/userTrades': { weight: w(5), auth: 'signed', handler: userTrades },
    'POST /fapi/v1/leverage': { weight: w(1), auth: 'signed', handler: (p) => {
      const symbol = symbolParam(p);
      const l = intParam(p, 'leverage', true)!;
      if (l < 1 || l > 125) throw apiError(-4028, [String(l)]);
      leverage.set(symbol, l);
      return { leverage: l, maxNotionalValue: maxNotional(l), symbol };
    } },
    'POST /fapi/v1/marginType': { weight: w(1), auth: 'signed', handler: (p) => {
      const symbol = symbolParam(p);
      const mt = strParam(p, 'marginType').toUpperCase();
      if (mt !== 'ISOLATED' && mt !== 'CROSSED') throw apiError(-1130, ['marginType']);
      const want = mt === 'ISOLATED' ? 'isolated' : 'cross';
      if ((marginType.get(symbol) ?? 'cross') === want) throw apiError(-4046);
      if (!dec(engine.position(symbol).quantity).isZero()) throw apiError(-4048);
      marginType.set(symbol, want);
      return { code: 200, msg: 'success' };
    } },
    'GET /fapi/v1/positionSide/dual': { weight: w(30), auth: 'signed', handler: () => ({ dualSidePosition: dualSide }) },
    'POST /fapi/v1/positionSide/dual': { weight: w(1), auth: 'signed', handler: (p) => {
      const v = strParam(p, 'dualSidePosition');
      if (v !== 'true' && v !== 'false') throw apiError(-1130, ['dualSidePosition']);
      const want = v === 'true';
      if (want === dualSide) throw apiError(-4059);
      if (engine.openOrders().length > 0) throw apiError(-4067);
      if (engine.positions().some((x) => !dec(x.quantity).isZero())) throw apiError(-4068);
      dualSide = want;
      return { code: 200, msg: 'success' };
    } },
    'POST /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyCreate },
    'PUT /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyKeepAlive },
    'DELETE /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyDelete },
    ...algo.routes,
  };

  // ---------------------------------------------------------------- HTTP plumbing
  const hanging = new Set<ServerResponse>();
  const delayed = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers });
    res.end(body);
  }

  function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const rawQuery = q >= 0 ? rawUrl.slice(q + 1) : '';
    const rawBody = await readBody(req);
    if (path.startsWith('/admin/') || path === '/admin') {
      admin(req.method ?? 'GET', path, rawBody, res);
      return;
    }
    if (faults.restHangs > 0) {
      faults.restHangs--;
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (faults.restErrors > 0) {
      faults.restErrors--;
      send(res, faults.restErrorStatus, toJson({ code: -1001, msg: apiError(-1001).msg }));
      return;
    }
    const route = routes[`${req.method} ${path}`];
    if (route === undefined) {
      send(res, 404, toJson({ code: -5000, msg: `Path ${path}, Method ${req.method} is invalid` }));
      return;
    }
    const p = new URLSearchParams(rawQuery);
    if (rawBody !== '') for (const [k, v] of new URLSearchParams(rawBody)) p.append(k, v);
    const isOrder = route.order === true;
    try {
      chargeRequest(route.weight(p), isOrder);
      if (route.auth !== 'none') checkAuth(req, rawQuery, rawBody, p, route.auth === 'signed');
      const body = toJson(route.handler(p));
      const headers = rateHeaders(isOrder);
      const ackDelay = faults.orderAckDelayMs;
      if ((path === '/fapi/v1/order' && req.method !== 'GET') && ackDelay > 0) {
        const t = setTimeout(() => {
          delayed.delete(t);
          send(res, 200, body, headers);
        }, ackDelay);
        delayed.add(t);
        return;
      }
      send(res, 200, body, headers);
    } catch (err) {
      if (err instanceof BinanceApiError) {
        send(res, err.status, toJson({ code: err.code, msg: err.msg }), { ...rateHeaders(isOrder), ...err.headers });
      } else {
        send(res, 500, toJson({ code: -1000, msg: `An unknown error occurred while processing the request. ${err instanceof Error ? err.message : String(err)}` }));
      }
    }
  }

  // ---------------------------------------------------------------- admin
  function state(): SimulatorState {
    pruneStalls();
    const a = accountNumbers();
    return {
      serverTime: serverTime(),
      dataTime: dataTime(),
      klineIndex: index,
      step: phase,
      ended,
      paused,
      balance: engine.balance(),
      positions: [...a.perSymbol]
        .filter(([s]) => engine.positions().some((x) => x.symbol === s))
        .map(([s, e]) => ({ symbol: s, positionAmt: str(e.qty), entryPrice: str(e.entry), markPrice: e.mark, unrealizedProfit: str(e.up), realizedPnl: e.realized, fees: e.fees, leverage: lev(s) })),
      openOrders: engine.openOrders(),
      openAlgoOrders: engine.openStops(),
      fills: [...fills],
      listenKeys: [...listenKeys].map(([listenKey, expiresAt]) => ({ listenKey, expiresAt })),
      faults: { ...faults, stalled: [...faults.stalled] },
      connections: {
        market: [...conns].filter((c) => c.kind === 'market').length,
        user: [...conns].filter((c) => c.kind === 'user').length,
        streams: [...new Set([...conns].flatMap((c) => [...c.streams]))],
      },
    };
  }

  function admin(method: string, path: string, rawBody: string, res: ServerResponse): void {
    let body: Record<string, unknown> = {};
    try {
      if (rawBody.trim() !== '') body = JSON.parse(rawBody) as Record<string, unknown>;
    } catch {
      send(res, 400, JSON.stringify({ error: 'body is not JSON' }));
      return;
    }
    const num = (k: string, d?: number): number => {
      const v = body[k];
      if (v === undefined && d !== undefined) return d;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${k}: expected a number`);
      return v;
    };
    try {
      let out: unknown = { ok: true };
      const key = `${method} ${path}`;
      switch (key) {
        case 'GET /admin/state':
          out = state();
          break;
        case 'POST /admin/drop-websockets': {
          let n = 0;
          for (const c of conns) {
            c.ws.terminate();
            n++;
          }
          out = { ok: true, dropped: n };
          break;
        }
        case 'POST /admin/stall': {
          const stream = typeof body.stream === 'string' ? body.stream : '*';
          const ms = body.ms === undefined || body.ms === null ? null : num('ms');
          faults.stalled.push({ stream, until: ms === null ? null : serverTime() + ms });
          break;
        }
        case 'POST /admin/unstall': {
          const stream = typeof body.stream === 'string' ? body.stream : null;
          faults.stalled = stream === null ? [] : faults.stalled.filter((s) => s.stream !== stream);
          break;
        }
        case 'POST /admin/rest-errors':
          faults.restErrors = num('count', 1);
          faults.restErrorStatus = num('status', 503);
          if (faults.restErrorStatus < 500 || faults.restErrorStatus > 599) throw new Error('status: expected 500…599');
          break;
        case 'POST /admin/rest-hang':
          faults.restHangs = num('count', 1);
          break;
        case 'POST /admin/expire-listen-keys': {
          const keys = [...listenKeys.keys()];
          for (const k of keys) expireKey(k);
          out = { ok: true, expired: keys };
          break;
        }
        case 'POST /admin/clock-skew':
          faults.clockSkewMs = num('ms');
          break;
        case 'POST /admin/order-ack-delay':
          faults.orderAckDelayMs = num('ms');
          break;
        case 'POST /admin/clear-faults':
          Object.assign(faults, { restErrors: 0, restErrorStatus: 503, restHangs: 0, clockSkewMs: 0, orderAckDelayMs: 0, stalled: [] });
          break;
        case 'POST /admin/pause':
          sim.pause();
          break;
        case 'POST /admin/resume':
          sim.resume();
          break;
        case 'POST /admin/advance':
          out = { ok: true, closed: sim.advance(num('klines', 1)), dataTime: dataTime() };
          break;
        case 'POST /admin/step':
          out = { ok: true, steps: sim.step(num('steps', 1)), dataTime: dataTime() };
          break;
        default:
          send(res, 404, JSON.stringify({ error: `no admin endpoint ${key}` }));
          return;
      }
      send(res, 200, toJson(out));
    } catch (err) {
      send(res, 400, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
    }
  }

  // ---------------------------------------------------------------- websockets
  const wss = new WebSocketServer({ noServer: true });

  function onWsMessage(c: Conn, data: string): void {
    let msg: { method?: unknown; params?: unknown; id?: unknown };
    try {
      msg = JSON.parse(data) as typeof msg;
    } catch {
      c.ws.send(JSON.stringify({ code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }));
      return;
    }
    const id = msg.id ?? null;
    const params = Array.isArray(msg.params) ? msg.params.filter((x): x is string => typeof x === 'string') : [];
    switch (msg.method) {
      case 'SUBSCRIBE':
        for (const s of params) c.streams.add(s);
        c.ws.send(JSON.stringify({ result: null, id }));
        break;
      case 'UNSUBSCRIBE':
        for (const s of params) c.streams.delete(s);
        c.ws.send(JSON.stringify({ result: null, id }));
        break;
      case 'LIST_SUBSCRIPTIONS':
        c.ws.send(JSON.stringify({ result: [...c.streams], id }));
        break;
      case 'SET_PROPERTY':
      case 'GET_PROPERTY':
        c.ws.send(JSON.stringify({ result: msg.method === 'GET_PROPERTY' ? false : null, id }));
        break;
      default:
        c.ws.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: unknown variant \`${String(msg.method)}\`` }, id }));
    }
  }

  function reject(socket: Socket, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n`);
  }

  function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    // The endpoint is the end of the path, so a wsUrl that already carries a path still works
    // (the library appends /market/stream, /private/stream?listenKey=… to whatever wsUrl is).
    const m = /(?:\/(private|market|public))?\/(stream|ws)(?:\/([^/]+))?\/*$/.exec(u.pathname);
    let conn: Omit<Conn, 'ws'> | null = null;
    const userConn = (key: string | null, combined: boolean): Omit<Conn, 'ws'> | null => {
      if (key === null || key === '' || !listenKeys.has(key)) return null;
      return { kind: 'user', combined, streams: new Set(), listenKey: key };
    };
    if (m !== null) {
      const [, area, kind, rawName] = m;
      if (rawName !== undefined) {
        if (kind !== 'ws') return reject(socket, 404, 'Not Found');
        const name = decodeURIComponent(rawName);
        if (area !== 'private' && (name.includes('@') || name.startsWith('!'))) {
          conn = { kind: 'market', combined: false, streams: new Set([name]), listenKey: null };
        } else {
          conn = userConn(name, false);
          if (conn === null) return reject(socket, 400, 'Bad Request');
        }
      } else if (area === 'private') {
        conn = userConn(u.searchParams.get('listenKey'), kind === 'stream');
        if (conn === null) return reject(socket, 400, 'Bad Request');
      } else {
        const streams = (u.searchParams.get('streams') ?? '').split('/').filter((x) => x !== '');
        conn = { kind: 'market', combined: kind === 'stream', streams: new Set(streams), listenKey: null };
      }
    }
    if (conn === null) return reject(socket, 404, 'Not Found');
    const base = conn;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { ...base, ws };
      conns.add(c);
      ws.on('message', (d) => onWsMessage(c, d.toString()));
      ws.on('close', () => conns.delete(c));
      ws.on('error', () => conns.delete(c));
    });
  }

  // ---------------------------------------------------------------- server
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, JSON.stringify({ code: -1000, msg: String(err) })));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let closed = false;
  const sim: Simulator = {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    apiKey,
    apiSecret,
    engine,
    symbols,
    dataTime,
    serverTime,
    pause() {
      paused = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
    resume() {
      paused = false;
      arm();
    },
    step(n = 1) {
      let done = 0;
      for (let i = 0; i < n; i++) {
        if (stepOnce() === 'end') break;
        done++;
      }
      rebase(); // a running clock goes on from here
      return done;
    },
    advance(n = 1) {
      let closedCount = 0;
      while (closedCount < n) {
        const r = stepOnce();
        if (r === 'end') break;
        if (r === 'closed') closedCount++;
      }
      rebase();
      return closedCount;
    },
    markPrice,
    state,
    async close() {
      if (closed) return;
      closed = true;
      sim.pause();
      clearInterval(keyTimer);
      clearInterval(pingTimer);
      for (const t of delayed) clearTimeout(t);
      delayed.clear();
      for (const c of conns) c.ws.terminate();
      conns.clear();
      for (const r of hanging) r.destroy();
      hanging.clear();
      wss.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await done;
    },
  };
  return sim;
}
