import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { str } from '../src/core/decimal.ts';
import { loadExchangeInfo, parseExchangeInfo, type SymbolRules } from './exchange-info.ts';
import { sizeEntry, type SizeEntryParams, type SizeEntryResult } from './sizing.ts';

const FILE = fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url));
const info = loadExchangeInfo(FILE);
const BTC = info.get('BTCUSDT'); // MARKET_LOT_SIZE step 0.001, minQty 0.001, maxQty 120
const PEPE = info.get('1000PEPEUSDT'); // MARKET_LOT_SIZE step 1, maxQty 100000000
const XRP = info.get('XRPUSDT'); // MARKET_LOT_SIZE step 0.1

type Json = Record<string, any>;
function btcWith(edit: (filters: any[]) => void): SymbolRules {
  const j = JSON.parse(readFileSync(FILE, 'utf8')) as Json;
  edit(j.symbols[0].filters);
  return parseExchangeInfo(j, 'edited').get('BTCUSDT');
}

const fixed = (rules: SymbolRules, notional: string | undefined, refPrice: string, o: Partial<SizeEntryParams> = {}) =>
  sizeEntry({ rules, refPrice, mode: 'fixed_notional', notional, leverage: 1, side: 'BUY', ...o });
const equity = (rules: SymbolRules, eq: string | undefined, fraction: string | undefined, leverage: number, refPrice: string) =>
  sizeEntry({ rules, refPrice, mode: 'equity_fraction', equity: eq, equityFraction: fraction, leverage, side: 'SELL' });

/** The quantity as a string, or fail with the violation. */
function qty(r: SizeEntryResult): string {
  if ('violation' in r) throw new Error(`unexpected violation: ${r.violation}`);
  return str(r.quantity);
}
/** The violation, or fail with the quantity. */
function why(r: SizeEntryResult): string {
  if ('quantity' in r) throw new Error(`expected a violation, got quantity ${str(r.quantity)}`);
  return r.violation;
}

describe('sizeEntry fixed_notional', () => {
  it('divides the notional by the price and floors to the MARKET step', () => {
    expect(qty(fixed(BTC, '500', '108153.4'))).toBe('0.004'); // 0.004623...
    expect(qty(fixed(BTC, '1000', '60000'))).toBe('0.016'); // 0.01666...
    expect(qty(fixed(XRP, '100', '0.5234'))).toBe('191'); // 191.0584...
    expect(qty(fixed(PEPE, '50', '0.0000091'))).toBe('5494505'); // 5494505.49...
  });

  it('is exact where floats lose a step', () => {
    // 4300 / 100000 = 0.043 exactly; in floats 4300 / 100000 / 0.001 = 42.99999... → 0.042.
    expect(qty(fixed(BTC, '4300', '100000'))).toBe('0.043');
    // 300.0003 / 100000.1 = 0.003 exactly; floats give 2 steps.
    expect(qty(fixed(BTC, '300.0003', '100000.1'))).toBe('0.003');
    expect(qty(fixed(BTC, '108.1534', '108153.4'))).toBe('0.001');
  });

  it('ignores leverage (the notional is the exposure)', () => {
    expect(qty(fixed(BTC, '500', '108153.4', { leverage: 20 }))).toBe('0.004');
  });

  it('reports a quantity that floors to zero', () => {
    expect(why(fixed(BTC, '100', '108153.4'))).toBe(
      'BUY BTCUSDT: notional 100 / refPrice 108153.4 floors to quantity 0 at MARKET_LOT_SIZE stepSize 0.001',
    );
  });

  it('reports a quantity below minQty', () => {
    const r = btcWith((f) => (f[2].minQty = '0.005'));
    expect(why(fixed(r, '400', '100000'))).toBe(
      'BUY BTCUSDT: notional 400 / refPrice 100000 = quantity 0.004 < MARKET_LOT_SIZE minQty 0.005',
    );
    expect(qty(fixed(r, '500', '100000'))).toBe('0.005');
  });

  it('reports a quantity above the MARKET maxQty', () => {
    expect(why(fixed(BTC, '12000100', '100000'))).toBe(
      'BUY BTCUSDT: notional 12000100 / refPrice 100000 = quantity 120.001 > MARKET_LOT_SIZE maxQty 120',
    );
    expect(qty(fixed(BTC, '12000000', '100000'))).toBe('120');
  });

  it('falls back to the LOT_SIZE step when MARKET_LOT_SIZE stepSize is "0"', () => {
    const r = btcWith((f) => {
      f[1].stepSize = '0.01';
      f[1].minQty = '0.01';
      f[2].stepSize = '0';
    });
    expect(qty(fixed(r, '1990', '100000'))).toBe('0.01'); // 0.0199
  });

  it('reports missing or bad inputs instead of throwing', () => {
    expect(why(fixed(BTC, undefined, '100000'))).toBe('notional is required');
    expect(why(fixed(BTC, '0', '100000'))).toBe('notional 0 must be > 0');
    expect(why(fixed(BTC, '-5', '100000'))).toBe('notional -5 must be > 0');
    expect(why(fixed(BTC, 'lots', '100000'))).toBe('notional "lots" is not a decimal number');
    expect(why(fixed(BTC, '500', '0'))).toBe('refPrice 0 must be > 0');
    expect(why(fixed(BTC, '500', ''))).toBe('refPrice "" is not a decimal number');
  });
});

describe('sizeEntry equity_fraction', () => {
  it('sizes equity × fraction × leverage / price, floored to the MARKET step', () => {
    // 1000 × 0.1 × 5 = 500 → 500 / 108153.4 = 0.004623...
    expect(qty(equity(BTC, '1000', '0.1', 5, '108153.4'))).toBe('0.004');
    // 2500 × 0.25 × 10 = 6250 → / 62500 = 0.1 exactly
    expect(qty(equity(BTC, '2500', '0.25', 10, '62500'))).toBe('0.1');
    // 0.1 + 0.2 style: 1000 × 0.3 × 1 = 300 → / 100000 = 0.003 exactly
    expect(qty(equity(BTC, '1000', '0.3', 1, '100000'))).toBe('0.003');
  });

  it('reports a size that floors to zero, naming the computation', () => {
    expect(why(equity(BTC, '100', '0.1', 2, '100000'))).toBe(
      'SELL BTCUSDT: equity 100 × equityFraction 0.1 × leverage 2 = 20 / refPrice 100000 floors to quantity 0 at MARKET_LOT_SIZE stepSize 0.001',
    );
  });

  it('reports missing or bad inputs instead of throwing', () => {
    expect(why(equity(BTC, undefined, '0.1', 5, '100000'))).toBe('equity is required');
    expect(why(equity(BTC, '0', '0.1', 5, '100000'))).toBe('equity 0 must be > 0');
    expect(why(equity(BTC, '1000', undefined, 5, '100000'))).toBe('equityFraction is required');
    expect(why(equity(BTC, '1000', '1.5', 5, '100000'))).toBe('equityFraction 1.5 must be <= 1');
    expect(why(equity(BTC, '1000', '0.1', 0, '100000'))).toBe('leverage 0 must be a positive integer');
    expect(why(equity(BTC, '1000', '0.1', 2.5, '100000'))).toBe('leverage 2.5 must be a positive integer');
    expect(why(equity(BTC, '1000', '0.1', Number.NaN, '100000'))).toBe('leverage NaN must be a positive integer');
  });
});
