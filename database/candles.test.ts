/**
 * Stored klines as hourly blocks: the readers of database/candles.ts, the deletion of old klines,
 * the `candles_1m` view and its INSERT trigger, and the migration of a `candles_1m` table of an
 * older database into blocks. Real SQLite files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { openDatabase, type Db } from './client.ts';
import { candleRange, candleSymbols, countCandles, deleteCandlesBefore, lastCandle, readCandles } from './candles.ts';

const HOUR = 3_600_000;
const T0 = 1_751_760_000_000; // 2025-07-06 00:00 UTC, an hour boundary
let dir: string;
let db: Db;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'perpbot-candles-'));
  db = openDatabase(path.join(dir, 'perpbot.db'));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Insert klines through the view (its trigger merges each into its hour's block). */
function insert(symbol: string, minutes: number[], close = (m: number) => `${100 + m}.5`): void {
  const ins = db.sqlite.prepare('INSERT INTO candles_1m (symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  for (const m of minutes) ins.run(symbol, T0 + m * 60_000, T0 + m * 60_000 + 59_999, '100.0', '101.0', '99.0', close(m), '2.5', null, m);
}

describe('stored klines', () => {
  it('the view takes INSERTs: one block per hour, sorted, the first copy of a kline kept', () => {
    insert('BTCUSDT', [61, 3, 59, 60, 3]);
    insert('BTCUSDT', [3], () => '1.0');
    const blocks = db.sqlite.prepare('SELECT open_time AS t, candles FROM candle_blocks ORDER BY open_time').all() as Array<{ t: number; candles: string }>;
    expect(blocks.map((b) => b.t)).toEqual([T0, T0 + HOUR]);
    expect(JSON.parse(blocks[0]!.candles).map((e: number[]) => (e[0]! - T0) / 60_000)).toEqual([3, 59]);
    expect(JSON.parse(blocks[0]!.candles)[0]).toEqual([T0 + 3 * 60_000, T0 + 3 * 60_000 + 59_999, '100.0', '101.0', '99.0', '103.5', '2.5', null, 3]);
    expect(countCandles(db)).toBe(4);
  });

  it('reads the klines of a range across hours, the last one before a time, the range and the symbols', () => {
    insert('BTCUSDT', [0, 1, 59, 60, 61, 130]);
    insert('ETHUSDT', [5]);
    expect(readCandles(db, 'BTCUSDT', T0 + 59 * 60_000, T0 + 130 * 60_000).map((r) => (r.openTime - T0) / 60_000)).toEqual([59, 60, 61]);
    expect(readCandles(db, 'BTCUSDT', T0 + 1, T0 + 2 * 60_000).map((r) => r.close)).toEqual(['101.5']);
    expect(readCandles(db, 'BTCUSDT', 0, T0)).toEqual([]);
    const row = readCandles(db, 'ETHUSDT', 0, Number.MAX_SAFE_INTEGER)[0];
    expect(row).toEqual({ symbol: 'ETHUSDT', openTime: T0 + 5 * 60_000, closeTime: T0 + 5 * 60_000 + 59_999, open: '100.0', high: '101.0', low: '99.0', close: '105.5', volume: '2.5', quoteVolume: null, trades: 5 });
    expect(lastCandle(db, 'BTCUSDT')?.openTime).toBe(T0 + 130 * 60_000);
    expect(lastCandle(db, 'BTCUSDT', T0 + 61 * 60_000)?.openTime).toBe(T0 + 60 * 60_000);
    expect(lastCandle(db, 'BTCUSDT', T0 + 60 * 60_000)?.openTime).toBe(T0 + 59 * 60_000); // in the hour before
    expect(lastCandle(db, 'BTCUSDT', T0)).toBeNull();
    expect(lastCandle(db, 'SOLUSDT')).toBeNull();
    expect(candleRange(db, 'BTCUSDT')).toEqual({ first: T0, last: T0 + 130 * 60_000 });
    expect(candleRange(db, 'SOLUSDT')).toBeNull();
    expect(candleSymbols(db)).toEqual(['BTCUSDT', 'ETHUSDT']);
  });

  it('deletes the klines before a cut-off: whole hours in batches, then the older part of the hour that holds it', () => {
    insert('BTCUSDT', Array.from({ length: 300 }, (_, m) => m)); // 5 hours
    insert('ETHUSDT', [10, 130]);
    const cutoff = T0 + 130 * 60_000; // inside the third hour
    expect(deleteCandlesBefore(db, cutoff, 1)).toBe(130 + 1); // BTC minutes 0–129, ETH minute 10
    expect(readCandles(db, 'BTCUSDT', 0, Number.MAX_SAFE_INTEGER)[0]?.openTime).toBe(T0 + 130 * 60_000);
    expect(readCandles(db, 'ETHUSDT', 0, Number.MAX_SAFE_INTEGER).map((r) => r.openTime)).toEqual([T0 + 130 * 60_000]);
    expect(countCandles(db)).toBe(170 + 1);
    expect(deleteCandlesBefore(db, T0 + 240 * 60_000)).toBe(110 + 1); // on an hour boundary: whole hours only
    expect(db.sqlite.prepare('SELECT count(*) AS n FROM candle_blocks').get()).toEqual({ n: 1 });
    expect(deleteCandlesBefore(db, T0 + 240 * 60_000)).toBe(0);
  });
});

describe('migration 0002: candles_1m rows into blocks', () => {
  it('moves every row of an older database into its block, values exact, and leaves the view in its place', () => {
    // An older database: only the migrations before 0002, from a copy of the folder.
    const old = path.join(dir, 'migrations');
    fs.mkdirSync(path.join(old, 'meta'), { recursive: true });
    const src = projectPath('database', 'migrations');
    const journal = JSON.parse(fs.readFileSync(path.join(src, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ idx: number; tag: string }> };
    journal.entries = journal.entries.filter((e) => e.idx < 2);
    fs.writeFileSync(path.join(old, 'meta', '_journal.json'), JSON.stringify(journal));
    for (const e of journal.entries) fs.copyFileSync(path.join(src, `${e.tag}.sql`), path.join(old, `${e.tag}.sql`));
    const file = path.join(dir, 'old.db');
    const sqlite = new Database(file);
    migrate(drizzle(sqlite), { migrationsFolder: old });
    const ins = sqlite.prepare('INSERT INTO candles_1m (symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run('BTCUSDT', T0 + 61 * 60_000, T0 + 61 * 60_000 + 59_999, '108153.4', '108160.0', '108100.1', '108150.0', '12.345', '1335000.5', 321);
    ins.run('BTCUSDT', T0, T0 + 59_999, '1.0', '2.0', '0.5', '1.5', '3', null, null);
    ins.run('BTCUSDT', T0 + 60 * 60_000, T0 + 60 * 60_000 + 59_999, '1.1', '2.1', '0.6', '1.6', '4', '5.0', 7);
    const before = sqlite.prepare('SELECT * FROM candles_1m ORDER BY symbol, open_time').all();
    sqlite.close();

    const migrated = openDatabase(file);
    try {
      expect(migrated.sqlite.prepare(`SELECT type FROM sqlite_master WHERE name = 'candles_1m'`).get()).toEqual({ type: 'view' });
      expect(migrated.sqlite.prepare('SELECT * FROM candles_1m ORDER BY symbol, open_time').all()).toEqual(before);
      expect(migrated.sqlite.prepare('SELECT open_time AS t, json_array_length(candles) AS n FROM candle_blocks ORDER BY open_time').all()).toEqual([
        { t: T0, n: 1 },
        { t: T0 + HOUR, n: 2 },
      ]);
    } finally {
      migrated.close();
    }
  });
});
