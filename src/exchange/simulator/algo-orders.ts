/**
 * The exchange simulator's Algo Order API: conditional orders the way Binance USDⓈ-M takes them
 * since 2025-12-09 (the old POST /fapi/v1/order answers -4120 for conditional types). Only what
 * perpbot uses is modelled: STOP_MARKET with `closePosition=true` (the protective stop).
 *
 * Routes (signed; weights as Binance documents them for the algo endpoints; a placement counts as
 * an order for the order-rate limits):
 * - `POST /fapi/v1/algoOrder` (weight 0, 1 order): `algoType=CONDITIONAL`, `symbol`, `side`,
 *   `type=STOP_MARKET`, `triggerPrice`, `closePosition=true`, optional `workingType`
 *   (MARK_PRICE | CONTRACT_PRICE: the simulator's mark price is its last price either way),
 *   `clientAlgoId` (^[.A-Z:/a-z0-9_-]{1,36}$, -1100; random when absent), `positionSide` BOTH.
 *   Errors: -1102 a mandatory parameter missing or malformed, -1116 another type, -1117 side,
 *   -1130 a bad `algoType` / `workingType` / `closePosition`, -1106 `reduceOnly` or `quantity`
 *   sent with closePosition, -4061 hedge mode, the PRICE_FILTER codes on `triggerPrice`
 *   (-4014, -4013, -4002), -2021 when the mark price is already at or beyond it, -4130 when a
 *   closePosition stop of that direction is open, -4116 a duplicate open `clientAlgoId`.
 *   Answer: the algo order (FuturesAlgoOrderResponse field set).
 * - `DELETE /fapi/v1/algoOrder` (weight 1) by `algoId` or `clientAlgoId`: -2011 when not open.
 *   Answer `{algoId, clientAlgoId, code: "200", msg: "success"}`.
 * - `GET /fapi/v1/algoOrder` (weight 1) by `algoId` or `clientAlgoId`: the algo order with
 *   `actualOrderId` / `actualPrice` once triggered; -2013 when unknown.
 * - `GET /fapi/v1/openAlgoOrders` (weight 1 with `symbol`, 40 without): the open ones.
 *
 * The stop lives in the one matching engine (see its module doc: armed from the next minute,
 * triggered on the mark price / kline range, filled as a MARKET close at the stop price or the
 * first price beyond), so the simulator and replay trigger and fill alike. On the user stream:
 * ALGO_UPDATE NEW on placement, CANCELED on cancel; on trigger the triggered MARKET order's
 * ORDER_TRADE_UPDATE NEW then TRADE (`st` ALGO_CONDITION, `si` the algo id, `c` the
 * clientAlgoId), ALGO_UPDATE FINISHED (`ai`, `ap`, `aq`), then the server's ACCOUNT_UPDATE; a
 * stop with nothing left to close ends EXPIRED. Simplification: the triggered order's id is the
 * algo id (Binance gives it a new one, reported as `ai` / `actualOrderId`).
 */
import { randomBytes } from 'node:crypto';
import { Decimal, dec, isDecimalString, str } from '../../core/decimal.ts';
import type { DecimalString, Fill, OrderIntent, Side, Symbol } from '../../core/types.ts';
import type { ExchangeRules } from '../../../executor/exchange-info.ts';
import { priceFilterViolation } from '../../../executor/filters.ts';
import type { EngineEvent, EngineOrder, MatchingEngine } from '../sim/matching-engine.ts';
import { BinanceApiError, apiError, orderTradeUpdate } from './wire.ts';

/** What the algo routes borrow from the server. */
export interface AlgoOrdersHost {
  engine: MatchingEngine;
  rules: ExchangeRules;
  /** The `symbol` parameter, validated (-1121). */
  symbolParam(p: URLSearchParams): Symbol;
  /** The current mark price of a symbol, quote asset. */
  markPrice(symbol: Symbol): DecimalString;
  /** The simulator's data clock, UTC epoch ms. */
  dataTime(): number;
  /** A data-clock time as sent on the wire: never ahead of the server clock (see context.ts `wireTime`). Default: unchanged. */
  wireTime?(dataTime: number): number;
  /** Hedge mode on (algo orders then need a position side: refused, -4061). */
  dualSide(): boolean;
  /** Send a user-data event to every live listen key. */
  sendUser(data: unknown): void;
  /** Book a fill in the server's records (userTrades, state); returns the order's cumulative quote. */
  bookFill(f: Fill): Decimal;
  /** Open order notionals for ORDER_TRADE_UPDATE `b` / `a`. */
  openNotionals(symbol: Symbol): { bids: string; asks: string };
}

/** A route as the server registers it. */
export interface AlgoRoute {
  weight: (p: URLSearchParams) => number;
  auth: 'signed';
  order?: boolean;
  handler: (p: URLSearchParams) => unknown;
}

/** The algo-order part of the simulator: its routes and its engine-event hook. */
export interface AlgoOrders {
  routes: Record<string, AlgoRoute>;
  /**
   * Handle an engine event that concerns a stop (its user-data frames and bookkeeping).
   * @returns true when the event was a stop's (the server then skips its own handling of it)
   */
  onEvent(ev: EngineEvent, eventTime: number): boolean;
}

const ID_RE = /^[.A-Z:/a-z0-9_-]{1,36}$/;

/** Binance's -2021 and -4130 (not in the shared message table). */
const ERR = {
  WOULD_TRIGGER: () => new BinanceApiError(400, -2021, 'Order would immediately trigger.'),
  STOP_EXISTS: () => new BinanceApiError(400, -4130, 'An open stop or take profit order with GTE and closePosition in the direction is existing.'),
  PARAM_NOT_REQUIRED: (name: string) => new BinanceApiError(400, -1106, `Parameter '${name}' sent when not required.`),
  BAD_PARAM: (name: string) => new BinanceApiError(400, -1130, `Data sent for parameter '${name}' is not valid.`),
  MANDATORY: (name: string) => new BinanceApiError(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`),
};

/** Create the algo-order routes and hook over the server's engine. */
export function createAlgoOrders(h: AlgoOrdersHost): AlgoOrders {
  /** Trigger time per algo (client id), and the working type asked. */
  const triggeredAt = new Map<string, number>();
  const workingType = new Map<string, string>();

  function algoJson(o: EngineOrder, withActual: boolean): Record<string, unknown> {
    const status = o.status === 'NEW' ? 'NEW' : o.status === 'CANCELED' ? 'CANCELED' : o.status === 'EXPIRED' ? 'EXPIRED' : 'FINISHED';
    const out: Record<string, unknown> = {
      algoId: Number(o.orderId),
      clientAlgoId: o.clientOrderId,
      algoType: 'CONDITIONAL',
      orderType: 'STOP_MARKET',
      symbol: o.symbol,
      side: o.side,
      positionSide: 'BOTH',
      timeInForce: 'GTC',
      quantity: o.quantity,
      algoStatus: status,
      triggerPrice: o.stopPrice ?? '0',
      price: '0',
      icebergQuantity: null,
      selfTradePreventionMode: 'EXPIRE_MAKER',
      workingType: workingType.get(o.clientOrderId) ?? 'MARK_PRICE',
      priceMatch: 'NONE',
      closePosition: true,
      priceProtect: false,
      reduceOnly: true,
      createTime: o.submittedAt,
      updateTime: o.updatedAt,
      triggerTime: triggeredAt.get(o.clientOrderId) ?? 0,
      goodTillDate: 0,
    };
    if (withActual) {
      const done = status === 'FINISHED';
      out.actualOrderId = done ? o.orderId : '';
      out.actualPrice = done ? o.averagePrice : '0';
    }
    return out;
  }

  function algoUpdate(o: EngineOrder, X: string, eventTime: number): unknown {
    const done = X === 'FINISHED';
    return {
      e: 'ALGO_UPDATE',
      T: o.updatedAt,
      E: eventTime,
      o: {
        caid: o.clientOrderId,
        aid: Number(o.orderId),
        at: 'CONDITIONAL',
        o: 'STOP_MARKET',
        s: o.symbol,
        S: o.side,
        ps: 'BOTH',
        f: 'GTC',
        q: o.quantity,
        X,
        ai: done ? o.orderId : '',
        ...(done ? { ap: o.averagePrice, aq: o.executedQuantity, act: 'MARKET' } : {}),
        tp: o.stopPrice ?? '0',
        p: '0',
        V: 'EXPIRE_MAKER',
        wt: workingType.get(o.clientOrderId) ?? 'MARK_PRICE',
        pm: 'NONE',
        cp: true,
        pP: false,
        R: true,
        tt: triggeredAt.get(o.clientOrderId) ?? 0,
        gtd: 0,
      },
    };
  }

  /** The triggered MARKET order's ORDER_TRADE_UPDATE (Binance: `st` ALGO_CONDITION, `si` the algo id). */
  function triggeredUpdate(o: EngineOrder, exec: Parameters<typeof orderTradeUpdate>[1], eventTime: number, txTime: number): unknown {
    const frame = orderTradeUpdate({ ...o, type: 'MARKET', price: null }, exec, eventTime, txTime, h.openNotionals(o.symbol)) as { o: Record<string, unknown> };
    frame.o.st = 'ALGO_CONDITION';
    frame.o.si = Number(o.orderId);
    frame.o.ss = -1;
    return frame;
  }

  function find(p: URLSearchParams, notFound: number): EngineOrder {
    const cid = p.get('clientAlgoId');
    const aid = p.get('algoId');
    if ((cid === null || cid === '') && (aid === null || aid === '')) throw new BinanceApiError(400, -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!");
    let o: EngineOrder | undefined;
    if (cid !== null && cid !== '') o = h.engine.getStop(cid);
    else o = h.engine.openStops().find((x) => x.orderId === aid) ?? undefined;
    if (o === undefined || (aid !== null && aid !== '' && o.orderId !== aid)) throw apiError(notFound);
    return o;
  }

  function place(p: URLSearchParams): unknown {
    const algoType = p.get('algoType');
    if (algoType === null || algoType === '') throw ERR.MANDATORY('algoType');
    if (algoType !== 'CONDITIONAL') throw ERR.BAD_PARAM('algoType');
    const symbol = h.symbolParam(p);
    const side = p.get('side') ?? '';
    if (side !== 'BUY' && side !== 'SELL') throw apiError(-1117);
    const type = p.get('type') ?? '';
    if (type === '') throw ERR.MANDATORY('type');
    if (type !== 'STOP_MARKET') throw apiError(-1116);
    const ps = p.get('positionSide');
    if (h.dualSide() || (ps !== null && ps !== '' && ps !== 'BOTH')) throw apiError(-4061);
    const cp = p.get('closePosition');
    if (cp !== 'true') {
      if (cp !== null && cp !== 'false') throw ERR.BAD_PARAM('closePosition');
      throw ERR.MANDATORY('quantity'); // only closePosition stops are modelled
    }
    if (p.get('quantity') !== null) throw ERR.PARAM_NOT_REQUIRED('quantity');
    if (p.get('reduceOnly') !== null) throw ERR.PARAM_NOT_REQUIRED('reduceOnly');
    const wt = p.get('workingType') ?? 'CONTRACT_PRICE';
    if (wt !== 'MARK_PRICE' && wt !== 'CONTRACT_PRICE') throw ERR.BAD_PARAM('workingType');
    const trigger = p.get('triggerPrice') ?? '';
    if (!isDecimalString(trigger)) throw ERR.MANDATORY('triggerPrice');
    const v = priceFilterViolation(h.rules.get(symbol), dec(trigger), 'triggerPrice');
    if (v !== null) throw apiError(v.code, []);
    let clientAlgoId = p.get('clientAlgoId') ?? '';
    if (clientAlgoId === '') clientAlgoId = `sim${randomBytes(11).toString('hex')}`;
    if (!ID_RE.test(clientAlgoId)) throw apiError(-1100, ['clientAlgoId']);
    if (h.engine.openStops().some((o) => o.clientOrderId === clientAlgoId)) throw apiError(-4116);
    if (h.engine.openStops(symbol).some((o) => o.side === side)) throw ERR.STOP_EXISTS();
    const mark = new Decimal(h.markPrice(symbol));
    const t = dec(trigger);
    if (mark.isPos() && (side === 'SELL' ? mark.lte(t) : mark.gte(t))) throw ERR.WOULD_TRIGGER();
    const now = h.dataTime() + 1;
    const intent: OrderIntent = {
      clientOrderId: clientAlgoId,
      symbol,
      side: side as Side,
      type: 'STOP_MARKET',
      quantity: '0',
      stopPrice: trigger,
      closePosition: true,
      reduceOnly: true,
      strategyId: 'simulator',
      refPrice: str(mark.isPos() ? mark : t),
      createdAt: now,
    };
    const events = h.engine.submit(intent, now);
    const first = events[0];
    if (first?.type === 'OrderRejected') throw new BinanceApiError(400, first.code ?? -1000, first.reason);
    workingType.set(clientAlgoId, wt);
    for (const ev of events) onEvent(ev, now);
    return algoJson(h.engine.getStop(clientAlgoId)!, false);
  }

  function cancel(p: URLSearchParams): unknown {
    const o = find(p, -2011);
    if (o.status !== 'NEW') throw apiError(-2011);
    const now = h.dataTime() + 1;
    const events = h.engine.cancel(o.symbol, o.clientOrderId, now);
    if (events.length === 0) throw apiError(-2011);
    for (const ev of events) onEvent(ev, now);
    return { algoId: Number(o.orderId), clientAlgoId: o.clientOrderId, code: '200', msg: 'success' };
  }

  const wire = (t: number): number => (h.wireTime ? h.wireTime(t) : t);

  function onEvent(ev: EngineEvent, eventTime: number): boolean {
    if (ev.type === 'PositionChanged') return false;
    const cid = ev.type === 'OrderFilled' ? ev.fill.clientOrderId : ev.clientOrderId;
    if (!h.engine.isStop(cid)) return false;
    const o = h.engine.getStop(cid);
    if (o === undefined) return true;
    switch (ev.type) {
      case 'OrderAccepted':
        h.sendUser(algoUpdate(o, 'NEW', eventTime));
        break;
      case 'OrderCanceled':
        h.sendUser(algoUpdate(o, 'CANCELED', eventTime));
        break;
      case 'OrderExpired':
        triggeredAt.set(cid, wire(ev.ts));
        h.sendUser(algoUpdate(o, 'EXPIRED', eventTime));
        break;
      case 'OrderFilled': {
        const cumQuote = h.bookFill(ev.fill);
        const f = { ...ev.fill, time: wire(ev.fill.time) };
        triggeredAt.set(cid, f.time);
        const cum = dec(ev.cumulativeQuantity);
        const avg = cum.isZero() ? '0' : str(cumQuote.div(cum));
        const fresh: EngineOrder = { ...o, status: 'NEW', executedQuantity: '0', averagePrice: '0', updatedAt: f.time };
        h.sendUser(triggeredUpdate(fresh, { x: 'NEW' }, eventTime, f.time));
        const filled: EngineOrder = { ...o, status: ev.status, executedQuantity: ev.cumulativeQuantity, averagePrice: avg, updatedAt: f.time };
        h.sendUser(triggeredUpdate(filled, { x: 'TRADE', fill: { tradeId: f.tradeId, price: f.price, quantity: f.quantity, commission: f.commission, realizedPnl: f.realizedPnl, maker: f.maker } }, eventTime, f.time));
        if (ev.status === 'FILLED') h.sendUser(algoUpdate(filled, 'FINISHED', eventTime));
        break;
      }
      case 'OrderRejected':
        break;
    }
    return true;
  }

  const w = (n: number) => () => n;
  return {
    routes: {
      'POST /fapi/v1/algoOrder': { weight: w(0), auth: 'signed', order: true, handler: place },
      'DELETE /fapi/v1/algoOrder': { weight: w(1), auth: 'signed', handler: cancel },
      'GET /fapi/v1/algoOrder': { weight: w(1), auth: 'signed', handler: (p) => algoJson(find(p, -2013), true) },
      'GET /fapi/v1/openAlgoOrders': {
        weight: (p) => (p.get('symbol') ? 1 : 40),
        auth: 'signed',
        handler: (p) => {
          const s = p.get('symbol');
          const list = s !== null && s !== '' ? h.engine.openStops(h.symbolParam(p)) : h.engine.openStops();
          return list.map((o) => algoJson(o, false));
        },
      },
    },
    onEvent,
  };
}
