/**
 * Round trips from fills (TradeLedger) and the metrics computed from them, against hand
 * computations: profit factor, expectancy, exposure (union of intervals), monthly compounding,
 * buy-and-hold.
 */
import { describe, expect, it } from 'vitest';
import type { OrderEvent, OrderIntent } from '../core/types.ts';
import { computeMetrics, monthlyReturns, tradeStats } from './metrics.ts';
import { TradeLedger, tradesCsv, type TradeRecord } from './trades.ts';

function submitted(clientOrderId: string, strategyId: string): OrderEvent {
  return { type: 'OrderSubmitted', ts: 0, intent: { clientOrderId, strategyId } as OrderIntent };
}
function filled(clientOrderId: string, side: 'BUY' | 'SELL', price: string, quantity: string, realizedPnl: string, commission: string, time: number): OrderEvent {
  return {
    type: 'OrderFilled',
    ts: time,
    fill: { tradeId: String(time), orderId: '1', clientOrderId, symbol: 'BTCUSDT', side, price, quantity, commission, commissionAsset: 'USDT', realizedPnl, maker: false, time },
    cumulativeQuantity: quantity,
    status: 'FILLED',
  };
}

describe('TradeLedger', () => {
  it('builds a round trip from entry and exit fills, with funding by time', () => {
    const l = new TradeLedger();
    l.onOrderEvent(submitted('a', 'vwap-adx'));
    l.onOrderEvent(filled('a', 'BUY', '107991.4', '0.01', '0', '0.53995700', 1000));
    l.onOrderEvent(submitted('b', 'vwap-adx'));
    l.onOrderEvent(filled('b', 'SELL', '108856.8', '0.01', '8.654', '0.544284', 5000));
    const [t] = l.trades([
      { symbol: 'BTCUSDT', time: 3000, rate: '0.0001', markPrice: '108000', positionQty: '0.01', amount: '-0.108' },
      { symbol: 'BTCUSDT', time: 6000, rate: '0.0001', markPrice: '108000', positionQty: '0', amount: '-1' }, // after the exit: not this trip's
    ]);
    // net = 8.654 − 0.539957 − 0.544284 − 0.108 = 7.461759
    expect(t).toEqual({
      symbol: 'BTCUSDT', strategyId: 'vwap-adx', side: 'LONG', entryTime: 1000, exitTime: 5000, quantity: '0.01',
      entryPrice: '107991.4', exitPrice: '108856.8', grossPnl: '8.654', fees: '1.084241', funding: '-0.108', netPnl: '7.461759',
    });
  });

  it('a fill that crosses zero closes the trip and opens the opposite one (fee split by quantity)', () => {
    const l = new TradeLedger();
    l.onOrderEvent(submitted('a', 's1'));
    l.onOrderEvent(filled('a', 'BUY', '100', '1', '0', '0.05', 1));
    l.onOrderEvent(submitted('b', 's2'));
    l.onOrderEvent(filled('b', 'SELL', '110', '3', '10', '0.165', 2)); // closes 1 (+10), opens short 2
    const ts = l.trades();
    expect(ts).toHaveLength(2);
    expect(ts[0]).toMatchObject({ side: 'LONG', exitTime: 2, grossPnl: '10', fees: '0.105', netPnl: '9.895', strategyId: 's1' });
    expect(ts[1]).toMatchObject({ side: 'SHORT', exitTime: null, quantity: '2', entryPrice: '110', exitPrice: '', fees: '0.11', strategyId: 's2' });
    const csv = tradesCsv(ts).split('\n');
    expect(csv[2]).toBe('BTCUSDT,s2,SHORT,2,1970-01-01T00:00:00.002Z,,,2,110,,0,0.11,0,-0.11');
  });
});

function trip(symbol: string, strategyId: string, entryTime: number, exitTime: number | null, netPnl: string): TradeRecord {
  return { symbol, strategyId, side: 'LONG', entryTime, exitTime, quantity: '1', entryPrice: '1', exitPrice: '1', grossPnl: netPnl, fees: '0', funding: '0', netPnl };
}

describe('metrics', () => {
  it('profit factor, expectancy, averages (hand computation)', () => {
    // wins 6 + 1 = 7, losses −2 − 3 = −5: PF 1.4; expectancy 0.5·3.5 + 0.5·(−2.5) = 0.5 = average; R = 0.5 / 2.5 = 0.2
    const s = tradeStats([trip('A', 'x', 0, 60_000, '6'), trip('A', 'x', 0, 120_000, '-2'), trip('B', 'y', 0, 60_000, '1'), trip('B', 'y', 0, 60_000, '-3'), trip('B', 'y', 0, null, '100')]);
    expect(s).toMatchObject({ trades: 4, wins: 2, losses: 2, winRate: 0.5, netPnl: '2', averageTrade: '0.5', averageWin: '3.5', averageLoss: '-2.5', profitFactor: 1.4, expectancy: '0.5', expectancyR: 0.2, averageHoldMinutes: 1.3 });
    expect(tradeStats([trip('A', 'x', 0, 1, '1')]).profitFactor).toBeNull();
    expect(tradeStats([]).averageTrade).toBeNull();
  });

  it('monthly returns compound the daily returns of each UTC month', () => {
    const m = monthlyReturns([0.01, 0.02, -0.01], ['2025-07-30', '2025-07-31', '2025-08-01']);
    expect(m).toEqual([{ month: '2025-07', return: 0.0302 }, { month: '2025-08', return: -0.01 }]);
  });

  it('exposure is the union of the trips\' time, breakdowns group, buy-and-hold is equal-weight', () => {
    const m = computeMetrics({
      trades: [trip('A', 'x', 0, 100, '1'), trip('A', 'y', 50, 200, '-1'), trip('B', 'x', 500, 600, '2')],
      dailyReturns: [],
      days: [],
      span: { from: 0, to: 1000 },
      symbols: ['A', 'B'],
      prices: new Map([
        ['A', { first: '100', last: '110' }],
        ['B', { first: '200', last: '180' }],
      ]),
      startingEquity: 10_000,
      endingEquity: 10_002,
    });
    expect(m.exposure).toBe(0.3);
    expect(m.exposureBySymbol).toEqual({ A: 0.2, B: 0.1 });
    expect(Object.keys(m.bySymbol)).toEqual(['A', 'B']);
    expect(m.byStrategy.x?.netPnl).toBe('3');
    expect(m.byStrategy.y?.netPnl).toBe('-1');
    expect(m.benchmark).toEqual({ legs: [{ symbol: 'A', firstPrice: '100', lastPrice: '110', return: 0.1 }, { symbol: 'B', firstPrice: '200', lastPrice: '180', return: -0.1 }], return: 0, pnl: 0, endingEquity: 10_000 });
    expect(m.totalReturn).toBe(0.0002);
  });
});
