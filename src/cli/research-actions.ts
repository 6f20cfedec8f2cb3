/**
 * `perpbot optimize`, `perpbot walkforward` and `perpbot worker` (issue #11): parameter search on
 * worker threads or BullMQ workers, walk-forward analysis. Flags are validated with zod before
 * anything runs (exit 2 naming the flag); the work is in src/research/.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { loadStrategyModules } from '../../strategies/loader.ts';
import { getStrategy } from '../../strategies/registry.ts';
import { defaultWorkers, TrialPool, type TrialRunner } from '../research/pool.ts';
import { loadTrialContext, type TrialContextSpec } from '../research/trial.ts';
import { METHODS, OBJECTIVES, optimize, type OptimizeOptions, type TrialRow } from '../research/optimize.ts';
import { parseParamSpecs } from '../research/params.ts';
import { formatOptimize, paramsText, writeOptimizeOutput } from '../research/output.ts';
import { hashDataFiles, setupHash } from '../research/data-hash.ts';
import { parseDuration, walkForward, formatWalkForward, writeWalkForwardOutput } from '../research/walkforward.ts';
import { renderWalkForwardHtml } from '../research/walkforward-html.ts';
import { QueueRunner, runQueueWorker } from '../research/queue.ts';

/** Flags shared by optimize and walkforward (as commander gives them). */
export interface SearchFlags {
  config?: string;
  data?: string[];
  exchangeInfo?: string;
  funding?: string[];
  strategy?: string;
  param?: string[];
  objective?: string;
  method?: string;
  trials?: string;
  seed?: string;
  workers?: string;
  queue?: string;
  out?: string;
}

const intFlag = (flag: string, min: number) =>
  z
    .string()
    .regex(/^-?\d+$/, `${flag}: expected a whole number`)
    .transform(Number)
    .refine((n) => n >= min, `${flag}: expected a whole number ≥ ${min}`);

const searchFlags = z.object({
  strategy: z.string({ error: '--strategy: required (e.g. vwap-adx)' }).min(1, '--strategy: required'),
  param: z.array(z.string()).default([]),
  objective: z.enum(OBJECTIVES, { error: `--objective: expected one of ${OBJECTIVES.join(', ')}` }).default('sharpe'),
  method: z.enum(METHODS, { error: `--method: expected one of ${METHODS.join(', ')} (tpe is not implemented)` }).default('grid'),
  trials: intFlag('--trials', 1).optional(),
  seed: intFlag('--seed', 0).default(1),
  workers: intFlag('--workers', 1).optional(),
  queue: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, '--queue: expected a Redis URL, redis://host:6379')
    .optional(),
  out: z
    .string()
    .refine((p) => ['.csv', '.json'].includes(extname(p).toLowerCase()), '--out: expected a file ending in .csv or .json')
    .optional(),
});

/**
 * Parse flags with a zod schema.
 * @throws ConfigError listing each bad flag (exit 2)
 */
export function parseFlags<S extends z.ZodType>(schema: S, flags: unknown): z.infer<S> {
  const r = schema.safeParse(flags);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => i.message));
  return r.data;
}

/** @throws ConfigError when `file`'s folder does not exist (flag named) */
export function checkOutFile(flag: string, file: string | undefined): void {
  if (file === undefined) return;
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError([`${flag} ${file}: folder ${dir} does not exist`]);
}

/** Progress on stderr: trials done, best so far, time left (wall clock: stderr only, never in outputs). */
export function progressReporter(label: string, objective: string): (done: number, total: number, best: TrialRow | null) => void {
  const t0 = Date.now();
  let last = 0;
  const tty = process.stderr.isTTY === true;
  return (done, total, best) => {
    const now = Date.now();
    if (done < total && now - last < (tty ? 200 : 2000)) return;
    last = now;
    const left = done > 0 ? ((now - t0) / done) * (total - done) : 0;
    const line = `${label}: ${done}/${total} trials, best ${objective} ${best?.objective?.toFixed(4) ?? '-'}${best ? ` (${paramsText(best.params)})` : ''}, ~${Math.ceil(left / 1000)}s left`;
    process.stderr.write(tty ? `\r${line}\x1b[K${done === total ? '\n' : ''}` : `${line}\n`);
  };
}

interface Prepared {
  config: Config;
  ctxSpec: TrialContextSpec;
  opts: Omit<OptimizeOptions, 'window' | 'onTrial'>;
  data: ReturnType<typeof hashDataFiles> & { setup: string };
  flags: z.infer<typeof searchFlags>;
}

/** Validate everything (config, strategy, params, data, funding) before any trial runs. */
async function prepare(raw: SearchFlags): Promise<Prepared> {
  const flags = parseFlags(searchFlags, raw);
  const config = loadConfig({ file: raw.config, overrides: { data: raw.data, exchangeInfo: raw.exchangeInfo, 'log.file': 'false' } });
  await loadStrategyModules(config.strategies);
  const def = getStrategy(flags.strategy);
  const dims = parseParamSpecs(flags.param);
  checkOutFile('--out', flags.out);
  const ctxSpec: TrialContextSpec = { config, funding: raw.funding ?? [] };
  loadTrialContext(ctxSpec); // bad data / funding / symbol: exit 2 here, before threads start
  const baseParams = config.strategies.find((s) => s.name === flags.strategy)?.params ?? {};
  return {
    config,
    ctxSpec,
    flags,
    data: { ...hashDataFiles(config.data), setup: setupHash(config, raw.funding ?? []) },
    opts: { strategy: def, baseParams, dims, objective: flags.objective, method: flags.method, trials: flags.trials, seed: flags.seed },
  };
}

async function runnerFor(p: Prepared): Promise<TrialRunner> {
  if (p.flags.queue) return QueueRunner.connect(p.flags.queue, p.ctxSpec, p.data.hash);
  return new TrialPool(p.flags.workers ?? defaultWorkers(), p.ctxSpec);
}

/**
 * A search with failed trials is not the search asked for (its ranking leaves them out): say so
 * on stderr and set exit code 1, after the outputs are written (nothing is lost).
 */
function failedTrials(command: string, failed: number): void {
  if (failed === 0) return;
  process.stderr.write(`perpbot ${command}: ${failed} trial(s) failed to run (their error is in --out's error column); the ranking leaves them out, run again\n`);
  process.exitCode = 1;
}

/** Run `perpbot optimize` with the parsed flags (see {@link researchCommands}). @throws ConfigError (exit 2) for bad flags, PerpbotError for bad data */
export async function optimizeAction(raw: SearchFlags): Promise<void> {
    const p = await prepare(raw);
    const runner = await runnerFor(p);
    try {
      const result = await optimize(runner, { ...p.opts, onTrial: progressReporter('optimize', p.flags.objective) });
      if (p.flags.out) writeOptimizeOutput(p.flags.out, result, p.data);
      process.stdout.write(`${formatOptimize(result)}\n`);
      failedTrials('optimize', result.counts.failed);
    } finally {
      await runner.close();
    }
}

/** Run `perpbot walkforward` with the parsed flags. @throws ConfigError (exit 2) for bad flags, PerpbotError for bad data */
export async function walkforwardAction(raw: SearchFlags & { train?: string; test?: string; step?: string; anchored?: boolean; warmup?: string; report?: string }): Promise<void> {
    const p = await prepare(raw);
    const train = parseDuration('--train', raw.train);
    const test = parseDuration('--test', raw.test);
    const step = raw.step === undefined ? test : parseDuration('--step', raw.step);
    const warmup = parseDuration('--warmup', raw.warmup ?? '1d', true);
    checkOutFile('--report', raw.report);
    const runner = await runnerFor(p);
    try {
      const wf = await walkForward(runner, loadTrialContext(p.ctxSpec).data, { ...p.opts, train, test, step, anchored: raw.anchored === true, warmup, startingEquity: Number(p.config.sim.startingBalance), onTrial: progressReporter('walkforward', p.flags.objective) });
      if (p.flags.out) writeWalkForwardOutput(p.flags.out, wf, p.data);
      if (raw.report) writeFileSync(raw.report, renderWalkForwardHtml(wf, p.data));
      process.stdout.write(`${formatWalkForward(wf)}\n`);
      failedTrials('walkforward', wf.windows.reduce((n, w) => n + w.isFailed, 0));
    } finally {
      await runner.close();
    }
}

/** Run `perpbot worker` until stopped. @throws ConfigError (exit 2) for bad flags, PerpbotError for bad data */
export async function workerAction(raw: { queue: string; config?: string; data?: string[]; exchangeInfo?: string; funding?: string[]; concurrency: string; lockDuration: string }): Promise<void> {
    const f = parseFlags(
      z.object({
        queue: z.string().regex(/^rediss?:\/\/[^\s]+$/, '--queue: expected a Redis URL, redis://host:6379'),
        concurrency: intFlag('--concurrency', 1),
        lockDuration: intFlag('--lock-duration', 1000),
      }),
      raw,
    );
    const config = loadConfig({ file: raw.config, overrides: { data: raw.data, exchangeInfo: raw.exchangeInfo, 'log.file': 'false' } });
    await loadStrategyModules(config.strategies);
    const ctxSpec: TrialContextSpec = { config, funding: raw.funding ?? [] };
    loadTrialContext(ctxSpec);
    await runQueueWorker({ url: f.queue, ctxSpec, dataHash: hashDataFiles(config.data).hash, concurrency: f.concurrency, lockDuration: f.lockDuration, log: (l) => process.stderr.write(`${l}\n`) });
}
