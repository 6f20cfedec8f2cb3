/**
 * Engine events → user-data stream events: ORDER_TRADE_UPDATE (NEW, TRADE, CANCELED, EXPIRED) and
 * ACCOUNT_UPDATE (reason ORDER), as Binance sends them
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Order-Update,
 * …/Event-Balance-and-Position-Update). Also keeps the fills list and the orderId index.
 */
import { Decimal, ZERO, dec, str } from '../../core/decimal.ts';
import type { Fill, Symbol } from '../../core/types.ts';
import type { EngineEvent, EngineOrder } from '../sim/matching-engine.ts';
import { FILL_LIMIT, ORDER_INDEX_LIMIT, type SimContext } from './context.ts';
import { accountUpdate, orderTradeUpdate, type AccountUpdatePosition, type OrderUpdateExec } from './wire.ts';

/** Install `openNotionals`, `breakEven` and `handleEvents` on the context. */
export function installUserEvents(ctx: SimContext): void {
  const { engine } = ctx;

  ctx.openNotionals = (symbol: Symbol): { bids: string; asks: string } => {
    let bids = ZERO;
    let asks = ZERO;
    for (const o of engine.openOrders(symbol)) {
      const px = o.price ?? ctx.markPrice(symbol);
      const n = dec(o.quantity).minus(dec(o.executedQuantity)).times(dec(px));
      if (o.side === 'BUY') bids = bids.plus(n);
      else asks = asks.plus(n);
    }
    return { bids: str(bids), asks: str(asks) };
  };

  ctx.breakEven = (qty: Decimal, entry: Decimal): Decimal => {
    if (qty.isZero()) return ZERO;
    return qty.isPos() ? entry.times(ctx.takerFee.plus(1)) : entry.times(new Decimal(1).minus(ctx.takerFee));
  };

  ctx.bookFill = (fill: Fill): Decimal => {
    const f = { ...fill, time: ctx.wireTime(fill.time), dataTime: fill.time };
    if (ctx.fills.length >= FILL_LIMIT) ctx.fills.shift();
    ctx.fills.push(f);
    const ex = ctx.extras.get(f.orderId) ?? { cumQuote: ZERO };
    ex.cumQuote = ex.cumQuote.plus(dec(f.price).times(dec(f.quantity)));
    ex.updateTime = f.time;
    ctx.extras.set(f.orderId, ex);
    return ex.cumQuote;
  };
  ctx.handleEvents = (events: readonly EngineEvent[], dataEventTime: number): void => {
    const eventTime = ctx.wireTime(dataEventTime);
    const out: unknown[] = [];
    const sendUser = (frame: unknown): void => {
      out.push(frame);
    };
    const touch = (orderId: string, t: number): void => {
      const ex = ctx.extras.get(orderId);
      if (ex !== undefined) ex.updateTime = t;
    };
    for (const ev of events) {
      if (ctx.eventHooks.some((hook) => hook(ev, eventTime, sendUser))) continue;
      const ts = ctx.wireTime(ev.ts);
      switch (ev.type) {
        case 'OrderAccepted': {
          ctx.orderById.set(ev.orderId, ev.clientOrderId);
          ctx.extras.set(ev.orderId, { cumQuote: ZERO, time: ts, updateTime: ts });
          if (ctx.orderById.size > ORDER_INDEX_LIMIT) {
            // bounded like the engine's own history (it forgets finished orders beyond 10000)
            const oldest = ctx.orderById.keys().next().value!;
            ctx.orderById.delete(oldest);
            ctx.extras.delete(oldest);
          }
          const o = engine.getOrder(ev.clientOrderId);
          if (o !== undefined) sendUser(orderTradeUpdate(o, { x: 'NEW' }, eventTime, ts, ctx.openNotionals(o.symbol)));
          break;
        }
        case 'OrderFilled': {
          const f = { ...ev.fill, time: ctx.wireTime(ev.fill.time) };
          const cumQuote = ctx.bookFill(ev.fill);
          const snap = engine.getOrder(f.clientOrderId);
          if (snap === undefined) break;
          const cum = dec(ev.cumulativeQuantity);
          const o: EngineOrder = { ...snap, status: ev.status, executedQuantity: ev.cumulativeQuantity, averagePrice: str(cumQuote.div(cum)), updatedAt: f.time };
          const exec: OrderUpdateExec = { x: 'TRADE', fill: { tradeId: f.tradeId, price: f.price, quantity: f.quantity, commission: f.commission, realizedPnl: f.realizedPnl, maker: f.maker } };
          sendUser(orderTradeUpdate(o, exec, eventTime, f.time, ctx.openNotionals(f.symbol)));
          break;
        }
        case 'PositionChanged': {
          const p = ev.position;
          const q = dec(p.quantity);
          const mark = ctx.markPrice(p.symbol);
          const pos: AccountUpdatePosition = {
            s: p.symbol,
            pa: p.quantity,
            ep: p.entryPrice,
            cr: p.realizedPnl,
            up: engine.unrealizedPnl(p.symbol, mark),
            mt: ctx.marginType.get(p.symbol) ?? 'cross',
            bep: str(ctx.breakEven(q, dec(p.entryPrice))),
          };
          sendUser(accountUpdate(eventTime, ts, engine.balance(), [pos]));
          break;
        }
        case 'OrderCanceled':
        case 'OrderExpired': {
          const o = engine.getOrder(ev.clientOrderId);
          touch(ev.orderId, ts);
          if (o !== undefined) sendUser(orderTradeUpdate(o, { x: ev.type === 'OrderCanceled' ? 'CANCELED' : 'EXPIRED' }, eventTime, ts, ctx.openNotionals(o.symbol)));
          break;
        }
        case 'OrderRejected':
          break;
      }
    }
    flushUserEvents(ctx, out);
  };
}

/**
 * Send one batch of user-data frames (the events of one engine call, in Binance's usual order:
 * ORDER_TRADE_UPDATE, then the ACCOUNT_UPDATE it caused). Fault switches (POST /admin/user-events):
 * `reorder` sends each ACCOUNT_UPDATE before the ORDER_TRADE_UPDATE that caused it (Binance does
 * not order them: ARCHITECTURE.md), `duplicate` sends every frame twice, `drop` sends none (frames
 * lost between Binance and the bot, the connection staying up).
 */
export function flushUserEvents(ctx: SimContext, frames: unknown[]): void {
  if (ctx.faults.userEventsDrop) return;
  let list = frames;
  if (ctx.faults.userEventsReorder && list.length > 1) {
    const isAccount = (f: unknown): boolean => (f as { e?: unknown }).e === 'ACCOUNT_UPDATE';
    list = [...list.filter(isAccount), ...list.filter((f) => !isAccount(f))];
  }
  for (const f of list) {
    ctx.sendUser(f);
    if (ctx.faults.userEventsDuplicate) ctx.sendUser(f);
  }
}
