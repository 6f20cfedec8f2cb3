import { describe, expect, it } from 'vitest';
import type { Kline, OrderIntent } from '../src/core/types.ts';
import { openDatabase } from './client.ts';
import { InlineRecordWriter } from './inline-writer.ts';

// A real row of data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv.
const kline: Kline = {
  symbol: 'BTCUSDT',
  interval: '1m',
  openTime: 1751760000000,
  closeTime: 1751760059999,
  open: '108153.4',
  high: '108167.0',
  low: '108153.3',
  close: '108167.0',
  volume: '20.406',
  closed: true,
};

const intent: OrderIntent = {
  clientOrderId: 'pb-inline-1',
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.009',
  reduceOnly: false,
  strategyId: 'vwap-adx',
  refPrice: '108167.0',
  createdAt: 1751760060000,
};

const run = { id: 'run-inline', mode: 'replay' as const, startedAt: 1751760000000, configJson: '{}' };

describe('InlineRecordWriter', () => {
  it('writes on the same connection the caller reads, with no backlog, and ends the run', async () => {
    const db = openDatabase(':memory:');
    const w = new InlineRecordWriter(db, run.id);
    w.startRun(run);
    expect(w.writeIntentNow(intent)).toBe(true);
    expect(w.writeIntentNow(intent)).toBe(false);
    w.candle(kline);
    w.flush();
    expect(w.backlog).toBe(0);
    await w.waitForBacklog(0);
    expect(db.sqlite.prepare('SELECT close FROM candles_1m').all()).toEqual([{ close: '108167.0' }]);
    expect(db.sqlite.prepare('SELECT status FROM orders WHERE client_order_id = ?').get('pb-inline-1')).toEqual({ status: 'PENDING_NEW' });
    w.endRun(run.id, { endedAt: 1751760120000, status: 'completed', summaryJson: null });
    expect(db.sqlite.prepare('SELECT status FROM runs').get()).toEqual({ status: 'completed' });
    const stats = await w.close();
    expect(stats.candles).toBe(1);
    expect(w.errorCount).toBe(0);
  });

  it('reports a failed flush to the handler and counts it instead of throwing into the caller', async () => {
    const db = openDatabase(':memory:');
    const w = new InlineRecordWriter(db, run.id);
    w.startRun(run);
    w.candle(kline);
    db.sqlite.exec('DROP TABLE candle_blocks');
    expect(() => w.flush()).not.toThrow();
    expect(w.errorCount).toBe(1);
    const seen: string[] = [];
    w.setErrorHandler((m) => seen.push(m));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/:memory:.*candle_blocks/);
    w.flush();
    expect(seen).toHaveLength(2);
    db.close();
  });
});
