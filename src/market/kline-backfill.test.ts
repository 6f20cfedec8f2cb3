/**
 * KlineBackfill on its own: the bound on requests in flight, retries with back-off, and stop()
 * ending queued requests and back-off waits without another request.
 */
import { describe, expect, it } from 'vitest';
import type { Kline } from '../core/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { KlineBackfill } from './kline-backfill.ts';

const MINUTE = 60_000;
const T0 = 1_751_760_000_000;
const kline = (symbol: string, openTime: number, closed = true): Kline => ({ symbol, interval: '1m', openTime, closeTime: openTime + MINUTE - 1, open: '1', high: '1', low: '1', close: '1', volume: '0', quoteVolume: '0', trades: 0, closed });

describe('KlineBackfill', () => {
  it('keeps at most `concurrency` requests in flight and delivers only closed klines of the range, in order', async () => {
    let inFlight = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const backfill = new KlineBackfill({
      concurrency: 2,
      stats: { backfilled: 0, backfillFailures: 0 },
      log: silentLogger(),
      random: () => 0.5,
      fetchKlines: async (symbol, from, to) => {
        most = Math.max(most, ++inFlight);
        await new Promise<void>((r) => release.push(r));
        inFlight--;
        // one before the range, the range, and the still-forming next minute
        return [kline(symbol, from - MINUTE), kline(symbol, from), kline(symbol, to), kline(symbol, to + MINUTE, false)];
      },
    });
    const got: string[] = [];
    const runs = ['A', 'B', 'C', 'D', 'E'].map((s) => backfill.run(s, T0, T0 + MINUTE, async (k) => void got.push(`${k.symbol}@${(k.openTime - T0) / MINUTE}`)));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 5));
      expect(inFlight).toBeLessThanOrEqual(2);
      release.shift()?.();
    }
    await Promise.all(runs);
    expect(most).toBe(2);
    expect(got).toEqual(['A@0', 'A@1', 'B@0', 'B@1', 'C@0', 'C@1', 'D@0', 'D@1', 'E@0', 'E@1']);
  });

  it('retries a failed request with back-off, counts the failures, and goes on once it succeeds', async () => {
    const stats = { backfilled: 0, backfillFailures: 0 };
    const waits: number[] = [];
    let calls = 0;
    const backfill = new KlineBackfill({
      concurrency: 1,
      stats,
      log: silentLogger(),
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
      fetchKlines: async (symbol, from) => {
        if (++calls <= 3) throw new Error('HTTP 503 Service Unavailable');
        return [kline(symbol, from)];
      },
    });
    const got: Kline[] = [];
    await backfill.run('BTCUSDT', T0, T0, async (k) => void got.push(k));
    expect(calls).toBe(4);
    expect(stats).toEqual({ backfilled: 1, backfillFailures: 3 });
    expect(waits).toHaveLength(3);
    expect(waits.every((w) => w >= 1_000 && w <= 30_000)).toBe(true);
    expect(got.map((k) => k.openTime)).toEqual([T0]);
  });

  it('stop() ends a back-off wait and the queued requests: every run returns and no request is sent after it', async () => {
    let calls = 0;
    let failNow: (() => void) | null = null;
    const backfill = new KlineBackfill({
      concurrency: 1,
      stats: { backfilled: 0, backfillFailures: 0 },
      log: silentLogger(),
      random: () => 0.5,
      fetchKlines: async () => {
        calls++;
        await new Promise<void>((r) => (failNow = r));
        throw new Error('HTTP 503 Service Unavailable');
      },
    });
    const delivered: Kline[] = [];
    const runs = ['A', 'B', 'C'].map((s) => backfill.run(s, T0, T0, async (k) => void delivered.push(k)));
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(1); // A in flight, B and C queued
    failNow!(); // A fails: its back-off wait (≥ 1 s, a real timer) starts; B's request goes out
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(2);
    backfill.stop();
    failNow!(); // B's answer comes after the stop: not retried
    const settled = await Promise.race([Promise.all(runs).then(() => 'returned'), new Promise((r) => setTimeout(() => r('hung'), 500))]);
    expect(settled).toBe('returned');
    expect(calls).toBe(2); // C never asked
    expect(delivered).toEqual([]);
  });
});
