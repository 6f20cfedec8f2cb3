/**
 * The RecordWriter: the one place that writes run history (runs, candles, signals, orders,
 * fills, positions, risk events). Built for throughput: everything but the run rows and the
 * write-ahead intent is buffered in memory and written in one transaction per flush, through
 * prepared better-sqlite3 statements (drizzle owns the schema, migrations and read queries;
 * the hot insert path uses raw prepared statements).
 *
 * Durability model:
 * - `writeIntentNow` commits before it returns: the executor calls it before an order leaves.
 * - Everything else is durable once `flush()` returns. The writer owns no timer: in paper/live
 *   mode the kernel calls `flush()` on an interval (e.g. every second) and at shutdown, in
 *   replay at the end of the data (and the batch size flushes along the way).
 * - With `synchronous = NORMAL` in WAL mode a commit survives a process crash; a power loss may
 *   lose the last commits, except write-ahead intents when `syncIntents` is on (see options).
 */
import type Database from 'better-sqlite3';
import { InvariantError, PerpbotError, errorMessage } from '../src/core/errors.ts';
import type { Kline, Mode, OrderEvent, OrderIntent, PositionChanged, SignalEmitted, TradingStateChanged } from '../src/core/types.ts';
import type { Db } from './client.ts';
import { redactJson, requireDecimal, validateFill, validateIntent } from './record-checks.ts';
import { applyEvent, orderParams, type BufferedEvent, type Delta, type WriterStatements } from './writer-events.ts';
import { CandleBlockBuffer, isPlainAscii, prepareCandleBlockStatements, type CandleBlockStatements, type CandleValues } from './candle-blocks.ts';
import { SQL } from './writer-sql.ts';

/** Default number of buffered records that triggers an automatic flush. */
export const DEFAULT_BATCH_SIZE = 5000;


/** Options of {@link RecordWriter}. */
export interface RecordWriterOptions {
  /**
   * Number of buffered records (candles + signals + order/position/risk events) that triggers
   * an automatic flush from the method that buffered the last one. Integer ≥ 1; default 5000.
   */
  batchSize?: number;
  /**
   * Make each {@link RecordWriter.writeIntentNow} commit survive a power loss (the commit runs
   * with `synchronous = FULL`, one fsync of the WAL, ~ms on the order path). Default off: a
   * process crash (kill -9) never loses a committed WAL transaction, and after a power loss the
   * start-up reconciliation adopts any order with perpbot's client-order-id prefix the exchange
   * has, so the fsync would buy milliseconds of latency per order and little safety.
   */
  syncIntents?: boolean;
}

/** The `runs` row written by {@link RecordWriter.startRun}. */
export interface RunStart {
  /** Run id (text, unique). */
  id: string;
  mode: Mode;
  /** UTC epoch ms. */
  startedAt: number;
  /**
   * The sanitized configuration as JSON text. Defence in depth: string values under keys that
   * look secret (secret, password, passphrase, token, apiKey, privateKey, webhook…) are replaced
   * by `"[redacted]"` before storage.
   */
  configJson: string;
}

/** What {@link RecordWriter.endRun} writes on the `runs` row. */
export interface RunEnd {
  /** UTC epoch ms. */
  endedAt: number;
  /** Final status, e.g. `completed`, `failed`, `aborted`. */
  status: string;
  /** End-of-run summary as JSON text (redacted like `configJson`), or null. */
  summaryJson: string | null;
}

/** Counters of a {@link RecordWriter} since it was created; rows count only committed inserts. */
export interface WriterStats {
  /** Candle rows inserted (duplicates ignored by the primary key are not counted). */
  candles: number;
  /** Signal rows inserted (a repeated signal id is not counted). */
  signals: number;
  /** Order rows created (OrderSubmitted, OrderDenied, writeIntentNow). */
  orders: number;
  /** Fill rows inserted (a re-recorded fill is not counted). */
  fills: number;
  /** Successful flushes that had something to write. */
  flushes: number;
  /** Duration of the last successful flush, ms (wall time of the transaction). */
  lastFlushMs: number;
  /** Records buffered and not yet written. */
  pending: number;
  /** Order events (accepted/rejected/filled/canceled/expired) that matched no order row. */
  orphans: number;
}

/**
 * Writes one run's history. Not thread-safe (nothing in Node is shared across threads here);
 * one writer per run and connection.
 *
 * Buffered methods ({@link candle}, {@link signal}, {@link orderEvent}, {@link position},
 * {@link riskEvent}) return at once; when the buffer reaches `batchSize` they flush, and a flush
 * failure surfaces as a thrown PerpbotError from that call. Order, position and risk events are
 * applied in arrival order. A failed flush rolls back and keeps the buffer (nothing is lost);
 * the next automatic attempt waits for another `batchSize` records, `flush()` retries at once.
 */
export class RecordWriter {
  /** The run id every run-scoped row gets. */
  readonly runId: string;
  private readonly sqlite: Database.Database;
  private readonly file: string;
  private readonly batchSize: number;
  private readonly syncIntents: boolean;

  private readonly candles = new CandleBlockBuffer();
  private signalBuf: SignalEmitted[] = [];
  private eventBuf: BufferedEvent[] = [];
  private flushAt: number;

  private readonly stmt: { candles: CandleBlockStatements } & WriterStatements;
  private readonly flushTx: Database.Transaction<(delta: Delta) => void>;

  private readonly counters: WriterStats = {
    candles: 0,
    signals: 0,
    orders: 0,
    fills: 0,
    flushes: 0,
    lastFlushMs: 0,
    pending: 0,
    orphans: 0,
  };

  /**
   * @param db an open, migrated database (see openDatabase); not read-only
   * @param runId the run every run-scoped row belongs to; a `runs` row with this id must exist
   *   (call {@link startRun}) before signals, orders, fills, positions or risk events are flushed
   *   (foreign key), candles need none
   * @param opts see {@link RecordWriterOptions}
   * @throws RangeError when `batchSize` is not an integer ≥ 1
   * @throws PerpbotError `DATABASE` when the statements cannot be prepared (schema missing)
   */
  constructor(db: Db, runId: string, opts: RecordWriterOptions = {}) {
    const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize: got ${batchSize}, expected an integer >= 1`);
    this.runId = runId;
    this.sqlite = db.sqlite;
    this.file = db.file;
    this.batchSize = batchSize;
    this.flushAt = batchSize;
    this.syncIntents = opts.syncIntents ?? false;
    try {
      const prepared = Object.fromEntries(
        Object.entries(SQL).map(([key, text]) => [key, this.sqlite.prepare(text)]),
      ) as WriterStatements;
      this.stmt = {
        ...prepared,
        candles: prepareCandleBlockStatements(this.sqlite),
      };
    } catch (err) {
      throw this.dbError('cannot prepare statements', err);
    }
    this.flushTx = this.sqlite.transaction((delta: Delta) => this.applyBuffers(delta));
  }

  // ---------------------------------------------------------------- runs

  /**
   * Insert the `runs` row (status `running`), committed at once. The configuration is redacted
   * (see {@link RunStart.configJson}).
   * @throws InvariantError when `configJson` is not valid JSON
   * @param opts `resume`: continue the run if it exists (live and paper keep one run per account,
   *   so a restart continues its history); its `started_at` is kept
   * @throws PerpbotError `DATABASE` when the run id already exists (without `resume`) or the write fails
   */
  startRun(run: RunStart, opts: { resume?: boolean } = {}): void {
    const configJson = redactJson(run.configJson, 'configJson');
    try {
      (opts.resume ? this.stmt.resumeRun : this.stmt.insertRun).run({ id: run.id, mode: run.mode, startedAt: run.startedAt, configJson });
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new PerpbotError('DATABASE', `run ${run.id} already exists in ${this.file}`, false, { runId: run.id, file: this.file });
      }
      throw this.dbError(`cannot start run ${run.id}`, err);
    }
  }

  /**
   * Make sure the `runs` row exists without changing it: one-shot tools (`perpbot recover`,
   * `perpbot flatten`) record into the account's run and leave its status, end time and
   * configuration as they found them. A missing row is created `stopped` (ended at `startedAt`).
   * @throws InvariantError when `configJson` is not valid JSON
   * @throws PerpbotError `DATABASE` when the write fails
   */
  ensureRun(run: RunStart): void {
    const configJson = redactJson(run.configJson, 'configJson');
    try {
      this.stmt.ensureRun.run({ id: run.id, mode: run.mode, startedAt: run.startedAt, configJson });
    } catch (err) {
      throw this.dbError(`cannot open run ${run.id}`, err);
    }
  }

  /**
   * Flush the buffers, then set `ended_at`, `status` and `summary_json` of run `id`.
   * @throws InvariantError when `summaryJson` is not valid JSON
   * @throws PerpbotError `DATABASE` when the run does not exist or a write fails
   */
  endRun(id: string, end: RunEnd): void {
    const summaryJson = end.summaryJson === null ? null : redactJson(end.summaryJson, 'summaryJson');
    this.flush();
    let changes: number;
    try {
      changes = this.stmt.endRun.run({ id, endedAt: end.endedAt, status: end.status, summaryJson }).changes;
    } catch (err) {
      throw this.dbError(`cannot end run ${id}`, err);
    }
    if (changes === 0) throw new PerpbotError('DATABASE', `run ${id} not found in ${this.file}`, false, { runId: id, file: this.file });
  }

  // ---------------------------------------------------------------- buffered records

  /**
   * Buffer a closed 1-minute kline for `candle_blocks` (a kline already stored for its symbol and
   * open time is kept). Klines that are not closed (live streams' forming candles) are ignored.
   * @throws InvariantError when `k.interval` is not `"1m"`, or a price, volume or symbol is not
   *   plain ASCII without quotes or backslashes (never a decimal string)
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  candle(k: Kline): void {
    if (!k.closed) return;
    if (k.interval !== '1m') throw new InvariantError(`candles_1m: got a ${k.interval} kline for ${k.symbol}`, { interval: k.interval });
    const c: CandleValues = {
      openTime: k.openTime,
      closeTime: k.closeTime,
      open: k.open,
      high: k.high,
      low: k.low,
      close: k.close,
      volume: k.volume,
      quoteVolume: k.quoteVolume ?? null,
      trades: k.trades ?? null,
    };
    const bad = !isPlainAscii(k.symbol) ? 'symbol' : !isPlainAscii(c.open) ? 'open' : !isPlainAscii(c.high) ? 'high' : !isPlainAscii(c.low) ? 'low'
      : !isPlainAscii(c.close) ? 'close' : !isPlainAscii(c.volume) ? 'volume' : c.quoteVolume !== null && !isPlainAscii(c.quoteVolume) ? 'quoteVolume' : null;
    if (bad !== null) throw new InvariantError(`candles_1m: ${bad} of the ${k.symbol} kline at ${k.openTime} is not a plain decimal string`, { field: bad });
    if (!Number.isSafeInteger(k.openTime) || !Number.isSafeInteger(k.closeTime) || (c.trades !== null && !Number.isSafeInteger(c.trades))) {
      throw new InvariantError(`candles_1m: openTime, closeTime and trades of the ${k.symbol} kline must be whole numbers`, { openTime: k.openTime });
    }
    this.candles.add(k.symbol, c);
    if (++this.counters.pending >= this.flushAt) this.autoFlush();
  }

  /**
   * Buffer a whole hour's block of klines, already in the stored JSON form (see
   * ./candle-blocks.ts), for the writer thread, whose caller packs klines that way. The caller
   * has checked each entry's strings and times.
   * @param start the hour, UTC ms (a multiple of CANDLE_BLOCK_MS)
   * @param text the JSON array, ASCII
   * @param count entries in it
   * @param ordered their open times strictly increase (else the block is sorted and de-duplicated)
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  candleBlock(symbol: string, start: number, text: string | Buffer, count: number, ordered: boolean): void {
    this.candles.addBlock(symbol, start, text, count, ordered);
    this.counters.pending += count;
    if (this.counters.pending >= this.flushAt) this.autoFlush();
  }

  /**
   * Buffer a strategy signal for `signals` (ignored when (run, signalId) is already stored).
   * `indicators` is stored as JSON (non-finite numbers become null).
   * @throws InvariantError when `refPrice` is not a decimal string
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  signal(e: SignalEmitted): void {
    requireDecimal(e.refPrice, 'signal.refPrice');
    this.signalBuf.push(e);
    if (++this.counters.pending >= this.flushAt) this.autoFlush();
  }

  /**
   * Buffer an order event; applied in arrival order at the next flush:
   * - OrderSubmitted: insert the order, status PENDING_NEW (no-op when the row exists, e.g.
   *   written ahead by {@link writeIntentNow});
   * - OrderDenied: insert with status DENIED, `denied_check` and `reason`; an existing row of the
   *   id changes only when the denial says `writtenAhead` (a PENDING_NEW row becomes DENIED):
   *   otherwise that row is an earlier process's order, which may be on the exchange;
   * - OrderAccepted: set `order_id`, PENDING_NEW → NEW;
   * - OrderRejected: REJECTED with `reject_code` and `reason` (from PENDING_NEW or NEW);
   * - OrderFilled: insert the fill (no-op when (run, symbol, tradeId) exists); for a new fill,
   *   add its quantity to `executed_qty` and price × quantity to `cum_quote`, set
   *   `avg_price = cum_quote / executed_qty` (decimal.js, 40 significant digits, half-even) and
   *   the event's status unless the order is already final;
   * - OrderCanceled / OrderExpired: set the status and `reason` unless the order is already final.
   * - an event carrying `external` (an order perpbot did not place) first inserts its order row
   *   (`external` 1, strategy "external", status NEW) when missing; its fills are stored with
   *   `external` 1, so strategy figures (fillsOfDay, riskDayOf) leave them out.
   * A status never moves backwards; events for unknown orders are counted in `stats().orphans`.
   * @throws InvariantError when an intent's or a fill's money field is not a decimal string
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  orderEvent(e: OrderEvent): void {
    if (e.type === 'OrderSubmitted') validateIntent(e.intent);
    else if (e.type === 'OrderFilled') validateFill(e.fill);
    this.eventBuf.push(e);
    if (++this.counters.pending >= this.flushAt) this.autoFlush();
  }

  /**
   * Buffer a position update: upsert of (run, symbol); an update older (by `updatedAt`) than the
   * stored row is ignored (a slow REST poll racing the stream), except the exchange's truth from
   * reconciliation (`source: 'reconcile'`), which always applies: its time may come from another
   * clock than the stored row's (wall clock against an exchange event time), and recover, flatten
   * and start-up must leave the row equal to the exchange; `updated_at` then keeps the later one.
   * @throws InvariantError when a money field is not a decimal string
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  position(e: PositionChanged): void {
    const p = e.position;
    requireDecimal(p.quantity, 'position.quantity');
    requireDecimal(p.entryPrice, 'position.entryPrice');
    requireDecimal(p.realizedPnl, 'position.realizedPnl');
    requireDecimal(p.fees, 'position.fees');
    this.eventBuf.push(e);
    if (++this.counters.pending >= this.flushAt) this.autoFlush();
  }

  /**
   * Buffer a trading-state change for `risk_events` (append-only).
   * @throws PerpbotError `DATABASE` when this call triggers a flush and the flush fails
   */
  riskEvent(e: TradingStateChanged): void {
    this.eventBuf.push(e);
    if (++this.counters.pending >= this.flushAt) this.autoFlush();
  }

  // ---------------------------------------------------------------- write-ahead

  /**
   * Write-ahead: insert the order as PENDING_NEW and commit before returning, so the intent is
   * on disk before it is sent. Idempotent on (run, clientOrderId). Independent of the buffers
   * (they are not flushed). `created_at` and `updated_at` are `intent.createdAt`.
   * With `syncIntents` the commit is fsynced (survives a power loss).
   * @returns true when the row was inserted, false when it already existed
   * @throws InvariantError when a money field is not a decimal string
   * @throws PerpbotError `DATABASE` (retryable when the database was busy) when the write
   *   fails; the order must then not be sent
   */
  writeIntentNow(intent: OrderIntent): boolean {
    validateIntent(intent);
    const sync = this.syncIntents && !this.sqlite.inTransaction;
    try {
      if (sync) this.sqlite.pragma('synchronous = FULL');
      try {
        const changes = this.stmt.insertOrder.run(orderParams(this.runId, intent, intent.createdAt)).changes;
        if (changes > 0) this.counters.orders++;
        return changes > 0;
      } finally {
        if (sync) this.sqlite.pragma('synchronous = NORMAL');
      }
    } catch (err) {
      throw this.dbError(`cannot write order ${intent.clientOrderId} ahead`, err);
    }
  }

  // ---------------------------------------------------------------- flush & stats

  /**
   * Write everything buffered in ONE transaction (candles, signals, then order/position/risk
   * events in arrival order). No-op when nothing is buffered.
   * @throws PerpbotError `DATABASE` (retryable when the database was busy or locked) when the
   *   transaction fails; it is rolled back and the buffers are kept for the next attempt
   */
  flush(): void {
    if (this.counters.pending === 0) return;
    const delta: Delta = { candles: 0, signals: 0, orders: 0, fills: 0, orphans: 0 };
    const t0 = performance.now();
    try {
      this.flushTx.immediate(delta);
    } catch (err) {
      this.flushAt = this.counters.pending + this.batchSize;
      if (err instanceof PerpbotError) throw err;
      throw this.dbError(`flush of ${this.counters.pending} records failed`, err);
    }
    const c = this.counters;
    c.lastFlushMs = performance.now() - t0;
    c.flushes++;
    c.candles += delta.candles;
    c.signals += delta.signals;
    c.orders += delta.orders;
    c.fills += delta.fills;
    c.orphans += delta.orphans;
    c.pending = 0;
    this.candles.clear();
    this.signalBuf = [];
    this.eventBuf = [];
    this.flushAt = this.batchSize;
  }

  /** A snapshot of the counters (see {@link WriterStats}). */
  stats(): WriterStats {
    return { ...this.counters };
  }

  // ---------------------------------------------------------------- internals

  private autoFlush(): void {
    this.flush();
  }

  /** Runs inside the flush transaction. Must not touch the buffers' contents. */
  private applyBuffers(delta: Delta): void {
    delta.candles += this.candles.write(this.stmt.candles);

    const insertSignal = this.stmt.insertSignal;
    const runId = this.runId;
    for (const s of this.signalBuf) {
      delta.signals += insertSignal.run(
        runId,
        s.signalId,
        s.strategyId,
        s.symbol,
        s.ts,
        s.target,
        s.reason,
        s.refPrice,
        JSON.stringify(s.indicators),
        s.stopPrice ?? null,
      ).changes;
    }

    for (const e of this.eventBuf) applyEvent(this.stmt, runId, e, delta);
  }

  private dbError(what: string, err: unknown): PerpbotError {
    const code = (err as { code?: unknown }).code;
    const retryable = typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
    return new PerpbotError('DATABASE', `${what} (${this.file}): ${errorMessage(err)}`, retryable, {
      file: this.file,
      runId: this.runId,
      sqliteCode: code,
    });
  }
}
