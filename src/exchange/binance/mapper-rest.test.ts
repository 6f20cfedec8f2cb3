/**
 * The Binance REST mappers (orders, user trades, position risk, account, balances, klines,
 * premium index, server time) on recorded responses: exact decimal text and ids, and errors
 * that name the field.
 */
import { describe, expect, it } from 'vitest';
import type { OrderFilled } from '../../core/types.ts';
import {
  mapAccount,
  mapBalances,
  mapMarkPriceFrame,
  mapOrderTradeUpdate,
  mapPositionRisk,
  mapPositionRisks,
  mapPremiumIndex,
  mapRestKline,
  mapRestKlines,
  mapRestOpenOrders,
  mapRestOrder,
  mapServerTime,
  mapUserTrade,
  mapUserTrades,
} from './mapper.ts';
import { dataErrorOf, fixture, publicFrame, setField } from './mapper-test-support.ts';

describe('REST mappers', () => {
  it('mapRestOrder maps a real order response; ids stay exact as text', () => {
    const text = fixture('rest-order-put-btcusdt.json');
    expect(mapRestOrder(text)).toEqual({
      orderId: '198570880253',
      clientOrderId: '12345678911xxx',
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'LIMIT',
      status: 'NEW',
      venueStatus: 'NEW',
      timeInForce: 'GTC',
      price: '27300.00',
      avgPrice: '0.00',
      quantity: '0.010',
      executedQuantity: '0.000',
      cumQuote: '0.00000',
      reduceOnly: false,
      updatedAt: 1697299690473,
    });
    const big = text.replace('"orderId": 198570880253', '"orderId": 8389766049535966587');
    expect(mapRestOrder(big).orderId).toBe('8389766049535966587');
    expect(mapRestOpenOrders(`[${text},${big}]`).map((o) => o.orderId)).toEqual(['198570880253', '8389766049535966587']);
    expect(mapRestOrder(setField(text, 'status', '"EXPIRED_IN_MATCH"'))).toMatchObject({ status: 'EXPIRED', venueStatus: 'EXPIRED_IN_MATCH' });
  });

  it('mapRestOrder names the field', () => {
    const text = fixture('rest-order-put-btcusdt.json');
    expect(dataErrorOf(() => mapRestOrder(setField(text, 'executedQty', '"0.0.0"'))).message).toBe('REST /fapi/v1/order executedQty: "0.0.0" is not a decimal number');
    expect(dataErrorOf(() => mapRestOrder(setField(text, 'orderId', '1.5'))).message).toBe(
      'REST /fapi/v1/order orderId: 1.5 is not an int64 id (integer number below 2^53, or integer text)',
    );
    expect(dataErrorOf(() => mapRestOpenOrders(`[${setField(text, 'price', 'null')}]`)).message).toBe('REST /fapi/v1/openOrders 0.price: null is not a decimal number');
  });

  it('mapUserTrade maps a trade row to a Fill, the client order id from the caller', () => {
    const text = fixture('rest-user-trade-sushiusdt.json');
    const fill = mapUserTrade(text, (id) => (id === '22254789833' ? 'x-wPAX3YpD-240627181505-aG-243914' : undefined));
    // Same fill as the ORDER_TRADE_UPDATE it came from.
    const ws = (mapOrderTradeUpdate(fixture('ws-order-trade-update-sushiusdt-trade.json'))[0] as OrderFilled).fill;
    expect(fill).toEqual(ws);
    expect(mapUserTrade(text).clientOrderId).toBe('');
    expect(mapUserTrades(`[${text}]`)).toHaveLength(1);
    expect(dataErrorOf(() => mapUserTrade(setField(text, 'commission', '"-"'))).message).toBe('REST /fapi/v1/userTrades commission: "-" is not a decimal number');
  });

  it('mapPositionRisk maps a real position row', () => {
    const text = fixture('rest-position-risk-v2-xemusdt.json');
    expect(mapPositionRisks(text, { realizedPnlOf: () => '3.5' })).toEqual([
      { symbol: 'XEMUSDT', quantity: '67797', entryPrice: '0.0295', realizedPnl: '3.5', fees: '0', updatedAt: 1689944645278 },
    ]);
    const row = JSON.stringify((JSON.parse(text) as unknown[])[0]);
    expect(mapPositionRisk(row)).toMatchObject({ symbol: 'XEMUSDT', quantity: '67797' });
    expect(dataErrorOf(() => mapPositionRisks(setField(text, 'positionAmt', '67797'))).message).toBe('REST /fapi/v3/positionRisk 0.positionAmt: 67797 is not a decimal number');
    expect(dataErrorOf(() => mapPositionRisks(setField(text, 'positionSide', '"SHORT"'))).message).toBe(
      'REST /fapi/v3/positionRisk 0.positionSide: "SHORT" is not BOTH (perpbot needs one-way position mode)',
    );
  });

  it('mapAccount maps the real account responses', () => {
    const a = mapAccount(fixture('rest-account-v2-a.json'));
    expect(a).toMatchObject({
      walletBalance: '5301.64961823',
      unrealizedPnl: '-33.72197206',
      marginBalance: '5267.92764617',
      initialMargin: '1930.96577111',
      maintenanceMargin: '70.36650902',
      availableBalance: '3333.20649844',
      maxWithdrawAmount: '3333.20649844',
      openPositions: [{ symbol: 'XEMUSDT', quantity: '-66890', unrealizedPnl: '3.53714320', updatedAt: 1689994833385 }],
    });
    expect(a.assets.map((x) => [x.asset, x.walletBalance])).toEqual([
      ['BTC', '0.00000000'],
      ['USDT', '5302.06572435'],
    ]);
    const b = mapAccount(fixture('rest-account-v2-b.json'));
    expect(b.openPositions).toEqual([]); // SNTUSDT positionAmt "0"
    expect(b.walletBalance).toBe('237465.30997796');
    expect(dataErrorOf(() => mapAccount(setField(fixture('rest-account-v2-b.json'), 'walletBalance', '10.1', '"USDT"'))).message).toBe(
      'REST /fapi/v3/account assets.1.walletBalance: 10.1 is not a decimal number',
    );
  });

  it('mapBalances maps the balance rows', () => {
    expect(mapBalances(fixture('rest-balance-v3-usdt.json'))).toEqual([
      {
        asset: 'USDT',
        walletBalance: '5302.06572435',
        unrealizedPnl: '-33.72461877',
        marginBalance: '5302.06572435',
        availableBalance: '3332.80146307',
        maxWithdrawAmount: '3332.80146307',
        updatedAt: 1689994833385,
      },
    ]);
    expect(dataErrorOf(() => mapBalances('{"asset":"USDT"}')).message).toBe('REST /fapi/v3/balance: an object is not an array');
  });

  it('mapRestKline maps archive-valued rows exactly; the forming kline is open given now', () => {
    const rows = JSON.parse(fixture('rest-klines-avaxusdt.json')) as unknown[];
    expect(mapRestKline(rows[0], 'AVAXUSDT')).toEqual({
      symbol: 'AVAXUSDT',
      interval: '1m',
      openTime: 1738368000000,
      closeTime: 1738368059999,
      open: '34.4220',
      high: '34.4260',
      low: '34.3600',
      close: '34.3600',
      volume: '9896',
      quoteVolume: '340376.0940',
      trades: 1391,
      closed: true,
    });
    const ks = mapRestKlines(fixture('rest-klines-avaxusdt.json'), 'AVAXUSDT', { now: 1738368150000 });
    expect(ks.map((k) => k.closed)).toEqual([true, true, false]);
    expect(dataErrorOf(() => mapRestKline([1738368000000, '34.4220', 'x'], 'AVAXUSDT')).message).toBe('REST /fapi/v1/klines 2: "x" is not a decimal number');
    expect(dataErrorOf(() => mapRestKline([1738368000000, '34.4220'], 'AVAXUSDT')).message).toBe('REST /fapi/v1/klines 2: missing, expected a decimal number');
    expect(dataErrorOf(() => mapRestKline(rows[0], 'AVAXUSDT', { interval: '5m' })).message).toBe(
      'REST /fapi/v1/klines 6: closeTime 1738368059999 is not openTime 1738368000000 + 5m − 1',
    );
  });

  it('mapPremiumIndex and mapServerTime', () => {
    expect(mapPremiumIndex(fixture('rest-premium-index-btcusdt.json'))).toEqual([mapMarkPriceFrame(publicFrame('btcusdt@markPrice'))]);
    expect(mapPremiumIndex(`[${fixture('rest-premium-index-btcusdt.json')}]`)).toHaveLength(1);
    expect(dataErrorOf(() => mapPremiumIndex('{"symbol":"BTCUSDT","time":1}')).message).toBe('REST /fapi/v1/premiumIndex markPrice: missing, expected a decimal number');
    expect(mapServerTime(fixture('rest-time.json'))).toBe(1727892008657);
    expect(dataErrorOf(() => mapServerTime('{"serverTime":"now"}')).message).toBe('REST /fapi/v1/time serverTime: "now" is not a time in epoch milliseconds');
  });
});
