/**
 * A pool of trial worker threads (node:worker_threads), one trial at a time per thread. Each
 * thread parses the data once (trial-thread.ts) and keeps it for all its trials.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PerpbotError } from '../core/errors.ts';
import type { TrialContextSpec, TrialOutcome, TrialSpec } from './trial.ts';

/**
 * The trial thread's entry: from the sources, `trial-thread.mjs` (it registers tsx in the new
 * thread); from the compiled bundle (scripts/build.mjs), `dist/trial-thread.js` beside it.
 */
const TRIAL_THREAD_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./trial-thread.mjs', import.meta.url) : new URL('./trial-thread.js', import.meta.url);

/** Runs trials; {@link TrialPool} locally, the BullMQ runner (queue.ts) across machines. */
export interface TrialRunner {
  /** Run one trial. @throws Error with the trial's failure message */
  run(spec: TrialSpec): Promise<TrialOutcome>;
  /** Stop the threads / connections. */
  close(): Promise<void>;
  /** How many trials run at once. */
  readonly parallelism: number;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
}

/** The default number of threads: every core. */
export function defaultWorkers(): number {
  return availableParallelism();
}

/** Local worker-thread pool. */
export class TrialPool implements TrialRunner {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<() => void> = [];
  private readonly pending = new Map<number, { resolve: (o: TrialOutcome) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failed: Error | null = null;
  readonly parallelism: number;

  /**
   * @param n number of threads (≥ 1)
   * @param ctx what each thread loads once (config, data files, funding)
   */
  constructor(n: number, ctx: TrialContextSpec) {
    this.parallelism = n;
    for (let i = 0; i < n; i++) {
      const worker = new Worker(TRIAL_THREAD_ENTRY, { workerData: ctx });
      const slot: Slot = { worker, busy: false, ready: Promise.resolve() };
      slot.ready = new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        worker.on('message', (m: { ready?: true; id?: number; ok?: boolean; outcome?: TrialOutcome; error?: string }) => {
          if (m.ready) return resolve();
          const p = this.pending.get(m.id as number);
          if (!p) return;
          this.pending.delete(m.id as number);
          if (m.ok) p.resolve(m.outcome as TrialOutcome);
          else p.reject(new Error(m.error));
        });
      });
      worker.on('error', (err) => {
        this.failed = err instanceof Error ? err : new Error(String(err));
        for (const p of this.pending.values()) p.reject(this.failed);
        this.pending.clear();
      });
      this.slots.push(slot);
    }
  }

  private async acquire(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }

  /**
   * Run a trial on the next free thread.
   * @throws PerpbotError DATA/… when a thread could not load the data; Error with the trial's message
   */
  async run(spec: TrialSpec): Promise<TrialOutcome> {
    const slot = await this.acquire();
    try {
      await slot.ready.catch((err: unknown) => {
        throw err instanceof PerpbotError ? err : new PerpbotError('DATA_FILE', `a trial thread could not start: ${err instanceof Error ? err.message : String(err)}`);
      });
      if (this.failed) throw this.failed;
      const id = this.nextId++;
      return await new Promise<TrialOutcome>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        slot.worker.postMessage({ id, spec });
      });
    } finally {
      slot.busy = false;
      this.waiting.shift()?.();
    }
  }

  /** Terminate every thread (a trial still running is abandoned). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
