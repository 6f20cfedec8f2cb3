/**
 * vwap-adx's volatility guard on the real bundled BTCUSDT 1m klines: mark prices that move too far
 * within the guard window, or (without marks) a kline range too wide, block an entry the
 * independent references (vwap-adx-test-support.ts) say would otherwise be taken.
 */
import { describe, expect, it } from 'vitest';
import { D, decimalSessionVwapAt, type KlineColumns } from '../indicators/test-support.ts';
import { ENTRIES, GUARD_MAX, Harness, K, MIN, cloneCols, talibAdx } from './vwap-adx-test-support.ts';

describe('vwap-adx volatility guard', () => {
  const first = ENTRIES[0]!;
  const now = K.openTime[first.i]! + MIN; // clock at the entry bar's close
  const prevClose = K.close[first.i - 1]!;

  it('mark prices moving more than 0.3% within 5 s block the entry', () => {
    const h = new Harness(K).feedTo(first.i);
    h.mark(now - 4_000, prevClose);
    h.mark(now - 1_000, prevClose * 1.004); // 0.4 % in 3 s
    h.feedTo(first.i + 1);
    expect(h.signals.filter((s) => s.i === first.i)).toEqual([]);
    expect(h.strategy.state()).toMatchObject({ held: 'FLAT', guardBlocks: 1 });
  });

  it('mark prices moving 0.2% within 5 s do not block (control)', () => {
    const h = new Harness(K).feedTo(first.i);
    h.mark(now - 4_000, prevClose);
    h.mark(now - 1_000, prevClose * 0.998);
    h.feedTo(first.i + 1);
    expect(h.signals.map((s) => [s.i, s.req.target, s.req.reason])).toEqual([[first.i, first.req.target, 'entry']]);
    expect(h.strategy.state()).toMatchObject({ guardBlocks: 0 });
  });

  it('marks older than the 5 s window are ignored (the kline range decides)', () => {
    const h = new Harness(K).feedTo(first.i);
    h.mark(now - 9_000, prevClose);
    h.mark(now - 5_001, prevClose * 1.02); // 2 %, but 5.001 s before the decision
    h.feedTo(first.i + 1);
    expect(h.signals.map((s) => [s.i, s.req.reason])).toEqual([[first.i, 'entry']]);
  });

  it('without marks, a kline range (high−low)/low above 0.003·√12 blocks the entry; below it does not', () => {
    let tested = 0;
    for (const e of ENTRIES) {
      const i = e.i;
      const long = e.req.target === 'LONG';
      /** The entry bar widened to a relative range `r` on the side away from the close. */
      const widened = (r: string): KlineColumns => {
        const cols = cloneCols(K);
        if (long) {
          const high = new D(K.text.low[i]!).times(new D(1).plus(r)).toDecimalPlaces(1, D.ROUND_UP);
          cols.high[i] = high.toNumber();
          cols.text.high[i] = high.toString();
        } else {
          const low = new D(K.text.high[i]!).div(new D(1).plus(r)).toDecimalPlaces(1, D.ROUND_DOWN);
          cols.low[i] = low.toNumber();
          cols.text.low[i] = low.toString();
        }
        return cols;
      };
      const blocked = widened('0.0110'); // > 0.010392…
      const allowed = widened('0.0100'); // < 0.010392…
      // Preconditions from the references: both variants would enter but for the guard.
      const ok = [blocked, allowed].every((cols) => {
        const adx = talibAdx(cols, 14, i + 1)[i];
        const ref = decimalSessionVwapAt(cols, i);
        const close = new D(cols.text.close[i]!);
        const band = long ? close.lt(ref.vwap!.minus(ref.stdev!.times(2))) : close.gt(ref.vwap!.plus(ref.stdev!.times(2)));
        return adx !== null && adx !== undefined && adx < 20 && ref.count >= 30 && band;
      });
      if (!ok) continue;
      const range = (cols: KlineColumns) => new D(cols.text.high[i]!).minus(cols.text.low[i]!).div(cols.text.low[i]!);
      expect(range(blocked).gt(GUARD_MAX)).toBe(true);
      expect(range(allowed).lt(GUARD_MAX)).toBe(true);

      const hb = new Harness(blocked).feedTo(i + 1);
      expect(hb.signals.filter((s) => s.i === i)).toEqual([]);
      expect(hb.strategy.state()).toMatchObject({ held: 'FLAT', guardBlocks: 1 });
      const ha = new Harness(allowed).feedTo(i + 1);
      expect(ha.signals.filter((s) => s.i === i).map((s) => [s.req.target, s.req.reason])).toEqual([[e.req.target, 'entry']]);
      expect(ha.strategy.state()).toMatchObject({ guardBlocks: 0 });
      tested++;
      if (tested >= 2) break;
    }
    expect(tested).toBeGreaterThanOrEqual(1);
  });
});
