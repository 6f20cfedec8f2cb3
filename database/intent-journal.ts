/**
 * The write-ahead journal of live order intents: one JSON line per intent, appended with one
 * `write(2)` on the bot's thread before the order leaves, in a file beside the database
 * (`<db>-intents`). The database learns of the intent a moment later, through the recorder
 * (`OrderSubmitted`, in bus order with the order's other events), and at every start the journal
 * is replayed into the database before anything else reads it.
 *
 * Why a journal and not a SQLite commit on the order path: a commit goes through the writer
 * thread (a message each way, behind any batch it is committing, and now and then a WAL
 * checkpoint with its fsync), which put 4–7 ms at p99 between a closed kline and its order. A
 * `write(2)` of ~400 bytes takes ~10 µs.
 *
 * Durability, decided:
 * - **Process crash (kill -9, OOM, a bug): nothing is lost.** Once `write(2)` returns, the line is
 *   in the operating system's page cache, which outlives the process. The order is sent only
 *   after that.
 * - **Power loss or kernel panic: the last seconds of lines may be lost**, unless
 *   `live.fsyncIntents` is on (one `fdatasync` per order: ~0.1 ms on a local NVMe disk, several
 *   ms on network block storage). Off by default, because the exchange keeps perpbot's client
 *   order ids, which are deterministic (`pb-` + the signal id): start-up reconciliation finds any
 *   order the database lacks among the exchange's open orders and trades, and adopts it
 *   (executor/reconcile.ts). A lost intent costs its strategy and signal labels, not the order.
 *
 * A line torn by a crash in the middle of `write(2)` belongs to an order that was never sent; it
 * is skipped with a warning at replay. Rotation: past {@link ROTATE_BYTES} the file is renamed to
 * `<db>-intents.1` and a new one started; the old file is deleted once every intent in it is
 * found in the database.
 */
import { closeSync, existsSync, fdatasyncSync, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { PerpbotError, errorMessage } from '../src/core/errors.ts';
import type { OrderIntent } from '../src/core/types.ts';
import type { Db } from './client.ts';
import { RecordWriter } from './writer.ts';

/** The journal file of a database file. */
export function intentJournalFile(dbFile: string): string {
  return `${dbFile}-intents`;
}

/** Size past which the journal is rotated, bytes (~2,500 intents). */
export const ROTATE_BYTES = 1024 * 1024;

/**
 * How far back the duplicate check looks, ms: client order ids of the run's orders created in the
 * last day are loaded at open. A signal is re-emitted after a restart only for a recent kline (an
 * older one is refused as stale before its order is built), so a day is ample.
 */
export const DUPLICATE_WINDOW_MS = 86_400_000;

/** One journal line. */
interface Line {
  /** The run the intent belongs to (the live account's run). */
  runId: string;
  intent: OrderIntent;
}

const EXISTS_SQL = 'SELECT 1 FROM orders WHERE run_id = ? AND client_order_id = ?';

/**
 * Insert every intent of the journal (and of its rotated predecessor) into the database, then
 * empty the journal. Run at start, before the writer thread and before reconciliation, on the
 * process's own connection. Idempotent: an intent already in the database is left as it is.
 * @param dbFile the database file (the journal is {@link intentJournalFile} of it)
 * @returns the number of intents inserted (0 when there was no journal)
 * @throws PerpbotError DATABASE when an intent cannot be inserted (the journal is then kept)
 */
export function replayIntentJournal(dbFile: string, db: Db, log: Logger): number {
  const file = intentJournalFile(dbFile);
  let inserted = 0;
  for (const f of [`${file}.1`, file]) {
    if (!existsSync(f)) continue;
    const lines = readFileSync(f, 'utf8').split('\n');
    const writers = new Map<string, RecordWriter>();
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i] as string;
      if (text === '') continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
        if (typeof line.runId !== 'string' || typeof line.intent?.clientOrderId !== 'string') throw new Error('expected {"runId", "intent"}');
      } catch (err) {
        // Only the last line can be torn (a crash during its write): its order was never sent.
        log.warn({ file: f, line: i + 1 }, `intent journal: unreadable line skipped (${errorMessage(err)})`);
        continue;
      }
      let w = writers.get(line.runId);
      if (!w) {
        writers.set(line.runId, (w = new RecordWriter(db, line.runId)));
        w.ensureRun({ id: line.runId, mode: 'live', startedAt: line.intent.createdAt, configJson: '{}' }); // exists unless deleted since
      }
      if (w.writeIntentNow(line.intent)) inserted++;
    }
    unlinkSync(f);
  }
  if (inserted > 0) log.warn({ inserted, file }, 'intent journal: order intents the database did not have yet were recorded from the journal (the bot stopped before recording them)');
  return inserted;
}

/** Options of {@link IntentJournal.open}. */
export interface IntentJournalOptions {
  /** The run every appended intent belongs to. */
  runId: string;
  /** The process's connection, for the ids already written and the rotation check (reads only). */
  db: Db;
  /** fdatasync after each append: survives a power loss, costs a disk flush per order. */
  fsync?: boolean;
  /** Rotation threshold, bytes. Default {@link ROTATE_BYTES}. */
  rotateBytes?: number;
  /** Wall clock, ms (tests). */
  now?: () => number;
}

/**
 * The journal of one live run. {@link append} is the executor's write-ahead (`recordIntent`).
 * Not thread-safe; one per process and database.
 */
export class IntentJournal {
  private fd: number;
  private size: number;
  /**
   * Client order ids written ahead: the run's orders of the last {@link DUPLICATE_WINDOW_MS}
   * from the database at open, then every id appended, with its creation time (pruned past the
   * window). The order path asks this map, never the database.
   */
  private readonly known = new Map<string, number>();
  /** Ids in the rotated file, until all are found in the database. */
  private rotated: string[] | null = null;
  private readonly exists: { get(runId: string, id: string): unknown };
  /** Counters for the heartbeat and tests. */
  readonly stats = { appended: 0, duplicates: 0, rotations: 0 };

  private constructor(
    private readonly file: string,
    private readonly o: IntentJournalOptions,
  ) {
    this.fd = openSync(file, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    this.exists = o.db.sqlite.prepare(EXISTS_SQL);
    const since = (o.now ?? Date.now)() - DUPLICATE_WINDOW_MS;
    const rows = o.db.sqlite.prepare("SELECT client_order_id id, created_at t FROM orders WHERE run_id = ? AND created_at >= ? AND status <> 'DENIED' ORDER BY created_at").all(o.runId, since) as Array<{ id: string; t: number }>;
    for (const r of rows) this.known.set(r.id, r.t);
  }

  /**
   * Open (create) the journal of `dbFile` for appending. Call {@link replayIntentJournal} first.
   * @throws Error when the file cannot be opened
   */
  static open(dbFile: string, o: IntentJournalOptions): IntentJournal {
    return new IntentJournal(intentJournalFile(dbFile), o);
  }

  /**
   * Write an intent ahead of its order: appended (and flushed to the OS) before this returns.
   * @returns true when appended; false when this client order id was written before (in this
   *   process, or by an earlier one within {@link DUPLICATE_WINDOW_MS}): the order must not be sent again
   * @throws PerpbotError DATABASE when the line could not be written (the order must not be sent)
   */
  append(intent: OrderIntent): boolean {
    const id = intent.clientOrderId;
    if (this.known.has(id)) {
      this.stats.duplicates++;
      return false;
    }
    const bytes = Buffer.from(`${JSON.stringify({ runId: this.o.runId, intent } satisfies Line)}\n`, 'utf8');
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
      if (this.o.fsync) fdatasyncSync(this.fd);
    } catch (err) {
      throw new PerpbotError('DATABASE', `cannot write order ${id} ahead to ${this.file}: ${errorMessage(err)}`, true, { file: this.file });
    }
    this.size += bytes.length;
    this.stats.appended++;
    this.known.set(id, intent.createdAt);
    return true;
  }

  /**
   * Housekeeping, called every second or so: rotate a large journal; delete the rotated one once
   * every intent in it is in the database. Never throws (failures are logged; the file stays).
   */
  maintain(log: Logger): void {
    const horizon = (this.o.now ?? Date.now)() - DUPLICATE_WINDOW_MS;
    for (const [k, t] of this.known) {
      if (t >= horizon) break; // insertion order ≈ creation order: the rest are newer
      this.known.delete(k);
    }
    try {
      if (this.rotated !== null) {
        if (this.rotated.every((id) => this.exists.get(this.o.runId, id) !== undefined)) {
          unlinkSync(`${this.file}.1`);
          this.rotated = null;
        }
        return;
      }
      if (this.size < (this.o.rotateBytes ?? ROTATE_BYTES) || existsSync(`${this.file}.1`)) return;
      closeSync(this.fd);
      renameSync(this.file, `${this.file}.1`);
      this.fd = openSync(this.file, 'a', 0o600);
      this.size = 0;
      this.stats.rotations++;
      this.rotated = readFileSync(`${this.file}.1`, 'utf8')
        .split('\n')
        .flatMap((l) => {
          try {
            return [(JSON.parse(l) as Line).intent.clientOrderId];
          } catch {
            return []; // a torn line: its order was never sent
          }
        });
    } catch (err) {
      log.error({ err, file: this.file }, 'intent journal housekeeping failed (the journal keeps growing; replayed at the next start)');
    }
  }

  /** Close the file (its lines are replayed at the next start, which then empties it). */
  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
