/**
 * Paper and live modes: the same kernel, strategies and executor as replay, with Binance's
 * market data (websockets, REST back-fill) and the wall clock corrected by the measured offset
 * to the exchange.
 *
 * - paper: mainnet (or the configured env's) public market data, the simulated venue; no keys.
 * - live: the Binance venue with keys from BINANCE_API_KEY / BINANCE_API_SECRET, the user-data
 *   stream (REST polling while it is down), account set-up (one-way mode checked; leverage and
 *   margin type per symbol, idempotently) and reconciliation with the database at start: until
 *   it succeeds, trading stays HALTED (fail-closed) unless `live.forceWithoutReconcile`.
 *
 * When Binance cannot be reached the bot says so, keeps retrying with backoff, and the heartbeat
 * shows `degraded` (sources `connecting`/`stale`).
 */
import { USDMClient, WebsocketClient } from 'binance';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { WallClock } from '../core/clock.ts';
import { ConfigError, errorMessage } from '../core/errors.ts';
import type { Kline, Mode, Symbol } from '../core/types.ts';
import { scrub } from '../logging/logger.ts';
import { BinanceMarketSource, CLOSED_MARGIN_MS } from '../market/binance-source.ts';
import { buildUsdmClientOptions, buildWebsocketClientOptions, describeConnection, type BinanceConnectionSettings } from '../exchange/binance/client-options.ts';
import { measureClockOffset } from '../exchange/binance/clock-sync.ts';
import { mapBalances, mapKlineFrame, mapMarkPriceFrame, mapRestKlines, mapServerTime } from '../exchange/binance/mapper.ts';
import { parseExchangeInfo, type ExchangeRules } from '../../executor/exchange-info.ts';
import { formatReconciliation, reconcile, reconciliationEvents, type ExchangeOrder, type ExchangeState, type LocalState } from '../../executor/reconcile.ts';
import { isStopId, planStartupStops, type ProtectiveStops, type StartupStopPlan } from '../../executor/protective-stops.ts';
import { stopLevelsOf } from '../../database/stop-levels.ts';
import { openOrders, positionsForRun, recentTradingStateChanges, riskDayOf, tradeIdsOfOrder } from '../../database/queries.ts';
import type { Db } from '../../database/client.ts';
import type { OrderRow } from '../../database/schema.ts';
import { BinanceVenue, type UsdmRestPort } from '../exchange/binance/venue.ts';
import type { VenueOrder } from '../exchange/binance/mapper.ts';
import { toVenueError } from '../exchange/binance/errors.ts';
import { RateLimitTracker, backoffDelay } from '../exchange/binance/retry.ts';
import { Kernel, simulatedVenue } from './kernel.ts';
import { Decimal } from '../core/decimal.ts';

const MINUTE = 60_000;

/** The `binance` library's logger interface, routed to pino at low levels (it is chatty). */
export function libraryLogger(log: Logger): { trace: (...a: unknown[]) => void; info: (...a: unknown[]) => void; error: (...a: unknown[]) => void } {
  const text = (a: unknown[]) => scrub(a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ').slice(0, 500));
  return {
    trace: () => {},
    info: (...a) => log.debug({ component: 'binance-lib' }, text(a)),
    error: (...a) => log.warn({ component: 'binance-lib' }, text(a)),
  };
}

/**
 * Connection settings from the config and the environment. Keys only from the environment, and
 * only for live mode: paper never sends them anywhere.
 * @throws ConfigError for live without keys, mainnet without the opt-in, half-given overrides
 */
export function connectionSettings(config: Config, mode: Mode, env: Record<string, string | undefined> = process.env): BinanceConnectionSettings {
  const b = config.binance;
  const s: BinanceConnectionSettings = { env: b.env, allowMainnet: b.allowMainnet, recvWindowMs: b.recvWindowMs };
  if (b.baseUrl || b.wsUrl) {
    s.baseUrl = b.baseUrl || undefined;
    s.wsUrl = b.wsUrl || undefined;
  }
  if (mode === 'live') {
    const key = env.BINANCE_API_KEY ?? '';
    const secret = env.BINANCE_API_SECRET ?? '';
    if (!key || !secret) throw new ConfigError(['live mode needs the environment variables BINANCE_API_KEY and BINANCE_API_SECRET (both set, non-empty)']);
    s.apiKey = key;
    s.apiSecret = secret;
  } else if (mode === 'paper' && !b.baseUrl && b.env === 'testnet' && env.BINANCE_ENV === undefined) {
    // Paper trades nothing: it reads mainnet's public market data unless told otherwise.
    s.env = 'mainnet';
    s.allowMainnet = true;
  }
  describeConnection(s); // validates
  return s;
}

/** A retry loop for start-up calls: logs each failure clearly and retries with backoff, forever unless stopped. */
async function untilItWorks<T>(what: string, fn: () => Promise<T>, log: Logger, stopped: () => boolean, onFail?: (msg: string) => void): Promise<T | undefined> {
  for (let n = 1; !stopped(); n++) {
    try {
      return await fn();
    } catch (err) {
      const msg = `${what} failed (attempt ${n}): ${scrub(errorMessage(err))}`;
      log.warn({ attempt: n }, `${msg}; retrying`);
      onFail?.(msg);
      await new Promise((r) => setTimeout(r, backoffDelay(n, 1_000, 60_000, true, Math.random)).unref?.());
    }
  }
  return undefined;
}

/** GET /fapi/v1/time through the library (which answers with the bare number), UTC epoch ms. */
export async function serverTime(rest: USDMClient): Promise<number> {
  const t: unknown = await rest.getServerTime();
  return typeof t === 'number' ? t : mapServerTime(t);
}

/** What `startPaper` returns. */
export interface RunningBot {
  kernel: Kernel;
  /** Resolves when the bot stopped (signal or fatal error). */
  done: Promise<void>;
  /** Stop: market data first, then flush and close everything. */
  stop(): Promise<void>;
}

/** The run id of an account: one run per mode, network and venue, resumed across restarts. */
export function accountRunId(mode: Mode, settings: BinanceConnectionSettings): string {
  const ep = describeConnection(settings);
  return ep.network === 'custom' ? `${mode}-custom-${new URL(ep.restBaseUrl).host.replace(/[^a-z0-9.-]/gi, '_')}` : `${mode}-${ep.network}`;
}

/**
 * Build the market source for `symbols` from the settings (public data: no keys needed).
 * Back-fill pages through GET /fapi/v1/klines, 1,500 klines a request.
 */
export function marketSource(settings: BinanceConnectionSettings, symbols: Symbol[], rest: USDMClient, clock: WallClock, config: Config, log: Logger): BinanceMarketSource {
  const publicSettings: BinanceConnectionSettings = { ...settings, apiKey: undefined, apiSecret: undefined };
  delete publicSettings.apiKey;
  delete publicSettings.apiSecret;
  const network = describeConnection(settings).network;
  return new BinanceMarketSource({
    symbols,
    wsKey: network === 'testnet' ? 'usdmTestnetMarket' : 'usdmMarket',
    newClient: () => new WebsocketClient(buildWebsocketClientOptions(publicSettings), libraryLogger(log)) as never,
    fetchKlines: async (symbol, from, to) => {
      const out: Kline[] = [];
      for (let start = from; start <= to; ) {
        const raw = await rest.getKlines({ symbol, interval: '1m', startTime: start, endTime: to + MINUTE - 1, limit: 1500 });
        const page = mapRestKlines(raw, symbol, { now: clock.now() - CLOSED_MARGIN_MS }).filter((k) => k.closed);
        if (page.length === 0) break;
        out.push(...page);
        start = page[page.length - 1]!.openTime + MINUTE;
      }
      return out;
    },
    mapKline: mapKlineFrame,
    mapMarkPrice: mapMarkPriceFrame,
    clock,
    silenceMs: config.live.streamSilenceMs,
    rotateAfterMs: config.live.rotateAfterMinutes * MINUTE,
    log: log.child({ component: 'market' }),
  });
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
  };
}

/** Why trading is HALTED while live start-up runs; only this halt is lifted when it is done. */
export const STARTING_REASON = 'starting: waiting for the exchange (clock, filters, account set-up, reconciliation)';

/** Suffix of the reason of an automatic halt carried over a restart. */
const HELD_SUFFIX = ' (held across a restart)';

/**
 * The automatic halt (consecutive losses → REDUCING) recorded before a restart that still holds:
 * its cooldown (`haltCooldownMinutes` from when it was first set, however many restarts ago;
 * 0 = until an operator resumes) has not run out. HALTED states are start-up's or failures a
 * restart is meant to clear (database, IP ban, reconciliation, which runs again): they are
 * skipped over and not carried.
 * @param changes the run's recorded trading-state changes, newest first
 * @returns the reason and when it lifts (UTC epoch ms; absent = never by itself), or null
 */
export function restoredHalt(changes: ReadonlyArray<{ ts: number; state: string; reason: string }>, now: number, haltCooldownMinutes: number): { reason: string; resumeAt?: number } | null {
  let origin: { ts: number; reason: string } | null = null;
  for (const c of changes) {
    if (c.state === 'HALTED') continue;
    if (c.state !== 'REDUCING' || !/losing round trips in a row/.test(c.reason)) break;
    origin = { ts: c.ts, reason: c.reason.endsWith(HELD_SUFFIX) ? c.reason.slice(0, -HELD_SUFFIX.length) : c.reason };
    if (!c.reason.endsWith(HELD_SUFFIX)) break; // the halt itself, not a carry-over of it
  }
  if (!origin) return null;
  if (haltCooldownMinutes <= 0) return { reason: origin.reason };
  const resumeAt = origin.ts + haltCooldownMinutes * MINUTE;
  return resumeAt > now ? { reason: origin.reason, resumeAt } : null;
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

/**
 * Start paper trading: Binance market data, the simulated venue on the wall clock (market orders
 * fill at the next mark price after they are placed, with the configured fees and slippage).
 * Never needs keys. Filters come from the exchange when reachable, else from the bundled file.
 */
export async function startPaper(config: Config, log: Logger, fileRules: ExchangeRules, symbols: Symbol[]): Promise<RunningBot> {
  const settings = connectionSettings(config, 'paper');
  const { restOptions, requestOptions } = buildUsdmClientOptions(settings);
  const rest = new USDMClient(restOptions, requestOptions);
  const clock = new WallClock(0);
  let stopped = false;
  log.info({ connection: describeConnection(settings) }, 'paper trading: Binance market data, simulated venue');

  const source = marketSource(settings, symbols, rest, clock, config, log);
  const from = warmupStart(Date.now(), config.live.warmupMinutes);
  source.resumeFrom(Object.fromEntries(symbols.map((sym) => [sym, from - MINUTE])));
  const rules = new RefreshableRules(fileRules);
  const sim = simulatedVenue(config, rules, clock);
  const kernel = Kernel.forSource(
    { config, mode: 'paper', rules, symbols, log, heartbeat: true, runId: accountRunId('paper', settings), resumeRun: true },
    { clock, venue: sim, sim, source },
  );
  kernel.setCounterSource(() => marketCounters(source));

  // Clock offset and fresh filters, retried in the background until Binance answers.
  void untilItWorks(
    'measuring the clock offset to Binance (GET /fapi/v1/time)',
    async () => {
      const off = await measureClockOffset(() => serverTime(rest), () => Date.now(), { samples: 3 });
      clock.offsetMs = off.offsetMs;
      kernel.setClockOffset(off.offsetMs);
      log.info({ offsetMs: off.offsetMs, rttMs: off.rttMs }, 'clock offset to Binance measured');
    },
    log,
    () => stopped,
    (m) => kernel.noteProblem(m),
  );

  // The exchange's current filters replace the bundled ones once Binance answers.
  void untilItWorks(
    'loading exchange filters (GET /fapi/v1/exchangeInfo)',
    async () => {
      const fresh = parseExchangeInfo(await rest.getExchangeInfo(), 'GET /fapi/v1/exchangeInfo');
      for (const s of symbols) fresh.get(s);
      rules.replace(fresh);
    },
    log,
    () => stopped,
    (m) => kernel.noteProblem(m),
  );

  const done = kernel.run().then(() => undefined);
  return {
    kernel,
    done,
    stop: async () => {
      stopped = true;
      kernel.requestStop();
      await done.catch(() => undefined);
    },
  };
}

/**
 * Exchange rules that can be replaced while the bot runs (exchangeInfo is refreshed hourly:
 * Binance changes filters). Starts from the bundled file until the exchange's arrive.
 */
export class RefreshableRules implements ExchangeRules {
  constructor(private current: ExchangeRules) {}
  /** Replace the rules (a fresh exchangeInfo). */
  replace(next: ExchangeRules): void {
    this.current = next;
  }
  get(symbol: Symbol) {
    return this.current.get(symbol);
  }
  has(symbol: Symbol): boolean {
    return this.current.has(symbol);
  }
  symbols(): Symbol[] {
    return this.current.symbols();
  }
  get serverTime(): number {
    return this.current.serverTime;
  }
  get source(): string {
    return this.current.source;
  }
  problems() {
    return this.current.problems();
  }
}

/** Log the symbol entries an exchangeInfo left out (malformed), the first few by name. */
function warnProblems(rules: ExchangeRules, log: Logger): void {
  const p = rules.problems();
  if (p.length > 0) log.warn({ count: p.length, first: p.slice(0, 3).map((e) => e.message) }, 'exchangeInfo: malformed symbol entries left out (those symbols cannot be traded)');
}

/**
 * Start-up reconciliation of protective stops (after the orders and positions): every held
 * position gets its stop when the exchange has none open for it (at the level the database
 * knows: see database/stop-levels.ts); perpbot's stops on symbols without a position, or on the
 * wrong side, are canceled; a position whose level is unknown is reported, left alone.
 */
export function reconcileStops(stops: ProtectiveStops, db: Db, runId: string, state: ExchangeState, log: Logger): StartupStopPlan {
  const held: Record<Symbol, number> = {};
  for (const [s, q] of Object.entries(state.positions)) if (!new Decimal(q).isZero()) held[s] = new Decimal(q).isPos() ? 1 : -1;
  const levels = stopLevelsOf(db, runId, held);
  const plan = planStartupStops(
    Object.entries(state.positions).map(([symbol, quantity]) => ({ symbol, quantity, stopsOfSignal: levels[symbol]?.stopsOfSignal ?? 0, ...(levels[symbol]?.level ? { level: levels[symbol]!.level! } : {}) })),
    state.openOrders.filter((o) => isStopId(o.clientOrderId)),
  );
  for (const o of plan.orphans) {
    log.warn({ clientOrderId: o.clientOrderId, symbol: o.symbol }, 'protective stop without its position: canceling it');
    stops.cancel(o, 'orphaned: no position');
  }
  for (const p of plan.place) {
    log.warn({ symbol: p.symbol, stopPrice: p.level.stopPrice, signalId: p.level.signalId }, 'position without its protective stop: placing it');
    stops.placeFor(p.symbol, p.positionSign, p.level, p.n);
  }
  for (const s of plan.unprotected) log.error({ symbol: s }, 'position without a protective stop and no stop level known for it (not opened by perpbot?): left without an exchange stop');
  return plan;
}

/** Database state of an account run, for reconciliation and restore. */
export function loadLocalState(db: Db, runId: string): { local: LocalState; open: OrderRow[]; oldestOpen: number | null } {
  const open = openOrders(db, runId);
  const positions: Record<Symbol, string> = {};
  for (const p of positionsForRun(db, runId)) positions[p.symbol] = p.quantity;
  const knownTradeIds: Record<Symbol, Set<string>> = {};
  const rows = db.sqlite.prepare('SELECT symbol, trade_id FROM fills WHERE run_id = ? AND time >= ?').all(runId, Date.now() - 7 * 86_400_000) as Array<{ symbol: string; trade_id: string }>;
  for (const r of rows) (knownTradeIds[r.symbol] ??= new Set()).add(r.trade_id);
  return {
    local: {
      openOrders: open.map((o) => ({ clientOrderId: o.clientOrderId, orderId: o.orderId, symbol: o.symbol, side: o.side, quantity: o.quantity, status: o.status, executedQty: o.executedQty })),
      positions,
      knownTradeIds,
    },
    open,
    oldestOpen: open.length ? Math.min(...open.map((o) => o.createdAt)) : null,
  };
}

/** The exchange's view for reconciliation, asked through the venue. */
export async function fetchExchangeState(
  venue: BinanceVenue,
  local: LocalState,
  symbols: readonly Symbol[],
  since: number,
): Promise<{ state: ExchangeState; entryPrices: Record<Symbol, string>; positionTimes: Record<Symbol, number> }> {
  const toExchangeOrder = (o: VenueOrder): ExchangeOrder => ({
    clientOrderId: o.clientOrderId,
    orderId: o.orderId,
    symbol: o.symbol,
    side: o.side,
    quantity: o.quantity,
    status: o.status,
    executedQty: o.executedQuantity,
  });
  const openOrders = (await venue.openOrders()).map(toExchangeOrder);
  const openIds = new Set(openOrders.map((o) => o.clientOrderId));
  const settled: ExchangeState['settled'] = {};
  for (const o of local.openOrders) {
    if (openIds.has(o.clientOrderId)) continue;
    const found = await venue.lookup(o.symbol, o.clientOrderId);
    settled[o.clientOrderId] = found === null ? null : toExchangeOrder(found);
  }
  const positions: Record<Symbol, string> = {};
  const entryPrices: Record<Symbol, string> = {};
  const positionTimes: Record<Symbol, number> = {};
  for (const p of await venue.positions()) {
    positionTimes[p.symbol] = p.updatedAt;
    if (!new Decimal(p.quantity).isZero()) {
      positions[p.symbol] = p.quantity;
      entryPrices[p.symbol] = p.entryPrice;
    }
  }
  const byOrderId = new Map<string, string>();
  for (const o of [...openOrders, ...Object.values(settled).filter((x): x is ExchangeOrder => x !== null)]) byOrderId.set(o.orderId, o.clientOrderId);
  const trades = [];
  const tradeSymbols = new Set<Symbol>([...symbols, ...Object.keys(positions), ...local.openOrders.map((o) => o.symbol)]);
  for (const s of tradeSymbols) trades.push(...(await venue.trades(s, since, (id) => byOrderId.get(id) ?? '')));
  return {
    state: {
      openOrders,
      settled,
      positions,
      trades,
    },
    entryPrices,
    positionTimes,
  };
}

/** Per-symbol position details for reconciliation events: the exchange's entry and time, the database's PnL history. */
export function positionDetails(db: Db, runId: string, entryPrices: Record<Symbol, string>, positionTimes: Record<Symbol, number>): Record<Symbol, { entryPrice?: string; updatedAt?: number; realizedPnl?: string; fees?: string }> {
  const out: Record<Symbol, { entryPrice?: string; updatedAt?: number; realizedPnl?: string; fees?: string }> = {};
  for (const p of positionsForRun(db, runId)) out[p.symbol] = { realizedPnl: p.realizedPnl, fees: p.fees };
  for (const [s, e] of Object.entries(entryPrices)) (out[s] ??= {}).entryPrice = e;
  for (const [s, t] of Object.entries(positionTimes)) (out[s] ??= {}).updatedAt = t;
  return out;
}

/**
 * The USDMClient as the venue's REST port: raw answers; perpbot's client order ids always sent;
 * after every answer (or error) the request-weight and order counts Binance reported in its
 * headers (the library keeps the latest X-MBX-USED-WEIGHT-1M / X-MBX-ORDER-COUNT-*) go to the
 * rate-limit tracker, so the venue slows down before the limits.
 */
export function restPort(rest: USDMClient, limits?: RateLimitTracker): UsdmRestPort {
  // The library keeps the LAST value of each header it has seen; order counts only come with order
  // placements, so they are taken from those answers only (else an old window's count would be
  // charged to the current one). The weight header comes with every answer.
  const counted = async <T>(call: () => Promise<T>, placesOrder = false): Promise<T> => {
    try {
      return await call();
    } finally {
      if (limits) {
        const st = rest.getRateLimitStates() as unknown as Record<string, unknown>;
        const fresh: Record<string, unknown> = { 'x-mbx-used-weight-1m': st['x-mbx-used-weight-1m'] };
        if (placesOrder) {
          fresh['x-mbx-order-count-10s'] = st['x-mbx-order-count-10s'];
          fresh['x-mbx-order-count-1m'] = st['x-mbx-order-count-1m'];
        }
        limits.update(fresh);
      }
    }
  };
  return {
    // postPrivate avoids the library rewriting or warning about ids without its broker prefix.
    submitNewOrder: (p) => counted(() => rest.postPrivate('fapi/v1/order', p) as Promise<unknown>, true),
    getOrder: (p) => counted(() => rest.getOrder(p) as Promise<unknown>),
    cancelOrder: (p) => counted(() => rest.cancelOrder(p) as Promise<unknown>),
    getAllOpenOrders: (p) => counted(() => rest.getAllOpenOrders(p) as Promise<unknown>),
    getPositionsV3: () => counted(() => rest.getPositionsV3() as Promise<unknown>),
    getAccountTrades: (p) => counted(() => rest.getAccountTrades(p as never) as Promise<unknown>),
    algo: {
      // postPrivate: the library's submitNewAlgoOrder would rewrite ids without its broker prefix.
      submitNewAlgoOrder: (p) => counted(() => rest.postPrivate('fapi/v1/algoOrder', p) as Promise<unknown>, true),
      cancelAlgoOrder: (p) => counted(() => rest.cancelAlgoOrder(p) as Promise<unknown>),
      getAlgoOrder: (p) => counted(() => rest.getAlgoOrder(p) as Promise<unknown>),
      getOpenAlgoOrders: (p) => counted(() => rest.getOpenAlgoOrders(p) as Promise<unknown>),
    },
  };
}

/**
 * Set the account up for perpbot, idempotently: one-way position mode (switched when possible,
 * else an error saying why), and per symbol the leverage of `sizing.leverage` and the margin type
 * of `binance.marginType` ("No need to change", -4046/-4059, is success).
 * @throws VenueError / Error naming what could not be set
 */
export async function setUpAccount(rest: USDMClient, config: Config, symbols: readonly Symbol[], log: Logger): Promise<void> {
  const ignore = (codes: number[]) => (err: unknown) => {
    const ve = toVenueError(err);
    if (ve.binanceCode !== null && codes.includes(ve.binanceCode)) return undefined;
    throw ve;
  };
  const mode = (await rest.getCurrentPositionMode()) as { dualSidePosition?: boolean | string };
  if (mode.dualSidePosition === true || mode.dualSidePosition === 'true') {
    log.warn('the account is in hedge mode: switching to one-way mode');
    await rest.setPositionMode({ dualSidePosition: 'false' }).catch(ignore([-4059]));
  }
  for (const symbol of symbols) {
    await rest.setMarginType({ symbol, marginType: config.binance.marginType }).catch(ignore([-4046]));
    await rest.setLeverage({ symbol, leverage: config.sizing.leverage });
  }
  log.info({ symbols, leverage: config.sizing.leverage, marginType: config.binance.marginType }, 'account set up: one-way mode, leverage and margin type');
}

/**
 * Close a user-data WebsocketClient cleanly: the library keeps its listen-key keepalive timers
 * running after closeAll, so they are cleared from its listen-key cache first.
 */
export function closeUserDataClient(client: WebsocketClient): void {
  const lib = client as unknown as {
    getUserDataStreamManager?: () => { listenKeyStateCache?: { listenKeyStateStore?: Record<string, unknown>; clearAllListenKeyState(k: string): void } };
    /** binance 3.6.5: pending re-tries of a failed user-stream respawn (2 s timers). */
    respawnTimeoutCache?: Record<string, NodeJS.Timeout>;
  };
  const cache = lib.getUserDataStreamManager?.()?.listenKeyStateCache;
  for (const key of Object.keys(cache?.listenKeyStateStore ?? {})) cache!.clearAllListenKeyState(key);
  for (const [key, timer] of Object.entries(lib.respawnTimeoutCache ?? {})) {
    clearTimeout(timer);
    delete lib.respawnTimeoutCache![key];
  }
  client.closeAll(true);
}

/** What {@link startLive} returns. */
export interface RunningLiveBot extends RunningBot {
  venue: BinanceVenue;
  /** Resolves once start-up (clock, filters, account, reconciliation) finished; trading is then ACTIVE. */
  ready: Promise<void>;
}

/**
 * Start live trading. Trading stays HALTED ("starting") until the clock offset is measured, the
 * exchange's filters are loaded, the account is set up and the database is reconciled with the
 * exchange; a failure keeps it HALTED with the reason (fail-closed) unless
 * `live.forceWithoutReconcile`. Start-up steps that cannot reach Binance are retried with backoff.
 * @throws ConfigError without keys or with mainnet not opted in
 */
export async function startLive(config: Config, log: Logger, fileRules: ExchangeRules, symbols: Symbol[], env: Record<string, string | undefined> = process.env): Promise<RunningLiveBot> {
  const settings = connectionSettings(config, 'live', env);
  const { restOptions, requestOptions } = buildUsdmClientOptions(settings);
  const rest = new USDMClient(restOptions, requestOptions);
  const clock = new WallClock(0);
  const rules = new RefreshableRules(fileRules);
  const limits = new RateLimitTracker(clock);
  let stopped = false;
  let kernel: Kernel | null = null;
  const halt = (reason: string) => kernel?.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'HALTED', reason });
  const syncClock = async () => {
    const off = await measureClockOffset(() => serverTime(rest), () => Date.now(), { samples: 3 });
    clock.offsetMs = off.offsetMs;
    // The library signs requests with its own clock: give it the offset too (else -1021 again).
    rest.setTimeOffset(off.offsetMs);
    kernel?.setClockOffset(off.offsetMs);
    log.info({ offsetMs: off.offsetMs, rttMs: off.rttMs }, 'clock offset to Binance measured');
  };
  const venue = new BinanceVenue({
    rest: restPort(rest, limits),
    clock,
    log: log.child({ component: 'venue' }),
    attempts: config.live.orderAttempts,
    limits,
    resyncClock: syncClock,
    onHalt: (reason) => halt(reason),
    recvWindowMs: config.binance.recvWindowMs,
  });
  const source = marketSource(settings, symbols, rest, clock, config, log);
  const from = warmupStart(Date.now(), config.live.warmupMinutes);
  source.resumeFrom(Object.fromEntries(symbols.map((sym) => [sym, from - MINUTE])));
  log.info({ connection: describeConnection(settings) }, 'live trading');
  kernel = Kernel.forSource(
    {
      config,
      mode: 'live',
      rules,
      symbols,
      log,
      heartbeat: true,
      runId: accountRunId('live', settings),
      resumeRun: true,
      startHalted: STARTING_REASON,
    },
    { clock, venue, sim: null, source },
  );
  const k = kernel;

  // The user-data stream; REST polling stands in while it is down.
  const userKey = describeConnection(settings).network === 'testnet' ? 'usdmTestnetPrivate' : 'usdmPrivate';
  const userWs = new WebsocketClient(buildWebsocketClientOptions(settings), libraryLogger(log));
  let userUp = false;
  let malformedUserFrames = 0;
  k.setCounterSource(() => {
    const rl = limits.snapshot();
    return {
      venueOrdersSent: venue.stats.submitted,
      venueRetries: venue.stats.retries,
      venueQueries: venue.stats.queries,
      venueUnknownOutcomes: venue.stats.unknownOutcomes,
      venuePolls: venue.stats.polls,
      venueResolved: venue.stats.resolved,
      userStreamUp: userUp ? 1 : 0,
      malformedUserFrames,
      rateLimitWeight1m: rl.weight1m,
      rateLimitOrders10s: rl.orders10s,
      rateLimitOrders1m: rl.orders1m,
      ...marketCounters(source),
    };
  });
  userWs.on('message', (m: unknown) => {
    const { wsKey: _k, isWSAPIResponse: _w, ...frame } = (m ?? {}) as Record<string, unknown>;
    try {
      venue.onUserData(frame);
    } catch (err) {
      malformedUserFrames++;
      log.warn({ malformedUserFrames }, `malformed user-data frame skipped: ${errorMessage(err)}`);
    }
  });
  userWs.on('open', () => {
    userUp = true;
  });
  userWs.on('reconnected', () => {
    userUp = true;
    void venue.poll().catch((err: unknown) => log.warn(`catch-up poll after the user stream reconnected failed: ${errorMessage(err)}`));
  });
  userWs.on('reconnecting', () => {
    userUp = false;
  });
  userWs.on('close', () => {
    userUp = false;
  });
  // Every 5 s: settle orders whose outcome is unknown (always); poll every open order while the
  // user stream is down. One pass at a time.
  let polling = false;
  const poller = setInterval(() => {
    if (stopped || polling) return;
    polling = true;
    void (async () => {
      await venue.resolvePending().catch((err: unknown) => log.warn(`settling orders of unknown outcome failed: ${errorMessage(err)}`));
      if (!userUp && !stopped) await venue.poll().catch((err: unknown) => log.warn(`order status poll failed: ${errorMessage(err)}`));
    })().finally(() => {
      polling = false;
    });
  }, 5_000);
  poller.unref();

  const ready = (async () => {
    await untilItWorks('measuring the clock offset to Binance (GET /fapi/v1/time)', syncClock, log, () => stopped, (m) => k.noteProblem(m));
    if (stopped) return;
    await untilItWorks(
      'loading exchange filters (GET /fapi/v1/exchangeInfo)',
      async () => {
        const fresh = parseExchangeInfo(await rest.getExchangeInfo(), 'GET /fapi/v1/exchangeInfo');
        warnProblems(fresh, log);
        rules.replace(fresh);
      },
      log,
      () => stopped,
      (m) => k.noteProblem(m),
    );
    for (const s of symbols) rules.get(s); // SYMBOL_UNKNOWN when the exchange does not list it
    await untilItWorks('setting the account up (position mode, margin type, leverage)', () => setUpAccount(rest, config, symbols, log), log, () => stopped, (m) => k.noteProblem(m));
    await untilItWorks(
      'opening the user-data stream (listen key)',
      async () => {
        // The library catches its own failures (listen key POST, websocket) and resolves undefined.
        const opened = await userWs.subscribeUsdFuturesUserDataStream(userKey as never);
        if (opened === undefined) throw new Error('the user-data stream did not open (listen key or websocket refused)');
      },
      log,
      () => stopped,
      (m) => k.noteProblem(m),
    );
    try {
      const { local, open, oldestOpen } = loadLocalState(k.db, k.runId);
      const since = Math.min(oldestOpen ?? Infinity, clock.now() - 86_400_000);
      const { state, entryPrices, positionTimes } = await fetchExchangeState(venue, local, symbols, since);
      const r = reconcile(local, state);
      const text = formatReconciliation(r);
      if (r.clean) log.info(text);
      else log.warn({ actions: r.actions.length }, `reconciliation with the exchange:\n${text}`);
      // The executor and the venue learn what is open and held, then the events settle the rest.
      const stillOpen = open.filter((o) => state.openOrders.some((x) => x.clientOrderId === o.clientOrderId));
      const restored = stillOpen.map((o) => ({
        intent: { clientOrderId: o.clientOrderId, symbol: o.symbol, side: o.side, type: o.type, quantity: o.quantity, reduceOnly: o.reduceOnly, strategyId: o.strategyId, refPrice: o.refPrice, createdAt: o.createdAt, ...(o.price ? { price: o.price } : {}), ...(o.stopPrice ? { stopPrice: o.stopPrice, closePosition: true } : {}), ...(o.signalId ? { signalId: o.signalId } : {}) },
        executedQty: o.executedQty,
        orderId: o.orderId,
      }));
      for (const a of r.actions) {
        if (a.kind === 'adopt' && a.unknown) {
          const x = a.order;
          restored.push({ intent: { clientOrderId: x.clientOrderId, symbol: x.symbol, side: x.side, type: 'MARKET', quantity: x.quantity, reduceOnly: false, strategyId: 'adopted', refPrice: '0', createdAt: clock.now() }, executedQty: x.executedQty, orderId: x.orderId });
        }
      }
      const positions = Object.entries(state.positions).map(([symbol, quantity]) => ({ symbol, quantity, entryPrice: entryPrices[symbol] ?? '0', realizedPnl: '0', fees: '0', updatedAt: clock.now() }));
      k.executor.restore(restored, positions);
      // Today's risk counters from the database (before the reconciled fills, which add to them),
      // so a restart never resets the daily loss limit or the daily quantity cap.
      const day = riskDayOf(k.db, k.runId, clock.now());
      k.executor.restoreRiskDay(clock.now(), day.opened, day.strategyPnl);
      // The venue learns each order as the exchange has it now, with every trade already known
      // (the database's and those reconciliation inserts), so a later poll reports none twice.
      const exchangeOpen = new Map(state.openOrders.map((o) => [o.clientOrderId, o]));
      const reconciledTrades = r.actions.flatMap((a) => (a.kind === 'insertFill' ? [a.fill] : []));
      venue.adopt(
        restored.map((o) => ({
          ...o,
          executedQty: exchangeOpen.get(o.intent.clientOrderId)?.executedQty ?? o.executedQty,
          tradeIds: [...tradeIdsOfOrder(k.db, k.runId, o.intent.clientOrderId), ...reconciledTrades.filter((f) => f.clientOrderId === o.intent.clientOrderId).map((f) => f.tradeId)],
        })),
      );
      const stored = positionsForRun(k.db, k.runId);
      venue.seedFees(Object.fromEntries(stored.map((p) => [p.symbol, p.fees])), Object.fromEntries(stored.map((p) => [p.symbol, p.realizedPnl])));
      // Strategies learn what the account holds (they adopt positions only from such events).
      for (const position of positions) void k.publish('account.update', { type: 'PositionChanged', ts: clock.now(), position, source: 'reconcile' });
      for (const e of reconciliationEvents(r, clock.now(), positionDetails(k.db, k.runId, entryPrices, positionTimes))) {
        if (e.type === 'PositionChanged') void k.publish('account.update', e);
        else void k.publish('order.update', e);
      }
      if (k.executor.stops) reconcileStops(k.executor.stops, k.db, k.runId, state, log);
      const usdt = mapBalances(await rest.getBalanceV3()).find((b) => b.asset === 'USDT');
      if (usdt) k.executor.setEquity(usdt.walletBalance);
      const held = restoredHalt(recentTradingStateChanges(k.db, k.runId), clock.now(), config.risk.haltCooldownMinutes);
      if (held) {
        log.warn({ reason: held.reason, resumeAt: held.resumeAt ?? null }, 'the automatic halt of before the restart still holds: trading resumes REDUCING (exits only)');
        k.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'REDUCING', reason: `${held.reason}${HELD_SUFFIX}`, ifReason: STARTING_REASON, ...(held.resumeAt !== undefined ? { resumeAt: held.resumeAt } : {}) });
      } else {
        k.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'ACTIVE', reason: 'start-up complete: reconciled with the exchange', ifReason: STARTING_REASON });
      }
    } catch (err) {
      const msg = `reconciliation with the exchange failed: ${scrub(errorMessage(err))}`;
      k.noteProblem(msg);
      if (config.live.forceWithoutReconcile) {
        log.error(`${msg}; trading anyway (live.forceWithoutReconcile)`);
        k.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'ACTIVE', reason: 'forced without reconciliation', ifReason: STARTING_REASON });
      } else {
        log.error(`${msg}; trading stays HALTED (fail-closed). Fix it and restart, or run perpbot recover.`);
        halt(msg);
      }
    }
  })().catch((err: unknown) => {
    // A start-up step that cannot succeed by retrying (e.g. a symbol the exchange does not list):
    // trading stays HALTED, with the reason in the heartbeat, the log and an alert.
    const msg = `start-up failed: ${scrub(errorMessage(err))}`;
    k.noteProblem(msg);
    log.error(`${msg}; trading stays HALTED`);
    halt(msg);
  });

  // Filters change: refresh them hourly.
  const refresh = setInterval(() => {
    void rest
      .getExchangeInfo()
      .then((raw) => {
        const fresh = parseExchangeInfo(raw, 'GET /fapi/v1/exchangeInfo');
        for (const s of symbols) fresh.get(s); // a traded symbol's entry broken: keep the previous filters
        warnProblems(fresh, log);
        rules.replace(fresh);
      })
      .catch((err: unknown) => log.warn(`exchangeInfo refresh failed (the previous filters stay): ${errorMessage(err)}`));
  }, config.live.exchangeInfoRefreshMinutes * MINUTE);
  refresh.unref();

  const done = k.run().then(() => undefined);
  return {
    kernel: k,
    venue,
    ready,
    done,
    stop: async () => {
      stopped = true;
      clearInterval(poller);
      clearInterval(refresh);
      closeUserDataClient(userWs);
      k.requestStop();
      await done.catch(() => undefined);
      // A start-up step in flight (a user-stream subscription) may open a socket after the close
      // above: wait for start-up to see `stopped` (bounded), then close again.
      await Promise.race([ready, new Promise((r) => setTimeout(r, 5_000).unref())]);
      closeUserDataClient(userWs);
    },
  };
}
