/**
 * SimVenue tests on real BTCUSDT 1m klines copied verbatim from
 * data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv; expected values worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { ReplayClock } from '../../core/clock.ts';
import type { Kline, OrderIntent } from '../../core/types.ts';
import type { VenueEvent } from '../../../executor/venue.ts';
import { MatchingEngine } from './matching-engine.ts';
import { SimVenue } from './sim-venue.ts';

const ROWS = [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406',
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633',
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878',
];
const K: Kline[] = ROWS.map((row) => {
  const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
  const openTime = Number(t);
  return { symbol: 'BTCUSDT', interval: '1m', openTime, closeTime: openTime + 59_999, open, high, low, close, volume, closed: true };
});
const k = (i: number): Kline => K[i]!;

function intent(p: Partial<OrderIntent> & Pick<OrderIntent, 'side' | 'clientOrderId'>): OrderIntent {
  return { symbol: 'BTCUSDT', type: 'MARKET', quantity: '0.002', reduceOnly: false, strategyId: 'test', refPrice: '108167.0', createdAt: 0, ...p };
}

/** Replay the way the kernel does: clock to the close, venue sees the kline, then decisions. */
function setup() {
  const clock = new ReplayClock(k(0).openTime);
  const venue = new SimVenue({ clock, config: { slippageBps: '0' } });
  const events: VenueEvent[] = [];
  venue.onEvent((e) => events.push(e));
  const feed = (i: number) => {
    clock.set(k(i).closeTime + 1);
    return venue.onKline(k(i));
  };
  return { clock, venue, events, feed };
}

describe('SimVenue', () => {
  it('is named "sim" and wraps a MatchingEngine', () => {
    const { venue } = setup();
    expect(venue.name).toBe('sim');
    expect(venue.engine).toBeInstanceOf(MatchingEngine);
  });

  it('submit: delivers OrderAccepted synchronously, stamped with the clock, and resolves accepted', async () => {
    const { venue, events, feed } = setup();
    feed(0);
    const p = venue.submit(intent({ clientOrderId: 'a1', side: 'BUY' }));
    expect(events).toEqual([{ type: 'OrderAccepted', ts: k(0).closeTime + 1, clientOrderId: 'a1', orderId: '1000000000000000001', symbol: 'BTCUSDT' }]);
    await expect(p).resolves.toEqual({ accepted: true, orderId: '1000000000000000001' });
  });

  it('submit: resolves a rejection with the Binance code and delivers OrderRejected', async () => {
    const { venue, events } = setup();
    await expect(venue.submit(intent({ clientOrderId: 'r1', side: 'SELL', reduceOnly: true }))).resolves.toEqual({
      accepted: false,
      code: -2022,
      reason: 'ReduceOnly Order is rejected.',
    });
    expect(events).toMatchObject([{ type: 'OrderRejected', clientOrderId: 'r1', code: -2022 }]);
  });

  it('fills on the next kline, never on the one decided on, and delivers fill then position in order', async () => {
    const { venue, events, feed } = setup();
    feed(0);
    await venue.submit(intent({ clientOrderId: 'b1', side: 'BUY' }));
    events.length = 0;
    const out = feed(1);
    expect(out).toEqual(events);
    expect(events.map((e) => e.type)).toEqual(['OrderFilled', 'PositionChanged']);
    // 108166.9 × 0.002 × 0.0005 = 0.1081669
    expect(events[0]).toMatchObject({ fill: { price: '108166.9', quantity: '0.002', commission: '0.1081669', time: k(1).openTime } });
    await expect(venue.positions()).resolves.toEqual([
      { symbol: 'BTCUSDT', quantity: '0.002', entryPrice: '108166.9', realizedPnl: '0', fees: '0.1081669', updatedAt: k(1).openTime },
    ]);

    await venue.submit(intent({ clientOrderId: 'b2', side: 'SELL', reduceOnly: true }));
    feed(2);
    // (108167.0 − 108166.9) × 0.002 = 0.0002; fees 0.1081669 + 0.108167 = 0.2163339
    expect(venue.engine.balance()).toBe('9999.7838661'); // 10000 + 0.0002 − 0.2163339
  });

  it('onMarkPrice fills at the mark at or after the submit time', async () => {
    const { venue, events, clock } = setup();
    clock.set(1_751_760_070_000);
    await venue.submit(intent({ clientOrderId: 'm1', side: 'BUY' }));
    expect(venue.onMarkPrice('BTCUSDT', '108160.5', 1_751_760_069_999)).toEqual([]);
    venue.onMarkPrice('BTCUSDT', '108160.6', 1_751_760_071_000);
    expect(events.at(-2)).toMatchObject({ type: 'OrderFilled', fill: { price: '108160.6', time: 1_751_760_071_000 } });
  });

  it('cancel: delivers OrderCanceled when open, nothing when already gone', async () => {
    const { venue, events, feed } = setup();
    feed(0);
    await venue.submit(intent({ clientOrderId: 'c1', side: 'BUY', type: 'LIMIT', price: '100000.0', timeInForce: 'GTC' }));
    await venue.cancel('BTCUSDT', 'c1');
    await venue.cancel('BTCUSDT', 'c1');
    expect(events.map((e) => e.type)).toEqual(['OrderAccepted', 'OrderCanceled']);
    expect(events[1]).toMatchObject({ clientOrderId: 'c1', orderId: '1000000000000000001', ts: k(0).closeTime + 1 });
  });

  it('a throwing listener does not stop the others nor the events', async () => {
    const clock = new ReplayClock(0);
    const errors: unknown[] = [];
    const venue = new SimVenue({ clock, onListenerError: (err) => errors.push(err) });
    const seen: string[] = [];
    venue.onEvent(() => {
      throw new Error('boom');
    });
    venue.onEvent((e) => seen.push(e.type));
    await expect(venue.submit(intent({ clientOrderId: 'l1', side: 'BUY' }))).resolves.toMatchObject({ accepted: true });
    expect(seen).toEqual(['OrderAccepted']);
    expect(errors).toHaveLength(1);
  });
});
