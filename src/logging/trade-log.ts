/**
 * The trade log: one line a person can read for each signal, order submitted, accepted,
 * rejected, denied, canceled or expired, fill (price, quantity, fee, realized PnL) and position
 * change, each naming the symbol and the client order id (a signal, which has none yet, names its
 * signal id; the order it leads to carries that signal id). The fields are also structured
 * (`trade`, `symbol`, `clientOrderId`, …) for JSON log tools.
 *
 * A bus subscriber (`signal.*`, `order.update`, `account.update`): the executor is not touched.
 *
 * Level: `info` in paper and live. In replay and backtest, where a run makes thousands of trades
 * in seconds, the lines are `debug`: not written at the default level (the database has every
 * signal, order and fill of the run), shown with `--log-level debug`; the subscriber is not even
 * started unless debug is on, so replay speed is unchanged.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../bus/bus.ts';
import type { OrderEvent, PositionChanged, SignalEmitted } from '../core/types.ts';

/** One trade-log record: the message and its structured fields. */
export interface TradeLine {
  msg: string;
  fields: Record<string, unknown> & { trade: string; symbol: string };
}

/** Format a signal. */
export function signalLine(e: SignalEmitted): TradeLine {
  return {
    msg: `signal ${e.symbol} ${e.strategyId}: target ${e.target} (${e.reason}) at ${e.refPrice} [signal ${e.signalId}]`,
    fields: { trade: 'signal', symbol: e.symbol, signalId: e.signalId, strategyId: e.strategyId, target: e.target, reason: e.reason, refPrice: e.refPrice },
  };
}

/** Format an order event (submitted, accepted, rejected, denied, filled, canceled, expired). */
export function orderLine(e: OrderEvent): TradeLine {
  switch (e.type) {
    case 'OrderSubmitted': {
      const i = e.intent;
      return {
        msg: `order submitted ${i.symbol} ${i.side} ${i.quantity} ${i.type}${i.price ? ` @ ${i.price}` : ''}${i.reduceOnly ? ' reduce-only' : ''} [${i.clientOrderId}]${i.signalId ? ` from signal ${i.signalId}` : ''}`,
        fields: { trade: 'submitted', symbol: i.symbol, clientOrderId: i.clientOrderId, side: i.side, type: i.type, quantity: i.quantity, price: i.price ?? null, reduceOnly: i.reduceOnly, strategyId: i.strategyId, signalId: i.signalId ?? null },
      };
    }
    case 'OrderAccepted':
      return { msg: `order accepted ${e.symbol} [${e.clientOrderId}] exchange order ${e.orderId}`, fields: { trade: 'accepted', symbol: e.symbol, clientOrderId: e.clientOrderId, orderId: e.orderId } };
    case 'OrderRejected':
      return {
        msg: `order rejected ${e.symbol} [${e.clientOrderId}]${e.code !== null ? ` code ${e.code}` : ''}: ${e.reason}`,
        fields: { trade: 'rejected', symbol: e.symbol, clientOrderId: e.clientOrderId, code: e.code, reason: e.reason },
      };
    case 'OrderDenied': {
      const i = e.intent;
      return {
        msg: `order denied ${i.symbol} ${i.side} ${i.quantity} [${i.clientOrderId}] by ${e.check}: ${e.reason}`,
        fields: { trade: 'denied', symbol: i.symbol, clientOrderId: i.clientOrderId, side: i.side, quantity: i.quantity, check: e.check, reason: e.reason },
      };
    }
    case 'OrderFilled': {
      const f = e.fill;
      return {
        msg: `fill ${f.symbol} ${f.side} ${f.quantity} @ ${f.price}, fee ${f.commission} ${f.commissionAsset}, realized PnL ${f.realizedPnl} [${f.clientOrderId}] trade ${f.tradeId} (${e.status} ${e.cumulativeQuantity})`,
        fields: { trade: 'fill', symbol: f.symbol, clientOrderId: f.clientOrderId, side: f.side, price: f.price, quantity: f.quantity, fee: f.commission, feeAsset: f.commissionAsset, realizedPnl: f.realizedPnl, tradeId: f.tradeId, status: e.status },
      };
    }
    case 'OrderCanceled':
    case 'OrderExpired':
      return {
        msg: `order ${e.type === 'OrderCanceled' ? 'canceled' : 'expired'} ${e.symbol} [${e.clientOrderId}]: ${e.reason}`,
        fields: { trade: e.type === 'OrderCanceled' ? 'canceled' : 'expired', symbol: e.symbol, clientOrderId: e.clientOrderId, reason: e.reason },
      };
  }
}

/** Format a position change; `clientOrderId` is the order whose fill changed it, when known. */
export function positionLine(e: PositionChanged, clientOrderId: string | null): TradeLine {
  const p = e.position;
  const flat = /^-?0(\.0*)?$/.test(p.quantity);
  return {
    msg: `position ${p.symbol} ${flat ? 'flat' : `${p.quantity} @ ${p.entryPrice}`}, realized PnL ${p.realizedPnl}, fees ${p.fees}${clientOrderId ? ` [${clientOrderId}]` : ''}${e.source === 'reconcile' ? ' (from the exchange)' : ''}`,
    fields: { trade: 'position', symbol: p.symbol, clientOrderId, quantity: p.quantity, entryPrice: p.entryPrice, realizedPnl: p.realizedPnl, fees: p.fees, source: e.source ?? 'fill' },
  };
}

/**
 * Start the trade log on `bus`.
 * @param level `info` (paper, live) or `debug` (replay, backtest: see the module comment)
 * @returns true when it subscribed (false: `level` is not enabled on `log`)
 */
export function startTradeLog(bus: EventBus, log: Logger, level: 'info' | 'debug'): boolean {
  if (!log.isLevelEnabled(level)) return false;
  const lastOrder = new Map<string, string>();
  const write = (l: TradeLine) => log[level](l.fields, l.msg);
  bus.consume(['signal.*', 'order.update', 'account.update'], (e) => {
    if (e.type === 'SignalEmitted') write(signalLine(e));
    else if (e.type === 'PositionChanged') write(positionLine(e, e.source === 'reconcile' ? null : (lastOrder.get(e.position.symbol) ?? null)));
    else {
      if (e.type === 'OrderFilled') lastOrder.set(e.fill.symbol, e.fill.clientOrderId);
      write(orderLine(e));
    }
  }, { name: 'trade-log' });
  return true;
}
