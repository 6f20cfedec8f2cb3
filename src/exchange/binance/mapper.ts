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
 * Files: ./wire-fields.ts (field schemas, errors), this file (websocket frames), ./rest-mapper.ts
 * (REST responses); everything is exported from here.
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
import type { ExternalOrderInfo, Fill, Kline, MarkPriceUpdated, OrderEvent, PositionChanged } from '../../core/types.ts';
import { BINANCE_ORDER_STATUSES, anyText, bool, count, dec, decOrEmpty, describeIssue, field, int64, isDecimalOrEmpty, isEpochMs, lit, ms, oneOf, parseWith, show, side, text, toValue, type PositionExtras } from './wire-fields.ts';

export * from './wire-fields.ts';
export * from './rest-mapper.ts';

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

/**
 * The event payload of a frame: the `data` of a combined-stream frame (and its `stream` name), or
 * the frame itself under `defaultStream`.
 * @throws DataError when the frame is not JSON or a combined frame is malformed
 */
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

/** The optional fields of a mark price event, each with its field's predicate. */
const MARK_PRICE_OPTIONAL = [['i', isDecimalString], ['P', isDecimalOrEmpty], ['r', isDecimalOrEmpty], ['T', isEpochMs]] as const;

/**
 * {@link BinanceMarkPriceEventSchema}'s checks written out with the predicates of its fields, for
 * the stream's ~1 frame per symbol per second: the event as zod would return it, or undefined
 * when any field fails (zod then names it). Tested to agree with the schema on every field's good
 * and bad values.
 */
function wellFormedMarkPriceEvent(v: unknown): BinanceMarkPriceEvent | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o.e !== 'markPriceUpdate' || !isEpochMs(o.E) || typeof o.s !== 'string' || o.s === '' || !isDecimalString(o.p)) return undefined;
  if (MARK_PRICE_OPTIONAL.some(([k, valid]) => o[k] !== undefined && !valid(o[k]))) return undefined;
  const ev: BinanceMarkPriceEvent = { e: 'markPriceUpdate', E: o.E, s: o.s, p: o.p };
  for (const [k] of MARK_PRICE_OPTIONAL) if (o[k] !== undefined) (ev as Record<string, unknown>)[k] = o[k];
  return ev;
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
  return markPriceEvent(wellFormedMarkPriceEvent(data) ?? parseWith(BinanceMarkPriceEventSchema, data, stream));
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
