/**
 * One full garbage collection of the main thread's heap, once the live or paper bot's warm-up is
 * over.
 *
 * The warm-up back-fill runs a day's klines of every symbol through the strategies at start-up
 * (with their signals, their stale-signal denials and log lines): at 300 symbols that is
 * hundreds of thousands of short-lived objects. V8 then keeps the heap it grew for them, and with
 * the light steady-state load it can take hours before a full collection gives the memory back
 * (measured: 271 MB RSS at 300 symbols, 167 MB right after one full collection). One collection
 * when the warm-up ends returns it at once, on small VMs where it matters.
 *
 * It goes through the in-process inspector session (`node:inspector`, the `HeapProfiler` domain
 * of the DevTools protocol): no `--expose-gc` flag, no port opened. It pauses the main thread for
 * one full collection (tens of ms at 300 symbols), once.
 */
import { Session } from 'node:inspector';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';

/**
 * Run one full garbage collection of this thread's heap and log the heap and RSS before and
 * after (info). Never throws: a failure is logged (warn) and changes nothing else.
 * @param log where the line goes
 * @param why what ended, for the log line (e.g. "warm-up over")
 * @returns resolves once the collection ran (or failed)
 */
export function collectGarbage(log: Logger, why: string): Promise<void> {
  return new Promise((resolve) => {
    const before = process.memoryUsage();
    const t0 = performance.now();
    let session: Session | null = null;
    const done = (err: Error | null): void => {
      // Disconnected on the next turn: from inside the session's own callback, Node 20 keeps the
      // event loop alive for good (the process then never exits).
      const s = session;
      setImmediate(() => {
        try {
          s?.disconnect();
        } catch {
          // disconnecting a broken session: nothing more to do
        }
      });
      if (err) log.warn(`garbage collection after ${why} failed: ${errorMessage(err)}`);
      else {
        const after = process.memoryUsage();
        const mb = (n: number) => Math.round(n / 1e5) / 10;
        log.info({ ms: Math.round(performance.now() - t0), heapUsedMb: [mb(before.heapUsed), mb(after.heapUsed)], rssMb: [mb(before.rss), mb(after.rss)] }, `garbage collected after ${why}`);
      }
      resolve();
    };
    try {
      session = new Session();
      session.connect();
      session.post('HeapProfiler.collectGarbage', (err) => done(err));
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
