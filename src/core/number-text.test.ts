import { describe, expect, it } from 'vitest';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { readKlineCsv } from '../market/kline-csv.ts';
import { projectPath } from './paths.ts';
import { decimalToNumber } from './number-text.ts';

/** Same double as Number(s), bit for bit (Object.is also tells 0 from -0 and NaN from NaN). */
function same(s: string): void {
  const got = decimalToNumber(s);
  if (!Object.is(got, Number(s))) throw new Error(`decimalToNumber(${JSON.stringify(s)}) = ${got}, Number gives ${Number(s)}`);
}

describe('decimalToNumber', () => {
  it('equals Number() on every price and volume of the bundled klines', () => {
    let n = 0;
    for (const sym of ['BTCUSDT', 'ETHUSDT']) {
      const { klines } = readKlineCsv(projectPath(`data/klines/${sym}-1m-2025-07-06_2025-07-17.csv`), sym);
      for (const k of klines) {
        for (const s of [k.open, k.high, k.low, k.close, k.volume, k.quoteVolume ?? '']) same(s);
        n++;
      }
    }
    expect(n).toBeGreaterThan(30_000);
  });

  it('equals Number() on random decimal text, up to 17 digits and 22 fraction digits', () => {
    const rng = xoroshiro128plus(20261204);
    const int = (lo: number, hi: number): number => uniformInt(rng, lo, hi);
    for (let i = 0; i < 200_000; i++) {
      const digits = int(1, 17);
      let t = '';
      for (let d = 0; d < digits; d++) t += String(int(0, 9));
      const point = int(-1, digits); // -1: no point
      const s = point < 0 ? t : `${t.slice(0, point)}.${t.slice(point)}`;
      same(s);
      same(`0.${'0'.repeat(int(0, 6))}${t}`.slice(0, int(3, 24)));
    }
  });

  it('hands everything else to Number(): signs, exponents, spaces, empty, not a number', () => {
    for (const s of ['', '.', '-', '-1.5', '+2', '1e5', '1E-8', ' 1', '1 ', '0x10', 'abc', '1.2.3', '5.', '.5', '007.50', '-0', '0', 'Infinity', 'NaN', '123456789012345', '1234567890123456', '12345678901234567890', '0.000000000000000000001', '9007199254740993']) same(s);
    expect(decimalToNumber('108293.20')).toBe(108293.2);
    expect(decimalToNumber('')).toBe(0);
    expect(Number.isNaN(decimalToNumber('1.2.3'))).toBe(true);
  });
});
