/**
 * The catalogue of perpbot's alerts: every message the team can receive is one of these, raised
 * through {@link Alerts.raise} (src/alerts/alerts.ts), never composed ad hoc where a failure is
 * noticed. Each entry has a severity, a dedup key (repeats of one incident with the same key are
 * one incident), a cooldown (how long repeats stay silent before a "still happening" reminder)
 * and whether a "resolved" follow-up is sent: explicitly ({@link Alerts.resolve}, when the bot
 * sees the condition end) or after `quietResolveMs` without a repeat (conditions with no "ok"
 * event, such as a failed database write).
 */

/** How bad: `info` (routine), `warning` (look soon), `critical` (act now). */
export type Severity = 'info' | 'warning' | 'critical';

/** One catalogue entry, over the details type `D` its raisers pass. */
export interface AlertSpec<D> {
  /** Severity, fixed or from the details. */
  severity: Severity | ((d: D) => Severity);
  /** Dedup key within this alert (e.g. the symbol); repeats with the same key are one incident. */
  key: (d: D) => string;
  /** Repeats within this long of the last message are counted, not sent, ms. 0 = every raise is sent. */
  cooldownMs: number;
  /** The message text (never a secret: details are scrubbed anyway). */
  text: (d: D) => string;
  /** Send "resolved" when the incident ends (explicit resolve or quiet period). */
  resolvable: boolean;
  /** Resolve by itself after this long without a repeat, ms (conditions without an "ok" event). */
  quietResolveMs?: number;
}

const MINUTE = 60_000;

/** Details of each alert. */
export interface AlertDetails {
  /** The trading state changed (not the routine "starting" halt of a live start-up). */
  tradingState: { state: 'ACTIVE' | 'REDUCING' | 'HALTED'; previous: string; reason: string };
  /** An order was sent and its outcome is still unknown past `alerts.orderUnknownSeconds`. */
  orderOutcomeUnknown: { clientOrderId: string; symbol: string; ageSeconds: number };
  /** A market stream has been stale past `alerts.streamStaleSeconds`. */
  streamStale: { stream: string; ageSeconds: number };
  /** Reconciliation at start found differences between the database and the exchange. */
  reconciliationDiff: { count: number; summary: string };
  /** Binance answered 429 (request rate limit): REST calls wait for Retry-After. */
  rateLimited: { retryAfterSeconds: number | null; message: string };
  /** Binance answered 418 (IP banned): trading halts. */
  ipBanned: { retryAfterSeconds: number | null; message: string };
  /** A database write failed: the run's records are incomplete; trading halts. */
  databaseWrite: { message: string };
  /** One fill lost at least `alerts.largeLoss` USDT, net of its fee. */
  largeLoss: { symbol: string; clientOrderId: string; netPnl: string; limit: string };
  /** An order on the account that perpbot did not place (its client order id is not perpbot's), once per order. */
  /**
   * A held position has no protective stop on the exchange: its stop was refused (e.g. -2021,
   * the mark already past it), or none is known for it at start.
   */
  positionUnprotected: { symbol: string; why: string };
  externalOrder: { clientOrderId: string; symbol: string; what: string };
  /** An operator command was carried out (the HTTP API and the CLI call this). */
  operatorCommand: { command: string; by: string; detail?: string };
  /** The bot started (paper, live). */
  botStarted: { mode: string; runId: string; version?: string };
  /** The bot stopped: `completed` (end of data), `stopped` (signal) or `failed`. */
  botStopped: { mode: string; runId: string; status: 'completed' | 'stopped' | 'failed' };
  /** The summary of the previous UTC day (paper, live). */
  dailySummary: { text: string };
}

/** Alert names. */
export type AlertName = keyof AlertDetails;

/** The catalogue. */
export const CATALOGUE: { [N in AlertName]: AlertSpec<AlertDetails[N]> } = {
  tradingState: {
    severity: (d) => (d.state === 'HALTED' ? 'critical' : d.state === 'REDUCING' ? 'warning' : 'info'),
    key: (d) => d.state,
    cooldownMs: 5 * MINUTE,
    text: (d) => `trading ${d.previous} → ${d.state}: ${d.reason}`,
    resolvable: true,
  },
  orderOutcomeUnknown: {
    severity: 'critical',
    key: (d) => d.clientOrderId,
    cooldownMs: 15 * MINUTE,
    text: (d) => `order ${d.clientOrderId} on ${d.symbol}: outcome unknown for ${d.ageSeconds}s (sent, no answer); perpbot keeps asking Binance — check the account`,
    resolvable: true,
  },
  streamStale: {
    severity: 'warning',
    key: (d) => d.stream,
    cooldownMs: 15 * MINUTE,
    text: (d) => `market stream ${d.stream} silent for ${d.ageSeconds}s (reconnecting)`,
    resolvable: true,
  },
  reconciliationDiff: {
    severity: 'warning',
    key: () => 'start',
    cooldownMs: 0,
    text: (d) => `reconciliation at start: ${d.count} difference(s) between the database and the exchange, applied:\n${d.summary}`,
    resolvable: false,
  },
  rateLimited: {
    severity: 'warning',
    key: () => 'rest',
    cooldownMs: 10 * MINUTE,
    text: (d) => `Binance rate limit (429): REST calls wait${d.retryAfterSeconds !== null ? ` ${d.retryAfterSeconds}s` : ''}: ${d.message}`,
    resolvable: true,
    quietResolveMs: 5 * MINUTE,
  },
  ipBanned: {
    severity: 'critical',
    key: () => 'ip',
    cooldownMs: 10 * MINUTE,
    text: (d) => `Binance banned this IP (418)${d.retryAfterSeconds !== null ? ` for ${d.retryAfterSeconds}s` : ''}; trading HALTED: ${d.message}`,
    resolvable: true,
    quietResolveMs: 15 * MINUTE,
  },
  databaseWrite: {
    severity: 'critical',
    key: () => 'write',
    cooldownMs: 15 * MINUTE,
    text: (d) => `database write failed (trading HALTED; records incomplete until fixed): ${d.message}`,
    resolvable: true,
    quietResolveMs: 5 * MINUTE,
  },
  largeLoss: {
    severity: 'warning',
    key: (d) => d.clientOrderId,
    cooldownMs: 0,
    text: (d) => `large loss on ${d.symbol}: ${d.netPnl} USDT net of fee (order ${d.clientOrderId}; alert at ${d.limit})`,
    resolvable: false,
  },
  positionUnprotected: {
    severity: 'critical',
    key: (d) => d.symbol,
    cooldownMs: 30 * MINUTE,
    text: (d) => `${d.symbol}: position without a protective stop on the exchange (${d.why}); the strategy's own exit still applies at the next closed kline — check the account`,
    resolvable: true,
  },
  externalOrder: {
    severity: 'warning',
    key: (d) => d.clientOrderId,
    cooldownMs: 0,
    text: (d) => `external order ${d.clientOrderId} on ${d.symbol} (not placed by perpbot): ${d.what}; recorded as external, in no strategy's PnL or limits`,
    resolvable: false,
  },
  operatorCommand: {
    severity: 'info',
    key: (d) => d.command,
    cooldownMs: 0,
    text: (d) => `operator command ${d.command} by ${d.by}${d.detail ? `: ${d.detail}` : ''}`,
    resolvable: false,
  },
  botStarted: {
    severity: 'info',
    key: () => 'start',
    cooldownMs: 0,
    text: (d) => `started (${d.mode}, run ${d.runId}${d.version ? `, perpbot ${d.version}` : ''})`,
    resolvable: false,
  },
  botStopped: {
    severity: (d) => (d.status === 'failed' ? 'critical' : d.status === 'stopped' && d.mode === 'live' ? 'warning' : 'info'),
    key: () => 'stop',
    cooldownMs: 0,
    text: (d) => `stopped (${d.mode}, run ${d.runId}): ${d.status}`,
    resolvable: false,
  },
  dailySummary: {
    severity: 'info',
    key: () => 'day',
    cooldownMs: 0,
    text: (d) => `daily summary ${d.text}`,
    resolvable: false,
  },
};
