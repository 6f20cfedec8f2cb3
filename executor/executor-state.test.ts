/**
 * Executor trading state: SetTradingState commands (HALTED, ACTIVE) and the consecutive-loss
 * halt (REDUCING, lifted after its cooldown), with the totals, equity and stats of a run of
 * losing round trips.
 *
 * Real components and real klines, replayed as the kernel does (see executor-test-support.ts);
 * simulated fees: taker 0.0005, slippage 0 bps. Every expected number is worked out by hand in
 * the comment beside it.
 */
import { describe, expect, it } from 'vitest';
import { ZERO, str } from '../src/core/decimal.ts';
import { b, harness } from './executor-test-support.ts';

describe('Executor: trading state', () => {
  it('SetTradingState HALTED on order.request: entries and exits denied (tradingState), TradingStateChanged on risk.state', async () => {
    const h = harness();
    await h.bar(b(0));
    await h.setState('HALTED', 'operator: maintenance');
    await h.setState('HALTED', 'operator: maintenance'); // the same command again: no event
    await h.setState('HALTED', 'operator: extended'); // same state, new reason: the reason is news
    await h.signal('LONG', b(0));
    expect(h.of('TradingStateChanged')).toEqual([
      { type: 'TradingStateChanged', ts: 1751760060000, state: 'HALTED', previous: 'ACTIVE', reason: 'operator: maintenance' },
      { type: 'TradingStateChanged', ts: 1751760060000, state: 'HALTED', previous: 'HALTED', reason: 'operator: extended' },
    ]);
    expect(h.executor.tradingState()).toEqual({ state: 'HALTED', reason: 'operator: extended', consecutiveLosses: 0 });
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly])).toEqual([
      ['tradingState', 'trading is HALTED: no order leaves', 'BUY', false],
    ]);

    await h.setState('ACTIVE', 'operator: resume');
    await h.signal('LONG', b(0), 1);
    await h.bar(b(1));
    expect(h.executor.positionSnapshot()).toEqual({ BTCUSDT: '0.009' });

    await h.setState('HALTED', 'operator: stop');
    await h.signal('FLAT', b(1));
    expect(h.of('OrderDenied').slice(1).map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly, e.intent.quantity])).toEqual([
      ['tradingState', 'trading is HALTED: no order leaves', 'SELL', true, '0.009'],
    ]);
    expect(h.venueSaw).toHaveLength(1);

    await h.setState('ACTIVE', 'operator: resume 2');
    await h.signal('FLAT', b(1), 1);
    expect(h.venueSaw.map((i) => [i.side, i.reduceOnly])).toEqual([
      ['BUY', false],
      ['SELL', true],
    ]);
    expect(h.of('TradingStateChanged').map((e) => [e.state, e.previous, e.reason, e.ts])).toEqual([
      ['HALTED', 'ACTIVE', 'operator: maintenance', 1751760060000],
      ['HALTED', 'HALTED', 'operator: extended', 1751760060000],
      ['ACTIVE', 'HALTED', 'operator: resume', 1751760060000],
      ['HALTED', 'ACTIVE', 'operator: stop', 1751760120000],
      ['ACTIVE', 'HALTED', 'operator: resume 2', 1751760120000],
    ]);
    expect(h.executor.stats.deniedByCheck).toEqual({ tradingState: 2 });
  });

  /**
   * Three losing round trips on klines 0–6 (maxConsecutiveLosses 2, haltCooldownMinutes 3):
   *  trip 1: LONG @k0 → BUY 0.009 @108166.9 (k1 open); FLAT @k2 → SELL @108113.2 (k3 open)
   *          rp (108113.2 − 108166.9) × 0.009 = −0.4833, fees 0.48675105 + 0.4865094 → −1.45656045
   *  trip 2: LONG @k3 → BUY 0.009 @108135.0 (k4 open); SHORT @k4 → close SELL @108121.2 (k5 open)
   *          rp (108121.2 − 108135.0) × 0.009 = −0.1242, fees 0.4866075 + 0.4865454 → −1.0973529
   *          → 2 losses in a row: REDUCING. The open leg SELL 0.009 @108121.2 fills too.
   *  trip 3: LONG @k5 → close leg BUY 0.009 (reduce-only: allowed) @108090.1 (k6 open),
   *          open leg BUY denied (tradingState);
   *          rp (108121.2 − 108090.1) × 0.009 = 0.2799, fees 0.4865454 + 0.48640545 → −0.69305085
   */
  async function losingRun(o: { positionFirst?: boolean } = {}) {
    const h = harness({ limits: { maxConsecutiveLosses: 2, haltCooldownMinutes: 3 }, ...o });
    await h.bar(b(0));
    await h.signal('LONG', b(0));
    await h.bar(b(1));
    await h.bar(b(2));
    await h.signal('FLAT', b(2));
    await h.bar(b(3));
    await h.signal('LONG', b(3));
    await h.bar(b(4));
    await h.signal('SHORT', b(4));
    await h.bar(b(5));
    await h.signal('LONG', b(5));
    await h.bar(b(6));
    return h;
  }

  it('consecutive losing round trips → REDUCING published; entries denied, exits allowed; lifted after the cooldown', async () => {
    const h = await losingRun();
    expect(h.executor.trades().map((t) => [t.netPnl, t.closedAt])).toEqual([
      ['-1.45656045', 1751760180000],
      ['-1.0973529', 1751760300000],
      ['-0.69305085', 1751760360000],
    ]);
    expect(h.of('TradingStateChanged')).toEqual([
      {
        type: 'TradingStateChanged',
        ts: 1751760360000, // published while handling k5's fills: clock = k5 closeTime + 1
        state: 'REDUCING',
        previous: 'ACTIVE',
        reason: '2 losing round trips in a row (limit 2)',
      },
    ]);
    // At k5 the LONG's exit leg left, its entry leg was denied.
    const k5 = h.of('OrderSubmitted').filter((e) => e.intent.signalId === 's1:BTCUSDT:1751760300000:0');
    expect(k5.map((e) => [e.intent.side, e.intent.reduceOnly, e.intent.quantity])).toEqual([['BUY', true, '0.009']]);
    expect(h.of('OrderDenied').map((e) => [e.check, e.reason, e.intent.side, e.intent.reduceOnly])).toEqual([
      ['tradingState', 'trading is REDUCING: only orders that shrink a position leave', 'BUY', false],
    ]);
    expect(h.executor.positionSnapshot()).toEqual({});
    expect(h.executor.tradingState()).toEqual({ state: 'REDUCING', reason: '2 losing round trips in a row (limit 2)', consecutiveLosses: 3 });

    // k6 (clock 00:07:00): the cooldown (3 min from the 00:05:00 fill) is not over → denied.
    await h.signal('LONG', b(6));
    expect(h.of('OrderDenied')).toHaveLength(2);
    expect(h.of('OrderDenied')[1]!.check).toBe('tradingState');
    // k7 (clock 00:08:00.000 = 00:05:00 + 3 min): the halt lifts and the entry leaves.
    await h.bar(b(7));
    await h.signal('LONG', b(7));
    expect(h.of('TradingStateChanged').slice(1)).toEqual([
      { type: 'TradingStateChanged', ts: 1751760480000, state: 'ACTIVE', previous: 'REDUCING', reason: 'consecutive-loss cooldown over' },
    ]);
    expect(h.executor.tradingState()).toEqual({ state: 'ACTIVE', reason: '', consecutiveLosses: 0 });
    expect(h.venueSaw.at(-1)).toMatchObject({ side: 'BUY', reduceOnly: false, quantity: '0.009', refPrice: '108094.2' });
    expect(h.handlerErrors).toEqual([]);
  });

  it("with Binance's order (each position update before its fill) the same round trips close with the same PnL", async () => {
    const fillFirst = await losingRun();
    const positionFirst = await losingRun({ positionFirst: true });
    // Each fill really did arrive after its position update.
    const order = positionFirst.events.filter((e) => e.type === 'OrderFilled' || e.type === 'PositionChanged').map((e) => e.type);
    expect(order.slice(0, 4)).toEqual(['PositionChanged', 'OrderFilled', 'PositionChanged', 'OrderFilled']);
    expect(positionFirst.executor.trades().map((t) => t.netPnl)).toEqual(['-1.45656045', '-1.0973529', '-0.69305085']);
    expect(positionFirst.executor.trades().map((t) => t.netPnl)).toEqual(fillFirst.executor.trades().map((t) => t.netPnl));
    expect(positionFirst.of('TradingStateChanged').map((e) => [e.state, e.reason])).toEqual([['REDUCING', '2 losing round trips in a row (limit 2)']]);
    expect(positionFirst.executor.stats).toMatchObject({ roundTrips: 3, wins: 0, losses: 3 });
  });

  it('totals() equal the sums of the fills, exactly; equity matches the simulated wallet', async () => {
    const h = await losingRun();
    const fills = h.of('OrderFilled').map((e) => e.fill);
    expect(fills.map((f) => [f.side, f.price, f.realizedPnl, f.commission])).toEqual([
      ['BUY', '108166.9', '0', '0.48675105'],
      ['SELL', '108113.2', '-0.4833', '0.4865094'],
      ['BUY', '108135', '0', '0.4866075'],
      ['SELL', '108121.2', '-0.1242', '0.4865454'],
      ['SELL', '108121.2', '0', '0.4865454'],
      ['BUY', '108090.1', '0.2799', '0.48640545'],
    ]);
    const rp = fills.reduce((a, f) => a.plus(f.realizedPnl), ZERO);
    const fee = fills.reduce((a, f) => a.plus(f.commission), ZERO);
    // −0.4833 − 0.1242 + 0.2799 = −0.3276; Σ fees = 2.9193642; net = −3.2469642
    expect(h.executor.totals()).toEqual({ realizedPnl: '-0.3276', fees: '2.9193642', netPnl: '-3.2469642' });
    expect(h.executor.totals()).toEqual({ realizedPnl: str(rp), fees: str(fee), netPnl: str(rp.minus(fee)) });
    // Σ round trips = Σ fills (every fill belonged to a closed trip).
    expect(str(h.executor.trades().reduce((a, t) => a.plus(t.netPnl), ZERO))).toBe('-3.2469642');
    expect(h.executor.currentEquity()).toBe('9996.7530358');
    expect(h.executor.currentEquity()).toBe(h.sim.engine.balance());
  });

  it('stats counters over the losing run', async () => {
    const h = await losingRun();
    expect(h.executor.stats).toEqual({
      signals: 5, // LONG k0, FLAT k2, LONG k3, SHORT k4, LONG k5
      ignoredSignals: 0,
      submitted: 6, // open k0, close k2, open k3, close+open k4, close k5
      denied: 1,
      deniedByCheck: { tradingState: 1 },
      rejected: 0,
      fills: 6,
      roundTrips: 3,
      wins: 0,
      losses: 3,
      venueErrors: 0,
      externalFills: 0,
      externalOrders: 0,
    });
    expect(h.journaled).toHaveLength(6);
    expect(h.venueSaw).toEqual(h.journaled);
  });
});
