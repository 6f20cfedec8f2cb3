/**
 * Checks the {@link RecordWriter} (./writer.ts) makes before a record is stored: money fields are
 * decimal strings (never a float), and JSON stored with a run carries no secret.
 */
import { errorMessage, InvariantError } from '../src/core/errors.ts';
import type { Fill, OrderIntent } from '../src/core/types.ts';
import { isDecimalString } from '../src/core/decimal.ts';

/**
 * @throws InvariantError naming `field` when `v` is not a decimal string
 */
export function requireDecimal(v: unknown, field: string): void {
  if (!isDecimalString(v)) throw new InvariantError(`${field}: "${String(v)}" is not a decimal string`, { field });
}

/**
 * Check an order intent's money fields before it is stored.
 * @throws InvariantError naming the field when one is not a decimal string
 */
export function validateIntent(i: OrderIntent): void {
  requireDecimal(i.quantity, 'intent.quantity');
  if (i.price !== undefined) requireDecimal(i.price, 'intent.price');
  if (i.stopPrice !== undefined) requireDecimal(i.stopPrice, 'intent.stopPrice');
  requireDecimal(i.refPrice, 'intent.refPrice');
}

/**
 * Check a fill's money fields before it is stored.
 * @throws InvariantError naming the field when one is not a decimal string
 */
export function validateFill(f: Fill): void {
  requireDecimal(f.price, 'fill.price');
  requireDecimal(f.quantity, 'fill.quantity');
  requireDecimal(f.commission, 'fill.commission');
  requireDecimal(f.realizedPnl, 'fill.realizedPnl');
}

const SECRET_KEY = /secret|passw|passphrase|token|api[-_]?key|private[-_]?key|webhook|signature|credential/i;

/**
 * Parse `json`, replace string values under secret-looking keys with `"[redacted]"`, and
 * re-serialize. Defence in depth: callers hand in sanitized JSON already.
 * @throws InvariantError naming `field` when `json` is not valid JSON
 */
export function redactJson(json: string, field = 'json'): string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new InvariantError(`${field} is not valid JSON: ${errorMessage(err)}`, { field });
  }
  let changed = false;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === 'string' && x !== '' && SECRET_KEY.test(k)) {
          out[k] = '[redacted]';
          changed = true;
        } else out[k] = walk(x);
      }
      return out;
    }
    return v;
  };
  const redacted = walk(value);
  return changed ? JSON.stringify(redacted) : json;
}
