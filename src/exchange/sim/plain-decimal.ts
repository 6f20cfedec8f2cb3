/**
 * Exact comparison of decimal price text for the matching engine's hot path: bar prices
 * (kline open/high/low, mark price) against an order's limit or stop price, compared as strings
 * without allocating and without a float, falling back to `Decimal` for any text that is not a
 * plain non-negative decimal ("1e5", "-1", ".5").
 *
 * Split from matching-engine.ts (which still re-exports {@link comparePlainDecimal}).
 */
import { dec } from '../../core/decimal.ts';

/**
 * Exact comparison of two non-negative plain decimal strings ("108090.0", "0.001", "7"), without
 * allocating and without a float: -1, 0 or 1, or NaN when either is not of that form (sign,
 * exponent, empty integer part, stray character).
 */
export function comparePlainDecimal(a: string, b: string): number {
  const da = plainDot(a);
  const db = plainDot(b);
  if (da < 0 || db < 0) return NaN;
  let sa = 0;
  while (sa < da - 1 && a.charCodeAt(sa) === 48) sa++;
  let sb = 0;
  while (sb < db - 1 && b.charCodeAt(sb) === 48) sb++;
  const la = da - sa;
  const lb = db - sb;
  if (la !== lb) return la < lb ? -1 : 1;
  for (let i = 0; i < la; i++) {
    const ca = a.charCodeAt(sa + i);
    const cb = b.charCodeAt(sb + i);
    if (ca !== cb) return ca < cb ? -1 : 1;
  }
  const fa = da + 1;
  const fb = db + 1;
  const na = a.length > fa ? a.length - fa : 0;
  const nb = b.length > fb ? b.length - fb : 0;
  const n = na > nb ? na : nb;
  for (let i = 0; i < n; i++) {
    const ca = i < na ? a.charCodeAt(fa + i) : 48;
    const cb = i < nb ? b.charCodeAt(fb + i) : 48;
    if (ca !== cb) return ca < cb ? -1 : 1;
  }
  return 0;
}

/** Index of the '.' (or the length) when `s` is digits with at most one '.', ≥ 1 integer digit; else -1. */
function plainDot(s: string): number {
  let dot = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (dot >= 0 || i === 0) return -1;
      dot = i;
    } else if (c < 48 || c > 57) return -1;
  }
  if (s.length === 0) return -1;
  return dot < 0 ? s.length : dot;
}

/**
 * Compare a bar price with an order's price, both decimal text in the quote asset, exactly: the
 * fast plain-string path ({@link comparePlainDecimal}), else through `Decimal`.
 * @param bar the price seen (kline open/high/low or mark price)
 * @param limit the order's limit or stop price, canonical text
 * @param field the bar field's name for the error message (e.g. `"kline.low"`, `"markPrice"`)
 * @returns -1, 0 or 1 (sign of `bar − limit`)
 * @throws TypeError naming `field` (or `"price"` for `limit`) when the text is not a decimal number
 */
export function comparePriceText(bar: string, limit: string, field: string): number {
  const c = comparePlainDecimal(bar, limit);
  return c === c ? c : dec(bar, field).cmp(dec(limit, 'price'));
}
