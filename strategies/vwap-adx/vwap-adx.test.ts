/**
 * vwap-adx on the real bundled BTCUSDT 1m klines, every decision checked against an independent
 * recomputation: session VWAP/σ in exact decimal arithmetic (running sums in
 * vwap-adx-test-support.ts, the two-pass reference of ../indicators/test-support.ts at each
 * signal) and ADX from the real TA-Lib C library. Also the parameters, and positions held across
 * 00:00 UTC. The volatility guard is in vwap-adx-guard.test.ts; adopted positions and refused
 * orders are in vwap-adx-position.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { TargetPosition } from '../../src/core/types.ts';
import type { SignalRequest } from '../contract.ts';
import { D, decimalSessionVwapAt, type KlineColumns } from '../indicators/test-support.ts';
import { vwapAdx, vwapAdxParams, type VwapAdxParams } from './vwap-adx.ts';
import { ADX, BASE, ENTRIES, Harness, K, MIN, N, REFS, cloneCols, decide, talibAdx, type Emitted } from './vwap-adx-test-support.ts';

/** |a − b| relative to |b|; exact equality needed when b is 0. */
function relErr(a: number, b: D | number): number {
  const bd = new D(b);
  if (bd.isZero()) return a === 0 ? 0 : Number.POSITIVE_INFINITY;
  return new D(a).minus(bd).abs().div(bd.abs()).toNumber();
}

const DEFAULTS = vwapAdxParams.parse({});

/** Indicator values recorded with a signal at bar i equal the two-pass decimal reference and TA-Lib. */
function expectIndicators(k: KlineColumns, i: number, req: SignalRequest, adxRef: number | null, p: VwapAdxParams = DEFAULTS): void {
  const ref = decimalSessionVwapAt(k, i);
  expect(ref.vwap, `bar ${i} has volume`).not.toBeNull();
  const vwap = ref.vwap!;
  const sigma = ref.stdev!;
  const ind = req.indicators;
  const check = (name: string, ours: number | null | undefined, exact: D | number) => {
    expect(typeof ours, `${name} at bar ${i}`).toBe('number');
    const e = relErr(ours as number, exact);
    if (!(e <= 1e-9)) expect.fail(`${name} at bar ${i}: ours ${ours}, reference ${exact.toString()}, relative error ${e}`);
  };
  check('vwap', ind.vwap, vwap);
  check('sigma', ind.sigma, sigma);
  check('upper', ind.upper, vwap.plus(sigma.times(p.bandK)));
  check('lower', ind.lower, vwap.minus(sigma.times(p.bandK)));
  check('stopUpper', ind.stopUpper, vwap.plus(sigma.times(p.stopK)));
  check('stopLower', ind.stopLower, vwap.minus(sigma.times(p.stopK)));
  if (adxRef === null) expect(ind.adx).toBeNull();
  else check('adx', ind.adx, adxRef);
  expect(ind.sessionKlines, `sessionKlines at bar ${i}`).toBe(ref.count);
  expect(Object.keys(ind).sort()).toEqual(['adx', 'carriedSession', 'lower', 'sessionKlines', 'sigma', 'stopLower', 'stopUpper', 'upper', 'vwap']);
  expect(req.refPrice).toBe(k.text.close[i]);
  expect(req.klineOpenTime).toBe(k.openTime[i]);
}

// ---------------------------------------------------------------------------------------------

describe('vwap-adx parameters', () => {
  it('defaults', () => {
    expect(vwapAdxParams.parse({})).toEqual({
      bandK: 2,
      stopK: 3,
      adxPeriod: 14,
      adxMax: 20,
      minSessionKlines: 30,
      timeStopMinutes: 120,
      cooldownMinutes: 0,
      volGuardWindowMs: 5_000,
      volGuardMaxMove: 0.003,
      allowLong: true,
      allowShort: true,
    });
    expect(vwapAdx.name).toBe('vwap-adx');
    expect(vwapAdx.params.parse({ bandK: 1.5, stopK: 2.5 })).toMatchObject({ bandK: 1.5, stopK: 2.5, adxPeriod: 14 });
  });

  it('stopK ≤ bandK is rejected on stopK', () => {
    for (const p of [{ bandK: 3, stopK: 3 }, { stopK: 1.5 }, { bandK: 4 }]) {
      const r = vwapAdxParams.safeParse(p);
      expect(r.success, JSON.stringify(p)).toBe(false);
      expect(r.error!.issues).toHaveLength(1);
      expect(r.error!.issues[0]!.path).toEqual(['stopK']);
      expect(r.error!.issues[0]!.message).toBe('stopK must be greater than bandK');
    }
    expect(vwapAdxParams.safeParse({ bandK: 3, stopK: 3.0001 }).success).toBe(true);
  });

  it('unknown keys and bad values are rejected', () => {
    const unknown = vwapAdxParams.safeParse({ bandk: 2 });
    expect(unknown.success).toBe(false);
    expect(unknown.error!.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['bandk'] });
    for (const [key, value] of [
      ['adxPeriod', 1],
      ['adxPeriod', 14.5],
      ['adxMax', 0],
      ['adxMax', 101],
      ['bandK', -1],
      ['minSessionKlines', 0],
      ['timeStopMinutes', -1],
      ['volGuardWindowMs', 0],
      ['allowLong', 'yes'],
    ] as const) {
      const r = vwapAdxParams.safeParse({ [key]: value });
      expect(r.success, `${key}=${value}`).toBe(false);
      expect(r.error!.issues[0]!.path, `${key}=${value}`).toEqual([key]);
    }
  });
});

describe('vwap-adx on real BTCUSDT 1m klines (2025-07-06 … 2025-07-17)', () => {
  it('every decision equals the independent decimal/TA-Lib recomputation, bar by bar', () => {
    expect(N).toBeGreaterThan(16_000);
    const byBar = new Map<number, SignalRequest[]>();
    for (const s of BASE.signals) byBar.set(s.i, [...(byBar.get(s.i) ?? []), s.req]);
    let held: TargetPosition = 'FLAT';
    let enteredAt = 0;
    let borderline = 0;
    for (let i = 0; i < N; i++) {
      const exp = decide(K, REFS, ADX, i, held, enteredAt);
      const got = byBar.get(i) ?? [];
      if (got.length > 1) expect.fail(`bar ${i}: ${got.length} signals`);
      const actual = got[0] ? { target: got[0].target, reason: got[0].reason } : null;
      if (exp.borderline) borderline++;
      else if (JSON.stringify(actual) !== JSON.stringify(exp.signal)) {
        expect.fail(`bar ${i} (${new Date(K.openTime[i]!).toISOString()}, held ${held}): strategy ${JSON.stringify(actual)}, reference ${JSON.stringify(exp.signal)}`);
      }
      if (actual) {
        held = actual.target;
        if (actual.reason === 'entry') enteredAt = K.openTime[i]! + MIN;
      }
    }
    expect(borderline).toBe(0);
    // The data exercises both sides and both ordinary exits (the stop is exercised below).
    const kinds = new Set(BASE.signals.map((s) => `${s.req.target}:${s.req.reason}`));
    for (const kind of ['LONG:entry', 'SHORT:entry', 'FLAT:exit_vwap', 'FLAT:time_stop']) expect(kinds, kind).toContain(kind);
    expect(BASE.strategy.state()).toMatchObject({ guardBlocks: 0, refusals: 0 });
  });

  it('every signal: entry conditions, exit conditions and recorded indicators hold against the references', () => {
    expect(BASE.signals.length).toBeGreaterThanOrEqual(10);
    let entry: Emitted | null = null;
    for (const s of BASE.signals) {
      const { i, req } = s;
      const ref = decimalSessionVwapAt(K, i);
      const vwap = ref.vwap!;
      const sigma = ref.stdev!;
      const close = new D(K.text.close[i]!);
      expectIndicators(K, i, req, ADX[i]!);
      if (req.reason === 'entry') {
        expect(entry, `entry at bar ${i} while holding`).toBeNull();
        expect(ADX[i], `ADX at bar ${i}`).not.toBeNull();
        expect(ADX[i]!, `ADX at bar ${i}`).toBeLessThan(20);
        expect(ref.count).toBeGreaterThanOrEqual(30);
        if (req.target === 'LONG') expect(close.lt(vwap.minus(sigma.times(2))), `LONG at bar ${i}: close below VWAP − 2σ`).toBe(true);
        else {
          expect(req.target).toBe('SHORT');
          expect(close.gt(vwap.plus(sigma.times(2))), `SHORT at bar ${i}: close above VWAP + 2σ`).toBe(true);
        }
        // the exchange stop it states: the stop band VWAP ∓ 3σ of the entry kline (exact
        // decimal reference, to 1e-9 relative: the strategy's own value is a double)
        const band = req.target === 'LONG' ? vwap.minus(sigma.times(3)) : vwap.plus(sigma.times(3));
        expect(req.stopPrice, `stopPrice of the entry at bar ${i}`).toBeDefined();
        expect(new D(req.stopPrice!).minus(band).abs().div(band).toNumber()).toBeLessThan(1e-9);
        entry = s;
        continue;
      }
      expect(req.target).toBe('FLAT');
      expect(entry, `exit at bar ${i} without a position`).not.toBeNull();
      const long = entry!.req.target === 'LONG';
      const minutes = (K.openTime[i]! - K.openTime[entry!.i]!) / MIN;
      if (req.reason === 'exit_vwap') {
        expect(long ? close.gte(vwap) : close.lte(vwap), `exit_vwap at bar ${i}: close crossed VWAP`).toBe(true);
        expect(minutes).toBeLessThanOrEqual(120);
      } else if (req.reason === 'time_stop') {
        expect(minutes).toBe(120);
        expect(long ? close.lt(vwap) : close.gt(vwap)).toBe(true);
      } else {
        expect(req.reason).toBe('stop');
        expect(long ? close.lte(vwap.minus(sigma.times(3))) : close.gte(vwap.plus(sigma.times(3)))).toBe(true);
      }
      entry = null;
    }
  });

  it('a close beyond VWAP ∓ 3σ against the position exits with reason stop', () => {
    let tested = 0;
    for (const e of ENTRIES.slice(0, 3)) {
      const i = e.i + 1;
      const cols = cloneCols(K);
      // Replace the next bar by a flat bar 4σ (pre-bar) against the position.
      const before = decimalSessionVwapAt(K, e.i);
      const long = e.req.target === 'LONG';
      const px = (long ? before.vwap!.minus(before.stdev!.times(4)) : before.vwap!.plus(before.stdev!.times(4))).toDecimalPlaces(1);
      for (const col of ['high', 'low', 'close'] as const) {
        cols[col][i] = px.toNumber();
        cols.text[col][i] = px.toString();
      }
      // Precondition from the reference, with the replaced bar included.
      const after = decimalSessionVwapAt(cols, i);
      const stopLevel = long ? after.vwap!.minus(after.stdev!.times(3)) : after.vwap!.plus(after.stdev!.times(3));
      expect(long ? px.lt(stopLevel) : px.gt(stopLevel)).toBe(true);
      const h = new Harness(cols).feedTo(i + 1);
      const last = h.signals[h.signals.length - 1]!;
      expect(last.i).toBe(i);
      expect(last.req).toMatchObject({ target: 'FLAT', reason: 'stop', refPrice: px.toString() });
      expectIndicators(cols, i, last.req, talibAdx(cols, 14, i + 1)[i]!);
      expect(h.held).toBe('FLAT');
      tested++;
    }
    expect(tested).toBe(3);
  });

  it('time_stop comes exactly 120 minutes after the entry (and not with timeStopMinutes 0)', () => {
    const ts = BASE.signals.find((s) => s.req.reason === 'time_stop')!;
    const entry = [...BASE.signals].reverse().find((s) => s.i < ts.i && s.req.reason === 'entry')!;
    expect(K.openTime[ts.i]! - K.openTime[entry.i]!).toBe(120 * MIN);
    const h = new Harness(K, { timeStopMinutes: 0 }).feedTo(ts.i + 1);
    const sig = h.signals.filter((s) => s.i >= entry.i);
    expect(sig.map((s) => [s.i, s.req.reason])).toEqual([[entry.i, 'entry']]);
    expect(h.held).toBe(entry.req.target);
  });
});

describe('vwap-adx across 00:00 UTC', () => {
  it('a position held over midnight is judged against the previous session\'s final VWAP/σ until the new session is trusted', () => {
    // Without a time stop, positions do cross midnight in this data.
    const h = new Harness(K, { timeStopMinutes: 0 }).feedTo(N);
    const day = (i: number) => Math.floor(K.openTime[i]! / 86_400_000);
    let crossings = 0;
    for (let j = 1; j < h.signals.length; j++) {
      const entry = h.signals[j - 1]!;
      const exit = h.signals[j]!;
      if (entry.req.reason !== 'entry' || day(exit.i) === day(entry.i)) continue;
      crossings++;
      const first = K.openTime.findIndex((t, i) => i > entry.i && day(i) !== day(entry.i));
      const young = exit.i - first + 1 < DEFAULTS.minSessionKlines;
      expect(exit.req.indicators.carriedSession, `exit at bar ${exit.i}`).toBe(young ? 1 : 0);
      if (!young) continue;
      // The exit used the previous session's final values, recomputed independently.
      const prev = REFS[first - 1]!;
      expect(relErr(exit.req.indicators.vwap!, prev.vwap)).toBeLessThan(1e-9);
      expect(relErr(exit.req.indicators.sigma!, prev.sigma)).toBeLessThan(1e-9);
      const close = new D(K.text.close[exit.i]!);
      const long = entry.req.target === 'LONG';
      const stop = long ? prev.vwap.minus(prev.sigma.times(3)) : prev.vwap.plus(prev.sigma.times(3));
      if (exit.req.reason === 'stop') expect(long ? close.lte(stop) : close.gte(stop)).toBe(true);
      else expect(long ? close.gte(prev.vwap) : close.lte(prev.vwap)).toBe(true);
    }
    expect(crossings).toBeGreaterThan(0);
    // The old behaviour (σ of a one-kline session ≈ 0) closed every such position on the first
    // kline after midnight; now none is closed there unless the carried bands say so.
    const atMidnight = h.signals.filter((x) => x.req.reason !== 'entry' && K.openTime[x.i]! % 86_400_000 === 0);
    for (const x of atMidnight) expect(x.req.indicators.carriedSession).toBe(1);
  });
});
