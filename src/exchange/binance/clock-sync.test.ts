import { describe, expect, it } from 'vitest';
import { measureClockOffset } from './clock-sync.ts';
import { mapServerTime } from './mapper.ts';

/**
 * A scripted exchange: each round trip has a local send time, a duration and the server's clock
 * reading. `localNow` returns the scripted local times in order (t0, t1, t0, t1, …).
 */
function script(trips: { t0: number; rtt: number; server: number }[]): { fetch: () => Promise<number>; now: () => number } {
  const locals = trips.flatMap((t) => [t.t0, t.t0 + t.rtt]);
  const servers = trips.map((t) => t.server);
  return {
    now: () => {
      const v = locals.shift();
      if (v === undefined) throw new Error('no more local times');
      return v;
    },
    fetch: async () => {
      const v = servers.shift();
      if (v === undefined) throw new Error('no more server times');
      return v;
    },
  };
}

describe('measureClockOffset', () => {
  it('offset = serverTime − (t0 + t1) / 2 for one sample', async () => {
    // Server time from the recorded GET /fapi/v1/time answer (fixtures/rest-time.json).
    const serverTime = mapServerTime('{"serverTime":1727892008657}');
    const { fetch, now } = script([{ t0: 1727892008000, rtt: 40, server: serverTime }]);
    const r = await measureClockOffset(fetch, now, { samples: 1 });
    expect(r.offsetMs).toBe(1727892008657 - 1727892008020);
    expect(r.rttMs).toBe(40);
    expect(r.samples).toEqual([{ t0: 1727892008000, t1: 1727892008040, serverTime: 1727892008657, offsetMs: 637, rttMs: 40 }]);
  });

  it('takes the median, so one slow round trip does not skew it', async () => {
    // Local clock 250 ms behind the server; one trip's answer was delayed on the way back.
    const trips = [
      { t0: 1_000, rtt: 20, server: 1_260 }, // +250
      { t0: 2_000, rtt: 20, server: 2_260 }, // +250
      { t0: 3_000, rtt: 900, server: 3_260 }, // server read early in a slow trip: −190
      { t0: 4_000, rtt: 30, server: 4_266 }, // +251
      { t0: 5_000, rtt: 20, server: 5_258 }, // +248
    ];
    const { fetch, now } = script(trips);
    const r = await measureClockOffset(fetch, now);
    expect(r.samples.map((s) => s.offsetMs)).toEqual([250, 250, -190, 251, 248]);
    expect(r.offsetMs).toBe(250);
    expect(r.rttMs).toBe(20);
  });

  it('averages the middle pair for an even count; can drop slow samples', async () => {
    const trips = [
      { t0: 0, rtt: 10, server: 105 }, // +100
      { t0: 100, rtt: 10, server: 209 }, // +104
      { t0: 200, rtt: 2_000, server: 1_300 }, // +100 but slow
      { t0: 3_000, rtt: 10, server: 3_107 }, // +102
    ];
    const r = await measureClockOffset(script(trips).fetch, script(trips).now, { samples: 4 });
    expect(r.offsetMs).toBe(101); // median of 100, 100, 102, 104
    const s = script(trips);
    const fast = await measureClockOffset(s.fetch, s.now, { samples: 4, maxRttMs: 100 });
    expect(fast.offsetMs).toBe(102); // median of 100, 102, 104
    expect(fast.samples).toHaveLength(4);
  });

  it('refuses bad settings and backwards clocks; passes fetch errors on', async () => {
    await expect(measureClockOffset(async () => 1, () => 0, { samples: 0 })).rejects.toThrow(RangeError);
    const back = script([{ t0: 100, rtt: -5, server: 1 }]);
    await expect(measureClockOffset(back.fetch, back.now, { samples: 1 })).rejects.toThrow('local clock went backwards');
    const boom = new Error('network down');
    await expect(measureClockOffset(async () => Promise.reject(boom), () => 0, { samples: 1 })).rejects.toBe(boom);
  });
});
