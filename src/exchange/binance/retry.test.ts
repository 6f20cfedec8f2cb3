import { describe, expect, it } from 'vitest';
import { ReplayClock } from '../../core/clock.ts';
import { toVenueError, VenueError, type VenueErrorInit } from './errors.ts';
import { backoffDelay, RateLimitTracker, withRetries, type RetryInfo } from './retry.ts';

const venue = (init: Partial<VenueErrorInit> & Pick<VenueErrorInit, 'kind' | 'retryable'>): VenueError =>
  new VenueError(`test ${init.kind}`, { binanceCode: null, httpStatus: null, retryAfterMs: null, action: 'retry', ...init });

/** A fake sleep that records waits and never waits. */
function fakeSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

/** A call that fails with `errors` in turn, then returns "ok". */
function failing(errors: unknown[]): { fn: (attempt: number) => Promise<string>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    fn: async (attempt) => {
      calls.push(attempt);
      const e = errors.shift();
      if (e !== undefined) throw e;
      return 'ok';
    },
  };
}

describe('backoffDelay', () => {
  it('doubles from baseMs up to maxMs; full jitter scales by the draw', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 100, 1000, false, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, 100, 1000, true, () => 0.5)).toBe(200);
    expect(backoffDelay(3, 100, 1000, true, () => 0)).toBe(0);
    expect(backoffDelay(3, 100, 1000, true, () => 0.999)).toBe(400);
  });
});

describe('withRetries', () => {
  it('retries retryable errors with exponential backoff, then succeeds', async () => {
    const { sleep, waits } = fakeSleep();
    const seen: RetryInfo[] = [];
    const { fn, calls } = failing([venue({ kind: 'network', retryable: true }), venue({ kind: 'server', retryable: true }), venue({ kind: 'timeout', retryable: true })]);
    await expect(withRetries(fn, { baseMs: 100, maxMs: 1000, jitter: false, sleep, onRetry: (i) => seen.push(i) })).resolves.toBe('ok');
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(waits).toEqual([100, 200, 400]);
    expect(seen.map((s) => [s.attempt, s.delayMs, s.error.kind])).toEqual([
      [1, 100, 'network'],
      [2, 200, 'server'],
      [3, 400, 'timeout'],
    ]);
  });

  it('uses full jitter from the injected random source', async () => {
    const { sleep, waits } = fakeSleep();
    const draws = [0.25, 0.5, 0.75];
    const { fn } = failing([venue({ kind: 'server', retryable: true }), venue({ kind: 'server', retryable: true }), venue({ kind: 'server', retryable: true })]);
    await withRetries(fn, { baseMs: 1000, maxMs: 60_000, sleep, random: () => draws.shift()! });
    expect(waits).toEqual([250, 1000, 3000]);
  });

  it('gives up after `attempts` tries and rethrows the last error', async () => {
    const { sleep, waits } = fakeSleep();
    const errs = Array.from({ length: 6 }, (_, i) => venue({ kind: 'server', retryable: true, binanceCode: -1000 - i }));
    const { fn, calls } = failing([...errs]);
    await expect(withRetries(fn, { attempts: 5, jitter: false, baseMs: 10, sleep })).rejects.toBe(errs[4]);
    expect(calls).toEqual([1, 2, 3, 4, 5]);
    expect(waits).toHaveLength(4);
  });

  it('never retries business errors, unknown outcomes, IP bans or foreign errors', async () => {
    for (const e of [
      venue({ kind: 'business', retryable: false, binanceCode: -2019 }),
      venue({ kind: 'unknown_outcome', retryable: false }),
      venue({ kind: 'ip_ban', retryable: false }),
      new Error('boom'),
    ]) {
      const { sleep, waits } = fakeSleep();
      const { fn, calls } = failing([e]);
      await expect(withRetries(fn, { sleep })).rejects.toBe(e);
      expect(calls).toEqual([1]);
      expect(waits).toEqual([]);
    }
  });

  it('honours retryAfterMs when longer than the backoff, and refuses an absurd one', async () => {
    const { sleep, waits } = fakeSleep();
    const { fn } = failing([venue({ kind: 'rate_limit', retryable: true, retryAfterMs: 12_000 }), venue({ kind: 'rate_limit', retryable: true, retryAfterMs: 1 })]);
    await withRetries(fn, { baseMs: 100, jitter: false, sleep });
    expect(waits).toEqual([12_000, 200]);
    const ban = venue({ kind: 'rate_limit', retryable: true, retryAfterMs: 3_600_000 });
    await expect(withRetries(failing([ban]).fn, { sleep })).rejects.toBe(ban);
  });

  it('mapError turns raw library rejections into VenueErrors before deciding', async () => {
    const { sleep, waits } = fakeSleep();
    const raw = [{ code: 'ECONNRESET', message: 'socket hang up', request: {} }, { code: -2013, message: 'Order does not exist.', body: { code: -2013, msg: 'Order does not exist.' } }];
    const { fn, calls } = failing(raw);
    const err = await withRetries(fn, { sleep, jitter: false, baseMs: 100, mapError: (e) => toVenueError(e, { method: 'GET', path: '/fapi/v1/order' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VenueError);
    expect(err).toMatchObject({ kind: 'business', binanceCode: -2013 });
    expect(calls).toEqual([1, 2]);
    expect(waits).toEqual([100]);
  });

  it('retries a clock error once, after resyncing, and only with a resync', async () => {
    const { sleep, waits } = fakeSleep();
    let resyncs = 0;
    const resyncClock = async (): Promise<void> => void resyncs++;
    const clock1 = venue({ kind: 'clock', retryable: true, binanceCode: -1021, action: 'resync_clock' });
    const ok = failing([clock1]);
    await expect(withRetries(ok.fn, { sleep, resyncClock })).resolves.toBe('ok');
    expect([resyncs, ok.calls, waits]).toEqual([1, [1, 2], []]);

    const clock2 = venue({ kind: 'clock', retryable: true, binanceCode: -1021 });
    const twice = failing([clock1, clock2]);
    await expect(withRetries(twice.fn, { sleep, resyncClock })).rejects.toBe(clock2);
    expect(resyncs).toBe(2);

    const noResync = failing([clock1]);
    await expect(withRetries(noResync.fn, { sleep })).rejects.toBe(clock1);
    expect(noResync.calls).toEqual([1]);
  });
});

describe('RateLimitTracker', () => {
  it('lets requests through under the budget and waits for the minute to roll over it', () => {
    const clock = new ReplayClock(1_700_000_010_000); // 30 s into the minute that starts at 1_699_999_980_000
    const minuteStart = clock.now() - (clock.now() % 60_000);
    const t = new RateLimitTracker(clock, { safety: 0.9 }); // 2160 weight / min
    expect(t.waitMs(5)).toBe(0);
    t.update({ 'X-MBX-USED-WEIGHT-1M': '2150' });
    expect(t.waitMs(10)).toBe(0);
    expect(t.waitMs(11)).toBe(minuteStart + 60_000 - clock.now());
    clock.set(minuteStart + 60_000); // new window: counts reset
    expect(t.waitMs(11)).toBe(0);
    expect(t.snapshot().weight1m).toBe(0);
  });

  it('counts its own reservations before the answers arrive; headers never lower the count', () => {
    const clock = new ReplayClock(1_699_999_980_000); // a minute's start
    const t = new RateLimitTracker(clock, { weightPerMinute: 100, safety: 1 });
    for (let i = 0; i < 10; i++) t.reserve(10);
    expect(t.waitMs(1)).toBe(60_000);
    t.update({ 'x-mbx-used-weight-1m': '40' }); // an older answer: keep the larger
    expect(t.snapshot().weight1m).toBe(100);
    clock.set(1_699_999_980_000 + 59_000);
    expect(t.waitMs(1)).toBe(1_000);
  });

  it('enforces 300 orders per 10 s and 1200 per minute with the safety margin', () => {
    const clock = new ReplayClock(1_699_999_980_000);
    const t = new RateLimitTracker(clock, { safety: 0.5 }); // 150 / 10 s, 600 / min
    t.update({ 'x-mbx-order-count-10s': '150', 'x-mbx-order-count-1m': '150', 'x-mbx-used-weight-1m': '150' });
    expect(t.waitMs(1, 0)).toBe(0); // a query is not an order
    expect(t.waitMs(1, 1)).toBe(10_000);
    clock.set(1_699_999_980_000 + 10_000);
    expect(t.waitMs(1, 1)).toBe(0);
    t.update({ 'x-mbx-order-count-10s': '0', 'x-mbx-order-count-1m': '600' });
    expect(t.waitMs(1, 1)).toBe(50_000); // the minute budget binds now
    expect(t.snapshot()).toEqual({ weight1m: 150, orders10s: 0, orders1m: 600 });
  });

  it('ignores absent or malformed headers; refuses impossible requests and bad settings', () => {
    const clock = new ReplayClock(1_699_999_980_000);
    const t = new RateLimitTracker(clock);
    t.update(undefined);
    t.update({ 'x-mbx-used-weight-1m': 'lots', 'content-type': 'application/json' });
    expect(t.snapshot()).toEqual({ weight1m: 0, orders10s: 0, orders1m: 0 });
    t.update({ 'x-mbx-used-weight-1m': ['7'] });
    expect(t.snapshot().weight1m).toBe(7);
    expect(() => t.waitMs(2000)).toThrow(RangeError); // budget 1920 at the default 0.8
    expect(() => new RateLimitTracker(clock, { safety: 0 })).toThrow(RangeError);
    expect(() => new RateLimitTracker(clock, { safety: 1.5 })).toThrow(RangeError);
    expect(() => new RateLimitTracker(clock, { ordersPer10s: -1 })).toThrow(RangeError);
  });
});
