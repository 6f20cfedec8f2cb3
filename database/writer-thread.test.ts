import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kline, OrderIntent } from '../src/core/types.ts';
import { PerpbotError } from '../src/core/errors.ts';
import { openDatabase } from './client.ts';
import { ThreadedRecordWriter } from './writer-thread.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-wt-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Real rows of data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv and the AVAX archive fixture,
// with fields of different lengths so that packing boundaries move around.
const base: Array<Omit<Kline, 'interval' | 'closed' | 'closeTime'>> = [
  { symbol: 'BTCUSDT', openTime: 1751760000000, open: '108153.4', high: '108167.0', low: '108153.3', close: '108167.0', volume: '20.406' },
  { symbol: 'BTCUSDT', openTime: 1751760060000, open: '108166.9', high: '108167.0', low: '108166.9', close: '108167.0', volume: '4.633' },
  {
    symbol: 'AVAXUSDT',
    openTime: 1738368000000,
    open: '34.4220',
    high: '34.4260',
    low: '34.3600',
    close: '34.3600',
    volume: '9896',
    quoteVolume: '340376.0940',
    trades: 1391,
  },
];

function klines(n: number): Kline[] {
  const out: Kline[] = [];
  for (let i = 0; i < n; i++) {
    const b = base[i % base.length]!;
    const openTime = b.openTime + Math.floor(i / base.length) * 120_000;
    out.push({ ...b, openTime, closeTime: openTime + 59_999, interval: '1m', closed: true });
  }
  return out;
}

const intent: OrderIntent = {
  clientOrderId: 'pb-test-1',
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.009',
  reduceOnly: false,
  strategyId: 'vwap-adx',
  refPrice: '108167.0',
  createdAt: 1751760060000,
};

describe('ThreadedRecordWriter', () => {
  it('writes candles across many small batches exactly as given, and write-ahead is committed on return', async () => {
    const file = join(dir, 'a.sqlite');
    openDatabase(file).close();
    const errors: string[] = [];
    const w = ThreadedRecordWriter.start(file, 'run-1', { batchRows: 7, onError: (m) => errors.push(m) });
    w.startRun({ id: 'run-1', mode: 'replay', startedAt: 1, configJson: '{}' });
    const ks = klines(100);
    for (const k of ks) w.candle(k);
    expect(w.writeIntentNow(intent)).toBe(true);
    // committed before writeIntentNow returned: another connection sees it now
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('select status, quantity from orders where client_order_id = ?').get('pb-test-1')).toEqual({ status: 'PENDING_NEW', quantity: '0.009' });
    expect(w.writeIntentNow(intent)).toBe(false);
    w.orderEvent({ type: 'OrderAccepted', ts: 2, clientOrderId: 'pb-test-1', orderId: '8389766049535966587', symbol: 'BTCUSDT' });
    w.endRun('run-1', { endedAt: 3, status: 'completed', summaryJson: '{"ok":true}' });
    const stats = await w.close();
    expect(errors).toEqual([]);
    expect(stats.candles).toBe(100);
    const rows = reader.prepare('select * from candles_1m order by symbol, open_time').all() as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(100);
    const want = [...ks].sort((a, b) => (a.symbol === b.symbol ? a.openTime - b.openTime : a.symbol < b.symbol ? -1 : 1));
    rows.forEach((r, i) => {
      const k = want[i]!;
      expect(r).toEqual({
        symbol: k.symbol,
        open_time: k.openTime,
        close_time: k.closeTime,
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
        volume: k.volume,
        quote_volume: k.quoteVolume ?? null,
        trades: k.trades ?? null,
      });
    });
    expect(reader.prepare('select order_id, status from orders').get()).toEqual({ order_id: '8389766049535966587', status: 'NEW' });
    expect(reader.prepare('select status, summary_json from runs').get()).toEqual({ status: 'completed', summary_json: '{"ok":true}' });
    reader.close();
  });

  it('throws a DATABASE error synchronously when a run id already exists', async () => {
    const file = join(dir, 'b.sqlite');
    const w = ThreadedRecordWriter.start(file, 'dup');
    w.startRun({ id: 'dup', mode: 'replay', startedAt: 1, configJson: '{}' });
    expect(() => w.startRun({ id: 'dup', mode: 'replay', startedAt: 1, configJson: '{}' })).toThrow(PerpbotError);
    expect(() => w.startRun({ id: 'dup', mode: 'replay', startedAt: 1, configJson: '{}' })).toThrow(/already exists/);
    await w.close();
  });

  it('resumes an existing run when asked (live keeps one run per account)', async () => {
    const file = join(dir, 'd.sqlite');
    const w = ThreadedRecordWriter.start(file, 'live-testnet');
    w.startRun({ id: 'live-testnet', mode: 'live', startedAt: 1, configJson: '{}' });
    w.endRun('live-testnet', { endedAt: 2, status: 'stopped', summaryJson: null });
    await w.close();
    const w2 = ThreadedRecordWriter.start(file, 'live-testnet');
    expect(() => w2.startRun({ id: 'live-testnet', mode: 'live', startedAt: 5, configJson: '{}' })).toThrow(/already exists/);
    w2.startRun({ id: 'live-testnet', mode: 'live', startedAt: 5, configJson: '{"x":1}' }, { resume: true });
    await w2.close();
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('select started_at, ended_at, status, config_json from runs').all()).toEqual([
      { started_at: 1, ended_at: null, status: 'running', config_json: '{"x":1}' },
    ]);
    reader.close();
  });

  it('drops a kline it cannot store, reporting each by field, and stores the rest exactly (edge numbers included)', async () => {
    const file = join(dir, 'e.sqlite');
    const errors: string[] = [];
    const w = ThreadedRecordWriter.start(file, 'r', { onError: (m) => errors.push(m) });
    w.startRun({ id: 'r', mode: 'replay', startedAt: 1, configJson: '{}' });
    const [k] = klines(1) as [Kline];
    w.candle({ ...k, interval: '5m' });
    w.candle({ ...k, high: '1"0' });
    w.candle({ ...k, trades: 1.5 });
    w.candle({ ...k, symbol: 'BTC\\USDT' });
    w.candle({ ...k, openTime: 0, closeTime: 59_999, trades: 0 });
    w.candle({ ...k, openTime: 9_999_960_000, closeTime: 10_000_019_999, trades: 10_000_000 });
    w.candle(k);
    await w.close();
    expect(errors).toEqual([
      'candles_1m: got a 5m kline for BTCUSDT',
      'candles_1m: a price or volume of the BTCUSDT kline at 1751760000000 is not a plain decimal string',
      'candles_1m: the BTCUSDT kline at 1751760000000 has a time or trade count that is not a whole number ≥ 0',
      'candles_1m: symbol "BTC\\\\USDT" is not plain ASCII',
    ]);
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare('select open_time, close_time, trades, high from candles_1m order by open_time').all()).toEqual([
      { open_time: 0, close_time: 59_999, trades: 0, high: k.high },
      { open_time: 9_999_960_000, close_time: 10_000_019_999, trades: 10_000_000, high: k.high },
      { open_time: k.openTime, close_time: k.closeTime, trades: null, high: k.high },
    ]);
    reader.close();
  });

  it('reports a failed batch through onError and counts it', async () => {
    const file = join(dir, 'c.sqlite');
    const errors: string[] = [];
    const w = ThreadedRecordWriter.start(file, 'r', { onError: (m) => errors.push(m) });
    w.startRun({ id: 'r', mode: 'replay', startedAt: 1, configJson: '{}' });
    const other = new Database(file);
    other.exec('DROP VIEW candles_1m; DROP TABLE candle_blocks');
    other.close();
    w.candle(klines(1)[0]!);
    w.flush();
    await w.waitForBacklog(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/writing batch 1 to .*c\.sqlite: .*candle_blocks/);
    expect(w.errorCount).toBe(1);
    await w.close();
  });
});
