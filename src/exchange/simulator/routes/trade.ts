/**
 * Trade REST routes (SIGNED): new order, query, cancel, cancel all, open orders and account trade
 * list, with Binance's checks, field sets and error codes
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api).
 *
 * Order checks, in order: parameters (-1102, -1117, -1116, -1115, -1100, -1121), exchange filters
 * via executor/filters.ts validateOrder (-1111, -4014, -4013, -4002, -4003, -4004, -4005, -4023,
 * -4016, -4024, -4164 unless reduce-only), -4116 duplicate open client id, -2019 initial margin
 * (notional ÷ leverage of the part that opens or grows a position) above the available balance,
 * then the engine (-2022 reduce-only that would open or grow, -5022 GTX that would take);
 * -2013 GET of an unknown order, -2011 DELETE of an unknown or finished order (as Binance).
 */
import { randomBytes } from 'node:crypto';
import { Decimal, ZERO, dec, isDecimalString, str } from '../../../core/decimal.ts';
import type { OrderIntent, Side } from '../../../core/types.ts';
import { validateOrder } from '../../../../executor/filters.ts';
import type { EngineOrder } from '../../sim/matching-engine.ts';
import { MINUTE, intParam, strParam, type Route, type SimContext } from '../context.ts';
import { BINANCE_MSG, BinanceApiError, apiError, orderJson, raw } from '../wire.ts';

/** The trade route family. */
export function tradeRoutes(ctx: SimContext): Record<string, Route> {
  const { engine, rules, extras, orderById } = ctx;
  const markPrice = ctx.markPrice;
  const lev = ctx.lev;
  const dataTime = ctx.dataTime;
  const symbolParam = ctx.symbolParam;
  const handleEvents = ctx.handleEvents.bind(ctx);
  const w = (n: number) => () => n;

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

  function newOrder(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const side = strParam(p, 'side');
    if (side !== 'BUY' && side !== 'SELL') throw apiError(-1117);
    const type = strParam(p, 'type');
    if (type !== 'MARKET' && type !== 'LIMIT') throw apiError(-1116);
    const ps = p.get('positionSide');
    if (ctx.dualSide || (ps !== null && ps !== '' && ps !== 'BOTH')) throw apiError(-4061);
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
      if (need.gt(ctx.available())) throw apiError(-2019);
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
      // Binance's own message for the code (-2022 "ReduceOnly Order is rejected.", …); clients match on it
      const code = first.code ?? -1000;
      const msg = BINANCE_MSG[code];
      throw new BinanceApiError(400, code, msg !== undefined && !msg.includes('%s') ? msg : first.reason);
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

  function userTrades(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (limit < 1 || limit > 1000) throw apiError(-1130, ['limit']);
    const fromId = p.get('fromId');
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    let list = ctx.fills.filter((f) => f.symbol === symbol);
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


  /**
   * GET /fapi/v1/allOrders: the symbol's orders the simulator still knows (open ones and the
   * engine's last 10,000 finished), oldest first. `orderId`: from that id on; else
   * startTime/endTime (a window of at most 7 days, -1127 otherwise); else the most recent;
   * limit default 500, max 1000
   * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/All-Orders).
   */
  function allOrders(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (limit < 1 || limit > 1000) throw apiError(-1130, ['limit']);
    const fromId = p.get('orderId');
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    if (start !== undefined && end !== undefined && end - start > 7 * 24 * 60 * MINUTE) throw apiError(-1127);
    let list: EngineOrder[] = [];
    for (const [oid, cid] of orderById) {
      const o = engine.getOrder(cid);
      if (o !== undefined && o.orderId === oid && o.symbol === symbol) list.push(o);
    }
    const timeOf = (o: EngineOrder): number => extras.get(o.orderId)?.time ?? o.submittedAt;
    if (fromId !== null && fromId !== '') {
      if (!/^\d+$/.test(fromId)) throw apiError(-1102, ['orderId']);
      const from = BigInt(fromId);
      list = list.filter((o) => BigInt(o.orderId) >= from).slice(0, limit);
    } else if (start !== undefined || end !== undefined) {
      list = list.filter((o) => (start === undefined || timeOf(o) >= start) && (end === undefined || timeOf(o) <= end)).slice(0, limit);
    } else {
      list = list.slice(-limit);
    }
    return list.map((o) => orderJson(o, extras.get(o.orderId), { withCumQty: false, withTime: true }));
  }

  return {
    'GET /fapi/v1/allOrders': { weight: w(5), auth: 'signed', handler: allOrders },
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
    'GET /fapi/v1/userTrades': { weight: w(5), auth: 'signed', handler: userTrades },
  };
}
