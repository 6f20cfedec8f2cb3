/**
 * Live and paper start-up helpers: connection settings, the `binance` library's logger, the
 * start-up retry loop, server time, run ids, refreshable exchange rules, the REST port of the
 * venue and the account set-up. Split from live.ts (which wires them).
 */
import { USDMClient, WebsocketClient } from 'binance';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ConfigError, errorMessage } from '../core/errors.ts';
import type { Mode, Symbol } from '../core/types.ts';
import { scrub } from '../logging/logger.ts';
import { describeConnection, type BinanceConnectionSettings } from '../exchange/binance/client-options.ts';
import { mapServerTime } from '../exchange/binance/mapper.ts';
import type { ExchangeRules } from '../../executor/exchange-info.ts';
import type { UsdmRestPort } from '../exchange/binance/venue.ts';
import { toVenueError } from '../exchange/binance/errors.ts';
import { RateLimitTracker, backoffDelay } from '../exchange/binance/retry.ts';
import { abortableSleep, type RestGate } from '../exchange/binance/rest-gate.ts';

/**
 * The `binance` library's logger interface, routed to pino at low levels (it is chatty). Its
 * errors go out at warn level once per distinct message (digits ignored) per `quietMs`, then at
 * debug: while a connection is down the library logs every attempt, and an outage must cost a
 * bounded number of lines.
 * @param quietMs how long a repeated message stays at debug level, ms (default 10 minutes)
 */
export function libraryLogger(log: Logger, quietMs = 600_000): { trace: (...a: unknown[]) => void; info: (...a: unknown[]) => void; error: (...a: unknown[]) => void } {
  const text = (a: unknown[]) => scrub(a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ').slice(0, 500));
  const lastWarned = new Map<string, number>();
  return {
    trace: () => {},
    info: (...a) => log.debug({ component: 'binance-lib' }, text(a)),
    error: (...a) => {
      const t = text(a);
      const key = t.replace(/[0-9]+/g, '#').slice(0, 120);
      const now = Date.now();
      const last = lastWarned.get(key);
      if (last !== undefined && now - last < quietMs) return log.debug({ component: 'binance-lib' }, t);
      if (lastWarned.size > 200) lastWarned.clear();
      lastWarned.set(key, now);
      log.warn({ component: 'binance-lib' }, t);
    },
  };
}

/**
 * Exponential reconnect back-off for a `binance` WebsocketClient that reconnects by itself: the
 * library reads `options.reconnectTimeout` each time it schedules an attempt (binance 3.6.5
 * BaseWSClient.reconnectWithDelay; default a constant 500 ms), so it is raised after each
 * 'reconnecting' (full jitter, `baseMs` doubling to `maxMs`) and reset on 'open'/'reconnected'.
 * Logs once when the connection drops and once when it is back.
 * @returns the number of attempts of the current outage (0 while connected)
 */
export function reconnectBackoff(client: WebsocketClient, log: Logger, what: string, backoff: { baseMs: number; maxMs: number } = { baseMs: 500, maxMs: 30_000 }, random: () => number = Math.random): () => number {
  const opts = (client as unknown as { options: { reconnectTimeout: number } }).options;
  opts.reconnectTimeout = backoff.baseMs;
  let down: { since: number; attempts: number } | null = null;
  const up = () => {
    opts.reconnectTimeout = backoff.baseMs;
    if (down) log.info({ attempts: down.attempts, downMs: Date.now() - down.since }, `${what} restored`);
    down = null;
  };
  client.on('open', up);
  client.on('reconnected', up);
  client.on('reconnecting', () => {
    if (!down) {
      down = { since: Date.now(), attempts: 0 };
      log.warn({ maxBackoffMs: backoff.maxMs }, `${what} lost; reconnecting with back-off (logged again once restored)`);
    }
    down.attempts++;
    opts.reconnectTimeout = Math.max(backoff.baseMs, backoffDelay(down.attempts + 1, backoff.baseMs, backoff.maxMs, true, random));
  });
  return () => down?.attempts ?? 0;
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

/**
 * A retry loop for start-up calls: retries with backoff (1 s doubling to 60 s, jittered), forever
 * unless stopped. The first failure of the streak is logged at warn, repeats at debug, and one
 * info line says when it worked (an outage costs a bounded number of lines); every failure goes
 * to `onFail` (the heartbeat's lastError). The wait ends early when `signal` aborts.
 * @returns what `fn` returned, or undefined when stopped first
 */
export async function untilItWorks<T>(what: string, fn: () => Promise<T>, log: Logger, stopped: () => boolean, onFail?: (msg: string) => void, signal?: AbortSignal): Promise<T | undefined> {
  for (let n = 1; !stopped(); n++) {
    try {
      const out = await fn();
      if (n > 1) log.info({ attempts: n }, `${what}: done after ${n} attempts`);
      return out;
    } catch (err) {
      if (stopped()) return undefined;
      const msg = `${what} failed (attempt ${n}): ${scrub(errorMessage(err))}`;
      if (n === 1) log.warn({ attempt: n }, `${msg}; retrying with back-off up to 60 s (repeats at debug level)`);
      else log.debug({ attempt: n }, `${msg}; retrying`);
      onFail?.(msg);
      await abortableSleep(backoffDelay(n, 1_000, 60_000, true, Math.random), signal);
    }
  }
  return undefined;
}

/** GET /fapi/v1/time through the library (which answers with the bare number), UTC epoch ms. */
export async function serverTime(rest: USDMClient): Promise<number> {
  const t: unknown = await rest.getServerTime();
  return typeof t === 'number' ? t : mapServerTime(t);
}

/** The run id of an account: one run per mode, network and venue, resumed across restarts. */
export function accountRunId(mode: Mode, settings: BinanceConnectionSettings): string {
  const ep = describeConnection(settings);
  return ep.network === 'custom' ? `${mode}-custom-${new URL(ep.restBaseUrl).host.replace(/[^a-z0-9.-]/gi, '_')}` : `${mode}-${ep.network}`;
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
export function warnProblems(rules: ExchangeRules, log: Logger): void {
  const p = rules.problems();
  if (p.length > 0) log.warn({ count: p.length, first: p.slice(0, 3).map((e) => e.message) }, 'exchangeInfo: malformed symbol entries left out (those symbols cannot be traded)');
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

/** A symbol's current margin type and leverage as the exchange reports them. */
export interface SymbolAccountConfig {
  marginType: 'ISOLATED' | 'CROSSED';
  leverage: number;
}

/**
 * Every symbol's margin type and leverage in one request: GET /fapi/v1/symbolConfig (weight 5;
 * `marginType` "ISOLATED"/"CROSSED"), else GET /fapi/v2/positionRisk (weight 5; every symbol,
 * `marginType` "isolated"/"cross"). Rows that do not parse are left out (set them as if unknown).
 * Sources: https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Symbol-Config
 * and .../trade/rest-api/Position-Information-V2.
 * @throws the second request's error when both fail
 */
export async function readSymbolConfigs(rest: USDMClient, gate: RestGate): Promise<Map<Symbol, SymbolAccountConfig>> {
  let rows: unknown;
  try {
    rows = await gate.call(5, () => rest.getFuturesSymbolConfig({}) as Promise<unknown>);
  } catch {
    rows = await gate.call(5, () => rest.getPositions() as Promise<unknown>);
  }
  const out = new Map<Symbol, SymbolAccountConfig>();
  if (!Array.isArray(rows)) return out;
  for (const r of rows as Array<Record<string, unknown>>) {
    const symbol = r?.symbol;
    const mt = String(r?.marginType ?? '').toUpperCase();
    const leverage = Number(r?.leverage);
    if (typeof symbol !== 'string' || !Number.isInteger(leverage)) continue;
    const marginType = mt === 'ISOLATED' ? 'ISOLATED' : mt === 'CROSSED' || mt === 'CROSS' ? 'CROSSED' : null;
    if (marginType) out.set(symbol, { marginType, leverage });
  }
  return out;
}

/**
 * Set the account up for perpbot, idempotently: one-way position mode (switched when possible,
 * else an error saying why), and per symbol the leverage of `sizing.leverage` and the margin type
 * of `binance.marginType`. The current settings are read once in bulk ({@link readSymbolConfigs})
 * and only the symbols that differ are changed, concurrently, every call through `gate` (weight
 * budget, 429/418 block); "No need to change" (-4046/-4059) is success.
 * @returns how many margin-type and leverage changes were sent
 * @throws VenueError / Error naming what could not be set
 */
export async function setUpAccount(rest: USDMClient, config: Config, symbols: readonly Symbol[], log: Logger, gate: RestGate): Promise<{ marginTypeChanges: number; leverageChanges: number }> {
  const ignore = (codes: number[]) => (err: unknown) => {
    const ve = toVenueError(err);
    if (ve.binanceCode !== null && codes.includes(ve.binanceCode)) return undefined;
    throw ve;
  };
  const mode = (await gate.call(30, () => rest.getCurrentPositionMode())) as { dualSidePosition?: boolean | string };
  if (mode.dualSidePosition === true || mode.dualSidePosition === 'true') {
    log.warn('the account is in hedge mode: switching to one-way mode');
    await gate.call(1, () => rest.setPositionMode({ dualSidePosition: 'false' })).catch(ignore([-4059]));
  }
  let current = new Map<Symbol, SymbolAccountConfig>();
  try {
    current = await readSymbolConfigs(rest, gate);
  } catch (err) {
    log.warn(`reading the symbols' margin type and leverage failed (${scrub(errorMessage(err))}): setting every symbol`);
  }
  const marginType = config.binance.marginType;
  const leverage = config.sizing.leverage;
  const counts = { marginTypeChanges: 0, leverageChanges: 0 };
  await Promise.all(
    symbols.map(async (symbol) => {
      const now = current.get(symbol);
      if (now?.marginType !== marginType) {
        counts.marginTypeChanges++;
        await gate.call(1, () => rest.setMarginType({ symbol, marginType })).catch(ignore([-4046]));
      }
      if (now?.leverage !== leverage) {
        counts.leverageChanges++;
        await gate.call(1, () => rest.setLeverage({ symbol, leverage }));
      }
    }),
  );
  log.info({ symbols: symbols.length, leverage, marginType, ...counts }, 'account set up: one-way mode, leverage and margin type');
  return counts;
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

