import { describe, expect, it } from 'vitest';
import type { Fill } from '../src/core/types.ts';
import { formatReconciliation, reconcile, reconciliationEvents, type ExchangeOrder, type ExchangeState, type LocalOrder, type LocalState } from './reconcile.ts';

// Ids and prices from the bundled real data (an orderId above 2^53 from the annotated user-data notes).
const BIG_ID = '8389766049535966587';

const localOrder = (p: Partial<LocalOrder> = {}): LocalOrder => ({
  clientOrderId: 'pb-AAAAAAAAAAAAAAAAAAAAAA',
  orderId: BIG_ID,
  symbol: 'BTCUSDT',
  side: 'BUY',
  quantity: '0.009',
  status: 'NEW',
  executedQty: '0',
  ...p,
});
const exchangeOrder = (p: Partial<ExchangeOrder> = {}): ExchangeOrder => ({
  clientOrderId: 'pb-AAAAAAAAAAAAAAAAAAAAAA',
  orderId: BIG_ID,
  symbol: 'BTCUSDT',
  side: 'BUY',
  quantity: '0.009',
  status: 'NEW',
  executedQty: '0',
  ...p,
});
const fill = (p: Partial<Fill> = {}): Fill => ({
  tradeId: '1000000001',
  orderId: BIG_ID,
  clientOrderId: 'pb-AAAAAAAAAAAAAAAAAAAAAA',
  symbol: 'BTCUSDT',
  side: 'BUY',
  price: '108167.0',
  quantity: '0.009',
  commission: '0.4867515',
  commissionAsset: 'USDT',
  realizedPnl: '0',
  maker: false,
  time: 1751760060000,
  ...p,
});
const local = (p: Partial<LocalState> = {}): LocalState => ({ openOrders: [], positions: {}, knownTradeIds: {}, ...p });
const exch = (p: Partial<ExchangeState> = {}): ExchangeState => ({ openOrders: [], settled: {}, positions: {}, trades: [], ...p });

describe('reconcile', () => {
  it('agreeing views are clean', () => {
    const r = reconcile(
      local({ openOrders: [localOrder()], positions: { BTCUSDT: '0.009' }, knownTradeIds: { BTCUSDT: new Set(['1000000001']) } }),
      exch({ openOrders: [exchangeOrder()], positions: { BTCUSDT: '0.0090' }, trades: [fill()] }),
    );
    expect(r).toEqual({ actions: [], clean: true });
    expect(formatReconciliation(r)).toBe('database and exchange agree: nothing to do');
  });

  it('adopts what the exchange has open, settles what it no longer has, inserts missing fills, follows its positions', () => {
    const r = reconcile(
      local({
        openOrders: [
          localOrder({ clientOrderId: 'pb-partial', status: 'NEW' }),
          localOrder({ clientOrderId: 'pb-gone-filled', symbol: 'ETHUSDT', side: 'SELL', quantity: '0.397', orderId: null, status: 'PENDING_NEW' }),
          localOrder({ clientOrderId: 'pb-never-arrived', status: 'PENDING_NEW', orderId: null }),
        ],
        positions: { BTCUSDT: '0', ETHUSDT: '0' },
        knownTradeIds: { ETHUSDT: new Set(['7']) },
      }),
      exch({
        openOrders: [
          exchangeOrder({ clientOrderId: 'pb-partial', status: 'PARTIALLY_FILLED', executedQty: '0.004' }),
          exchangeOrder({ clientOrderId: 'pb-lost', orderId: '1000000000000000009', side: 'SELL', quantity: '0.002' }),
          exchangeOrder({ clientOrderId: 'web_manual1', orderId: '42', quantity: '0.5' }),
        ],
        settled: {
          'pb-gone-filled': exchangeOrder({ clientOrderId: 'pb-gone-filled', symbol: 'ETHUSDT', side: 'SELL', quantity: '0.397', status: 'FILLED', executedQty: '0.397', orderId: '1000000000000000002' }),
          'pb-never-arrived': null,
        },
        positions: { BTCUSDT: '0.004', ETHUSDT: '-0.397' },
        trades: [
          fill({ symbol: 'ETHUSDT', tradeId: '8', clientOrderId: 'pb-gone-filled', side: 'SELL', price: '2517.64', quantity: '0.397' }),
          fill({ symbol: 'ETHUSDT', tradeId: '7' }), // known: not inserted again
          fill({ clientOrderId: 'pb-partial', tradeId: '1000000002', quantity: '0.004' }),
          fill({ clientOrderId: 'pb-partial', tradeId: '1000000002', quantity: '0.004' }), // duplicate in the answer
        ],
      }),
    );
    expect(r.clean).toBe(false);
    expect(formatReconciliation(r).split('\n')).toEqual([
      'adopt order pb-lost (BTCUSDT SELL 0.002, exchange id 1000000000000000009): open on the exchange, missing from the database',
      'adopt order pb-partial (BTCUSDT): database NEW → exchange PARTIALLY_FILLED, executed 0.004',
      'leave order web_manual1 (BTCUSDT BUY 0.5): not placed by perpbot',
      'settle order pb-never-arrived (BTCUSDT): database PENDING_NEW → exchange REJECTED, executed 0',
      'settle order pb-gone-filled (ETHUSDT): database PENDING_NEW → exchange FILLED, executed 0.397',
      'insert fill BTCUSDT trade 1000000002: BUY 0.004 @ 108167.0 (order pb-partial)',
      'insert fill ETHUSDT trade 8: SELL 0.397 @ 2517.64 (order pb-gone-filled)',
      'position BTCUSDT: database 0 → exchange 0.004',
      'position ETHUSDT: database 0 → exchange -0.397',
    ]);
    const adoptLost = r.actions.find((a) => a.kind === 'adopt' && a.unknown);
    expect(adoptLost).toMatchObject({ order: { orderId: '1000000000000000009' } });
  });

  it('a foreign order alone leaves the views clean (it is reported, never touched)', () => {
    const r = reconcile(local(), exch({ openOrders: [exchangeOrder({ clientOrderId: 'android_x', orderId: BIG_ID })] }));
    expect(r.clean).toBe(true);
    expect(r.actions).toEqual([{ kind: 'foreign', order: expect.objectContaining({ orderId: BIG_ID }) }]);
  });

  it('an open local order the exchange was not asked about is not settled by guess', () => {
    const r = reconcile(local({ openOrders: [localOrder({ clientOrderId: 'pb-unasked' })] }), exch());
    expect(r.actions).toEqual([]);
  });

  it('trade ids are compared as int64 text, in numeric order', () => {
    const r = reconcile(local(), exch({ trades: [fill({ tradeId: '10' }), fill({ tradeId: '9' }), fill({ tradeId: BIG_ID })] }));
    expect(r.actions.map((a) => (a.kind === 'insertFill' ? a.fill.tradeId : ''))).toEqual(['9', '10', BIG_ID]);
  });
});

describe('reconciliationEvents', () => {
  it('turns the actions into the events the recorder and executor already understand', () => {
    const r = reconcile(
      local({
        openOrders: [
          localOrder({ clientOrderId: 'pb-pending', status: 'PENDING_NEW', orderId: null }),
          localOrder({ clientOrderId: 'pb-filled', status: 'NEW' }),
          localOrder({ clientOrderId: 'pb-canceled', status: 'NEW' }),
          localOrder({ clientOrderId: 'pb-lost-in-transit', status: 'PENDING_NEW', orderId: null }),
        ],
      }),
      exch({
        openOrders: [exchangeOrder({ clientOrderId: 'pb-pending', orderId: '1000000000000000007', status: 'NEW' })],
        settled: {
          'pb-filled': exchangeOrder({ clientOrderId: 'pb-filled', status: 'FILLED', executedQty: '0.009' }),
          'pb-canceled': exchangeOrder({ clientOrderId: 'pb-canceled', status: 'CANCELED' }),
          'pb-lost-in-transit': null,
        },
        trades: [
          fill({ clientOrderId: 'pb-filled', tradeId: '11', quantity: '0.004' }),
          fill({ clientOrderId: 'pb-filled', tradeId: '12', quantity: '0.005' }),
        ],
        positions: { BTCUSDT: '0.009' },
      }),
    );
    const ev = reconciliationEvents(r, 1751760120000, { BTCUSDT: { entryPrice: '108167.0', realizedPnl: '1.5', fees: '0.9', updatedAt: 1751760180000 } });
    expect(ev.map((e) => [e.type, 'clientOrderId' in e ? e.clientOrderId : e.type === 'OrderFilled' ? `${e.fill.tradeId}:${e.status}:${e.cumulativeQuantity}` : e.type === 'PositionChanged' ? e.position.quantity : ''])).toEqual([
      ['OrderAccepted', 'pb-pending'],
      ['OrderCanceled', 'pb-canceled'],
      ['OrderRejected', 'pb-lost-in-transit'],
      ['OrderFilled', '11:PARTIALLY_FILLED:0.004'],
      ['OrderFilled', '12:FILLED:0.009'],
      ['PositionChanged', '0.009'],
    ]);
    expect(ev[0]).toMatchObject({ orderId: '1000000000000000007' });
    expect(ev[2]).toMatchObject({ code: -2013 });
    expect(ev[5]).toMatchObject({ ts: 1751760180000, position: { entryPrice: '108167.0', realizedPnl: '1.5', fees: '0.9', updatedAt: 1751760180000 } });
  });

  it('counts what the database already has executed: an order half filled before the crash completes as FILLED', () => {
    const r = reconcile(
      local({ openOrders: [localOrder({ clientOrderId: 'pb-half', status: 'PARTIALLY_FILLED', quantity: '0.002', executedQty: '0.001' })], knownTradeIds: { BTCUSDT: new Set(['20']) } }),
      exch({
        settled: { 'pb-half': exchangeOrder({ clientOrderId: 'pb-half', status: 'FILLED', quantity: '0.002', executedQty: '0.002' }) },
        trades: [fill({ clientOrderId: 'pb-half', tradeId: '20', quantity: '0.001' }), fill({ clientOrderId: 'pb-half', tradeId: '21', quantity: '0.001' })],
      }),
    );
    const fills = reconciliationEvents(r, 1751760120000).filter((e) => e.type === 'OrderFilled');
    expect(fills.map((e) => (e.type === 'OrderFilled' ? [e.fill.tradeId, e.status, e.cumulativeQuantity] : []))).toEqual([['21', 'FILLED', '0.002']]);
  });

  it("a person's trades and open orders become external events: a trade of an unknown order gets ext-<orderId>, FILLED unless its order is still open", () => {
    const r = reconcile(
      local({}),
      exch({
        openOrders: [exchangeOrder({ clientOrderId: 'web_resting', orderId: '77', side: 'SELL', quantity: '0.5', status: 'PARTIALLY_FILLED', executedQty: '0.1' })],
        trades: [
          fill({ clientOrderId: '', orderId: '66', tradeId: '31', side: 'SELL', quantity: '0.002' }),
          fill({ clientOrderId: 'web_resting', orderId: '77', tradeId: '32', side: 'SELL', quantity: '0.1' }),
        ],
        positions: { BTCUSDT: '-0.102' },
      }),
    );
    expect(r.clean).toBe(false);
    const ev = reconciliationEvents(r, 1751760120000);
    expect(ev.map((e) => [e.type, e.type === 'OrderFilled' ? `${e.fill.clientOrderId}:${e.status}` : 'clientOrderId' in e ? e.clientOrderId : '', e.type !== 'PositionChanged' && e.type !== 'OrderSubmitted' && e.type !== 'OrderDenied' ? e.external?.side : undefined])).toEqual([
      ['OrderAccepted', 'web_resting', 'SELL'],
      ['OrderFilled', 'ext-66:FILLED', 'SELL'],
      ['OrderFilled', 'web_resting:PARTIALLY_FILLED', 'SELL'],
      ['PositionChanged', '', undefined],
    ]);
    expect(ev[1]).toMatchObject({ external: { type: 'UNKNOWN', quantity: '0', price: '0' } });
  });
});
