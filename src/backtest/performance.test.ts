import { describe, expect, it } from 'vitest';
import type { Kline, Position } from '../core/types.ts';
import { PerformanceTracker, sharpe } from './performance.ts';

const DAY = 86_400_000;
const DAY0 = Date.UTC(2025, 6, 6); // 2025-07-06T00:00:00Z
const MIN = 60_000;

function kline(symbol: string, openTime: number, close: string): Kline {
  return {
    symbol,
    interval: '1m',
    openTime,
    closeTime: openTime + MIN - 1,
    open: close,
    high: close,
    low: close,
    close,
    volume: '1',
    closed: true,
  };
}

function position(symbol: string, quantity: string, entryPrice: string, realizedPnl: string, fees: string, updatedAt = 0): Position {
  return { symbol, quantity, entryPrice, realizedPnl, fees, updatedAt };
}

describe('sharpe', () => {
  it('mean / sample stdev × √365 on a small list (hand computation)', () => {
    // r = [0.01, −0.02, 0.03]: mean = 0.02/3; deviations 1/300, −8/300, 7/300;
    // Σd² = (1 + 64 + 49)/90000 = 114/90000; sample variance = 57/90000; sd = √57/300;
    // mean/sd = (2/300)/(√57/300) = 2/√57; × √365 → 2·√(365/57) = 5.06103103010832153953…
    expect(sharpe([0.01, -0.02, 0.03])).toBeCloseTo(5.0610310301083215, 12);
    // Two returns: [0.02, 0.00]: mean 0.01, sample sd = √((0.0001+0.0001)/1) = √0.0002; ratio = 0.01/√0.0002 = 1/√2.
    expect(sharpe([0.02, 0])).toBeCloseTo(Math.SQRT1_2 * Math.sqrt(365), 12);
    // Negative mean → negative Sharpe, same magnitude.
    expect(sharpe([-0.01, 0.02, -0.03])).toBeCloseTo(-5.0610310301083215, 12);
  });

  it('null with fewer than two returns or zero variance', () => {
    expect(sharpe([])).toBeNull();
    expect(sharpe([0.05])).toBeNull();
    expect(sharpe([0, 0])).toBeNull();
    expect(sharpe([0.01, 0.01, 0.01])).toBeNull();
    expect(sharpe([-0.002, -0.002])).toBeNull();
  });

  // BUG (src/backtest/performance.ts sharpe, `if (!(variance > 0)) return null`): with equal returns
  // whose float mean is not exactly representable (0.1 + 0.1 + 0.1 = 0.30000000000000004) the
  // variance is ~1e-34 instead of 0, so the function returns ≈ 1.124e17 instead of null.
  // Input [0.1, 0.1, 0.1]; expected null; actual 112403687761722270.
  it('equal returns of 0.1 have zero variance → null', () => {
    expect(sharpe([0.1, 0.1, 0.1])).toBeNull();
  });
});

describe('PerformanceTracker', () => {
  it('starts flat', () => {
    const t = new PerformanceTracker(10_000);
    expect(t.summary()).toEqual({
      startingEquity: 10_000,
      endingEquity: 10_000,
      peakEquity: 10_000,
      maxDrawdown: 0,
      maxDrawdownPct: 0,
      dailyReturns: [],
      sharpe: null,
      days: [],
      funding: 0,
      curve: [],
    });
  });

  it('marks to market, tracks the drawdown and the daily returns over three UTC days', () => {
    const t = new PerformanceTracker(10_000);
    const eq = (): number => t.summary().endingEquity;

    // Day 0 (2025-07-06).
    t.onKline(kline('BTCUSDT', DAY0, '100')); // flat: 10 000
    expect(eq()).toBe(10_000);
    t.onPosition(position('BTCUSDT', '2', '100', '0', '1')); // long 2 @ 100, fee 1
    t.onKline(kline('BTCUSDT', DAY0 + MIN, '110')); // 10 000 − 1 + 2·(110 − 100) = 10 019 (peak)
    expect(eq()).toBe(10_019);
    t.onKline(kline('BTCUSDT', DAY0 + 2 * MIN, '95')); // 10 000 − 1 + 2·(95 − 100) = 9 989, dd 30
    expect(eq()).toBe(9_989);
    expect(t.summary()).toMatchObject({ peakEquity: 10_019, maxDrawdown: 30, dailyReturns: [9_989 / 10_000 - 1] });

    // Day 1: the last minute of day 0 closes at 23:59:59.999, the next kline belongs to day 1.
    t.onKline(kline('BTCUSDT', DAY0 + DAY - MIN, '95')); // still day 0, unchanged 9 989
    expect(t.summary().dailyReturns).toHaveLength(1);
    t.onKline(kline('BTCUSDT', DAY0 + DAY, '90')); // 10 000 − 1 + 2·(90 − 100) = 9 979, dd 40
    expect(eq()).toBe(9_979);
    t.onPosition(position('BTCUSDT', '0', '0', '-20', '2')); // closed at 90: realized −20, fees 2 in all
    t.onKline(kline('ETHUSDT', DAY0 + DAY + MIN, '2000')); // 10 000 − 22 = 9 978, dd 41
    expect(eq()).toBe(9_978);
    t.onPosition(position('ETHUSDT', '-1', '2000', '0', '0.5')); // short 1 ETH @ 2000, fee 0.5
    t.onKline(kline('ETHUSDT', DAY0 + DAY + 2 * MIN, '1900')); // 10 000 − 22.5 + (−1)·(1900 − 2000) = 10 077.5 (peak)
    expect(eq()).toBe(10_077.5);
    t.onKline(kline('BTCUSDT', DAY0 + DAY + 2 * MIN, '85')); // BTC flat: its price moves nothing
    expect(eq()).toBe(10_077.5);

    // Day 2.
    t.onKline(kline('ETHUSDT', DAY0 + 2 * DAY, '1950')); // 10 000 − 22.5 + 50 = 10 027.5, dd 50
    expect(eq()).toBe(10_027.5);
    t.onKline(kline('BTCUSDT', DAY0 + 2 * DAY + MIN, '80'));
    expect(eq()).toBe(10_027.5);

    const s = t.summary();
    expect(s.startingEquity).toBe(10_000);
    expect(s.endingEquity).toBe(10_027.5);
    expect(s.peakEquity).toBe(10_077.5);
    expect(s.maxDrawdown).toBe(50);
    // 50 / 10 077.5 = 0.0049615480029769288… (> 41 / 10 019 = 0.00409222…)
    expect(s.maxDrawdownPct).toBeCloseTo(0.0049615480029769288, 15);
    // Day 0: 9 989 / 10 000 − 1; day 1: 10 077.5 / 9 989 − 1; day 2 so far: 10 027.5 / 10 077.5 − 1.
    expect(s.dailyReturns).toHaveLength(3);
    expect(s.dailyReturns[0]).toBeCloseTo(-0.0011, 15);
    expect(s.dailyReturns[1]).toBeCloseTo(0.0088597457202923216, 15);
    expect(s.dailyReturns[2]).toBeCloseTo(-0.0049615480029769288, 15);
    // mean / sample sd × √365 of those three, computed with 50-digit decimals: 2.49880461748226034…
    expect(s.sharpe).toBeCloseTo(2.4988046174822603, 10);
  });

  it('drawdown in USDT and in % may come from different peaks', () => {
    const t = new PerformanceTracker(1_000);
    t.onPosition(position('BTCUSDT', '1', '100', '0', '0'));
    t.onKline(kline('BTCUSDT', DAY0, '100')); // 1 000
    t.onKline(kline('BTCUSDT', DAY0 + MIN, '60')); // 960: dd 40 = 4 % of 1 000
    t.onKline(kline('BTCUSDT', DAY0 + 2 * MIN, '2100')); // 3 000 (peak)
    t.onKline(kline('BTCUSDT', DAY0 + 3 * MIN, '2050')); // 2 950: dd 50 = 1.666… % of 3 000
    const s = t.summary();
    expect(s.peakEquity).toBe(3_000);
    expect(s.endingEquity).toBe(2_950);
    expect(s.maxDrawdown).toBe(50);
    expect(s.maxDrawdownPct).toBeCloseTo(0.04, 15);
    expect(s.dailyReturns).toEqual([2_950 / 1_000 - 1]);
    expect(s.sharpe).toBeNull();
  });

  it('a position update alone does not sample the curve; realized PnL counts at the next kline', () => {
    const t = new PerformanceTracker(500);
    t.onKline(kline('ETHUSDT', DAY0, '3000'));
    t.onPosition(position('ETHUSDT', '0', '0', '12.5', '0.5'));
    expect(t.summary().endingEquity).toBe(500);
    t.onKline(kline('ETHUSDT', DAY0 + MIN, '3001'));
    expect(t.summary().endingEquity).toBe(512);
    // A later update replaces the symbol's cumulative figures (not added twice).
    t.onPosition(position('ETHUSDT', '0', '0', '12.5', '1.5'));
    t.onKline(kline('ETHUSDT', DAY0 + 2 * MIN, '3001'));
    expect(t.summary().endingEquity).toBe(511);
  });
});

describe('PerformanceTracker funding and curve', () => {
  it('a funding payment moves equity at once, counts in the drawdown and the daily return', () => {
    const t = new PerformanceTracker(10_000);
    t.onPosition(position('BTCUSDT', '0.01', '107991.4', '0', '0'));
    t.onKline(kline('BTCUSDT', DAY0, '107991.4')); // 10 000
    t.onFunding(-0.0179805681, DAY0 + 8 * 3_600_000 + 2); // the long pays
    const s = t.summary();
    expect(s.endingEquity).toBeCloseTo(10_000 - 0.0179805681, 10);
    expect(s.funding).toBeCloseTo(-0.0179805681, 12);
    expect(s.maxDrawdown).toBeCloseTo(0.0179805681, 10);
    expect(s.dailyReturns[0]).toBeCloseTo(-0.0179805681 / 10_000, 15);
    expect(s.days).toEqual(['2025-07-06']);
  });

  it('the curve keeps the last sample of each 15 minutes, in time order', () => {
    const t = new PerformanceTracker(1_000);
    t.onPosition(position('BTCUSDT', '1', '100', '0', '0'));
    for (let i = 0; i < 30; i++) t.onKline(kline('BTCUSDT', DAY0 + i * MIN, String(100 + i)));
    const c = t.summary().curve;
    // Samples at closeTime + 1: minutes 0–14 end in (00:00, 00:15], minutes 15–29 in (00:15, 00:30].
    expect(c).toEqual([
      { t: DAY0 + 15 * MIN, equity: 1_014 },
      { t: DAY0 + 30 * MIN, equity: 1_029 },
    ]);
  });
});
