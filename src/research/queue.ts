/**
 * Trials across machines on BullMQ (Redis). The submitter (`optimize`/`walkforward --queue URL`)
 * adds one job per trial to the queue {@link QUEUE_NAME} and waits for each with QueueEvents;
 * `perpbot worker --queue URL` processes them on any number of machines.
 *
 * - A job carries the trial, the submitter's configuration (sizing, risk, fees: the same on every
 *   worker) and the SHA-256 of the data files and funding rates. A worker uses its own copy of the
 *   files; when its hash differs it refuses the job with an error naming both hashes (the job goes
 *   back for another worker: `attempts`) and stops, exit code 2.
 * - A worker that dies mid-trial loses only that trial: its job lock (`lockDuration`) is no longer
 *   renewed, BullMQ's stalled-job check moves the job back to waiting and another worker runs it
 *   (up to `maxStalledCount` times). Trials are deterministic, so the result equals a local run.
 * - The trial runs on a worker thread, so the worker's event loop stays free to renew the lock.
 */
import { createHash } from 'node:crypto';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { perpbotVersion } from '../core/paths.ts';
import { fileSha256 } from './data-hash.ts';
import { TrialPool, type TrialRunner } from './pool.ts';
import { loadTrialContext, type TrialContextSpec, type TrialOutcome, type TrialSpec } from './trial.ts';

/** The BullMQ queue of trials. */
export const QUEUE_NAME = 'perpbot-trials';

/** A job's data. */
export interface TrialJob {
  /** SHA-256 over the kline files (data-hash.ts) and the funding rates the submitter loaded. */
  dataHash: string;
  config: Config;
  spec: TrialSpec;
}

/**
 * Connection options from a `redis://[user:pass@]host:port[/db]` URL.
 * @throws ConfigError naming `--queue` for a URL that is not redis:// or rediss://
 */
export function connectionFrom(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError([`--queue: got ${JSON.stringify(url)}, expected redis://host:6379`]);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError([`--queue: got ${JSON.stringify(url)}, expected redis://host:6379`]);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number.isInteger(db) ? db : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/**
 * A new ioredis client for `url` (BullMQ 6 takes a client instance in an ES module program; the
 * caller closes it with `quit()` after the BullMQ objects using it).
 * @throws ConfigError for a bad URL
 */
export function redisClient(url: string): Redis {
  return new Redis(connectionFrom(url));
}

/**
 * The hash a job is checked against: the kline files' hash (data-hash.ts) combined with the
 * funding rates loaded from this machine's files, its exchange-info file (the filters every order
 * is rounded to) and its perpbot version (the code), so a worker whose files or code differ
 * refuses the job instead of returning a different result.
 */
export function jobDataHash(ctxSpec: TrialContextSpec, filesHash: string): string {
  const ctx = loadTrialContext(ctxSpec);
  const funding = ctx.funding ? JSON.stringify([...ctx.funding.rates.entries()]) : 'none';
  return createHash('sha256').update(`${filesHash}\n${funding}\n${fileSha256(ctxSpec.config.exchangeInfo)}\n${perpbotVersion()}`).digest('hex');
}

/** Submits trials to BullMQ and waits for their results. */
export class QueueRunner implements TrialRunner {
  readonly parallelism = Number.POSITIVE_INFINITY;
  private constructor(
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly config: Config,
    private readonly dataHash: string,
    private readonly clients: Redis[],
  ) {}

  /**
   * Connect to the queue at `url`.
   * @throws ConfigError for a bad URL; Error when Redis cannot be reached
   */
  static async connect(url: string, ctxSpec: TrialContextSpec, filesHash: string): Promise<QueueRunner> {
    const clients = [redisClient(url), redisClient(url)];
    const queue = new Queue(QUEUE_NAME, { connection: clients[0] as Redis });
    const events = new QueueEvents(QUEUE_NAME, { connection: clients[1] as Redis });
    // Every trial in flight waits on these events (job.waitUntilFinished adds listeners): a
    // sweep keeps hundreds in flight, which is not a leak.
    events.setMaxListeners(0);
    try {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    } catch (err) {
      await Promise.allSettled([events.close(), queue.close()]);
      for (const c of clients) c.disconnect();
      throw err;
    }
    return new QueueRunner(queue, events, ctxSpec.config, jobDataHash(ctxSpec, filesHash), clients);
  }

  /** Add the trial as a job and wait for it. @throws Error with the job's failure after its attempts */
  async run(spec: TrialSpec): Promise<TrialOutcome> {
    const job = await this.queue.add('trial', { dataHash: this.dataHash, config: this.config, spec } satisfies TrialJob, {
      attempts: 3,
      backoff: { type: 'fixed', delay: 500 },
      removeOnComplete: true,
      removeOnFail: true,
    });
    return (await job.waitUntilFinished(this.events)) as TrialOutcome;
  }

  /** Close the queue, its event stream and their Redis connections (jobs already added stay queued). */
  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
    await Promise.allSettled(this.clients.map((c) => c.quit()));
  }
}

/** `perpbot worker` settings. */
export interface QueueWorkerOptions {
  url: string;
  ctxSpec: TrialContextSpec;
  /** This machine's kline files' hash (data-hash.ts). */
  dataHash: string;
  concurrency: number;
  /** Job lock, ms (BullMQ `lockDuration`); stalled jobs are checked every half of it. */
  lockDuration: number;
  log: (line: string) => void;
}

/**
 * Process trials until SIGINT/SIGTERM, or until a job's data hash differs from this machine's.
 * @throws ConfigError (exit 2) after refusing a job whose data differ
 */
export async function runQueueWorker(o: QueueWorkerOptions): Promise<void> {
  const hash = jobDataHash(o.ctxSpec, o.dataHash);
  const pool = new TrialPool(o.concurrency, o.ctxSpec);
  let refused: string | null = null;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => (stop = r));
  const client = redisClient(o.url);
  const worker = new Worker<TrialJob, TrialOutcome>(
    QUEUE_NAME,
    async (job) => {
      if (job.data.dataHash !== hash) {
        refused = `refusing trial job ${job.id}: its data hash ${job.data.dataHash.slice(0, 16)}… differs from this worker's ${hash.slice(0, 16)}… (the kline or funding files differ: give this worker the same files as the submitter)`;
        o.log(`perpbot worker: ${refused}`);
        setImmediate(stop);
        throw new Error(refused);
      }
      o.log(`perpbot worker: trial job ${job.id} started (attempt ${job.attemptsStarted}, stalled ${job.stalledCounter})`);
      return pool.run({ ...job.data.spec, config: job.data.config });
    },
    {
      connection: client,
      concurrency: o.concurrency,
      lockDuration: o.lockDuration,
      stalledInterval: Math.max(500, Math.floor(o.lockDuration / 2)),
      maxStalledCount: 3,
    },
  );
  let lastError = '';
  worker.on('error', (err) => {
    if (err.message !== lastError) o.log(`perpbot worker: ${err.message}`); // once per distinct error, not per retry
    lastError = err.message;
  });
  await worker.waitUntilReady();
  o.log(`perpbot worker: pid ${process.pid} ready on ${QUEUE_NAME}, data ${hash.slice(0, 16)}…, concurrency ${o.concurrency}`);
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await stopped;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await worker.close();
    await pool.close();
    await client.quit().catch(() => undefined);
  }
  if (refused) throw new ConfigError([refused]);
}
