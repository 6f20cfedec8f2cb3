/**
 * The health of a running kernel, as it reports it: the heartbeat's snapshot (every part's state:
 * market-data sources, database, risk, positions, open orders, the last error, counters), the
 * incident checks that raise and resolve `streamStale` and `orderOutcomeUnknown`, and the state
 * only these read (the last problem noted, the clock offset to the exchange, extra counters, the
 * orders of unknown outcome). Cold code: nothing here runs per kline. Split from kernel.ts.
 */
import { checkDatabase } from '../../database/client.ts';
import type { Kernel, KernelOptions } from './kernel.ts';

/** An order whose outcome is unknown (sent, no answer), and since when (UTC epoch ms, the venue's clock). */
export interface UnknownOrder {
  clientOrderId: string;
  symbol: string;
  since: number;
}

/** What the heartbeat says of a kernel now, without status and time: see {@link KernelHealth.snapshot}. */
export type HealthSnapshot = ReturnType<KernelHealth['snapshot']>;

/**
 * One kernel's health state and what is built from it. Reads the kernel's parts (source, executor,
 * bus, database, clock, heartbeat, alerts) when asked, never before: it may be built while the
 * kernel is being constructed.
 */
export class KernelHealth {
  /** The last problem noted (the heartbeat's `lastError`; `at` UTC epoch ms), null before any. */
  lastError: { message: string; at: number } | null = null;
  /** The measured offset to the exchange's clock, ms (exchange − local); null when not measured. */
  clockOffsetMs: number | null = null;
  /** Extra counters merged into the heartbeat's (the live venue's, the rate-limit usage). */
  extraCounters: () => Record<string, number> = () => ({});
  /** The orders of unknown outcome now (live: the Binance venue's); none by default. */
  unknownOrders: () => UnknownOrder[] = () => [];

  /**
   * @param k the kernel reported on
   * @param o its options (mode, `config.alerts` thresholds, log)
   * @param progress the kernel's klines published so far and whether it is closed (its database
   *   connection then is too), read per snapshot
   */
  constructor(
    private readonly k: Kernel,
    private readonly o: KernelOptions,
    private readonly progress: () => { klines: number; closed: boolean },
  ) {}

  /** Note a problem for the heartbeat's `lastError`, timed now (wall clock). */
  noteError(message: string): void {
    this.lastError = { message, at: Date.now() };
  }

  /**
   * The heartbeat document's fields but status and time: pid, mode, run, the sources' health, a
   * database check (`closed` once the kernel is), the trading state, non-zero positions, open
   * orders, the last error (else the executor's), the clock offset (ms), the data time (UTC epoch
   * ms, null before any) and the counters. Reads the database (a check query) unless closed.
   */
  snapshot() {
    const k = this.k;
    const { klines, closed } = this.progress();
    const now = Date.now();
    const sources = k.source.health();
    const ts = k.executor.tradingState();
    const bus = k.bus.stats();
    const dbCheck = closed ? { ok: true, detail: 'closed' } : checkDatabase(k.db);
    return {
      pid: process.pid,
      mode: this.o.mode,
      runId: k.runId,
      startedAt: k.startedAt,
      sources,
      database: { ...dbCheck, file: k.db.file },
      risk: { state: ts.state, reason: ts.reason || null, consecutiveLosses: ts.consecutiveLosses },
      positions: k.executor.positionSnapshot(),
      openOrders: k.executor.openOrders().map((o) => ({
        clientOrderId: o.clientOrderId,
        symbol: o.symbol,
        side: o.side,
        type: o.type,
        quantity: o.quantity,
        price: o.price ?? null,
      })),
      lastError: this.lastError ?? (k.executor.error ? { message: k.executor.error, at: now } : null),
      clockOffsetMs: this.clockOffsetMs,
      dataTime: k.clock.now() || null,
      counters: {
        klines,
        signals: k.executor.stats.signals,
        ordersSubmitted: k.executor.stats.submitted,
        ordersDenied: k.executor.stats.denied,
        fills: k.executor.stats.fills,
        // Activity on the account that perpbot did not place (recorded, alerted, in no strategy figure).
        externalOrders: k.executor.stats.externalOrders,
        externalFills: k.executor.stats.externalFills,
        busPublished: bus.published,
        busConflated: bus.conflated,
        busHandlerErrors: bus.handlerErrors,
        heartbeatWriteErrors: k.heartbeat?.errors ?? 0,
        ...this.extraCounters(),
      },
    };
  }

  /**
   * The incident checks ({@link Kernel.checkIncidents}): a stream counts as stale in state
   * `stale`, `disconnected` or `connecting`; ages are rounded to whole seconds in the alerts.
   * Never throws: a failure is logged at warn and the next call tries again.
   */
  checkIncidents(): void {
    const k = this.k;
    const a = this.o.config.alerts;
    try {
      const stale = new Set<string>();
      for (const [stream, h] of Object.entries(k.source.health())) {
        const age = h.ageMs ?? 0;
        if (h.state === 'stale' || h.state === 'disconnected' || h.state === 'connecting') {
          if (age >= a.streamStaleSeconds * 1000) {
            stale.add(stream);
            k.alerts.raise('streamStale', { stream, ageSeconds: Math.round(age / 1000) });
          } else if (k.alerts.open('streamStale').includes(stream)) stale.add(stream);
        }
      }
      k.alerts.resolveAllExcept('streamStale', stale, 'resolved: data flows again');
      const now = k.clock.now();
      const unknown = new Set<string>();
      for (const o of this.unknownOrders()) {
        unknown.add(o.clientOrderId);
        const age = now - o.since;
        if (age >= a.orderUnknownSeconds * 1000) k.alerts.raise('orderOutcomeUnknown', { clientOrderId: o.clientOrderId, symbol: o.symbol, ageSeconds: Math.round(age / 1000) });
      }
      k.alerts.resolveAllExcept('orderOutcomeUnknown', unknown, 'resolved: the outcome is known');
    } catch (err) {
      this.o.log.warn({ err }, 'incident check failed');
    }
  }
}
