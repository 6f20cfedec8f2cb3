/**
 * The vocabulary of Binance USDⓈ-M wire types: zod field schemas (decimal text, int64 ids, epoch
 * ms…), the error reporting every mapper shares ({@link parseWith}: a DataError naming the
 * stream, the field and the value), and what websocket frames and REST responses have in common.
 * See ./mapper.ts for the rules.
 */
import { z } from 'zod';
import { isDecimalString } from '../../core/decimal.ts';
import { DataError } from '../../core/errors.ts';
import type { DecimalString } from '../../core/types.ts';
import { parseBinanceJson } from './json.ts';

// ---------------------------------------------------------------------------------------------
// Field schemas. Each failure message reads after "<stream> <path>: <value>".

/**
 * A zod field that accepts what `check` returns (undefined = refused, with the issue message
 * `what`, read after "<stream> <path>: <value> is not").
 */
export function field<T>(what: string, check: (v: unknown) => T | undefined) {
  return z.unknown().transform((v, ctx): T => {
    const out = v === undefined ? undefined : check(v);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: what });
      return z.NEVER;
    }
    return out;
  });
}

/** Decimal text ("0.8464", "-3367", "1e-8"), kept verbatim. */
export const dec = field<string>('a decimal number', (v) => (isDecimalString(v) ? v : undefined));

/** Whether `v` is decimal text or "" (the check of {@link decOrEmpty}). */
export const isDecimalOrEmpty = (v: unknown): v is string => v === '' || isDecimalString(v);

/** Decimal text, or "" (Binance sends "" for some absent values, e.g. `r` of delivery symbols). */
export const decOrEmpty = field<string>('a decimal number or ""', (v) => (isDecimalOrEmpty(v) ? v : undefined));

const INT_TEXT = /^-?\d+$/;
/**
 * int64 id → decimal string. Accepts a safe integer number or integer text (what
 * {@link parseBinanceJson} yields for ids beyond 2^53). An unsafe number is refused: its digits
 * were already rounded by JSON.parse.
 */
export const int64 = field<string>('an int64 id (integer number below 2^53, or integer text)', (v) => {
  if (typeof v === 'string') return INT_TEXT.test(v) ? v.replace(/^(-?)0+(?=\d)/, '$1') : undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
});

/** Whether `v` is UTC epoch milliseconds: a non-negative safe integer (the check of {@link ms}). */
export const isEpochMs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** UTC epoch milliseconds: a non-negative safe integer. */
export const ms = field<number>('a time in epoch milliseconds', (v) => (isEpochMs(v) ? v : undefined));

/** A non-negative safe integer count. */
export const count = field<number>('a non-negative integer', (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined,
);

export const bool = field<boolean>('a boolean', (v) => (typeof v === 'boolean' ? v : undefined));

/** A non-empty string (symbols, assets, client order ids). */
export const text = field<string>('a non-empty string', (v) => (typeof v === 'string' && v !== '' ? v : undefined));

/** A string, possibly empty. */
export const anyText = field<string>('a string', (v) => (typeof v === 'string' ? v : undefined));

export function oneOf<const T extends readonly string[]>(values: T) {
  return field<T[number]>(`one of ${values.join(', ')}`, (v) =>
    typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T[number]) : undefined,
  );
}

export function lit<const T extends string>(value: T) {
  return field<T>(`"${value}"`, (v) => (v === value ? value : undefined));
}

export const side = oneOf(['BUY', 'SELL'] as const);

// ---------------------------------------------------------------------------------------------
// Error reporting

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Keys whose values are secrets: never echoed into an error message. */
const SECRET_FIELDS = new Set(['listenKey']);

/** A value for an error message: short, typed, and `***` for a secret field (listenKey). */
export function show(v: unknown, key: PropertyKey | undefined): string {
  if (key !== undefined && SECRET_FIELDS.has(String(key))) return '***';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** The DataError for zod's first issue: `<stream> <path>: <value> is not <what>`. */
export function describeIssue(stream: string, root: unknown, issue: z.core.$ZodIssue): DataError {
  const path = issue.path;
  const where = path.length ? `${stream} ${pathText(path)}` : stream;
  const v = valueAt(root, path);
  let what: string;
  if (issue.code === 'custom') what = issue.message;
  else if (issue.code === 'invalid_type') what = issue.expected === 'object' ? 'an object' : issue.expected === 'array' ? 'an array' : `a ${issue.expected}`;
  else if (issue.code === 'too_small') what = `an array of at least ${String(issue.minimum)} items`;
  else what = issue.message;
  const message = v === undefined ? `${where}: missing, expected ${what}` : `${where}: ${show(v, path[path.length - 1])} is not ${what}`;
  return new DataError(message, { stream, field: pathText(path) || undefined });
}

/**
 * Parse JSON text losslessly; a value that is not a string is taken as already parsed.
 * @throws DataError `<stream>: not JSON (…)`
 */
export function toValue(raw: unknown, stream: string): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return parseBinanceJson(raw);
  } catch (err) {
    throw new DataError(`${stream}: not JSON (${(err as Error).message})`, { stream });
  }
}

/**
 * Parse `raw` (JSON text, parsed losslessly, or an already parsed value) with `schema`.
 * @throws DataError naming `stream`, the field path and the refused value (secrets masked)
 */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, stream: string): z.output<S> {
  const value = toValue(raw, stream);
  const r = schema.safeParse(value);
  if (!r.success) throw describeIssue(stream, value, r.error.issues[0]!);
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Shared by websocket frames and REST responses

/** Order statuses (`X`) of ORDER_TRADE_UPDATE and of REST orders. */
export const BINANCE_ORDER_STATUSES = [
  'NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'REJECTED',
  'EXPIRED',
  'EXPIRED_IN_MATCH',
  'NEW_INSURANCE',
  'NEW_ADL',
] as const;

/** Extra facts a position needs that Binance does not put in the frame or response. */
export interface PositionExtras {
  /** Fees paid on the symbol, quote asset; Binance does not report them here. Default "0". */
  feesOf?: (symbol: string) => DecimalString;
  /** Realized PnL on the symbol (positionRisk has none). Default "0". */
  realizedPnlOf?: (symbol: string) => DecimalString;
}
