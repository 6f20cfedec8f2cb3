/**
 * The database writer thread's body: the one writing connection, running the
 * {@link RecordWriter}. Messages are handled in order; each batch is committed in one
 * transaction; synchronous calls are answered through the shared reply block.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../src/core/errors.ts';
import { openDatabase, type Db } from './client.ts';
import { RecordWriter } from './writer.ts';
import { blockStart } from './candle-blocks.ts';
import { PACKED_SLOTS, SYNC, SYNC_RESULT, SYNC_STATE, type FromWorker, type ToWorker } from './writer-thread.ts';

const { file, runId, shared } = workerData as { file: string; runId: string; shared: SharedArrayBuffer };
const port = parentPort!;
const sync = new Int32Array(shared, 0, 4);
const syncBytes = new Uint8Array(shared, SYNC.BYTES_OFFSET);
const encoder = new TextEncoder();

/** A block being gathered from a batch: the byte ranges of its entries. */
interface Gathering {
  start: number;
  ranges: number[];
  bytes: number;
  ordered: boolean;
  lastOpen: number;
}

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

/**
 * Hand the batch's packed candles to the writer as blocks: per symbol, consecutive candles of
 * the same hour become one block, copied out of the batch's bytes as `[entry,entry,…]`.
 */
function gatherBlocks(w: RecordWriter, m: Extract<ToWorker, { type: 'batch' }>): void {
  const nums = new Float64Array(m.nums);
  const src = Buffer.from(m.bytes, 0, m.length);
  const current: Array<Gathering | undefined> = new Array(m.symbols.length);
  const emit = (sym: number, g: Gathering) => {
    const out = Buffer.allocUnsafe(g.bytes + 1);
    out[0] = 0x5b; // [
    let p = 1;
    for (let r = 0; r < g.ranges.length; r += 2) p += src.copy(out, p, g.ranges[r]!, g.ranges[r + 1]!);
    out[p - 1] = 0x5d; // the last entry's comma becomes ]
    w.candleBlock(m.symbols[sym]!, g.start, out, g.ranges.length / 2, g.ordered);
  };
  let from = 0;
  for (let r = 0; r < m.count; r++) {
    const openTime = nums[PACKED_SLOTS * r]!;
    const sym = nums[PACKED_SLOTS * r + 1]!;
    const to = nums[PACKED_SLOTS * r + 2]!;
    const start = blockStart(openTime);
    let g = current[sym];
    if (g === undefined || g.start !== start) {
      if (g !== undefined) emit(sym, g);
      g = current[sym] = { start, ranges: [], bytes: 0, ordered: true, lastOpen: -Infinity };
    }
    if (openTime <= g.lastOpen) g.ordered = false;
    g.lastOpen = openTime;
    g.ranges.push(from, to);
    g.bytes += to - from;
    from = to;
  }
  current.forEach((g, sym) => g !== undefined && emit(sym, g));
}

function applyBatch(w: RecordWriter, m: Extract<ToWorker, { type: 'batch' }>): void {
  if (m.count > 0) gatherBlocks(w, m);
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
