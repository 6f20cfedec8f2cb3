/**
 * What a long-lived kernel (paper, live) runs on the wall clock beside the pipeline: the
 * once-a-second tick (the executor's timers, the incident checks, the intent journal's upkeep),
 * the alerts' sweeping and `botStarted`, the daily summary and the `candles_1m` retention cron
 * jobs; and stopping them at close. A replay starts none of these. Split from kernel.ts.
 */
import type { Logger } from 'pino';
import type { ScheduledTask } from 'node-cron';
import type { Config } from '../config/schema.ts';
import type { Mode } from '../core/types.ts';
import { startDailySummary } from '../jobs/daily-summary.ts';
import { startCandleRetention } from '../jobs/candle-retention.ts';
import type { Kernel } from './kernel.ts';

/** The wall-clock jobs of one kernel, from {@link startWallClockJobs}. */
export interface WallClockJobs {
  /** Stop the tick, then destroy the daily summary and the retention jobs (each awaited in turn). */
  stop(): Promise<void>;
}

/**
 * Start the wall-clock jobs of `k`, the last step of building a paper or live kernel: the
 * once-a-second tick (unref'd: it keeps no process alive), the alerts' sweeping, `botStarted`;
 * the daily summary on `alerts.dailySummaryCron` unless empty; the retention of `candles_1m`
 * rows older than `retention.candles1mDays` on `retention.cron` unless either is off.
 * @throws RangeError naming the setting when a cron expression or the retention days are invalid
 *   (by then the tick runs and `botStarted` is raised)
 */
export function startWallClockJobs(k: Kernel, config: Config, mode: Mode, log: Logger): WallClockJobs {
  // Live and paper: time moves without klines too (TTLs, halt cooldowns).
  const ticker = setInterval(() => {
    k.executor.tick();
    k.checkIncidents();
    k.intents?.maintain(log);
  }, 1_000);
  ticker.unref();
  k.alerts.startSweeping();
  k.alerts.raise('botStarted', { mode, runId: k.runId });
  let dailySummary: ScheduledTask | null = null;
  if (config.alerts.dailySummaryCron !== '') {
    dailySummary = startDailySummary(config.alerts.dailySummaryCron, {
      db: k.db,
      runId: k.runId,
      send: (text) => k.alerts.raise('dailySummary', { text }),
      positions: () => k.executor.positionSnapshot(),
      tradingState: () => k.executor.tradingState(),
      now: () => Date.now(),
      log: log.child({ component: 'jobs' }),
    });
  }
  // candles_1m retention: paper and live only (a replay never deletes market data).
  let retention: ScheduledTask | null = null;
  if (config.retention.candles1mDays > 0 && config.retention.cron !== '') {
    retention = startCandleRetention(config.retention.cron, { db: k.db, days: config.retention.candles1mDays, now: () => Date.now(), log: log.child({ component: 'jobs' }) });
  }
  return {
    async stop(): Promise<void> {
      clearInterval(ticker);
      await dailySummary?.destroy();
      await retention?.destroy();
    },
  };
}
