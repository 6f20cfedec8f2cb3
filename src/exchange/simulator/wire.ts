/**
 * Binance USDⓈ-M futures wire formats used by the local exchange simulator ({@link ./server.ts}):
 * JSON text with int64 ids as bare JSON numbers, Binance's error bodies and messages, and the
 * shapes of REST responses and websocket events built from the matching engine's state.
 *
 * Field names and types follow Binance's documentation
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/…) and the real frames in
 * data/ws/ and /work/shared/data/ws/: prices, quantities and money are decimal *strings*; times
 * are epoch-ms JSON numbers; order ids and trade ids are JSON numbers (int64), written digit for
 * digit from the engine's id strings so that no float rounding can happen on our side.
 */
import { Decimal, ZERO, dec, str } from '../../core/decimal.ts';
import type { Kline } from '../../core/types.ts';
import type { EngineOrder } from '../sim/matching-engine.ts';

// ------------------------------------------------------------------ JSON with raw int64 numbers

const RAW_MARK = '\u0001';
const RAW_RE = /"\\u0001(-?\d+)\\u0001"/g;

/**
 * An int64 that must appear in JSON as a bare number (Binance's `orderId`, trade `id`, `t`, `i`),
 * written from its decimal digits so that values above 2^53 keep every digit.
 */
export class RawNumber {
  /** @param digits an integer in base 10 (`"700000000001"`), optionally negative */
  constructor(readonly digits: string) {
    if (!/^-?\d+$/.test(digits)) throw new TypeError(`RawNumber: "${digits}" is not an integer`);
  }
  /** Marker text replaced by the bare digits in {@link toJson}. */
  toJSON(): string {
    return `${RAW_MARK}${this.digits}${RAW_MARK}`;
  }
}

/** Shorthand for `new RawNumber(digits)`. */
export function raw(digits: string): RawNumber {
  return new RawNumber(digits);
}

/**
 * `JSON.stringify` where every {@link RawNumber} is written as a bare JSON number (its digits).
 * A string value that happens to contain U+0001 is escaped by JSON.stringify as `\u0001` text
 * inside a longer string, so it is never mistaken for a marker unless it is exactly a marker.
 */
export function toJson(value: unknown): string {
  const s = JSON.stringify(value);
  return s.includes('\\u0001') ? s.replace(RAW_RE, '$1') : s;
}

// ------------------------------------------------------------------ errors

/**
 * A Binance error answer: HTTP status and the body `{"code":…,"msg":"…"}`.
 * Codes and texts: https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 */
export class BinanceApiError extends Error {
  /**
   * @param status HTTP status (400 for request errors, 401 for key errors, 429/418 for limits…)
   * @param code Binance's negative error code, e.g. -1022
   * @param msg Binance's message text
   */
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code} ${msg}`);
  }
}

/** Binance messages for the codes the simulator answers with (the error-code page's texts). */
export const BINANCE_MSG: Record<number, string> = {
  [-1001]: 'Internal error; unable to process your request. Please try again.',
  [-1003]: 'Too many requests; current limit of IP(127.0.0.1) is %s requests per minute. Please use the websocket for live updates to avoid polling the API.',
  [-1015]: 'Too many new orders; current limit is %s orders per %s.',
  [-1021]: 'Timestamp for this request is outside of the recvWindow.',
  [-1022]: 'Signature for this request is not valid.',
  [-1100]: "Illegal characters found in parameter '%s'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
  [-1102]: "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
  [-1111]: 'Precision is over the maximum defined for this asset.',
  [-1115]: 'Invalid timeInForce.',
  [-1116]: 'Invalid orderType.',
  [-1117]: 'Invalid side.',
  [-1120]: 'Invalid interval.',
  [-1121]: 'Invalid symbol.',
  [-1125]: 'This listenKey does not exist.',
  [-1130]: "Data sent for parameter '%s' is not valid.",
  [-1127]: 'More than 7 days between startTime and endTime.',
  [-1131]: 'recvWindow must be less than 60000',
  [-2011]: 'Unknown order sent.',
  [-2013]: 'Order does not exist.',
  [-2014]: 'API-key format invalid.',
  [-2015]: 'Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1',
  [-2019]: 'Margin is insufficient.',
  [-2022]: 'ReduceOnly Order is rejected.',
  [-4001]: 'Price less than 0.',
  [-4002]: 'Price greater than max price.',
  [-4003]: 'Quantity less than or equal to zero.',
  [-4004]: 'Quantity less than min quantity.',
  [-4005]: 'Quantity greater than max quantity.',
  [-4013]: 'Price less than min price.',
  [-4014]: 'Price not increased by tick size.',
  [-4016]: "Limit price can't be higher than %s.",
  [-4023]: 'Quantity not increased by step size.',
  [-4024]: "Limit price can't be lower than %s.",
  [-4028]: 'Leverage %s is not valid',
  [-4046]: 'No need to change margin type.',
  [-4048]: 'Margin type cannot be changed if there exists position.',
  [-4059]: 'No need to change position side.',
  [-4061]: "Order's position side does not match user's setting.",
  [-4067]: 'Position side cannot be changed if there exists open orders.',
  [-4068]: 'Position side cannot be changed if there exists position.',
  [-4116]: 'ClientOrderId is duplicated.',
  [-4164]: "Order's notional must be no smaller than %s (unless you choose reduce only).",
};

/**
 * A {@link BinanceApiError} with Binance's text for `code`, `%s` placeholders filled in order.
 * @param status HTTP status, 400 unless given
 */
export function apiError(code: number, args: readonly string[] = [], status = 400): BinanceApiError {
  let msg = BINANCE_MSG[code] ?? 'Unknown error.';
  for (const a of args) msg = msg.replace('%s', a);
  return new BinanceApiError(status, code, msg);
}

// ------------------------------------------------------------------ klines

/**
 * The kline as seen `p` sub-steps into its minute out of `steps` (0 ≤ p < steps): a deterministic
 * price path open → first extreme → second extreme → close (low first for an up bar, high first for
 * a down bar, the usual OHLC path convention), one third of the minute each. Volume, quote volume
 * and trade count grow linearly with the elapsed fraction (floored, written with the data's number of decimals).
 * `p = steps` (or more) gives the final kline.
 */
export function partialKline(k: Kline, p: number, steps: number): Kline {
  if (p >= steps) return k;
  const up = dec(k.close).gte(dec(k.open));
  const path = up ? [k.open, k.low, k.high, k.close] : [k.open, k.high, k.low, k.close];
  const seg = Math.min(2, Math.floor((3 * p) / steps));
  const seen = path.slice(0, seg + 1);
  let high = seen[0]!;
  let low = seen[0]!;
  for (const s of seen) {
    if (dec(s).gt(dec(high))) high = s;
    if (dec(s).lt(dec(low))) low = s;
  }
  const frac = new Decimal(p).div(steps);
  // Same number of decimals as the data's text ("1250.50" → "416.83"), as Binance writes fixed decimals.
  const part = (v: string): string => {
    const dot = v.indexOf('.');
    const dp = dot < 0 || /[eE]/.test(v) ? dec(v).decimalPlaces() : v.length - dot - 1;
    return dec(v).times(frac).toFixed(dp, Decimal.ROUND_DOWN);
  };
  const out: Kline = { ...k, close: seen[seg]!, high, low, volume: part(k.volume), closed: false };
  if (k.quoteVolume !== undefined) out.quoteVolume = part(k.quoteVolume);
  if (k.trades !== undefined) out.trades = Math.floor((k.trades * p) / steps);
  return out;
}

/** Quote volume of a kline: the data's when it has one, else `volume × close` (an estimate). */
export function quoteVolumeOf(k: Kline): string {
  return k.quoteVolume ?? str(dec(k.volume).times(dec(k.close)));
}

/**
 * Binance's kline event `{e:"kline",E,s,k:{t,T,s,i,f,L,o,c,h,l,v,n,x,q,V,Q,B}}`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Kline-Candlestick-Streams).
 * `firstTradeId` is synthetic (the data has no trade ids): `f`..`L` span `n` ids, `-1` when n = 0.
 * Taker-buy volumes (`V`, `Q`) are not in the data and are sent as "0".
 */
export function klineEvent(k: Kline, eventTime: number, firstTradeId: number): unknown {
  const n = k.trades ?? 0;
  return {
    e: 'kline',
    E: eventTime,
    s: k.symbol,
    k: {
      t: k.openTime,
      T: k.closeTime,
      s: k.symbol,
      i: '1m',
      f: n > 0 ? firstTradeId : -1,
      L: n > 0 ? firstTradeId + n - 1 : -1,
      o: k.open,
      c: k.close,
      h: k.high,
      l: k.low,
      v: k.volume,
      n,
      x: k.closed,
      q: quoteVolumeOf(k),
      V: '0',
      Q: '0',
      B: '0',
    },
  };
}

/** One row of GET /fapi/v1/klines: `[openTime,"o","h","l","c","v",closeTime,"q",n,"V","Q","0"]`. */
export function klineRow(k: Kline): unknown[] {
  return [k.openTime, k.open, k.high, k.low, k.close, k.volume, k.closeTime, quoteVolumeOf(k), k.trades ?? 0, '0', '0', '0'];
}

// ------------------------------------------------------------------ orders

/** Extra state the simulator keeps per order next to the engine's snapshot. */
export interface OrderExtras {
  /** Σ price × quantity of the order's fills, quote asset. */
  cumQuote: Decimal;
  /** Submit time as sent on the wire (server-clock bounded), epoch ms; default the engine's. */
  time?: number;
  /** Time of the last change as sent on the wire, epoch ms; default the engine's. */
  updateTime?: number;
}

/**
 * The order object of POST/GET/DELETE /fapi/v1/order and GET /fapi/v1/openOrders
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api).
 * `withCumQty` adds `cumQty` (new/cancel responses); `withTime` adds `time` (query responses).
 */
export function orderJson(o: EngineOrder, extras: OrderExtras | undefined, opts: { withCumQty: boolean; withTime: boolean }): Record<string, unknown> {
  const cumQuote = extras?.cumQuote ?? ZERO;
  const out: Record<string, unknown> = {
    orderId: raw(o.orderId),
    symbol: o.symbol,
    status: o.status,
    clientOrderId: o.clientOrderId,
    price: o.price ?? '0',
    avgPrice: o.averagePrice,
    origQty: o.quantity,
    executedQty: o.executedQuantity,
  };
  if (opts.withCumQty) out.cumQty = o.executedQuantity;
  out.cumQuote = str(cumQuote);
  out.timeInForce = o.timeInForce ?? 'GTC';
  out.type = o.type;
  out.reduceOnly = o.reduceOnly;
  out.closePosition = false;
  out.side = o.side;
  out.positionSide = 'BOTH';
  out.stopPrice = '0';
  out.workingType = 'CONTRACT_PRICE';
  out.priceProtect = false;
  out.origType = o.type;
  out.priceMatch = 'NONE';
  out.selfTradePreventionMode = 'EXPIRE_MAKER';
  out.goodTillDate = 0;
  if (opts.withTime) out.time = extras?.time ?? o.submittedAt;
  out.updateTime = extras?.updateTime ?? o.updatedAt;
  return out;
}

/** What changed in an ORDER_TRADE_UPDATE (`x`, and the fill for `TRADE`). */
export interface OrderUpdateExec {
  /** Execution type: NEW, TRADE, CANCELED, EXPIRED. */
  x: 'NEW' | 'TRADE' | 'CANCELED' | 'EXPIRED';
  fill?: { tradeId: string; price: string; quantity: string; commission: string; realizedPnl: string; maker: boolean };
}

/**
 * Binance's ORDER_TRADE_UPDATE event
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update),
 * field set as in the recorded frames of /work/shared/data/ws/order-trade-update-annotated.md:
 * s,c,S,o,f,q,p,ap,sp,x,X,i,l,z,L,n,N,T,t,b,a,m,R,wt,ot,ps,cp,rp,pP,si,ss,V,pm,gtd.
 * `V` is the self-trade-prevention mode and `pm` the price match (the recorder's comments there
 * are wrong, see SOURCES.md). `b`/`a` are the symbol's open bid/ask notionals after the change.
 */
export function orderTradeUpdate(
  o: EngineOrder,
  exec: OrderUpdateExec,
  eventTime: number,
  txTime: number,
  notionals: { bids: string; asks: string },
): unknown {
  const f = exec.fill;
  return {
    e: 'ORDER_TRADE_UPDATE',
    T: txTime,
    E: eventTime,
    o: {
      s: o.symbol,
      c: o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.timeInForce ?? 'GTC',
      q: o.quantity,
      p: o.price ?? '0',
      ap: o.averagePrice,
      sp: '0',
      x: exec.x,
      X: o.status,
      i: raw(o.orderId),
      l: f?.quantity ?? '0',
      z: o.executedQuantity,
      L: f?.price ?? '0',
      n: f?.commission ?? '0',
      N: 'USDT',
      T: txTime,
      t: raw(f?.tradeId ?? '0'),
      b: notionals.bids,
      a: notionals.asks,
      m: f?.maker ?? false,
      R: o.reduceOnly,
      wt: 'CONTRACT_PRICE',
      ot: o.type,
      ps: 'BOTH',
      cp: false,
      rp: f?.realizedPnl ?? '0',
      pP: false,
      si: 0,
      ss: 0,
      V: 'EXPIRE_MAKER',
      pm: 'NONE',
      gtd: 0,
    },
  };
}

/** One position of an ACCOUNT_UPDATE (`a.P[]`). */
export interface AccountUpdatePosition {
  s: string;
  /** Signed position amount, base asset. */
  pa: string;
  /** Entry price. */
  ep: string;
  /** Pre-fee accumulated realized PnL. */
  cr: string;
  /** Unrealized PnL at the mark price. */
  up: string;
  /** "cross" or "isolated". */
  mt: string;
  /** Break-even price. */
  bep: string;
}

/**
 * Binance's ACCOUNT_UPDATE event with reason `m` (ORDER after a fill, FUNDING_FEE with `bc` the
 * funding paid or received and no positions for cross margin)
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Balance-and-Position-Update),
 * as in /work/shared/data/ws/account-update-annotated.md: `a.B[{a,wb,cw,bc}]`,
 * `a.P[{s,pa,ep,cr,up,mt,iw,ps,ma,bep}]`.
 */
export function accountUpdate(eventTime: number, txTime: number, walletBalance: string, positions: AccountUpdatePosition[], reason = 'ORDER', balanceChange = '0'): unknown {
  return {
    e: 'ACCOUNT_UPDATE',
    T: txTime,
    E: eventTime,
    a: {
      B: [{ a: 'USDT', wb: walletBalance, cw: walletBalance, bc: balanceChange }],
      P: positions.map((p) => ({ s: p.s, pa: p.pa, ep: p.ep, cr: p.cr, up: p.up, mt: p.mt, iw: '0', ps: 'BOTH', ma: 'USDT', bep: p.bep })),
      m: reason,
    },
  };
}
