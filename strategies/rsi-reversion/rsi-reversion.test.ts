/**
 * rsi-reversion on the bundled real 1m klines: hand-checked cases at specific timestamps, and every
 * signal of the whole data set equal to an independent re-implementation (group-by 5m bars, RSI
 * and SMAs from TA-Lib, Connors' rules run bar by bar).
 */
import { describe, expect, it } from 'vitest';
import type { Kline } from '../../src/core/types.ts';
import { drive, groupBars, readKlines, taLib, type Emitted } from '../common/strategy-test-support.ts';
import { rsiReversion } from './rsi-reversion.ts';

const T = (iso: string) => Date.parse(iso);

function reference(klines: Kline[], p = { rsi: 2, lo: 10, hi: 90, trend: 200, exit: 5, maxHold: 24 }) {
  const bars = groupBars(klines, '5m').filter((b) => b.minutes === 5);
  const close = bars.map((b) => b.close);
  const rsi = taLib('RSI', { inReal: close }, { optInTimePeriod: p.rsi });
  const trend = taLib('SMA', { inReal: close }, { optInTimePeriod: p.trend });
  const exit = taLib('SMA', { inReal: close }, { optInTimePeriod: p.exit });
  const out: Array<{ t: number; target: string; reason: string }> = [];
  let held = 'FLAT';
  let n = 0;
  bars.forEach((b, i) => {
    const c = b.close;
    if (held !== 'FLAT') {
      n++;
      if (exit[i] !== null && (held === 'LONG' ? c > exit[i]! : c < exit[i]!)) {
        out.push({ t: b.lastMinute, target: 'FLAT', reason: 'exit_signal' });
        held = 'FLAT';
      } else if (n >= p.maxHold) {
        out.push({ t: b.lastMinute, target: 'FLAT', reason: 'time_stop' });
        held = 'FLAT';
      }
      return;
    }
    if (rsi[i] === null || trend[i] === null) return;
    if (rsi[i]! < p.lo && c > trend[i]!) held = 'LONG';
    else if (rsi[i]! > p.hi && c < trend[i]!) held = 'SHORT';
    else return;
    n = 0;
    out.push({ t: b.lastMinute, target: held, reason: 'entry' });
  });
  return { out, bars, rsi, trend, exit };
}

const brief = (s: Emitted[]) => s.map((x) => ({ t: x.klineOpenTime, target: x.target, reason: x.reason }));

describe("rsi-reversion (Connors RSI(2), 200/5 SMA) on real 1m klines, 5m bars", () => {
  const btc = readKlines('BTCUSDT');

  it('hand-checked: the 5m bar 2025-07-06 18:00 closes at 108807.0 after two falling closes → RSI(2) 9.8 < 10 above the 200-SMA → LONG', () => {
    const { signals } = drive(rsiReversion, {}, btc);
    const e = signals[0]!;
    expect(e).toMatchObject({ target: 'LONG', reason: 'entry', refPrice: '108807.0', klineOpenTime: T('2025-07-06T18:04:00Z') });
    // By hand from the 5m closes (last minute of each bar in the CSV): the two bars before fell.
    const closeAt = (iso: string) => Number(btc.find((k) => k.openTime === T(iso))!.close);
    const c = [closeAt('2025-07-06T17:54:00Z'), closeAt('2025-07-06T17:59:00Z'), closeAt('2025-07-06T18:04:00Z')];
    expect(c[2]!).toBe(108807);
    expect(c[1]! > c[2]!).toBe(true);
    const { bars, rsi, trend } = reference(btc);
    const i = bars.findIndex((b) => b.openTime === T('2025-07-06T18:00:00Z'));
    expect(Math.abs(e.indicators.rsi! - rsi[i]!)).toBeLessThan(1e-9);
    expect(e.indicators.rsi!).toBeCloseTo(9.805, 3);
    expect(Math.abs(e.indicators.trendSma! - trend[i]!) / trend[i]!).toBeLessThan(1e-9);
    expect(108807).toBeGreaterThan(e.indicators.trendSma!);
    // The 200-SMA of 5m closes, by plain averaging of the 200 bars ending at 18:00.
    const avg = bars.slice(i - 199, i + 1).reduce((s, b) => s + b.close, 0) / 200;
    expect(e.indicators.trendSma!).toBeCloseTo(avg, 6);
  });

  it('hand-checked: exit when the 18:55 bar closes at 108424.0 above its 5-SMA 108389.2', () => {
    const { signals } = drive(rsiReversion, {}, btc);
    expect(signals[1]).toMatchObject({ target: 'FLAT', reason: 'exit_signal', refPrice: '108424.0', klineOpenTime: T('2025-07-06T18:59:00Z') });
    const closes = ['18:34', '18:39', '18:44', '18:49', '18:54', '18:59'].map((m) => Number(btc.find((k) => k.openTime === T(`2025-07-06T${m}:00Z`))!.close));
    const sma5 = closes.slice(1).reduce((s, x) => s + x, 0) / 5;
    expect(signals[1]!.indicators.exitSma).toBeCloseTo(sma5, 6);
    expect(sma5).toBeCloseTo(108389.2, 6);
    // No exit earlier: every 5m close between entry and 18:55 was at or below its 5-SMA.
    expect(signals[1]!.klineOpenTime).toBeGreaterThan(signals[0]!.klineOpenTime);
  });

  for (const symbol of ['BTCUSDT', 'ETHUSDT'] as const) {
    it(`${symbol}: every signal over 11.5 days equals the independent reference`, () => {
      const k = symbol === 'BTCUSDT' ? btc : readKlines(symbol);
      const { signals } = drive(rsiReversion, {}, k);
      const ref = reference(k).out;
      expect(ref.length).toBeGreaterThan(100);
      expect(brief(signals)).toEqual(ref);
      // A short time stop (3 bars) exercises that rule too.
      const short = drive(rsiReversion, { maxHoldBars: 3 }, k).signals;
      const refShort = reference(k, { rsi: 2, lo: 10, hi: 90, trend: 200, exit: 5, maxHold: 3 }).out;
      expect(refShort.filter((r) => r.reason === 'time_stop').length).toBeGreaterThan(5);
      expect(brief(short)).toEqual(refShort);
    });
  }

  it('the optional ATR stop closes a position on a 1m close beyond entry ∓ k·ATR', () => {
    const { signals } = drive(rsiReversion, { stopAtr: 1 }, btc);
    const stops = signals.filter((s) => s.reason === 'stop');
    expect(stops.length).toBeGreaterThan(0);
    // Each entry states its stop as stopPrice (the exchange-side STOP_MARKET); exits state none.
    for (const s of signals) expect(s.stopPrice).toBe(s.reason === 'entry' ? String(s.indicators.stop) : undefined);
    // Without the ATR stop (the default), no entry states one.
    expect(drive(rsiReversion, {}, btc).signals.every((s) => s.stopPrice === undefined)).toBe(true);
    for (const s of stops) {
      const entry = [...signals].reverse().find((x) => x.reason === 'entry' && x.klineOpenTime < s.klineOpenTime)!;
      const c = Number(s.refPrice);
      if (entry.target === 'LONG') expect(c).toBeLessThanOrEqual(entry.indicators.stop!);
      else expect(c).toBeGreaterThanOrEqual(entry.indicators.stop!);
    }
  });

  it('rejects bad parameters naming them', () => {
    expect(() => rsiReversion.params.parse({ oversold: 95 })).toThrow(/oversold must be below overbought/);
    expect(() => rsiReversion.params.parse({ rsiPeriod: 1 })).toThrow();
    expect(() => rsiReversion.params.parse({ bogus: 1 })).toThrow();
  });
});
