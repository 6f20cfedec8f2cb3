/**
 * The injected clock. Nothing below the kernel calls `Date.now()`: it asks a {@link Clock}, so
 * replay runs on the data's time and live on the wall clock, and both behave the same.
 */

/** A source of the current time, UTC epoch milliseconds. */
export interface Clock {
  /** Current time, UTC epoch ms. */
  now(): number;
}

/** The wall clock, optionally corrected by a measured offset to the exchange (ms, exchange − local). */
export class WallClock implements Clock {
  /** @param offsetMs exchange time minus local time, ms; added to `Date.now()`. */
  constructor(public offsetMs = 0) {}
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

/**
 * A clock driven by the data in replay: the source sets it as each kline closes.
 * Time never goes backwards: {@link ReplayClock.set} with an earlier time throws.
 */
export class ReplayClock implements Clock {
  private t: number;
  /** @param start initial time, UTC epoch ms. */
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  /**
   * Advance to `t` (UTC epoch ms).
   * @throws RangeError when `t` is earlier than the current time or not finite.
   */
  set(t: number): void {
    if (!Number.isFinite(t) || t < this.t) {
      throw new RangeError(`replay clock cannot move from ${this.t} to ${t}`);
    }
    this.t = t;
  }
}
