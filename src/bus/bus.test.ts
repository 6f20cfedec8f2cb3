import { describe, expect, it } from 'vitest';
import { EventBus } from './bus.ts';
import type { KlineClosed, MarkPriceUpdated, SignalEmitted } from '../core/types.ts';

const kline = (symbol: string, openTime: number): KlineClosed => ({
  type: 'KlineClosed',
  ts: openTime + 60_000,
  kline: {
    symbol,
    interval: '1m',
    openTime,
    closeTime: openTime + 59_999,
    open: '1',
    high: '1',
    low: '1',
    close: '1',
    volume: '1',
    closed: true,
  },
});
const mark = (symbol: string, price: string, ts: number): MarkPriceUpdated => ({
  type: 'MarkPriceUpdated',
  ts,
  symbol,
  markPrice: price,
});
const signal = (strategyId: string, ts: number): SignalEmitted => ({
  type: 'SignalEmitted',
  ts,
  signalId: `${strategyId}:X:${ts}:0`,
  strategyId,
  symbol: 'BTCUSDT',
  target: 'FLAT',
  reason: 'exit_vwap',
  refPrice: '1',
  indicators: {},
});

describe.each([{ runQueue: false }, { runQueue: true }])('EventBus (runQueue: $runQueue)', ({ runQueue }) => {
  it('routes exact topics and wildcard patterns, in publish order', async () => {
    const bus = new EventBus({ runQueue });
    const seen: string[] = [];
    const all: string[] = [];
    bus.consume('market.kline.BTCUSDT', (m) => {
      seen.push(`${m.kline.symbol}@${m.kline.openTime}`);
    });
    bus.consume('market.*', (m) => {
      all.push(m.type === 'KlineClosed' ? `k:${m.kline.symbol}` : `m:${m.symbol}`);
    });
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', 0));
    bus.publish('market.kline.ETHUSDT', kline('ETHUSDT', 0));
    bus.publish('market.markPrice.BTCUSDT', mark('BTCUSDT', '2', 1));
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', 60_000));
    await bus.drain();
    expect(seen).toEqual(['BTCUSDT@0', 'BTCUSDT@60000']);
    expect(all).toEqual(['k:BTCUSDT', 'k:ETHUSDT', 'm:BTCUSDT', 'k:BTCUSDT']);
    const s = bus.stats();
    expect(s.published).toBe(4);
    expect(s.delivered).toBe(6);
  });

  it('one subscriber with several patterns sees them in one queue, in publish order', async () => {
    const bus = new EventBus({ runQueue });
    const order: string[] = [];
    bus.consume(['signal.*', 'order.update'], (m) => {
      order.push(m.type);
    });
    bus.publish('order.update', {
      type: 'OrderAccepted',
      ts: 1,
      clientOrderId: 'a',
      orderId: '1',
      symbol: 'BTCUSDT',
    });
    bus.publish('signal.vwap', signal('vwap', 2));
    bus.publish('order.update', {
      type: 'OrderCanceled',
      ts: 3,
      clientOrderId: 'a',
      orderId: '1',
      symbol: 'BTCUSDT',
      reason: 'x',
    });
    await bus.drain();
    expect(order).toEqual(['OrderAccepted', 'SignalEmitted', 'OrderCanceled']);
  });

  it('supports for-await subscriptions and ends them on close', async () => {
    const bus = new EventBus({ runQueue });
    const sub = bus.subscribe('signal.*');
    const got: string[] = [];
    const loop = (async () => {
      for await (const m of sub) got.push(m.signalId);
    })();
    bus.publish('signal.a', signal('a', 1));
    bus.publish('signal.b', signal('b', 2));
    bus.publish('order.update', { type: 'OrderAccepted', ts: 1, clientOrderId: 'a', orderId: '1', symbol: 'X' });
    await bus.drain();
    sub.close();
    await loop;
    expect(got).toEqual(['a:X:1:0', 'b:X:2:0']);
  });

  it('isolates a failing handler: the others and later messages still flow, errors are counted', async () => {
    const errors: string[] = [];
    const bus = new EventBus({ runQueue, onHandlerError: (name, err) => errors.push(`${name}:${(err as Error).message}`) });
    const good: number[] = [];
    const badSeen: number[] = [];
    bus.consume(
      'signal.*',
      (m) => {
        badSeen.push(m.ts);
        if (m.ts === 1) throw new Error('boom');
      },
      { name: 'bad' },
    );
    bus.consume(
      'signal.*',
      async (m) => {
        await Promise.resolve();
        if (m.ts === 2) throw new Error('async boom');
        good.push(m.ts);
      },
      { name: 'good' },
    );
    for (let i = 0; i < 4; i++) bus.publish('signal.s', signal('s', i));
    await bus.drain();
    expect(badSeen).toEqual([0, 1, 2, 3]);
    expect(good).toEqual([0, 1, 3]);
    expect(errors).toEqual(['bad:boom', 'good:async boom']);
    expect(bus.stats().handlerErrors).toBe(2);
  });

  it('drain waits for messages published by handlers (cascades)', async () => {
    const bus = new EventBus({ runQueue });
    const chain: string[] = [];
    bus.consume('market.kline.*', async (m) => {
      await new Promise((r) => setTimeout(r, 5));
      chain.push('kline');
      bus.publish('signal.s', signal('s', m.ts));
    });
    bus.consume('signal.*', async () => {
      await new Promise((r) => setTimeout(r, 5));
      chain.push('signal');
      bus.publish('order.update', { type: 'OrderAccepted', ts: 0, clientOrderId: 'c', orderId: '1', symbol: 'X' });
    });
    bus.consume('order.update', () => {
      chain.push('order');
    });
    bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', 0));
    await bus.drain();
    expect(chain).toEqual(['kline', 'signal', 'order']);
    expect(bus.idle).toBe(true);
  });

  it('conflates mark prices under backpressure (latest wins) and counts it; klines are never dropped', async () => {
    const bus = new EventBus({ runQueue });
    const sub = bus.subscribe(['market.*'], { capacity: 2 });
    bus.publish('market.markPrice.BTCUSDT', mark('BTCUSDT', '1', 1));
    bus.publish('market.markPrice.ETHUSDT', mark('ETHUSDT', '10', 1));
    // full now: newer BTC mark replaces the queued one
    expect(bus.publish('market.markPrice.BTCUSDT', mark('BTCUSDT', '2', 2))).toBeUndefined();
    expect(bus.publish('market.markPrice.BTCUSDT', mark('BTCUSDT', '3', 3))).toBeUndefined();
    // a kline on a full queue is kept and the publisher is told to wait
    const wait = bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', 0));
    expect(wait).toBeInstanceOf(Promise);
    let released = false;
    void wait!.then(() => {
      released = true;
    });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await sub.next();
      const m = r.value!;
      got.push(m.type === 'MarkPriceUpdated' ? `${m.symbol}=${m.markPrice}` : `kline ${m.kline.symbol}`);
    }
    await Promise.resolve();
    expect(got).toEqual(['BTCUSDT=3', 'ETHUSDT=10', 'kline BTCUSDT']);
    expect(released).toBe(true);
    expect(bus.stats().conflated).toBe(2);
    expect(bus.stats().subscribers[0]!.conflated).toBe(2);
    expect(bus.stats().backpressureWaits).toBe(1);
  });

  it('keeps order on a full lossless queue even when the publisher does not wait', async () => {
    const bus = new EventBus({ runQueue, capacity: 3 });
    const got: number[] = [];
    bus.consume('signal.*', (m) => {
      got.push(m.ts);
    });
    for (let i = 0; i < 50; i++) void bus.publish('signal.s', signal('s', i));
    await bus.drain();
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(bus.stats().subscribers[0]!.maxDepth).toBeGreaterThan(3);
  });

  it('rejects an empty pattern list', () => {
    expect(() => new EventBus({ runQueue }).subscribe([])).toThrow(/at least one pattern/);
  });
});

/**
 * A scenario with every kind of handler: cascades (a kline makes a signal, a signal an order
 * event), an async handler whose promise holds back its next message, work left to microtasks
 * (as the executor's lanes and the simulated venue do), a throwing handler. Returns the order in
 * which every handler ran.
 */
async function scenario(bus: EventBus, inline: boolean): Promise<string[]> {
  const log: string[] = [];
  const lane = (what: string, then: () => void): void => {
    void bus.track(
      Promise.resolve().then(() => {
        log.push(`lane:${what}`);
        then();
      }),
    );
  };
  for (const sym of ['BTCUSDT', 'ETHUSDT']) {
    bus.consume(
      `market.kline.${sym}`,
      (m) => {
        log.push(`strategy:${sym}:${m.kline.openTime}`);
        if (m.kline.openTime % 120_000 === 0) void bus.publish(`signal.${sym}`, signal(sym, m.kline.openTime));
      },
      { name: `strategy:${sym}`, inline: true },
    );
  }
  bus.consume(['market.kline.*', 'signal.*', 'order.update'], (m) => {
    log.push(`recorder:${m.type}:${m.ts}`);
  }, { name: 'recorder', inline: true });
  bus.consume('signal.*', async (m) => {
    log.push(`executor:${m.strategyId}:${m.ts}:start`);
    lane(`${m.strategyId}:${m.ts}`, () => {
      void bus.publish('order.update', { type: 'OrderDenied', ts: m.ts, intent: {} as never, check: 'x', reason: 'x' } as never);
    });
    // Published after the lane's microtask was queued: its subscribers run after the lane.
    void bus.publish('order.update', { type: 'OrderDenied', ts: m.ts + 1, intent: {} as never, check: 'x', reason: 'x' } as never);
    await Promise.resolve();
    log.push(`executor:${m.strategyId}:${m.ts}:end`);
  }, { name: 'executor' });
  bus.consume('order.update', (m) => {
    log.push(`trades:${m.ts}`);
    if (m.ts === 0) throw new Error('boom');
  }, { name: 'trades' });
  for (let t = 0; t < 5 * 60_000; t += 60_000) {
    const held = inline && bus.beginInline();
    void bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', t));
    void bus.publish('market.kline.ETHUSDT', kline('ETHUSDT', t));
    if (held) bus.endInline();
    await bus.drain();
  }
  return log;
}

describe('EventBus run-queue mode (replay)', () => {
  it('runs every handler in the order of the default mode, with and without inline minutes', async () => {
    const reference = await scenario(new EventBus(), false);
    expect(reference.length).toBeGreaterThan(40);
    expect(reference).toContain('lane:BTCUSDT:0');
    expect(await scenario(new EventBus({ runQueue: true }), false)).toEqual(reference);
    expect(await scenario(new EventBus({ runQueue: true }), true)).toEqual(reference);
  });

  it('endInline runs inline handlers at once and leaves the first other one (and the rest) to microtasks', () => {
    const bus = new EventBus({ runQueue: true });
    const log: string[] = [];
    bus.consume('market.kline.*', () => {
      log.push('strategy');
      void bus.publish('signal.s', signal('s', 1));
    }, { inline: true });
    bus.consume('signal.*', () => {
      log.push('executor');
    });
    bus.consume('signal.*', () => {
      log.push('recorder');
    }, { inline: true });
    expect(bus.beginInline()).toBe(true);
    expect(bus.beginInline()).toBe(false); // already holding
    void bus.publish('market.kline.BTCUSDT', kline('BTCUSDT', 0));
    expect(log).toEqual([]);
    bus.endInline();
    expect(log).toEqual(['strategy']); // the executor is not inline: it and the recorder wait
    expect(bus.idle).toBe(false);
    expect(bus.beginInline()).toBe(false); // not idle: no holding
    return bus.drain().then(() => expect(log).toEqual(['strategy', 'executor', 'recorder']));
  });

  it('a handler promise holds back that subscriber only; close ends the consumer once idle', async () => {
    const bus = new EventBus({ runQueue: true });
    const log: string[] = [];
    let release!: () => void;
    const slow = bus.consume('signal.*', (m) => {
      log.push(`slow:${m.ts}`);
      if (m.ts === 1) return new Promise<void>((r) => (release = r));
    });
    bus.consume('signal.*', (m) => {
      log.push(`fast:${m.ts}`);
    });
    void bus.publish('signal.s', signal('s', 1));
    void bus.publish('signal.s', signal('s', 2));
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['slow:1', 'fast:1', 'fast:2']);
    expect(bus.idle).toBe(false);
    release();
    await bus.drain();
    expect(log).toEqual(['slow:1', 'fast:1', 'fast:2', 'slow:2']);
    let finished = false;
    void slow.finished.then(() => (finished = true));
    slow.close();
    await Promise.resolve();
    expect(finished).toBe(true);
  });
});
