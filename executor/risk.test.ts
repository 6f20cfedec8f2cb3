/**
 * Risk checks and the risk engine. Pure functions, real decimal values; every expected value is
 * worked out by hand in the comment next to it. Prices come from
 * data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv (e.g. 108167.0 = close of 2025-07-06 00:00).
 */
import { describe, expect, it } from 'vitest';
import { Decimal, ZERO, str } from '../src/core/decimal.ts';
import type { OrderIntent } from '../src/core/types.ts';
import {
  ENTRY_CHECKS,
  RiskEngine,
  checkRisk,
  dailyLossCheck,
  fundingWindowCheck,
  isReducing,
  maxDailyQuantityCheck,
  maxNotionalCheck,
  maxOpenPositionsCheck,
  msToNearestFunding,
  tradingStateCheck,
  type RiskLimits,
  type RiskView,
} from './risk.ts';

// 2025-07-06T00:00:00Z = 20275 days × 86_400_000 ms: a funding time and a UTC day boundary.
const DAY0 = 1_751_760_000_000;
const H = 3_600_000;
const MIN = 60_000;
const F08 = DAY0 + 8 * H; // 2025-07-06T08:00:00Z = 1751788800000
const F16 = DAY0 + 16 * H; // 2025-07-06T16:00:00Z = 1751817600000
const NEXT00 = DAY0 + 24 * H; // 2025-07-07T00:00:00Z = 1751846400000
const QUIET = DAY0 + 4 * H; // 04:00Z, as far from a funding time as one gets (4 h)

const d = (s: string) => new Decimal(s);

function intent(p: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: 'pb-test',
    symbol: 'BTCUSDT',
    side: 'BUY',
    type: 'MARKET',
    quantity: '0.009',
    reduceOnly: false,
    strategyId: 's1',
    refPrice: '108167.0',
    createdAt: QUIET,
    ...p,
  };
}

/** A view; `projected` follows `position` unless given (no open orders). */
function view(p: Partial<RiskView> = {}): RiskView {
  const position = p.position ?? ZERO;
  return { now: QUIET, state: 'ACTIVE', position, projected: position, openPositions: 0, openedToday: ZERO, strategyPnlToday: ZERO, ...p };
}

function limits(p: Partial<RiskLimits> = {}): RiskLimits {
  return {
    maxOpenPositions: 2,
    maxNotionalPerSymbol: d('5000'),
    maxDailyQuantity: new Map(),
    dailyLossLimit: d('300'),
    maxConsecutiveLosses: 4,
    haltCooldownMinutes: 240,
    fundingBlackoutMinutes: 5,
    ...p,
  };
}

describe('isReducing', () => {
  const long = d('0.009');
  const short = d('-0.009');
  it('reduce-only SELL against a long, up to the whole position, reduces', () => {
    expect(isReducing(intent({ side: 'SELL', reduceOnly: true, quantity: '0.009' }), long)).toBe(true);
    expect(isReducing(intent({ side: 'SELL', reduceOnly: true, quantity: '0.004' }), long)).toBe(true);
  });
  it('reduce-only BUY against a short reduces', () => {
    expect(isReducing(intent({ side: 'BUY', reduceOnly: true, quantity: '0.009' }), short)).toBe(true);
  });
  it('going past zero does not reduce', () => {
    // 0.010 > |0.009|: would flip the position.
    expect(isReducing(intent({ side: 'SELL', reduceOnly: true, quantity: '0.010' }), long)).toBe(false);
    expect(isReducing(intent({ side: 'BUY', reduceOnly: true, quantity: '0.018' }), short)).toBe(false);
  });
  it('same side, not reduce-only, or flat never reduces', () => {
    expect(isReducing(intent({ side: 'BUY', reduceOnly: true, quantity: '0.001' }), long)).toBe(false);
    expect(isReducing(intent({ side: 'SELL', reduceOnly: true, quantity: '0.001' }), short)).toBe(false);
    expect(isReducing(intent({ side: 'SELL', reduceOnly: false, quantity: '0.009' }), long)).toBe(false);
    expect(isReducing(intent({ side: 'SELL', reduceOnly: true, quantity: '0.009' }), ZERO)).toBe(false);
  });
});

describe('tradingStateCheck', () => {
  const exit = intent({ side: 'SELL', reduceOnly: true, quantity: '0.009' });
  const entry = intent({ side: 'BUY', quantity: '0.009' });
  const long = d('0.009');
  it('ACTIVE lets entries and exits through', () => {
    expect(tradingStateCheck(entry, view({ state: 'ACTIVE' }), limits())).toBeNull();
    expect(tradingStateCheck(exit, view({ state: 'ACTIVE', position: long }), limits())).toBeNull();
  });
  it('REDUCING lets only reducing orders through', () => {
    expect(tradingStateCheck(exit, view({ state: 'REDUCING', position: long }), limits())).toBeNull();
    expect(tradingStateCheck(entry, view({ state: 'REDUCING' }), limits())).toEqual({
      check: 'tradingState',
      reason: 'trading is REDUCING: only orders that shrink a position leave',
    });
    // Adding to the long is not reducing, even reduce-only.
    expect(tradingStateCheck(intent({ side: 'BUY', reduceOnly: true }), view({ state: 'REDUCING', position: long }), limits())?.check).toBe(
      'tradingState',
    );
  });
  it('HALTED stops everything, exits included', () => {
    expect(tradingStateCheck(exit, view({ state: 'HALTED', position: long }), limits())).toEqual({
      check: 'tradingState',
      reason: 'trading is HALTED: no order leaves',
    });
    expect(tradingStateCheck(entry, view({ state: 'HALTED' }), limits())?.check).toBe('tradingState');
  });
});

describe('msToNearestFunding', () => {
  it('is 0 on each funding time', () => {
    expect(msToNearestFunding(DAY0)).toBe(0);
    expect(msToNearestFunding(F08)).toBe(0);
    expect(msToNearestFunding(F16)).toBe(0);
    expect(msToNearestFunding(NEXT00)).toBe(0);
  });
  it('measures to the nearer funding time, before or after', () => {
    expect(msToNearestFunding(F08 - 1)).toBe(1);
    expect(msToNearestFunding(F16 + 1)).toBe(1);
    expect(msToNearestFunding(NEXT00 - 90_000)).toBe(90_000);
    expect(msToNearestFunding(DAY0 + 4 * H)).toBe(4 * H); // halfway: 14_400_000
    expect(msToNearestFunding(DAY0 + 4 * H + 1)).toBe(4 * H - 1); // now nearer 08:00
    expect(msToNearestFunding(F08 + 3 * H)).toBe(3 * H); // 11:00 → 3 h after 08:00
    expect(msToNearestFunding(F16 - 2 * H - 7)).toBe(2 * H + 7); // 13:59:59.993 → before 16:00
  });
});

describe('fundingWindowCheck (blackout 5 min)', () => {
  const L = limits({ fundingBlackoutMinutes: 5 });
  const at = (now: number) => fundingWindowCheck(intent(), view({ now }), L);
  for (const [name, f] of [
    ['00:00', NEXT00],
    ['08:00', F08],
    ['16:00', F16],
  ] as const) {
    it(`${name} UTC: denied from exactly 5 min before to exactly 5 min after, allowed 1 ms outside`, () => {
      expect(at(f - 5 * MIN - 1)).toBeNull();
      expect(at(f - 5 * MIN)).toEqual({ check: 'fundingWindow', reason: '300 s from a funding time (blackout 5 min)' });
      expect(at(f)).toEqual({ check: 'fundingWindow', reason: '0 s from a funding time (blackout 5 min)' });
      expect(at(f + 60_000)).toEqual({ check: 'fundingWindow', reason: '60 s from a funding time (blackout 5 min)' });
      expect(at(f + 5 * MIN)).toEqual({ check: 'fundingWindow', reason: '300 s from a funding time (blackout 5 min)' });
      expect(at(f + 5 * MIN + 1)).toBeNull();
    });
  }
  it('is off when fundingBlackoutMinutes is 0', () => {
    expect(fundingWindowCheck(intent(), view({ now: F08 }), limits({ fundingBlackoutMinutes: 0 }))).toBeNull();
  });
  it('other funding-time-like hours (04:00, 12:00, 20:00) are not funding times', () => {
    for (const t of [DAY0 + 4 * H, DAY0 + 12 * H, DAY0 + 20 * H]) expect(at(t)).toBeNull();
  });
  it("a symbol's own funding times, when the exchange announced them, replace the 8-hourly schedule (a 4-hourly symbol funds at 04:00)", () => {
    const L = limits({ fundingBlackoutMinutes: 5 });
    const next4h = { next: DAY0 + 4 * H, previous: DAY0 };
    expect(fundingWindowCheck(intent(), view({ now: DAY0 + 4 * H - 2 * 60_000, funding: next4h }), L)).toEqual({ check: 'fundingWindow', reason: '120 s from a funding time (blackout 5 min)' });
    expect(fundingWindowCheck(intent(), view({ now: DAY0 + 4 * H - 6 * 60_000, funding: next4h }), L)).toBeNull();
    // just after a funding time: the previous one counts
    expect(fundingWindowCheck(intent(), view({ now: DAY0 + 3 * 60_000, funding: next4h }), L)?.check).toBe('fundingWindow');
    // announced times win over the schedule: 08:00 is not this symbol's next funding time here
    expect(fundingWindowCheck(intent(), view({ now: DAY0 + 8 * H, funding: { next: DAY0 + 9 * H, previous: DAY0 + 7 * H } }), L)).toBeNull();
  });
});

describe('maxOpenPositionsCheck (limit 2)', () => {
  const L = limits({ maxOpenPositions: 2 });
  it('a new position is allowed below the limit', () => {
    expect(maxOpenPositionsCheck(intent(), view({ openPositions: 1 }), L)).toBeNull();
  });
  it('a new position at the limit is denied', () => {
    expect(maxOpenPositionsCheck(intent(), view({ openPositions: 2 }), L)).toEqual({
      check: 'maxOpenPositions',
      reason: '2 positions open, limit 2',
    });
  });
  it('adding to a symbol already open does not count as a new position', () => {
    expect(maxOpenPositionsCheck(intent(), view({ openPositions: 2, position: d('0.009') }), L)).toBeNull();
  });
});

describe('maxNotionalCheck', () => {
  // 0.009 × 108167.0 = 973.503
  it('allows |position after| × refPrice equal to the limit', () => {
    expect(maxNotionalCheck(intent(), view(), limits({ maxNotionalPerSymbol: d('973.503') }))).toBeNull();
  });
  it('denies just above, reason rounded to 2 decimals', () => {
    expect(maxNotionalCheck(intent(), view(), limits({ maxNotionalPerSymbol: d('973.502') }))).toEqual({
      check: 'maxNotionalPerSymbol',
      reason: 'BTCUSDT notional after order 973.5 > limit 973.502',
    });
  });
  it('counts the position already held: 0.009 + 0.009 = 0.018 × 108167.0 = 1947.006', () => {
    expect(maxNotionalCheck(intent(), view({ position: d('0.009') }), limits({ maxNotionalPerSymbol: d('1947.006') }))).toBeNull();
    expect(maxNotionalCheck(intent(), view({ position: d('0.009') }), limits({ maxNotionalPerSymbol: d('1947') }))).toEqual({
      check: 'maxNotionalPerSymbol',
      reason: 'BTCUSDT notional after order 1947.01 > limit 1947',
    });
  });
  it('uses the signed position: SELL 0.018 from +0.009 leaves |−0.009| → 973.503', () => {
    expect(
      maxNotionalCheck(intent({ side: 'SELL', quantity: '0.018' }), view({ position: d('0.009') }), limits({ maxNotionalPerSymbol: d('973.503') })),
    ).toBeNull();
    expect(
      maxNotionalCheck(intent({ side: 'SELL', quantity: '0.018' }), view({ position: d('0.009') }), limits({ maxNotionalPerSymbol: d('973') })),
    ).toEqual({ check: 'maxNotionalPerSymbol', reason: 'BTCUSDT notional after order 973.5 > limit 973' });
  });
});

describe('maxDailyQuantityCheck', () => {
  const L = limits({ maxDailyQuantity: new Map([['BTCUSDT', d('0.02')]]) });
  it('allows opened today + order equal to the cap (0.011 + 0.009 = 0.02)', () => {
    expect(maxDailyQuantityCheck(intent(), view({ openedToday: d('0.011') }), L)).toBeNull();
  });
  it('denies above the cap (0.012 + 0.009 = 0.021)', () => {
    expect(maxDailyQuantityCheck(intent(), view({ openedToday: d('0.012') }), L)).toEqual({
      check: 'maxDailyQuantity',
      reason: 'BTCUSDT opened today 0.012 + 0.009 > limit 0.02',
    });
  });
  it('a symbol without a cap is not limited', () => {
    expect(maxDailyQuantityCheck(intent({ symbol: 'ETHUSDT', quantity: '100' }), view({ openedToday: d('1000') }), L)).toBeNull();
  });
});

describe('dailyLossCheck (limit 300)', () => {
  const L = limits({ dailyLossLimit: d('300') });
  it('allows a loss smaller than the limit', () => {
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: d('-299.9999') }), L)).toBeNull();
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: d('12.5') }), L)).toBeNull();
  });
  it('denies once the loss reaches the limit exactly', () => {
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: d('-300') }), L)).toEqual({
      check: 'dailyLossLimit',
      reason: 'strategy s1 PnL today -300 ≤ −300',
    });
  });
  it('denies beyond, PnL shown to 4 decimals', () => {
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: d('-312.34567') }), L)?.reason).toBe('strategy s1 PnL today -312.3457 ≤ −300');
  });
});

describe('checkRisk', () => {
  const long = d('0.009');
  const exit = intent({ side: 'SELL', reduceOnly: true, quantity: '0.009' });
  // A view where every entry check says no.
  const hostile = (state: RiskView['state']) =>
    view({ state, now: F08, position: long, openPositions: 9, openedToday: d('5'), strategyPnlToday: d('-1000') });
  const tight = limits({
    maxOpenPositions: 1,
    maxNotionalPerSymbol: d('1'),
    maxDailyQuantity: new Map([['BTCUSDT', d('0.001')]]),
    dailyLossLimit: d('10'),
    fundingBlackoutMinutes: 5,
  });

  it('runs the entry checks in the documented order', () => {
    expect(ENTRY_CHECKS).toEqual([fundingWindowCheck, maxOpenPositionsCheck, maxNotionalCheck, maxDailyQuantityCheck, dailyLossCheck]);
  });
  it('skips every entry check for a reducing order', () => {
    expect(checkRisk(exit, hostile('ACTIVE'), tight)).toBeNull();
  });
  it('REDUCING allows an exit even when every entry check would fail', () => {
    expect(checkRisk(exit, hostile('REDUCING'), tight)).toBeNull();
  });
  it('HALTED denies an exit: the trading state is never skipped', () => {
    expect(checkRisk(exit, hostile('HALTED'), tight)).toEqual({ check: 'tradingState', reason: 'trading is HALTED: no order leaves' });
  });
  it('REDUCING denies an entry', () => {
    expect(checkRisk(intent(), view({ state: 'REDUCING' }), limits())).toEqual({
      check: 'tradingState',
      reason: 'trading is REDUCING: only orders that shrink a position leave',
    });
  });
  it('a reduce-only order that would go past zero is an entry: entry checks apply', () => {
    const flip = intent({ side: 'SELL', reduceOnly: true, quantity: '0.018' });
    expect(checkRisk(flip, hostile('ACTIVE'), tight)?.check).toBe('fundingWindow');
    expect(checkRisk(flip, hostile('REDUCING'), tight)?.check).toBe('tradingState');
  });
  it('returns the first failing entry check, then the next once it passes', () => {
    const v = view({ now: F08, openPositions: 1, openedToday: d('5'), strategyPnlToday: d('-1000') });
    expect(checkRisk(intent(), v, tight)?.check).toBe('fundingWindow');
    expect(checkRisk(intent(), { ...v, now: QUIET }, tight)?.check).toBe('maxOpenPositions');
    expect(checkRisk(intent(), { ...v, now: QUIET, openPositions: 0 }, tight)?.check).toBe('maxNotionalPerSymbol');
    const roomy = { ...tight, maxNotionalPerSymbol: d('5000') };
    expect(checkRisk(intent(), { ...v, now: QUIET, openPositions: 0 }, roomy)?.check).toBe('maxDailyQuantity');
    expect(checkRisk(intent(), { ...v, now: QUIET, openPositions: 0, openedToday: ZERO }, { ...roomy, maxDailyQuantity: new Map() })?.check).toBe(
      'dailyLossLimit',
    );
    expect(
      checkRisk(intent(), { ...v, now: QUIET, openPositions: 0, openedToday: ZERO, strategyPnlToday: d('-9.99') }, { ...roomy, maxDailyQuantity: new Map() }),
    ).toBeNull();
  });
});

describe('RiskEngine', () => {
  it('starts ACTIVE with no reason and no streak', () => {
    const r = new RiskEngine(limits());
    expect([r.state, r.haltReason, r.consecutiveLosses]).toEqual(['ACTIVE', '', 0]);
  });

  it('view: counts opened quantity per symbol and PnL per strategy within the UTC day', () => {
    const r = new RiskEngine(limits());
    r.recordOpened('BTCUSDT', d('0.009'), DAY0 + 60_000);
    r.recordOpened('BTCUSDT', d('0.009'), F08);
    r.recordOpened('ETHUSDT', d('0.397'), F08);
    r.recordPnl('s1', d('-1.45656045'), DAY0 + 180_000);
    r.recordPnl('s1', d('-1.0973529'), F16);
    r.recordPnl('s2', d('5'), F16);
    const v = r.view(intent(), NEXT00 - 1, d('0.009'), 1);
    expect(str(v.openedToday)).toBe('0.018');
    expect(str(v.strategyPnlToday)).toBe('-2.55391335'); // −1.45656045 − 1.0973529
    expect(v.now).toBe(NEXT00 - 1);
    expect(v.state).toBe('ACTIVE');
    expect(str(v.position)).toBe('0.009');
    expect(v.openPositions).toBe(1);
    expect(str(r.view(intent({ symbol: 'ETHUSDT', strategyId: 's2' }), NEXT00 - 1, ZERO, 1).openedToday)).toBe('0.397');
    expect(str(r.view(intent({ strategyId: 's2' }), NEXT00 - 1, ZERO, 1).strategyPnlToday)).toBe('5');
  });

  it('day roll at 00:00 UTC resets opened quantity and strategy PnL', () => {
    const r = new RiskEngine(limits());
    r.recordOpened('BTCUSDT', d('0.009'), NEXT00 - 1);
    r.recordPnl('s1', d('-300'), NEXT00 - 1);
    const before = r.view(intent(), NEXT00 - 1, ZERO, 0);
    expect([str(before.openedToday), str(before.strategyPnlToday)]).toEqual(['0.009', '-300']);
    // Midnight is also a funding time: switch the blackout off to see the daily loss limit alone.
    const L = limits({ fundingBlackoutMinutes: 0 });
    // The daily loss limit bites on the old day …
    expect(checkRisk(intent(), before, L)?.check).toBe('dailyLossLimit');
    // … and is gone one millisecond later, on the new UTC day.
    const after = r.view(intent(), NEXT00, ZERO, 0);
    expect([str(after.openedToday), str(after.strategyPnlToday)]).toEqual(['0', '0']);
    expect(checkRisk(intent(), after, L)).toBeNull();
    // Counting restarts from zero on the new day.
    r.recordOpened('BTCUSDT', d('0.001'), NEXT00 + 5);
    expect(str(r.view(intent(), NEXT00 + 6, ZERO, 0).openedToday)).toBe('0.001');
  });

  it('consecutive losses: REDUCING at the limit, with a reason', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 3, haltCooldownMinutes: 240 }));
    expect(r.roundTripClosed(d('-1.45656045'), QUIET)).toBeNull();
    expect(r.roundTripClosed(d('-1.0973529'), QUIET + 1)).toBeNull();
    expect(r.consecutiveLosses).toBe(2);
    expect(r.state).toBe('ACTIVE');
    expect(r.roundTripClosed(d('-0.69305085'), QUIET + 2)).toEqual({
      state: 'REDUCING',
      previous: 'ACTIVE',
      reason: '3 losing round trips in a row (limit 3)',
    });
    expect(r.state).toBe('REDUCING');
    expect(r.haltReason).toBe('3 losing round trips in a row (limit 3)');
    // Already REDUCING: a fourth loss changes nothing but the count.
    expect(r.roundTripClosed(d('-0.1'), QUIET + 3)).toBeNull();
    expect(r.consecutiveLosses).toBe(4);
  });

  it('a win (or break-even) resets the streak', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 3 }));
    r.roundTripClosed(d('-1'), QUIET);
    r.roundTripClosed(d('-1'), QUIET);
    expect(r.consecutiveLosses).toBe(2);
    expect(r.roundTripClosed(d('0.2799'), QUIET)).toBeNull();
    expect(r.consecutiveLosses).toBe(0);
    r.roundTripClosed(d('-1'), QUIET);
    r.roundTripClosed(d('-1'), QUIET);
    expect(r.roundTripClosed(d('0'), QUIET)).toBeNull();
    expect(r.consecutiveLosses).toBe(0);
    r.roundTripClosed(d('-1'), QUIET);
    expect(r.roundTripClosed(d('-1'), QUIET)).toBeNull();
    expect(r.state).toBe('ACTIVE');
  });

  it('maxConsecutiveLosses 0 is off', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 0 }));
    for (let i = 0; i < 20; i++) expect(r.roundTripClosed(d('-1'), QUIET + i)).toBeNull();
    expect(r.state).toBe('ACTIVE');
    expect(r.consecutiveLosses).toBe(20);
  });

  it('tick() lifts the automatic halt after haltCooldownMinutes, not before', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 2, haltCooldownMinutes: 240 }));
    const t0 = QUIET;
    r.roundTripClosed(d('-1'), t0 - 60_000);
    expect(r.roundTripClosed(d('-1'), t0)?.state).toBe('REDUCING');
    expect(r.tick(t0)).toBeNull();
    expect(r.tick(t0 + 240 * MIN - 1)).toBeNull();
    expect(r.state).toBe('REDUCING');
    expect(r.tick(t0 + 240 * MIN)).toEqual({ state: 'ACTIVE', previous: 'REDUCING', reason: 'consecutive-loss cooldown over' });
    expect([r.state, r.haltReason, r.consecutiveLosses]).toEqual(['ACTIVE', '', 0]);
    expect(r.tick(t0 + 241 * MIN)).toBeNull();
    // The streak starts over: one more loss does not halt again.
    expect(r.roundTripClosed(d('-1'), t0 + 242 * MIN)).toBeNull();
  });

  it('haltCooldownMinutes 0: stays REDUCING until setState(ACTIVE)', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 2, haltCooldownMinutes: 0 }));
    r.roundTripClosed(d('-1'), QUIET);
    expect(r.roundTripClosed(d('-1'), QUIET)?.state).toBe('REDUCING');
    expect(r.tick(QUIET + 10 * 24 * H)).toBeNull();
    expect(r.state).toBe('REDUCING');
    expect(r.setState('ACTIVE', 'operator resumed')).toEqual({ state: 'ACTIVE', previous: 'REDUCING', reason: 'operator resumed' });
    expect([r.state, r.haltReason, r.consecutiveLosses]).toEqual(['ACTIVE', '', 0]);
  });

  it('tick() never lifts an operator HALTED or REDUCING', () => {
    const r = new RiskEngine(limits({ maxConsecutiveLosses: 1, haltCooldownMinutes: 1 }));
    expect(r.roundTripClosed(d('-1'), QUIET)?.state).toBe('REDUCING');
    expect(r.setState('HALTED', 'operator')).toEqual({ state: 'HALTED', previous: 'REDUCING', reason: 'operator' });
    expect(r.tick(QUIET + 2 * MIN)).toBeNull();
    expect(r.state).toBe('HALTED');
    const r2 = new RiskEngine(limits({ haltCooldownMinutes: 1 }));
    expect(r2.setState('REDUCING', 'operator')?.state).toBe('REDUCING');
    expect(r2.tick(QUIET + 10 * 24 * H)).toBeNull();
    expect(r2.state).toBe('REDUCING');
  });

  it('setState returns null when nothing changes; the same state with a new reason updates the reason', () => {
    const r = new RiskEngine(limits());
    expect(r.setState('ACTIVE', 'noop')).toBeNull();
    expect(r.setState('HALTED', 'maintenance')).toEqual({ state: 'HALTED', previous: 'ACTIVE', reason: 'maintenance' });
    expect(r.setState('HALTED', 'maintenance')).toBeNull();
    expect(r.setState('HALTED', 'again')).toEqual({ state: 'HALTED', previous: 'HALTED', reason: 'again' });
    expect(r.haltReason).toBe('again');
    expect(r.setState('REDUCING', 'exits only')).toEqual({ state: 'REDUCING', previous: 'HALTED', reason: 'exits only' });
    expect(r.setState('ACTIVE', 'resume')).toEqual({ state: 'ACTIVE', previous: 'REDUCING', reason: 'resume' });
    expect(r.haltReason).toBe('');
  });

  it('view() reports the current state to the checks', () => {
    const r = new RiskEngine(limits());
    r.setState('HALTED', 'x');
    const v = r.view(intent({ side: 'SELL', reduceOnly: true }), QUIET, d('0.009'), 1);
    expect(v.state).toBe('HALTED');
    expect(checkRisk(intent({ side: 'SELL', reduceOnly: true }), v, limits())?.check).toBe('tradingState');
  });
});

describe('operator commands and day boundaries', () => {
  it('a repeated state command changes nothing: the automatic cooldown and the loss streak survive', () => {
    const e = new RiskEngine(limits({ maxConsecutiveLosses: 2, haltCooldownMinutes: 60 }));
    e.roundTripClosed(d('-1'), QUIET);
    expect(e.roundTripClosed(d('-1'), QUIET)?.state).toBe('REDUCING');
    expect(e.setState('REDUCING', 'operator says reducing')).toEqual({ state: 'REDUCING', previous: 'REDUCING', reason: 'operator says reducing' });
    expect(e.haltReason).toBe('operator says reducing');
    expect(e.setState('REDUCING', 'operator says reducing')).toBeNull();
    expect(e.tick(QUIET + 60 * 60_000)?.state).toBe('ACTIVE');
    const f = new RiskEngine(limits({ maxConsecutiveLosses: 3 }));
    f.roundTripClosed(d('-1'), QUIET);
    expect(f.setState('ACTIVE', 'no-op')).toBeNull();
    expect(f.consecutiveLosses).toBe(1);
  });

  it('dailyLossLimit 0 means off, like the other limits', () => {
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: d('-1000') }), limits({ dailyLossLimit: d('0') }))).toBeNull();
    expect(dailyLossCheck(intent(), view({ strategyPnlToday: ZERO }), limits({ dailyLossLimit: d('0') }))).toBeNull();
  });

  it('a late event stamped before midnight does not reset the new day\'s counters', () => {
    const e = new RiskEngine(limits());
    const day2 = Math.ceil(QUIET / 86_400_000) * 86_400_000 + 3_600_000;
    e.recordOpened('BTCUSDT', d('0.5'), day2);
    e.recordOpened('BTCUSDT', d('0.1'), day2 - 7_200_000); // a fill stamped on the previous day, arriving late
    expect(e.view(intent(), day2, ZERO, 0).openedToday.toFixed()).toBe('0.6');
  });

  it('the notional check uses the projected position (open orders included)', () => {
    // long 0.009 with a 0.009 close in flight: a 0.013 short entry projects to −0.013, not −0.004
    const v = view({ position: d('0.009'), projected: ZERO });
    const denial = maxNotionalCheck(intent({ side: 'SELL', quantity: '0.013', refPrice: '108113.3' }), v, limits({ maxNotionalPerSymbol: d('1000') }));
    expect(denial?.check).toBe('maxNotionalPerSymbol');
    expect(denial?.reason).toBe('BTCUSDT notional after order 1405.47 > limit 1000');
  });
});
