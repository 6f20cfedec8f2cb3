/**
 * The protective stop level a strategy states with an entry signal (`SignalRequest.stopPrice`),
 * from its float indicator maths to decimal text.
 */

/**
 * `level` as decimal text for `stopPrice`: the shortest text that round-trips the double (the
 * executor rounds it to the tick size, never wider), or undefined when there is no usable level
 * (null, NaN, infinite, ≤ 0, or so small or large that JavaScript writes it with an exponent,
 * which is not a decimal string).
 * @param level price in quote asset
 */
export function stopPriceText(level: number | null | undefined): string | undefined {
  if (level === null || level === undefined || !Number.isFinite(level) || level <= 0) return undefined;
  const text = String(level);
  return /e/i.test(text) ? undefined : text;
}
