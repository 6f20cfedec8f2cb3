/**
 * Clock offset to Binance, measured against GET /fapi/v1/time
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time).
 *
 * Signed requests carry a timestamp that Binance rejects with -1021 when it is more than 1 s
 * ahead of the server or older than recvWindow, so perpbot measures `offset = exchange − local`
 * and stamps requests with `local + offset` (WallClock's `offsetMs`; the library's
 * `setTimeOffset`). Each sample assumes the server read its clock halfway through the round trip:
 * `offset = serverTime − (t0 + t1) / 2`. The median of N samples resists a slow round trip.
 * The fetcher and the local clock are injected, so the measurement is testable without network.
 */

/** One round trip. Times are UTC epoch ms. */
export interface ClockSample {
  /** Local time just before the request. */
  t0: number;
  /** Local time just after the answer. */
  t1: number;
  /** The server's `serverTime`. */
  serverTime: number;
  /** serverTime − (t0 + t1) / 2, ms. */
  offsetMs: number;
  /** t1 − t0, ms. */
  rttMs: number;
}

/** The measured offset. */
export interface ClockOffset {
  /** Median offset, exchange − local, ms (add to local time to get exchange time). */
  offsetMs: number;
  /** Median round-trip time, ms. */
  rttMs: number;
  /** Every sample, in order. */
  samples: ClockSample[];
}

/** Options of {@link measureClockOffset}. */
export interface ClockSyncOptions {
  /** Round trips to make, ≥ 1. Default 5. */
  samples?: number;
  /**
   * Samples with a round trip above this are discarded (their midpoint says little), unless that
   * would leave none. Default: keep all.
   */
  maxRttMs?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Measure the offset to Binance's clock: `samples` sequential round trips through `fetchServerTime`.
 *
 * @param fetchServerTime returns the server time, UTC epoch ms (e.g. GET /fapi/v1/time read with
 *   `mapServerTime`, or `USDMClient.getServerTime()`)
 * @param localNow the local clock, UTC epoch ms (e.g. `Date.now`, never an exchange-corrected clock)
 * @returns the median offset and round trip, rounded to whole ms, and the samples
 * @throws RangeError when `samples` < 1 or a time is not finite; whatever `fetchServerTime` throws
 */
export async function measureClockOffset(
  fetchServerTime: () => Promise<number>,
  localNow: () => number,
  opts: ClockSyncOptions = {},
): Promise<ClockOffset> {
  const n = opts.samples ?? 5;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`clock sync samples must be a positive integer, got ${n}`);
  const samples: ClockSample[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = localNow();
    const serverTime = await fetchServerTime();
    const t1 = localNow();
    if (![t0, t1, serverTime].every(Number.isFinite)) throw new RangeError(`clock sync: non-finite time (t0 ${t0}, t1 ${t1}, server ${serverTime})`);
    if (t1 < t0) throw new RangeError(`clock sync: local clock went backwards (${t0} → ${t1})`);
    samples.push({ t0, t1, serverTime, offsetMs: serverTime - (t0 + t1) / 2, rttMs: t1 - t0 });
  }
  const kept = opts.maxRttMs === undefined ? samples : samples.filter((s) => s.rttMs <= opts.maxRttMs!);
  const use = kept.length ? kept : samples;
  return {
    offsetMs: Math.round(median(use.map((s) => s.offsetMs))),
    rttMs: Math.round(median(use.map((s) => s.rttMs))),
    samples,
  };
}
