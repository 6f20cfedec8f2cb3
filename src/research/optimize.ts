/**
 * Parameter optimisation: grid or seeded random search over a lattice of strategy parameters
 * (params.ts), each point a full backtest run by a {@link TrialRunner} (local worker threads or
 * BullMQ workers). Results are placed by trial number, not by completion order, and carry no wall
 * time, so the same inputs and seed give the same result on any number of workers.
 *
 * Guards against overfitting in the result: the number of trials, the deflated Sharpe ratio of
 * the best trial (dsr.ts, Bailey & López de Prado 2014) and the objective at the best point's
 * lattice neighbours (a plateau or a spike).
 */
import type { StrategyDefinition } from '../../strategies/contract.ts';
import { deflatedSharpe, periodSharpe, type DeflatedSharpe } from './dsr.ts';
import { gridPoints, neighbours, pointAt, randomPoints, validateParams, type ParamDim, type ParamSet } from './params.ts';
import type { TrialRunner } from './pool.ts';
import type { TrialMetrics, TrialWindow } from './trial.ts';

/** What to maximise. */
export const OBJECTIVES = ['sharpe', 'net', 'calmar', 'sortino'] as const;
/** An objective name. */
export type Objective = (typeof OBJECTIVES)[number];
/** Search methods. */
export const METHODS = ['grid', 'random'] as const;
/** A search method. */
export type Method = (typeof METHODS)[number];

/** The search. */
export interface OptimizeOptions {
  strategy: StrategyDefinition<unknown>;
  /** The strategy's params from the config (the searched ones override them). */
  baseParams: Record<string, unknown>;
  dims: ParamDim[];
  objective: Objective;
  method: Method;
  /** random: number of points (default 50; all of them if the grid is smaller). */
  trials?: number | undefined;
  seed: number;
  /** Trade only in this window (walk-forward); absent = the whole data. */
  window?: TrialWindow | undefined;
  /** Evaluate the best point's missing lattice neighbours (default true). */
  neighbourhood?: boolean | undefined;
  /** Called after each trial (progress display). */
  onTrial?: ((done: number, total: number, best: TrialRow | null) => void) | undefined;
}

/** One trial's row: the point, whether it was valid, its metrics and objective. */
export interface TrialRow {
  /** Trial number, 1-based, in search order (neighbours come after the search). */
  trial: number;
  /** `search` or `neighbour` (evaluated for the plateau check). */
  source: 'search' | 'neighbour';
  /** Lattice indices (one per dimension). */
  index: number[];
  params: ParamSet;
  valid: boolean;
  /** Why invalid: the schema's message (e.g. `stopK: stopK must be greater than bandK`) or the run's failure. */
  error: string | null;
  /** The objective value; null when invalid or undefined (e.g. Sharpe over < 2 days). */
  objective: number | null;
  metrics: TrialMetrics | null;
}

/** The best point's neighbourhood. */
export interface Neighbourhood {
  best: number | null;
  /** Objective at each lattice neighbour (one step in one dimension). */
  neighbours: Array<{ params: ParamSet; objective: number | null }>;
  /**
   * How far the neighbours fall from the best, relative to how far the typical trial falls:
   * (best − mean of the neighbours) / (best − median of the valid search trials). 0 = the
   * neighbours are as good as the best (a plateau); 1 = they are no better than a typical trial
   * (a spike). null when undefined (no neighbours, or every trial equal).
   */
  drop: number | null;
  verdict: 'plateau' | 'spike' | 'unknown';
}

/** The result of a search. */
export interface OptimizeResult {
  strategy: string;
  objective: Objective;
  method: Method;
  seed: number;
  dims: ParamDim[];
  window: TrialWindow | null;
  /** Every trial, in trial order. */
  trials: TrialRow[];
  /** Valid trials with an objective, best first (ties: lower trial number first). */
  ranked: TrialRow[];
  best: TrialRow | null;
  counts: { trials: number; valid: number; invalid: number; failed: number };
  deflatedSharpe: DeflatedSharpe;
  neighbourhood: Neighbourhood;
}

/** The objective of a trial's metrics (null when undefined). */
export function objectiveOf(m: TrialMetrics, o: Objective): number | null {
  const v = o === 'net' ? m.net : m[o];
  return v === null || !Number.isFinite(v) ? null : v;
}

/** Rank: objective descending, then trial number. */
export function rank(rows: readonly TrialRow[]): TrialRow[] {
  return rows.filter((r) => r.valid && r.objective !== null).sort((a, b) => (b.objective as number) - (a.objective as number) || a.trial - b.trial);
}

/**
 * Run a search.
 * @throws whatever the runner throws for a reason other than one trial failing (a thread that cannot start)
 */
export async function optimize(runner: TrialRunner, o: OptimizeOptions): Promise<OptimizeResult> {
  const points = o.method === 'grid' ? gridPoints(o.dims) : randomPoints(o.dims, o.trials ?? 50, o.seed);
  const rows: TrialRow[] = [];
  let total = points.length;
  let done = 0;
  let best: TrialRow | null = null;

  const evaluate = async (idx: number[], trial: number, source: TrialRow['source']): Promise<TrialRow> => {
    const params = pointAt(o.dims, idx);
    const v = validateParams(o.strategy, o.baseParams, params);
    let row: TrialRow;
    if (!v.ok) row = { trial, source, index: idx, params, valid: false, error: v.error, objective: null, metrics: null };
    else {
      try {
        const out = await runner.run({ strategy: o.strategy.name, params: { ...o.baseParams, ...params }, window: o.window });
        row = { trial, source, index: idx, params, valid: true, error: null, objective: objectiveOf(out.metrics, o.objective), metrics: out.metrics };
      } catch (err) {
        row = { trial, source, index: idx, params, valid: false, error: `run failed: ${err instanceof Error ? err.message : String(err)}`, objective: null, metrics: null };
      }
    }
    rows[trial - 1] = row;
    done++;
    if (row.objective !== null && (best === null || row.objective > (best.objective as number) || (row.objective === best.objective && row.trial < best.trial))) best = row;
    o.onTrial?.(done, total, best);
    return row;
  };

  await Promise.all(points.map((idx, i) => evaluate(idx, i + 1, 'search')));
  let ranked = rank(rows);
  const top = ranked[0] ?? null;

  // Neighbourhood of the best point: evaluate the neighbours the search did not.
  const seen = new Map(rows.map((r) => [r.index.join(','), r]));
  if (top && o.neighbourhood !== false) {
    const missing = neighbours(o.dims, top.index).filter((n) => !seen.has(n.join(',')));
    total += missing.length;
    const start = rows.length;
    const extra = await Promise.all(missing.map((idx, i) => evaluate(idx, start + i + 1, 'neighbour')));
    for (const r of extra) seen.set(r.index.join(','), r);
    ranked = rank(rows);
  }
  // The selection is made on the search only; the neighbours are a check of it.
  const searchRanked = ranked.filter((r) => r.source === 'search');
  const chosen = searchRanked[0] ?? null;
  const nb = chosen ? neighbours(o.dims, chosen.index).map((n) => seen.get(n.join(',')) as TrialRow) : [];
  const nbObjs = nb.map((r) => r.objective).filter((x): x is number => x !== null);
  const objs = searchRanked.map((r) => r.objective as number);
  const median = objs.length ? ((objs[Math.floor((objs.length - 1) / 2)] as number) + (objs[Math.ceil((objs.length - 1) / 2)] as number)) / 2 : null;
  const spreadToMedian = chosen && median !== null ? (chosen.objective as number) - median : 0;
  const drop = chosen && nbObjs.length > 0 && spreadToMedian > 0 ? ((chosen.objective as number) - nbObjs.reduce((a, b) => a + b, 0) / nbObjs.length) / spreadToMedian : null;
  const valid = rows.filter((r) => r.valid);
  return {
    strategy: o.strategy.name,
    objective: o.objective,
    method: o.method,
    seed: o.seed,
    dims: o.dims,
    window: o.window ?? null,
    trials: rows,
    ranked,
    best: chosen,
    counts: {
      trials: rows.length,
      valid: valid.length,
      invalid: rows.filter((r) => !r.valid && !(r.error ?? '').startsWith('run failed')).length,
      failed: rows.filter((r) => (r.error ?? '').startsWith('run failed')).length,
    },
    deflatedSharpe: deflatedSharpe(chosen?.metrics?.dailyReturns ?? [], valid.map((r) => (r.metrics ? periodSharpe(r.metrics.dailyReturns) : null))),
    neighbourhood: {
      best: chosen?.objective ?? null,
      neighbours: nb.map((r) => ({ params: r.params, objective: r.objective })),
      drop,
      verdict: drop === null ? 'unknown' : drop < 0.5 ? 'plateau' : 'spike',
    },
  };
}
