/**
 * Parameter spaces for `perpbot optimize` / `perpbot walkforward`: `--param` flags parsed into
 * finite value lists, the grid (cartesian product) over them, seeded random draws from it, and
 * the validation of one parameter set against a strategy's own zod schema.
 *
 * Every dimension is a finite list, so grid, random and neighbourhood all work on the same
 * lattice: a trial is a point of it (one index per dimension).
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { ConfigError } from '../core/errors.ts';
import type { StrategyDefinition } from '../../strategies/contract.ts';

/** A parameter value as the strategy schema receives it. */
export type ParamValue = number | boolean | string;

/** One dimension: a strategy parameter name and its candidate values, in the order given. */
export interface ParamDim {
  name: string;
  values: ParamValue[];
}

/** A parameter set: name → value (keys in the order of the dimensions). */
export type ParamSet = Record<string, ParamValue>;

/** Round a float produced by a range to 10 significant decimals (1.5 + 3×0.25 = 2.25, not 2.2500000000000004). */
function clean(x: number): number {
  return Number(x.toFixed(10));
}

function scalar(text: string): ParamValue {
  const t = text.trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  return t;
}

/**
 * Parse one `--param` value: `name=from:to:step` (inclusive numeric range; `to` is included when
 * it falls on the lattice), `name=a,b,c` (a list: numbers, `true`/`false`, or text) or `name=v`.
 * @throws ConfigError naming `--param` and the bad text (missing `=`, a step ≤ 0, from > to, over 10,000 values)
 */
export function parseParamSpec(spec: string): ParamDim {
  const eq = spec.indexOf('=');
  const name = eq > 0 ? spec.slice(0, eq).trim() : '';
  const body = eq > 0 ? spec.slice(eq + 1).trim() : '';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || body === '') {
    throw new ConfigError([`--param ${JSON.stringify(spec)}: expected NAME=FROM:TO:STEP or NAME=A,B,C`]);
  }
  const range = body.split(':');
  if (range.length === 3) {
    const [from, to, step] = range.map(Number) as [number, number, number];
    if (![from, to, step].every(Number.isFinite) || step <= 0 || from > to) {
      throw new ConfigError([`--param ${name}=${body}: expected FROM:TO:STEP with numbers, FROM ≤ TO and STEP > 0`]);
    }
    const n = Math.floor((to - from) / step + 1e-9) + 1;
    if (n > 10_000) throw new ConfigError([`--param ${name}=${body}: ${n} values, at most 10,000`]);
    return { name, values: Array.from({ length: n }, (_, i) => clean(from + i * step)) };
  }
  if (range.length !== 1) throw new ConfigError([`--param ${name}=${body}: a range is FROM:TO:STEP (three numbers)`]);
  const values = body.split(',').map(scalar);
  if (values.some((v) => v === '')) throw new ConfigError([`--param ${name}=${body}: an empty value in the list`]);
  return { name, values: [...new Set(values)] };
}

/**
 * Parse every `--param`; a name given twice is an error.
 * @throws ConfigError naming `--param`
 */
export function parseParamSpecs(specs: readonly string[]): ParamDim[] {
  if (specs.length === 0) throw new ConfigError(['--param: give at least one parameter to search (NAME=FROM:TO:STEP or NAME=A,B,C)']);
  const dims = specs.map(parseParamSpec);
  const seen = new Set<string>();
  for (const d of dims) {
    if (seen.has(d.name)) throw new ConfigError([`--param ${d.name}: given twice`]);
    seen.add(d.name);
  }
  return dims;
}

/** Number of points of the lattice (product of the dimensions' sizes). */
export function gridSize(dims: readonly ParamDim[]): number {
  return dims.reduce((a, d) => a * d.values.length, 1);
}

/** The parameter set at lattice indices `idx` (one index per dimension). */
export function pointAt(dims: readonly ParamDim[], idx: readonly number[]): ParamSet {
  const p: ParamSet = {};
  dims.forEach((d, i) => (p[d.name] = d.values[idx[i] as number] as ParamValue));
  return p;
}

/** Lattice indices of the `n`-th grid point (mixed radix, last dimension fastest). */
export function gridIndex(dims: readonly ParamDim[], n: number): number[] {
  const idx = new Array<number>(dims.length).fill(0);
  for (let i = dims.length - 1; i >= 0; i--) {
    const size = (dims[i] as ParamDim).values.length;
    idx[i] = n % size;
    n = Math.floor(n / size);
  }
  return idx;
}

/** Every grid point, in grid order (see {@link gridIndex}). */
export function gridPoints(dims: readonly ParamDim[]): number[][] {
  return Array.from({ length: gridSize(dims) }, (_, n) => gridIndex(dims, n));
}

/**
 * `trials` distinct lattice points drawn uniformly without replacement (all of them, in grid
 * order, when `trials` ≥ the grid's size), with pure-rand's xoroshiro128+ seeded by `seed`: the
 * same seed gives the same points in the same order.
 */
export function randomPoints(dims: readonly ParamDim[], trials: number, seed: number): number[][] {
  const size = gridSize(dims);
  if (trials >= size) return gridPoints(dims);
  const rng = xoroshiro128plus(seed | 0);
  const picked = new Set<string>();
  const out: number[][] = [];
  while (out.length < trials) {
    const idx = dims.map((d) => uniformInt(rng, 0, d.values.length - 1));
    const key = idx.join(',');
    if (picked.has(key)) continue;
    picked.add(key);
    out.push(idx);
  }
  return out;
}

/**
 * The lattice neighbours of `idx`: one step up or down in one dimension at a time (2 per
 * dimension, fewer at the edges).
 */
export function neighbours(dims: readonly ParamDim[], idx: readonly number[]): number[][] {
  const out: number[][] = [];
  dims.forEach((d, i) => {
    for (const delta of [-1, 1]) {
      const v = (idx[i] as number) + delta;
      if (v < 0 || v >= d.values.length) continue;
      const n = [...idx];
      n[i] = v;
      out.push(n);
    }
  });
  return out;
}

/**
 * Validate a parameter set (merged over `base`, the strategy's configured params) against the
 * strategy's zod schema.
 * @returns `{ ok: true, params }` with the schema's output (defaults filled), or `{ ok: false, error }`
 *   with the schema's messages (`stopK: stopK must be greater than bandK`) — an invalid trial, not a crash
 */
export function validateParams(def: StrategyDefinition<unknown>, base: Record<string, unknown>, p: ParamSet): { ok: true; params: unknown } | { ok: false; error: string } {
  const r = def.params.safeParse({ ...base, ...p });
  if (r.success) return { ok: true, params: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ') };
}
