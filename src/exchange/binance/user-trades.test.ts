import { describe, expect, it } from 'vitest';
import { readUserTrades } from './user-trades.ts';

const DAY = 86_400_000;
const START = 1_751_760_000_000;

/** A fake GET /fapi/v1/userTrades with Binance's rules: a window of ≤ 7 days, or from an id; ≤ limit rows, oldest first. */
function exchange(times: number[]) {
  const rows = times.map((time, i) => ({
    symbol: 'BTCUSDT', id: String(8_000_000_000 + i), orderId: String(9_000 + (i % 7)), side: 'BUY', price: '100.5', qty: '0.001',
    realizedPnl: '0', commission: '0.01', commissionAsset: 'USDT', time, maker: false,
  }));
  const calls: Array<Record<string, unknown>> = [];
  const getAccountTrades = async (p: { symbol: string; startTime?: number; endTime?: number; fromId?: string; limit?: number }) => {
    calls.push(p);
    if (p.startTime !== undefined && p.endTime !== undefined && p.endTime - p.startTime > 7 * DAY) throw new Error('window longer than 7 days');
    const picked = p.fromId !== undefined ? rows.filter((r) => BigInt(r.id) >= BigInt(p.fromId!)) : rows.filter((r) => r.time >= p.startTime! && r.time <= p.endTime!);
    return picked.slice(0, p.limit ?? 500);
  };
  return { rows, calls, getAccountTrades };
}

describe('readUserTrades', () => {
  it('walks the span in windows of at most 7 days and pages of 1,000, returning every trade once, oldest first', async () => {
    // 2,500 trades in the first hours (three pages), then some on days 9 and 17
    const times = [...Array.from({ length: 2_500 }, (_, i) => START + i * 1_000), START + 9 * DAY, START + 9 * DAY + 1, START + 17 * DAY];
    const ex = exchange(times);
    let throttled = 0;
    const fills = await readUserTrades(
      { rest: { getAccountTrades: ex.getAccountTrades }, now: () => START + 18 * DAY, throttle: () => (throttled++, null) },
      'BTCUSDT',
      START,
      (orderId) => (orderId === '9000' ? 'pb-abc' : undefined),
    );
    expect(fills.map((f) => f.tradeId)).toEqual(ex.rows.map((r) => r.id));
    expect(fills[0]).toMatchObject({ clientOrderId: 'pb-abc', price: '100.5', quantity: '0.001' });
    expect(fills[1]!.clientOrderId).toBe('');
    // window 1: three pages (the 2nd and 3rd by fromId); then windows 2 and 3 (one page each), up to a day past now
    expect(ex.calls.filter((c) => c.fromId !== undefined).map((c) => c.fromId)).toEqual(['8000001000', '8000002000']);
    expect(ex.calls.filter((c) => c.startTime !== undefined).map((c) => (c.startTime as number) - START)).toEqual([0, 7 * DAY, 14 * DAY]);
    expect(throttled).toBe(ex.calls.length);
  });
});
