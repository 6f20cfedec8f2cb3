/**
 * Trial windows on the real bundled data: trading stays HALTED through the warm-up, so a window
 * trades only inside itself; the whole-data trial equals `perpbot backtest`.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { loadTrialContext, runTrial, sliceData } from './trial.ts';

const config = loadConfig({ env: {}, dotenvFile: null, overrides: { 'log.file': 'false' } });
const ctx = loadTrialContext({ config, funding: ['none'] });
const first = Math.min(...ctx.data.streams.map((s) => s[0]!.openTime));
const end = Math.max(...ctx.data.streams.map((s) => s[s.length - 1]!.openTime)) + 60_000;
const DAY = 86_400_000;

describe('runTrial windows', () => {
  it('slices by open time, [from, to)', () => {
    const d = sliceData(ctx.data, first + DAY, first + 2 * DAY);
    for (const s of d.streams) {
      expect(s[0]!.openTime).toBe(first + DAY);
      expect(s[s.length - 1]!.openTime).toBe(first + 2 * DAY - 60_000);
    }
  });

  it('no trade during the warm-up: a window holding only the last hour after 11 days of warm-up trades at most there', async () => {
    const whole = await runTrial(ctx, { strategy: 'vwap-adx', params: {} });
    expect(whole.metrics.roundTrips).toBe(27); // README: perpbot backtest --funding none
    const w = await runTrial(ctx, { strategy: 'vwap-adx', params: {}, window: { warmupFrom: first, from: end - 3_600_000, to: end }, wantCurve: true });
    // 27 round trips over the data; an hour can hold at most a couple, and nothing before it.
    expect(w.metrics.roundTrips).toBeLessThanOrEqual(2);
    expect(w.curve!.every((p) => p.t > end - 3_600_000)).toBe(true);
    expect(w.metrics.dailyReturns.length).toBe(1);
    // Without the halt the window trial would replay the 11 days' 27 round trips: its equity would be the whole run's.
    expect(whole.metrics.endingEquity).not.toBe(w.metrics.endingEquity);
  }, 120_000);
});
