import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PerpbotError } from '../src/core/errors.ts';
import { loadExchangeInfo, parseExchangeInfo } from './exchange-info.ts';

const FILE = fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url));
const RAW = readFileSync(FILE, 'utf8');

type Json = Record<string, any>;
/** A fresh deep copy of the real recorded exchangeInfo, to corrupt in one place. */
const realJson = (): Json => JSON.parse(RAW) as Json;

/** Run `fn` and return the PerpbotError it throws (fails the test if it does not throw one). */
function thrown(fn: () => unknown): PerpbotError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PerpbotError);
    return err as PerpbotError;
  }
  throw new Error('expected a PerpbotError, nothing was thrown');
}

/**
 * Parse a corrupted copy and return the error: the document's own (thrown), or the first
 * malformed symbol entry's (left out and listed in problems(), the other symbols kept).
 */
function invalidAfter(mutate: (j: Json) => void): PerpbotError {
  const j = realJson();
  mutate(j);
  let err: PerpbotError;
  try {
    const info = parseExchangeInfo(j, 'test.json');
    expect(info.problems().length).toBeGreaterThan(0);
    expect(info.symbols().length).toBeGreaterThan(340); // the rest of the document is still there
    err = info.problems()[0]!;
  } catch (e) {
    expect(e).toBeInstanceOf(PerpbotError);
    err = e as PerpbotError;
  }
  expect(err.code).toBe('EXCHANGE_INFO_INVALID');
  return err;
}

describe('loadExchangeInfo on the recorded 2024-10-02 file', () => {
  const info = loadExchangeInfo(FILE);

  it('reads every symbol and the server time', () => {
    expect(info.symbols()).toHaveLength(347);
    expect(info.symbols()[0]).toBe('BTCUSDT');
    expect(info.serverTime).toBe(1727892008657);
    expect(info.source).toBe(FILE);
  });

  it('parses BTCUSDT exactly, as canonical decimal strings', () => {
    expect(info.get('BTCUSDT')).toEqual({
      symbol: 'BTCUSDT',
      status: 'TRADING',
      contractType: 'PERPETUAL',
      baseAsset: 'BTC',
      quoteAsset: 'USDT',
      pricePrecision: 2,
      quantityPrecision: 3,
      priceFilter: { minPrice: '556.8', maxPrice: '4529764', tickSize: '0.1' },
      lotSize: { minQty: '0.001', maxQty: '1000', stepSize: '0.001' },
      marketLotSize: { minQty: '0.001', maxQty: '120', stepSize: '0.001' },
      minNotional: { notional: '100' },
      percentPrice: { multiplierUp: '1.05', multiplierDown: '0.95', multiplierDecimal: '4' },
    });
  });

  it('parses symbols with other grids (1000PEPEUSDT tick 0.0000001, XRPUSDT tick 0.0001)', () => {
    const pepe = info.get('1000PEPEUSDT');
    expect(pepe.priceFilter).toEqual({ minPrice: '0.0000001', maxPrice: '200', tickSize: '0.0000001' });
    expect(pepe.lotSize).toEqual({ minQty: '1', maxQty: '800000000', stepSize: '1' });
    expect(pepe.marketLotSize).toEqual({ minQty: '1', maxQty: '100000000', stepSize: '1' });
    expect(pepe.minNotional.notional).toBe('5');
    expect(pepe.percentPrice).toEqual({ multiplierUp: '1.15', multiplierDown: '0.85', multiplierDecimal: '4' });
    expect(pepe.pricePrecision).toBe(7);
    expect(pepe.quantityPrecision).toBe(0);
    const xrp = info.get('XRPUSDT');
    expect(xrp.priceFilter.tickSize).toBe('0.0001');
    expect(xrp.lotSize.stepSize).toBe('0.1');
  });

  it('keeps symbols that do not trade, with their status and contract type', () => {
    expect(info.get('WAVESUSDT').status).toBe('SETTLING');
    expect(info.get('BTCSTUSDT').status).toBe('PENDING_TRADING');
    expect(info.get('BTCSTUSDT').contractType).toBe('');
    expect(info.get('BTCUSDT_241227').contractType).toBe('CURRENT_QUARTER');
  });

  it('decodes PERCENT_PRICE multipliers sent as scaled integers (BTCSTUSDT: 11500/8500, multiplierDecimal 4)', () => {
    expect(info.get('BTCSTUSDT').percentPrice).toEqual({ multiplierUp: '1.15', multiplierDown: '0.85', multiplierDecimal: '4' });
  });

  it('throws SYMBOL_UNKNOWN naming the symbol', () => {
    const err = thrown(() => info.get('NOPEUSDT'));
    expect(err.code).toBe('SYMBOL_UNKNOWN');
    expect(err.message).toContain('NOPEUSDT');
    expect(info.has('NOPEUSDT')).toBe(false);
    expect(info.has('ETHUSDT')).toBe(true);
  });

  it('returns frozen rules and a copy of the symbol list', () => {
    const r = info.get('BTCUSDT');
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r.priceFilter)).toBe(true);
    info.symbols().pop();
    expect(info.symbols()).toHaveLength(347);
  });
});

describe('parseExchangeInfo', () => {
  it('does not depend on key order', () => {
    const j = realJson();
    const reverse = (o: Json): Json => Object.fromEntries(Object.entries(o).reverse());
    j.symbols = j.symbols.map((s: Json) => reverse({ ...s, filters: s.filters.map(reverse).reverse() }));
    const a = parseExchangeInfo(reverse(j), 'reordered');
    const b = parseExchangeInfo(realJson(), 'original');
    for (const sym of ['BTCUSDT', '1000PEPEUSDT', 'XRPUSDT']) expect(a.get(sym)).toEqual(b.get(sym));
  });

  it('accepts maxPrice and minPrice "0" (no limit) and keeps them as "0"', () => {
    const j = realJson();
    j.symbols[0].filters[0].maxPrice = '0';
    j.symbols[0].filters[0].minPrice = '0';
    expect(parseExchangeInfo(j, 't').get('BTCUSDT').priceFilter).toEqual({ minPrice: '0', maxPrice: '0', tickSize: '0.1' });
  });

  it('accepts a missing MARKET_LOT_SIZE (marketLotSize null) and ignores unknown filters', () => {
    const j = realJson();
    j.symbols[0].filters = j.symbols[0].filters.filter((f: Json) => f.filterType !== 'MARKET_LOT_SIZE');
    j.symbols[0].filters.push({ filterType: 'SOME_FUTURE_FILTER', whatever: 1 });
    expect(parseExchangeInfo(j, 't').get('BTCUSDT').marketLotSize).toBeNull();
  });

  it('accepts multiplierDecimal as a JSON number (as the Binance docs show it)', () => {
    const j = realJson();
    j.symbols[0].filters[6].multiplierDecimal = 4;
    expect(parseExchangeInfo(j, 't').get('BTCUSDT').percentPrice.multiplierDecimal).toBe('4');
  });

  it('names the field of a number where a decimal string is required', () => {
    // symbols[12] is DASHUSDT, its filters[0] is PRICE_FILTER.
    const err = invalidAfter((j) => (j.symbols[12].filters[0].tickSize = 0.01));
    expect(err.message).toBe(
      'test.json: symbols[12].filters[0].tickSize: Invalid input: expected string, received number, got 0.01 (number)',
    );
    expect(err.details).toEqual({ source: 'test.json', field: 'symbols[12].filters[0].tickSize' });
  });

  it('names the field of a non-decimal or negative filter value', () => {
    expect(invalidAfter((j) => (j.symbols[12].filters[0].tickSize = '0.0l')).message).toBe(
      'test.json: symbols[12].filters[0].tickSize: expected a decimal number as a string, got "0.0l" (string)',
    );
    expect(invalidAfter((j) => (j.symbols[1].filters[5].notional = '-5')).message).toBe(
      'test.json: symbols[1].filters[5].notional: must not be negative, got "-5" (string)',
    );
  });

  it('names a missing filter field', () => {
    const err = invalidAfter((j) => delete j.symbols[3].filters[1].stepSize);
    expect(err.message).toBe('test.json: symbols[3].filters[1].stepSize: missing');
  });

  it('names a missing required filter', () => {
    const err = invalidAfter((j) => {
      j.symbols[0].filters = j.symbols[0].filters.filter((f: Json) => f.filterType !== 'MIN_NOTIONAL');
    });
    expect(err.message).toBe('test.json: symbols[0].filters: BTCUSDT has no MIN_NOTIONAL filter');
  });

  it('names a duplicate filter or symbol', () => {
    expect(invalidAfter((j) => j.symbols[0].filters.push({ ...j.symbols[0].filters[0] })).message).toBe(
      'test.json: symbols[0].filters[7].filterType: duplicate PRICE_FILTER (first at filters[0])',
    );
    expect(invalidAfter((j) => (j.symbols[1].symbol = 'BTCUSDT')).message).toBe(
      'test.json: symbols[1].symbol: duplicate symbol BTCUSDT',
    );
  });

  it('names bad symbol-level fields', () => {
    expect(invalidAfter((j) => (j.symbols[5].pricePrecision = '2')).message).toContain('symbols[5].pricePrecision');
    expect(invalidAfter((j) => (j.symbols[5].quantityPrecision = 1.5)).message).toContain('symbols[5].quantityPrecision');
    expect(invalidAfter((j) => delete j.symbols[7].symbol).message).toBe('test.json: symbols[7].symbol: missing');
    expect(invalidAfter((j) => (j.symbols[2].filters[3] = 'MAX_NUM_ORDERS')).message).toContain('symbols[2].filters[3]');
  });

  it('names PERCENT_PRICE multipliers on the wrong side of 1', () => {
    expect(invalidAfter((j) => (j.symbols[0].filters[6].multiplierUp = '0.9500')).message).toBe(
      'test.json: symbols[0].filters[6].multiplierUp: multiplierUp 0.95 < 1, got "0.9500" (string)',
    );
    expect(invalidAfter((j) => (j.symbols[0].filters[6].multiplierDown = '1.0500')).message).toBe(
      'test.json: symbols[0].filters[6].multiplierDown: multiplierDown 1.05 > 1, got "1.0500" (string)',
    );
  });

  it('names inconsistent bounds', () => {
    expect(invalidAfter((j) => (j.symbols[0].filters[0].maxPrice = '100')).message).toBe(
      'test.json: symbols[0].filters[0].maxPrice: maxPrice 100 < minPrice 556.8',
    );
    expect(invalidAfter((j) => (j.symbols[0].filters[2].maxQty = '0.0001')).message).toBe(
      'test.json: symbols[0].filters[2].maxQty: maxQty 0.0001 < minQty 0.001',
    );
  });

  it('names bad top-level fields', () => {
    expect(invalidAfter((j) => delete j.serverTime).message).toBe('test.json: serverTime: missing');
    expect(invalidAfter((j) => (j.symbols = {})).message).toContain('test.json: symbols:');
    const err = thrown(() => parseExchangeInfo(null, 'null.json'));
    expect(err.code).toBe('EXCHANGE_INFO_INVALID');
    expect(err.message).toContain('null.json: (root)');
  });
});

describe('a malformed symbol entry', () => {
  it('is left out: the other symbols are kept, get() of it throws its error, has() is false', () => {
    const j = realJson();
    j.symbols[12].filters[0].tickSize = 0.01; // DASHUSDT
    const info = parseExchangeInfo(j, 'test.json');
    expect(info.symbols()).toHaveLength(346);
    expect(info.has('DASHUSDT')).toBe(false);
    expect(info.get('BTCUSDT').priceFilter.tickSize).toBe('0.1');
    const err = thrown(() => info.get('DASHUSDT'));
    expect(err.code).toBe('EXCHANGE_INFO_INVALID');
    expect(err.message).toBe('test.json: symbols[12].filters[0].tickSize: Invalid input: expected string, received number, got 0.01 (number)');
    expect(info.problems().map((p) => p.message)).toEqual([err.message]);
  });

  it('a symbol listed twice is ambiguous: neither entry is used', () => {
    const j = realJson();
    j.symbols.push(JSON.parse(JSON.stringify(j.symbols[0])));
    const info = parseExchangeInfo(j, 'test.json');
    expect(info.has('BTCUSDT')).toBe(false);
    expect(thrown(() => info.get('BTCUSDT')).message).toBe('test.json: symbols[347].symbol: duplicate symbol BTCUSDT');
    expect(info.symbols()).toHaveLength(346);
  });
});

describe('loadExchangeInfo errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-exinfo-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a missing file', () => {
    const path = join(dir, 'missing.json');
    const err = thrown(() => loadExchangeInfo(path));
    expect(err.code).toBe('EXCHANGE_INFO_INVALID');
    expect(err.message).toContain(path);
  });

  it('names a file that is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, RAW.slice(0, 1000));
    const err = thrown(() => loadExchangeInfo(path));
    expect(err.code).toBe('EXCHANGE_INFO_INVALID');
    expect(err.message).toContain(`${path}: not valid JSON`);
  });

  it('names the file and field of a malformed entry when its symbol is asked for', () => {
    const path = join(dir, 'bad.json');
    const j = realJson();
    j.symbols[0].filters[1].minQty = 0.001;
    writeFileSync(path, JSON.stringify(j));
    const err = thrown(() => loadExchangeInfo(path).get('BTCUSDT'));
    expect(err.message).toContain(`${path}: symbols[0].filters[1].minQty:`);
  });
});
