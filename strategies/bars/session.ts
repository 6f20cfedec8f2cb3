/**
 * Trading sessions per symbol: daily UTC hours during which a strategy may open positions, and
 * optionally the anchor its multi-timeframe bars align to ("OHLC window alignment to the session
 * open"). Pure functions of UTC epoch ms; no clock, no time zones (give hours in UTC).
 */

/** One symbol's trading session, as configured (`sessions.<SYMBOL>`). */
export interface TradingSession {
  /** Session open, minutes after 00:00 UTC (0 … 1439). */
  openMinute: number;
  /**
   * Session close, minutes after 00:00 UTC (0 … 1439). When ≤ openMinute the session runs past
   * midnight and belongs to the day it opened; equal to openMinute means 24 hours.
   */
  closeMinute: number;
  /** UTC days of the week on which a session opens (0 = Sunday … 6 = Saturday). */
  days: readonly number[];
  /** Align bars of every interval to the session open instead of 00:00 UTC. */
  alignBars: boolean;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * Parse "HH:MM" (UTC) into minutes after midnight.
 * @throws RangeError naming the text when it is not a time 00:00 … 23:59
 */
export function parseHhMm(text: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!m) throw new RangeError(`expected a UTC time "HH:MM" (00:00 … 23:59), got "${text}"`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * Whether `t` (UTC epoch ms) lies inside a session window [open, close) of `s`.
 * With no session (undefined) every time is inside.
 */
export function inSession(s: TradingSession | undefined, t: number): boolean {
  if (!s) return true;
  const length = ((s.closeMinute - s.openMinute + 1440) % 1440 || 1440) * MINUTE;
  // The session that could contain t opened today or yesterday (UTC).
  const day0 = Math.floor(t / DAY) * DAY;
  for (const dayStart of [day0, day0 - DAY]) {
    const open = dayStart + s.openMinute * MINUTE;
    const weekday = new Date(dayStart).getUTCDay();
    if (s.days.includes(weekday) && t >= open && t < open + length) return true;
  }
  return false;
}

/**
 * The offset, in ms after 00:00 UTC, that bar windows are aligned to for this session: the
 * session open when `alignBars`, else 0 (bars aligned to UTC).
 */
export function barAnchorMs(s: TradingSession | undefined): number {
  return s?.alignBars ? s.openMinute * MINUTE : 0;
}
