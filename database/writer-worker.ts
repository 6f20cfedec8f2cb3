/**
 * The database writer thread's body: the one writing connection, running the
 * {@link RecordWriter}. Messages are handled in order; each batch is committed in one
 * transaction; synchronous calls are answered through the shared reply block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../src/core/errors.ts';
import { openDatabase, type Db } from './client.ts';
import { RecordWriter } from './writer.ts';
import { FIELD_SEP, ROW_SEP, SYNC, SYNC_RESULT, SYNC_STATE, type FromWorker, type ToWorker } from './writer-thread.ts';

const { file, runId, shared } = workerData as { file: string; runId: string; shared: SharedArrayBuffer };
const port = parentPort!;
const sync = new Int32Array(shared, 0, 4);
const syncBytes = new Uint8Array(shared, SYNC.BYTES_OFFSET);
const encoder = new TextEncoder();
const decoder = new TextDecoder('latin1');

const post = (m: FromWorker) => port.postMessage(m);

let db: Db | null = null;
let writer: RecordWriter | null = null;
let openError: string | null = null;
try {
  db = openDatabase(file);
  writer = new RecordWriter(db, runId);
} catch (err) {
  openError = errorMessage(err);
  post({ type: 'error', message: openError });
}

function answer(result: number, message = ''): void {
  const bytes = encoder.encode(message).subarray(0, syncBytes.length);
  syncBytes.set(bytes);
  Atomics.store(sync, SYNC.LENGTH, bytes.length);
  Atomics.store(sync, SYNC.RESULT, result);
  Atomics.store(sync, SYNC.STATE, SYNC_STATE.DONE);
  Atomics.notify(sync, SYNC.STATE);
}

function applyBatch(w: RecordWriter, m: Extract<ToWorker, { type: 'batch' }>): void {
  if (m.count > 0) {
    const nums = new Float64Array(m.nums);
    const rows = decoder.decode(new Uint8Array(m.bytes, 0, m.length)).split(ROW_SEP);
    for (let r = 0; r < m.count; r++) {
      const f = (rows[r] as string).split(FIELD_SEP);
      const trades = nums[3 * r + 2] as number;
      // fields: symbol, open, high, low, close, volume, quoteVolume ('' = none), interval
      w.candleValues(
        f[0] as string,
        f[7] as string,
        nums[3 * r] as number,
        nums[3 * r + 1] as number,
        f[1] as string,
        f[2] as string,
        f[3] as string,
        f[4] as string,
        f[5] as string,
        f[6] ? (f[6] as string) : null,
        Number.isNaN(trades) ? null : trades,
      );
    }
  }
  for (const [kind, payload] of m.ops) {
    switch (kind) {
      case 'signal':
        w.signal(payload);
        break;
      case 'order':
        w.orderEvent(payload);
        break;
      case 'position':
        w.position(payload);
        break;
      case 'risk':
        w.riskEvent(payload);
        break;
      case 'endRun':
        w.endRun(payload.id, payload.end);
        break;
    }
  }
  w.flush();
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'close') {
    let stats = writer?.stats();
    try {
      writer?.flush();
      stats = writer?.stats();
      db?.close();
    } catch (err) {
      post({ type: 'error', message: `closing ${file}: ${errorMessage(err)}` });
    }
    post({ type: 'closed', stats: stats ?? { candles: 0, signals: 0, orders: 0, fills: 0, flushes: 0, lastFlushMs: 0, pending: 0, orphans: 0 } });
    port.close();
    return;
  }
  if (m.type === 'sync') {
    if (!writer) return answer(SYNC_RESULT.FAILED, openError ?? `${file}: not open`);
    try {
      if (m.op === 'startRun') {
        writer.startRun(m.run, { resume: m.resume });
        return answer(SYNC_RESULT.INSERTED);
      }
      return answer(writer.writeIntentNow(m.intent) ? SYNC_RESULT.INSERTED : SYNC_RESULT.EXISTED);
    } catch (err) {
      return answer(SYNC_RESULT.FAILED, errorMessage(err));
    }
  }
  if (!writer) return;
  try {
    applyBatch(writer, m);
  } catch (err) {
    post({ type: 'error', message: `writing batch ${m.seq} to ${file}: ${errorMessage(err)}` });
  }
  post({ type: 'done', seq: m.seq });
});
