import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Adx } from './adx.ts';
import { KLINES_CSV, readKlinesCsv } from './test-support.ts';

/** The real TA-Lib C library through node-talib (dev dependency). */
interface TalibResult {
  begIndex: number;
  nbElement: number;
  result: { outReal: number[] };
}
const talib = createRequire(import.meta.url)('talib') as {
  execute(params: Record<string, unknown>): TalibResult;
};

function taLib(name: 'ADX' | 'PLUS_DI' | 'MINUS_DI', high: number[], low: number[], close: number[], period: number) {
  const r = talib.execute({
    name, startIdx: 0, endIdx: high.length - 1, high, low, close, optInTimePeriod: period,
  });
  if (!r || !r.result) throw new Error(`talib ${name} failed: ${JSON.stringify(r)}`);
  return r;
}

const REL_TOL = 1e-9;

/** |a − b| relative to |b|; exact match required when b is 0. */
function relErr(a: number, b: number): number {
  if (b === 0) return a === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.abs(a - b) / Math.abs(b);
}

interface Run {
  adx: (number | null)[];
  plusDi: (number | null)[];
  minusDi: (number | null)[];
}

function run(high: number[], low: number[], close: number[], period: number): Run {
  const ind = new Adx(period);
  const out: Run = { adx: [], plusDi: [], minusDi: [] };
  for (let i = 0; i < high.length; i++) {
    const v = ind.update(high[i]!, low[i]!, close[i]!);
    expect(ind.value).toBe(v);
    expect(ind.isStable).toBe(v !== null);
    out.adx.push(v);
    out.plusDi.push(ind.plusDi);
    out.minusDi.push(ind.minusDi);
  }
  return out;
}

/** Every output equal to TA-Lib's within REL_TOL, nulls exactly before TA-Lib's begIndex. */
function expectMatches(ours: (number | null)[], ref: TalibResult, what: string): number {
  const firstNonNull = ours.findIndex((v) => v !== null);
  expect(firstNonNull, `${what}: first output index`).toBe(ref.begIndex);
  expect(ours.length - firstNonNull, `${what}: number of outputs`).toBe(ref.nbElement);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    const v = ours[i];
    if (i < ref.begIndex) {
      expect(v, `${what}[${i}] before begIndex`).toBeNull();
      continue;
    }
    const r = ref.result.outReal[i - ref.begIndex]!;
    expect(v, `${what}[${i}]`).not.toBeNull();
    const e = relErr(v as number, r);
    if (!(e <= REL_TOL)) expect.fail(`${what}[${i}]: ours ${v}, TA-Lib ${r}, relative error ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

function compareAll(high: number[], low: number[], close: number[], period: number, label: string): void {
  const ours = run(high, low, close, period);
  expectMatches(ours.adx, taLib('ADX', high, low, close, period), `${label} ADX(${period})`);
  expectMatches(ours.plusDi, taLib('PLUS_DI', high, low, close, period), `${label} +DI(${period})`);
  expectMatches(ours.minusDi, taLib('MINUS_DI', high, low, close, period), `${label} -DI(${period})`);
}

describe('Adx vs TA-Lib TA_ADX on real 1m klines', () => {
  for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
    const k = readKlinesCsv(KLINES_CSV[symbol]);

    it(`${symbol}: ADX(14), +DI, -DI match every bar (${k.high.length} klines), first output at begIndex 27`, () => {
      expect(k.high.length).toBeGreaterThan(16_000);
      expect(taLib('ADX', k.high, k.low, k.close, 14).begIndex).toBe(27);
      compareAll(k.high, k.low, k.close, 14, symbol);
    });

    it(`${symbol}: other periods (2, 5, 28, 100) match`, () => {
      const n = 6_000;
      const [h, l, c] = [k.high.slice(0, n), k.low.slice(0, n), k.close.slice(0, n)];
      for (const p of [2, 5, 28, 100]) compareAll(h, l, c, p, symbol);
    });
  }

  it('default period is 14', () => {
    expect(new Adx().period).toBe(14);
  });

  it('flat stretches (zero true range, zero DI sum) follow TA-Lib: DX skipped, DI = 0', () => {
    const k = readKlinesCsv(KLINES_CSV.BTCUSDT);
    const n = 3_000;
    const h = k.high.slice(0, n);
    const l = k.low.slice(0, n);
    const c = k.close.slice(0, n);
    // Starts flat: true range exactly 0 through the initial sums and the initial DX average.
    for (let i = 0; i < 60; i++) h[i] = l[i] = c[i] = 100_000;
    // A flat stretch long enough for the smoothed TR to decay below TA-Lib's 1e-14.
    const flat = c[999]!;
    for (let i = 1000; i < 1700; i++) h[i] = l[i] = c[i] = flat;
    compareAll(h, l, c, 14, 'flat');
  });

  it('reset() starts over at bar index 0', () => {
    const k = readKlinesCsv(KLINES_CSV.ETHUSDT);
    const a = new Adx(14);
    for (let i = 0; i < 500; i++) a.update(k.high[i]!, k.low[i]!, k.close[i]!);
    a.reset();
    expect(a.value).toBeNull();
    expect(a.plusDi).toBeNull();
    expect(a.count).toBe(0);
    const b = new Adx(14);
    for (let i = 1000; i < 1200; i++) {
      expect(a.update(k.high[i]!, k.low[i]!, k.close[i]!)).toBe(b.update(k.high[i]!, k.low[i]!, k.close[i]!));
    }
  });

  it('rejects bad periods and non-finite inputs without corrupting state', () => {
    for (const p of [0, 1, 1.5, 100_001, Number.NaN]) expect(() => new Adx(p)).toThrow(RangeError);
    const a = new Adx(3);
    const b = new Adx(3);
    const bars: [number, number, number][] = [[10, 8, 9], [11, 9, 10], [12, 9, 11], [11, 8, 9], [13, 10, 12], [12, 10, 11], [14, 11, 13]];
    for (const [h, l, c] of bars) {
      expect(() => a.update(Number.NaN, l, c)).toThrow(RangeError);
      expect(() => a.update(h, Number.POSITIVE_INFINITY, c)).toThrow(RangeError);
      expect(a.update(h, l, c)).toBe(b.update(h, l, c));
    }
    expect(a.value).not.toBeNull();
  });
});
