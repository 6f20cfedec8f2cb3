/**
 * Protective stops through the executor, with real components (EventBus, ReplayClock, SimVenue /
 * MatchingEngine with the kernel's tick rounding and filter hook, the bundled exchangeInfo) on
 * real BTCUSDT klines copied verbatim from data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv,
 * replayed the way src/kernel/kernel.ts does (clock to closeTime+1, venue.onKline, drain, then the
 * signals). No slippage, taker fee 0.05 %. And the pure start-up plan (planStartupStops).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus/bus.ts';
import { ReplayClock } from '../src/core/clock.ts';
import { Decimal } from '../src/core/decimal.ts';
import type { Kline, OrderEvent, PositionChanged, SignalEmitted, TargetPosition } from '../src/core/types.ts';
import { SimVenue } from '../src/exchange/sim/sim-venue.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { loadExchangeInfo } from './exchange-info.ts';
import { Executor, clientOrderIdFor } from './executor.ts';
import { validateOrder } from './filters.ts';
import { planStartupStops, roundStopPrice, stopClientOrderIdFor } from './protective-stops.ts';

const RULES = loadExchangeInfo(fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url)));
const K: Kline[] = [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406',
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633',
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878',
  '1751760180000,108113.2,108135.0,108113.2,108134.9,29.041',
  '1751760240000,108135.0,108135.0,108121.1,108121.2,13.233',
].map((row) => {
  const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
  return { symbol: 'BTCUSDT', interval: '1m', openTime: Number(t), closeTime: Number(t) + 59_999, open, high, low, close, volume, closed: true };
});

function harness(exchangeStop = true) {
  const clock = new ReplayClock(0);
  const bus = new EventBus();
  const sim = new SimVenue({
    clock,
    config: {
      takerFeeRate: '0.0005',
      slippageBps: '0',
      tickSize: (s) => RULES.get(s).priceFilter.tickSize,
      validate: (intent) => {
        const v = validateOrder(RULES.get(intent.symbol), intent);
        return v ? { code: v.code, reason: v.reason } : null;
      },
    },
  });
  sim.onEvent((e) => void bus.publish(e.type === 'PositionChanged' ? 'account.update' : 'order.update', e));
  const journaled: string[] = [];
  const executor = new Executor({
    bus,
    venue: sim,
    rules: RULES,
    clock,
    sizing: { mode: 'fixed_notional', notional: '1000', equityFraction: '0.1', leverage: 5 },
    limits: { maxOpenPositions: 2, maxNotionalPerSymbol: new Decimal('5000'), maxDailyQuantity: new Map(), dailyLossLimit: new Decimal('300'), maxConsecutiveLosses: 0, haltCooldownMinutes: 0, fundingBlackoutMinutes: 0 },
    journal: { recordIntent: (i) => (journaled.includes(i.clientOrderId) ? false : (journaled.push(i.clientOrderId), true)) },
    log: silentLogger(),
    startingEquity: '10000',
    exchangeStop,
  });
  executor.start();
  const events: Array<OrderEvent | PositionChanged> = [];
  bus.consume(['order.update', 'account.update'], (m) => void events.push(m as OrderEvent | PositionChanged), { name: 'rec' });
  let seq = 0;
  /** Like the kernel's replay: the bus and the stops' venue calls, until both are quiet. */
  const settle = async () => {
    for (let p = executor.stops?.pending() ?? null; !bus.idle || p !== null; p = executor.stops?.pending() ?? null) {
      if (!bus.idle) await bus.drain();
      if (p !== null) await p;
    }
  };
  return {
    executor,
    sim,
    events,
    journaled,
    async minute(i: number) {
      clock.set(K[i]!.closeTime + 1);
      sim.onKline(K[i]!);
      await settle();
    },
    async signal(i: number, target: TargetPosition, stopPrice?: string): Promise<SignalEmitted> {
      const s: SignalEmitted = {
        type: 'SignalEmitted',
        ts: clock.now(),
        signalId: `t:BTCUSDT:${K[i]!.openTime}:${seq++}`,
        strategyId: 't',
        symbol: 'BTCUSDT',
        target,
        reason: target === 'FLAT' ? 'exit_vwap' : 'entry',
        refPrice: K[i]!.close,
        indicators: {},
        klineOpenTime: K[i]!.openTime,
        ...(stopPrice !== undefined ? { stopPrice } : {}),
      };
      await bus.publish('signal.t', s);
      await settle();
      return s;
    },
  };
}

describe('protective stops through the executor (simulated venue)', () => {
  it('rounds the level to the tick without widening the risk: a SELL stop up, a BUY stop down', () => {
    const r = RULES.get('BTCUSDT'); // tickSize 0.10
    expect(roundStopPrice(r, '108110.01', 'SELL').toFixed()).toBe('108110.1');
    expect(roundStopPrice(r, '108110.09', 'BUY').toFixed()).toBe('108110');
    expect(roundStopPrice(r, '108110.1', 'SELL').toFixed()).toBe('108110.1');
  });

  it('places the stop once the entry filled, and the stop closes the position when a kline crosses it', async () => {
    const h = harness();
    await h.minute(0);
    const s = await h.signal(0, 'LONG', '108110.01');
    expect(h.executor.stops!.openStops()).toEqual([]); // not before the entry fills
    await h.minute(1); // the entry fills at K1's open 108166.9 (0.009 BTC)
    const stop = h.executor.stops!.stopOf('BTCUSDT')!;
    expect(stop).toMatchObject({ clientOrderId: stopClientOrderIdFor(s.signalId), type: 'STOP_MARKET', side: 'SELL', stopPrice: '108110.1', closePosition: true, reduceOnly: true, signalId: s.signalId });
    expect(h.journaled).toEqual([clientOrderIdFor(s.signalId, 'open'), stop.clientOrderId]); // written ahead like any order
    expect(h.executor.openOrders()).toEqual([]); // never an order in flight
    await h.minute(2); // low 108100.0 ≤ 108110.1: filled at the stop price
    const fill = h.events.find((e): e is Extract<OrderEvent, { type: 'OrderFilled' }> => e.type === 'OrderFilled' && e.fill.clientOrderId === stop.clientOrderId)!;
    // (108110.1 − 108166.9) × 0.009 = −0.5112
    expect(fill.fill).toMatchObject({ side: 'SELL', price: '108110.1', quantity: '0.009', realizedPnl: '-0.5112' });
    expect(h.executor.positionSnapshot()).toEqual({});
    expect(h.executor.stats.roundTrips).toBe(1);
    expect(h.executor.stops!.stats.triggered).toBe(1);
    expect(h.executor.stops!.openStops()).toEqual([]);
  });

  it('cancels the stop when the strategy\'s exit closes the position', async () => {
    const h = harness();
    await h.minute(0);
    await h.signal(0, 'LONG', '108000');
    await h.minute(1);
    const stop = h.executor.stops!.stopOf('BTCUSDT')!;
    await h.minute(2);
    await h.signal(2, 'FLAT');
    await h.minute(3); // the exit fills at K3's open; flat → the stop is canceled
    expect(h.events.some((e) => e.type === 'OrderCanceled' && e.clientOrderId === stop.clientOrderId)).toBe(true);
    expect(h.sim.engine.openStops()).toEqual([]);
    expect(h.executor.stops!.openStops()).toEqual([]);
  });

  it('moves the stop when a later signal for the held position states another level (old canceled first)', async () => {
    const h = harness();
    await h.minute(0);
    await h.signal(0, 'LONG', '108000');
    await h.minute(1);
    const first = h.executor.stops!.stopOf('BTCUSDT')!;
    await h.signal(1, 'LONG', '108000.04'); // rounds up to 108000.1, which differs from 108000: moved
    const moved = h.executor.stops!.stopOf('BTCUSDT')!;
    expect(moved.stopPrice).toBe('108000.1');
    expect(h.events.some((e) => e.type === 'OrderCanceled' && e.clientOrderId === first.clientOrderId)).toBe(true);
    expect(h.sim.engine.openStops().map((o) => [o.clientOrderId, o.stopPrice])).toEqual([[moved.clientOrderId, '108000.1']]);
    const again = await h.signal(1, 'LONG', '108000.1'); // same level: nothing changes
    expect(h.executor.stops!.stopOf('BTCUSDT')!.clientOrderId).toBe(moved.clientOrderId);
    expect(again.signalId).not.toBe(moved.signalId);
  });

  it('with exchangeStop off, no stop is placed', async () => {
    const h = harness(false);
    await h.minute(0);
    await h.signal(0, 'LONG', '108110.01');
    await h.minute(1);
    expect(h.executor.stops).toBeNull();
    expect(h.sim.engine.openStops()).toEqual([]);
  });
});

describe('planStartupStops (start-up reconciliation of stops)', () => {
  const level = { stopPrice: '100', signalId: 's1', strategyId: 't' };
  it('a held position without its stop gets one; one with its stop is left alone', () => {
    const plan = planStartupStops(
      [
        { symbol: 'BTCUSDT', quantity: '0.01', level, stopsOfSignal: 1 },
        { symbol: 'ETHUSDT', quantity: '-1', level: { ...level, signalId: 's2' }, stopsOfSignal: 1 },
      ],
      [{ symbol: 'ETHUSDT', clientOrderId: stopClientOrderIdFor('s2'), side: 'BUY' }],
    );
    expect(plan).toEqual({ place: [{ symbol: 'BTCUSDT', positionSign: 1, level, n: 1 }], unprotected: [], orphans: [] });
  });
  it('a stop of ours without a position, or on the side that would not close it, is an orphan; others\' stops are untouched', () => {
    const plan = planStartupStops(
      [{ symbol: 'ETHUSDT', quantity: '2', level, stopsOfSignal: 0 }],
      [
        { symbol: 'BTCUSDT', clientOrderId: stopClientOrderIdFor('x'), side: 'SELL' },
        { symbol: 'ETHUSDT', clientOrderId: stopClientOrderIdFor('y'), side: 'BUY' },
        { symbol: 'BTCUSDT', clientOrderId: 'manual-stop', side: 'SELL' },
      ],
    );
    expect(plan.orphans.map((o) => o.clientOrderId).sort()).toEqual([stopClientOrderIdFor('x'), stopClientOrderIdFor('y')].sort());
    expect(plan.place).toEqual([{ symbol: 'ETHUSDT', positionSign: 1, level, n: 0 }]);
  });
  it('a held position whose level is unknown is reported as unprotected, not guessed', () => {
    expect(planStartupStops([{ symbol: 'BTCUSDT', quantity: '0.5', stopsOfSignal: 0 }], [])).toEqual({ place: [], unprotected: ['BTCUSDT'], orphans: [] });
  });
  it('re-placements get distinct deterministic ids', () => {
    expect(stopClientOrderIdFor('s1', 1)).not.toBe(stopClientOrderIdFor('s1'));
    expect(stopClientOrderIdFor('s1', 1)).toBe(stopClientOrderIdFor('s1', 1));
    expect(stopClientOrderIdFor('s1').length).toBeLessThanOrEqual(36);
  });
});
