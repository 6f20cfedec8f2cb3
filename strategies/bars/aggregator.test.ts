/**
 * Multi-timeframe bars against an independent aggregation: the real bundled 1m klines grouped by
 * window in a plain group-by (Map keyed by ⌊(t − anchor)/len⌋, decimal volume sums with a separate
 * 60-digit decimal.js), compared field by field with what the streaming aggregator emits — aligned
 * to UTC and to a session open, with and without minutes removed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Kline } from '../../src/core/types.ts';
import { D, KLINES_CSV } from '../indicators/test-support.ts';
import { BarAggregator, INTERVAL_MS, type Bar, type BarInterval } from './aggregator.ts';
import { barAnchorMs, inSession, parseHhMm, type TradingSession } from './session.ts';

function readKlines(symbol: 'BTCUSDT' | 'ETHUSDT'): Kline[] {
  const lines = readFileSync(KLINES_CSV[symbol], 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [t, open, high, low, close, volume] = l.split(',') as [string, string, string, string, string, string];
    return { symbol, interval: '1m', openTime: Number(t), closeTime: Number(t) + 59_999, open, high, low, close, volume, closed: true };
  });
}

interface Ref { openTime: number; open: string; high: string; low: string; close: string; volume: string; minutes: number }

/** The reference: a naive group-by over all the minutes at once. */
function groupBy(klines: Kline[], interval: BarInterval, anchor: number): Map<number, Ref> {
  const len = INTERVAL_MS[interval];
  const groups = new Map<number, Kline[]>();
  for (const k of klines) {
    const key = Math.floor((k.openTime - anchor) / len) * len + anchor;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(k);
  }
  const out = new Map<number, Ref>();
  for (const [openTime, ks] of groups) {
    out.set(openTime, {
      openTime,
      open: ks[0]!.open,
      close: ks[ks.length - 1]!.close,
      high: String(Math.max(...ks.map((k) => Number(k.high)))),
      low: String(Math.min(...ks.map((k) => Number(k.low)))),
      volume: ks.reduce((s, k) => s.plus(k.volume), new D(0)).toFixed(),
      minutes: ks.length,
    });
  }
  return out;
}

const INTERVALS: BarInterval[] = ['3m', '5m', '15m', '1h', '4h', '1d'];

function run(klines: Kline[], anchor: number) {
  const gaps: number[] = [];
  const agg = new BarAggregator(klines[0]!.symbol, INTERVALS, anchor, (g) => gaps.push(g.minutes));
  const bars: Bar[] = [];
  const emittedAt: number[] = [];
  for (const k of klines) {
    for (const b of agg.update(k)) {
      bars.push(b);
      emittedAt.push(k.openTime);
    }
  }
  return { agg, bars, gaps, emittedAt };
}

function compare(klines: Kline[], anchor: number) {
  const { bars, emittedAt } = run(klines, anchor);
  const last = klines[klines.length - 1]!.openTime;
  for (const interval of INTERVALS) {
    const ref = groupBy(klines, interval, anchor);
    const ours = bars.filter((b) => b.interval === interval);
    // Every window but the one still open at the end of the data is emitted, exactly once.
    const stillOpen = [...ref.values()].filter((r) => r.openTime + INTERVAL_MS[interval] - 60_000 > last && r.openTime <= last);
    expect(ours.length, interval).toBe(ref.size - stillOpen.length);
    expect(ours.length, interval).toBeGreaterThan(0);
    for (const b of ours) {
      const r = ref.get(b.openTime);
      if (!r) expect.fail(`${interval} bar ${b.openTime} not in the reference`);
      expect({ open: b.open, high: Number(b.high), low: Number(b.low), close: b.close, volume: new D(b.volume).toFixed(), minutes: b.minutes }, `${interval} ${new Date(b.openTime).toISOString()}`)
        .toEqual({ open: r.open, high: Number(r.high), low: Number(r.low), close: r.close, volume: r.volume, minutes: r.minutes });
      expect(b.closeTime).toBe(b.openTime + INTERVAL_MS[interval] - 1);
      expect(b.missingMinutes).toBe(INTERVAL_MS[interval] / 60_000 - r.minutes);
      expect(b.complete).toBe(b.missingMinutes === 0);
    }
  }
  return { bars, emittedAt };
}

describe('BarAggregator vs a group-by of the real 1m klines', () => {
  for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
    const klines = readKlines(symbol);

    it(`${symbol}: 3m … 1d aligned to 00:00 UTC equal the group-by; each bar closes with its last minute`, () => {
      expect(klines.length).toBeGreaterThan(16_000);
      const { bars, emittedAt } = compare(klines, 0);
      expect(bars.filter((b) => b.interval === '1d').length).toBe(11);
      expect(bars.filter((b) => b.interval === '4h').length).toBe(11 * 6 + 3);
      expect(bars.every((b) => b.complete)).toBe(true);
      bars.forEach((b, i) => {
        expect(emittedAt[i]).toBe(b.closeTime + 1 - 60_000);
        expect(b.emittedOnKlineOpenTime).toBe(emittedAt[i]);
      });
      expect(bars.find((b) => b.interval === '1h')!.openTime).toBe(Date.UTC(2025, 6, 6, 0));
    });

    it(`${symbol}: aligned to a 13:30 UTC session open, windows start at 13:30 (+k·interval) and equal the group-by`, () => {
      const anchor = parseHhMm('13:30') * 60_000;
      const { bars } = compare(klines, anchor);
      const days = bars.filter((b) => b.interval === '1d');
      expect(days.every((b) => new Date(b.openTime).toISOString().endsWith('T13:30:00.000Z'))).toBe(true);
      const h4 = bars.filter((b) => b.interval === '4h').map((b) => new Date(b.openTime).getUTCHours() * 60 + new Date(b.openTime).getUTCMinutes());
      expect(new Set(h4)).toEqual(new Set([90, 330, 570, 810, 1050, 1290]));
      // The first 1d window (from 2025-07-05 13:30) is partial: flagged, with its unseen minutes counted.
      expect(days[0]).toMatchObject({ openTime: Date.UTC(2025, 6, 5, 13, 30), complete: false, missingMinutes: 630, minutes: 810 });
    });
  }

  it('missing minutes are counted, reported and flagged on the bar, never invented', () => {
    const all = readKlines('BTCUSDT').slice(0, 3 * 1440);
    // Remove 07:10–07:12 (inside one 15m bar), the 15m bar's last minute 09:14, and all of 10:00–10:59.
    const t = (h: number, m: number) => Date.UTC(2025, 6, 6, h, m);
    const removed = new Set<number>([t(7, 10), t(7, 11), t(7, 12), t(9, 14)]);
    for (let m = 0; m < 60; m++) removed.add(t(10, m));
    const klines = all.filter((k) => !removed.has(k.openTime));
    const { bars, gaps, agg } = run(klines, 0);
    expect(gaps).toEqual([3, 1, 60]);
    expect(agg.gapMinutes).toBe(64);
    compare(klines, 0);
    const q = (openTime: number, i: BarInterval) => bars.find((b) => b.interval === i && b.openTime === openTime);
    expect(q(t(7, 0), '15m')).toMatchObject({ minutes: 12, missingMinutes: 3, complete: false, emittedOnKlineOpenTime: t(7, 14) });
    // Its last minute missing: the 09:00 bar closes when the 09:15 kline arrives, not before.
    expect(q(t(9, 0), '15m')).toMatchObject({ minutes: 14, missingMinutes: 1, complete: false, emittedOnKlineOpenTime: t(9, 15) });
    // A window with no minute: no bar at all.
    expect(q(t(10, 0), '1h')).toBeUndefined();
    expect(q(t(10, 15), '15m')).toBeUndefined();
    expect(q(t(9, 0), '1h')).toMatchObject({ minutes: 59, complete: false });
    expect(q(t(8, 0), '1h')).toMatchObject({ minutes: 60, complete: true });
    expect(q(t(0, 0), '1d')).toMatchObject({ minutes: 1440 - 64, missingMinutes: 64, complete: false });
  });

  it('rejects unknown intervals, bad anchors, other symbols and non-1m klines; ignores repeated klines', () => {
    expect(() => new BarAggregator('BTCUSDT', ['7m'])).toThrow(/bar interval: got "7m"/);
    expect(() => new BarAggregator('BTCUSDT', ['1h'], 30_000)).toThrow(/bar anchor/);
    const k = readKlines('BTCUSDT').slice(0, 20);
    const a = new BarAggregator('BTCUSDT', ['3m']);
    expect(() => a.update({ ...k[0]!, symbol: 'ETHUSDT' })).toThrow(/got a kline of ETHUSDT/);
    expect(() => a.update({ ...k[0]!, closeTime: k[0]!.openTime + 299_999 })).toThrow(/not a 1m kline/);
    expect(a.update(k[0]!)).toEqual([]);
    expect(a.update(k[1]!)).toEqual([]);
    expect(a.update(k[1]!)).toEqual([]);
    expect(a.update(k[2]!).map((b) => b.minutes)).toEqual([3]);
  });
});

describe('trading sessions', () => {
  const s: TradingSession = { openMinute: parseHhMm('13:30'), closeMinute: parseHhMm('20:00'), days: [1, 2, 3, 4, 5], alignBars: true };
  const night: TradingSession = { openMinute: parseHhMm('22:00'), closeMinute: parseHhMm('02:00'), days: [0, 1, 2, 3, 4, 5, 6], alignBars: false };
  it('inSession: [open, close) on the listed UTC weekdays; sessions past midnight belong to their opening day', () => {
    // 2025-07-07 is a Monday, 2025-07-06 a Sunday.
    expect(inSession(s, Date.UTC(2025, 6, 7, 13, 29, 59, 999))).toBe(false);
    expect(inSession(s, Date.UTC(2025, 6, 7, 13, 30))).toBe(true);
    expect(inSession(s, Date.UTC(2025, 6, 7, 19, 59))).toBe(true);
    expect(inSession(s, Date.UTC(2025, 6, 7, 20, 0))).toBe(false);
    expect(inSession(s, Date.UTC(2025, 6, 6, 15, 0))).toBe(false);
    expect(inSession(night, Date.UTC(2025, 6, 7, 1, 59))).toBe(true);
    expect(inSession(night, Date.UTC(2025, 6, 7, 2, 0))).toBe(false);
    expect(inSession(night, Date.UTC(2025, 6, 7, 22, 0))).toBe(true);
    expect(inSession({ ...night, days: [1] }, Date.UTC(2025, 6, 7, 1, 0))).toBe(false); // opened Sunday
    expect(inSession({ ...night, days: [1] }, Date.UTC(2025, 6, 8, 1, 0))).toBe(true); // opened Monday
    expect(inSession(undefined, 0)).toBe(true);
    expect(barAnchorMs(s)).toBe(810 * 60_000);
    expect(barAnchorMs({ ...s, alignBars: false })).toBe(0);
    expect(() => parseHhMm('24:00')).toThrow(/HH:MM/);
  });
});
