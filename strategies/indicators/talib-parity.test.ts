/**
 * Every streaming indicator of strategies/indicators against the real TA-Lib C library (node
 * `talib`, dev dependency) on the bundled real Binance 1m klines: each output equal to TA-Lib's
 * within 1e-9 relative, outputs starting exactly at TA-Lib's begIndex (its lookback), nulls before.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Atr, BollingerBands, Donchian, Ema, Macd, Rsi, Sma } from './index.ts';
import { KLINES_CSV, readKlinesCsv } from './test-support.ts';

interface TalibResult {
  begIndex: number;
  nbElement: number;
  result: Record<string, number[]>;
}
const talib = createRequire(import.meta.url)('talib') as { execute(p: Record<string, unknown>): TalibResult };

function ta(name: string, inputs: Record<string, number[]>, opts: Record<string, number>): TalibResult {
  const n = Object.values(inputs)[0]!.length;
  const r = talib.execute({ name, startIdx: 0, endIdx: n - 1, ...inputs, ...opts });
  if (!r || !r.result) throw new Error(`talib ${name} failed: ${JSON.stringify(r)}`);
  return r;
}

const REL_TOL = 1e-9;
const relErr = (a: number, b: number) => (b === 0 ? (a === 0 ? 0 : Infinity) : Math.abs(a - b) / Math.abs(b));

/** Compares one output series with TA-Lib's; returns the worst relative error. */
function expectMatches(ours: (number | null)[], ref: TalibResult, out: string, what: string): number {
  const first = ours.findIndex((v) => v !== null);
  expect(first, `${what}: first output index`).toBe(ref.begIndex);
  expect(ours.length - first, `${what}: outputs`).toBe(ref.nbElement);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) {
    const v = ours[i];
    if (i < ref.begIndex) {
      if (v !== null) expect.fail(`${what}[${i}] before begIndex: ${v}`);
      continue;
    }
    const r = ref.result[out]![i - ref.begIndex]!;
    const e = relErr(v as number, r);
    if (!(e <= REL_TOL)) expect.fail(`${what}[${i}]: ours ${v}, TA-Lib ${r}, relative error ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
  const k = readKlinesCsv(KLINES_CSV[symbol]);
  const { high, low, close } = k;

  describe(`${symbol}: indicators vs TA-Lib on ${close.length} real 1m klines`, () => {
    it('has the data', () => expect(close.length).toBeGreaterThan(16_000));

    it('SMA(2, 20, 200) = TA_SMA', () => {
      for (const p of [2, 20, 200]) {
        const s = new Sma(p);
        const ours = close.map((c) => s.update(c));
        expectMatches(ours, ta('SMA', { inReal: close }, { optInTimePeriod: p }), 'outReal', `SMA(${p})`);
      }
    });

    it('EMA(2, 9, 50, 200) = TA_EMA (SMA seed at bar period − 1)', () => {
      for (const p of [2, 9, 50, 200]) {
        const e = new Ema(p);
        const ours = close.map((c) => e.update(c));
        const ref = ta('EMA', { inReal: close }, { optInTimePeriod: p });
        expect(ref.begIndex).toBe(p - 1);
        expectMatches(ours, ref, 'outReal', `EMA(${p})`);
      }
    });

    it('RSI(2, 14, 50) = TA_RSI (Wilder smoothing, first value at bar period)', () => {
      for (const p of [2, 14, 50]) {
        const r = new Rsi(p);
        const ours = close.map((c) => r.update(c));
        const ref = ta('RSI', { inReal: close }, { optInTimePeriod: p });
        expect(ref.begIndex).toBe(p);
        expectMatches(ours, ref, 'outReal', `RSI(${p})`);
      }
    });

    it('RSI on a flat stretch follows TA-Lib (0, where trading-signals says 100)', () => {
      const c = close.slice(0, 400);
      for (let i = 100; i < 200; i++) c[i] = 100_000;
      for (let i = 0; i < 30; i++) c[i] = 50_000;
      const r = new Rsi(14);
      const ours = c.map((x) => r.update(x));
      expectMatches(ours, ta('RSI', { inReal: c }, { optInTimePeriod: 14 }), 'outReal', 'flat RSI(14)');
      expect(ours[29]).toBe(0);
    });

    it('MACD(12, 26, 9) and MACD(5, 35, 5) = TA_MACD (line, signal, histogram)', () => {
      for (const [f, s, g] of [[12, 26, 9], [5, 35, 5]] as const) {
        const m = new Macd(f, s, g);
        const ours = close.map((c) => m.update(c));
        const ref = ta('MACD', { inReal: close }, { optInFastPeriod: f, optInSlowPeriod: s, optInSignalPeriod: g });
        expect(ref.begIndex).toBe(s + g - 2);
        expect(ours.findIndex((v) => v !== null)).toBe(ref.begIndex);
        expect(ours.length - ref.begIndex).toBe(ref.nbElement);
        // MACD, signal and histogram are differences of EMAs of the price and cross zero, where a
        // relative error means nothing: each is compared with TA-Lib to 1e-9 of the price scale
        // (the magnitude of the EMAs being subtracted), i.e. 1e-9 relative on the EMAs.
        for (let i = 0; i < ours.length; i++) {
          const v = ours[i];
          if (i < ref.begIndex) {
            if (v !== null) expect.fail(`MACD[${i}] before begIndex`);
            continue;
          }
          const j = i - ref.begIndex;
          const tol = REL_TOL * Math.abs(close[i]!);
          for (const [mine, out] of [[v!.macd, 'outMACD'], [v!.signal, 'outMACDSignal'], [v!.histogram, 'outMACDHist']] as const) {
            const r = ref.result[out]![j]!;
            if (!(Math.abs(mine - r) <= tol)) expect.fail(`MACD(${f},${s},${g}).${out}[${i}]: ours ${mine}, TA-Lib ${r}`);
          }
        }
      }
    });

    it('Bollinger Bands(20, 2) and (50, 1.5) = TA_BBANDS with SMA', () => {
      for (const [p, kk] of [[20, 2], [50, 1.5]] as const) {
        const b = new BollingerBands(p, kk);
        const ours = close.map((c) => b.update(c));
        const ref = ta('BBANDS', { inReal: close }, { optInTimePeriod: p, optInNbDevUp: kk, optInNbDevDn: kk, optInMAType: 0 });
        expectMatches(ours.map((v) => v?.upper ?? null), ref, 'outRealUpperBand', `BB(${p},${kk}).upper`);
        expectMatches(ours.map((v) => v?.middle ?? null), ref, 'outRealMiddleBand', `BB(${p},${kk}).middle`);
        expectMatches(ours.map((v) => v?.lower ?? null), ref, 'outRealLowerBand', `BB(${p},${kk}).lower`);
      }
    });

    it('ATR(1, 14, 50) = TA_ATR (no true range at bar 0, first value at bar period)', () => {
      for (const p of [1, 14, 50]) {
        const a = new Atr(p);
        const ours = close.map((c, i) => a.update(high[i]!, low[i]!, c));
        const ref = ta('ATR', { high, low, close }, { optInTimePeriod: p });
        expect(ref.begIndex).toBe(p);
        expectMatches(ours, ref, 'outReal', `ATR(${p})`);
      }
    });

    it('Donchian(20, 55) = TA_MAX(high), TA_MIN(low)', () => {
      for (const p of [20, 55]) {
        const d = new Donchian(p);
        const ours = close.map((_, i) => d.update(high[i]!, low[i]!));
        expectMatches(ours.map((v) => v?.upper ?? null), ta('MAX', { inReal: high }, { optInTimePeriod: p }), 'outReal', `DC(${p}).upper`);
        expectMatches(ours.map((v) => v?.lower ?? null), ta('MIN', { inReal: low }, { optInTimePeriod: p }), 'outReal', `DC(${p}).lower`);
        for (const v of ours) if (v) expect(v.middle).toBe((v.upper + v.lower) / 2);
      }
    });
  });
}

describe('indicator input validation', () => {
  it('rejects bad periods', () => {
    for (const p of [0, 1.5, Number.NaN, 100_001]) {
      expect(() => new Ema(p)).toThrow(RangeError);
      expect(() => new Sma(p)).toThrow(RangeError);
      expect(() => new Atr(p)).toThrow(RangeError);
      expect(() => new Donchian(p)).toThrow(RangeError);
    }
    expect(() => new Rsi(1)).toThrow(/Rsi period: got 1/);
    expect(() => new Macd(26, 12, 9)).toThrow(/fast period 26 must be below slow period 12/);
    expect(() => new BollingerBands(20, 0)).toThrow(/BollingerBands k/);
  });

  it('a non-finite input throws and leaves the state unchanged', () => {
    const a = new Rsi(3);
    const b = new Rsi(3);
    const at = new Atr(3);
    const bt = new Atr(3);
    for (const x of [10, 11, 10.5, 12, 11, 13, 12.5]) {
      expect(() => a.update(Number.NaN)).toThrow(RangeError);
      expect(() => at.update(x + 1, Number.POSITIVE_INFINITY, x)).toThrow(/Atr.update/);
      expect(a.update(x)).toBe(b.update(x));
      expect(at.update(x + 1, x - 1, x)).toBe(bt.update(x + 1, x - 1, x));
    }
    expect(a.isStable).toBe(true);
  });
});
