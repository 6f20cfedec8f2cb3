/**
 * Test support for the indicator tests (not used by the bot): a tiny kline-CSV reader and an
 * independent exact-decimal session-VWAP reference.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import DecimalImport from 'decimal.js';
import type { Decimal as DecimalClass } from 'decimal.js';

// decimal.js ships CommonJS-style typings: under NodeNext TypeScript types the default import as the
// module object, while at runtime (ESM build) it is the Decimal class itself.
const DecimalJs = DecimalImport as unknown as typeof DecimalClass;

/** Real 1m klines shipped with the repository (2025-07-06 00:00 UTC … 2025-07-17 12:06 UTC). */
export const KLINES_CSV = {
  BTCUSDT: fileURLToPath(new URL('../../data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv', import.meta.url)),
  ETHUSDT: fileURLToPath(new URL('../../data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv', import.meta.url)),
} as const;

/**
 * Columns of a kline CSV, both as floats and as the original text (for exact decimal references).
 * Prices in the quote asset, volume in the base asset, open time in UTC epoch ms.
 */
export interface KlineColumns {
  openTime: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
  text: { high: string[]; low: string[]; close: string[]; volume: string[] };
}

/**
 * Read a CSV with header `open_time,open,high,low,close,volume`.
 * @throws Error naming the line when a row is malformed
 */
export function readKlinesCsv(path: string): KlineColumns {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  if (lines[0]?.trim() !== 'open_time,open,high,low,close,volume') {
    throw new Error(`${path}: unexpected header "${lines[0]}"`);
  }
  const out: KlineColumns = {
    openTime: [], high: [], low: [], close: [], volume: [],
    text: { high: [], low: [], close: [], volume: [] },
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const f = line.split(',');
    const nums = f.map(Number);
    if (f.length !== 6 || !nums.every(Number.isFinite)) throw new Error(`${path}:${i + 1}: malformed row "${line}"`);
    out.openTime.push(nums[0]!);
    out.high.push(nums[2]!);
    out.low.push(nums[3]!);
    out.close.push(nums[4]!);
    out.volume.push(nums[5]!);
    out.text.high.push(f[2]!);
    out.text.low.push(f[3]!);
    out.text.close.push(f[4]!);
    out.text.volume.push(f[5]!);
  }
  return out;
}

/** decimal.js with 60 significant digits: far more than any float comparison needs. */
export const D = DecimalJs.clone({ precision: 60, rounding: DecimalJs.ROUND_HALF_EVEN });
/** A value of the test-only 60-digit Decimal. */
export type D = InstanceType<typeof D>;

/** Exact session VWAP and volume-weighted σ of a prefix; null when the prefix has no volume. */
export interface DecimalVwap {
  vwap: D | null;
  stdev: D | null;
  /** Klines in the prefix. */
  count: number;
}

/**
 * Reference session VWAP at bar `i`, recomputed from scratch in exact decimal arithmetic:
 * the session is every bar j ≤ i with the same UTC day as bar i; two passes over that prefix:
 * vwap = Σ tp·v / Σ v, then σ = sqrt(Σ v·(tp − vwap)² / Σ v), with tp = (h + l + c) / 3 from the
 * CSV text. Deliberately naive: O(session length) per call, no shared state with the streaming code.
 */
export function decimalSessionVwapAt(k: KlineColumns, i: number): DecimalVwap {
  const day = Math.floor(k.openTime[i]! / 86_400_000);
  let start = i;
  while (start > 0 && Math.floor(k.openTime[start - 1]! / 86_400_000) === day) start--;
  const tps: D[] = [];
  const vs: D[] = [];
  let sumV = new D(0);
  let sumPV = new D(0);
  for (let j = start; j <= i; j++) {
    const tp = new D(k.text.high[j]!).plus(k.text.low[j]!).plus(k.text.close[j]!).div(3);
    const v = new D(k.text.volume[j]!);
    tps.push(tp);
    vs.push(v);
    sumV = sumV.plus(v);
    sumPV = sumPV.plus(tp.times(v));
  }
  const count = i - start + 1;
  if (sumV.isZero()) return { vwap: null, stdev: null, count };
  const vwap = sumPV.div(sumV);
  let sumSq = new D(0);
  for (let j = 0; j < tps.length; j++) {
    const d = tps[j]!.minus(vwap);
    sumSq = sumSq.plus(vs[j]!.times(d).times(d));
  }
  return { vwap, stdev: sumSq.div(sumV).sqrt(), count };
}
