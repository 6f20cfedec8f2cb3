/**
 * The recorder: the database learns what happened by subscribing to the bus. One subscriber with
 * one queue, so rows are written in the order events happened. Writes are buffered by the
 * sink and committed in one transaction per batch, on a timer, and at stop.
 *
 * Live order intents are also written ahead, before the order is sent, to the intent journal
 * (./intent-journal.ts), which is replayed into the database at the next start; the order row
 * itself is inserted here from `OrderSubmitted` (idempotent on the client order id, so a row
 * written ahead by {@link RecordWriter.writeIntentNow} — `perpbot flatten` — stays as it is). Events marked `external` (orders
 * perpbot did not place) are recorded with `external` set (see RecordWriter.orderEvent).
 */
import type { Consumer, EventBus } from '../src/bus/bus.ts';
import type { Kline, OrderEvent, PositionChanged, SignalEmitted, TradingStateChanged } from '../src/core/types.ts';

/**
 * Where records go: the {@link RecordWriter} itself, or the writer thread in front of it
 * (`ThreadedRecordWriter`). Same methods, same order guarantees.
 */
export interface RecordSink {
  candle(k: Kline): void;
  signal(e: SignalEmitted): void;
  orderEvent(e: OrderEvent): void;
  position(e: PositionChanged): void;
  riskEvent(e: TradingStateChanged): void;
  flush(): void;
}

/** Options of {@link startRecorder}. */
export interface RecorderOptions {
  /** Also write every closed kline into candles_1m. */
  recordCandles: boolean;
  /** Flush the writer's buffers at least this often, ms (0 = only on batch size and stop). */
  flushIntervalMs: number;
  /** Called when a timed flush fails (the records stay buffered for the next attempt). */
  onFlushError?: (err: unknown) => void;
}

/** A running recorder. */
export interface Recorder {
  consumer: Consumer;
  /** Stop the timer and hand over what is buffered. */
  stop(): void;
}

/** Subscribe the writer to the bus. */
export function startRecorder(bus: EventBus, writer: RecordSink, opts: RecorderOptions): Recorder {
  const patterns = opts.recordCandles
    ? (['market.kline.*', 'signal.*', 'order.update', 'account.update', 'risk.state'] as const)
    : (['signal.*', 'order.update', 'account.update', 'risk.state'] as const);
  const consumer = bus.consume(
    patterns,
    (m) => {
      switch (m.type) {
        case 'KlineClosed':
          return writer.candle(m.kline);
        case 'SignalEmitted':
          return writer.signal(m);
        case 'PositionChanged':
          return writer.position(m);
        case 'TradingStateChanged':
          return writer.riskEvent(m);
        default:
          return writer.orderEvent(m);
      }
    },
    // Synchronous: buffers, and posts full batches to the writer thread (EventBus.endInline).
    { name: 'recorder', inline: true },
  );
  const timer =
    opts.flushIntervalMs > 0
      ? setInterval(() => {
          try {
            writer.flush();
          } catch (err) {
            opts.onFlushError?.(err);
          }
        }, opts.flushIntervalMs)
      : null;
  timer?.unref();
  return {
    consumer,
    stop() {
      if (timer) clearInterval(timer);
      writer.flush();
    },
  };
}
