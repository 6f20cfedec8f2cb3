/**
 * How paper and live report REST trouble: a 429/418 answer reaching the REST gate (logged; an IP
 * ban halts trading), the gate's counters for the heartbeat, and the streak logging of a
 * recurring REST job's failures (order polls, the audit, listen-key keepalives). Split from live.ts.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.ts';
import { scrub } from '../logging/logger.ts';
import type { RestGate } from '../exchange/binance/rest-gate.ts';
import type { RateLimitTracker } from '../exchange/binance/retry.ts';
import type { VenueError } from '../exchange/binance/errors.ts';

/**
 * A 429 or 418 reached a REST call of the gate: the block is already recorded in `limits`; log
 * it, and for a 418 (IP ban) halt trading: the heartbeat must not say ok while a ban is in force.
 * A 429 is logged at warn (with `retryAfterMs`, ms), a 418 at error with the ban's end (ISO UTC).
 * @param ve the gate's error, of kind `rate_limit` or `ip_ban`
 * @param halt called once with the reason on a 418 only
 */
export function onRateLimited(ve: VenueError, log: Logger, limits: RateLimitTracker, halt: (reason: string) => void): void {
  if (ve.kind === 'ip_ban') {
    const until = limits.bannedUntil();
    const reason = `IP banned by Binance (418) until ${until ? new Date(until).toISOString() : 'unknown'}: ${ve.message}`;
    log.error(reason);
    halt(reason);
  } else {
    log.warn({ retryAfterMs: ve.retryAfterMs }, `Binance rate limit (429): every REST call waits for its Retry-After: ${ve.message}`);
  }
}

/**
 * The REST gate's counters for the heartbeat: `restCalls` and `restRateLimited` (calls through
 * the gate, and those answered 429/418), `restBlockedMs` (how long REST calls must still wait,
 * ms), `ipBannedUntil` (end of an IP ban in force, UTC epoch ms; 0 when none), `rest429` and
 * `rest418` (such answers to any REST caller since start).
 */
export function gateCounters(gate: RestGate): Record<string, number> {
  const banned = gate.limits.bannedUntil();
  return {
    restCalls: gate.stats.calls,
    restRateLimited: gate.stats.limited,
    restBlockedMs: gate.limits.blockedMs(),
    ipBannedUntil: banned ?? 0,
    // every REST caller's 429/418 answers (the gate's and the venue's)
    rest429: gate.limits.answered.rateLimited429,
    rest418: gate.limits.answered.banned418,
  };
}

/**
 * A logger of a recurring failure: the first failure of a streak at warn, the rest at debug, and
 * one info line when it works again. Keeps an outage's log to a bounded number of lines.
 * @param what the job, as the log lines name it (e.g. 'order status poll (user stream down)')
 * @returns `fail(err)` after each failure (the message is scrubbed of secrets), `ok()` after each success
 */
export function streakLogger(log: Logger, what: string): { fail(err: unknown): void; ok(): void } {
  let failures = 0;
  return {
    fail(err) {
      failures++;
      if (failures === 1) log.warn(`${what} failed: ${scrub(errorMessage(err))} (repeats logged at debug level until it works again)`);
      else log.debug(`${what} failed again (${failures}): ${scrub(errorMessage(err))}`);
    },
    ok() {
      if (failures > 0) log.info({ failures }, `${what} works again`);
      failures = 0;
    },
  };
}
