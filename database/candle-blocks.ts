/**
 * Closed 1-minute klines as hourly blocks (`candle_blocks`, see ./schema.ts): the JSON form of a
 * kline, the buffer of blocks a {@link ./writer.ts RecordWriter} flushes, and the statements that
 * store a block once per (symbol, hour) whatever arrives twice or out of order.
 *
 * A block is a JSON array of klines `[openTime, closeTime, "open", "high", "low", "close",
 * "volume", "quoteVolume" | null, trades | null]` (times UTC ms; prices in quote asset and
 * volumes as decimal strings), sorted by open time, one entry per open time.
 */
import type Database from 'better-sqlite3';
import { CANDLE_BLOCK_MS, type CandleRow } from './schema.ts';

/** The hour (UTC ms, a multiple of {@link CANDLE_BLOCK_MS}) whose block holds a kline opening at `openTime`. */
export function blockStart(openTime: number): number {
  return openTime - (openTime % CANDLE_BLOCK_MS);
}

/**
 * True when `s` may stand between the quotes of a block's JSON as it is: printable ASCII without
 * `"` or `\`. Every decimal string qualifies; anything else is refused before it is buffered, so
 * a block is always valid JSON.
 */
export function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** A kline's values as the writer takes them: a stored row without its symbol (see CandleRow). */
export type CandleValues = Omit<CandleRow, 'symbol'>;

/** One kline as a block entry (JSON text). Strings must pass {@link isPlainAscii}. */
export function candleJson(c: CandleValues): string {
  const qv = c.quoteVolume === null ? 'null' : `"${c.quoteVolume}"`;
  return `[${c.openTime},${c.closeTime},"${c.open}","${c.high}","${c.low}","${c.close}","${c.volume}",${qv},${c.trades ?? 'null'}]`;
}

/** A block waiting for the flush: its JSON text, or the entries to join. */
interface PendingBlock {
  symbol: string;
  start: number;
  /** The whole block (JSON array text; a Buffer when it came packed from the writer thread's caller). */
  text: string | Buffer | null;
  /** Entries given one by one (JSON texts), when `text` is null. */
  entries: string[];
  /** Entries in the block. */
  count: number;
  /** Open times strictly increasing (else the block is sorted and de-duplicated as it is stored). */
  ordered: boolean;
  lastOpen: number;
}

// The merge keeps a kline already stored (s = 0) over a new one of the same open time (s = 1),
// and sorts by open time: a bare column beside min() takes the row of the minimum (SQLite).
const MERGE = `(SELECT json_group_array(json(v) ORDER BY t) FROM (SELECT v, t, min(s) FROM (
      SELECT value AS v, value ->> 0 AS t, 0 AS s FROM json_each(candle_blocks.candles)
      UNION ALL SELECT value, value ->> 0, 1 FROM json_each(CAST(? AS TEXT))) GROUP BY t))`;

/** The statements of {@link CandleBlockBuffer.write}, prepared once per connection. */
export interface CandleBlockStatements {
  insert: Database.Statement;
  length: Database.Statement;
  merge: Database.Statement;
}

/** Prepare the statements of {@link CandleBlockBuffer.write} on `sqlite`. @throws SqliteError when the schema lacks `candle_blocks` */
export function prepareCandleBlockStatements(sqlite: Database.Database): CandleBlockStatements {
  return {
    // CAST: a Buffer binds as a BLOB, which SQLite's JSON functions would read as JSONB.
    insert: sqlite.prepare('INSERT INTO candle_blocks (symbol, open_time, candles) VALUES (?, ?, CAST(? AS TEXT)) ON CONFLICT (symbol, open_time) DO NOTHING'),
    length: sqlite.prepare('SELECT json_array_length(candles) AS n FROM candle_blocks WHERE symbol = ? AND open_time = ?'),
    // parameters: the block's JSON text, symbol, hour
    merge: sqlite.prepare(`UPDATE candle_blocks SET candles = ${MERGE} WHERE symbol = ? AND open_time = ? RETURNING json_array_length(candles) AS n`),
  };
}

/**
 * The klines buffered by a writer, as blocks. Not thread-safe; one per writer.
 */
export class CandleBlockBuffer {
  private pending: PendingBlock[] = [];
  /** The block being filled one entry at a time, per symbol. */
  private open = new Map<string, PendingBlock>();
  /** Klines buffered. */
  count = 0;

  /** Buffer one kline of `symbol` (its strings checked by the caller with {@link isPlainAscii}). */
  add(symbol: string, c: CandleValues): void {
    const start = blockStart(c.openTime);
    let b = this.open.get(symbol);
    if (b === undefined || b.start !== start) {
      b = { symbol, start, text: null, entries: [], count: 0, ordered: true, lastOpen: -Infinity };
      this.open.set(symbol, b);
      this.pending.push(b);
    }
    if (c.openTime <= b.lastOpen) b.ordered = false;
    b.lastOpen = c.openTime;
    b.entries.push(candleJson(c));
    b.count++;
    this.count++;
  }

  /**
   * Buffer a whole block: `text` is a JSON array of `count` entries of the hour `start`
   * (ASCII bytes or a string); `ordered` when their open times strictly increase.
   */
  addBlock(symbol: string, start: number, text: string | Buffer, count: number, ordered: boolean): void {
    this.pending.push({ symbol, start, text, entries: [], count, ordered, lastOpen: -Infinity });
    this.open.delete(symbol);
    this.count += count;
  }

  /**
   * Store every buffered block (inside the caller's transaction). A new hour is one INSERT; an
   * hour already stored, or a block out of order, is merged in SQL.
   * @returns the klines newly stored (a kline already stored counts 0)
   * @throws SqliteError from the statements (the caller's transaction rolls back; the buffer is
   *   kept until {@link clear})
   */
  write(st: CandleBlockStatements): number {
    let stored = 0;
    for (const b of this.pending) {
      const text = b.text ?? `[${b.entries.join(',')}]`;
      if (b.ordered && st.insert.run(b.symbol, b.start, text).changes === 1) {
        stored += b.count;
        continue;
      }
      if (!b.ordered) st.insert.run(b.symbol, b.start, '[]');
      const before = (st.length.get(b.symbol, b.start) as { n: number }).n;
      const after = (st.merge.get(text, b.symbol, b.start) as { n: number }).n;
      stored += after - before;
    }
    return stored;
  }

  /** Forget what is buffered (after a committed {@link write}). */
  clear(): void {
    this.pending = [];
    this.open.clear();
    this.count = 0;
  }
}
