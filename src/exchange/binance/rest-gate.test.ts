/**
 * RestGate: every call waits for the shared 429/418 block and the weight budget, reserves its
 * weight, and records the block a 429/418 answer asks for. Injected clock and sleep: no timers.
 */
import { describe, expect, it } from 'vitest';
import { RestGate, StoppedError, klinePageLimit, klineWeight } from './rest-gate.ts';
import { RateLimitTracker } from './retry.ts';
import { VenueError } from './errors.ts';

function setup() {
  const clock = { t: 1_700_000_000_000, now() { return this.t; } };
  const limits = new RateLimitTracker(clock, { weightPerMinute: 100, safety: 1 });
  const sleeps: number[] = [];
  const controller = new AbortController();
  const gate = new RestGate({ getRateLimitStates: () => ({}) }, limits, {
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    signal: controller.signal,
  });
  return { clock, limits, gate, sleeps, controller };
}

const ban = (ms: number) => new VenueError('IP banned', { kind: 'ip_ban', binanceCode: -1003, httpStatus: 418, retryable: false, retryAfterMs: ms, action: 'halt' });
const tooMany = (ms: number) => new VenueError('too many requests', { kind: 'rate_limit', binanceCode: -1003, httpStatus: 429, retryable: true, retryAfterMs: ms, action: 'retry' });

describe('RestGate', () => {
  it('waits for the next minute window when the weight budget is spent', async () => {
    const t = setup();
    t.clock.t = Math.floor(t.clock.t / 60_000) * 60_000 + 10_000; // 10 s into a minute
    for (let i = 0; i < 10; i++) await t.gate.call(10, async () => 'ok');
    expect(t.sleeps).toEqual([]);
    await t.gate.call(10, async () => 'ok');
    expect(t.sleeps).toEqual([50_000]); // to the start of the next minute
  });

  it('a 418 blocks every later call until its Retry-After and is reported as a ban; a 429 blocks too', async () => {
    const t = setup();
    const limited: string[] = [];
    const gate = new RestGate({ getRateLimitStates: () => ({}) }, t.limits, { sleep: async (ms) => { t.sleeps.push(ms); t.clock.t += ms; }, onLimited: (e) => limited.push(e.kind) });
    await expect(gate.call(1, async () => { throw ban(120_000); })).rejects.toThrow('IP banned');
    expect(t.limits.bannedUntil()).toBe(t.clock.t + 120_000);
    expect(limited).toEqual(['ip_ban']);
    let sent = 0;
    await gate.call(1, async () => sent++);
    expect(t.sleeps).toEqual([120_000]);
    expect(sent).toBe(1);
    expect(t.limits.bannedUntil()).toBeNull();
    await expect(gate.call(1, async () => { throw tooMany(5_000); })).rejects.toThrow('too many');
    expect(t.limits.blockedMs()).toBe(5_000);
    expect(t.limits.bannedUntil()).toBeNull();
    expect(gate.stats).toEqual({ calls: 3, limited: 2 });
    // counted on the shared tracker, for the heartbeat (rest429/rest418) and perpbot_rest_rate_limited_total
    expect(t.limits.answered).toEqual({ rateLimited429: 1, banned418: 1 });
  });

  it('a stopped gate sends nothing', async () => {
    const t = setup();
    t.controller.abort();
    let sent = 0;
    await expect(t.gate.call(1, async () => sent++)).rejects.toBeInstanceOf(StoppedError);
    expect(sent).toBe(0);
  });

  it('kline weights follow Binance’s table and pages take the cheapest limit', () => {
    expect([1, 99, 100, 499, 500, 1000, 1001, 1500].map(klineWeight)).toEqual([1, 1, 2, 2, 5, 5, 10, 10]);
    expect(klinePageLimit(1)).toBe(1);
    expect(klinePageLimit(99)).toBe(99);
    expect(klinePageLimit(100)).toBe(499);
    expect(klinePageLimit(1440)).toBe(499);
  });
});
