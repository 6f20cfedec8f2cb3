/**
 * Alerts to the team on Slack (chat.postMessage through @slack/web-api): trading-state changes
 * (a halt, a resume), database write failures, the end of a run, and orders on the account that
 * perpbot did not place (external, once per order). Without a token, alerts go
 * to the log only. The token is never logged (the logger redacts it, and errors are scrubbed).
 *
 * A failing Slack never affects trading: sends are fire-and-forget with the library's retries,
 * failures are counted and logged.
 */
import slack from '@slack/web-api';
import type { Logger } from 'pino';
import type { EventBus } from '../bus/bus.ts';
import { errorMessage } from '../core/errors.ts';
import { scrub } from '../logging/logger.ts';

// @slack/web-api is CommonJS: Node's ESM loader only sees some of its named exports.
const { WebClient, retryPolicies } = slack;
type WebClient = InstanceType<typeof WebClient>;

/** Alert settings, from config `alerts.*`. */
export interface AlertConfig {
  /** Bot token (xoxb-…); empty = log only. */
  slackToken: string;
  /** Channel id or name. */
  slackChannel: string;
  /** Slack API base URL (tests point it at a local server). */
  slackApiUrl: string;
}

/** Sends alerts. */
export class Alerter {
  private readonly client: WebClient | null;
  private sent = 0;
  private failed = 0;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly cfg: AlertConfig,
    private readonly log: Logger,
    /** A prefix naming the bot instance, e.g. `perpbot replay run-…`. */
    private readonly who: string,
    /** Retries of a failed send (the library's policy; default: five in five minutes). */
    retryConfig = retryPolicies.fiveRetriesInFiveMinutes,
  ) {
    this.client =
      cfg.slackToken && cfg.slackChannel ? new WebClient(cfg.slackToken, { slackApiUrl: cfg.slackApiUrl, retryConfig, timeout: 10_000 }) : null;
  }

  /** Alerts sent and failed so far. */
  stats(): { sent: number; failed: number } {
    return { sent: this.sent, failed: this.failed };
  }

  /** Send one alert (does not wait; see {@link Alerter.flush}). */
  send(level: 'info' | 'warn' | 'error', text: string): void {
    this.log[level]({ alert: true }, text);
    if (!this.client) return;
    const p = this.client.chat
      .postMessage({ channel: this.cfg.slackChannel, text: `[${level}] ${this.who}: ${text}` })
      .then(() => {
        this.sent++;
      })
      .catch((err: unknown) => {
        this.failed++;
        this.log.warn({ component: 'alerts' }, `slack alert failed: ${scrub(errorMessage(err))}`);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Subscribe to the bus: trading-state changes and external orders (once each) become alerts. */
  watch(bus: EventBus): void {
    bus.consume(
      'risk.state',
      (e) => {
        // The halt every live start-up begins with is routine, not an incident.
        const routine = e.state === 'HALTED' && e.reason.startsWith('starting:');
        const level = e.state === 'ACTIVE' || routine ? 'info' : e.state === 'HALTED' ? 'error' : 'warn';
        this.send(level, `trading ${e.previous} → ${e.state}: ${e.reason}`);
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
        const symbol = e.type === 'OrderFilled' ? e.fill.symbol : e.symbol;
        const x = e.external;
        const what = e.type === 'OrderFilled' ? `filled ${e.fill.side} ${e.fill.quantity} @ ${e.fill.price}` : `${x.side} ${x.type} ${x.quantity}${x.price !== '0' ? ` @ ${x.price}` : ''}`;
        this.send('warn', `external order ${id} on ${symbol} (not placed by perpbot): ${what}; recorded as external, in no strategy's PnL or limits`);
      },
      { name: 'alerts-external' },
    );
  }

  /** Wait for alerts in flight (at most `ms`). */
  async flush(ms = 5_000): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.pending]), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
