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
export async function untilItWorks<T>(what: string, fn: () => Promise<T>, log: Logger, stopped: () => boolean, onFail?: (msg: string) => void): Promise<T | undefined> {
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

