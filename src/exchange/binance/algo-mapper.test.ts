/**
 * Algo orders (protective stops) on recorded real Binance frames (./fixtures, see its README):
 * an ALGO_UPDATE NEW and FINISHED of one STOP_MARKET, and the ORDER_TRADE_UPDATEs of the MARKET
 * order it became when triggered.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../core/errors.ts';
import { mapAlgoUpdate, mapRestAlgoOrder, mapRestOpenAlgoOrders } from './algo-mapper.ts';
import { mapOrderTradeUpdate } from './mapper.ts';

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

describe('ALGO_UPDATE (recorded frames)', () => {
  it('NEW → OrderAccepted under the clientAlgoId, with the algo id as order id', () => {
    expect(mapAlgoUpdate(fixture('ws-algo-update-new.json'))).toEqual([
      { type: 'OrderAccepted', ts: 1765638225744, clientOrderId: 'testtest0843', orderId: '2000000037542090', symbol: 'ETHUSDT' },
    ]);
  });

  it('FINISHED → nothing: the triggered order reports its own fill', () => {
    expect(mapAlgoUpdate(fixture('ws-algo-update-finished.json'))).toEqual([]);
  });

  it('CANCELED / EXPIRED / REJECTED → the order ends; a combined-stream frame is unwrapped', () => {
    const base = JSON.parse(fixture('ws-algo-update-new.json')) as { o: Record<string, unknown> };
    const as = (X: string) => JSON.stringify({ stream: 'key', data: { ...base, o: { ...base.o, X } } });
    expect(mapAlgoUpdate(as('CANCELED'))).toEqual([{ type: 'OrderCanceled', ts: 1765638225744, clientOrderId: 'testtest0843', orderId: '2000000037542090', symbol: 'ETHUSDT', reason: 'canceled' }]);
    expect(mapAlgoUpdate(as('EXPIRED'))[0]).toMatchObject({ type: 'OrderExpired', clientOrderId: 'testtest0843' });
    expect(mapAlgoUpdate(as('REJECTED'))[0]).toMatchObject({ type: 'OrderRejected', clientOrderId: 'testtest0843', code: null });
    expect(mapAlgoUpdate(as('TRIGGERED'))).toEqual([]);
  });

  it('a malformed field is a DataError naming it', () => {
    const base = JSON.parse(fixture('ws-algo-update-new.json')) as { o: Record<string, unknown> };
    const bad = JSON.stringify({ ...base, o: { ...base.o, tp: 'abc' } });
    expect(() => mapAlgoUpdate(bad)).toThrow(DataError);
    expect(() => mapAlgoUpdate(bad)).toThrow(/o\.tp/);
    expect(() => mapAlgoUpdate(JSON.stringify({ ...base, o: { ...base.o, X: 'WEIRD' } }))).toThrow(/o\.X/);
  });
});

describe('the triggered order (recorded ORDER_TRADE_UPDATEs, st ALGO_CONDITION)', () => {
  it('NEW → OrderAccepted and TRADE/FILLED → OrderFilled, both under the algo order\'s client id', () => {
    const [accepted] = mapOrderTradeUpdate(fixture('ws-order-trade-update-ethusdt-triggered-new.json'));
    expect(accepted).toMatchObject({ type: 'OrderAccepted', clientOrderId: 'testtest0843', symbol: 'ETHUSDT' });
    const [filled] = mapOrderTradeUpdate(fixture('ws-order-trade-update-ethusdt-triggered-filled.json'));
    expect(filled).toEqual({
      type: 'OrderFilled',
      ts: 1765638258184,
      fill: {
        tradeId: '7043103089',
        orderId: (filled as { fill: { orderId: string } }).fill.orderId,
        clientOrderId: 'testtest0843',
        symbol: 'ETHUSDT',
        side: 'BUY',
        price: '3113.87',
        quantity: '0.05',
        commission: '0.07784675',
        commissionAsset: 'USDT',
        realizedPnl: '0',
        maker: false,
        time: 1765638258183,
      },
      cumulativeQuantity: '0.05',
      status: 'FILLED',
    });
    // The fill price is the FINISHED algo update's average price `ap`.
    const fin = JSON.parse(fixture('ws-algo-update-finished.json')) as { o: { ap: string; ai: string } };
    expect((filled as { fill: { price: string } }).fill.price).toBe(fin.o.ap);
  });
});

describe('REST algo orders', () => {
  const row = {
    algoId: 2000000037542090,
    clientAlgoId: 'pb-stop-abc',
    algoType: 'CONDITIONAL',
    orderType: 'STOP_MARKET',
    symbol: 'ETHUSDT',
    side: 'SELL',
    positionSide: 'BOTH',
    timeInForce: 'GTC',
    quantity: '0',
    algoStatus: 'NEW',
    triggerPrice: '3000.00',
    price: '0',
    icebergQuantity: null,
    selfTradePreventionMode: 'EXPIRE_MAKER',
    workingType: 'MARK_PRICE',
    priceMatch: 'NONE',
    closePosition: true,
    priceProtect: false,
    reduceOnly: true,
    createTime: 1765638225741,
    updateTime: 1765638225741,
    triggerTime: 0,
    goodTillDate: 0,
  };
  it('maps an open stop (status NEW, trigger price, reduce-only)', () => {
    expect(mapRestOpenAlgoOrders(JSON.stringify([row]))).toEqual([
      expect.objectContaining({ orderId: '2000000037542090', clientOrderId: 'pb-stop-abc', symbol: 'ETHUSDT', side: 'SELL', type: 'STOP_MARKET', status: 'NEW', stopPrice: '3000.00', reduceOnly: true, actualOrderId: null }),
    ]);
  });
  it('a FINISHED algo names its triggered order', () => {
    const o = mapRestAlgoOrder(JSON.stringify({ ...row, algoStatus: 'FINISHED', actualOrderId: '8389766049535966587' }));
    expect(o).toMatchObject({ algoStatus: 'FINISHED', actualOrderId: '8389766049535966587' });
  });
});
