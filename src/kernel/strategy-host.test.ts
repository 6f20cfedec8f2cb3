import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventBus } from '../bus/bus.ts';
import { ReplayClock } from '../core/clock.ts';
import { PerpbotError } from '../core/errors.ts';
import type { BusMessage } from '../bus/bus.ts';
import type { KlineClosed, MarkPriceUpdated, OrderEvent, OrderIntent, SignalEmitted } from '../core/types.ts';
import type { StrategyConfig } from '../config/schema.ts';
import { silentLogger } from '../logging/logger.ts';
import type { Strategy, StrategyContext } from '../../strategies/contract.ts';
import { registerStrategy } from '../../strategies/registry.ts';
import { KLINES_CSV, readKlinesCsv } from '../../strategies/indicators/test-support.ts';
import { startStrategies } from './strategy-host.ts';

// ---------------------------------------------------------------------------------------------
// Test strategies, registered once in this file's module registry.

interface Seen {
  strategyId: string;
  symbol: string;
  started: number;
  events: string[];
  signals: SignalEmitted[];
}
const seen = new Map<string, Seen>();
const key = (strategyId: string, symbol: string) => `${strategyId}/${symbol}`;

/** Records every event it gets; on a kline emits `perKline` signals for it. */
registerStrategy({
  name: 'test-recorder',
  description: 'records events, emits perKline signals per kline',
  params: z.strictObject({ perKline: z.number().int().min(0).default(1) }),
  create: (params, ctx: StrategyContext): Strategy => {
    const s: Seen = { strategyId: ctx.strategyId, symbol: ctx.symbol, started: 0, events: [], signals: [] };
    seen.set(key(ctx.strategyId, ctx.symbol), s);
    return {
      start: () => {
        s.started++;
      },
      onKline: (e) => {
        s.events.push(`kline:${e.kline.symbol}:${e.kline.openTime}`);
        for (let n = 0; n < params.perKline; n++) {
          s.signals.push(
            ctx.emit({
              target: n % 2 === 0 ? 'LONG' : 'FLAT',
              reason: n % 2 === 0 ? 'entry' : 'exit_vwap',
              refPrice: e.kline.close,
              indicators: { n },
              klineOpenTime: e.kline.openTime,
            })!,
          );
        }
      },
      onMarkPrice: (e) => {
        s.events.push(`mark:${e.symbol}:${e.markPrice}`);
      },
      onPosition: (e) => {
        s.events.push(`position:${e.position.symbol}:${e.position.quantity}`);
      },
      onOrderUpdate: (e) => {
        const id = e.type === 'OrderSubmitted' || e.type === 'OrderDenied' ? e.intent.clientOrderId : e.type === 'OrderFilled' ? e.fill.clientOrderId : e.clientOrderId;
        s.events.push(`${e.type}:${id}${e.type === 'OrderFilled' ? `:${e.status}` : ''}`);
      },
    };
  },
});

/** Throws on every kline (after recording it). */
registerStrategy({
  name: 'test-thrower',
  description: 'throws',
  params: z.strictObject({}),
  create: (_p, ctx): Strategy => {
    const s: Seen = { strategyId: ctx.strategyId, symbol: ctx.symbol, started: 0, events: [], signals: [] };
    seen.set(key(ctx.strategyId, ctx.symbol), s);
    return {
      onKline: (e) => {
        s.events.push(`kline:${e.kline.openTime}`);
        throw new Error(`boom at ${e.kline.openTime}`);
      },
    };
  },
});

// ---------------------------------------------------------------------------------------------

const T0 = Date.UTC(2025, 6, 6);

function kline(symbol: string, openTime: number, close = '100'): KlineClosed {
  return {
    type: 'KlineClosed',
    ts: openTime + 60_000,
    kline: { symbol, interval: '1m', openTime, closeTime: openTime + 59_999, open: close, high: close, low: close, close, volume: '1', closed: true },
  };
}

function cfg(id: string, name: string, symbols: string[] = [], params: Record<string, unknown> = {}): StrategyConfig {
  return { id, name, symbols, params };
}

function intent(clientOrderId: string, strategyId: string, symbol: string): OrderIntent {
  return { clientOrderId, symbol, side: 'BUY', type: 'MARKET', quantity: '0.01', reduceOnly: false, strategyId, refPrice: '100', createdAt: 0 };
}

function setup(configs: StrategyConfig[], symbols = ['BTCUSDT', 'ETHUSDT']) {
  seen.clear();
  const errors: Array<{ subscriber: string; err: unknown; msg: BusMessage }> = [];
  const bus = new EventBus({ onHandlerError: (subscriber, err, msg) => errors.push({ subscriber, err, msg }) });
  const clock = new ReplayClock(T0);
  const signals: SignalEmitted[] = [];
  bus.consume('signal.*', (m) => {
    signals.push(m);
  }, { name: 'signals' });
  const instances = startStrategies(bus, configs, symbols, clock, silentLogger());
  return { bus, clock, signals, errors, instances };
}

function errorOf(f: () => unknown): PerpbotError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(PerpbotError);
    return err as PerpbotError;
  }
  throw new Error('expected a PerpbotError, nothing was thrown');
}

describe('startStrategies', () => {
  it('one started instance per symbol; an empty symbols list means every symbol of the run', () => {
    const { instances } = setup([cfg('rec', 'test-recorder')], ['BTCUSDT', 'ETHUSDT', 'SOLUSDT']);
    expect(instances.map((i) => [i.strategyId, i.name, i.symbol])).toEqual([
      ['rec', 'test-recorder', 'BTCUSDT'],
      ['rec', 'test-recorder', 'ETHUSDT'],
      ['rec', 'test-recorder', 'SOLUSDT'],
    ]);
    expect([...seen.keys()]).toEqual(['rec/BTCUSDT', 'rec/ETHUSDT', 'rec/SOLUSDT']);
    for (const s of seen.values()) expect(s.started).toBe(1);
  });

  it('explicit symbols restrict the instances', () => {
    const { instances } = setup([cfg('a', 'test-recorder', ['ETHUSDT']), cfg('b', 'test-recorder', ['BTCUSDT'])]);
    expect(instances.map((i) => `${i.strategyId}/${i.symbol}`)).toEqual(['a/ETHUSDT', 'b/BTCUSDT']);
  });

  it('klines and mark prices of a symbol reach only that symbol’s instance, in order', async () => {
    const { bus } = setup([cfg('rec', 'test-recorder', [], { perKline: 0 })]);
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0));
    bus.publish('market.kline.ETHUSDT', kline('ETHUSDT', T0));
    bus.publish('market.markPrice.BTCUSDT', { type: 'MarkPriceUpdated', ts: T0 + 1, symbol: 'BTCUSDT', markPrice: '101.5' } satisfies MarkPriceUpdated);
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0 + 60_000));
    bus.publish('market.kline.SOLUSDT', kline('SOLUSDT', T0));
    await bus.drain();
    expect(seen.get('rec/BTCUSDT')!.events).toEqual([`kline:BTCUSDT:${T0}`, 'mark:BTCUSDT:101.5', `kline:BTCUSDT:${T0 + 60_000}`]);
    expect(seen.get('rec/ETHUSDT')!.events).toEqual([`kline:ETHUSDT:${T0}`]);
  });

  it('position changes of a symbol reach only that symbol’s instance', async () => {
    const { bus } = setup([cfg('rec', 'test-recorder', [], { perKline: 0 })]);
    const pos = (symbol: string, quantity: string) => ({ type: 'PositionChanged' as const, ts: T0, position: { symbol, quantity, entryPrice: '1', realizedPnl: '0', fees: '0', updatedAt: T0 } });
    bus.publish('account.update', pos('ETHUSDT', '-0.397'));
    bus.publish('account.update', pos('BTCUSDT', '0.009'));
    await bus.drain();
    expect(seen.get('rec/BTCUSDT')!.events).toEqual(['position:BTCUSDT:0.009']);
    expect(seen.get('rec/ETHUSDT')!.events).toEqual(['position:ETHUSDT:-0.397']);
  });

  it('signal ids are `${id}:${symbol}:${klineOpenTime}:${seq}`, seq restarting at each kline; published on signal.<id>', async () => {
    const { bus, clock, signals } = setup([cfg('rec', 'test-recorder', [], { perKline: 2 })]);
    clock.set(T0 + 60_000);
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0, '108153.4'));
    bus.publish('market.kline.ETHUSDT', kline('ETHUSDT', T0, '2500.01'));
    await bus.drain();
    clock.set(T0 + 120_000);
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0 + 60_000, '108160'));
    await bus.drain();
    expect(signals.map((s) => s.signalId)).toEqual([
      `rec:BTCUSDT:${T0}:0`,
      `rec:BTCUSDT:${T0}:1`,
      `rec:ETHUSDT:${T0}:0`,
      `rec:ETHUSDT:${T0}:1`,
      `rec:BTCUSDT:${T0 + 60_000}:0`,
      `rec:BTCUSDT:${T0 + 60_000}:1`,
    ]);
    expect(signals[0]).toEqual({
      type: 'SignalEmitted',
      ts: T0 + 60_000,
      signalId: `rec:BTCUSDT:${T0}:0`,
      strategyId: 'rec',
      symbol: 'BTCUSDT',
      target: 'LONG',
      reason: 'entry',
      refPrice: '108153.4',
      indicators: { n: 0 },
      klineOpenTime: T0,
    });
    expect(signals[5]).toMatchObject({ ts: T0 + 120_000, target: 'FLAT', reason: 'exit_vwap', refPrice: '108160', indicators: { n: 1 } });
    // emit() returns the published event.
    expect(seen.get('rec/BTCUSDT')!.signals).toEqual([signals[0], signals[1], signals[4], signals[5]]);
  });

  it('a second host run gives the same signal ids (deterministic)', async () => {
    const ids: string[][] = [];
    for (let run = 0; run < 2; run++) {
      const { bus, signals } = setup([cfg('rec', 'test-recorder', ['BTCUSDT'], { perKline: 1 })], ['BTCUSDT']);
      for (let m = 0; m < 3; m++) bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0 + m * 60_000));
      await bus.drain();
      ids.push(signals.map((s) => s.signalId));
    }
    expect(ids[0]).toEqual([`rec:BTCUSDT:${T0}:0`, `rec:BTCUSDT:${T0 + 60_000}:0`, `rec:BTCUSDT:${T0 + 120_000}:0`]);
    expect(ids[1]).toEqual(ids[0]);
  });

  it('order updates reach only the instance whose orders they are', async () => {
    const { bus } = setup([cfg('a', 'test-recorder', ['BTCUSDT', 'ETHUSDT'], { perKline: 0 }), cfg('b', 'test-recorder', ['SOLUSDT'], { perKline: 0 })], [
      'BTCUSDT',
      'ETHUSDT',
      'SOLUSDT',
    ]);
    const fill = (clientOrderId: string, symbol: string, status: 'PARTIALLY_FILLED' | 'FILLED'): OrderEvent => ({
      type: 'OrderFilled',
      ts: 1,
      fill: { tradeId: '1', orderId: '9', clientOrderId, symbol, side: 'BUY', price: '100', quantity: '0.01', commission: '0', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: 1 },
      cumulativeQuantity: '0.01',
      status,
    });
    const events: OrderEvent[] = [
      { type: 'OrderSubmitted', ts: 1, intent: intent('a-btc-1', 'a', 'BTCUSDT') },
      { type: 'OrderAccepted', ts: 1, clientOrderId: 'a-btc-1', orderId: '9', symbol: 'BTCUSDT' },
      fill('a-btc-1', 'BTCUSDT', 'PARTIALLY_FILLED'),
      fill('a-btc-1', 'BTCUSDT', 'FILLED'),
      // After FILLED the order is forgotten: a late update for it reaches nobody.
      { type: 'OrderCanceled', ts: 1, clientOrderId: 'a-btc-1', orderId: '9', symbol: 'BTCUSDT', reason: 'late' },
      // Denied before submission: routed by strategy id and symbol.
      { type: 'OrderDenied', ts: 1, intent: intent('a-eth-1', 'a', 'ETHUSDT'), check: 'MIN_NOTIONAL', reason: 'too small' },
      { type: 'OrderSubmitted', ts: 1, intent: intent('b-sol-1', 'b', 'SOLUSDT') },
      { type: 'OrderRejected', ts: 1, clientOrderId: 'b-sol-1', symbol: 'SOLUSDT', code: -2019, reason: 'margin' },
      // Rejected orders are forgotten too.
      { type: 'OrderExpired', ts: 1, clientOrderId: 'b-sol-1', orderId: '10', symbol: 'SOLUSDT', reason: 'late' },
      // Someone else's orders (an operator, an unknown strategy, another symbol of a) reach nobody.
      { type: 'OrderSubmitted', ts: 1, intent: intent('op-1', 'operator', 'BTCUSDT') },
      { type: 'OrderAccepted', ts: 1, clientOrderId: 'op-1', orderId: '11', symbol: 'BTCUSDT' },
      { type: 'OrderDenied', ts: 1, intent: intent('a-sol-1', 'a', 'SOLUSDT'), check: 'x', reason: 'y' },
      { type: 'OrderSubmitted', ts: 1, intent: intent('a-eth-2', 'a', 'ETHUSDT') },
      { type: 'OrderExpired', ts: 1, clientOrderId: 'a-eth-2', orderId: '12', symbol: 'ETHUSDT', reason: 'GTX would take' },
    ];
    for (const e of events) bus.publish('order.update', e);
    await bus.drain();
    expect(seen.get('a/BTCUSDT')!.events).toEqual([
      'OrderSubmitted:a-btc-1',
      'OrderAccepted:a-btc-1',
      'OrderFilled:a-btc-1:PARTIALLY_FILLED',
      'OrderFilled:a-btc-1:FILLED',
    ]);
    expect(seen.get('a/ETHUSDT')!.events).toEqual(['OrderDenied:a-eth-1', 'OrderSubmitted:a-eth-2', 'OrderExpired:a-eth-2']);
    expect(seen.get('b/SOLUSDT')!.events).toEqual(['OrderSubmitted:b-sol-1', 'OrderRejected:b-sol-1']);
  });

  it('two strategies on one symbol → CONFIG_INVALID naming both and the symbol; nothing is subscribed', () => {
    const bus = new EventBus();
    const e = errorOf(() =>
      startStrategies(bus, [cfg('one', 'test-recorder', ['BTCUSDT']), cfg('two', 'test-recorder')], ['BTCUSDT', 'ETHUSDT'], new ReplayClock(0), silentLogger()),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toBe('strategies: one and two both trade BTCUSDT; one-way mode holds one position per symbol');
    expect(bus.stats().subscribers).toEqual([]);
  });

  it('a symbol outside the run → CONFIG_INVALID', () => {
    const e = errorOf(() => startStrategies(new EventBus(), [cfg('one', 'test-recorder', ['XRPUSDT'])], ['BTCUSDT', 'ETHUSDT'], new ReplayClock(0), silentLogger()));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toBe("strategies[one].symbols: XRPUSDT is not among the run's symbols (BTCUSDT, ETHUSDT)");
  });

  it('an unknown strategy → STRATEGY_UNKNOWN naming it and the known ones', () => {
    const e = errorOf(() => startStrategies(new EventBus(), [cfg('x', 'vwap-adxx')], ['BTCUSDT'], new ReplayClock(0), silentLogger()));
    expect(e.code).toBe('STRATEGY_UNKNOWN');
    expect(e.message.startsWith('unknown strategy "vwap-adxx" (known: ')).toBe(true);
    const known = /\(known: (.*)\)$/.exec(e.message)![1]!.split(', ');
    expect(known).toEqual(expect.arrayContaining(['vwap-adx', 'test-recorder', 'test-thrower']));
  });

  it('bad params → STRATEGY_PARAMS naming the parameter, its value and the rule', () => {
    const run = (params: Record<string, unknown>) =>
      errorOf(() => startStrategies(new EventBus(), [cfg('va', 'vwap-adx', [], params)], ['BTCUSDT'], new ReplayClock(0), silentLogger()));
    const e1 = run({ adxPeriod: 1 });
    expect(e1.code).toBe('STRATEGY_PARAMS');
    expect(e1.message).toMatch(/^invalid strategy parameters:\n {2}- strategies\[va\]\.params\.adxPeriod: got 1, /);
    const e2 = run({ bandK: 3, stopK: 2 });
    expect(e2.code).toBe('STRATEGY_PARAMS');
    expect(e2.message).toBe('invalid strategy parameters:\n  - strategies[va].params.stopK: got 2, stopK must be greater than bandK');
    const e3 = run({ bandk: 2 });
    expect(e3.code).toBe('STRATEGY_PARAMS');
    expect(e3.message).toBe('invalid strategy parameters:\n  - strategies[va].params: unknown key(s) bandk');
    const e4 = run({ adxMax: 'low', allowShort: 1 });
    expect(e4.message.split('\n')).toHaveLength(3);
    expect(e4.message).toContain('strategies[va].params.adxMax: got "low", ');
    expect(e4.message).toContain('strategies[va].params.allowShort: got 1, ');
  });

  it('a throwing strategy is counted in handlerErrors and reported; the others keep working', async () => {
    const { bus, signals, errors } = setup([cfg('bad', 'test-thrower', ['BTCUSDT']), cfg('good', 'test-recorder', ['ETHUSDT'], { perKline: 1 })]);
    for (let m = 0; m < 3; m++) {
      bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', T0 + m * 60_000));
      bus.publish('market.kline.ETHUSDT', kline('ETHUSDT', T0 + m * 60_000));
    }
    await bus.drain();
    const stats = bus.stats();
    expect(stats.handlerErrors).toBe(3);
    expect(stats.subscribers.find((s) => s.name === 'strategy:bad:BTCUSDT')).toMatchObject({ handlerErrors: 3, delivered: 3 });
    expect(stats.subscribers.find((s) => s.name === 'strategy:good:ETHUSDT')).toMatchObject({ handlerErrors: 0, delivered: 3 });
    expect(errors.map((e) => [e.subscriber, (e.err as Error).message])).toEqual([
      ['strategy:bad:BTCUSDT', `boom at ${T0}`],
      ['strategy:bad:BTCUSDT', `boom at ${T0 + 60_000}`],
      ['strategy:bad:BTCUSDT', `boom at ${T0 + 120_000}`],
    ]);
    // The thrower still received every kline, the good one every kline and signal.
    expect(seen.get('bad/BTCUSDT')!.events).toEqual([`kline:${T0}`, `kline:${T0 + 60_000}`, `kline:${T0 + 120_000}`]);
    expect(signals.map((s) => s.signalId)).toEqual([`good:ETHUSDT:${T0}:0`, `good:ETHUSDT:${T0 + 60_000}:0`, `good:ETHUSDT:${T0 + 120_000}:0`]);
  });

  it('the real vwap-adx runs through the host on real klines: its first signal has the deterministic id', async () => {
    const k = readKlinesCsv(KLINES_CSV.BTCUSDT);
    const { bus, clock, signals, errors } = setup([cfg('vwap-adx', 'vwap-adx')], ['BTCUSDT']);
    let i = 0;
    for (; i < k.openTime.length && signals.length === 0; i++) {
      const t = k.openTime[i]!;
      clock.set(t + 60_000);
      bus.publish('market.kline.BTCUSDT', {
        type: 'KlineClosed',
        ts: t + 60_000,
        kline: { symbol: 'BTCUSDT', interval: '1m', openTime: t, closeTime: t + 59_999, open: k.text.close[i]!, high: k.text.high[i]!, low: k.text.low[i]!, close: k.text.close[i]!, volume: k.text.volume[i]!, closed: true },
      });
      await bus.drain();
    }
    expect(errors).toEqual([]);
    expect(signals).toHaveLength(1);
    const t = k.openTime[i - 1]!;
    expect(signals[0]).toMatchObject({
      signalId: `vwap-adx:BTCUSDT:${t}:0`,
      strategyId: 'vwap-adx',
      symbol: 'BTCUSDT',
      reason: 'entry',
      refPrice: k.text.close[i - 1],
      ts: t + 60_000,
    });
    // 2025-07-07T12:54Z is the first entry of vwap-adx with default parameters on this file
    // (independently checked bar by bar in strategies/vwap-adx/vwap-adx.test.ts).
    expect(new Date(t).toISOString()).toBe('2025-07-07T12:54:00.000Z');
  });
});
