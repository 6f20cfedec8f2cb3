/**
 * How the API checks a bearer token:
 * - comparison in constant time (SHA-256 of both sides, then `timingSafeEqual`);
 * - failed attempts per client address are counted with rate-limiter-flexible: after
 *   {@link FAILED_ATTEMPTS_PER_MINUTE} in a minute, that address gets 429 until the minute ends.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** Failed token attempts allowed per client address per minute before it is refused with 429. */
export const FAILED_ATTEMPTS_PER_MINUTE = 10;

/** Compares bearer tokens in constant time and rate-limits failures per client address. */
export class TokenGuard {
  private readonly expected: Buffer;
  private readonly failures = new RateLimiterMemory({ points: FAILED_ATTEMPTS_PER_MINUTE, duration: 60 });
  /** Failed attempts so far (metrics, tests). */
  failed = 0;
  /** Requests refused because their address had too many failures. */
  limited = 0;

  constructor(token: string) {
    this.expected = createHash('sha256').update(token).digest();
  }

  /** True when `header` is exactly `Bearer <token>`; constant time in the token's content. */
  matches(header: string | undefined): boolean {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    const got = createHash('sha256').update(header.slice(7)).digest();
    return timingSafeEqual(got, this.expected);
  }

  /**
   * Seconds the address must wait before trying again, or 0 when it may try now.
   */
  async blockedFor(address: string): Promise<number> {
    const r = await this.failures.get(address);
    if (r === null || r.remainingPoints > 0) return 0;
    return Math.max(1, Math.ceil(r.msBeforeNext / 1000));
  }

  /** Count one failed attempt of `address`; returns the seconds it is now blocked for (0 = not yet). */
  async fail(address: string): Promise<number> {
    this.failed++;
    try {
      const r = await this.failures.consume(address);
      return r.remainingPoints > 0 ? 0 : Math.max(1, Math.ceil(r.msBeforeNext / 1000));
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw res;
    }
  }
}
