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
import { BinanceMarketSource } from '../market/binance-source.ts';
import { SimVenue } from '../exchange/sim/sim-venue.ts';
import { buildUsdmClientOptions, buildWebsocketClientOptions, describeConnection, type BinanceConnectionSettings } from '../exchange/binance/client-options.ts';
import { measureClockOffset } from '../exchange/binance/clock-sync.ts';
import { mapKlineFrame, mapMarkPriceFrame, mapRestKlines, mapServerTime } from '../exchange/binance/mapper.ts';
import type { ExchangeRules } from '../../executor/exchange-info.ts';
import { validateOrder } from '../../executor/filters.ts';
import { backoffDelay } from '../exchange/binance/retry.ts';
import { Kernel } from './kernel.ts';
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
    if (!key || !secret) throw new ConfigError(['BINANCE_API_KEY / BINANCE_API_SECRET: live mode needs both in the environment']);
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
        const page = mapRestKlines(raw, symbol, { now: clock.now() }).filter((k) => k.closed);
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
  const sim = new SimVenue({
    clock,
    config: {
      takerFeeRate: config.sim.takerFeeRate,
      makerFeeRate: config.sim.makerFeeRate,
      slippageBps: config.sim.slippageBps,
      startingBalance: config.sim.startingBalance,
      tickSize: (s) => (fileRules.has(s) ? new Decimal(fileRules.get(s).priceFilter.tickSize) : undefined),
      validate: (intent) => {
        const v = validateOrder(fileRules.get(intent.symbol), intent);
        return v ? { code: v.code, reason: v.reason } : null;
      },
    },
  });
  const kernel = Kernel.forSource(
    { config, mode: 'paper', rules: fileRules, symbols, log, heartbeat: true, runId: accountRunId('paper', settings), resumeRun: true },
    { clock, venue: sim, sim, source },
  );

  // Clock offset and fresh filters, retried in the background until Binance answers.
  void untilItWorks(
    'measuring the clock offset to Binance (GET /fapi/v1/time)',
    async () => {
      const off = await measureClockOffset(async () => mapServerTime(await rest.getServerTime()), () => Date.now(), { samples: 3 });
      clock.offsetMs = off.offsetMs;
      kernel.setClockOffset(off.offsetMs);
      log.info({ offsetMs: off.offsetMs, rttMs: off.rttMs }, 'clock offset to Binance measured');
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
