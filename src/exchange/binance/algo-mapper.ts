/**
 * Binance's Algo Order API (conditional orders: perpbot's protective STOP_MARKET) → perpbot's
 * types. Since 2025-12-09 Binance USDⓈ-M takes conditional orders only through
 * POST /fapi/v1/algoOrder (`algoType=CONDITIONAL`); their life is reported by the ALGO_UPDATE
 * user-data event, and once triggered the MARKET order they become is reported like any order
 * (ORDER_TRADE_UPDATE, `st` "ALGO_CONDITION", `si` the algo id, `c` the algo's `clientAlgoId`),
 * which {@link mapOrderTradeUpdate} already maps: its fills carry the stop's client order id.
 *
 * Sources:
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order
 * .../trade/rest-api/Cancel-Algo-Order, .../Query-Algo-Order, .../Current-All-Algo-Open-Orders,
 * .../user-data-streams/Event-Algo-Order-Update; the recorded frames in ./fixtures.
 */
import { z } from 'zod';
import type { OrderEvent, OrderStatus } from '../../core/types.ts';
import { anyText, bool, dec, int64, lit, ms, oneOf, parseWith, side, text, unwrap, type VenueOrder } from './mapper.ts';

/** Algo order statuses (ALGO_UPDATE `X`, REST `algoStatus`). */
export const ALGO_STATUSES = ['NEW', 'CANCELED', 'TRIGGERING', 'TRIGGERED', 'FINISHED', 'REJECTED', 'EXPIRED'] as const;
/** An algo order status. */
export type AlgoStatus = (typeof ALGO_STATUSES)[number];

/**
 * ALGO_UPDATE user-data event. Fields read: `caid` client algo id, `aid` algo id (int64), `o`
 * order type, `s` symbol, `S` side, `q` quantity, `X` algo status, `ai` the triggered order's id
 * ("" before the trigger), `tp` trigger price, `wt` working type, `cp` closePosition, `R`
 * reduce-only, `tt` trigger time (0 before).
 */
export const BinanceAlgoUpdateSchema = z.object({
  e: lit('ALGO_UPDATE'),
  E: ms,
  T: ms,
  o: z.object({
    caid: anyText,
    aid: int64,
    at: text,
    o: text,
    s: text,
    S: side,
    q: dec,
    X: oneOf(ALGO_STATUSES),
    ai: anyText.optional(),
    tp: dec,
    wt: text.optional(),
    cp: bool,
    R: bool.optional(),
    tt: z.unknown().optional(),
  }),
});
/** Wire type of ALGO_UPDATE. */
export type BinanceAlgoUpdate = z.output<typeof BinanceAlgoUpdateSchema>;

/**
 * Map an ALGO_UPDATE frame to perpbot's order events, keyed by the algo's `clientAlgoId` (the
 * stop's client order id) with the algo id as order id:
 * NEW → `OrderAccepted`; CANCELED → `OrderCanceled`; EXPIRED → `OrderExpired`; REJECTED →
 * `OrderRejected` (code null); TRIGGERING / TRIGGERED / FINISHED → nothing (the triggered MARKET
 * order's ORDER_TRADE_UPDATEs carry its fill, or its expiry, under the same client order id).
 * @param raw the frame text (lossless ids) or its parsed value, plain or combined-stream
 * @throws DataError `ALGO_UPDATE <field>: …` naming the malformed field
 */
export function mapAlgoUpdate(raw: unknown): OrderEvent[] {
  const { data } = unwrap(raw, 'ALGO_UPDATE');
  const ev = parseWith(BinanceAlgoUpdateSchema, data, 'ALGO_UPDATE');
  const o = ev.o;
  const base = { ts: ev.E, clientOrderId: o.caid, orderId: o.aid, symbol: o.s };
  switch (o.X) {
    case 'NEW':
      return [{ type: 'OrderAccepted', ...base }];
    case 'CANCELED':
      return [{ type: 'OrderCanceled', ...base, reason: 'canceled' }];
    case 'EXPIRED':
      return [{ type: 'OrderExpired', ...base, reason: `expired: ${o.o} algo order` }];
    case 'REJECTED':
      return [{ type: 'OrderRejected', ts: ev.E, clientOrderId: o.caid, symbol: o.s, code: null, reason: 'algo order rejected by the venue' }];
    case 'TRIGGERING':
    case 'TRIGGERED':
    case 'FINISHED':
      return [];
  }
}

/**
 * An algo order over REST: the answer of POST / GET / DELETE-less queries of /fapi/v1/algoOrder
 * and each element of GET /fapi/v1/openAlgoOrders. `actualOrderId` (GET only) is the triggered
 * order's id ("" before).
 */
export const BinanceRestAlgoOrderSchema = z.object({
  algoId: int64,
  clientAlgoId: anyText,
  algoType: text,
  orderType: text,
  symbol: text,
  side,
  quantity: dec,
  algoStatus: oneOf(ALGO_STATUSES),
  triggerPrice: dec.optional(),
  closePosition: bool.optional(),
  reduceOnly: bool.optional(),
  workingType: text.optional(),
  createTime: ms.optional(),
  updateTime: ms.optional(),
  actualOrderId: anyText.optional(),
});
/** Wire type of a REST algo order. */
export type BinanceRestAlgoOrder = z.output<typeof BinanceRestAlgoOrderSchema>;

/** An algo order in perpbot's terms: a {@link VenueOrder} plus what only algo orders have. */
export interface VenueAlgoOrder extends VenueOrder {
  /** Binance's algo status (NEW, CANCELED, TRIGGERING, TRIGGERED, FINISHED, REJECTED, EXPIRED). */
  algoStatus: AlgoStatus;
  /** Trigger price, quote asset. */
  stopPrice: string;
  /** The triggered order's id (int64 text), or null before the trigger. */
  actualOrderId: string | null;
}

/**
 * The algo status as an order status: NEW → NEW; CANCELED, EXPIRED, REJECTED as such; TRIGGERING
 * and TRIGGERED → NEW (the conditional part is done, its order is on its way);
 * FINISHED → FILLED only as a placeholder: the triggered order's own status is the truth, ask it
 * (GET /fapi/v1/order by the algo's client id).
 */
export function algoOrderStatus(s: AlgoStatus): OrderStatus {
  if (s === 'FINISHED') return 'FILLED';
  if (s === 'TRIGGERING' || s === 'TRIGGERED') return 'NEW';
  return s;
}

function venueAlgoOrder(o: BinanceRestAlgoOrder): VenueAlgoOrder {
  const t = o.updateTime ?? o.createTime ?? 0;
  return {
    orderId: o.algoId,
    clientOrderId: o.clientAlgoId,
    symbol: o.symbol,
    side: o.side,
    type: o.orderType,
    status: algoOrderStatus(o.algoStatus),
    venueStatus: o.algoStatus,
    algoStatus: o.algoStatus,
    timeInForce: 'GTC',
    price: '0',
    avgPrice: '0',
    quantity: o.quantity,
    executedQuantity: '0',
    reduceOnly: o.reduceOnly === true || o.closePosition === true,
    updatedAt: t,
    ...(o.createTime !== undefined ? { createdAt: o.createTime } : {}),
    stopPrice: o.triggerPrice ?? '0',
    actualOrderId: o.actualOrderId !== undefined && o.actualOrderId !== '' && o.actualOrderId !== '0' ? o.actualOrderId : null,
  };
}

/**
 * Map the answer of POST or GET /fapi/v1/algoOrder.
 * @throws DataError `REST /fapi/v1/algoOrder <field>: …`
 */
export function mapRestAlgoOrder(raw: unknown): VenueAlgoOrder {
  return venueAlgoOrder(parseWith(BinanceRestAlgoOrderSchema, raw, 'REST /fapi/v1/algoOrder'));
}

/**
 * Map the answer of GET /fapi/v1/openAlgoOrders (an array).
 * @throws DataError `REST /fapi/v1/openAlgoOrders <index>.<field>: …`
 */
export function mapRestOpenAlgoOrders(raw: unknown): VenueAlgoOrder[] {
  return parseWith(z.array(BinanceRestAlgoOrderSchema), raw, 'REST /fapi/v1/openAlgoOrders').map(venueAlgoOrder);
}
