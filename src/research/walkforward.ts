/**
 * Walk-forward analysis (Pardo, "The Evaluation and Optimization of Trading Strategies", 2nd ed.
 * 2008, ch. 11): optimise on an in-sample (IS) window, trade the best parameters on the next,
 * unseen out-of-sample (OOS) window, move on by `step`, repeat; stitch the OOS equity.
 *
 * Windows (UTC epoch ms): IS = [isFrom, isTo), OOS = [isTo, isTo + test); rolling: isFrom moves by
 * `step`; anchored: isFrom stays at the start of the data. Only whole OOS windows are used.
 *
 * Warm-up: every window (IS and OOS) is replayed from `warmup` before its start (clipped to the
 * data), with trading HALTED until the window opens (trial.ts): the indicators are warm, no
 * position is carried in, and the OOS window sees no IS trade.
 *
 * Walk-forward efficiency (WFE) = OOS annualised return / IS annualised return, both annualised
 * linearly (return × 365 days / window length) so windows of different lengths compare.
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { perpbotVersion } from '../core/paths.ts';
import type { ReplayData } from '../market/replay-source.ts';
import { optimize, type OptimizeOptions, type TrialRow } from './optimize.ts';
import { gridSize, type ParamSet, type ParamValue } from './params.ts';
import type { TrialRunner } from './pool.ts';
import type { TrialMetrics } from './trial.ts';
import { paramsText } from './output.ts';
import type { DataFileHash } from './data-hash.ts';

const DAY = 86_400_000;
const YEAR = 365 * DAY;

/**
 * Parse a duration flag: `30d`, `72h`, `90m` (days, hours, minutes).
 * @throws ConfigError naming the flag
 */
export function parseDuration(flag: string, text: string | undefined, allowZero = false): number {
  const m = /^(\d+(?:\.\d+)?)([dhm])$/.exec(text?.trim() ?? '');
  const ms = m ? Number(m[1]) * { d: DAY, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'] : Number.NaN;
  if (!Number.isFinite(ms) || (!allowZero && ms <= 0) || ms % 60_000 !== 0) {
    throw new ConfigError([`${flag}: got ${JSON.stringify(text ?? null)}, expected a duration of whole minutes like 30d, 72h or 90m`]);
  }
  return ms;
}

/** Walk-forward settings (durations in ms). */
export interface WalkForwardOptions extends Omit<OptimizeOptions, 'window'> {
  train: number;
  test: number;
  step: number;
  anchored: boolean;
  warmup: number;
  /** Each trial's starting equity (config `sim.startingBalance`), USDT: the stitched curve starts here. */
  startingEquity: number;
}

/** One window's outcome. */
export interface WalkForwardWindow {
  index: number;
  isFrom: number;
  isTo: number;
  oosFrom: number;
  oosTo: number;
  /** Chosen parameters (best IS trial); null when no IS trial had an objective. */
  params: ParamSet | null;
  isObjective: number | null;
  isMetrics: TrialMetrics | null;
  oosObjective: number | null;
  oosMetrics: TrialMetrics | null;
  /** IS trials run (valid + invalid). */
  isTrials: number;
  /** IS trials whose run failed (left out of the choice; the CLI exits 1). */
  isFailed: number;
  /** Linear annualised returns and their ratio (null when IS ≤ 0). */
  isAnnualised: number | null;
  oosAnnualised: number | null;
  wfe: number | null;
}

/** How often each parameter's chosen value changed across windows. */
export interface ParamStability {
  name: string;
  /** Chosen value per window (null: no choice). */
  values: Array<ParamValue | null>;
  /** Most chosen value and the share of windows that chose it. */
  mode: ParamValue | null;
  modeShare: number;
  /** Numeric parameters: std of the chosen values / the searched range (0 = always the same). */
  spread: number | null;
}

/** The whole analysis. */
export interface WalkForwardResult {
  strategy: string;
  objective: string;
  method: string;
  seed: number;
  train: number;
  test: number;
  step: number;
  anchored: boolean;
  warmup: number;
  windows: WalkForwardWindow[];
  /** Stitched OOS equity (each window compounding from the previous one's end): t UTC epoch ms, equity USDT. */
  equity: Array<{ t: number; equity: number }>;
  startingEquity: number;
  /** Stitched OOS: total and linear annualised return; mean IS annualised return; WFE = their ratio. */
  oosReturn: number;
  oosAnnualised: number;
  isAnnualisedMean: number | null;
  wfe: number | null;
  stability: ParamStability[];
  totalTrials: number;
}

/**
 * The windows over data spanning [from, to).
 * @throws ConfigError when not even one whole IS + OOS window fits
 */
export function planWindows(from: number, to: number, o: Pick<WalkForwardOptions, 'train' | 'test' | 'step' | 'anchored'>): Array<Pick<WalkForwardWindow, 'index' | 'isFrom' | 'isTo' | 'oosFrom' | 'oosTo'>> {
  const out = [];
  for (let i = 0; ; i++) {
    const isTo = from + o.train + i * o.step;
    const oosTo = isTo + o.test;
    if (oosTo > to) break;
    out.push({ index: i + 1, isFrom: o.anchored ? from : isTo - o.train, isTo, oosFrom: isTo, oosTo });
  }
  if (out.length === 0) {
    throw new ConfigError([`--train + --test: ${(o.train + o.test) / DAY} days do not fit in the data (${((to - from) / DAY).toFixed(2)} days)`]);
  }
  return out;
}

const linear = (m: TrialMetrics | null, len: number) => (m ? (m.totalReturn * YEAR) / len : null);

/** Run the walk-forward analysis; windows' IS searches share the runner (in parallel). */
export async function walkForward(runner: TrialRunner, data: ReplayData, o: WalkForwardOptions): Promise<WalkForwardResult> {
  const from = Math.min(...data.streams.map((s) => s[0]?.openTime ?? Infinity));
  const to = Math.max(...data.streams.map((s) => (s[s.length - 1]?.openTime ?? -Infinity) + 60_000));
  const plan = planWindows(from, to, o);
  // Each window's expected trials (its search + the out-of-sample run), so the total and the time
  // left are right before every window has started.
  const size = gridSize(o.dims);
  const perWindow = (o.method === 'grid' ? size : Math.min(o.trials ?? 50, size)) + 1;
  const progress = new Map<number, { done: number; total: number; best: TrialRow | null }>(plan.map((w) => [w.index, { done: 0, total: perWindow, best: null }]));
  const report = () => {
    let done = 0;
    let total = 0;
    for (const p of progress.values()) {
      done += p.done;
      total += p.total;
    }
    const best = [...progress.values()].at(-1)?.best ?? null;
    o.onTrial?.(done, total, best);
  };
  const windows = await Promise.all(
    plan.map(async (w): Promise<WalkForwardWindow & { curve: Array<{ t: number; equity: number }> }> => {
      const is = await optimize(runner, {
        ...o,
        neighbourhood: false,
        window: { warmupFrom: Math.max(from, w.isFrom - o.warmup), from: w.isFrom, to: w.isTo },
        onTrial: (done, total, best) => {
          progress.set(w.index, { done, total: Math.max(total + 1, perWindow), best });
          report();
        },
      });
      const best = is.best;
      let oos = null;
      if (best) {
        oos = await runner.run({ strategy: o.strategy.name, params: { ...o.baseParams, ...best.params }, window: { warmupFrom: Math.max(from, w.oosFrom - o.warmup), from: w.oosFrom, to: w.oosTo }, wantCurve: true });
      }
      const p = progress.get(w.index);
      if (p) p.done++;
      report();
      const isA = linear(best?.metrics ?? null, w.isTo - w.isFrom);
      const oosA = linear(oos?.metrics ?? null, w.oosTo - w.oosFrom);
      const om = oos?.metrics ?? null;
      const oosObjective = om ? (o.objective === 'net' ? om.net : om[o.objective]) : null;
      return {
        ...w,
        params: best?.params ?? null,
        isObjective: best?.objective ?? null,
        isMetrics: best?.metrics ?? null,
        oosObjective,
        oosMetrics: om,
        isTrials: is.counts.trials,
        isFailed: is.counts.failed,
        isAnnualised: isA,
        oosAnnualised: oosA,
        wfe: isA !== null && oosA !== null && isA > 0 ? oosA / isA : null,
        curve: oos?.curve ?? [],
      };
    }),
  );

  // Stitch: each window's curve relative to its own start, compounded onto the running equity.
  // Every trial starts flat at o.startingEquity (trading is off during the warm-up).
  const start = o.startingEquity;
  let running = start;
  const equity: Array<{ t: number; equity: number }> = [{ t: windows[0]?.oosFrom ?? from, equity: start }];
  for (const w of windows) {
    if ((equity.at(-1) as { t: number }).t < w.oosFrom) equity.push({ t: w.oosFrom, equity: running });
    for (const p of w.curve) equity.push({ t: p.t, equity: running * (p.equity / start) });
    running *= 1 + (w.oosMetrics?.totalReturn ?? 0);
    if (w.curve.length === 0 || (w.curve.at(-1) as { t: number }).t < w.oosTo) equity.push({ t: w.oosTo, equity: running });
  }
  const oosSpan = (windows.at(-1)?.oosTo ?? from) - (windows[0]?.oosFrom ?? from);
  const oosReturn = running / start - 1;
  const oosAnnualised = oosSpan > 0 ? (oosReturn * YEAR) / oosSpan : 0;
  const isVals = windows.map((w) => w.isAnnualised).filter((x): x is number => x !== null);
  const isAnnualisedMean = isVals.length ? isVals.reduce((a, b) => a + b, 0) / isVals.length : null;

  const stability: ParamStability[] = o.dims.map((d) => {
    const values = windows.map((w) => (w.params ? (w.params[d.name] as ParamValue) : null));
    const counts = new Map<ParamValue, number>();
    for (const v of values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
    let mode: ParamValue | null = null;
    let n = 0;
    for (const v of d.values) if ((counts.get(v) ?? 0) > n) [mode, n] = [v, counts.get(v) as number];
    const nums = values.filter((v): v is number => typeof v === 'number');
    const range = d.values.every((v) => typeof v === 'number') ? Math.max(...(d.values as number[])) - Math.min(...(d.values as number[])) : 0;
    let spread: number | null = null;
    if (nums.length > 0 && range > 0) {
      const m = nums.reduce((a, b) => a + b, 0) / nums.length;
      spread = Math.sqrt(nums.reduce((a, x) => a + (x - m) ** 2, 0) / nums.length) / range;
    }
    return { name: d.name, values, mode, modeShare: windows.length ? n / windows.length : 0, spread };
  });

  return {
    strategy: o.strategy.name,
    objective: o.objective,
    method: o.method,
    seed: o.seed,
    train: o.train,
    test: o.test,
    step: o.step,
    anchored: o.anchored,
    warmup: o.warmup,
    windows: windows.map(({ curve: _curve, ...w }) => w),
    equity,
    startingEquity: start,
    oosReturn,
    oosAnnualised,
    isAnnualisedMean,
    wfe: isAnnualisedMean !== null && isAnnualisedMean > 0 ? oosAnnualised / isAnnualisedMean : null,
    stability,
    totalTrials: windows.reduce((a, w) => a + w.isTrials + (w.oosMetrics ? 1 : 0), 0),
  };
}

const iso = (t: number) => new Date(t).toISOString().slice(0, 16).replace('T', ' ');
const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const fx = (x: number | null | undefined, d = 3) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));

/** The printed table. */
export function formatWalkForward(r: WalkForwardResult): string {
  const out: string[] = [];
  out.push(`walkforward ${r.strategy}: ${r.windows.length} windows, train ${r.train / DAY}d, test ${r.test / DAY}d, step ${r.step / DAY}d${r.anchored ? ', anchored' : ''}, warm-up ${r.warmup / DAY}d; ${r.method} search on ${r.objective}, ${r.totalTrials} trials`);
  out.push(`  #  ${'OOS window (UTC)'.padEnd(35)} ${'IS ' + r.objective} ${'OOS ' + r.objective}  IS ret/yr  OOS ret/yr    WFE  OOS ret  trips  params`);
  for (const w of r.windows) {
    out.push(
      `  ${String(w.index).padEnd(2)} ${`${iso(w.oosFrom)} → ${iso(w.oosTo)}`.padEnd(35)} ${fx(w.isObjective).padStart(3 + r.objective.length)} ${fx(w.oosObjective).padStart(4 + r.objective.length)} ${pct(w.isAnnualised).padStart(10)} ${pct(w.oosAnnualised).padStart(11)} ${fx(w.wfe, 2).padStart(6)} ${pct(w.oosMetrics?.totalReturn).padStart(8)} ${String(w.oosMetrics?.roundTrips ?? '-').padStart(6)}  ${w.params ? paramsText(w.params) : 'none'}`,
    );
  }
  out.push(`  stitched OOS: return ${pct(r.oosReturn)} (${pct(r.oosAnnualised)}/yr linear), ending equity ${(r.startingEquity * (1 + r.oosReturn)).toFixed(2)} from ${r.startingEquity.toFixed(2)}`);
  out.push(`  walk-forward efficiency ${r.wfe === null ? 'n/a (mean IS return ≤ 0)' : r.wfe.toFixed(2)} (OOS ${pct(r.oosAnnualised)}/yr vs mean IS ${pct(r.isAnnualisedMean)}/yr)`);
  for (const s of r.stability) {
    out.push(`  ${s.name}: chosen ${s.values.map((v) => (v === null ? '-' : String(v))).join(', ')}; mode ${String(s.mode)} in ${(s.modeShare * 100).toFixed(0)}% of windows${s.spread === null ? '' : `, spread ${(s.spread * 100).toFixed(0)}% of the range`}`);
  }
  return out.join('\n');
}

/** Write `--out`: JSON (everything) or CSV (one row per window). */
export function writeWalkForwardOutput(file: string, r: WalkForwardResult, data: { hash: string; files: DataFileHash[]; setup?: string | undefined }): void {
  if (extname(file).toLowerCase() === '.json') {
    writeFileSync(file, `${JSON.stringify({ ...r, data, perpbotVersion: perpbotVersion() }, null, 2)}\n`);
    return;
  }
  const names = r.stability.map((s) => s.name);
  const version = perpbotVersion();
  const head = ['window', 'is_from', 'is_to', 'oos_from', 'oos_to', ...names.map((n) => `param.${n}`), 'is_objective', 'oos_objective', 'is_return', 'oos_return', 'is_annualised', 'oos_annualised', 'wfe', 'oos_round_trips', 'is_trials', 'strategy', 'objective_name', 'method', 'seed', 'data_sha256', 'setup_sha256', 'perpbot_version'];
  const rows = r.windows.map((w) =>
    [w.index, iso(w.isFrom), iso(w.isTo), iso(w.oosFrom), iso(w.oosTo), ...names.map((n) => w.params?.[n] ?? ''), w.isObjective ?? '', w.oosObjective ?? '', w.isMetrics?.totalReturn ?? '', w.oosMetrics?.totalReturn ?? '', w.isAnnualised ?? '', w.oosAnnualised ?? '', w.wfe ?? '', w.oosMetrics?.roundTrips ?? '', w.isTrials, r.strategy, r.objective, r.method, r.seed, data.hash, data.setup ?? '', version].join(','),
  );
  writeFileSync(file, `${[head.join(','), ...rows].join('\n')}\n`);
}
