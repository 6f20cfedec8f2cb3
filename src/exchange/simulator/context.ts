/**
 * The simulator's shared state: the replayed data, the two clocks, the account kept beside the
 * matching engine, and the late-bound functions each concern installs on it (streams, user events,
 * clock, auth, accounts). Every module of the simulator receives this one {@link SimContext}; the
 * composition is in ./server.ts.
 *
 * Two clocks:
 * - the **server clock** = wall clock + an admin skew: `GET /fapi/v1/time`, `serverTime`, the
 *   `timestamp`/`recvWindow` check, listen-key expiry and rate-limit windows;
 * - the **data clock**: the replayed market, `t0 + index·60000 + phase·stepMs` (shifted data time).
 */
import { readFileSync } from 'node:fs';
import type { WebSocket } from 'ws';
import { Decimal, dec } from '../../core/decimal.ts';
import type { DecimalString, Fill, Kline, Symbol } from '../../core/types.ts';
import { shiftKlines } from '../../market/kline-csv.ts';
import { collectSpecs, loadSpecs } from './data-specs.ts';
import { loadExchangeInfo, type ExchangeRules } from '../../../executor/exchange-info.ts';
import { MatchingEngine, type EngineEvent } from '../sim/matching-engine.ts';
import { noFaults } from './faults.ts';
import { loadFundingRates, type FundingRates } from './funding.ts';
import { apiError, partialKline, type OrderExtras } from './wire.ts';
import { DEFAULT_FUNDING_DIR, DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, DEFAULT_SIM_EXCHANGE_INFO, type FaultState, type RateLimits, type SimFill, type SimulatorOptions } from './types.ts';

/** One minute, ms. */
export const MINUTE = 60_000;
const FIRST_ORDER_ID = 700000000001n;
const FIRST_TRADE_ID = 5000000001n;
/** Maintenance margin rate used for every position (Binance's first bracket of BTCUSDT: 0.4 %). */
export const MAINT_MARGIN_RATE = new Decimal('0.004');
/** Funding rate shown when no recorded rate applies (Binance's default interest-only rate, 0.01 %). */
export const FUNDING_RATE = '0.00010000';
/** Most orders kept in the orderId index (bounded like the engine's own history). */
export const ORDER_INDEX_LIMIT = 50_000;
/** Most fills kept for GET /fapi/v1/userTrades. */
export const FILL_LIMIT = 100_000;

/** A websocket connection: market streams or one listen key's user data. */
export interface Conn {
  ws: WebSocket;
  kind: 'market' | 'user';
  /** Combined-stream framing `{"stream","data"}`. */
  combined: boolean;
  streams: Set<string>;
  listenKey: string | null;
}

/** One REST route: its request weight, authentication and handler (returns the JSON body). */
export interface Route {
  weight: (p: URLSearchParams) => number;
  /** none: public; key: X-MBX-APIKEY only (listen keys); signed: key + HMAC signature. */
  auth: 'none' | 'key' | 'signed';
  /** Counts toward the ORDERS limits. */
  order?: boolean;
  /** @throws BinanceApiError for a Binance error answer */
  handler: (p: URLSearchParams) => unknown;
}

/**
 * A family of REST routes, keyed `"METHOD /path"` (e.g. `"GET /fapi/v1/klines"`). Families are
 * registered in ./server.ts `ROUTE_FAMILIES` (or passed as {@link SimulatorOptions}-level extras):
 * a new endpoint family (algo orders, …) is one file exporting one of these.
 */
export type RouteFamily = (ctx: SimContext) => Record<string, Route>;

/** One funding settlement of one position. Money as decimal strings. */
export interface FundingPayment {
  symbol: Symbol;
  /** Time sent on the wire (server-clock bounded), epoch ms. */
  time: number;
  /** Funding time on the data clock, epoch ms. */
  fundingTime: number;
  rate: DecimalString;
  markPrice: DecimalString;
  positionAmt: DecimalString;
  /** Signed USDT, positive = received: −positionAmt × markPrice × rate, 8 decimals. */
  amount: DecimalString;
}

/** Per symbol account numbers computed by {@link SimContext.accountNumbers}. */
export interface SymbolNumbers {
  qty: Decimal;
  entry: Decimal;
  mark: string;
  up: Decimal;
  notional: Decimal;
  im: Decimal;
  mm: Decimal;
  orderIm: Decimal;
  realized: string;
  fees: string;
  updatedAt: number;
}

/** Account totals (USDT) and per-symbol numbers. */
export interface AccountNumbers {
  wallet: Decimal;
  upnl: Decimal;
  posIm: Decimal;
  orderIm: Decimal;
  maint: Decimal;
  perSymbol: Map<Symbol, SymbolNumbers>;
}

/** The shared state of one simulator. Fields marked "installed" are set by the concern modules. */
export interface SimContext {
  readonly opts: SimulatorOptions;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly speed: number;
  /** Sub-steps per kline. */
  readonly steps: number;
  /** Listen-key TTL, ms. */
  readonly ttl: number;
  readonly defaultLeverage: number;
  readonly limits: RateLimits;
  readonly rules: ExchangeRules;
  /** The exchangeInfo document as recorded. */
  readonly infoDoc: Record<string, unknown>;
  readonly symbols: Symbol[];
  /** Per symbol: kline by timeline index (undefined in gaps). */
  readonly bars: Map<Symbol, (Kline | undefined)[]>;
  readonly timelineLen: number;
  readonly history: number;
  /** Open time of timeline index 0 (shifted), epoch ms. */
  readonly t0: number;
  /** Data clock − data time (the shift applied to the files' times), ms. */
  readonly offset: number;
  /** Recorded and default funding rates. */
  readonly funding: FundingRates;
  /** The next funding time not yet settled, data clock, epoch ms. */
  nextFunding: number;
  /** Data time per sub-step, ms. */
  readonly stepMs: number;
  readonly engine: MatchingEngine;
  readonly takerFee: Decimal;
  readonly makerFee: Decimal;
  readonly leverage: Map<Symbol, number>;
  readonly marginType: Map<Symbol, 'cross' | 'isolated'>;
  dualSide: boolean;
  fills: SimFill[];
  /** Funding settled, oldest first (GET /fapi/v1/income FUNDING_FEE, GET /admin/state), at most 10,000. */
  fundingPayments: FundingPayment[];
  /** By orderId. */
  readonly extras: Map<string, OrderExtras>;
  /** orderId → clientOrderId. */
  readonly orderById: Map<string, string>;
  readonly firstTradeIds: Map<Symbol, number>;
  readonly lastClose: Map<Symbol, string>;
  /** Kline being formed (number of klines closed so far). */
  index: number;
  /** Sub-step inside it. */
  phase: number;
  ended: boolean;
  paused: boolean;
  faults: FaultState;
  /** listenKey → expiresAt (server clock). */
  readonly listenKeys: Map<string, number>;
  readonly conns: Set<Conn>;
  serverTime(): number;
  dataTime(): number;
  /**
   * A data-clock time as sent on the wire (`E`, `T`, order and trade times): never ahead of the
   * server clock (`GET /fapi/v1/time`), so a data clock running faster than real time cannot stamp
   * events in the future. `min(t, serverTime())`; non-decreasing while the skew is unchanged.
   */
  wireTime(t: number): number;
  /**
   * Wire time of the last wallet balance change: a fill, a funding payment, or the start (the
   * account's "deposit"; a real funded account never shows 0, and ccxt skips assets whose
   * updateTime is 0 as uninitialized).
   */
  balanceUpdatedAt(): number;
  lev(s: Symbol): number;
  /** Kline `i` of the timeline for `symbol` (its own `symbol` field: arrays are shared between symbols replaying one file). */
  bar(symbol: Symbol, i: number): Kline | undefined;
  currentBar(symbol: Symbol): Kline | undefined;
  markPrice(symbol: Symbol): DecimalString;
  /** The `symbol` parameter, upper-cased; -1102 missing, -1121 not served. */
  symbolParam(p: URLSearchParams): Symbol;
  // installed by ./streams.ts
  pruneStalls(): void;
  stalled(stream: string): boolean;
  sendMarket(stream: string, data: unknown): void;
  sendUser(data: unknown, onlyKey?: string): void;
  /** Kline frames of the current sub-step (final: the closing frame); with marks when `withMarks`. */
  marketFrames(isFinal: boolean, withMarks: boolean): void;
  /** Mark prices on the 1 s streams, the 3 s streams or both; `isFinal`: at the closing kline's close. */
  sendMarks(which: '1s' | '3s' | 'all', isFinal?: boolean): void;
  expireKey(key: string): void;
  // installed by ./user-events.ts
  /** Record a fill (userTrades, state) and add it to its order's quote total; returns that total. */
  bookFill(f: Fill): Decimal;
  /**
   * Hooks over engine events, asked before the default handling (e.g. ./algo-orders.ts for the
   * conditional orders): true = handled. `sendUser` adds frames to the current batch, in order.
   */
  eventHooks: Array<(ev: EngineEvent, eventTime: number, sendUser: (frame: unknown) => void) => boolean>;
  openNotionals(symbol: Symbol): { bids: string; asks: string };
  breakEven(qty: Decimal, entry: Decimal): Decimal;
  handleEvents(events: readonly EngineEvent[], eventTime: number): void;
  // installed by ./routes/account.ts
  accountNumbers(): AccountNumbers;
  available(): Decimal;
}

/** An integer parameter; -1102 when required and missing or not an integer. */
export function intParam(p: URLSearchParams, name: string, required: boolean): number | undefined {
  const v = p.get(name);
  if (v === null || v === '') {
    if (required) throw apiError(-1102, [name]);
    return undefined;
  }
  if (!/^-?\d+$/.test(v)) throw apiError(-1102, [name]);
  return Number(v);
}

/** A required string parameter; -1102 when missing. */
export function strParam(p: URLSearchParams, name: string): string {
  const v = p.get(name);
  if (v === null || v === '') throw apiError(-1102, [name]);
  return v;
}

/** A plausible notional cap for a leverage (Binance's brackets are per symbol; not modelled). */
export function maxNotional(leverage: number): string {
  return leverage <= 20 ? '1000000' : leverage <= 50 ? '250000' : '50000';
}

/** The next 8-hourly funding time (00:00, 08:00, 16:00 UTC) after `t`, epoch ms. */
export function nextFundingTime(t: number): number {
  const eight = 8 * 60 * MINUTE;
  return Math.floor(t / eight) * eight + eight;
}

/**
 * Load the data and build the shared state (engine fed with the history klines).
 * @throws DataError when a kline file is missing or malformed, PerpbotError EXCHANGE_INFO_INVALID
 *   / SYMBOL_UNKNOWN when the exchangeInfo is bad or lacks a data symbol, RangeError on bad options
 */
export function createContext(opts: SimulatorOptions): SimContext {
  const apiKey = opts.apiKey ?? DEFAULT_SIM_API_KEY;
  const apiSecret = opts.apiSecret ?? DEFAULT_SIM_API_SECRET;
  const speed = opts.speed ?? 1;
  const steps = opts.stepsPerKline ?? 12;
  const ttl = opts.listenKeyTtlMs ?? 60 * MINUTE;
  const defaultLeverage = opts.defaultLeverage ?? 20;
  const limits: RateLimits = { weightPerMinute: 2400, ordersPer10s: 300, ordersPerMinute: 1200, banMs: 120_000, ...opts.rateLimits };
  if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`stepsPerKline must be an integer ≥ 1, got ${steps}`);

  // ---------------------------------------------------------------- data
  const infoPath = opts.exchangeInfo ?? DEFAULT_SIM_EXCHANGE_INFO;
  const rules: ExchangeRules = loadExchangeInfo(infoPath);
  const infoDoc = JSON.parse(readFileSync(infoPath, 'utf8')) as Record<string, unknown>;
  const specs = collectSpecs(opts.data, opts.dataDir, opts.symbolsFile);
  if (specs.length === 0) throw new RangeError('at least one kline data spec is needed (data, dataDir or symbolsFile)');
  const symbols: Symbol[] = [];
  for (const { symbol } of specs) {
    rules.get(symbol); // SYMBOL_UNKNOWN before any file is read
    if (!symbols.includes(symbol)) symbols.push(symbol);
  }
  const rawKlines = loadSpecs(specs);
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
  // Symbols replaying the same file share one shifted array (issue #9: 300 symbols on one file
  // hold one copy); its klines carry the first symbol's name, see `bar()`.
  const bars = new Map<Symbol, (Kline | undefined)[]>();
  const shared = new Map<readonly Kline[], (Kline | undefined)[]>();
  for (const [symbol, ks] of rawKlines) {
    let arr = shared.get(ks);
    if (arr === undefined) {
      arr = new Array(timelineLen);
      for (const k of shiftKlines(ks, offset)) arr[(k.openTime - t0) / MINUTE] = k;
      shared.set(ks, arr);
    }
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
    // POST /admin/partial-fills: MARKET and resting LIMIT orders fill in pieces (not IOC/FOK).
    maxFillQuantity: (o) => {
      const pieces = ctx.faults.partialFills;
      if (pieces <= 1 || o.timeInForce === 'IOC' || o.timeInForce === 'FOK') return undefined;
      const step = dec(rules.get(o.symbol).lotSize.stepSize);
      const piece = Decimal.max(dec(o.quantity).div(pieces).toNearest(step, Decimal.ROUND_DOWN), step);
      // the last piece takes the rest (10 in 3 pieces: 3, 3, 4)
      return o.remaining.minus(piece).lt(piece) ? undefined : piece;
    },
  });

  const stepMs = MINUTE / steps;
  const startedAt = Date.now();
  const faults: FaultState = noFaults();
  const ctx = {
    opts,
    apiKey,
    apiSecret,
    speed,
    steps,
    ttl,
    defaultLeverage,
    limits,
    rules,
    infoDoc,
    symbols,
    bars,
    timelineLen,
    history,
    t0,
    offset,
    funding: loadFundingRates(symbols, opts.fundingDir === undefined ? DEFAULT_FUNDING_DIR : opts.fundingDir, offset, opts.fundingRate ?? FUNDING_RATE),
    nextFunding: 0,
    stepMs,
    engine,
    takerFee: dec(opts.engine?.takerFeeRate ?? '0.0005'),
    makerFee: dec(opts.engine?.makerFeeRate ?? '0.0002'),
    leverage: new Map<Symbol, number>(),
    marginType: new Map<Symbol, 'cross' | 'isolated'>(),
    dualSide: false,
    fills: [] as SimFill[],
    fundingPayments: [] as FundingPayment[],
    extras: new Map<string, OrderExtras>(),
    orderById: new Map<string, string>(),
    firstTradeIds: new Map<Symbol, number>(symbols.map((s) => [s, 1_000_000_001])),
    lastClose: new Map<Symbol, string>(),
    index: history,
    // Aligned and running: start at the wall clock's position inside the current minute.
    phase: opts.alignToNow !== false && opts.paused !== true ? Math.min(steps - 1, Math.floor((Date.now() % MINUTE) / stepMs)) : 0,
    ended: history >= timelineLen,
    paused: opts.paused === true,
    faults,
    listenKeys: new Map<string, number>(),
    conns: new Set<Conn>(),
    serverTime: (): number => Date.now() + ctx.faults.clockSkewMs,
    dataTime: (): number => (ctx.ended ? t0 + timelineLen * MINUTE : t0 + ctx.index * MINUTE + ctx.phase * stepMs),
    wireTime: (t: number): number => Math.min(t, ctx.serverTime()),
    balanceUpdatedAt: (): number => Math.max(startedAt, ctx.fills.at(-1)?.time ?? 0, ctx.fundingPayments.at(-1)?.time ?? 0),
    lev: (s: Symbol): number => ctx.leverage.get(s) ?? defaultLeverage,
    bar(symbol: Symbol, i: number): Kline | undefined {
      const k = bars.get(symbol)?.[i];
      return k === undefined || k.symbol === symbol ? k : { ...k, symbol };
    },
    currentBar(symbol: Symbol): Kline | undefined {
      if (ctx.ended) return undefined;
      const k = ctx.bar(symbol, ctx.index);
      return k === undefined ? undefined : partialKline(k, ctx.phase, steps);
    },
    markPrice(symbol: Symbol): DecimalString {
      const k = ctx.currentBar(symbol);
      if (k !== undefined) return k.close;
      return ctx.lastClose.get(symbol) ?? '0';
    },
    symbolParam(p: URLSearchParams): Symbol {
      const s = strParam(p, 'symbol').toUpperCase();
      if (!bars.has(s)) throw apiError(-1121);
      return s;
    },
    eventHooks: [] as SimContext["eventHooks"],
  } as SimContext;
  ctx.nextFunding = nextFundingTime(ctx.dataTime());

  // history: feed the engine the closed klines
  for (let i = 0; i < history; i++) {
    for (const s of symbols) {
      const k = ctx.bar(s, i);
      if (k !== undefined) {
        engine.onKline(k);
        ctx.lastClose.set(s, k.close);
        ctx.firstTradeIds.set(s, ctx.firstTradeIds.get(s)! + (k.trades ?? 0));
      }
    }
  }
  return ctx;
}
