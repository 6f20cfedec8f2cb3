/**
 * The mapper between Binance USDⓈ-M wire types (`Binance*`, which never leave
 * src/exchange/binance/) and perpbot's own types (src/core/types.ts).
 *
 * Rules:
 * - Input is the RAW frame or response: JSON text (parsed here with {@link parseBinanceJson}, so
 *   int64 ids survive) or a value already parsed by it. Never the `binance` library's
 *   "beautified" objects, which turn some money fields into floats.
 * - Money stays the exact decimal text Binance sent ("1.01000" stays "1.01000").
 * - Order and trade ids become decimal strings. A number id beyond 2^53 has already been
 *   corrupted by `JSON.parse`: it is refused (DataError), never passed on.
 * - Bad input throws a {@link DataError} (code `DATA_MALFORMED`) naming the stream and the field,
 *   e.g. `ORDER_TRADE_UPDATE o.L: "abc" is not a decimal number`. Nothing else is thrown.
 *
 * Wire formats: https://developers.binance.com/docs/derivatives/usds-margined-futures
 * (websocket-market-streams: Kline-Candlestick-Streams, Mark-Price-Stream; user-data-streams:
 * Event-Order-Update, Event-Balance-and-Position-Update, Event-User-Data-Stream-Expired;
 * trade: New-Order, Query-Order, Cancel-Order, Current-All-Open-Orders, Account-Trade-List,
 * Position-Information-V3, account: Account-Information-V3, Futures-Account-Balance-V3;
 * market-data: Kline-Candlestick-Data, Mark-Price, Check-Server-Time).
 */
import { z } from 'zod';
import { isDecimalString } from '../../core/decimal.ts';
import { DataError } from '../../core/errors.ts';
import type {
  DecimalString,
  ExternalOrderInfo,
  Fill,
  Kline,
  MarkPriceUpdated,
  OrderEvent,
  OrderStatus,
  Position,
  PositionChanged,
  Side,
} from '../../core/types.ts';
import { parseBinanceJson } from './json.ts';

// ---------------------------------------------------------------------------------------------
// Field schemas. Each failure message reads after "<stream> <path>: <value>".

function field<T>(what: string, check: (v: unknown) => T | undefined) {
  return z.unknown().transform((v, ctx): T => {
    const out = v === undefined ? undefined : check(v);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: what });
      return z.NEVER;
    }
    return out;
  });
}

/** Decimal text ("0.8464", "-3367", "1e-8"), kept verbatim. */
export const dec = field<string>('a decimal number', (v) => (isDecimalString(v) ? v : undefined));

/** Decimal text, or "" (Binance sends "" for some absent values, e.g. `r` of delivery symbols). */
const decOrEmpty = field<string>('a decimal number or ""', (v) =>
  v === '' || isDecimalString(v) ? (v as string) : undefined,
);

const INT_TEXT = /^-?\d+$/;
/**
 * int64 id → decimal string. Accepts a safe integer number or integer text (what
 * {@link parseBinanceJson} yields for ids beyond 2^53). An unsafe number is refused: its digits
 * were already rounded by JSON.parse.
 */
export const int64 = field<string>('an int64 id (integer number below 2^53, or integer text)', (v) => {
  if (typeof v === 'string') return INT_TEXT.test(v) ? v.replace(/^(-?)0+(?=\d)/, '$1') : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
});

/** UTC epoch milliseconds: a non-negative safe integer. */
export const ms = field<number>('a time in epoch milliseconds', (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined,
);

/** A non-negative safe integer count. */
const count = field<number>('a non-negative integer', (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined,
);

export const bool = field<boolean>('a boolean', (v) => (typeof v === 'boolean' ? v : undefined));

/** A non-empty string (symbols, assets, client order ids). */
export const text = field<string>('a non-empty string', (v) => (typeof v === 'string' && v !== '' ? v : undefined));

/** A string, possibly empty. */
export const anyText = field<string>('a string', (v) => (typeof v === 'string' ? v : undefined));

export function oneOf<const T extends readonly string[]>(values: T) {
  return field<T[number]>(`one of ${values.join(', ')}`, (v) =>
    typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T[number]) : undefined,
  );
}

export function lit<const T extends string>(value: T) {
  return field<T>(`"${value}"`, (v) => (v === value ? value : undefined));
}

export const side = oneOf(['BUY', 'SELL'] as const);

// ---------------------------------------------------------------------------------------------
// Error reporting

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Keys whose values are secrets: never echoed into an error message. */
const SECRET_FIELDS = new Set(['listenKey']);

function show(v: unknown, key: PropertyKey | undefined): string {
  if (key !== undefined && SECRET_FIELDS.has(String(key))) return '***';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function describeIssue(stream: string, root: unknown, issue: z.core.$ZodIssue): DataError {
  const path = issue.path;
  const where = path.length ? `${stream} ${pathText(path)}` : stream;
  const v = valueAt(root, path);
  let what: string;
  if (issue.code === 'custom') what = issue.message;
  else if (issue.code === 'invalid_type') what = issue.expected === 'object' ? 'an object' : issue.expected === 'array' ? 'an array' : `a ${issue.expected}`;
  else if (issue.code === 'too_small') what = `an array of at least ${String(issue.minimum)} items`;
  else what = issue.message;
  const message = v === undefined ? `${where}: missing, expected ${what}` : `${where}: ${show(v, path[path.length - 1])} is not ${what}`;
  return new DataError(message, { stream, field: pathText(path) || undefined });
}

/** Parse JSON text losslessly; a value that is not a string is taken as already parsed. */
function toValue(raw: unknown, stream: string): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return parseBinanceJson(raw);
  } catch (err) {
    throw new DataError(`${stream}: not JSON (${(err as Error).message})`, { stream });
  }
}

export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, stream: string): z.output<S> {
  const value = toValue(raw, stream);
  const r = schema.safeParse(value);
  if (!r.success) throw describeIssue(stream, value, r.error.issues[0]!);
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Websocket frames

/**
 * `<symbol>@kline_<interval>` event payload (the `data` of a combined-stream frame).
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Kline-Candlestick-Streams
 */
export const BinanceKlineEventSchema = z.object({
  e: lit('kline'),
  E: ms,
  s: text,
  k: z.object({
    t: ms,
    T: ms,
    s: text,
    i: text,
    o: dec,
    c: dec,
    h: dec,
    l: dec,
    v: dec,
    n: count,
    x: bool,
    q: dec,
  }),
});
/** Wire type of a kline event. */
export type BinanceKlineEvent = z.output<typeof BinanceKlineEventSchema>;

/**
 * `<symbol>@markPrice` event payload (also each element of `!markPrice@arr`).
 * `p` mark price, `i` index price, `P` estimated settle price, `r` funding rate, `T` next funding time.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream
 */
export const BinanceMarkPriceEventSchema = z.object({
  e: lit('markPriceUpdate'),
  E: ms,
  s: text,
  p: dec,
  i: dec.optional(),
  P: decOrEmpty.optional(),
  r: decOrEmpty.optional(),
  T: ms.optional(),
});
/** Wire type of a mark price event. */
export type BinanceMarkPriceEvent = z.output<typeof BinanceMarkPriceEventSchema>;

/** Execution types (`x`) of ORDER_TRADE_UPDATE. */
const EXECUTION_TYPES = ['NEW', 'CANCELED', 'CALCULATED', 'EXPIRED', 'TRADE', 'AMENDMENT', 'REJECTED'] as const;
/** Order statuses (`X`) of ORDER_TRADE_UPDATE and of REST orders. */
const BINANCE_ORDER_STATUSES = [
  'NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'REJECTED',
  'EXPIRED',
  'EXPIRED_IN_MATCH',
  'NEW_INSURANCE',
  'NEW_ADL',
] as const;

/**
 * ORDER_TRADE_UPDATE user-data event. Fields read: `s` symbol, `c` client order id, `S` side,
 * `o` order type, `f` time in force, `q` quantity, `p` price, `ap` average price, `x` execution
 * type, `X` order status, `i` order id (int64), `l` last filled qty, `z` cumulative filled qty,
 * `L` last filled price, `n` commission, `N` commission asset, `T` trade time, `t` trade id
 * (int64), `m` maker, `R` reduce-only, `rp` realized PnL of the trade, `er` expiry reason.
 * (`V` is the self-trade-prevention mode and `pm` the price match mode; not read.)
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update
 */
export const BinanceOrderTradeUpdateSchema = z.object({
  e: lit('ORDER_TRADE_UPDATE'),
  E: ms,
  T: ms,
  o: z.object({
    s: text,
    c: anyText,
    S: side,
    o: text,
    f: text,
    q: dec,
    p: dec,
    ap: dec,
    x: oneOf(EXECUTION_TYPES),
    X: oneOf(BINANCE_ORDER_STATUSES),
    i: int64,
    l: dec,
    z: dec,
    L: dec,
    n: dec.optional(),
    N: anyText.optional(),
    T: ms,
    t: int64,
    m: bool,
    R: bool,
    rp: dec,
    er: anyText.optional(),
  }),
});
/** Wire type of ORDER_TRADE_UPDATE. */
export type BinanceOrderTradeUpdate = z.output<typeof BinanceOrderTradeUpdateSchema>;

/**
 * ACCOUNT_UPDATE user-data event: balances `a.B` and positions `a.P` (`s` symbol, `pa` signed
 * amount, `ep` entry price, `cr` pre-fee accumulated realized PnL, `up` unrealized PnL, `ps`
 * position side, `bep` break-even price), `a.m` the reason.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Balance-and-Position-Update
 */
export const BinanceAccountUpdateSchema = z.object({
  e: lit('ACCOUNT_UPDATE'),
  E: ms,
  T: ms,
  a: z.object({
    m: text,
    B: z.array(z.object({ a: text, wb: dec, cw: dec, bc: dec })),
    P: z.array(
      z.object({
        s: text,
        pa: dec,
        ep: dec,
        cr: dec,
        up: dec,
        ps: oneOf(['BOTH', 'LONG', 'SHORT'] as const),
        bep: dec.optional(),
      }),
    ),
  }),
});
/** Wire type of ACCOUNT_UPDATE. */
export type BinanceAccountUpdate = z.output<typeof BinanceAccountUpdateSchema>;

/**
 * listenKeyExpired user-data event (`listenKey` is a secret: never logged or echoed).
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-User-Data-Stream-Expired
 */
export const BinanceListenKeyExpiredSchema = z.object({
  e: lit('listenKeyExpired'),
  E: field<number>('a time in epoch milliseconds', (v) => {
    const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
  }),
});
/** Wire type of listenKeyExpired. */
export type BinanceListenKeyExpired = z.output<typeof BinanceListenKeyExpiredSchema>;

/** A combined-stream frame `{"stream": "...", "data": {...}}`. */
const CombinedSchema = z.object({ stream: text, data: z.unknown() });

export function unwrap(raw: unknown, defaultStream: string): { stream: string; data: unknown } {
  const value = toValue(raw, defaultStream);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'stream' in value && 'data' in value) {
    const c = CombinedSchema.safeParse(value);
    if (!c.success) throw describeIssue(defaultStream, value, c.error.issues[0]!);
    return { stream: c.data.stream, data: c.data.data };
  }
  return { stream: defaultStream, data: value };
}

/**
 * Map a kline websocket frame to a {@link Kline}, still-forming ones included (`closed` = `x`).
 *
 * @param raw the frame's JSON text, or its value parsed by {@link parseBinanceJson}; combined-stream
 *   form `{stream, data}` or the bare event
 * @returns prices/volumes as the exact decimal text sent, times in UTC epoch ms, `trades` = `n`,
 *   `quoteVolume` = `q`
 * @throws DataError naming the stream (e.g. `ctkusdt@kline_1m k.c`) on a malformed frame, or
 *   when the stream name's symbol or the event's and kline's symbols disagree
 */
export function mapKlineFrame(raw: unknown): Kline {
  const { stream, data } = unwrap(raw, 'kline');
  const ev = parseWith(BinanceKlineEventSchema, data, stream);
  const k = ev.k;
  if (k.s !== ev.s) throw new DataError(`${stream} k.s: "${k.s}" differs from s "${ev.s}"`, { stream, field: 'k.s' });
  if (stream !== 'kline') {
    const sym = stream.split('@')[0] ?? '';
    if (sym.toUpperCase() !== ev.s) throw new DataError(`${stream} s: "${ev.s}" does not match the stream name`, { stream, field: 's' });
  }
  if (k.T < k.t) throw new DataError(`${stream} k.T: ${k.T} is before k.t ${k.t}`, { stream, field: 'k.T' });
  return {
    symbol: k.s,
    interval: k.i,
    openTime: k.t,
    closeTime: k.T,
    open: k.o,
    high: k.h,
    low: k.l,
    close: k.c,
    volume: k.v,
    quoteVolume: k.q,
    trades: k.n,
    closed: k.x,
  };
}

function markPriceEvent(ev: BinanceMarkPriceEvent): MarkPriceUpdated {
  const out: MarkPriceUpdated = { type: 'MarkPriceUpdated', ts: ev.E, symbol: ev.s, markPrice: ev.p };
  if (ev.i !== undefined) out.indexPrice = ev.i;
  if (ev.r !== undefined && ev.r !== '') out.fundingRate = ev.r;
  if (ev.T !== undefined && ev.T > 0) out.nextFundingTime = ev.T;
  return out;
}

/**
 * Map one `<symbol>@markPrice` frame to {@link MarkPriceUpdated} (`ts` = event time `E`).
 *
 * @param raw JSON text or value; combined-stream or bare form
 * @returns mark price `p`, index price `i`, funding rate `r` (absent when ""), next funding time `T`
 * @throws DataError naming the stream and field on a malformed frame
 */
export function mapMarkPriceFrame(raw: unknown): MarkPriceUpdated {
  const { stream, data } = unwrap(raw, 'markPriceUpdate');
  return markPriceEvent(parseWith(BinanceMarkPriceEventSchema, data, stream));
}

/**
 * Map a `<symbol>@markPrice` frame or a `!markPrice@arr` frame (an array of events) to a list.
 * @throws DataError naming the stream and the element's index (`!markPrice@arr 1.p`)
 */
export function mapMarkPriceFrames(raw: unknown): MarkPriceUpdated[] {
  const { stream, data } = unwrap(raw, 'markPriceUpdate');
  if (Array.isArray(data)) return parseWith(z.array(BinanceMarkPriceEventSchema), data, stream).map(markPriceEvent);
  return [markPriceEvent(parseWith(BinanceMarkPriceEventSchema, data, stream))];
}

const OTU = 'ORDER_TRADE_UPDATE';

/** The quote (margin) asset a USDⓈ-M symbol ends with, for fills Binance sent without `N`. */
function quoteAssetOf(symbol: string): string {
  return /(USDT|USDC|FDUSD|BUSD)$/.exec(symbol)?.[1] ?? '';
}

/**
 * Map an ORDER_TRADE_UPDATE frame to order events (`ts` = event time `E`):
 * - `x` NEW → OrderAccepted
 * - `x` TRADE with `X` PARTIALLY_FILLED / FILLED → OrderFilled: price `L`, quantity `l`,
 *   commission `n` in `N`, realized PnL `rp`, maker `m`, trade id `t`, time `T`; cumulative `z`.
 *   Binance omits `n`/`N` when there is no commission: commission "0" in the symbol's quote asset.
 * - `x` CANCELED → OrderCanceled; `x` EXPIRED → OrderExpired (reason names `er` when sent);
 *   `x` REJECTED → OrderRejected (code null)
 * - `x` AMENDMENT and CALCULATED → [] (no perpbot event; positions come from ACCOUNT_UPDATE)
 *
 * @param raw JSON text (parsed losslessly: `i` beyond 2^53 stays exact) or a parsed value
 * @throws DataError naming the field, e.g. `ORDER_TRADE_UPDATE o.L: "abc" is not a decimal number`;
 *   also for TRADE with a status other than PARTIALLY_FILLED / FILLED
 */
export function mapOrderTradeUpdate(raw: unknown): OrderEvent[] {
  const { data } = unwrap(raw, OTU);
  const ev = parseWith(BinanceOrderTradeUpdateSchema, data, OTU);
  const o = ev.o;
  const base = { ts: ev.E, clientOrderId: o.c, orderId: o.i, symbol: o.s };
  switch (o.x) {
    case 'NEW':
      return [{ type: 'OrderAccepted', ...base }];
    case 'TRADE': {
      if (o.X !== 'PARTIALLY_FILLED' && o.X !== 'FILLED') {
        throw new DataError(`${OTU} o.X: "${o.X}" is not PARTIALLY_FILLED or FILLED for a TRADE`, { stream: OTU, field: 'o.X' });
      }
      // Binance: `n` and `N` "will not push if no commission".
      const commission = o.n ?? '0';
      const commissionAsset = o.N !== undefined && o.N !== '' ? o.N : quoteAssetOf(o.s);
      const fill: Fill = {
        tradeId: o.t,
        orderId: o.i,
        clientOrderId: o.c,
        symbol: o.s,
        side: o.S,
        price: o.L,
        quantity: o.l,
        commission,
        commissionAsset,
        realizedPnl: o.rp,
        maker: o.m,
        time: o.T,
      };
      return [{ type: 'OrderFilled', ts: ev.E, fill, cumulativeQuantity: o.z, status: o.X }];
    }
    case 'CANCELED':
      return [{ type: 'OrderCanceled', ...base, reason: 'canceled' }];
    case 'EXPIRED': {
      const why = o.er !== undefined && o.er !== '' && o.er !== '0' ? ` (expiry reason ${o.er})` : '';
      return [{ type: 'OrderExpired', ...base, reason: `expired: ${o.o} ${o.f}${o.R ? ' reduce-only' : ''}${why}` }];
    }
    case 'REJECTED':
      return [{ type: 'OrderRejected', ts: ev.E, clientOrderId: o.c, symbol: o.s, code: null, reason: 'rejected by the venue' }];
    case 'AMENDMENT':
    case 'CALCULATED':
      return [];
  }
}

/**
 * What an ORDER_TRADE_UPDATE frame says of its order itself (`o.S` side, `o.o` type, `o.q`
 * original quantity, `o.p` price, `o.R` reduce-only), for orders perpbot did not place.
 * @throws DataError naming the field when the frame is malformed
 */
export function mapExternalOrderInfo(raw: unknown): ExternalOrderInfo {
  const { data } = unwrap(raw, OTU);
  const o = parseWith(BinanceOrderTradeUpdateSchema, data, OTU).o;
  return { side: o.S, type: o.o, quantity: o.q, price: o.p, reduceOnly: o.R };
}

/** Extra facts a position needs that Binance does not put in the frame or response. */
export interface PositionExtras {
  /** Fees paid on the symbol, quote asset; Binance does not report them here. Default "0". */
  feesOf?: (symbol: string) => DecimalString;
  /** Realized PnL on the symbol (positionRisk has none). Default "0". */
  realizedPnlOf?: (symbol: string) => DecimalString;
}

/**
 * Map an ACCOUNT_UPDATE frame to one {@link PositionChanged} per position in `a.P`
 * (`ts` = event time `E`, `updatedAt` = transaction time `T`): quantity `pa` (signed),
 * entry price `ep`, realized PnL `cr` (pre-fee, accumulated). Balances (`a.B`) are not mapped.
 *
 * perpbot trades in one-way mode: every position must have `ps` BOTH.
 * @param extras `feesOf` supplies `Position.fees` (ACCOUNT_UPDATE carries none; default "0")
 * @throws DataError naming the field, also `ACCOUNT_UPDATE a.P.0.ps: "LONG" …` for hedge mode
 */
export function mapAccountUpdate(raw: unknown, extras: PositionExtras = {}): PositionChanged[] {
  const stream = 'ACCOUNT_UPDATE';
  const { data } = unwrap(raw, stream);
  const ev = parseWith(BinanceAccountUpdateSchema, data, stream);
  return ev.a.P.map((p, idx) => {
    if (p.ps !== 'BOTH') {
      throw new DataError(`${stream} a.P.${idx}.ps: "${p.ps}" is not BOTH (perpbot needs one-way position mode)`, {
        stream,
        field: `a.P.${idx}.ps`,
      });
    }
    return {
      type: 'PositionChanged' as const,
      ts: ev.E,
      position: {
        symbol: p.s,
        quantity: p.pa,
        entryPrice: p.ep,
        realizedPnl: p.cr,
        fees: extras.feesOf?.(p.s) ?? '0',
        updatedAt: ev.T,
      },
    };
  });
}

/**
 * What a user-data frame is, mapped: order events, position changes, the listen key's expiry
 * (the connector must renew the stream and resynchronise over REST), or an event perpbot ignores
 * (ALGO_UPDATE, MARGIN_CALL, ACCOUNT_CONFIG_UPDATE, TRADE_LITE, …).
 */
export type UserDataMessage =
  | { kind: 'order'; events: OrderEvent[] }
  | { kind: 'account'; positions: PositionChanged[] }
  | { kind: 'listenKeyExpired'; ts: number }
  | { kind: 'ignored'; event: string };

/**
 * Route one user-data frame by its `e` to the mapper above.
 * @throws DataError when the frame has no `e`, or the routed mapper refuses it
 */
export function mapUserDataFrame(raw: unknown, extras: PositionExtras = {}): UserDataMessage {
  const { stream, data } = unwrap(raw, 'userData');
  const e = data !== null && typeof data === 'object' ? (data as Record<string, unknown>).e : undefined;
  switch (e) {
    case 'ORDER_TRADE_UPDATE':
      return { kind: 'order', events: mapOrderTradeUpdate(data) };
    case 'ACCOUNT_UPDATE':
      return { kind: 'account', positions: mapAccountUpdate(data, extras) };
    case 'listenKeyExpired':
      return { kind: 'listenKeyExpired', ts: mapListenKeyExpired(data) };
    default:
      if (typeof e !== 'string' || e === '') {
        throw new DataError(`${stream} e: ${e === undefined ? 'missing, expected' : `${show(e, 'e')} is not`} an event type`, { stream, field: 'e' });
      }
      return { kind: 'ignored', event: e };
  }
}

/**
 * Read a listenKeyExpired frame.
 * @returns its event time `E`, UTC epoch ms (Binance has sent it as text in some versions)
 * @throws DataError naming the field; never echoes the listen key
 */
export function mapListenKeyExpired(raw: unknown): number {
  const stream = 'listenKeyExpired';
  const { data } = unwrap(raw, stream);
  return parseWith(BinanceListenKeyExpiredSchema, data, stream).E;
}

// ---------------------------------------------------------------------------------------------
// REST responses

/**
 * An order as POST / GET / DELETE /fapi/v1/order and GET /fapi/v1/openOrders return it.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order
 */
export const BinanceRestOrderSchema = z.object({
  orderId: int64,
  clientOrderId: anyText,
  symbol: text,
  status: oneOf(BINANCE_ORDER_STATUSES),
  side,
  type: text,
  origType: text.optional(),
  timeInForce: text,
  price: dec,
  avgPrice: dec,
  origQty: dec,
  executedQty: dec,
  cumQuote: dec.optional(),
  reduceOnly: bool,
  closePosition: bool.optional(),
  positionSide: text.optional(),
  stopPrice: dec.optional(),
  time: ms.optional(),
  updateTime: ms,
});
/** Wire type of a REST order. */
export type BinanceRestOrder = z.output<typeof BinanceRestOrderSchema>;

/** An order as the venue reports it over REST, in perpbot's terms. */
export interface VenueOrder {
  /** int64 order id as text. */
  orderId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  /** Binance order type ("LIMIT", "MARKET", "STOP_MARKET", …). */
  type: string;
  /** Order status; Binance's EXPIRED_IN_MATCH (self-trade prevention) → EXPIRED, NEW_INSURANCE / NEW_ADL → NEW. */
  status: OrderStatus;
  /** Binance's own status text. */
  venueStatus: string;
  timeInForce: string;
  /** Limit price, quote asset ("0" for MARKET). */
  price: DecimalString;
  /** Average fill price, quote asset ("0.00" before any fill). */
  avgPrice: DecimalString;
  /** Ordered quantity, base asset. */
  quantity: DecimalString;
  /** Filled quantity, base asset. */
  executedQuantity: DecimalString;
  /** Filled notional, quote asset, when the response has it. */
  cumQuote?: DecimalString;
  reduceOnly: boolean;
  /** Creation time (GET only), UTC epoch ms. */
  createdAt?: number;
  /** Last update, UTC epoch ms. */
  updatedAt: number;
}

function orderStatus(s: (typeof BINANCE_ORDER_STATUSES)[number]): OrderStatus {
  if (s === 'EXPIRED_IN_MATCH') return 'EXPIRED';
  if (s === 'NEW_INSURANCE' || s === 'NEW_ADL') return 'NEW';
  return s;
}

function venueOrder(o: BinanceRestOrder): VenueOrder {
  const out: VenueOrder = {
    orderId: o.orderId,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    status: orderStatus(o.status),
    venueStatus: o.status,
    timeInForce: o.timeInForce,
    price: o.price,
    avgPrice: o.avgPrice,
    quantity: o.origQty,
    executedQuantity: o.executedQty,
    reduceOnly: o.reduceOnly,
    updatedAt: o.updateTime,
  };
  if (o.cumQuote !== undefined) out.cumQuote = o.cumQuote;
  if (o.time !== undefined) out.createdAt = o.time;
  return out;
}

/**
 * Map a POST / GET / DELETE /fapi/v1/order response (or PUT, same shape) to a {@link VenueOrder}.
 * @param raw the response body text (lossless ids) or its parsed value
 * @throws DataError `REST /fapi/v1/order <field>: …`
 */
export function mapRestOrder(raw: unknown): VenueOrder {
  return venueOrder(parseWith(BinanceRestOrderSchema, raw, 'REST /fapi/v1/order'));
}

/**
 * Map a GET /fapi/v1/openOrders response (an array of orders).
 * @throws DataError `REST /fapi/v1/openOrders <index>.<field>: …`
 */
export function mapRestOpenOrders(raw: unknown): VenueOrder[] {
  return parseWith(z.array(BinanceRestOrderSchema), raw, 'REST /fapi/v1/openOrders').map(venueOrder);
}

/**
 * One row of GET /fapi/v1/userTrades.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List
 */
export const BinanceUserTradeSchema = z.object({
  symbol: text,
  id: int64,
  orderId: int64,
  side,
  price: dec,
  qty: dec,
  realizedPnl: dec,
  quoteQty: dec.optional(),
  commission: dec,
  commissionAsset: text,
  time: ms,
  maker: bool,
  buyer: bool.optional(),
  positionSide: text.optional(),
});
/** Wire type of a user trade. */
export type BinanceUserTrade = z.output<typeof BinanceUserTradeSchema>;

/**
 * Map one GET /fapi/v1/userTrades row to a {@link Fill}.
 * @param clientOrderIdOf the response has no client order id: the caller supplies it from the
 *   order id (its own records or GET /fapi/v1/order); unknown → ""
 * @throws DataError `REST /fapi/v1/userTrades <field>: …`
 */
export function mapUserTrade(raw: unknown, clientOrderIdOf: (orderId: string) => string | undefined = () => undefined): Fill {
  const t = parseWith(BinanceUserTradeSchema, raw, 'REST /fapi/v1/userTrades');
  return userTradeFill(t, clientOrderIdOf);
}

function userTradeFill(t: BinanceUserTrade, clientOrderIdOf: (orderId: string) => string | undefined): Fill {
  return {
    tradeId: t.id,
    orderId: t.orderId,
    clientOrderId: clientOrderIdOf(t.orderId) ?? '',
    symbol: t.symbol,
    side: t.side,
    price: t.price,
    quantity: t.qty,
    commission: t.commission,
    commissionAsset: t.commissionAsset,
    realizedPnl: t.realizedPnl,
    maker: t.maker,
    time: t.time,
  };
}

/** Map a whole GET /fapi/v1/userTrades response (an array). See {@link mapUserTrade}. */
export function mapUserTrades(raw: unknown, clientOrderIdOf: (orderId: string) => string | undefined = () => undefined): Fill[] {
  return parseWith(z.array(BinanceUserTradeSchema), raw, 'REST /fapi/v1/userTrades').map((t) => userTradeFill(t, clientOrderIdOf));
}

/**
 * One row of GET /fapi/v3/positionRisk (v2 rows, which add leverage etc., parse too).
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3
 */
export const BinancePositionRiskSchema = z.object({
  symbol: text,
  positionSide: oneOf(['BOTH', 'LONG', 'SHORT'] as const),
  positionAmt: dec,
  entryPrice: dec,
  breakEvenPrice: dec.optional(),
  markPrice: dec.optional(),
  unRealizedProfit: dec.optional(),
  liquidationPrice: dec.optional(),
  notional: dec.optional(),
  updateTime: ms,
});
/** Wire type of a positionRisk row. */
export type BinancePositionRisk = z.output<typeof BinancePositionRiskSchema>;

function positionOf(p: BinancePositionRisk, idx: number | null, stream: string, extras: PositionExtras): Position {
  if (p.positionSide !== 'BOTH') {
    const f = idx === null ? 'positionSide' : `${idx}.positionSide`;
    throw new DataError(`${stream} ${f}: "${p.positionSide}" is not BOTH (perpbot needs one-way position mode)`, { stream, field: f });
  }
  return {
    symbol: p.symbol,
    quantity: p.positionAmt,
    entryPrice: p.entryPrice,
    realizedPnl: extras.realizedPnlOf?.(p.symbol) ?? '0',
    fees: extras.feesOf?.(p.symbol) ?? '0',
    updatedAt: p.updateTime,
  };
}

/**
 * Map one GET /fapi/v3/positionRisk row to a {@link Position} (quantity `positionAmt` signed,
 * `entryPrice`, `updatedAt` = `updateTime`). Realized PnL and fees are not in the response:
 * `extras` supplies them (default "0").
 * @throws DataError `REST /fapi/v3/positionRisk <field>: …`, also when `positionSide` is not BOTH
 */
export function mapPositionRisk(raw: unknown, extras: PositionExtras = {}): Position {
  const stream = 'REST /fapi/v3/positionRisk';
  return positionOf(parseWith(BinancePositionRiskSchema, raw, stream), null, stream, extras);
}

/** Map a whole GET /fapi/v3/positionRisk response (an array). See {@link mapPositionRisk}. */
export function mapPositionRisks(raw: unknown, extras: PositionExtras = {}): Position[] {
  const stream = 'REST /fapi/v3/positionRisk';
  return parseWith(z.array(BinancePositionRiskSchema), raw, stream).map((p, i) => positionOf(p, i, stream, extras));
}

/**
 * GET /fapi/v3/account (v2 responses parse too).
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3
 */
export const BinanceAccountSchema = z.object({
  totalWalletBalance: dec,
  totalUnrealizedProfit: dec,
  totalMarginBalance: dec,
  totalInitialMargin: dec,
  totalMaintMargin: dec,
  availableBalance: dec,
  maxWithdrawAmount: dec,
  assets: z.array(
    z.object({
      asset: text,
      walletBalance: dec,
      unrealizedProfit: dec,
      marginBalance: dec,
      availableBalance: dec,
      maxWithdrawAmount: dec,
      updateTime: ms,
    }),
  ),
  positions: z.array(
    z.object({
      symbol: text,
      positionSide: text,
      positionAmt: dec,
      unrealizedProfit: dec,
      updateTime: ms,
    }),
  ),
});
/** Wire type of the account response. */
export type BinanceAccount = z.output<typeof BinanceAccountSchema>;

/** One asset's balance, quote asset amounts as decimal text. */
export interface AssetBalance {
  asset: string;
  walletBalance: DecimalString;
  unrealizedPnl: DecimalString;
  /** Wallet balance + unrealized PnL (account) or cross wallet balance (balance endpoint). */
  marginBalance: DecimalString;
  availableBalance: DecimalString;
  maxWithdrawAmount: DecimalString;
  updatedAt: number;
}

/** The account totals perpbot reads (USDⓈ-M, all in USDT-equivalent decimal text). */
export interface AccountSummary {
  walletBalance: DecimalString;
  unrealizedPnl: DecimalString;
  marginBalance: DecimalString;
  initialMargin: DecimalString;
  maintenanceMargin: DecimalString;
  availableBalance: DecimalString;
  maxWithdrawAmount: DecimalString;
  assets: AssetBalance[];
  /** Non-zero positions only: symbol → signed quantity and unrealized PnL. */
  openPositions: { symbol: string; quantity: DecimalString; unrealizedPnl: DecimalString; updatedAt: number }[];
}

/**
 * Map GET /fapi/v3/account to an {@link AccountSummary} (positions with `positionAmt` 0 dropped).
 * @throws DataError `REST /fapi/v3/account <field>: …`
 */
export function mapAccount(raw: unknown): AccountSummary {
  const a = parseWith(BinanceAccountSchema, raw, 'REST /fapi/v3/account');
  return {
    walletBalance: a.totalWalletBalance,
    unrealizedPnl: a.totalUnrealizedProfit,
    marginBalance: a.totalMarginBalance,
    initialMargin: a.totalInitialMargin,
    maintenanceMargin: a.totalMaintMargin,
    availableBalance: a.availableBalance,
    maxWithdrawAmount: a.maxWithdrawAmount,
    assets: a.assets.map((x) => ({
      asset: x.asset,
      walletBalance: x.walletBalance,
      unrealizedPnl: x.unrealizedProfit,
      marginBalance: x.marginBalance,
      availableBalance: x.availableBalance,
      maxWithdrawAmount: x.maxWithdrawAmount,
      updatedAt: x.updateTime,
    })),
    openPositions: a.positions
      .filter((p) => !/^-?0*\.?0*$/.test(p.positionAmt))
      .map((p) => ({ symbol: p.symbol, quantity: p.positionAmt, unrealizedPnl: p.unrealizedProfit, updatedAt: p.updateTime })),
  };
}

/**
 * One row of GET /fapi/v3/balance.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Futures-Account-Balance-V3
 */
export const BinanceBalanceSchema = z.object({
  asset: text,
  balance: dec,
  crossWalletBalance: dec,
  crossUnPnl: dec,
  availableBalance: dec,
  maxWithdrawAmount: dec,
  updateTime: ms,
});
/** Wire type of a balance row. */
export type BinanceBalance = z.output<typeof BinanceBalanceSchema>;

/**
 * Map GET /fapi/v3/balance (an array) to {@link AssetBalance}s (`marginBalance` = crossWalletBalance).
 * @throws DataError `REST /fapi/v3/balance <index>.<field>: …`
 */
export function mapBalances(raw: unknown): AssetBalance[] {
  return parseWith(z.array(BinanceBalanceSchema), raw, 'REST /fapi/v3/balance').map((b) => ({
    asset: b.asset,
    walletBalance: b.balance,
    unrealizedPnl: b.crossUnPnl,
    marginBalance: b.crossWalletBalance,
    availableBalance: b.availableBalance,
    maxWithdrawAmount: b.maxWithdrawAmount,
    updatedAt: b.updateTime,
  }));
}

/**
 * One row of GET /fapi/v1/klines: `[openTime, open, high, low, close, volume, closeTime,
 * quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]`.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
 */
export const BinanceRestKlineRowSchema = z.tuple([ms, dec, dec, dec, dec, dec, ms, dec, count, dec, dec], z.unknown());
/** Wire type of a REST kline row. */
export type BinanceRestKlineRow = z.output<typeof BinanceRestKlineRowSchema>;

const INTERVAL_MS: Record<string, number> = {
  '1m': 60_000,
  '3m': 180_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '2h': 7_200_000,
  '4h': 14_400_000,
  '6h': 21_600_000,
  '8h': 28_800_000,
  '12h': 43_200_000,
  '1d': 86_400_000,
};

/** Options of {@link mapRestKline}. */
export interface RestKlineOptions {
  /** Interval requested, Binance spelling; default "1m". Checked against closeTime − openTime. */
  interval?: string;
  /**
   * Exchange time now, UTC epoch ms. The last row of a klines response is the kline still
   * forming: with `now`, a row whose closeTime ≥ now is `closed: false`. Without it, every row
   * counts as closed (only right when the query ended in the past).
   */
  now?: number;
}

function restKline(r: BinanceRestKlineRow, symbol: string, opts: RestKlineOptions, stream: string, idx: number | null): Kline {
  const interval = opts.interval ?? '1m';
  const len = INTERVAL_MS[interval];
  const at = idx === null ? '' : `${idx}.`;
  if (len !== undefined && r[6] - r[0] + 1 !== len) {
    throw new DataError(`${stream} ${at}6: closeTime ${r[6]} is not openTime ${r[0]} + ${interval} − 1`, { stream, field: `${at}6` });
  }
  return {
    symbol,
    interval,
    openTime: r[0],
    closeTime: r[6],
    open: r[1],
    high: r[2],
    low: r[3],
    close: r[4],
    volume: r[5],
    quoteVolume: r[7],
    trades: r[8],
    closed: opts.now === undefined ? true : r[6] < opts.now,
  };
}

/**
 * Map one GET /fapi/v1/klines row to a {@link Kline} (the row has no symbol: the caller's).
 * @throws DataError `REST /fapi/v1/klines <index>: …` (index 0 = open time … 8 = trades)
 */
export function mapRestKline(row: unknown, symbol: string, opts: RestKlineOptions = {}): Kline {
  const stream = 'REST /fapi/v1/klines';
  return restKline(parseWith(BinanceRestKlineRowSchema, row, stream), symbol, opts, stream, null);
}

/** Map a whole GET /fapi/v1/klines response (an array of rows). See {@link mapRestKline}. */
export function mapRestKlines(raw: unknown, symbol: string, opts: RestKlineOptions = {}): Kline[] {
  const stream = 'REST /fapi/v1/klines';
  return parseWith(z.array(BinanceRestKlineRowSchema), raw, stream).map((r, i) => restKline(r, symbol, opts, stream, i));
}

/**
 * GET /fapi/v1/premiumIndex (one symbol's object; without `symbol` the endpoint returns an array).
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price
 */
export const BinancePremiumIndexSchema = z.object({
  symbol: text,
  markPrice: dec,
  indexPrice: dec.optional(),
  estimatedSettlePrice: decOrEmpty.optional(),
  lastFundingRate: decOrEmpty.optional(),
  interestRate: decOrEmpty.optional(),
  nextFundingTime: ms.optional(),
  time: ms,
});
/** Wire type of premiumIndex. */
export type BinancePremiumIndex = z.output<typeof BinancePremiumIndexSchema>;

function premium(p: BinancePremiumIndex): MarkPriceUpdated {
  const out: MarkPriceUpdated = { type: 'MarkPriceUpdated', ts: p.time, symbol: p.symbol, markPrice: p.markPrice };
  if (p.indexPrice !== undefined) out.indexPrice = p.indexPrice;
  if (p.lastFundingRate !== undefined && p.lastFundingRate !== '') out.fundingRate = p.lastFundingRate;
  if (p.nextFundingTime !== undefined && p.nextFundingTime > 0) out.nextFundingTime = p.nextFundingTime;
  return out;
}

/**
 * Map GET /fapi/v1/premiumIndex to {@link MarkPriceUpdated}s (`ts` = `time`); accepts the
 * one-symbol object or the all-symbols array.
 * @throws DataError `REST /fapi/v1/premiumIndex <field>: …`
 */
export function mapPremiumIndex(raw: unknown): MarkPriceUpdated[] {
  const stream = 'REST /fapi/v1/premiumIndex';
  const v = toValue(raw, stream);
  if (Array.isArray(v)) return parseWith(z.array(BinancePremiumIndexSchema), v, stream).map(premium);
  return [premium(parseWith(BinancePremiumIndexSchema, v, stream))];
}

/**
 * GET /fapi/v1/time: `{"serverTime": <ms>}`.
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time
 */
export const BinanceServerTimeSchema = z.object({ serverTime: ms });

/**
 * Read GET /fapi/v1/time.
 * @returns the server time, UTC epoch ms
 * @throws DataError `REST /fapi/v1/time serverTime: …`
 */
export function mapServerTime(raw: unknown): number {
  return parseWith(BinanceServerTimeSchema, raw, 'REST /fapi/v1/time').serverTime;
}
