/**
 * Decimal text to a float, fast, for indicators (never for money: the executor, orders and the
 * database keep decimal text and decimal.js).
 *
 * Klines carry prices and volumes as Binance's decimal text ("108293.20"). Strategies need them
 * as doubles for their indicators, four per kline, and `Number(s)` costs about 60 ns a string
 * here: a quarter of replay's per-kline budget at 1M candles/s.
 */

/** Exact powers of ten as doubles (10^0 … 10^22 are all exactly representable). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * The double nearest to decimal text: always the same double as `Number(s)`, bit for bit
 * (so backtests stay identical), about three times as fast for plain text such as "108293.20".
 *
 * Plain unsigned text with at most 15 digits ("123", "0.0015", "108293.2") is read as an integer
 * mantissa m < 10^15 < 2^53 and a count f of fraction digits; m and 10^f are exact doubles and
 * IEEE division rounds correctly, so m / 10^f is the correctly rounded value, which is what
 * `Number` returns (Clinger's fast path). Anything else (a sign, an exponent, more digits,
 * spaces, not a number) is handed to `Number(s)`.
 * @param s decimal text, e.g. a kline's `close` (quote asset) or `volume` (base asset)
 * @returns the double, NaN when `s` is not a number (as `Number`), 0 for ""
 */
export function decimalToNumber(s: string): number {
  const n = s.length;
  if (n === 0 || n > 16) return Number(s);
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c >= 0 && c <= 9) {
      m = m * 10 + c;
      digits++;
      if (frac >= 0) frac++;
    } else if (c === -2 && frac < 0) frac = 0; // '.'
    else return Number(s);
  }
  if (digits === 0 || digits > 15) return Number(s);
  return frac > 0 ? m / (POW10[frac] as number) : m;
}
