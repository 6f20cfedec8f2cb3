/**
 * donchian-breakout on the bundled real 1m klines: hand-checked cases at specific timestamps, and
 * every signal of the whole data set equal to an independent re-implementation (group-by 15m bars,
 * channels by plain loops, ATR from TA-Lib, the rules run minute by minute).
 */
import { describe, expect, it } from 'vitest';
import type { Kline } from '../../src/core/types.ts';
import { drive, groupBars, readKlines, taLib, type Emitted } from '../common/strategy-test-support.ts';
import { parseHhMm } from '../bars/session.ts';
import { donchianBreakout } from './donchian-breakout.ts';

const T = (iso: string) => Date.parse(iso);

/** The reference: Turtle System 1 on group-by bars, written from the rules, not from the class. */
function reference(klines: Kline[], entryN = 20, exitN = 10, atrN = 20, stopK = 2) {
  const bars = groupBars(klines, '15m').filter((b) => b.minutes === 15);
  const atr = taLib('ATR', { high: bars.map((b) => b.high), low: bars.map((b) => b.low), close: bars.map((b) => b.close) }, { optInTimePeriod: atrN });
  const byLastMinute = new Map(bars.map((b, i) => [b.lastMinute, i]));
  const out: Array<{ t: number; target: string; reason: string }> = [];
  let held = 'FLAT';
  let stop = 0;
  for (const k of klines) {
    const c = +k.close;
    if (held !== 'FLAT' && (held === 'LONG' ? c <= stop : c >= stop)) {
      out.push({ t: k.openTime, target: 'FLAT', reason: 'stop' });
      held = 'FLAT';
    }
    const i = byLastMinute.get(k.openTime);
    if (i === undefined) continue;
    const b = bars[i]!;
    const prev = (n: number) => bars.slice(Math.max(0, i - n), i);
    if (held !== 'FLAT') {
      if (i >= exitN) {
        const lo = Math.min(...prev(exitN).map((x) => x.low));
        const hi = Math.max(...prev(exitN).map((x) => x.high));
        if (held === 'LONG' ? b.close < lo : b.close > hi) {
          out.push({ t: k.openTime, target: 'FLAT', reason: 'exit_signal' });
          held = 'FLAT';
        }
      }
      continue;
    }
    if (i < entryN || atr[i] === null) continue;
    const hi = Math.max(...prev(entryN).map((x) => x.high));
    const lo = Math.min(...prev(entryN).map((x) => x.low));
    if (b.close > hi) {
      held = 'LONG';
      stop = b.close - stopK * atr[i]!;
    } else if (b.close < lo) {
      held = 'SHORT';
      stop = b.close + stopK * atr[i]!;
    } else continue;
    out.push({ t: k.openTime, target: held, reason: 'entry' });
  }
  return { out, bars, atr };
}

const brief = (s: Emitted[]) => s.map((x) => ({ t: x.klineOpenTime, target: x.target, reason: x.reason }));

describe('donchian-breakout on real BTCUSDT/ETHUSDT 1m klines (15m bars, 20/10, ATR(20), 2 ATR stop)', () => {
  const btc = readKlines('BTCUSDT');

  it('hand-checked: 2025-07-06 09:45 bar breaks below the 20-bar low → SHORT; the 2 ATR stop is hit at 10:30', () => {
    const { signals } = drive(donchianBreakout, {}, btc);
    const [entry, stop] = signals;
    // The 15m bar 09:45–09:59 closes at 107792.1; the lowest low of the 20 bars 04:45–09:44 is 107905.1.
    const window = btc.filter((k) => k.openTime >= T('2025-07-06T04:45:00Z') && k.openTime < T('2025-07-06T09:45:00Z'));
    expect(window.length).toBe(300);
    expect(Math.min(...window.map((k) => +k.low))).toBe(107905.1);
    expect(Math.max(...window.map((k) => +k.high))).toBe(108180);
    expect(btc.find((k) => k.openTime === T('2025-07-06T09:59:00Z'))!.close).toBe('107792.1');
    const { bars, atr } = reference(btc);
    const i = bars.findIndex((b) => b.openTime === T('2025-07-06T09:45:00Z'));
    expect(entry).toMatchObject({ target: 'SHORT', reason: 'entry', refPrice: '107792.1', klineOpenTime: T('2025-07-06T09:59:00Z') });
    expect(entry!.indicators.entryLower).toBe(107905.1);
    expect(entry!.indicators.entryUpper).toBe(108180);
    expect(Math.abs(entry!.indicators.atr! - atr[i]!) / atr[i]!).toBeLessThan(1e-9);
    expect(entry!.indicators.stop).toBeCloseTo(107792.1 + 2 * atr[i]!, 6);
    expect(entry!.indicators.stop).toBeCloseTo(107930.33, 2);
    // …stated as the position's exchange-side stop (the executor keeps a STOP_MARKET there).
    expect(entry!.stopPrice).toBe(String(entry!.indicators.stop));
    // The stop: the first 1m close at or above 107930.33 after the entry is 10:30's 108087.1.
    const after = btc.filter((k) => k.openTime > T('2025-07-06T09:59:00Z') && k.openTime < T('2025-07-06T10:30:00Z'));
    expect(after.every((k) => +k.close < 107930.33)).toBe(true);
    expect(stop).toMatchObject({ target: 'FLAT', reason: 'stop', refPrice: '108087.1', klineOpenTime: T('2025-07-06T10:30:00Z') });
    expect(stop!.stopPrice).toBeUndefined();
  });

  it('every entry states its ATR stop as stopPrice, on the losing side of the entry; exits state none', () => {
    const { signals } = drive(donchianBreakout, {}, btc);
    expect(signals.length).toBeGreaterThan(20);
    for (const s of signals) {
      if (s.reason !== 'entry') {
        expect(s.stopPrice).toBeUndefined();
        continue;
      }
      expect(s.stopPrice).toBe(String(s.indicators.stop));
      if (s.target === 'LONG') expect(Number(s.stopPrice)).toBeLessThan(Number(s.refPrice));
      else expect(Number(s.stopPrice)).toBeGreaterThan(Number(s.refPrice));
    }
  });

  it('hand-checked: 12:30 bar closes above the 20-bar high 108087.2 → LONG at 108120.7', () => {
    const { signals } = drive(donchianBreakout, {}, btc);
    expect(signals[2]).toMatchObject({ target: 'LONG', reason: 'entry', refPrice: '108120.7', klineOpenTime: T('2025-07-06T12:44:00Z') });
    const window = btc.filter((k) => k.openTime >= T('2025-07-06T07:30:00Z') && k.openTime < T('2025-07-06T12:30:00Z'));
    expect(Math.max(...window.map((k) => +k.high))).toBe(108087.2);
    expect(signals[2]!.indicators.entryUpper).toBe(108087.2);
  });

  for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
    it(`${symbol}: every signal over 11.5 days equals the independent reference`, () => {
      const k = symbol === 'BTCUSDT' ? btc : readKlines(symbol);
      const { signals } = drive(donchianBreakout, {}, k);
      const ref = reference(k).out;
      expect(ref.length).toBeGreaterThan(30);
      expect(brief(signals)).toEqual(ref);
    });
  }

  it('1h bars and other periods also match the reference shape (entries only on breakouts of the previous bars)', () => {
    const { signals } = drive(donchianBreakout, { interval: '1h', entryPeriod: 10, exitPeriod: 5 }, btc);
    const bars = groupBars(btc, '1h');
    for (const s of signals.filter((x) => x.reason === 'entry')) {
      const i = bars.findIndex((b) => b.lastMinute === s.klineOpenTime);
      expect(i).toBeGreaterThanOrEqual(10);
      const prev = bars.slice(i - 10, i);
      const c = Number(s.refPrice);
      if (s.target === 'LONG') expect(c).toBeGreaterThan(Math.max(...prev.map((b) => b.high)));
      else expect(c).toBeLessThan(Math.min(...prev.map((b) => b.low)));
    }
    expect(signals.length).toBeGreaterThan(4);
  });

  it('no entries outside the trading session; entries inside it go on', () => {
    const session = { openMinute: parseHhMm('12:00'), closeMinute: parseHhMm('18:00'), days: [0, 1, 2, 3, 4, 5, 6], alignBars: false };
    const { signals } = drive(donchianBreakout, {}, btc, session);
    const entries = signals.filter((s) => s.reason === 'entry');
    expect(entries.length).toBeGreaterThan(5);
    for (const e of entries) {
      const minute = ((e.klineOpenTime + 60_000) % 86_400_000) / 60_000;
      expect(minute >= 720 && minute < 1080).toBe(true);
    }
    expect(entries[0]).toMatchObject({ target: 'LONG', klineOpenTime: T('2025-07-06T12:44:00Z') });
  });

  it('rejects bad parameters naming them', () => {
    expect(() => donchianBreakout.params.parse({ exitPeriod: 30 })).toThrow(/exitPeriod must be shorter than entryPeriod/);
    expect(() => donchianBreakout.params.parse({ interval: '2m' })).toThrow();
    expect(() => donchianBreakout.params.parse({ stopAtr: 0 })).toThrow();
    expect(donchianBreakout.intervals!(donchianBreakout.params.parse({}))).toEqual(['15m']);
  });
});
