/**
 * The market source's REST back-fill (restKlineFetcher) against the simulator on 127.0.0.1, with
 * the real `binance` library: the minute where a back-fill meets the stream is kept even when the
 * bot's clock runs behind the exchange's (that minute is never asked again).
 */
import { USDMClient } from 'binance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { RestGate } from '../exchange/binance/rest-gate.ts';
import { RateLimitTracker } from '../exchange/binance/retry.ts';
import { startSimulator, type Simulator } from '../exchange/simulator/server.ts';
import { markPriceStreamsFor, restKlineFetcher } from './live-market.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const MINUTE = 60_000;

describe('restKlineFetcher (the back-fill of live and paper)', () => {
  let sim: Simulator;
  let rest: USDMClient;
  beforeAll(async () => {
    sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 150 });
    rest = new USDMClient({ baseUrl: sim.url }, { proxy: false });
  });
  afterAll(async () => {
    await sim.close();
  });

  const fetcherAt = (now: () => number) => {
    const clock = { now };
    return { fetch: restKlineFetcher(rest, new RestGate(rest, new RateLimitTracker(clock)), clock), clock };
  };
  /** Open time of the newest closed kline the simulator serves. */
  const lastClosedOpen = () => Math.floor(sim.state().dataTime / MINUTE) * MINUTE - MINUTE;

  it('returns every closed kline of [from, to] in order, over pages of 99 and 499 (150 klines)', async () => {
    const to = lastClosedOpen();
    const from = to - 149 * MINUTE;
    const { fetch } = fetcherAt(() => sim.state().dataTime);
    const ks = await fetch('BTCUSDT', from, to);
    expect(ks).toHaveLength(150);
    expect(ks[0]!.openTime).toBe(from);
    expect(ks.at(-1)!.openTime).toBe(to);
    expect(ks.every((k, i) => k.closed && k.symbol === 'BTCUSDT' && (i === 0 || k.openTime === ks[i - 1]!.openTime + MINUTE))).toBe(true);
  });

  it('keeps the kline at `to` when the bot\'s clock is behind the exchange\'s (it would judge it still open)', async () => {
    const to = lastClosedOpen();
    // 30 s behind: by this clock the kline at `to` closes in the future
    const { fetch } = fetcherAt(() => to + MINUTE - 30_000);
    const ks = await fetch('BTCUSDT', to - 4 * MINUTE, to);
    expect(ks.map((k) => k.openTime)).toEqual([0, 1, 2, 3, 4].map((i) => to - (4 - i) * MINUTE));
  });
});

describe('markPriceStreamsFor (live.markPriceStreams)', () => {
  it('auto takes the all-market stream from 50 symbols on; an explicit setting is kept whatever the count', () => {
    expect(markPriceStreamsFor('auto', 1)).toBe('perSymbol');
    expect(markPriceStreamsFor('auto', 49)).toBe('perSymbol');
    expect(markPriceStreamsFor('auto', 50)).toBe('allMarket');
    expect(markPriceStreamsFor('auto', 500)).toBe('allMarket');
    expect(markPriceStreamsFor('perSymbol', 500)).toBe('perSymbol');
    expect(markPriceStreamsFor('allMarket', 1)).toBe('allMarket');
  });
});
