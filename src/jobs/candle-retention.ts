/**
 * Retention of the live database's market data: the stored klines grow by 1,440 per symbol per
 * day (24 hourly blocks) in paper and live. Once a day (node-cron, UTC; config `retention.cron`,
 * default 00:15) the klines whose open time is older than `retention.candles1mDays` days
 * (default 30; 0 = keep all) are deleted, whole hours in small batches so the writer thread is
 * never locked out for long (each batch is its own transaction; `busy_timeout` covers the wait),
 * then the older part of the hour that holds the cut-off. Never scheduled in replay or backtest:
 * the kernel starts it for paper and live only. Orders, fills, signals and runs are never touched.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';
import type { Db } from '../../database/client.ts';
import { deleteCandlesBefore } from '../../database/candles.ts';

const DAY_MS = 86_400_000;

/** What one pass deleted. */
export interface PruneResult {
  /** Klines deleted. */
  deleted: number;
  /** Klines opening before this were deleted; UTC epoch ms. */
  cutoff: number;
}

/**
 * Delete the stored klines whose open time is before `now − days`.
 * @param days retention in days, > 0
 * @param now UTC epoch ms
 * @param batch hourly blocks per transaction (default 100: 6,000 klines)
 * @throws RangeError when `days` is not a positive integer
 */
export function pruneCandles(db: Db, days: number, now: number, batch = 100): PruneResult {
  if (!Number.isInteger(days) || days <= 0) throw new RangeError(`retention.candles1mDays: ${days} is not a positive whole number of days`);
  const cutoff = now - days * DAY_MS;
  const deleted = deleteCandlesBefore(db, cutoff, batch);
  return { deleted, cutoff };
}

/** What the job needs. */
export interface RetentionDeps {
  db: Db;
  /** retention.candles1mDays (> 0). */
  days: number;
  /** Wall clock, UTC epoch ms. */
  now: () => number;
  log: Logger;
  /** Called after each pass (tests, metrics). */
  onPruned?: (r: PruneResult) => void;
}

/**
 * Schedule {@link pruneCandles} on `expression` (cron, UTC). A failed pass is logged and retried
 * at the next tick.
 * @returns the task; `destroy()` it at shutdown
 * @throws RangeError naming the key when the expression or the days are invalid
 */
export function startCandleRetention(expression: string, deps: RetentionDeps): ScheduledTask {
  if (!cron.validate(expression)) throw new RangeError(`retention.cron: "${expression}" is not a cron expression`);
  if (!Number.isInteger(deps.days) || deps.days <= 0) throw new RangeError(`retention.candles1mDays: ${deps.days} is not a positive whole number of days`);
  return cron.schedule(
    expression,
    () => {
      try {
        const r = pruneCandles(deps.db, deps.days, deps.now());
        deps.log.info({ deleted: r.deleted, cutoff: r.cutoff, days: deps.days }, 'candles_1m retention pass');
        deps.onPruned?.(r);
      } catch (err) {
        deps.log.warn({ err }, `candles_1m retention failed: ${errorMessage(err)}`);
      }
    },
    { timezone: 'Etc/UTC', name: 'candle-retention', noOverlap: true },
  );
}
