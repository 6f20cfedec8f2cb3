/**
 * The Slack transport of alerts (chat.postMessage through @slack/web-api). What is sent, when and
 * how often is decided by the alert policy (src/alerts/alerts.ts) over the catalogue
 * (src/alerts/catalogue.ts); nothing else posts. Without a token there is no transport and alerts
 * go to the log only. The token is never logged (the logger redacts it, and errors are scrubbed).
 *
 * A failing Slack never affects trading: posts are fire-and-forget with the library's retries,
 * failures are counted and logged.
 */
import { createRequire } from 'node:module';
import type { RetryOptions, WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { AlertSink } from './alerts.ts';
import { errorMessage } from '../core/errors.ts';
import { scrub } from '../logging/scrub.ts';

const loadCommonJs = createRequire(import.meta.url);

/**
 * @slack/web-api (CommonJS, with axios: ~50 ms to load), loaded the first time an alerter has a
 * token, so that runs without Slack (every replay and backtest) never load it.
 */
function slackApi(): typeof import('@slack/web-api') {
  return loadCommonJs('@slack/web-api') as typeof import('@slack/web-api');
}

/** Alert settings, from config `alerts.*`. */
export interface AlertConfig {
  /** Bot token (xoxb-…); empty = log only. */
  slackToken: string;
  /** Channel id or name. */
  slackChannel: string;
  /** Slack API base URL (tests point it at a local server). */
  slackApiUrl: string;
}

/** Posts alert messages to one Slack channel. */
export class Alerter implements AlertSink {
  private readonly client: WebClient | null;
  private sent = 0;
  private failed = 0;
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly cfg: AlertConfig,
    private readonly log: Logger,
    /** Retries of a failed send (the library's policy; default: five in five minutes). */
    retryConfig?: RetryOptions,
  ) {
    if (cfg.slackToken && cfg.slackChannel) {
      const api = slackApi();
      this.client = new api.WebClient(cfg.slackToken, {
        slackApiUrl: cfg.slackApiUrl,
        retryConfig: retryConfig ?? api.retryPolicies.fiveRetriesInFiveMinutes,
        timeout: 10_000,
        maxRequestConcurrency: 1,
      });
    } else this.client = null;
  }

  /** Alerts sent and failed so far. */
  stats(): { sent: number; failed: number } {
    return { sent: this.sent, failed: this.failed };
  }

  /** The channel posted to. */
  get channel(): string {
    return this.cfg.slackChannel;
  }

  /** True when a token and a channel are configured (else nothing is posted). */
  get enabled(): boolean {
    return this.client !== null;
  }

  /** Post one message as it is, after those posted before (one request at a time: the channel reads in order) (does not wait; see {@link Alerter.flush}). Failures are counted and logged. */
  post(text: string): void {
    if (!this.client) return;
    const p = this.client.chat
      .postMessage({ channel: this.cfg.slackChannel, text })
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

  /** Wait for alerts in flight (at most `ms`). */
  async flush(ms = 5_000): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.pending]), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }
}
