/**
 * Kline retention on a real SQLite file (WAL, the project's migrations) holding the bundled
 * real BTCUSDT and ETHUSDT klines (inserted through the `candles_1m` view): the pass deletes
 * exactly the klines older than the cutoff, keeps the rest and every other table, and the
 * node-cron job really runs it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { readKlineCsv } from '../market/kline-csv.ts';
import { openDatabase, type Db } from '../../database/client.ts';
import { pruneCandles, startCandleRetention, type PruneResult } from './candle-retention.ts';

const DAY = 86_400_000;
const BTC = readKlineCsv(projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'), 'BTCUSDT').klines;
const ETH = readKlineCsv(projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv'), 'ETHUSDT').klines;

let dir: string;
let db: Db;

function fill(): void {
  const ins = db.sqlite.prepare('INSERT OR IGNORE INTO candles_1m (symbol, open_time, close_time, open, high, low, close, volume) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.sqlite.transaction(() => {
    for (const k of [...BTC, ...ETH]) ins.run(k.symbol, k.openTime, k.closeTime, k.open, k.high, k.low, k.close, k.volume);
  })();
}
const count = (where = '1=1', ...args: unknown[]) => (db.sqlite.prepare(`SELECT count(*) n FROM candles_1m WHERE ${where}`).get(...args) as { n: number }).n;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-retention-'));
  db = openDatabase(join(dir, 'perpbot.sqlite'));
  db.sqlite.prepare("INSERT INTO runs (id, mode, started_at, status, config_json) VALUES ('live-x', 'live', 1, 'running', '{}')").run();
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('candles_1m retention', () => {
  it('deletes exactly the rows older than the cutoff, in batches, and nothing else', () => {
    fill();
    expect(count()).toBe(33_134);
    const last = BTC[BTC.length - 1]?.openTime as number;
    const now = last + 2 * DAY; // keep 5 days → cutoff = last − 3 days
    const cutoff = now - 5 * DAY;
    const older = count('open_time < ?', cutoff);
    expect(older).toBeGreaterThan(20_000);
    const r = pruneCandles(db, 5, now, 10); // small batches (10 hours): many transactions
    expect(r).toEqual({ deleted: older, cutoff });
    expect(count()).toBe(33_134 - older);
    expect(count('open_time < ?', cutoff)).toBe(0);
    // The newest candle of each symbol is still there, values unchanged.
    const k = ETH[ETH.length - 1];
    expect(db.sqlite.prepare('SELECT close FROM candles_1m WHERE symbol = ? AND open_time = ?').get('ETHUSDT', k?.openTime)).toEqual({ close: k?.close });
    expect(db.sqlite.prepare('SELECT count(*) n FROM runs').get()).toEqual({ n: 1 });
    // A second pass finds nothing more.
    expect(pruneCandles(db, 5, now).deleted).toBe(0);
  });

  it('refuses a retention of 0 or a fraction of a day', () => {
    expect(() => pruneCandles(db, 0, Date.now())).toThrow(/retention.candles1mDays/);
    expect(() => startCandleRetention('not cron', { db, days: 30, now: Date.now, log: pino({ level: 'silent' }) })).toThrow(/retention.cron/);
  });

  it('the node-cron job runs the pass on its schedule', async () => {
    fill();
    const now = (ETH[ETH.length - 1]?.openTime as number) + DAY;
    const passes: PruneResult[] = [];
    // Six fields: every second.
    const task = startCandleRetention('* * * * * *', { db, days: 1, now: () => now, log: pino({ level: 'silent' }), onPruned: (r) => passes.push(r) });
    try {
      const until = Date.now() + 5_000;
      while (passes.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await task.destroy();
    }
    expect(passes.length).toBeGreaterThan(0);
    expect(passes[0]?.cutoff).toBe(now - DAY);
    expect(passes[0]?.deleted).toBeGreaterThan(30_000);
    expect(count('open_time < ?', now - DAY)).toBe(0);
  });
});
