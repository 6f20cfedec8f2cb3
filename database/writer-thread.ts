/**
 * The database writer thread. One worker thread owns the only writing SQLite connection and runs
 * the {@link RecordWriter} there; the bot's thread hands it records in batches. Storing costs
 * SQLite microseconds per record on this class of machine (1.3–2.7 µs per kline when klines were
 * a row each; they are now hourly blocks, see ./candle-blocks.ts): on the bot's thread that would
 * slow a replay and, live, stall the event loop during a flush. Here the bot's thread only packs
 * each kline as its block entry (ASCII bytes) and the other core gathers the blocks and stores
 * them.
 *
 * One writer, so no lock contention (two writing connections make SQLite's busy handler sleep
 * with back-off, up to 100 ms at a time). Records are applied in the order they were given,
 * except write-ahead intents, which go before the records still buffered (see `call`).
 *
 * Synchronous calls — {@link ThreadedRecordWriter.startRun} and
 * {@link ThreadedRecordWriter.writeIntentNow} — wait (Atomics.wait) until the worker has
 * committed them; their errors come back as `PerpbotError('DATABASE')`. They block the bot's
 * thread, so the bot uses them only at start and in one-shot CLI commands. The trading path
 * writes ahead to the intent journal instead (./intent-journal.ts: one write(2), no thread hop).
 */
import { Worker } from 'node:worker_threads';
import { PerpbotError } from '../src/core/errors.ts';
import type { Kline, OrderEvent, OrderIntent, PositionChanged, SignalEmitted, TradingStateChanged } from '../src/core/types.ts';
import { isPlainAscii } from './candle-blocks.ts';
import type { RecordSink } from './recorder.ts';
import type { RunEnd, RunStart, WriterStats } from './writer.ts';

/**
 * The worker's entry file. From the sources (this module is a .ts file run by tsx or vitest):
 * `writer-worker.mjs`, which registers tsx in the new thread. From the compiled bundle
 * (`dist/*.js`, see scripts/build.mjs): the compiled `dist/writer-worker.js` beside it.
 */
export const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./writer-worker.mjs', import.meta.url) : new URL('./writer-worker.js', import.meta.url);

/**
 * Per packed candle, the Float64 slots of `nums` in a batch: its open time (UTC ms), the index of
 * its symbol in the batch's `symbols`, and the end of its bytes in `bytes` (it starts where the
 * previous one ended). The bytes are its block entry (./candle-blocks.ts) and a comma.
 */
export const PACKED_SLOTS = 3;
const COMMA = 0x2c;
const QUOTE = 0x22;

/** Records other than candles, in arrival order: [kind, payload]. */
export type WriterOp =
  | ['signal', SignalEmitted]
  | ['order', OrderEvent]
  | ['position', PositionChanged]
  | ['risk', TradingStateChanged]
  | ['endRun', { id: string; end: RunEnd }];

/** Messages to the worker. */
export type ToWorker =
  | { type: 'batch'; seq: number; bytes: ArrayBuffer; length: number; nums: ArrayBuffer; count: number; symbols: string[]; ops: WriterOp[] }
  | { type: 'sync'; op: 'startRun'; run: RunStart; resume: boolean }
  | { type: 'sync'; op: 'intent'; intent: OrderIntent }
  | { type: 'close' };

/** Messages from the worker. */
export type FromWorker =
  | { type: 'done'; seq: number }
  | { type: 'error'; message: string }
  | { type: 'closed'; stats: WriterStats };

/** Layout of the shared reply block of synchronous calls (Int32 slots, then message bytes). */
export const SYNC = { STATE: 0, RESULT: 1, LENGTH: 2, BYTES_OFFSET: 16, SIZE: 16 + 4096 } as const;
/** STATE values. */
export const SYNC_STATE = { WAITING: 0, DONE: 1 } as const;
/** RESULT values. */
export const SYNC_RESULT = { INSERTED: 1, EXISTED: 2, FAILED: 3 } as const;

/** Options of {@link ThreadedRecordWriter}. */
export interface ThreadedWriterOptions {
  /** Candles per batch posted to the worker. Default 4096. */
  batchRows?: number;
  /** Other records per batch. Default 512. */
  batchOps?: number;
  /** Longest wait for a synchronous call, ms. Default 10,000. */
  syncTimeoutMs?: number;
  /** Called with a message when the worker reports a failed write (the bot keeps running). */
  onError?: (message: string) => void;
}

/**
 * Failed writes of a {@link RunWriter}: counted, and handed to the error handler; those reported
 * before a handler is set are kept (up to 100) and handed to it when it is.
 */
export class WriteErrors {
  /** Failed writes so far. */
  count = 0;
  private handler: ((message: string) => void) | null;
  private early: string[] = [];

  constructor(handler: ((message: string) => void) | null = null) {
    this.handler = handler;
  }

  /** Set the handler (replaces any); errors reported before are handed to it at once. */
  setHandler(handler: (message: string) => void): void {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    for (const m of early) handler(m);
  }

  /** Count one failed write and report `message`. */
  report(message: string): void {
    this.count++;
    if (this.handler) this.handler(message);
    else if (this.early.length < 100) this.early.push(message);
  }
}

/**
 * What a run (the kernel) writes through: the writer thread ({@link ThreadedRecordWriter}), or
 * the writer on the caller's thread (`InlineRecordWriter`, ./inline-writer.ts). Record methods
 * buffer and never throw for a failed write: failures are counted ({@link errorCount}) and
 * reported to the error handler.
 */
export interface RunWriter extends RecordSink {
  /** The database file written. */
  readonly file: string;
  /** Failed writes so far. */
  readonly errorCount: number;
  /** Batches handed over and not yet committed. */
  readonly backlog: number;
  /** Resolves when at most `limit` batches are waiting. */
  waitForBacklog(limit: number): Promise<void>;
  /** Set where failed writes are reported (errors reported before are handed to it at once). */
  setErrorHandler(onError: (message: string) => void): void;
  /** Insert or resume the `runs` row, committed on return. @throws PerpbotError DATABASE */
  startRun(run: RunStart, opts?: { resume?: boolean }): void;
  /** End the run, after every record given before. */
  endRun(id: string, end: RunEnd): void;
  /** Write-ahead, committed on return. @returns true when inserted @throws PerpbotError DATABASE */
  writeIntentNow(intent: OrderIntent): boolean;
  /** Commit everything and release the connection. @returns the writer's counters */
  close(): Promise<WriterStats>;
}

/** Write the decimal digits of `v` (an integer in 0..2^31) at `p`. @returns the position after them */
function putDigits(b: Uint8Array, p: number, v: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
  for (let q = p + digits - 1; q >= p; q--) {
    b[q] = 0x30 + (v % 10);
    v = (v / 10) | 0;
  }
  return p + digits;
}

/**
 * The bot-side half of the writer thread. Same record methods as {@link RecordWriter}.
 * Create with {@link ThreadedRecordWriter.start}; {@link ThreadedRecordWriter.close} at the end.
 */
export class ThreadedRecordWriter implements RunWriter {
  /** The queued candles' block entries, ASCII, each followed by a comma (see PACKED_SLOTS). */
  private bytes = new Uint8Array(1 << 19);
  private symbols: string[] = [];
  private symbolIndex = new Map<string, number>();
  private pos = 0;
  private nums: Float64Array;
  private n = 0;
  private ops: WriterOp[] = [];
  private seq = 0;
  private doneSeq = 0;
  private readonly sync: Int32Array;
  private readonly syncBytes: Uint8Array;
  private closing: Promise<WriterStats> | null = null;
  private backlogWaiters: Array<{ limit: number; resolve: () => void }> = [];
  private readonly errors: WriteErrors;
  private readonly batchRows: number;
  private readonly batchOps: number;
  private readonly syncTimeoutMs: number;

  private constructor(
    private readonly worker: Worker,
    shared: SharedArrayBuffer,
    readonly file: string,
    opts: ThreadedWriterOptions,
  ) {
    this.batchRows = opts.batchRows ?? 4096;
    this.batchOps = opts.batchOps ?? 512;
    this.syncTimeoutMs = opts.syncTimeoutMs ?? 10_000;
    this.errors = new WriteErrors(opts.onError ?? null);
    this.nums = new Float64Array(this.batchRows * PACKED_SLOTS);
    this.sync = new Int32Array(shared, 0, 4);
    this.syncBytes = new Uint8Array(shared, SYNC.BYTES_OFFSET);
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'done') {
        this.doneSeq = m.seq;
        // Keep the process alive while the worker has records to commit, not longer.
        if (this.backlog === 0 && this.closing === null) this.worker.unref();
        this.wakeBacklog();
      } else if (m.type === 'error') {
        this.errors.report(m.message);
      }
    });
    worker.on('error', (err) => {
      this.errors.report(`database writer thread: ${err.message}`);
    });
    worker.unref();
  }

  /**
   * Start the writer thread on `file` (created and migrated by the worker through `openDatabase`).
   * @param runId the run whose records this writer writes
   */
  static start(file: string, runId: string, opts: ThreadedWriterOptions = {}): ThreadedRecordWriter {
    const shared = new SharedArrayBuffer(SYNC.SIZE);
    const worker = new Worker(WORKER_ENTRY, { workerData: { file, runId, shared } });
    return new ThreadedRecordWriter(worker, shared, file, opts);
  }

  /**
   * Set where failed writes are reported (replaces `onError`); errors reported before are
   * handed to it at once.
   */
  setErrorHandler(onError: (message: string) => void): void {
    this.errors.setHandler(onError);
  }

  /** Failed writes the worker reported. */
  get errorCount(): number {
    return this.errors.count;
  }

  /** Batches posted and not yet committed by the worker. */
  get backlog(): number {
    return this.seq - this.doneSeq;
  }

  /** Resolves when at most `limit` batches are waiting (replay uses it as backpressure). */
  waitForBacklog(limit: number): Promise<void> {
    if (this.backlog <= limit) return Promise.resolve();
    return new Promise((resolve) => this.backlogWaiters.push({ limit, resolve }));
  }

  private wakeBacklog(): void {
    if (this.backlogWaiters.length === 0) return;
    const still: typeof this.backlogWaiters = [];
    for (const w of this.backlogWaiters) (this.backlog <= w.limit ? w.resolve() : still.push(w));
    this.backlogWaiters = still;
  }

  /**
   * Synchronous call: post, then wait until the worker committed it. A run start goes after the
   * records given before it; a write-ahead intent goes first (nothing buffered can concern an
   * order not yet sent, and the order path should not wait for a batch of candles).
   */
  private call(msg: ToWorker & { type: 'sync' }): number {
    if (msg.op !== 'intent') this.flush();
    Atomics.store(this.sync, SYNC.STATE, SYNC_STATE.WAITING);
    this.worker.postMessage(msg);
    const r = Atomics.wait(this.sync, SYNC.STATE, SYNC_STATE.WAITING, this.syncTimeoutMs);
    if (r === 'timed-out') {
      throw new PerpbotError('DATABASE', `database writer thread did not answer within ${this.syncTimeoutMs} ms`, true, { file: this.file });
    }
    const result = Atomics.load(this.sync, SYNC.RESULT);
    if (result === SYNC_RESULT.FAILED) {
      const len = Atomics.load(this.sync, SYNC.LENGTH);
      const message = new TextDecoder().decode(this.syncBytes.slice(0, len));
      throw new PerpbotError('DATABASE', message, false, { file: this.file });
    }
    return result;
  }

  /**
   * Insert the `runs` row (or, with `resume`, continue an existing one); returns once committed.
   * @throws PerpbotError DATABASE when the run exists (without `resume`) or the write fails
   */
  startRun(run: RunStart, opts: { resume?: boolean } = {}): void {
    this.call({ type: 'sync', op: 'startRun', run, resume: opts.resume === true });
  }

  /** End the run (after every record given before it). */
  endRun(id: string, end: RunEnd): void {
    this.ops.push(['endRun', { id, end }]);
    this.flush();
  }

  /**
   * Write-ahead: the order row (PENDING_NEW) is committed before this returns.
   * @returns true when inserted, false when it already existed
   * @throws PerpbotError DATABASE when it could not be written (the order must not be sent)
   */
  writeIntentNow(intent: OrderIntent): boolean {
    return this.call({ type: 'sync', op: 'intent', intent }) === SYNC_RESULT.INSERTED;
  }

  /** Room for `n` more bytes in the byte buffer. */
  private room(n: number): Uint8Array {
    let b = this.bytes;
    if (this.pos + n > b.length) {
      const grown = new Uint8Array(Math.max(b.length * 2, this.pos + n));
      grown.set(b.subarray(0, this.pos));
      this.bytes = b = grown;
    }
    return b;
  }

  /**
   * Append `"s"` and a comma. @returns false (nothing kept) when `s` fails the rule of
   * `isPlainAscii` (./candle-blocks.ts), checked here in the same pass as the copy: this runs
   * seven times per kline.
   */
  private putQuoted(s: string): boolean {
    const b = this.room(s.length + 3);
    let p = this.pos;
    b[p++] = QUOTE;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) return false;
      b[p++] = c;
    }
    b[p++] = QUOTE;
    b[p++] = COMMA;
    this.pos = p;
    return true;
  }

  /** Append the digits of a safe non-negative integer, then `sep` (int32 arithmetic: ~30 ns for an epoch ms). */
  private putInt(n: number, sep: number): void {
    const b = this.room(18);
    let p = this.pos;
    const hi = Math.floor(n / 1e7); // < 2^31 for every safe integer
    if (hi > 0) {
      p = putDigits(b, p, hi);
      let lo = (n - hi * 1e7) | 0;
      for (let q = p + 6; q >= p; q--) {
        b[q] = 0x30 + (lo % 10);
        lo = (lo / 10) | 0;
      }
      p += 7;
    } else p = putDigits(b, p, n | 0);
    b[p] = sep;
    this.pos = p + 1;
  }

  /** Append an ASCII literal. */
  private putRaw(s: string): void {
    const b = this.room(s.length);
    for (let i = 0; i < s.length; i++) b[this.pos++] = s.charCodeAt(i);
  }

  /**
   * Queue a closed 1m kline for `candle_blocks`, packed as its block entry. A kline that cannot
   * be stored (not 1m; a time that is not a whole number ≥ 0; a price, volume or symbol that is
   * not plain ASCII) is reported to the error handler and dropped, never sent.
   */
  candle(k: Kline): void {
    if (!k.closed) return;
    if (k.interval !== '1m') return this.errors.report(`candles_1m: got a ${k.interval} kline for ${k.symbol}`);
    const trades = k.trades ?? null;
    if (!(Number.isSafeInteger(k.openTime) && k.openTime >= 0 && Number.isSafeInteger(k.closeTime) && k.closeTime >= 0 && (trades === null || (Number.isSafeInteger(trades) && trades >= 0)))) {
      return this.errors.report(`candles_1m: the ${k.symbol} kline at ${k.openTime} has a time or trade count that is not a whole number ≥ 0`);
    }
    let sym = this.symbolIndex.get(k.symbol);
    if (sym === undefined) {
      if (k.symbol === '' || !isPlainAscii(k.symbol)) return this.errors.report(`candles_1m: symbol ${JSON.stringify(k.symbol)} is not plain ASCII`);
      sym = this.symbols.push(k.symbol) - 1;
      this.symbolIndex.set(k.symbol, sym);
    }
    const start = this.pos;
    this.room(1)[this.pos++] = 0x5b; // [
    this.putInt(k.openTime, COMMA);
    this.putInt(k.closeTime, COMMA);
    const ok = this.putQuoted(k.open) && this.putQuoted(k.high) && this.putQuoted(k.low) && this.putQuoted(k.close) && this.putQuoted(k.volume) && (k.quoteVolume == null ? (this.putRaw('null,'), true) : this.putQuoted(k.quoteVolume));
    if (!ok) {
      this.pos = start;
      return this.errors.report(`candles_1m: a price or volume of the ${k.symbol} kline at ${k.openTime} is not a plain decimal string`);
    }
    if (trades === null) this.putRaw('null]');
    else this.putInt(trades, 0x5d); // ]
    this.room(1)[this.pos++] = COMMA;
    const i = PACKED_SLOTS * this.n;
    const nums = this.nums;
    nums[i] = k.openTime;
    nums[i + 1] = sym;
    nums[i + 2] = this.pos;
    if (++this.n === this.batchRows) this.flush();
  }

  /** Queue a signal. */
  signal(e: SignalEmitted): void {
    this.op(['signal', e]);
  }
  /** Queue an order event. */
  orderEvent(e: OrderEvent): void {
    this.op(['order', e]);
  }
  /** Queue a position change. */
  position(e: PositionChanged): void {
    this.op(['position', e]);
  }
  /** Queue a trading-state change. */
  riskEvent(e: TradingStateChanged): void {
    this.op(['risk', e]);
  }

  private op(o: WriterOp): void {
    this.ops.push(o);
    if (this.ops.length >= this.batchOps) this.flush();
  }

  /** Post what is queued to the worker (it commits each batch in one transaction). */
  flush(): void {
    if (this.n === 0 && this.ops.length === 0) return;
    const buf = this.nums.buffer as ArrayBuffer;
    const bytes = this.bytes.buffer as ArrayBuffer;
    const capacity = bytes.byteLength;
    const msg: ToWorker = { type: 'batch', seq: ++this.seq, bytes, length: this.pos, nums: buf, count: this.n, symbols: this.symbols, ops: this.ops };
    this.worker.ref();
    this.worker.postMessage(msg, [buf, bytes]);
    this.bytes = new Uint8Array(capacity);
    this.pos = 0;
    this.nums = new Float64Array(this.batchRows * PACKED_SLOTS);
    this.n = 0;
    this.symbols = [];
    this.symbolIndex = new Map();
    this.ops = [];
  }

  /** Flush, let the worker commit everything and exit. @returns the worker's counters */
  close(): Promise<WriterStats> {
    this.closing ??= new Promise<WriterStats>((resolve, reject) => {
      this.flush();
      this.worker.ref();
      this.worker.on('message', (m: FromWorker) => {
        if (m.type === 'closed') resolve(m.stats);
      });
      this.worker.once('exit', (code) => reject(new PerpbotError('DATABASE', `database writer thread exited (${code}) before closing`, false, { file: this.file })));
      this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    });
    return this.closing;
  }
}
