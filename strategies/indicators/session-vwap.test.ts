import { describe, expect, it } from 'vitest';
import { SessionVwap } from './session-vwap.ts';
import { D, KLINES_CSV, decimalSessionVwapAt, readKlinesCsv, type KlineColumns } from './test-support.ts';

const DAY = 86_400_000;
const REL_TOL = 1e-9;

/** |ours − ref| / |ref|; exact equality required when ref is 0. */
function relErr(ours: number, ref: InstanceType<typeof D>): number {
  if (ref.isZero()) return ours === 0 ? 0 : Number.POSITIVE_INFINITY;
  return new D(ours).minus(ref).abs().div(ref.abs()).toNumber();
}

/** Copy of the columns with the given bars' volume set to zero (text and float alike). */
function withZeroVolume(k: KlineColumns, bars: number[]): KlineColumns {
  const c: KlineColumns = {
    ...k,
    volume: k.volume.slice(),
    text: { ...k.text, volume: k.text.volume.slice() },
  };
  for (const i of bars) {
    c.volume[i] = 0;
    c.text.volume[i] = '0';
  }
  return c;
}

/** Indices of the first bar of each UTC day. */
function sessionStarts(k: KlineColumns): number[] {
  const starts: number[] = [];
  for (let i = 0; i < k.openTime.length; i++) {
    if (i === 0 || Math.floor(k.openTime[i]! / DAY) !== Math.floor(k.openTime[i - 1]! / DAY)) starts.push(i);
  }
  return starts;
}

interface Snapshot {
  vwap: number | null;
  stdev: number | null;
  band: { upper: number; lower: number } | null;
  upper: number | null;
  lower: number | null;
  count: number;
  sessionStart: number | null;
}

/** Stream every bar through SessionVwap, snapshotting the state after each sampled bar. */
function stream(k: KlineColumns, samples: Set<number>): Map<number, Snapshot> {
  const ind = new SessionVwap();
  const out = new Map<number, Snapshot>();
  for (let i = 0; i < k.openTime.length; i++) {
    ind.update(k.openTime[i]!, k.high[i]!, k.low[i]!, k.close[i]!, k.volume[i]!);
    const v = ind.vwap;
    const s = ind.stdev;
    if (Number.isNaN(v) || Number.isNaN(s)) throw new Error(`NaN leaked at bar ${i}`);
    if ((v === null) !== (s === null)) throw new Error(`vwap/stdev nullness differs at bar ${i}`);
    if (samples.has(i)) {
      out.set(i, {
        vwap: v, stdev: s, band: ind.band(2), upper: ind.upper(2), lower: ind.lower(2),
        count: ind.count, sessionStart: ind.sessionStart,
      });
    }
  }
  return out;
}

describe('SessionVwap vs exact decimal two-pass reference on real 1m klines', () => {
  for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
    it(`${symbol}: vwap, σ and bands at sampled bars of every UTC session, with resets and zero-volume bars`, () => {
      const raw = readKlinesCsv(KLINES_CSV[symbol]);
      const starts = sessionStarts(raw);
      expect(starts.length).toBeGreaterThanOrEqual(12); // 2025-07-06 … 2025-07-17
      // Zero-volume bars: one inside session 2 (and its neighbour), and the first three bars of
      // session 3, so that session opens with no volume (vwap null) before trading starts.
      const midZero = starts[1]! + 300;
      const s3 = starts[2]!;
      const k = withZeroVolume(raw, [midZero, s3, s3 + 1, s3 + 2]);

      const samples = new Set<number>([midZero - 1, midZero, midZero + 1, s3 + 3, s3 + 4]);
      for (let s = 0; s < starts.length; s++) {
        const first = starts[s]!;
        const last = (starts[s + 1] ?? k.openTime.length) - 1;
        for (const i of [first, first + 1, first + 2, first + 10, (first + last) >> 1, last, last - 1]) {
          if (i >= first && i <= last) samples.add(i);
        }
      }
      for (let i = 0; i < k.openTime.length; i += 997) samples.add(i);

      const got = stream(k, samples);
      let checked = 0;
      let worstVwap = 0;
      let worstSigma = 0;
      for (const i of [...samples].sort((a, b) => a - b)) {
        const ours = got.get(i)!;
        const ref = decimalSessionVwapAt(k, i);
        const day = Math.floor(k.openTime[i]! / DAY);
        expect(ours.count, `count at bar ${i}`).toBe(ref.count);
        expect(ours.sessionStart, `sessionStart at bar ${i}`).toBe(day * DAY);
        expect(new Date(ours.sessionStart!).toISOString().endsWith('T00:00:00.000Z')).toBe(true);
        if (ref.vwap === null || ref.stdev === null) {
          expect(ours.vwap, `vwap at bar ${i}`).toBeNull();
          expect(ours.stdev).toBeNull();
          expect(ours.band).toBeNull();
          expect(ours.upper).toBeNull();
          expect(ours.lower).toBeNull();
          continue;
        }
        expect(ours.vwap, `vwap at bar ${i}`).not.toBeNull();
        const ev = relErr(ours.vwap!, ref.vwap);
        const es = relErr(ours.stdev!, ref.stdev);
        if (!(ev <= REL_TOL)) expect.fail(`vwap at bar ${i}: ours ${ours.vwap}, exact ${ref.vwap.toString()}, rel ${ev}`);
        if (!(es <= REL_TOL)) expect.fail(`σ at bar ${i}: ours ${ours.stdev}, exact ${ref.stdev.toString()}, rel ${es}`);
        const refUpper = ref.vwap.plus(ref.stdev.times(2));
        const refLower = ref.vwap.minus(ref.stdev.times(2));
        expect(relErr(ours.band!.upper, refUpper)).toBeLessThanOrEqual(REL_TOL);
        expect(relErr(ours.band!.lower, refLower)).toBeLessThanOrEqual(REL_TOL);
        expect(ours.upper).toBe(ours.band!.upper);
        expect(ours.lower).toBe(ours.band!.lower);
        worstVwap = Math.max(worstVwap, ev);
        worstSigma = Math.max(worstSigma, es);
        checked++;
      }
      expect(checked).toBeGreaterThan(80);

      // The scenarios the samples must cover, asserted explicitly.
      const first = got.get(starts[1]!)!; // first bar of a new session: reset to that bar alone
      expect(first.count).toBe(1);
      expect(first.stdev).toBe(0);
      expect(relErr(first.vwap!, new D(k.text.high[starts[1]!]!).plus(k.text.low[starts[1]!]!).plus(k.text.close[starts[1]!]!).div(3))).toBeLessThanOrEqual(REL_TOL);
      expect(got.get(midZero)!.vwap).toBe(got.get(midZero - 1)!.vwap); // zero volume: VWAP unmoved
      expect(got.get(midZero)!.stdev).toBe(got.get(midZero - 1)!.stdev);
      expect(got.get(midZero)!.count).toBe(got.get(midZero - 1)!.count + 1); // …but counted
      expect(got.get(s3)!.vwap).toBeNull(); // session opened without volume
      expect(got.get(s3 + 2)!.count).toBe(3);
      expect(got.get(s3 + 3)!.stdev).toBe(0); // first traded bar of that session
      expect(got.get(s3 + 4)!.stdev).toBeGreaterThan(0);
    });
  }
});

describe('SessionVwap numerics and edge cases', () => {
  it('no catastrophic cancellation: σ of ~0.3 at a price of 1e7 matches the exact value', () => {
    // h = l = c on a 1/4 grid keeps tp exact in binary, so any error is the algorithm's.
    const ind = new SessionVwap();
    const rows: { tp: string; v: string }[] = [];
    const t0 = Date.UTC(2025, 6, 6);
    for (let i = 0; i < 1440; i++) {
      const tp = 10_000_000 + 0.25 * ((i * 7) % 5);
      const v = 0.001 + ((i * 13) % 17) * 0.5;
      ind.update(t0 + i * 60_000, tp, tp, tp, v);
      rows.push({ tp: String(tp), v: String(v) });
    }
    let sv = new D(0);
    let spv = new D(0);
    for (const r of rows) {
      sv = sv.plus(r.v);
      spv = spv.plus(new D(r.tp).times(r.v));
    }
    const vwap = spv.div(sv);
    let ss = new D(0);
    for (const r of rows) ss = ss.plus(new D(r.v).times(new D(r.tp).minus(vwap).pow(2)));
    const sigma = ss.div(sv).sqrt();
    expect(relErr(ind.vwap!, vwap)).toBeLessThanOrEqual(1e-12);
    expect(relErr(ind.stdev!, sigma)).toBeLessThanOrEqual(1e-9);
    // What the naive running-sum form would have produced, for contrast (not asserted tight).
    let a = 0, b = 0, w = 0;
    for (const r of rows) { const x = Number(r.tp), v = Number(r.v); w += v; a += v * x; b += v * x * x; }
    const naive = Math.sqrt(Math.max(0, b / w - (a / w) ** 2));
    expect(relErr(naive, sigma)).toBeGreaterThan(1e-9);
  });

  it('before any kline: everything null, count 0', () => {
    const ind = new SessionVwap();
    expect(ind.vwap).toBeNull();
    expect(ind.stdev).toBeNull();
    expect(ind.band(1)).toBeNull();
    expect(ind.count).toBe(0);
    expect(ind.sessionStart).toBeNull();
  });

  it('resets on a new UTC day even across a gap, and on an earlier day', () => {
    const ind = new SessionVwap();
    const d0 = Date.UTC(2025, 6, 6);
    ind.update(d0 + 23 * 3_600_000 + 59 * 60_000, 101, 99, 100, 2); // 23:59 UTC
    ind.update(d0 + 23 * 3_600_000 + 58 * 60_000, 104, 100, 102, 1); // same day, even out of order
    expect(ind.count).toBe(2);
    ind.update(d0 + 3 * DAY + 5 * 60_000, 200, 200, 200, 1); // days later, 00:05 UTC
    expect(ind.count).toBe(1);
    expect(ind.sessionStart).toBe(d0 + 3 * DAY);
    expect(ind.vwap).toBe(200);
    ind.update(d0 + DAY, 300, 300, 300, 1); // an earlier day is a new session too
    expect(ind.sessionStart).toBe(d0 + DAY);
    expect(ind.vwap).toBe(300);
    ind.reset();
    expect(ind.count).toBe(0);
    expect(ind.vwap).toBeNull();
  });

  it('rejects negative or non-finite input without corrupting state', () => {
    const ind = new SessionVwap();
    const t = Date.UTC(2025, 6, 6);
    ind.update(t, 101, 99, 100, 2);
    const bads: [number, number, number, number, number][] = [
      [t, 101, 99, 100, -1],
      [t, 101, 99, 100, Number.NaN],
      [t, 101, 99, 100, Number.POSITIVE_INFINITY],
      [t, Number.NaN, 99, 100, 1],
      [Number.NaN, 101, 99, 100, 1],
    ];
    for (const bad of bads) {
      expect(() => ind.update(...bad)).toThrow(RangeError);
    }
    expect(ind.count).toBe(1);
    expect(ind.vwap).toBe(100);
    expect(ind.stdev).toBe(0);
  });
});
