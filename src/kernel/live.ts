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
import { errorMessage } from '../core/errors.ts';
import type { Symbol } from '../core/types.ts';
import { scrub } from '../logging/logger.ts';
import { buildUsdmClientOptions, buildWebsocketClientOptions, describeConnection } from '../exchange/binance/client-options.ts';
import { measureClockOffset } from '../exchange/binance/clock-sync.ts';
import { mapBalances } from '../exchange/binance/mapper.ts';
import { parseExchangeInfo, type ExchangeRules } from '../../executor/exchange-info.ts';
import { recentTradingStateChanges } from '../../database/queries.ts';
import { BinanceVenue } from '../exchange/binance/venue.ts';
import { RateLimitTracker } from '../exchange/binance/retry.ts';
import { Kernel, simulatedVenue } from './kernel.ts';
import { accountRunId, closeUserDataClient, connectionSettings, libraryLogger, reconnectBackoff, RefreshableRules, restPort, serverTime, setUpAccount, untilItWorks, warnProblems } from './live-setup.ts';
import { marketCounters, marketSource, warmupStart, type MarketTimings } from './live-market.ts';
import { applyStartupReconciliation, fetchExchangeState, HELD_SUFFIX, loadLocalState, restoredHalt } from './live-reconcile.ts';
import { gateCounters, onRateLimited, streakLogger } from './live-rest.ts';
import { RestGate } from '../exchange/binance/rest-gate.ts';

export { accountRunId, closeUserDataClient, connectionSettings, libraryLogger, readSymbolConfigs, reconnectBackoff, RefreshableRules, restPort, serverTime, setUpAccount } from './live-setup.ts';
export { marketCounters, marketSource, warmupStart, type MarketTimings } from './live-market.ts';
export { fetchExchangeState, loadLocalState, positionDetails, reconcileStops, restoredHalt } from './live-reconcile.ts';

const MINUTE = 60_000;

/** Timings tests compress (all optional; defaults from the config), and a start hook. */
export interface LiveTimings extends MarketTimings {
  /**
   * Called with the kernel before it runs (before the first market message is published), for
   * whatever must see every bus event from the start: the API's metrics and event stream.
   */
  beforeRun?: (kernel: Kernel) => void;
  /** Back-off of the user-data websocket's reconnects, ms (default 500 → `live.reconnectMaxMs`). */
  userReconnect?: { baseMs: number; maxMs: number };
  /** Interval of the order-status poller (unknown outcomes; every open order while the user stream is down), ms. Default 5000. */
  pollMs?: number;
  /**
   * While the user stream is up, how often the venue compares its unfinished orders with the
   * exchange's open orders, and how old an order must be to take part (BinanceVenue.audit), ms.
   * Default 60,000: at most 80 weight a minute (of 2,400) while orders are open, none otherwise.
   */
  auditMs?: number;
  /**
   * Listen-key keepalive interval (PUT /fapi/v1/listenKey), ms. Default 30 minutes: a key lives
   * 60 minutes after its last keepalive (Binance USDⓈ-M "User Data Streams"); the library's own
   * 50-minute keepalive stays on as a second line.
   */
  listenKeyKeepaliveMs?: number;
}

/** What `startPaper` returns. */
export interface RunningBot {
  kernel: Kernel;
  /** Resolves when the bot stopped (signal or fatal error). */
  done: Promise<void>;
  /** Stop: market data first, then flush and close everything. */
  stop(): Promise<void>;
}


/** Why trading is HALTED while live start-up runs; only this halt is lifted when it is done. */
export const STARTING_REASON = 'starting: waiting for the exchange (clock, filters, account set-up, reconciliation)';


/**
 * Start paper trading: Binance market data, the simulated venue on the wall clock (market orders
 * fill at the next mark price after they are placed, with the configured fees and slippage).
 * Never needs keys. Filters come from the exchange when reachable, else from the bundled file.
 */
export async function startPaper(config: Config, log: Logger, fileRules: ExchangeRules, symbols: Symbol[], timings: LiveTimings = {}): Promise<RunningBot> {
  const settings = connectionSettings(config, 'paper');
  const { restOptions, requestOptions } = buildUsdmClientOptions(settings);
  const rest = new USDMClient(restOptions, requestOptions);
  const clock = new WallClock(0);
  let stopped = false;
  log.info({ connection: describeConnection(settings) }, 'paper trading: Binance market data, simulated venue');
  const limits = new RateLimitTracker(clock);
  const stopping = new AbortController();
  let paperKernel: Kernel | null = null;
  const gate = new RestGate(rest, limits, { signal: stopping.signal, onLimited: (ve) => onRateLimited(ve, log, limits, (reason) => paperKernel?.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'HALTED', reason })) });

  const source = marketSource(settings, symbols, rest, clock, config, log, gate, timings);
  const from = warmupStart(Date.now(), config.live.warmupMinutes);
  source.resumeFrom(Object.fromEntries(symbols.map((sym) => [sym, from - MINUTE])));
  const rules = new RefreshableRules(fileRules);
  const sim = simulatedVenue(config, rules, clock);
  const kernel = Kernel.forSource(
    { config, mode: 'paper', rules, symbols, log, heartbeat: true, runId: accountRunId('paper', settings), resumeRun: true },
    { clock, venue: sim, sim, source },
  );
  paperKernel = kernel;
  kernel.setCounterSource(() => ({ ...marketCounters(source), ...gateCounters(gate) }));

  // Clock offset and fresh filters, retried in the background until Binance answers.
  void untilItWorks(
    'measuring the clock offset to Binance (GET /fapi/v1/time)',
    async () => {
      const off = await measureClockOffset(() => gate.call(1, () => serverTime(rest)), () => Date.now(), { samples: 3 });
      clock.offsetMs = off.offsetMs;
      kernel.setClockOffset(off.offsetMs);
      log.info({ offsetMs: off.offsetMs, rttMs: off.rttMs }, 'clock offset to Binance measured');
    },
    log,
    () => stopped,
    (m) => kernel.noteProblem(m),
    stopping.signal,
  );

  // The exchange's current filters replace the bundled ones once Binance answers.
  void untilItWorks(
    'loading exchange filters (GET /fapi/v1/exchangeInfo)',
    async () => {
      const fresh = parseExchangeInfo(await gate.call(1, () => rest.getExchangeInfo()), 'GET /fapi/v1/exchangeInfo');
      for (const s of symbols) fresh.get(s);
      rules.replace(fresh);
    },
    log,
    () => stopped,
    (m) => kernel.noteProblem(m),
    stopping.signal,
  );

  timings.beforeRun?.(kernel);
  const done = kernel.run().then(() => undefined);
  return {
    kernel,
    done,
    stop: async () => {
      stopped = true;
      stopping.abort();
      kernel.requestStop();
      await done.catch(() => undefined);
    },
  };
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
export async function startLive(config: Config, log: Logger, fileRules: ExchangeRules, symbols: Symbol[], env: Record<string, string | undefined> = process.env, timings: LiveTimings = {}): Promise<RunningLiveBot> {
  const settings = connectionSettings(config, 'live', env);
  const { restOptions, requestOptions } = buildUsdmClientOptions(settings);
  const rest = new USDMClient(restOptions, requestOptions);
  const clock = new WallClock(0);
  const rules = new RefreshableRules(fileRules);
  const limits = new RateLimitTracker(clock);
  let stopped = false;
  let kernel: Kernel | null = null;
  const halt = (reason: string) => kernel?.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'HALTED', reason });
  const stopping = new AbortController();
  const gate = new RestGate(rest, limits, {
    signal: stopping.signal,
    onLimited: (ve) => {
      onRateLimited(ve, log, limits, halt);
      kernel?.alerts.raise(ve.kind === 'ip_ban' ? 'ipBanned' : 'rateLimited', { retryAfterSeconds: ve.retryAfterMs === null ? null : Math.ceil(ve.retryAfterMs / 1000), message: ve.message });
    },
  });
  const syncClock = async () => {
    const off = await measureClockOffset(() => gate.call(1, () => serverTime(rest)), () => Date.now(), { samples: 3 });
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
    onLimit: (kind, retryAfterMs, message) =>
      kernel?.alerts.raise(kind === 'ip_ban' ? 'ipBanned' : 'rateLimited', { retryAfterSeconds: retryAfterMs === null ? null : Math.ceil(retryAfterMs / 1000), message }),
    recvWindowMs: config.binance.recvWindowMs,
  });
  const source = marketSource(settings, symbols, rest, clock, config, log, gate, timings);
  const from = warmupStart(Date.now(), config.live.warmupMinutes);
  source.resumeFrom(Object.fromEntries(symbols.map((sym) => [sym, from - MINUTE])));
  log.info({ connection: describeConnection(settings), symbols: symbols.length, connections: source.connectionCount }, 'live trading');
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
  k.setUnknownOrderSource(() => venue.unknownOrders());

  // The user-data stream; REST polling stands in while it is down.
  const userKey = describeConnection(settings).network === 'testnet' ? 'usdmTestnetPrivate' : 'usdmPrivate';
  const userWs = new WebsocketClient(buildWebsocketClientOptions(settings), libraryLogger(log));
  reconnectBackoff(userWs, log.child({ component: 'user-stream' }), 'user-data stream', timings.userReconnect ?? { baseMs: 500, maxMs: config.live.reconnectMaxMs });
  const pollLog = streakLogger(log, 'order status poll (user stream down)');
  const settleLog = streakLogger(log, 'settling orders of unknown outcome');
  let userUp = false;
  let keepalives = 0;
  let malformedUserFrames = 0;
  k.setCounterSource(() => {
    const rl = limits.snapshot();
    return {
      venueOrdersSent: venue.stats.submitted,
      venueRetries: venue.stats.retries,
      venueQueries: venue.stats.queries,
      venueUnknownOutcomes: venue.stats.unknownOutcomes,
      venuePolls: venue.stats.polls,
      venueAudits: venue.stats.audits,
      venueAuditSettled: venue.stats.auditSettled,
      venueResolved: venue.stats.resolved,
      userStreamUp: userUp ? 1 : 0,
      malformedUserFrames,
      rateLimitWeight1m: rl.weight1m,
      rateLimitOrders10s: rl.orders10s,
      rateLimitOrders1m: rl.orders1m,
      ...marketCounters(source),
      ...gateCounters(gate),
      listenKeyKeepalives: keepalives,
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
  // user stream is down; while it is up, every auditMs, settle the orders that ended on the
  // exchange without their stream event (a lost frame). One pass at a time.
  const auditMs = timings.auditMs ?? 60_000;
  const auditLog = streakLogger(log, 'comparing open orders with the exchange');
  let lastAudit = Date.now();
  let polling = false;
  const poller = setInterval(() => {
    if (stopped || polling) return;
    polling = true;
    void (async () => {
      await venue.resolvePending().then(() => settleLog.ok(), (err: unknown) => settleLog.fail(err));
      if (!userUp && !stopped) await venue.poll().then(() => pollLog.ok(), (err: unknown) => pollLog.fail(err));
      else if (userUp && !stopped && Date.now() - lastAudit >= auditMs) {
        lastAudit = Date.now();
        await venue.audit(auditMs).then(() => auditLog.ok(), (err: unknown) => auditLog.fail(err));
      }
    })().finally(() => {
      polling = false;
    });
  }, timings.pollMs ?? 5_000);
  poller.unref();

  const ready = (async () => {
    // Where start-up time goes: each step's duration, logged once at the end (info).
    const steps: Record<string, number> = {};
    let mark = Date.now();
    const step = (name: string) => {
      steps[name] = Date.now() - mark;
      mark = Date.now();
    };
    // The clock offset and the filters do not depend on each other: both at once.
    await Promise.all([
      untilItWorks('measuring the clock offset to Binance (GET /fapi/v1/time)', syncClock, log, () => stopped, (m) => k.noteProblem(m), stopping.signal),
      untilItWorks(
      'loading exchange filters (GET /fapi/v1/exchangeInfo)',
      async () => {
        const fresh = parseExchangeInfo(await gate.call(1, () => rest.getExchangeInfo()), 'GET /fapi/v1/exchangeInfo');
        warnProblems(fresh, log);
        rules.replace(fresh);
      },
      log,
      () => stopped,
      (m) => k.noteProblem(m),
      stopping.signal,
      ),
    ]);
    if (stopped) return;
    for (const s of symbols) rules.get(s); // SYMBOL_UNKNOWN when the exchange does not list it
    step('clockAndFiltersMs');
    await untilItWorks('setting the account up (position mode, margin type, leverage)', () => setUpAccount(rest, config, symbols, log, gate), log, () => stopped, (m) => k.noteProblem(m), stopping.signal);
    if (stopped) return;
    step('accountSetUpMs');
    await untilItWorks(
      'opening the user-data stream (listen key)',
      async () => {
        // The library catches its own failures (listen key POST, websocket) and resolves undefined.
        // Through the gate: the listen key POST (weight 1) waits for any 429/418 block.
        const opened = await gate.call(1, () => userWs.subscribeUsdFuturesUserDataStream(userKey as never));
        if (opened === undefined) throw new Error('the user-data stream did not open (listen key or websocket refused)');
      },
      log,
      () => stopped,
      (m) => k.noteProblem(m),
      stopping.signal,
    );
    if (stopped) return;
    try {
      const { local, open, oldestOpen } = loadLocalState(k.db, k.runId);
      const since = Math.min(oldestOpen ?? Infinity, clock.now() - 86_400_000);
      const fetched = await fetchExchangeState(venue, local, symbols, since);
      if (stopped) return; // the database may be closing: reconcile at the next start
      step('userStreamAndExchangeStateMs');
      applyStartupReconciliation(k, venue, clock, log, local, open, fetched);
      const usdt = mapBalances(await gate.call(5, () => rest.getBalanceV3())).find((b) => b.asset === 'USDT');
      if (usdt) k.executor.setEquity(usdt.walletBalance);
      step('reconciliationMs');
      log.info({ ...steps, symbols: symbols.length, restWeight1m: limits.snapshot().weight1m }, 'start-up steps timed');
      const held = restoredHalt(recentTradingStateChanges(k.db, k.runId), clock.now(), config.risk.haltCooldownMinutes);
      if (held) {
        log.warn({ reason: held.reason, resumeAt: held.resumeAt ?? null }, 'the automatic halt of before the restart still holds: trading resumes REDUCING (exits only)');
        k.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'REDUCING', reason: `${held.reason}${HELD_SUFFIX}`, ifReason: STARTING_REASON, ...(held.resumeAt !== undefined ? { resumeAt: held.resumeAt } : {}) });
      } else {
        k.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state: 'ACTIVE', reason: 'start-up complete: reconciled with the exchange', ifReason: STARTING_REASON });
      }
    } catch (err) {
      if (stopped) return;
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
    if (stopped) return; // stopping mid start-up is not a failure
    // A start-up step that cannot succeed by retrying (e.g. a symbol the exchange does not list):
    // trading stays HALTED, with the reason in the heartbeat, the log and an alert.
    const msg = `start-up failed: ${scrub(errorMessage(err))}`;
    k.noteProblem(msg);
    log.error(`${msg}; trading stays HALTED`);
    halt(msg);
  });

  // Listen-key keepalive through the gate (weight 1). While the user stream is down there is
  // nothing to keep alive: the library re-creates the key when it reconnects.
  const keepaliveLog = streakLogger(log, 'listen-key keepalive (PUT /fapi/v1/listenKey)');
  const keepalive = setInterval(() => {
    if (stopped || !userUp) return;
    void gate
      .call(1, () => rest.keepAliveFuturesUserDataListenKey())
      .then(
        () => {
          keepalives++;
          keepaliveLog.ok();
        },
        (err: unknown) => {
          if (!stopped) keepaliveLog.fail(err);
        },
      );
  }, timings.listenKeyKeepaliveMs ?? 30 * MINUTE);
  keepalive.unref();

  // Filters change: refresh them hourly.
  const refresh = setInterval(() => {
    void gate
      .call(1, () => rest.getExchangeInfo())
      .then((raw) => {
        const fresh = parseExchangeInfo(raw, 'GET /fapi/v1/exchangeInfo');
        for (const s of symbols) fresh.get(s); // a traded symbol's entry broken: keep the previous filters
        warnProblems(fresh, log);
        rules.replace(fresh);
      })
      .catch((err: unknown) => log.warn(`exchangeInfo refresh failed (the previous filters stay): ${errorMessage(err)}`));
  }, config.live.exchangeInfoRefreshMinutes * MINUTE);
  refresh.unref();

  timings.beforeRun?.(k);
  const done = k.run().then(() => undefined);
  return {
    kernel: k,
    venue,
    ready,
    done,
    stop: async () => {
      stopped = true;
      stopping.abort();
      clearInterval(poller);
      clearInterval(refresh);
      clearInterval(keepalive);
      closeUserDataClient(userWs);
      k.requestStop();
      await done.catch(() => undefined);
      // A start-up step in flight (a REST call, a user-stream subscription) may still answer after
      // the close above: wait for start-up to see `stopped` (bounded by the 10 s REST timeout),
      // then close again, so nothing logs or writes after the caller closes the kernel.
      await Promise.race([ready, new Promise((r) => setTimeout(r, 11_000).unref())]);
      closeUserDataClient(userWs);
    },
  };
}
