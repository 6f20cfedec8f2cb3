/**
 * Binance USDⓈ-M REST responses → perpbot's types: orders, user trades, positions, account and
 * balances, klines, premium index (mark price). Rules and sources: ./mapper.ts.
 */
import { z } from 'zod';
import { DataError } from '../../core/errors.ts';
import type { DecimalString, Fill, Kline, MarkPriceUpdated, OrderStatus, Position, Side } from '../../core/types.ts';
import { BINANCE_ORDER_STATUSES, anyText, bool, count, dec, decOrEmpty, int64, ms, oneOf, parseWith, side, text, toValue, type PositionExtras } from './wire-fields.ts';

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
