/**
 * Binance USDⓈ-M market data for paper and live: `<symbol>@kline_1m` and `<symbol>@markPrice@1s`
 * over the `binance` library's WebsocketClient (the current /market/stream URL scheme), mapped
 * from RAW frames (never the library's beautified ones, which turn prices into floats).
 *
 * What it guarantees the kernel:
 * - closed klines reach the feed once each, in time order per symbol, with no minute skipped:
 *   when a closed kline arrives after a gap (a reconnect, a missed frame), the missing minutes
 *   are first back-filled from REST (GET /fapi/v1/klines); a kline already fed is dropped;
 * - a stream silent for longer than `silenceMs` is marked stale and its connection replaced;
 *   after every (re)connection the minutes since the last closed kline are back-filled;
 * - connections are replaced before Binance's 24 h limit (`rotateAfterMs`);
 * - a malformed frame is counted on its stream and logged; it never stops the source.
 *
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
 * (kline/candlestick streams, mark price stream, "A single connection is only valid for 24 hours").
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Kline, MarkPriceUpdated, Symbol } from '../core/types.ts';
import type { SourceHealth } from '../health/heartbeat.ts';
import type { MarketDataSource, MarketFeed } from './source.ts';

const MINUTE = 60_000;

/**
 * A REST kline counts as closed only once its close time is this far behind the (offset-corrected)
 * clock: the measured offset is only good to about half a round trip, and Binance returns the
 * still-forming kline as the last row. A kline held back by this margin arrives as the stream's
 * `x: true` frame instead.
 */
export const CLOSED_MARGIN_MS = 2_000;

/** Back-off between attempts of a failed back-fill, ms: 1 s doubling to 30 s. */
const BACKFILL_RETRY_MS = { first: 1_000, max: 30_000 } as const;

/** The part of the `binance` library's WebsocketClient this source uses. */
export interface MarketWsClient {
  on(event: 'message', listener: (data: unknown) => void): unknown;
  on(event: 'open' | 'reconnected' | 'reconnecting' | 'close', listener: (e: { wsKey?: string }) => void): unknown;
  on(event: 'exception', listener: (e: unknown) => void): unknown;
  subscribe(topics: string | string[], wsKey: string): Promise<unknown>;
  closeAll(force?: boolean): void;
}

/** Options of {@link BinanceMarketSource}. */
export interface BinanceMarketSourceOptions {
  symbols: Symbol[];
  /**
   * Builds a WebsocketClient (`beautify: false`, the lossless JSON parser). Called at start and
   * again each time a connection is replaced (rotation, silence).
   */
  newClient: () => MarketWsClient;
  /** The library's wsKey for market streams: `usdmMarket` or `usdmTestnetMarket`. */
  wsKey: string;
  /**
   * Closed klines of `symbol` with openTime in [fromOpenTime, toOpenTime], from REST, in order
   * (judge "closed" with {@link CLOSED_MARGIN_MS}). A rejection is retried with back-off until it
   * succeeds or the source stops: later klines wait, so none is skipped.
   */
  fetchKlines: (symbol: Symbol, fromOpenTime: number, toOpenTime: number) => Promise<Kline[]>;
  /** Maps a raw kline frame (throws a DataError naming the field when malformed). */
  mapKline: (raw: unknown) => Kline;
  /** Maps a raw markPriceUpdate frame. */
  mapMarkPrice: (raw: unknown) => MarkPriceUpdated;
  /** Wall clock (corrected by the exchange offset), UTC epoch ms. */
  clock: Clock;
  /** A stream silent this long is stale and reconnected, ms. */
  silenceMs: number;
  /** Connections are replaced after this long, ms (Binance closes them at 24 h). */
  rotateAfterMs: number;
  log: Logger;
  /** Waits between back-fill attempts (tests shorten it). Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** Counters of the source. */
export interface BinanceSourceStats {
  frames: number;
  malformed: number;
  duplicates: number;
  backfilled: number;
  /** Back-fill requests that failed (each was retried). */
  backfillFailures: number;
  /** Feed calls that threw (logged; the next klines still go out). */
  feedErrors: number;
  reconnects: number;
  /** Times a symbol's streams were found silent past the limit. */
  staleStreams: number;
}

/** Topics of one symbol. */
export function topicsFor(symbol: Symbol): string[] {
  const s = symbol.toLowerCase();
  return [`${s}@kline_1m`, `${s}@markPrice@1s`];
}

/** Market data from Binance's websockets, with REST back-fill. */
export class BinanceMarketSource implements MarketDataSource {
  readonly name: string;
  readonly symbols: readonly Symbol[];
  readonly stats: BinanceSourceStats = { frames: 0, malformed: 0, duplicates: 0, backfilled: 0, backfillFailures: 0, feedErrors: 0, reconnects: 0, staleStreams: 0 };
  private readonly state: Record<Symbol, SourceHealth> = {};
  /** Open time of the last closed kline fed, per symbol. */
  private readonly lastClosed = new Map<Symbol, number>();
  /** Wall time of the last frame of each stream (`<symbol>@kline_1m`, `<symbol>@markPrice@1s`). */
  private readonly lastFrameAt = new Map<string, number>();
  private client: MarketWsClient;
  private feed: MarketFeed | null = null;
  /** Feed calls are chained so back-fills finish before newer klines go out. */
  private chain: Promise<void> = Promise.resolve();
  private watchdog: NodeJS.Timeout | null = null;
  private connectedAt = 0;
  private stopped = false;
  private done: (() => void) | null = null;

  constructor(private readonly o: BinanceMarketSourceOptions) {
    this.name = `binance:${o.wsKey}`;
    this.symbols = o.symbols;
    this.client = o.newClient();
    for (const s of o.symbols) {
      this.state[s] = { state: 'connecting', lastMessageAt: null, ageMs: null, lastEventTime: null, messages: 0, errors: 0 };
    }
  }

  health(): Record<Symbol, SourceHealth> {
    const now = Date.now();
    for (const h of Object.values(this.state)) h.ageMs = h.lastMessageAt === null ? null : now - h.lastMessageAt;
    return this.state;
  }

  /** Seed the last closed kline per symbol (from the database at start), so a restart back-fills from there. */
  resumeFrom(lastOpenTimes: Record<Symbol, number>): void {
    for (const [s, t] of Object.entries(lastOpenTimes)) this.lastClosed.set(s, t);
  }

  run(feed: MarketFeed): Promise<void> {
    this.feed = feed;
    this.attach(this.client);
    this.subscribe();
    this.watchdog = setInterval(() => this.checkHealth(), Math.min(1_000, Math.max(50, Math.floor(this.o.silenceMs / 4))));
    this.watchdog.unref?.();
    return new Promise<void>((resolve) => {
      this.done = resolve;
      if (this.stopped) resolve();
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    try {
      this.client.closeAll(true);
    } catch (err) {
      this.o.log.warn({ err }, 'closing market websockets failed');
    }
    for (const h of Object.values(this.state)) h.state = 'disconnected';
    void this.chain.finally(() => this.done?.());
  }

  /**
   * Append a step to the chain of feed calls. A step that throws is logged and counted, never
   * left as a rejected chain: the klines after it still go out and {@link stop} still resolves.
   */
  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => {
      this.stats.feedErrors++;
      this.o.log.error({ err }, `feeding a closed kline failed: ${errorMessage(err)}`);
    });
  }

  private setState(state: SourceHealth['state'], symbols: readonly Symbol[] = this.symbols): void {
    let changed = false;
    for (const s of symbols) {
      const h = this.state[s]!;
      if (h.state !== state) {
        h.state = state;
        changed = true;
      }
    }
    if (changed) this.feed?.healthChanged();
  }

  private attach(client: MarketWsClient): void {
    client.on('message', (data) => {
      if (client === this.client) this.onFrame(data);
    });
    client.on('open', () => {
      if (client !== this.client) return;
      this.connectedAt = Date.now();
      this.setState('connected');
      this.resync('connected');
    });
    client.on('reconnected', () => {
      if (client !== this.client) return;
      this.stats.reconnects++;
      this.connectedAt = Date.now();
      this.setState('connected');
      this.resync('reconnected');
    });
    client.on('reconnecting', () => {
      if (client === this.client) this.setState('connecting');
    });
    client.on('exception', (e) => {
      if (client !== this.client) return;
      // Frames the library cannot even parse arrive here, not as messages: count them too.
      const text = JSON.stringify(e) ?? '';
      if (/pars|JSON|Unexpected token/i.test(text)) this.stats.malformed++;
      this.o.log.warn({ err: e }, 'market websocket exception');
    });
  }

  private subscribe(): void {
    const topics = this.symbols.flatMap(topicsFor);
    this.client.subscribe(topics, this.o.wsKey).catch((err: unknown) => {
      this.o.log.warn({ err }, `subscribing to market streams failed: ${errorMessage(err)}; the library retries on reconnect`);
    });
  }

  private onFrame(message: unknown): void {
    this.stats.frames++;
    // The library adds its own fields to every frame object; the mapper sees Binance's only.
    const { wsKey: _k, isWSAPIResponse: _w, ...data } = (message ?? {}) as Record<string, unknown>;
    const e = (data as { e?: unknown } | null)?.e;
    const symbol = (data as { s?: unknown } | null)?.s;
    const h = typeof symbol === 'string' ? this.state[symbol] : undefined;
    const wall = Date.now();
    if (h) {
      h.messages++;
      h.lastMessageAt = wall;
      if (h.state === 'stale' || h.state === 'connecting') this.setState('connected', [symbol as string]);
    }
    if (typeof symbol === 'string' && (e === 'kline' || e === 'markPriceUpdate')) this.lastFrameAt.set(`${symbol}:${e}`, wall);
    try {
      if (e === 'kline') {
        const k = this.o.mapKline(data);
        if (!this.state[k.symbol]) return; // not ours
        if (k.closed) this.enqueueClosed(k);
      } else if (e === 'markPriceUpdate') {
        const m = this.o.mapMarkPrice(data);
        if (!this.state[m.symbol]) return;
        this.feed?.markPrice(m);
      }
    } catch (err) {
      this.stats.malformed++;
      if (h) h.errors++;
      this.o.log.warn({ stream: typeof symbol === 'string' ? symbol : 'unknown' }, `malformed market frame skipped: ${errorMessage(err)}`);
    }
  }

  /** Feed a closed kline after back-filling any minutes missing before it; drop one already fed. */
  private enqueueClosed(k: Kline): void {
    this.enqueue(async () => {
      const last = this.lastClosed.get(k.symbol);
      if (last !== undefined && k.openTime <= last) {
        this.stats.duplicates++;
        return;
      }
      if (last !== undefined && k.openTime > last + MINUTE) await this.backfill(k.symbol, last + MINUTE, k.openTime - MINUTE);
      if (this.stopped) return;
      await this.deliver(k);
    });
  }

  private async deliver(k: Kline): Promise<void> {
    const last = this.lastClosed.get(k.symbol);
    if (last !== undefined && k.openTime <= last) {
      this.stats.duplicates++;
      return;
    }
    this.lastClosed.set(k.symbol, k.openTime);
    this.state[k.symbol]!.lastEventTime = k.closeTime;
    await this.feed?.klines([k]);
  }

  /**
   * Fetch and feed the closed klines of `symbol` with openTime in [from, to]. A failed request is
   * retried with back-off until it succeeds or the source stops; meanwhile the klines behind it
   * in the chain wait, so a REST outage delays minutes (signals on them are then refused as
   * stale by the executor) but never skips one. Minutes the exchange itself does not return
   * (an exchange outage) are not asked again: the next kline follows them.
   */
  private async backfill(symbol: Symbol, from: number, to: number): Promise<void> {
    if (to < from) return;
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.()));
    for (let attempt = 0; !this.stopped; attempt++) {
      let ks: Kline[];
      try {
        ks = await this.o.fetchKlines(symbol, from, to);
      } catch (err) {
        this.stats.backfillFailures++;
        const wait = Math.min(BACKFILL_RETRY_MS.max, BACKFILL_RETRY_MS.first * 2 ** attempt);
        this.o.log.error({ symbol, from, to, attempt: attempt + 1, retryInMs: wait }, `kline back-fill failed: ${errorMessage(err)}; retrying (later klines wait)`);
        await sleep(wait);
        continue;
      }
      for (const k of ks) {
        if (k.closed && k.openTime >= from && k.openTime <= to) {
          this.stats.backfilled++;
          await this.deliver(k);
        }
      }
      return;
    }
  }

  /** After a (re)connection: back-fill every symbol from its last closed kline to the last closed minute. */
  private resync(why: string): void {
    const lastClosedMinute = Math.floor((this.o.clock.now() - CLOSED_MARGIN_MS) / MINUTE) * MINUTE - MINUTE;
    for (const s of this.symbols) {
      const last = this.lastClosed.get(s);
      if (last === undefined || last >= lastClosedMinute) continue;
      this.enqueue(() => this.backfill(s, last + MINUTE, lastClosedMinute));
    }
    this.o.log.info({ why }, 'market streams connected; back-fill queued');
  }

  /**
   * Every stream is watched on its own: a kline stream that stalls while the mark prices of the
   * same symbol keep flowing is as stale as a dead connection.
   */
  private checkHealth(): void {
    if (this.stopped) return;
    const now = Date.now();
    let silent = false;
    for (const s of this.symbols) {
      const h = this.state[s]!;
      const kline = this.lastFrameAt.get(`${s}:kline`) ?? this.connectedAt;
      const mark = this.lastFrameAt.get(`${s}:markPriceUpdate`) ?? this.connectedAt;
      const since = Math.min(kline, mark);
      if (since > 0 && now - since > this.o.silenceMs && h.state !== 'stale') {
        h.state = 'stale';
        this.stats.staleStreams++;
        silent = true;
      }
    }
    if (silent) {
      this.feed?.healthChanged();
      this.replaceConnection('silent');
    } else if (this.connectedAt > 0 && now - this.connectedAt > this.o.rotateAfterMs) {
      this.replaceConnection('rotation');
    }
  }

  /** Close the connection and open a new one with a fresh client, then resubscribe. */
  private replaceConnection(why: string): void {
    this.o.log.warn({ why }, 'replacing the market websocket connection');
    this.stats.reconnects++;
    const old = this.client;
    this.connectedAt = Date.now();
    try {
      old.closeAll(true);
    } catch {
      // already closed
    }
    this.lastFrameAt.clear();
    this.client = this.o.newClient();
    this.attach(this.client);
    this.subscribe();
  }
}
