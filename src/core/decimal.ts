/**
 * Decimal arithmetic for money. perpbot uses decimal.js with 40 significant digits: prices,
 * quantities, notionals, fees and PnL never pass through a float in the executor, the venue or
 * the database.
 */
import { Decimal as DecimalJs } from 'decimal.js';

/** The project's Decimal constructor: 40 significant digits, half-even rounding by default. */
export const Decimal = DecimalJs.clone({ precision: 40, rounding: DecimalJs.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 40 });
/** A Decimal value. */
export type Decimal = InstanceType<typeof Decimal>;

/** Decimal zero. */
export const ZERO = new Decimal(0);

const DECIMAL_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** True when `s` is a finite base-10 number in text form ("1", "-0.5", "1e-8"). */
export function isDecimalString(s: unknown): s is string {
  return typeof s === 'string' && DECIMAL_RE.test(s);
}

/**
 * Parse decimal text into a Decimal.
 * @param field the name used in the error message
 * @throws TypeError naming `field` when `s` is not a finite decimal string
 */
export function dec(s: string | Decimal, field = 'value'): Decimal {
  if (typeof s !== 'string') return s;
  if (!DECIMAL_RE.test(s)) throw new TypeError(`${field}: "${s}" is not a decimal number`);
  return new Decimal(s);
}

/** Render a Decimal as plain text without exponent or trailing zeros ("0.001", "108153.4"). */
export function str(d: Decimal): string {
  return d.toFixed();
}
