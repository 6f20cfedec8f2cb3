/**
 * The {@link RecordWriter} on the caller's own thread, behind the writer thread's interface
 * ({@link RunWriter}). For runs whose database nobody else reads and whose size is small: the
 * optimiser's trials (an in-memory database, candles not recorded). A writer thread per trial
 * cost a thread start (~100 ms, far more under load: a trial once timed out waiting 10 s for its
 * thread) for a few hundred rows.
 */
import { errorMessage } from '../src/core/errors.ts';
import type { Kline, OrderEvent, OrderIntent, PositionChanged, SignalEmitted, TradingStateChanged } from '../src/core/types.ts';
import type { Db } from './client.ts';
import { RecordWriter, type RunEnd, type RunStart, type WriterStats } from './writer.ts';
import { WriteErrors, type RunWriter } from './writer-thread.ts';

/**
 * Same methods and guarantees as `ThreadedRecordWriter`, synchronous. A failed buffered write or
 * flush does not throw into the bus: it is counted ({@link errorCount}) and reported to the error
 * handler, as the writer thread reports its failures; the records stay buffered (RecordWriter).
 */
export class InlineRecordWriter implements RunWriter {
  private readonly writer: RecordWriter;
  private readonly errors = new WriteErrors();
  private closed = false;

  /**
   * @param db an open, migrated database (see openDatabase); closed by {@link close}
   * @param runId the run every run-scoped row belongs to
   * @throws PerpbotError DATABASE when the statements cannot be prepared
   */
  constructor(
    private readonly db: Db,
    runId: string,
  ) {
    this.writer = new RecordWriter(db, runId);
  }

  /** The database file (`:memory:` for trials). */
  get file(): string {
    return this.db.file;
  }

  /** Set where failed writes are reported; errors reported before are handed to it at once. */
  setErrorHandler(onError: (message: string) => void): void {
    this.errors.setHandler(onError);
  }

  /** Failed writes so far. */
  get errorCount(): number {
    return this.errors.count;
  }

  /** Always 0: every write is done when its call returns. */
  get backlog(): number {
    return 0;
  }

  /** Resolves at once (nothing is ever waiting). */
  waitForBacklog(_limit: number): Promise<void> {
    return Promise.resolve();
  }

  /** @see RecordWriter.startRun @throws PerpbotError DATABASE as it does */
  startRun(run: RunStart, opts: { resume?: boolean } = {}): void {
    this.writer.startRun(run, opts);
  }

  /** Flush, then end the run; a failure is reported, not thrown. */
  endRun(id: string, end: RunEnd): void {
    this.guard(() => this.writer.endRun(id, end));
  }

  /** @see RecordWriter.writeIntentNow @throws PerpbotError DATABASE as it does */
  writeIntentNow(intent: OrderIntent): boolean {
    return this.writer.writeIntentNow(intent);
  }

  /** Buffer a closed 1m kline (see RecordWriter.candle). */
  candle(k: Kline): void {
    this.guard(() => this.writer.candle(k));
  }
  /** Buffer a signal. */
  signal(e: SignalEmitted): void {
    this.guard(() => this.writer.signal(e));
  }
  /** Buffer an order event. */
  orderEvent(e: OrderEvent): void {
    this.guard(() => this.writer.orderEvent(e));
  }
  /** Buffer a position change. */
  position(e: PositionChanged): void {
    this.guard(() => this.writer.position(e));
  }
  /** Buffer a trading-state change. */
  riskEvent(e: TradingStateChanged): void {
    this.guard(() => this.writer.riskEvent(e));
  }

  /** Commit what is buffered; a failure is reported, not thrown. */
  flush(): void {
    this.guard(() => this.writer.flush());
  }

  /** Flush and close the database. @returns the writer's counters */
  close(): Promise<WriterStats> {
    if (!this.closed) {
      this.closed = true;
      this.flush();
      this.db.close();
    }
    return Promise.resolve(this.writer.stats());
  }

  private guard(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.errors.report(`database write to ${this.db.file}: ${errorMessage(err)}`);
    }
  }
}
