/**
 * Binance USDⓈ-M market data for paper and live: `<symbol>@kline_1m` and mark prices every second,
 * either `<symbol>@markPrice@1s` per symbol or one `!markPrice@arr@1s` for all (see
 * {@link MarkPriceStreams}), over the `binance` library's WebsocketClient (the current
 * /market/stream URL scheme), mapped from RAW frames (never the library's beautified ones, which
 * turn prices into floats).
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
 * (kline/candlestick streams, mark price stream, mark price stream for all market, "A single
 * connection is only valid for 24 hours").
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Kline, MarkPriceUpdated, Symbol } from '../core/types.ts';
import type { SourceHealth } from '../health/heartbeat.ts';
import type { MarketDataSource, MarketFeed } from './source.ts';
import { backoffDelay } from '../exchange/binance/retry.ts';
import { KlineBackfill } from './kline-backfill.ts';

const MINUTE = 60_000;

/**
 * A REST kline counts as closed only once its close time is this far behind the (offset-corrected)
 * clock: the measured offset is only good to about half a round trip, and Binance returns the
 * still-forming kline as the last row. A kline held back by this margin arrives as the stream's
 * `x: true` frame instead.
 */
export const CLOSED_MARGIN_MS = 2_000;

/**
 * Streams per connection. Binance allows 1024 streams per connection and 10 incoming messages
 * per second per connection; the `binance` library sends at most 250 topics per SUBSCRIBE
 * message and warns above 200 topics per connection, so 200 streams (100 symbols) take one
 * SUBSCRIBE message per connection.
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams
 * ("A single connection can listen to a maximum of 1024 streams", "10 incoming messages per
 * second", "300 connections per attempt every 5 minutes per IP").
 */
export const DEFAULT_STREAMS_PER_CONNECTION = 200;

/**
 * How mark prices are subscribed:
 * - `perSymbol`: `<symbol>@markPrice@1s` for each symbol, a frame per symbol a second (2 streams
 *   per symbol with its klines);
 * - `allMarket`: one `!markPrice@arr@1s` on the first connection, a single frame a second with
 *   every symbol of the exchange (~560 entries, ~90 KB), of which only the source's are mapped
 *   (1 stream per symbol with its klines, plus this one).
 * Beyond a few dozen symbols one frame a second costs less than a frame per symbol: see
 * {@link ALL_MARKET_MARK_PRICES_FROM}.
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream-for-All-market
 */
export type MarkPriceStreams = 'perSymbol' | 'allMarket';

/** The all-market mark price stream (every symbol, every second). */
export const ALL_MARKET_MARK_PRICE_STREAM = '!markPrice@arr@1s';

/**
 * From this many symbols the live kernel subscribes mark prices through the all-market stream
 * (config `live.markPriceStreams: auto`). Measured on the 2-core dev VM: a per-symbol frame costs
 * the bot ~15 µs all in (socket read, the library, parsing, health), the all-market frame with
 * 560 entries ~0.7 ms, so the all-market frame is the cheaper from about 45 symbols on.
 */
export const ALL_MARKET_MARK_PRICES_FROM = 50;

/** Default reconnect back-off of a market connection: 0.5 s doubling to 30 s, full jitter. */
export const DEFAULT_RECONNECT = { baseMs: 500, maxMs: 30_000 } as const;

/** The part of the `binance` library's WebsocketClient this source uses. */
export interface MarketWsClient {
  on(event: 'message', listener: (data: unknown) => void): unknown;
  on(event: 'open' | 'reconnected' | 'reconnecting' | 'close', listener: (e: { wsKey?: string }) => void): unknown;
  on(event: 'exception', listener: (e: unknown) => void): unknown;
  subscribe(topics: string | string[], wsKey: string): Promise<unknown>;
  closeAll(force?: boolean): void;
  /**
   * The library's live options: `reconnectTimeout` (ms) is read each time it schedules a
   * reconnect (binance 3.6.5 BaseWSClient.reconnectWithDelay), so the source sets it before each
   * attempt to back off exponentially.
   */
  options?: { reconnectTimeout?: number };
}

/** Options of {@link BinanceMarketSource}. */
export interface BinanceMarketSourceOptions {
  symbols: Symbol[];
  /**
   * Builds a WebsocketClient (`beautify: false`, the lossless JSON parser) for connection
   * `shard` (0-based). Called at start once per connection and again each time one is replaced
   * (rotation, silence).
   */
  newClient: (shard: number) => MarketWsClient;
  /** The library's wsKey for market streams: `usdmMarket` or `usdmTestnetMarket`. */
  wsKey: string;
  /**
   * Closed klines of `symbol` with openTime in [fromOpenTime, toOpenTime], from REST, in order
   * (judge "closed" with {@link CLOSED_MARGIN_MS}). A rejection is retried with back-off until it
   * succeeds or the source stops: later klines of that symbol wait, so none is skipped; other
   * symbols go on.
   */
  fetchKlines: (symbol: Symbol, fromOpenTime: number, toOpenTime: number) => Promise<Kline[]>;
  /** Maps a raw kline frame (throws a DataError naming the field when malformed). */
  mapKline: (raw: unknown) => Kline;
  /** Maps a raw markPriceUpdate frame (one event: a per-symbol frame or an all-market entry). */
  mapMarkPrice: (raw: unknown) => MarkPriceUpdated;
  /** How mark prices are subscribed. Default `perSymbol`. */
  markPriceStreams?: MarkPriceStreams;
  /** Wall clock (corrected by the exchange offset), UTC epoch ms. */
  clock: Clock;
  /** A stream silent this long is stale and its connection replaced, ms. */
  silenceMs: number;
  /**
   * Connections are replaced after this long, ms (Binance closes them at 24 h); connection k
   * rotates k × 10 s later than the first (bounded by 10 % of this) so they do not all rotate at once.
   */
  rotateAfterMs: number;
  log: Logger;
  /** Waits between back-fill attempts (tests shorten it). Default: a timer that {@link BinanceMarketSource.stop} ends early. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Streams per connection, 2..1024: 2 per symbol with `perSymbol` mark prices, 1 per symbol
   * (and the all-market stream on the first connection) with `allMarket`. Default
   * {@link DEFAULT_STREAMS_PER_CONNECTION}.
   */
  streamsPerConnection?: number;
  /** Reconnect back-off of a connection, ms (tests shorten it). Default {@link DEFAULT_RECONNECT}. */
  reconnect?: { baseMs: number; maxMs: number };
  /** Back-fills in flight at once (each is paced further by the REST weight budget). Default 8. */
  backfillConcurrency?: number;
  /** Random source in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
  /** How often the watchdog looks at stream ages, ms. Default min(1000, silenceMs / 4). */
  watchdogMs?: number;
  /**
   * Called once, when every symbol has had its first closed kline fed after start-up, with the
   * back-fill before it (the warm-up is over: the kernel then collects its garbage).
   */
  onWarmedUp?: () => void;
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
  /** Websocket connections opened by the source (clients built: start, rotation, silence). */
  connections: number;
  /** Reconnect attempts the library made after a connection dropped. */
  reconnectAttempts: number;
}

/**
 * Topics of one symbol: its 1m klines, and its mark price stream unless mark prices come from
 * the all-market stream.
 */
export function topicsFor(symbol: Symbol, markPrices: MarkPriceStreams = 'perSymbol'): string[] {
  const s = symbol.toLowerCase();
  return markPrices === 'perSymbol' ? [`${s}@kline_1m`, `${s}@markPrice@1s`] : [`${s}@kline_1m`];
}

/** One websocket connection and the symbols whose streams it carries. */
interface Shard {
  index: number;
  symbols: Symbol[];
  client: MarketWsClient;
  /** Wall time the current connection opened (0: never yet). */
  connectedAt: number;
  open: boolean;
  /** Set while the connection is down: since when, failed attempts so far. */
  down: { since: number; attempts: number } | null;
  /** Consecutive replacements for silence without a frame in between (backs the next one off). */
  silentReplacements: number;
  /** No silence replacement before this wall time. */
  replaceNotBefore: number;
}

/** What a frame of one symbol updates (see BinanceMarketSource `streamsOf`). */
interface SymbolStreams {
  health: SourceHealth;
  /** The connection of the symbol's kline stream. */
  shard: Shard;
  /** The connection of its mark prices: `shard`, or the first one with the all-market stream. */
  markShard: Shard;
  /** Wall time of the last frame of the symbol's kline stream, ms (0: none since (re)connecting). */
  klineAt: number;
  /** Wall time of the last frame of its mark price stream, ms (0: none since (re)connecting). */
  markAt: number;
}

/** Market data from Binance's websockets, with REST back-fill. */
export class BinanceMarketSource implements MarketDataSource {
  readonly name: string;
  readonly symbols: readonly Symbol[];
  readonly stats: BinanceSourceStats = { frames: 0, malformed: 0, duplicates: 0, backfilled: 0, backfillFailures: 0, feedErrors: 0, reconnects: 0, staleStreams: 0, connections: 0, reconnectAttempts: 0 };
  private readonly state: Record<Symbol, SourceHealth> = {};
  /** Open time of the last closed kline fed, per symbol. */
  private readonly lastClosed = new Map<Symbol, number>();
  /**
   * Per symbol, what a frame updates, found with one lookup (frames come 1,500 a second at 300
   * symbols): its health, its shard, and the wall time of the last frame of each of its streams.
   */
  private readonly streamsOf = new Map<Symbol, SymbolStreams>();
  private readonly shards: Shard[] = [];
  private feed: MarketFeed | null = null;
  /** Feed calls are chained per symbol: a symbol's back-fill finishes before its newer klines go out; other symbols never wait. */
  private readonly chains = new Map<Symbol, Promise<void>>();
  /** REST back-fills (bounded concurrency, retried with back-off). */
  private readonly backfill: KlineBackfill;
  /** {@link deliver} bound, for the back-fill. */
  private readonly deliverOne = (k: Kline): Promise<void> => this.deliver(k);
  /** Symbols whose first closed kline after start-up has not been fed yet; null once none is left. */
  private warming: Set<Symbol> | null;
  private watchdog: NodeJS.Timeout | null = null;
  private stopped = false;
  private done: (() => void) | null = null;
  private readonly random: () => number;
  private readonly reconnect: { baseMs: number; maxMs: number };
  private readonly markPrices: MarkPriceStreams;

  /** @throws RangeError when `streamsPerConnection` is outside 2..1024 */
  constructor(private readonly o: BinanceMarketSourceOptions) {
    this.name = `binance:${o.wsKey}`;
    this.symbols = o.symbols;
    this.warming = o.symbols.length > 0 ? new Set(o.symbols) : null;
    this.random = o.random ?? Math.random;
    this.reconnect = o.reconnect ?? DEFAULT_RECONNECT;
    this.backfill = new KlineBackfill({ fetchKlines: o.fetchKlines, concurrency: o.backfillConcurrency ?? 8, stats: this.stats, log: o.log, random: this.random, ...(o.sleep ? { sleep: o.sleep } : {}) });
    const streams = o.streamsPerConnection ?? DEFAULT_STREAMS_PER_CONNECTION;
    if (!(Number.isInteger(streams) && streams >= 2 && streams <= 1024)) throw new RangeError(`streamsPerConnection must be an integer in 2..1024, got ${streams}`);
    this.markPrices = o.markPriceStreams ?? 'perSymbol';
    // With the all-market stream, each connection keeps one stream free for it (the first carries it).
    const perShard = this.markPrices === 'perSymbol' ? Math.floor(streams / 2) : streams - 1;
    for (const s of o.symbols) {
      this.state[s] = { state: 'connecting', lastMessageAt: null, ageMs: null, lastEventTime: null, messages: 0, errors: 0 };
    }
    for (let i = 0; i * perShard < o.symbols.length || (i === 0 && o.symbols.length === 0); i++) {
      const shard: Shard = { index: i, symbols: o.symbols.slice(i * perShard, (i + 1) * perShard), client: null as unknown as MarketWsClient, connectedAt: 0, open: false, down: null, silentReplacements: 0, replaceNotBefore: 0 };
      this.shards.push(shard);
      for (const s of shard.symbols) this.streamsOf.set(s, { health: this.state[s]!, shard, markShard: this.markPrices === 'perSymbol' ? shard : this.shards[0]!, klineAt: 0, markAt: 0 });
    }
  }

  /** Number of websocket connections the symbols are spread over. */
  get connectionCount(): number {
    return this.shards.length;
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
    for (const shard of this.shards) this.connect(shard);
    const every = this.o.watchdogMs ?? Math.min(1_000, Math.max(50, Math.floor(this.o.silenceMs / 4)));
    this.watchdog = setInterval(() => this.checkHealth(), every);
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
    for (const shard of this.shards) this.closeClient(shard.client);
    for (const h of Object.values(this.state)) h.state = 'disconnected';
    this.backfill.stop();
    void Promise.all([...this.chains.values()]).finally(() => this.done?.());
  }

  private closeClient(client: MarketWsClient | null): void {
    if (!client) return;
    try {
      client.closeAll(true);
    } catch (err) {
      this.o.log.debug({ err }, 'closing a market websocket failed (already closed)');
    }
  }

  /**
   * Append a step to `symbol`'s chain of feed calls. A step that throws is logged and counted,
   * never left as a rejected chain: the klines after it still go out and {@link stop} still resolves.
   */
  private enqueue(symbol: Symbol, step: () => Promise<void>): void {
    const next = (this.chains.get(symbol) ?? Promise.resolve()).then(step).catch((err: unknown) => {
      this.stats.feedErrors++;
      this.o.log.error({ err, symbol }, `feeding a closed kline failed: ${errorMessage(err)}`);
    });
    this.chains.set(symbol, next);
  }

  private setState(state: SourceHealth['state'], symbols: readonly Symbol[]): void {
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

  /**
   * Open shard's connection with a fresh client and subscribe its streams (one SUBSCRIBE
   * message), the all-market mark price stream included on the first.
   */
  private connect(shard: Shard): void {
    const client = this.o.newClient(shard.index);
    shard.client = client;
    shard.open = false;
    this.stats.connections++;
    if (client.options) client.options.reconnectTimeout = this.reconnect.baseMs;
    this.attach(shard, client);
    const topics = shard.symbols.flatMap((s) => topicsFor(s, this.markPrices));
    if (this.markPrices === 'allMarket' && shard.index === 0 && topics.length > 0) topics.push(ALL_MARKET_MARK_PRICE_STREAM);
    if (topics.length === 0) return;
    client.subscribe(topics, this.o.wsKey).catch((err: unknown) => {
      this.o.log.debug({ err, connection: shard.index }, `subscribing to market streams failed: ${errorMessage(err)}; the library retries on reconnect`);
    });
  }

  private attach(shard: Shard, client: MarketWsClient): void {
    const current = () => client === shard.client && !this.stopped;
    client.on('message', (data) => {
      if (current()) this.onFrame(data);
    });
    const up = (why: 'connected' | 'reconnected') => {
      if (!current()) return;
      if (why === 'reconnected') this.stats.reconnects++;
      shard.open = true;
      shard.connectedAt = Date.now();
      if (client.options) client.options.reconnectTimeout = this.reconnect.baseMs;
      if (shard.down) {
        this.o.log.info({ connection: shard.index, attempts: shard.down.attempts, downMs: Date.now() - shard.down.since }, 'market connection restored; back-filling what it missed');
        shard.down = null;
      }
      this.setState('connected', shard.symbols);
      this.resync(shard);
    };
    client.on('open', () => up('connected'));
    client.on('reconnected', () => up('reconnected'));
    client.on('reconnecting', () => {
      if (!current()) return;
      shard.open = false;
      this.stats.reconnectAttempts++;
      if (!shard.down) {
        shard.down = { since: Date.now(), attempts: 0 };
        this.o.log.warn({ connection: shard.index, symbols: shard.symbols.length, maxBackoffMs: this.reconnect.maxMs }, 'market connection lost; reconnecting with back-off (logged again once restored)');
      }
      shard.down.attempts++;
      // The library reads reconnectTimeout for its NEXT scheduled attempt: exponential, full jitter.
      if (client.options) client.options.reconnectTimeout = Math.max(this.reconnect.baseMs, backoffDelay(shard.down.attempts + 1, this.reconnect.baseMs, this.reconnect.maxMs, true, this.random));
      this.setState('connecting', shard.symbols);
    });
    client.on('exception', (e) => {
      if (!current()) return;
      // Frames the library cannot even parse arrive here, not as messages: count them too.
      const text = JSON.stringify(e) ?? '';
      if (/pars|JSON|Unexpected token/i.test(text)) {
        this.stats.malformed++;
        this.o.log.warn({ connection: shard.index }, 'market websocket: a frame could not be parsed (skipped)');
      } else if (shard.down) {
        this.o.log.debug({ err: e, connection: shard.index }, 'market websocket exception while reconnecting');
      } else {
        this.o.log.warn({ err: e, connection: shard.index }, 'market websocket exception');
      }
    });
  }

  /**
   * One frame: an event, or the all-market mark price frame, which the library hands over as an
   * array of events (every symbol of the exchange: only the source's are looked at).
   */
  private onFrame(message: unknown): void {
    this.stats.frames++;
    if (!Array.isArray(message)) {
      this.onEvent(message, false);
      return;
    }
    for (const event of message) this.onEvent(event, true);
  }

  /** One event of a frame; `ofAllMarket`: an entry of the all-market frame. */
  private onEvent(message: unknown, ofAllMarket: boolean): void {
    const frame = (message ?? {}) as { e?: unknown; s?: unknown; k?: { x?: unknown } };
    const e = frame.e;
    const symbol = frame.s;
    const st = typeof symbol === 'string' ? this.streamsOf.get(symbol) : undefined;
    // Another symbol's entry in the all-market frame: not ours, and not mapped.
    if (ofAllMarket && st === undefined && typeof symbol === 'string') return;
    if (st !== undefined) {
      const wall = Date.now();
      const h = st.health;
      h.messages++;
      h.lastMessageAt = wall;
      if (h.state === 'stale' || h.state === 'connecting') this.setState('connected', [symbol as string]);
      if (e === 'kline') {
        st.klineAt = wall;
        st.shard.silentReplacements = 0;
      } else if (e === 'markPriceUpdate') {
        st.markAt = wall;
        st.markShard.silentReplacements = 0;
      }
    }
    // Only closed klines are used: an update of the forming kline (x false; Binance sends one
    // every 250 ms per symbol, 4 of every 5 market frames) is counted above and mapped no further
    // (its frame's `k` holds only `x`: json.ts parseMarketFrame).
    if (e === 'kline' && frame.k?.x === false) return;
    // The library adds its own fields to every frame object; the mapper sees Binance's only.
    const { wsKey: _k, isWSAPIResponse: _w, ...data } = frame as Record<string, unknown>;
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
      if (st) st.health.errors++;
      this.o.log.warn({ stream: typeof symbol === 'string' ? symbol : 'unknown' }, `malformed market frame skipped: ${errorMessage(err)}`);
    }
  }

  /** Feed a closed kline after back-filling any minutes missing before it; drop one already fed. */
  private enqueueClosed(k: Kline): void {
    this.enqueue(k.symbol, async () => {
      const last = this.lastClosed.get(k.symbol);
      if (last !== undefined && k.openTime <= last) {
        this.stats.duplicates++;
        return;
      }
      if (last !== undefined && k.openTime > last + MINUTE) await this.backfill.run(k.symbol, last + MINUTE, k.openTime - MINUTE, this.deliverOne);
      if (this.stopped) return;
      await this.deliver(k);
      if (this.warming !== null && this.warming.delete(k.symbol) && this.warming.size === 0) {
        this.warming = null;
        this.o.onWarmedUp?.();
      }
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

  /** After a (re)connection: back-fill each symbol of the shard from its last closed kline to the last closed minute. */
  private resync(shard: Shard): void {
    const lastClosedMinute = Math.floor((this.o.clock.now() - CLOSED_MARGIN_MS) / MINUTE) * MINUTE - MINUTE;
    let queued = 0;
    for (const s of shard.symbols) {
      const last = this.lastClosed.get(s);
      if (last === undefined || last >= lastClosedMinute) continue;
      queued++;
      this.enqueue(s, async () => {
        // The chain may have fed newer klines meanwhile: start from where it is now.
        const now = this.lastClosed.get(s);
        if (now !== undefined && now < lastClosedMinute) await this.backfill.run(s, now + MINUTE, lastClosedMinute, this.deliverOne);
      });
    }
    this.o.log.debug({ connection: shard.index, queued }, 'market streams connected; back-fill queued');
  }

  /**
   * Every stream is watched on its own: a kline stream that stalls while the mark prices of the
   * same symbol keep flowing is as stale as a dead connection. A silent stream marks its symbol
   * stale and its connection silent: the kline stream's own, and for mark prices the
   * connection that carries them (with `allMarket`, the first, whatever connection the symbol's
   * klines are on). Only an OPEN connection is judged and replaced for silence (a closed one is
   * already reconnecting with back-off), and repeated replacements without a frame in between
   * back off too. Connections also rotate before 24 h.
   */
  private checkHealth(): void {
    if (this.stopped) return;
    const now = Date.now();
    let changed = false;
    const silentShards = new Set<Shard>();
    for (const shard of this.shards) {
      if (!shard.open) continue;
      for (const s of shard.symbols) {
        const st = this.streamsOf.get(s)!;
        const h = st.health;
        const klineSilent = now - Math.max(st.klineAt, shard.connectedAt) > this.o.silenceMs;
        const markSilent = st.markShard.open && now - Math.max(st.markAt, st.markShard.connectedAt) > this.o.silenceMs;
        if (!klineSilent && !markSilent) continue;
        if (klineSilent) silentShards.add(shard);
        if (markSilent) silentShards.add(st.markShard);
        if (h.state !== 'stale') {
          h.state = 'stale';
          this.stats.staleStreams++;
          changed = true;
        }
      }
    }
    for (const shard of this.shards) {
      if (!shard.open) continue;
      const silent = silentShards.has(shard);
      const rotateAt = shard.connectedAt + this.o.rotateAfterMs + Math.min(shard.index * 10_000, this.o.rotateAfterMs / 10);
      if (silent && now >= shard.replaceNotBefore) {
        shard.silentReplacements++;
        shard.replaceNotBefore = now + this.o.silenceMs + backoffDelay(shard.silentReplacements, this.reconnect.baseMs, this.reconnect.maxMs, true, this.random);
        this.replaceConnection(shard, 'silent', shard.silentReplacements === 1 ? 'warn' : 'debug');
      } else if (!silent && now >= rotateAt) {
        this.replaceConnection(shard, 'rotation', 'info');
      }
    }
    if (changed) this.feed?.healthChanged();
  }

  /** Close a shard's connection and open a new one with a fresh client, then resubscribe. */
  private replaceConnection(shard: Shard, why: 'silent' | 'rotation', level: 'warn' | 'info' | 'debug'): void {
    this.o.log[level]({ why, connection: shard.index, attempt: shard.silentReplacements || undefined }, 'replacing the market websocket connection');
    this.stats.reconnects++;
    const old = shard.client;
    shard.connectedAt = Date.now();
    for (const st of this.streamsOf.values()) {
      if (st.shard === shard) st.klineAt = 0;
      if (st.markShard === shard) st.markAt = 0;
    }
    this.closeClient(old);
    this.connect(shard);
  }
}
