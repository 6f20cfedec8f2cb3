/**
 * The alert policy: every alert of the {@link CATALOGUE} goes through {@link Alerts.raise}.
 *
 * - Dedup: an alert and its dedup key name one incident. Its first raise is sent; repeats within
 *   the entry's cooldown are counted, not sent; a repeat after the cooldown sends one reminder
 *   ("still happening: N more since …").
 * - Resolved: {@link Alerts.resolve} (or, for entries with `quietResolveMs`, a quiet period without
 *   repeats, checked by {@link Alerts.sweep}) ends the incident and sends "resolved" with how many
 *   times it happened. Resolving an incident that was never raised sends nothing.
 * - Rate limit: at most `maxPerMinute` messages per channel in any 60 s; more are dropped,
 *   counted ({@link Alerts.stats}) and logged at warn.
 * - Every alert, sent or not, is logged (info/warn/error by severity; suppressed repeats at debug).
 *
 * Operator commands (the HTTP API, the CLI): `alerts.raise('operatorCommand', { command: 'halt',
 * by: 'api', detail: 'reason …' })`.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../bus/bus.ts';
import { Decimal } from '../core/decimal.ts';
import { scrub } from '../logging/scrub.ts';
import { CATALOGUE, type AlertDetails, type AlertName, type AlertSpec, type Severity } from './catalogue.ts';

/** Where messages go (the Slack {@link Alerter}, or a fake in tests). */
export interface AlertSink {
  /** The channel messages go to (the rate limit is per channel). */
  readonly channel: string;
  /** Post one message (fire-and-forget; the sink counts and logs its own failures). */
  post(text: string): void;
}

/** Options of {@link Alerts}. */
export interface AlertsOptions {
  /** Where messages go; null = the log only. */
  sink: AlertSink | null;
  log: Logger;
  /** Prefix naming the bot instance, e.g. `perpbot live live-…`. */
  who: string;
  /** Messages per channel per 60 s. Default 20. */
  maxPerMinute?: number;
  /** Wall clock, UTC epoch ms (injectable for tests). Default Date.now. */
  now?: () => number;
}

interface Incident {
  name: AlertName;
  key: string;
  severity: Severity;
  firstAt: number;
  lastAt: number;
  /** When a message about it was last sent (raise or reminder). */
  lastSentAt: number;
  /** Raises since the first, in all. */
  count: number;
  /** Raises not sent since the last message. */
  suppressed: number;
  text: string;
}

/** Counters of what the policy did. */
export interface AlertStats {
  raised: number;
  sent: number;
  suppressed: number;
  resolved: number;
  rateLimited: number;
}

const LOG_LEVEL: Record<Severity, 'info' | 'warn' | 'error'> = { info: 'info', warning: 'warn', critical: 'error' };

/** The alert policy over one sink. */
export class Alerts {
  private readonly incidents = new Map<string, Incident>();
  private readonly sentTimes = new Map<string, number[]>();
  private readonly now: () => number;
  private readonly maxPerMinute: number;
  private readonly counters: AlertStats = { raised: 0, sent: 0, suppressed: 0, resolved: 0, rateLimited: 0 };
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly o: AlertsOptions) {
    this.now = o.now ?? Date.now;
    this.maxPerMinute = o.maxPerMinute ?? 20;
  }

  /**
   * Raise an alert of the catalogue.
   * @returns true when a message was sent (first raise or reminder), false when deduplicated or rate-limited
   */
  raise<N extends AlertName>(name: N, details: AlertDetails[N]): boolean {
    const spec = CATALOGUE[name] as AlertSpec<AlertDetails[N]>;
    const now = this.now();
    const key = spec.key(details);
    const id = `${name}:${key}`;
    const severity = typeof spec.severity === 'function' ? spec.severity(details) : spec.severity;
    const text = scrub(spec.text(details));
    this.counters.raised++;
    const cur = this.incidents.get(id);
    if (cur && spec.cooldownMs > 0) {
      cur.count++;
      cur.lastAt = now;
      cur.text = text;
      if (now - cur.lastSentAt < spec.cooldownMs) {
        cur.suppressed++;
        this.counters.suppressed++;
        this.o.log.debug({ alert: name, key, repeats: cur.count }, `alert repeated (suppressed): ${text}`);
        return false;
      }
      const more = cur.suppressed;
      cur.suppressed = 0;
      cur.lastSentAt = now;
      return this.emit(severity, name, `still happening (${more} more since ${iso(cur.firstAt)}): ${text}`);
    }
    if (spec.cooldownMs > 0 || spec.resolvable) {
      this.incidents.set(id, { name, key, severity, firstAt: now, lastAt: now, lastSentAt: now, count: 1, suppressed: 0, text });
    }
    return this.emit(severity, name, text);
  }

  /**
   * The condition behind an alert ended: send "resolved" if it was raised (and is resolvable).
   * @param key the dedup key the catalogue gives it (e.g. the stream, the client order id)
   * @returns true when a "resolved" message was sent
   */
  resolve(name: AlertName, key: string, why = 'resolved'): boolean {
    return this.end(`${name}:${key}`, why);
  }

  /** Resolve every open incident of `name` whose key is not in `keep` (e.g. streams no longer stale). */
  resolveAllExcept(name: AlertName, keep: ReadonlySet<string>, why = 'resolved'): void {
    for (const inc of [...this.incidents.values()]) if (inc.name === name && !keep.has(inc.key)) this.end(`${inc.name}:${inc.key}`, why);
  }

  /** Keys of the open incidents of `name`. */
  open(name: AlertName): string[] {
    return [...this.incidents.values()].filter((i) => i.name === name).map((i) => i.key);
  }

  /** End incidents quiet past their `quietResolveMs`, and forget non-resolvable ones past their cooldown. */
  sweep(): void {
    const now = this.now();
    for (const [id, inc] of [...this.incidents]) {
      const spec = CATALOGUE[inc.name] as AlertSpec<unknown>;
      if (spec.quietResolveMs !== undefined && now - inc.lastAt >= spec.quietResolveMs) {
        this.end(id, `resolved (no repeat for ${Math.round(spec.quietResolveMs / 1000)}s)`);
      } else if (!spec.resolvable && now - inc.lastAt >= spec.cooldownMs) this.incidents.delete(id);
    }
  }

  /** Sweep every `ms` (unref'd timer) until {@link Alerts.stop}. */
  startSweeping(ms = 5_000): void {
    this.sweeper ??= setInterval(() => this.sweep(), ms);
    this.sweeper.unref();
  }

  /** Stop the sweeping timer. */
  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** What the policy did so far. */
  stats(): AlertStats {
    return { ...this.counters };
  }

  /**
   * Subscribe to the bus: trading-state changes (`risk.state`) raise `tradingState` (a return to
   * ACTIVE resolves it; the routine "starting:" halt of a live start-up and its lifting are
   * logged, not sent) and losing fills (`order.update`) past `largeLoss` USDT raise `largeLoss`.
   * @param largeLoss USDT as a decimal string; "0" = off
   */
  watch(bus: EventBus, largeLoss = '0', opts: { isProtectiveStop?: (clientOrderId: string) => boolean } = {}): void {
    const limit = new Decimal(largeLoss);
    bus.consume(
      'risk.state',
      (e) => {
        const routine = (e.state === 'HALTED' && e.reason.startsWith('starting:')) || (e.state === 'ACTIVE' && this.open('tradingState').length === 0);
        if (routine) {
          this.o.log.info({ alert: 'tradingState', routine: true }, `trading ${e.previous} → ${e.state}: ${e.reason}`);
          return;
        }
        if (e.state === 'ACTIVE') {
          this.resolveAllExcept('tradingState', new Set(), `resolved: trading ${e.previous} → ACTIVE: ${e.reason}`);
          return;
        }
        // A new state replaces the previous incident (HALTED after REDUCING, or the reverse).
        this.resolveAllExcept('tradingState', new Set([e.state]), `now ${e.state}`);
        this.raise('tradingState', { state: e.state, previous: e.previous, reason: e.reason });
      },
      { name: 'alerts' },
    );
    // Activity on the account that perpbot did not place: once per order (its first event).
    const seen = new Set<string>();
    bus.consume(
      'order.update',
      (e) => {
        if (e.type === 'OrderSubmitted' || e.type === 'OrderDenied' || e.external === undefined) return;
        const id = e.type === 'OrderFilled' ? e.fill.clientOrderId : e.clientOrderId;
        if (seen.has(id)) return;
        if (seen.size >= 10_000) seen.clear();
        seen.add(id);
        const x = e.external;
        const what = e.type === 'OrderFilled' ? `filled ${e.fill.side} ${e.fill.quantity} @ ${e.fill.price}` : `${x.side} ${x.type} ${x.quantity}${x.price !== '0' ? ` @ ${x.price}` : ''}`;
        this.raise('externalOrder', { clientOrderId: id, symbol: e.type === 'OrderFilled' ? e.fill.symbol : e.symbol, what });
      },
      { name: 'alerts-external' },
    );
    // Protective stops (paper, live): a refused stop leaves its position unprotected until a stop
    // is accepted for the symbol or the position is flat.
    const isStop = opts.isProtectiveStop;
    if (isStop) {
      bus.consume(
        ['order.update', 'account.update'],
        (e) => {
          if (e.type === 'OrderRejected' && isStop(e.clientOrderId)) {
            this.raise('positionUnprotected', { symbol: e.symbol, why: `stop ${e.clientOrderId} refused${e.code !== null ? ` (${e.code})` : ''}: ${e.reason}` });
          } else if (e.type === 'OrderAccepted' && isStop(e.clientOrderId)) {
            this.resolve('positionUnprotected', e.symbol, 'resolved: a protective stop is in place');
          } else if (e.type === 'PositionChanged' && new Decimal(e.position.quantity).isZero()) {
            this.resolve('positionUnprotected', e.position.symbol, 'resolved: the position is flat');
          }
        },
        { name: 'alerts-stops' },
      );
    }
    if (limit.lte(0)) return;
    bus.consume(
      'order.update',
      (e) => {
        if (e.type !== 'OrderFilled') return;
        const net = new Decimal(e.fill.realizedPnl).minus(e.fill.commission);
        if (net.negated().gte(limit)) {
          this.raise('largeLoss', { symbol: e.fill.symbol, clientOrderId: e.fill.clientOrderId, netPnl: net.toFixed(), limit: `-${limit.toFixed()}` });
        }
      },
      { name: 'alerts-loss' },
    );
  }

  private end(id: string, why: string): boolean {
    const inc = this.incidents.get(id);
    if (!inc) return false;
    this.incidents.delete(id);
    if (!(CATALOGUE[inc.name] as AlertSpec<unknown>).resolvable) return false;
    this.counters.resolved++;
    const times = inc.count === 1 ? 'once' : `${inc.count} times`;
    return this.emit('info', inc.name, `${why}: ${inc.text} (happened ${times}, ${iso(inc.firstAt)} – ${iso(inc.lastAt)})`, 'resolved');
  }

  private emit(severity: Severity, name: AlertName, text: string, label: string = severity): boolean {
    const line = `[${label}] ${this.o.who}: ${text}`;
    const sink = this.o.sink;
    if (!sink) {
      this.o.log[LOG_LEVEL[severity]]({ alert: name, severity: label }, text);
      return true;
    }
    const now = this.now();
    const times = (this.sentTimes.get(sink.channel) ?? []).filter((t) => now - t < 60_000);
    this.sentTimes.set(sink.channel, times);
    if (times.length >= this.maxPerMinute) {
      this.counters.rateLimited++;
      this.o.log.warn({ alert: name, severity: label, channel: sink.channel, rateLimited: this.counters.rateLimited }, `alert not sent (over ${this.maxPerMinute} a minute): ${text}`);
      return false;
    }
    times.push(now);
    this.counters.sent++;
    this.o.log[LOG_LEVEL[severity]]({ alert: name, severity: label }, text);
    sink.post(line);
    return true;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
