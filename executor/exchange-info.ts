/**
 * Exchange trading rules for Binance USDⓈ-M futures, read from a `GET /fapi/v1/exchangeInfo`
 * response (live, or a recorded file such as `data/exchange-info/fapi-exchangeInfo-2024-10-02.json`).
 *
 * Only what the executor needs is kept: per symbol its identity, precisions and the filters
 * PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL and PERCENT_PRICE. Every number in a filter
 * is kept as a canonical decimal string (`"0.10"` becomes `"0.1"`, `"1.0500"` becomes `"1.05"`);
 * nothing passes through a float. Other filters (MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, any future
 * one) and other keys are ignored; key order does not matter.
 *
 * Source: Binance "Exchange Information" (`GET /fapi/v1/exchangeInfo`) and "Filters" in
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition
 *
 * Malformed input throws a {@link PerpbotError} with code `EXCHANGE_INFO_INVALID` whose message
 * names the source and the path of the bad field, e.g. `symbols[12].filters[0].tickSize`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Decimal, dec, isDecimalString, str } from '../src/core/decimal.ts';
import { PerpbotError } from '../src/core/errors.ts';
import type { DecimalString, Symbol } from '../src/core/types.ts';

/**
 * PRICE_FILTER: the prices a LIMIT order may carry. All values in the quote asset (USDT).
 * `"0"` in `minPrice` or `maxPrice` means "no limit" (Binance: the rule is disabled when 0);
 * `"0"` in `tickSize` means "no tick".
 */
export interface PriceFilterRules {
  /** Lowest allowed price, quote asset; `"0"` = no lower limit. */
  minPrice: DecimalString;
  /** Highest allowed price, quote asset; `"0"` = no upper limit. */
  maxPrice: DecimalString;
  /** Price increment, quote asset; a valid price satisfies `(price - minPrice) % tickSize == 0`. */
  tickSize: DecimalString;
}

/**
 * LOT_SIZE (LIMIT orders) or MARKET_LOT_SIZE (MARKET orders): the quantities an order may carry.
 * All values in the base asset (e.g. BTC).
 */
export interface LotSizeRules {
  /** Smallest allowed quantity, base asset. */
  minQty: DecimalString;
  /** Largest allowed quantity, base asset; `"0"` is read as "no upper limit". */
  maxQty: DecimalString;
  /** Quantity increment, base asset; a valid quantity satisfies `(qty - minQty) % stepSize == 0`. */
  stepSize: DecimalString;
}

/** MIN_NOTIONAL: smallest `price × quantity` of an order, quote asset. Reduce-only orders are exempt. */
export interface MinNotionalRules {
  /** Minimum notional, quote asset (USDT). */
  notional: DecimalString;
}

/**
 * PERCENT_PRICE: how far a LIMIT price may be from the mark price.
 * BUY: `price <= markPrice × multiplierUp`; SELL: `price >= markPrice × multiplierDown`.
 */
export interface PercentPriceRules {
  /** Dimensionless multiplier, e.g. `"1.05"`. */
  multiplierUp: DecimalString;
  /** Dimensionless multiplier, e.g. `"0.95"`. */
  multiplierDown: DecimalString;
  /** Number of decimals of the multipliers, as Binance reports it (e.g. `"4"`). */
  multiplierDecimal: DecimalString;
}

/** The trading rules of one symbol. Immutable (frozen). */
export interface SymbolRules {
  /** Binance symbol, e.g. `"BTCUSDT"`. */
  symbol: Symbol;
  /** Contract status, e.g. `"TRADING"`, `"SETTLING"`, `"PENDING_TRADING"`. */
  status: string;
  /** Contract type, e.g. `"PERPETUAL"`, `"CURRENT_QUARTER"`; may be `""` for pending contracts. */
  contractType: string;
  /** Base asset (what quantities count), e.g. `"BTC"`. */
  baseAsset: string;
  /** Quote asset (what prices and notionals count), e.g. `"USDT"`. */
  quoteAsset: string;
  /** Most decimals a price may have (Binance answers -1111 beyond). */
  pricePrecision: number;
  /** Most decimals a quantity may have (Binance answers -1111 beyond). */
  quantityPrecision: number;
  priceFilter: PriceFilterRules;
  /** LOT_SIZE: applies to LIMIT orders. */
  lotSize: LotSizeRules;
  /** MARKET_LOT_SIZE: applies to MARKET orders; `null` when the symbol has none (LOT_SIZE applies). */
  marketLotSize: LotSizeRules | null;
  minNotional: MinNotionalRules;
  percentPrice: PercentPriceRules;
}

/** The rules of every symbol of one exchangeInfo document. */
export interface ExchangeRules {
  /**
   * The rules of `symbol`.
   * @throws PerpbotError code `SYMBOL_UNKNOWN` naming the symbol when it is not in the document;
   *   `EXCHANGE_INFO_INVALID` naming the field when its entry is malformed
   */
  get(symbol: Symbol): SymbolRules;
  /** True when the document lists `symbol` with well-formed rules. */
  has(symbol: Symbol): boolean;
  /** Every symbol of the document with well-formed rules, in document order. */
  symbols(): Symbol[];
  /** `serverTime` of the response, UTC epoch ms: when these rules were true. */
  readonly serverTime: number;
  /** Where the document came from (file path or URL), for messages. */
  readonly source: string;
  /**
   * Symbol entries left out because they are malformed (each error names the field), in document
   * order. Binance lists hundreds of symbols and adds filter quirks over time: one bad entry of
   * a symbol nobody trades must not stop the bot, so only `get` of that symbol throws.
   */
  problems(): readonly PerpbotError[];
}

const decimalString = z.string().superRefine((s, ctx) => {
  if (!isDecimalString(s)) ctx.addIssue({ code: 'custom', message: 'expected a decimal number as a string' });
  else if (dec(s).isNegative()) ctx.addIssue({ code: 'custom', message: 'must not be negative' });
});

const multiplierDecimal = z.union([
  z.string().regex(/^\d+$/, { message: 'expected a non-negative integer' }),
  z.number().int().nonnegative(),
]);

const priceFilterSchema = z.object({ minPrice: decimalString, maxPrice: decimalString, tickSize: decimalString });
const lotSizeSchema = z.object({ minQty: decimalString, maxQty: decimalString, stepSize: decimalString });
const minNotionalSchema = z.object({ notional: decimalString });
const percentPriceSchema = z.object({
  multiplierUp: decimalString,
  multiplierDown: decimalString,
  multiplierDecimal,
});

const symbolSchema = z.object({
  symbol: z.string().min(1),
  status: z.string().min(1),
  contractType: z.string(),
  baseAsset: z.string().min(1),
  quoteAsset: z.string().min(1),
  pricePrecision: z.number().int().nonnegative(),
  quantityPrecision: z.number().int().nonnegative(),
  filters: z.array(z.looseObject({ filterType: z.string().min(1) })),
});

const documentSchema = z.looseObject({
  serverTime: z.number().int().nonnegative(),
  symbols: z.array(z.unknown()),
});

type PathPart = string | number;

/** `["symbols", 12, "filters", 0, "tickSize"]` → `symbols[12].filters[0].tickSize`. */
function formatPath(path: readonly PathPart[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(root: unknown, path: readonly PathPart[]): unknown {
  let v: unknown = root;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[part];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  const text = s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  return `${text} (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
}

function invalid(source: string, path: readonly PathPart[], message: string, got?: { value: unknown }): PerpbotError {
  const field = formatPath(path);
  const suffix = got === undefined ? '' : `, got ${describe(got.value)}`;
  return new PerpbotError('EXCHANGE_INFO_INVALID', `${source}: ${field}: ${message}${suffix}`, false, { source, field });
}

/** Parse `value` with `schema`; on failure throw naming the first bad field under `base`. */
function parseAt<T>(schema: z.ZodType<T>, value: unknown, base: readonly PathPart[], source: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const rel = (issue?.path ?? []).filter((p): p is PathPart => typeof p === 'string' || typeof p === 'number');
  const got = valueAt(value, rel);
  if (got === undefined) throw invalid(source, [...base, ...rel], 'missing');
  throw invalid(source, [...base, ...rel], issue?.message ?? 'invalid', { value: got });
}

const canon = (s: string): DecimalString => str(dec(s));

const KNOWN_FILTERS = ['PRICE_FILTER', 'LOT_SIZE', 'MARKET_LOT_SIZE', 'MIN_NOTIONAL', 'PERCENT_PRICE'] as const;
type KnownFilter = (typeof KNOWN_FILTERS)[number];

/**
 * PERCENT_PRICE multipliers as decimals. Binance normally sends them as decimals ("1.0500") with
 * `multiplierDecimal` = the number of decimals ("4"). Some symbols carry them as integers scaled
 * by 10^multiplierDecimal instead: BTCSTUSDT (PENDING_TRADING) in the 2024-10-02 file has
 * `"multiplierUp": "11500", "multiplierDown": "8500", "multiplierDecimal": "4"`, i.e. 1.15/0.85.
 * A floor multiplier above 1 cannot be meant literally, so when multiplierDown > 1 and both values
 * are integers, both are divided by 10^multiplierDecimal. Anything else is kept as sent.
 */
function decodePercentPrice(up: string, down: string, decimals: string): PercentPriceRules {
  let u = dec(up);
  let d = dec(down);
  if (d.gt(1) && u.isInteger() && d.isInteger()) {
    const scale = new Decimal(10).pow(Number(decimals));
    u = u.div(scale);
    d = d.div(scale);
  }
  return { multiplierUp: str(u), multiplierDown: str(d), multiplierDecimal: decimals };
}

function checkLot(lot: LotSizeRules, path: readonly PathPart[], source: string): void {
  if (dec(lot.maxQty).gt(0) && dec(lot.maxQty).lt(lot.minQty)) {
    throw invalid(source, [...path, 'maxQty'], `maxQty ${lot.maxQty} < minQty ${lot.minQty}`);
  }
}

function parseSymbol(raw: unknown, index: number, source: string): SymbolRules {
  const base: PathPart[] = ['symbols', index];
  const s = parseAt(symbolSchema, raw, base, source);
  const seen = new Map<KnownFilter, number>();
  let priceFilter: PriceFilterRules | undefined;
  let lotSize: LotSizeRules | undefined;
  let marketLotSize: LotSizeRules | null = null;
  let minNotional: MinNotionalRules | undefined;
  let percentPrice: PercentPriceRules | undefined;

  s.filters.forEach((f, j) => {
    const type = f.filterType;
    if (!(KNOWN_FILTERS as readonly string[]).includes(type)) return; // MAX_NUM_ORDERS & co.
    const known = type as KnownFilter;
    const fpath: PathPart[] = [...base, 'filters', j];
    const prev = seen.get(known);
    if (prev !== undefined) {
      throw invalid(source, [...fpath, 'filterType'], `duplicate ${known} (first at filters[${prev}])`);
    }
    seen.set(known, j);
    switch (known) {
      case 'PRICE_FILTER': {
        const p = parseAt(priceFilterSchema, f, fpath, source);
        priceFilter = { minPrice: canon(p.minPrice), maxPrice: canon(p.maxPrice), tickSize: canon(p.tickSize) };
        if (dec(priceFilter.maxPrice).gt(0) && dec(priceFilter.maxPrice).lt(priceFilter.minPrice)) {
          throw invalid(source, [...fpath, 'maxPrice'], `maxPrice ${priceFilter.maxPrice} < minPrice ${priceFilter.minPrice}`);
        }
        break;
      }
      case 'LOT_SIZE':
      case 'MARKET_LOT_SIZE': {
        const l = parseAt(lotSizeSchema, f, fpath, source);
        const lot = { minQty: canon(l.minQty), maxQty: canon(l.maxQty), stepSize: canon(l.stepSize) };
        checkLot(lot, fpath, source);
        if (known === 'LOT_SIZE') lotSize = lot;
        else marketLotSize = lot;
        break;
      }
      case 'MIN_NOTIONAL': {
        const m = parseAt(minNotionalSchema, f, fpath, source);
        minNotional = { notional: canon(m.notional) };
        break;
      }
      case 'PERCENT_PRICE': {
        const p = parseAt(percentPriceSchema, f, fpath, source);
        percentPrice = decodePercentPrice(p.multiplierUp, p.multiplierDown, String(p.multiplierDecimal));
        if (dec(percentPrice.multiplierUp).lt(1)) {
          throw invalid(source, [...fpath, 'multiplierUp'], `multiplierUp ${percentPrice.multiplierUp} < 1`, {
            value: p.multiplierUp,
          });
        }
        if (dec(percentPrice.multiplierDown).gt(1)) {
          throw invalid(source, [...fpath, 'multiplierDown'], `multiplierDown ${percentPrice.multiplierDown} > 1`, {
            value: p.multiplierDown,
          });
        }
        break;
      }
    }
  });

  const need = <T>(v: T | undefined, name: KnownFilter): T => {
    if (v === undefined) throw invalid(source, [...base, 'filters'], `${s.symbol} has no ${name} filter`);
    return v;
  };
  const rules: SymbolRules = {
    symbol: s.symbol,
    status: s.status,
    contractType: s.contractType,
    baseAsset: s.baseAsset,
    quoteAsset: s.quoteAsset,
    pricePrecision: s.pricePrecision,
    quantityPrecision: s.quantityPrecision,
    priceFilter: Object.freeze(need(priceFilter, 'PRICE_FILTER')),
    lotSize: Object.freeze(need(lotSize, 'LOT_SIZE')),
    marketLotSize: marketLotSize === null ? null : Object.freeze(marketLotSize),
    minNotional: Object.freeze(need(minNotional, 'MIN_NOTIONAL')),
    percentPrice: Object.freeze(need(percentPrice, 'PERCENT_PRICE')),
  };
  return Object.freeze(rules);
}

/**
 * Parse a `GET /fapi/v1/exchangeInfo` response body (already JSON-decoded).
 *
 * Required per symbol: `symbol`, `status`, `contractType`, `baseAsset`, `quoteAsset`,
 * `pricePrecision`, `quantityPrecision`, and the filters PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL and
 * PERCENT_PRICE (MARKET_LOT_SIZE is optional). Filter values must be non-negative decimal strings
 * (a JSON number is refused: Binance sends strings, and a float would lose digits).
 *
 * A malformed symbol entry does not fail the document: it is left out and listed in
 * {@link ExchangeRules.problems}, and `get` of that symbol throws its error. A symbol listed twice
 * is ambiguous: both entries are left out.
 *
 * @param json the decoded response body
 * @param source where it came from (file path or URL), used in error messages
 * @throws PerpbotError code `EXCHANGE_INFO_INVALID` naming `source` and the path of the bad field
 *   when the document itself is malformed (not an object, no `serverTime`, no `symbols` list)
 */
export function parseExchangeInfo(json: unknown, source: string): ExchangeRules {
  const doc = parseAt(documentSchema, json, [], source);
  // Each symbol's entry is parsed when it is first asked for: the document lists ~350 symbols
  // and a bot trades a few, so start-up does not pay for the rest (~60 ms). `symbols()` and
  // `problems()` parse the whole document once; a name listed twice is judged that way too.
  const entries = new Map<Symbol, { raw: unknown; index: number }>();
  const listedTwice = new Set<Symbol>();
  doc.symbols.forEach((raw, index) => {
    const name = isObj(raw) && typeof raw.symbol === 'string' ? raw.symbol : null;
    if (name === null) return;
    if (entries.has(name)) listedTwice.add(name);
    else entries.set(name, { raw, index });
  });
  const parsed = new Map<Symbol, SymbolRules | PerpbotError>();
  const one = (symbol: Symbol): SymbolRules | PerpbotError | undefined => {
    if (listedTwice.has(symbol)) return whole().bySymbol.get(symbol) ?? whole().broken.get(symbol);
    const known = parsed.get(symbol);
    if (known !== undefined) return known;
    const e = entries.get(symbol);
    if (e === undefined) return undefined;
    let r: SymbolRules | PerpbotError;
    try {
      r = parseSymbol(e.raw, e.index, source);
    } catch (err) {
      if (!(err instanceof PerpbotError)) throw err;
      r = err;
    }
    parsed.set(symbol, r);
    return r;
  };
  let all: { bySymbol: Map<Symbol, SymbolRules>; broken: Map<Symbol, PerpbotError>; problems: PerpbotError[] } | null = null;
  const whole = () => {
    if (all !== null) return all;
    const bySymbol = new Map<Symbol, SymbolRules>();
    const broken = new Map<Symbol, PerpbotError>();
    const problems: PerpbotError[] = [];
    doc.symbols.forEach((raw, i) => {
      const name = isObj(raw) && typeof raw.symbol === 'string' ? raw.symbol : null;
      try {
        const rules = parseSymbol(raw, i, source);
        if (bySymbol.has(rules.symbol) || broken.has(rules.symbol)) {
          throw invalid(source, ['symbols', i, 'symbol'], `duplicate symbol ${rules.symbol}`);
        }
        bySymbol.set(rules.symbol, rules);
      } catch (err) {
        if (!(err instanceof PerpbotError)) throw err;
        problems.push(err);
        if (name !== null) {
          bySymbol.delete(name);
          if (!broken.has(name)) broken.set(name, err);
        }
      }
    });
    return (all = { bySymbol, broken, problems });
  };
  const serverTime = doc.serverTime;
  return Object.freeze({
    serverTime,
    source,
    get(symbol: Symbol): SymbolRules {
      const r = one(symbol);
      if (r === undefined) {
        throw new PerpbotError('SYMBOL_UNKNOWN', `symbol ${symbol} is not in exchange info ${source}`, false, {
          symbol,
          source,
        });
      }
      if (r instanceof PerpbotError) throw r;
      return r;
    },
    has(symbol: Symbol): boolean {
      const r = one(symbol);
      return r !== undefined && !(r instanceof PerpbotError);
    },
    symbols(): Symbol[] {
      return [...whole().bySymbol.keys()];
    },
    problems(): readonly PerpbotError[] {
      return whole().problems;
    },
  });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Read and parse an exchangeInfo JSON file.
 * @param path file path of a saved `GET /fapi/v1/exchangeInfo` response
 * @throws PerpbotError code `EXCHANGE_INFO_INVALID` when the file cannot be read, is not JSON, or
 *   is malformed (the message names the path of the bad field)
 */
export function loadExchangeInfo(path: string): ExchangeRules {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PerpbotError('EXCHANGE_INFO_INVALID', `${path}: cannot read exchange info: ${reason}`, false, { source: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PerpbotError('EXCHANGE_INFO_INVALID', `${path}: not valid JSON: ${reason}`, false, { source: path });
  }
  return parseExchangeInfo(json, path);
}
