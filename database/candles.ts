/**
 * Reading the stored klines (`candle_blocks`, one JSON row per symbol and UTC hour; see
 * ./schema.ts and ./candle-blocks.ts) as rows, and deleting old ones. Synchronous; the readers
 * are safe on a read-only connection. Times UTC epoch ms; prices and volumes decimal strings.
 */
import type { Db } from './client.ts';
import { blockStart } from './candle-blocks.ts';
import { CANDLE_BLOCK_MS, type CandleRow } from './schema.ts';

/** A block entry as stored: see ./candle-blocks.ts. */
type Entry = [number, number, string, string, string, string, string, string | null, number | null];

/** The rows of one block's JSON text. */
function rowsOf(symbol: string, json: string): CandleRow[] {
  return (JSON.parse(json) as Entry[]).map((e) => ({
    symbol,
    openTime: e[0],
    closeTime: e[1],
    open: e[2],
    high: e[3],
    low: e[4],
    close: e[5],
    volume: e[6],
    quoteVolume: e[7],
    trades: e[8],
  }));
}

/**
 * The klines of `symbol` whose open time is in [from, to), in open-time order. Reads only the
 * hours that overlap the range.
 */
export function readCandles(db: Db, symbol: string, from: number, to: number): CandleRow[] {
  const blocks = db.sqlite
    .prepare('SELECT candles FROM candle_blocks WHERE symbol = ? AND open_time >= ? AND open_time < ? ORDER BY open_time')
    .all(symbol, blockStart(Math.max(0, from)), to) as Array<{ candles: string }>;
  const out: CandleRow[] = [];
  for (const b of blocks) for (const r of rowsOf(symbol, b.candles)) if (r.openTime >= from && r.openTime < to) out.push(r);
  return out;
}

/** The last kline of `symbol` opening before `to` (default: any), or null. */
export function lastCandle(db: Db, symbol: string, to = Number.MAX_SAFE_INTEGER): CandleRow | null {
  const blocks = db.sqlite.prepare('SELECT candles FROM candle_blocks WHERE symbol = ? AND open_time < ? ORDER BY open_time DESC').iterate(symbol, to) as IterableIterator<{ candles: string }>;
  for (const b of blocks) {
    const rows = rowsOf(symbol, b.candles);
    for (let i = rows.length - 1; i >= 0; i--) {
      if (rows[i]!.openTime < to) {
        blocks.return?.();
        return rows[i]!;
      }
    }
  }
  return null;
}

/** Open times of the first and the last kline of `symbol`, or null when it has none. */
export function candleRange(db: Db, symbol: string): { first: number; last: number } | null {
  const edge = (order: 'ASC' | 'DESC') =>
    db.sqlite.prepare(`SELECT candles FROM candle_blocks WHERE symbol = ? AND json_array_length(candles) > 0 ORDER BY open_time ${order} LIMIT 1`).get(symbol) as { candles: string } | undefined;
  const a = edge('ASC');
  const b = edge('DESC');
  if (!a || !b) return null;
  const first = rowsOf(symbol, a.candles)[0]!;
  const lastRows = rowsOf(symbol, b.candles);
  return { first: first.openTime, last: lastRows[lastRows.length - 1]!.openTime };
}

/** Symbols with stored klines, sorted. */
export function candleSymbols(db: Db): string[] {
  return (db.sqlite.prepare('SELECT DISTINCT symbol FROM candle_blocks ORDER BY symbol').all() as Array<{ symbol: string }>).map((r) => r.symbol);
}

/** Stored klines, all symbols (O(hours stored): one length per block). */
export function countCandles(db: Db): number {
  return (db.sqlite.prepare('SELECT coalesce(sum(json_array_length(candles)), 0) AS n FROM candle_blocks').get() as { n: number }).n;
}

/**
 * Delete the klines opening before `cutoff` (UTC ms): whole hours in transactions of at most
 * `batch` blocks (so a concurrent writer is never locked out for long), then the klines before
 * `cutoff` in the hour that holds it.
 * @returns the klines deleted
 * @throws SqliteError when the database cannot be written (a batch already committed stays deleted)
 */
export function deleteCandlesBefore(db: Db, cutoff: number, batch = 100): number {
  const s = db.sqlite;
  const whole = s.prepare(
    'DELETE FROM candle_blocks WHERE rowid IN (SELECT rowid FROM candle_blocks WHERE open_time <= ? LIMIT ?) RETURNING json_array_length(candles) AS n',
  );
  let deleted = 0;
  for (;;) {
    const rows = s.transaction(() => whole.all(cutoff - CANDLE_BLOCK_MS, batch) as Array<{ n: number }>)();
    for (const r of rows) deleted += r.n;
    if (rows.length < batch) break;
  }
  const edge = blockStart(cutoff);
  if (edge === cutoff) return deleted;
  s.transaction(() => {
    const before = s.prepare('SELECT coalesce(sum(json_array_length(candles)), 0) AS n FROM candle_blocks WHERE open_time = ?').get(edge) as { n: number };
    s.prepare(
      `UPDATE candle_blocks SET candles = (SELECT json_group_array(json(value) ORDER BY value ->> 0) FROM json_each(candles) WHERE value ->> 0 >= ?)
       WHERE open_time = ?`,
    ).run(cutoff, edge);
    s.prepare(`DELETE FROM candle_blocks WHERE open_time = ? AND json_array_length(candles) = 0`).run(edge);
    const after = s.prepare('SELECT coalesce(sum(json_array_length(candles)), 0) AS n FROM candle_blocks WHERE open_time = ?').get(edge) as { n: number };
    deleted += before.n - after.n;
  })();
  return deleted;
}
