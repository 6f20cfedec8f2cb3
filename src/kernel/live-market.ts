/**
 * The market data source of paper and live: Binance websockets with REST back-fill, built from
 * the connection settings. Split from live.ts.
 */
import { USDMClient, WebsocketClient } from 'binance';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Clock, WallClock } from '../core/clock.ts';
import type { Kline, Symbol } from '../core/types.ts';
import { ALL_MARKET_MARK_PRICES_FROM, BinanceMarketSource, CLOSED_MARGIN_MS, type MarkPriceStreams } from '../market/binance-source.ts';
import { buildWebsocketClientOptions, describeConnection, type BinanceConnectionSettings } from '../exchange/binance/client-options.ts';
import { mapKlineFrame, mapMarkPriceFrame, mapRestKlines } from '../exchange/binance/mapper.ts';
import { libraryLogger } from './live-setup.ts';
import { klinePageLimit, klineWeight, type RestGate } from '../exchange/binance/rest-gate.ts';
import { collectGarbage } from './heap.ts';

const MINUTE = 60_000;

/** Timings tests compress (defaults: the config's). */
export interface MarketTimings {
  /** Connection rotation, ms (default `live.rotateAfterMinutes`). */
  rotateAfterMs?: number;
  /** Websocket reconnect back-off, ms (default 500 → `live.reconnectMaxMs`). */
  reconnect?: { baseMs: number; maxMs: number };
  /** Waits of the back-fill retries and silent-connection replacements. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Build the market source for `symbols` from the settings (public data: no keys needed).
 * The back-fill pages through GET /fapi/v1/klines with the cheapest `limit` per kline
 * ({@link klinePageLimit}: up to 99 at weight 1, else 499 at weight 2), every request through
 * `gate` (the shared weight budget and 429/418 block).
 */
export function marketSource(settings: BinanceConnectionSettings, symbols: Symbol[], rest: USDMClient, clock: WallClock, config: Config, log: Logger, gate: RestGate, timings: MarketTimings = {}): BinanceMarketSource {
  const publicSettings: BinanceConnectionSettings = { ...settings, apiKey: undefined, apiSecret: undefined };
  delete publicSettings.apiKey;
  delete publicSettings.apiSecret;
  const network = describeConnection(settings).network;
  const libLog = libraryLogger(log);
  return new BinanceMarketSource({
    symbols,
    wsKey: network === 'testnet' ? 'usdmTestnetMarket' : 'usdmMarket',
    newClient: () => new WebsocketClient(buildWebsocketClientOptions(publicSettings, 'market'), libLog) as never,
    fetchKlines: restKlineFetcher(rest, gate, clock),
    mapKline: mapKlineFrame,
    mapMarkPrice: mapMarkPriceFrame,
    clock,
    silenceMs: config.live.streamSilenceMs,
    rotateAfterMs: timings.rotateAfterMs ?? config.live.rotateAfterMinutes * MINUTE,
    reconnect: timings.reconnect ?? { baseMs: 500, maxMs: config.live.reconnectMaxMs },
    streamsPerConnection: config.live.streamsPerConnection,
    markPriceStreams: markPriceStreamsFor(config.live.markPriceStreams, symbols.length),
    ...(timings.sleep ? { sleep: timings.sleep } : {}),
    log: log.child({ component: 'market' }),
    // The warm-up (back-fill of every symbol) is over: give its garbage back (./heap.ts), a
    // second later so that what its last klines caused is handled first.
    onWarmedUp: () => {
      log.info({ symbols: symbols.length }, 'warm-up done: every symbol back-filled and streaming');
      setTimeout(() => void collectGarbage(log, 'the warm-up'), 1_000).unref();
    },
  });
}

/**
 * The mark price subscription for `symbols` symbols: the configured one, or with `auto` the
 * all-market stream from {@link ALL_MARKET_MARK_PRICES_FROM} symbols on (one frame a second
 * instead of one per symbol).
 */
export function markPriceStreamsFor(setting: Config['live']['markPriceStreams'], symbols: number): MarkPriceStreams {
  if (setting !== 'auto') return setting;
  return symbols >= ALL_MARKET_MARK_PRICES_FROM ? 'allMarket' : 'perSymbol';
}

/**
 * The market source's back-fill: closed 1m klines of `symbol` with open time in [from, to] (UTC
 * epoch ms), paged through GET /fapi/v1/klines with the cheapest `limit` per kline
 * ({@link klinePageLimit}), every request through `gate`.
 *
 * "Closed": a kline whose close time is before the clock minus {@link CLOSED_MARGIN_MS}, and
 * every kline up to `to` whatever the clock says, because the callers only ask up to a minute
 * they know closed (the minute before a kline the stream reported closed, or the last closed
 * minute by this clock at a reconnection). A clock a little behind the exchange's would otherwise
 * drop the minute where a back-fill meets the stream, and that minute would never be asked again.
 * @throws what the REST call throws (the source retries with back-off); a DataError naming the
 *   field of a malformed row
 */
export function restKlineFetcher(rest: Pick<USDMClient, 'getKlines'>, gate: Pick<RestGate, 'call'>, clock: Clock): (symbol: Symbol, from: number, to: number) => Promise<Kline[]> {
  return async (symbol, from, to) => {
    const out: Kline[] = [];
    const closedBefore = () => Math.max(clock.now() - CLOSED_MARGIN_MS, to + MINUTE);
    for (let start = from; start <= to; ) {
      const limit = klinePageLimit(Math.floor((to - start) / MINUTE) + 1);
      const raw = await gate.call(klineWeight(limit), () => rest.getKlines({ symbol, interval: '1m', startTime: start, endTime: to + MINUTE - 1, limit }));
      const page = mapRestKlines(raw, symbol, { now: closedBefore() }).filter((k) => k.closed);
      if (page.length === 0) break;
      out.push(...page);
      start = page[page.length - 1]!.openTime + MINUTE;
      if (Array.isArray(raw) && raw.length < limit) break; // the exchange has nothing more up to `to`
    }
    return out;
  };
}

/** The market source's counters for the heartbeat (`market*`). */
export function marketCounters(source: BinanceMarketSource): Record<string, number> {
  const st = source.stats;
  return {
    marketFrames: st.frames,
    marketMalformedFrames: st.malformed,
    marketDuplicates: st.duplicates,
    marketBackfilled: st.backfilled,
    marketBackfillFailures: st.backfillFailures,
    marketFeedErrors: st.feedErrors,
    marketReconnects: st.reconnects,
    marketStaleStreams: st.staleStreams,
    marketConnections: st.connections,
    marketReconnectAttempts: st.reconnectAttempts,
  };
}

/**
 * Where the start-up back-fill begins: the start of the current UTC session (the VWAP anchor) or
 * `warmupMinutes` before now, whichever is earlier; aligned to the minute.
 * @returns the open time of the first kline to back-fill, UTC epoch ms
 */
export function warmupStart(now: number, warmupMinutes: number): number {
  const sessionStart = Math.floor(now / 86_400_000) * 86_400_000;
  return Math.floor(Math.min(sessionStart, now - warmupMinutes * MINUTE) / MINUTE) * MINUTE;
}
