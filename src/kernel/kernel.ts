/**
 * The kernel: wires the same components in every mode (ARCHITECTURE.md, "The flow").
 *
 *   market data source ─► bus ─► strategies ─► bus ─► executor ─► venue
 *                                                         │
 *          order.update / account.update  ◄───────────────┘
 *   recorder (database/) subscribes to what is worth keeping; the heartbeat reads every part.
 *
 * Only the market-data source, the venue and the clock differ by mode. This module holds the
 * replay mode (recorded klines, simulated venue, replay clock); paper and live plug a websocket
 * source, a Binance venue and the wall clock into the same {@link Kernel}.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { EventBus } from '../bus/bus.ts';
import type { Config } from '../config/schema.ts';
import { redactConfig } from '../config/load.ts';
import { ReplayClock, type Clock } from '../core/clock.ts';
import { Decimal } from '../core/decimal.ts';
import { PerpbotError, errorMessage } from '../core/errors.ts';
import type { Kline, KlineClosed, MarkPriceUpdated, Mode, Symbol } from '../core/types.ts';
import { HeartbeatWriter } from '../health/heartbeat.ts';
import { ReplaySource, type ReplayData } from '../market/replay-source.ts';
import type { MarketDataSource, MarketFeed } from '../market/source.ts';
import { SimVenue } from '../exchange/sim/sim-venue.ts';
import { PerformanceTracker } from '../backtest/performance.ts';
import { Alerter } from '../alerts/slack.ts';
import { Alerts } from '../alerts/alerts.ts';
import { buildReport, type BacktestReport } from '../backtest/report.ts';
import type { FundingBook } from '../backtest/funding.ts';
import { TradeLedger } from '../backtest/trades.ts';
import { startStrategies, type StrategyInstance } from './strategy-host.ts';
import { Executor } from '../../executor/executor.ts';
import { isStopId } from '../../executor/protective-stops.ts';
import type { ExchangeRules } from '../../executor/exchange-info.ts';
import { validateOrder } from '../../executor/filters.ts';
import type { RiskLimits } from '../../executor/risk.ts';
import type { Venue, VenueEvent } from '../../executor/venue.ts';
import { openDatabase, type Db } from '../../database/client.ts';
import { ThreadedRecordWriter, type RunWriter } from '../../database/writer-thread.ts';
import { IntentJournal, replayIntentJournal } from '../../database/intent-journal.ts';
import { startRecorder, type Recorder } from '../../database/recorder.ts';
import { startTradeLog } from '../logging/trade-log.ts';
import { KernelHealth, type HealthSnapshot, type UnknownOrder } from './kernel-health.ts';
import { startWallClockJobs, type WallClockJobs } from './kernel-jobs.ts';

/** Risk limits from the validated config. */
export function riskLimitsFrom(config: Config): RiskLimits {
  const r = config.risk;
  return {
    maxOpenPositions: r.maxOpenPositions,
    maxNotionalPerSymbol: new Decimal(r.maxNotionalPerSymbol),
    maxDailyQuantity: new Map(Object.entries(r.maxDailyQuantity).map(([s, q]) => [s, new Decimal(q)])),
    dailyLossLimit: new Decimal(r.dailyLossLimit),
    maxConsecutiveLosses: r.maxConsecutiveLosses,
    haltCooldownMinutes: r.haltCooldownMinutes,
    fundingBlackoutMinutes: r.fundingBlackoutMinutes,
    maxSignalAgeMs: r.maxSignalAgeMs,
  };
}

/**
 * The in-process simulated venue configured from `sim.*`: fees, slippage rounded to each symbol's
 * tick, starting balance, and the exchange filters enforced as Binance would (its error codes).
 * Replay and paper use it; `rules` may be refreshed underneath (it is read per order).
 */
export function simulatedVenue(config: Config, rules: ExchangeRules, clock: Clock): SimVenue {
  return new SimVenue({
    clock,
    config: {
      takerFeeRate: config.sim.takerFeeRate,
      makerFeeRate: config.sim.makerFeeRate,
      slippageBps: config.sim.slippageBps,
      startingBalance: config.sim.startingBalance,
      tickSize: (s) => (rules.has(s) ? new Decimal(rules.get(s).priceFilter.tickSize) : undefined),
      validate: (intent) => {
        const v = validateOrder(rules.get(intent.symbol), intent);
        return v ? { code: v.code, reason: v.reason } : null;
      },
    },
  });
}

/** A new run id: `<mode>-<UTC yyyymmddThhmmss>-<6 hex>`. */
export function newRunId(mode: Mode, now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `${mode}-${t}-${randomBytes(3).toString('hex')}`;
}

/** What the kernel is built from. */
export interface KernelOptions {
  config: Config;
  mode: Mode;
  rules: ExchangeRules;
  symbols: Symbol[];
  log: Logger;
  /** Heartbeat on (the long-lived bot) or off (a backtest that only wants its report). */
  heartbeat: boolean;
  /** Run id; a new one by default. Live and paper use one per account, resumed across restarts. */
  runId?: string;
  /** Continue the run if it exists (live and paper). */
  resumeRun?: boolean;
  /** Account equity at start, USDT (live: the wallet balance); default `sim.startingBalance`. */
  startingEquity?: string;
  /** Start with trading HALTED for this reason (live: until start-up is done); default ACTIVE. */
  startHalted?: string;
  /** Replay only: funding rates to charge/credit at each funding time (see backtest/funding.ts); none = no funding. */
  funding?: FundingBook;
  /**
   * The database, opened earlier by {@link openStorage} (with `runId`), so that the writer
   * thread's start-up overlaps the caller's own work (replay: loading the data). Default: opened
   * here.
   */
  storage?: Storage;
}

/**
 * The database connection of the bot's thread and the writer of one run: the writer thread
 * ({@link openStorage}), or an `InlineRecordWriter` on the same connection (optimiser trials).
 */
export interface Storage {
  db: Db;
  writer: RunWriter;
}

/**
 * Open the database (creating and migrating it on this thread first) and start the writer thread
 * for `runId`, without waiting for the thread: pass the result as `KernelOptions.storage` with the
 * same `runId`.
 * @throws PerpbotError DATABASE when the file cannot be opened or migrated
 */
export function openStorage(dbFile: string, runId: string): Storage {
  const db = openDatabase(dbFile);
  return { db, writer: ThreadedRecordWriter.start(dbFile, runId) };
}

/**
 * The kernel of one run. Build with {@link Kernel.forReplay}, then {@link Kernel.replay}.
 * Call {@link Kernel.close} in every case (it flushes the database and marks the heartbeat).
 */
export class Kernel {
  readonly bus: EventBus;
  readonly runId: string;
  readonly startedAt = Date.now();
  readonly db: Db;
  readonly writer: RunWriter;
  /** The write-ahead journal of order intents (live only: a remote venue); null otherwise. */
  readonly intents: IntentJournal | null = null;
  readonly executor: Executor;
  readonly strategies: StrategyInstance[];
  readonly perf: PerformanceTracker;
  /**
   * When the first kline entered the pipeline, ms since the process started
   * (`performance.now()`); null before. Start-up cost as a user feels it (`perpbot run` prints it).
   */
  firstKlineAt: number | null = null;
  /** Round trips built from the fills (for the report, `--trades`, the HTML report). */
  readonly trades = new TradeLedger();
  /** Per symbol: the first kline's open and the last kline's close seen (buy-and-hold benchmark). */
  readonly prices = new Map<Symbol, { first: string; last: string }>();
  /** Replayed span: first kline open, last kline close + 1 (UTC epoch ms). */
  private span: { from: number; to: number } | null = null;
  readonly heartbeat: HeartbeatWriter | null;
  /** The Slack transport (posts only what {@link Kernel.alerts} decides). */
  readonly alerter: Alerter;
  /**
   * The alert policy (src/alerts/catalogue.ts): raise every alert here, e.g.
   * `kernel.alerts.raise('operatorCommand', { command: 'halt', by: 'api', detail })`.
   */
  readonly alerts: Alerts;
  private readonly recorder: Recorder;
  private readonly topics = new Map<Symbol, `market.kline.${string}`>();
  private readonly markTopics = new Map<Symbol, `market.markPrice.${string}`>();
  /** The heartbeat's snapshot, the incident checks and the state they read (kernel-health.ts). */
  private readonly health: KernelHealth;
  /** Paper and live: the tick and the cron jobs on the wall clock (kernel-jobs.ts); null in replay. */
  private readonly jobs: WallClockJobs | null;
  private closed = false;
  private klines = 0;

  private constructor(
    private readonly o: KernelOptions,
    readonly clock: Clock,
    readonly venue: Venue,
    /** Set for the simulated venue: the kernel feeds it market data before the strategies. */
    private readonly sim: SimVenue | null,
    /** Where market data comes from. */
    readonly source: MarketDataSource,
    /** Wait for the bus to drain after each minute (replay: deterministic results). */
    private readonly drainEachStep: boolean,
  ) {
    const { config, log } = o;
    this.runId = o.runId ?? newRunId(o.mode, this.startedAt);
    this.health = new KernelHealth(this, o, () => ({ klines: this.klines, closed: this.closed }));
    const alertLog = log.child({ component: 'alerts' });
    this.alerter = new Alerter(config.alerts, alertLog);
    this.alerts = new Alerts({
      sink: this.alerter.enabled ? this.alerter : null,
      log: alertLog,
      who: `perpbot ${o.mode} ${this.runId}`,
      maxPerMinute: config.alerts.maxPerMinute,
    });
    this.bus = new EventBus({
      // Replay: handlers run from the bus's run queue (same order, fewer promises).
      runQueue: drainEachStep,
      onHandlerError: (subscriber, err, msg) => {
        this.health.noteError(`${subscriber}: ${errorMessage(err)}`);
        log.error({ err, subscriber, msgType: msg.type }, 'bus handler failed');
      },
    });
    // This connection creates/migrates the file and serves health checks; every write goes
    // through the writer thread's connection (one writer: no lock contention).
    this.db = o.storage?.db ?? openDatabase(config.db);
    // A remote venue's orders are written ahead to the intent journal; what an earlier process
    // journaled and did not record yet goes into the database first, before anything reads it.
    if (!sim) {
      replayIntentJournal(config.db, this.db, log);
      this.intents = IntentJournal.open(config.db, { runId: this.runId, db: this.db, fsync: config.live.fsyncIntents });
    }
    this.writer = o.storage?.writer ?? ThreadedRecordWriter.start(config.db, this.runId);
    this.writer.setErrorHandler((message) => {
      // What is not recorded cannot be recovered: stop trading until an operator looks.
      this.health.noteError(message);
      this.alerts.raise('databaseWrite', { message });
      void this.bus.publish('order.request', { type: 'SetTradingState', ts: this.clock.now(), state: 'HALTED', reason: `database: ${message}` });
    });
    this.writer.startRun({ id: this.runId, mode: o.mode, startedAt: this.startedAt, configJson: JSON.stringify(redactConfig(config)) }, { resume: o.resumeRun === true });
    this.recorder = startRecorder(this.bus, this.writer, {
      recordCandles: config.recordCandles,
      flushIntervalMs: 250,
      onFlushError: (err) => this.health.noteError(`database flush: ${errorMessage(err)}`),
    });
    for (const s of o.symbols) {
      this.topics.set(s, `market.kline.${s}`);
      this.markTopics.set(s, `market.markPrice.${s}`);
    }

    venue.onEvent((e: VenueEvent) => {
      if (e.type === 'PositionChanged') {
        this.perf.onPosition(e.position);
        void this.bus.publish('account.update', e);
      } else void this.bus.publish('order.update', e);
    });

    this.executor = new Executor({
      bus: this.bus,
      venue,
      rules: o.rules,
      clock,
      sizing: config.sizing,
      limits: riskLimitsFrom(config),
      // Write-ahead exists to recover orders a remote exchange may hold after a crash. The
      // simulated venue lives in this process and dies with it, so its intents are recorded by
      // the recorder from OrderSubmitted, like every other event; a remote venue's intent is
      // appended to the intent journal (one write(2), durable against a process crash) before
      // the order leaves, and recorded by the recorder from OrderSubmitted (database/intent-journal.ts).
      journal: { recordIntent: this.intents ? (intent) => this.intents!.append(intent) : () => true },
      log: log.child({ component: 'executor' }),
      startingEquity: o.startingEquity ?? config.sim.startingBalance,
      limitOrderTtlMs: config.live.limitOrderTtlMs,
      exchangeStop: config.risk.exchangeStop,
      ...(o.startHalted ? { initialTradingState: { state: 'HALTED' as const, reason: o.startHalted } } : {}),
    });
    this.executor.start();
    // One readable line per signal, order, fill and position change: info in paper and live,
    // debug in replay/backtest (thousands of trades; the database has them all).
    startTradeLog(this.bus, log.child({ component: 'trades' }), drainEachStep ? 'debug' : 'info');
    this.strategies = startStrategies(this.bus, config.strategies, o.symbols, clock, log.child({ component: 'strategy' }), { sessions: config.sessions });
    this.perf = new PerformanceTracker(Number(o.startingEquity ?? config.sim.startingBalance));
    this.bus.consume('risk.state', () => this.heartbeat?.write(), { name: 'heartbeat' });
    this.bus.consume('order.update', (e) => this.trades.onOrderEvent(e), { name: 'trades' });
    this.alerts.watch(this.bus, config.alerts.largeLoss, drainEachStep ? {} : { isProtectiveStop: isStopId });

    this.heartbeat = o.heartbeat
      ? new HeartbeatWriter(config.heartbeat.file, config.heartbeat.intervalMs, () => this.health.snapshot(), (err) =>
          log.error({ err }, 'heartbeat write failed'),
        )
      : null;
    this.heartbeat?.start();
    this.jobs = drainEachStep ? null : startWallClockJobs(this, config, o.mode, log);
  }

  /**
   * Where the orders of unknown outcome come from (live: the Binance venue), each with the time
   * its outcome became unknown (UTC epoch ms, the venue's clock), for `orderOutcomeUnknown`.
   */
  setUnknownOrderSource(fn: () => UnknownOrder[]): void {
    this.health.unknownOrders = fn;
  }

  /**
   * Once a second (paper, live): raise `streamStale` for streams stale past
   * `alerts.streamStaleSeconds` and `orderOutcomeUnknown` for orders unknown past
   * `alerts.orderUnknownSeconds`; resolve them when they end.
   */
  checkIncidents(): void {
    this.health.checkIncidents();
  }

  /**
   * A kernel for replay: replay clock, simulated venue enforcing the same exchange filters.
   * @throws PerpbotError DATABASE when the database cannot be opened, STRATEGY_* for bad strategy config
   */
  static forReplay(o: KernelOptions, data: ReplayData): Kernel {
    const clock = new ReplayClock(0);
    const sim = simulatedVenue(o.config, o.rules, clock);
    return new Kernel(o, clock, sim, sim, new ReplaySource(data, clock), true);
  }

  /**
   * A kernel for a market data source that is not a replay (paper, live): wall clock, no
   * per-minute drain (market data does not wait for the bot). `sim` is the simulated venue in
   * paper mode (fed klines and mark prices), null in live mode.
   */
  static forSource(o: KernelOptions, parts: { clock: Clock; venue: Venue; sim: SimVenue | null; source: MarketDataSource }): Kernel {
    return new Kernel(o, parts.clock, parts.venue, parts.sim, parts.source, false);
  }

  /** Publish a command or event on the bus from outside (reconciliation, operator commands). */
  publish: EventBus['publish'] = (topic, msg) => this.bus.publish(topic, msg);

  /** Ask a running bot to stop after the current step (SIGINT/SIGTERM). */
  requestStop(): void {
    this.source.stop();
    this.heartbeat?.finish('stopping');
  }

  /** Record a problem for the heartbeat's lastError (e.g. the exchange cannot be reached) and write it now. */
  noteProblem(message: string): void {
    this.health.noteError(message);
    this.heartbeat?.write();
  }

  /** Extra counters for the heartbeat (the live venue's, the rate-limit usage). */
  setCounterSource(fn: () => Record<string, number>): void {
    this.health.extraCounters = fn;
  }

  /** The measured offset to the exchange's clock, ms (exchange − local), shown in the heartbeat. */
  setClockOffset(ms: number): void {
    this.health.clockOffsetMs = ms;
  }

  /**
   * The feed every market data source writes into. For each minute's klines: the simulated venue
   * (if any) sees them first, as an exchange sees prices before anyone else (orders placed on the
   * previous close fill at this kline's open); then they are published; in replay the bus is then
   * run until it is idle, so every decision and order is made before the next minute.
   */
  private readonly feed: MarketFeed = {
    klines: (group: readonly Kline[]): Promise<void> | undefined => {
      this.firstKlineAt ??= performance.now();
      const sim = this.sim;
      if (sim) for (let i = 0; i < group.length; i++) sim.onKline(group[i] as Kline);
      const ts = this.clock.now();
      // Replay: the strategies and the recorder handle the minute right here (EventBus.endInline).
      const inline = this.bus.beginInline();
      let wait: Promise<void> | undefined;
      let i = 0;
      try {
        while (i < group.length && wait === undefined) wait = this.publishKline(group[i++] as Kline, ts);
      } finally {
        if (inline) this.bus.endInline();
      }
      // A full queue (backpressure): the rest of the minute goes on once there is room.
      if (wait !== undefined) return wait.then(() => this.publishRest(group, i, ts));
      return this.afterMinute(group.length);
    },
    markPrice: (m: MarkPriceUpdated): void => {
      this.sim?.onMarkPrice(m.symbol, m.markPrice, m.ts);
      const topic = this.markTopics.get(m.symbol);
      if (topic !== undefined) void this.bus.publish(topic, m);
    },
    healthChanged: (): void => this.heartbeat?.write(),
  };

  /** Account for one kline (prices, span, funding, equity curve) and publish it; a promise on backpressure. */
  private publishKline(k: Kline, ts: number): Promise<void> | undefined {
    const p = this.prices.get(k.symbol);
    if (p === undefined) this.prices.set(k.symbol, { first: k.open, last: k.close });
    else p.last = k.close;
    if (this.span === null) this.span = { from: k.openTime, to: k.closeTime + 1 };
    else if (k.closeTime + 1 > this.span.to) this.span.to = k.closeTime + 1;
    const funding = this.o.funding;
    const sim = this.sim;
    if (funding && sim) {
      // After the venue matched this kline: the position held at the funding time.
      const pay = funding.onKline(k, () => sim.engine.position(k.symbol).quantity);
      if (pay) this.perf.onFunding(Number(pay.amount), pay.time);
    }
    this.perf.onKline(k);
    const topic = this.topics.get(k.symbol);
    if (topic === undefined) return undefined; // not a symbol of this run
    const ev: KlineClosed = { type: 'KlineClosed', ts, kline: k };
    return this.bus.publish(topic, ev);
  }

  /** The minute's klines from `from` on, after backpressure let go. */
  private async publishRest(group: readonly Kline[], from: number, ts: number): Promise<void> {
    for (let i = from; i < group.length; i++) {
      const wait = this.publishKline(group[i] as Kline, ts);
      if (wait !== undefined) await wait;
    }
    await this.afterMinute(group.length);
  }

  /**
   * The end of a minute: in replay, wait until every decision and order the minute caused is done
   * (nothing to wait for when the minute's handlers all ran inline: no promise per minute); then
   * the executor's timers and the writer's backpressure. A promise only when something must be
   * waited for.
   */
  private afterMinute(count: number): Promise<void> | undefined {
    this.klines += count;
    if (this.drainEachStep && (!this.bus.idle || this.executor.stops?.pending() != null)) return this.settle();
    return this.tickAndPace();
  }

  /** Replay: wait for the bus, and the protective stops' venue calls its events started (they publish again). */
  private async settle(): Promise<void> {
    const bus = this.bus;
    for (let p = this.executor.stops?.pending() ?? null; !bus.idle || p !== null; p = this.executor.stops?.pending() ?? null) {
      if (!bus.idle) await bus.drain();
      if (p !== null) await p;
    }
    await this.tickAndPace();
  }

  /** The executor's timers; then, a promise when the writer thread is more than a few batches behind (backpressure). */
  private tickAndPace(): Promise<void> | undefined {
    this.executor.tick();
    return this.writer.backlog > 16 ? this.writer.waitForBacklog(4) : undefined;
  }

  /**
   * Run the source through the whole pipeline until it ends (replay) or is stopped; then wait
   * for every record to be committed and build the report.
   * @throws PerpbotError DATABASE when a database write failed during the run
   */
  async run(): Promise<BacktestReport> {
    const t0 = performance.now();
    await this.source.run(this.feed);
    await this.bus.drain();
    // Wait for every record, candles included, to be committed: that is part of the run.
    this.recorder.stop();
    await this.writer.waitForBacklog(0);
    const elapsedMs = performance.now() - t0;
    if (this.writer.errorCount > 0) {
      throw new PerpbotError('DATABASE', `${this.writer.errorCount} database write(s) failed (first: ${this.health.lastError?.message ?? 'see the log'}); the run's records are incomplete`);
    }
    const replay = this.source instanceof ReplaySource ? this.source : null;
    return buildReport({
      runId: this.runId,
      mode: this.o.mode,
      files: replay?.data.files ?? [],
      symbols: [...this.source.symbols],
      candles: this.klines,
      elapsedMs,
      executor: this.executor,
      perf: this.perf.summary(),
      bus: this.bus.stats(),
      dbFile: this.db.file,
      stopped: replay?.interrupted ?? false,
      startingBalance: this.o.config.sim.startingBalance,
      trades: this.trades.trades(this.o.funding?.payments ?? []),
      funding: this.o.funding ?? null,
      prices: this.prices,
      span: this.span,
    });
  }

  /** What the heartbeat says now (its fields without status and time): for tests and tools. */
  healthSnapshot(): HealthSnapshot {
    return this.health.snapshot();
  }

  /**
   * Flush and close everything; end the run row with its summary and mark the heartbeat stopped.
   * Safe to call twice.
   */
  async close(summary: object | null, status: 'completed' | 'stopped' | 'failed'): Promise<void> {
    if (this.closed) return;
    await this.jobs?.stop();
    for (const inst of this.strategies) {
      try {
        inst.strategy.stop?.();
      } catch (err) {
        this.o.log.error({ err, strategy: inst.strategyId, symbol: inst.symbol }, 'strategy stop failed');
      }
    }
    try {
      this.recorder.stop();
      this.writer.endRun(this.runId, { endedAt: Date.now(), status, summaryJson: summary ? JSON.stringify(summary) : null });
      await this.writer.close();
      this.intents?.close();
      // Replay and backtest: only an abnormal end is worth a message; paper and live: every stop.
      if (status !== 'completed' || this.jobs !== null) this.alerts.raise('botStopped', { mode: this.o.mode, runId: this.runId, status });
      this.alerts.stop();
      await this.alerter.flush();
    } finally {
      this.heartbeat?.finish('stopped');
      this.closed = true;
      this.bus.close();
      this.db.close();
    }
  }
}
