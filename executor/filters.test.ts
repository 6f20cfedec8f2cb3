import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dec, str } from '../src/core/decimal.ts';
import { PerpbotError } from '../src/core/errors.ts';
import { loadExchangeInfo, parseExchangeInfo, type SymbolRules } from './exchange-info.ts';
import { lotSizeFor, roundPrice, roundQuantity, validateOrder, type OrderToValidate } from './filters.ts';

const FILE = fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url));
const info = loadExchangeInfo(FILE);
const BTC = info.get('BTCUSDT'); // tick 0.1, step 0.001, MARKET maxQty 120, MIN_NOTIONAL 100, 1.05/0.95
const PEPE = info.get('1000PEPEUSDT'); // tick 0.0000001, step 1, MIN_NOTIONAL 5, 1.15/0.85
const XRP = info.get('XRPUSDT'); // tick 0.0001, step 0.1, MIN_NOTIONAL 5

type Json = Record<string, any>;
/** BTCUSDT rules from the real file with one filter edited (filters: 0 PRICE, 1 LOT, 2 MARKET_LOT, 5 MIN_NOTIONAL). */
function btcWith(edit: (filters: any[]) => void): SymbolRules {
  const j = JSON.parse(readFileSync(FILE, 'utf8')) as Json;
  edit(j.symbols[0].filters);
  return parseExchangeInfo(j, 'edited').get('BTCUSDT');
}

const q = (rules: SymbolRules, qty: string, type: 'MARKET' | 'LIMIT' = 'LIMIT') => str(roundQuantity(rules, qty, type));
const p = (rules: SymbolRules, price: string, side: 'BUY' | 'SELL') => str(roundPrice(rules, price, side));

describe('roundQuantity', () => {
  it('floors to the step (BTCUSDT 0.001)', () => {
    expect(q(BTC, '0.0019')).toBe('0.001');
    expect(q(BTC, '0.0019', 'MARKET')).toBe('0.001');
    expect(q(BTC, '1.23456789')).toBe('1.234');
    expect(q(BTC, '119.9999', 'MARKET')).toBe('119.999');
    expect(q(BTC, '0.0009')).toBe('0');
  });

  it('leaves on-step quantities unchanged', () => {
    expect(q(BTC, '0.001')).toBe('0.001');
    expect(q(BTC, '0.0010')).toBe('0.001');
    expect(q(BTC, '12.345')).toBe('12.345');
    expect(q(PEPE, '1234')).toBe('1234');
  });

  it('floors to integer steps (1000PEPEUSDT step 1) and 0.1 steps (XRPUSDT)', () => {
    expect(q(PEPE, '1234.9999')).toBe('1234');
    expect(q(PEPE, '0.99', 'MARKET')).toBe('0');
    expect(q(XRP, '10.19')).toBe('10.1');
  });

  it('is exact: no float artefacts', () => {
    // 0.1 + 0.2 is 0.30000000000000004 in floats; decimals give 0.3, which is on the 0.001 grid.
    expect(q(BTC, str(dec('0.1').plus('0.2')))).toBe('0.3');
    expect(q(BTC, '0.30000000000000004')).toBe('0.3');
    // 0.043 = 4300 / 100000 exactly; float division gives 0.042999999999999997 and floors to 0.042.
    expect(q(BTC, str(dec('4300').div('100000')), 'MARKET')).toBe('0.043');
    expect(q(XRP, '0.7')).toBe('0.7'); // float: Math.floor(0.7 / 0.1) * 0.1 = 0.6000000000000001
  });

  it('uses MARKET_LOT_SIZE for MARKET and LOT_SIZE for LIMIT', () => {
    const r = btcWith((f) => {
      f[1].stepSize = '0.01';
      f[1].minQty = '0.01';
    });
    expect(q(r, '0.0199', 'LIMIT')).toBe('0.01');
    expect(q(r, '0.0199', 'MARKET')).toBe('0.019');
  });

  it('falls back to LOT_SIZE when MARKET_LOT_SIZE stepSize is "0" or the filter is absent', () => {
    const zeroStep = btcWith((f) => {
      f[1].stepSize = '0.01';
      f[1].minQty = '0.01';
      f[2].stepSize = '0';
    });
    expect(q(zeroStep, '0.0199', 'MARKET')).toBe('0.01');
    expect(lotSizeFor(zeroStep, 'MARKET').filter).toBe('MARKET_LOT_SIZE');
    expect(str(lotSizeFor(zeroStep, 'MARKET').maxQty)).toBe('120');
    const absent = btcWith((f) => {
      f[1].stepSize = '0.01';
      f[1].minQty = '0.01';
      f.splice(2, 1);
    });
    expect(q(absent, '0.0199', 'MARKET')).toBe('0.01');
    expect(lotSizeFor(absent, 'MARKET')).toMatchObject({ filter: 'LOT_SIZE' });
    expect(str(lotSizeFor(absent, 'MARKET').maxQty)).toBe('1000');
  });

  it('rejects non-decimal input', () => {
    expect(() => roundQuantity(BTC, '1e', 'LIMIT')).toThrow(TypeError);
  });

  it('parses the lot rules of frozen (loaded) filters once, and never serves one type\'s rules for another', () => {
    expect(lotSizeFor(BTC, 'MARKET')).toBe(lotSizeFor(BTC, 'MARKET'));
    expect(lotSizeFor(BTC, 'LIMIT')).toBe(lotSizeFor(BTC, 'LIMIT'));
    expect(lotSizeFor(BTC, 'LIMIT').filter).toBe('LOT_SIZE');
    expect(lotSizeFor(BTC, 'MARKET').filter).toBe('MARKET_LOT_SIZE');
    expect(Object.isFrozen(lotSizeFor(BTC, 'MARKET'))).toBe(true);
    // filters that are not frozen may change: read every time
    const lotSize = { ...BTC.lotSize };
    const open: SymbolRules = { ...BTC, lotSize, marketLotSize: null };
    expect(str(lotSizeFor(open, 'MARKET').stepSize)).toBe(BTC.lotSize.stepSize);
    lotSize.stepSize = '0.01';
    expect(str(lotSizeFor(open, 'MARKET').stepSize)).toBe('0.01');
  });
});

describe('roundPrice', () => {
  it('rounds toward the passive side: BUY down, SELL up (BTCUSDT tick 0.1)', () => {
    expect(p(BTC, '108153.47', 'BUY')).toBe('108153.4');
    expect(p(BTC, '108153.47', 'SELL')).toBe('108153.5');
    expect(p(BTC, '108153.41', 'SELL')).toBe('108153.5');
    expect(p(BTC, '108153.49', 'BUY')).toBe('108153.4');
    expect(p(BTC, '108153.99', 'SELL')).toBe('108154');
  });

  it('leaves on-tick prices unchanged on both sides', () => {
    expect(p(BTC, '108153.4', 'BUY')).toBe('108153.4');
    expect(p(BTC, '108153.4', 'SELL')).toBe('108153.4');
    expect(p(BTC, '108153.40', 'SELL')).toBe('108153.4');
    expect(p(BTC, '108153', 'SELL')).toBe('108153');
  });

  it('handles small ticks (XRPUSDT 0.0001, 1000PEPEUSDT 0.0000001)', () => {
    expect(p(XRP, '0.52349', 'BUY')).toBe('0.5234');
    expect(p(XRP, '0.52341', 'SELL')).toBe('0.5235');
    expect(p(XRP, '0.5234', 'SELL')).toBe('0.5234');
    expect(p(PEPE, '0.00000915', 'BUY')).toBe('0.0000091');
    expect(p(PEPE, '0.00000915', 'SELL')).toBe('0.0000092');
    expect(p(PEPE, '0.0000091', 'SELL')).toBe('0.0000091');
  });

  it('is exact: no float artefacts', () => {
    expect(p(XRP, '0.30000000000000004', 'BUY')).toBe('0.3');
    expect(p(XRP, '0.30000000000000004', 'SELL')).toBe('0.3001');
    expect(p(XRP, str(dec('0.1').plus('0.2')), 'SELL')).toBe('0.3');
    // float: Math.ceil(1.1 / 0.1) * 0.1 = 1.2000000000000002
    expect(p(BTC, '1.1', 'SELL')).toBe('1.1');
  });
});

describe('validateOrder', () => {
  const limit = (o: Partial<OrderToValidate>): OrderToValidate => ({
    side: 'BUY',
    type: 'LIMIT',
    quantity: '0.002',
    price: '100000',
    reduceOnly: false,
    refPrice: '100000',
    ...o,
  });
  const market = (o: Partial<OrderToValidate>): OrderToValidate => ({
    side: 'BUY',
    type: 'MARKET',
    quantity: '0.002',
    reduceOnly: false,
    refPrice: '100000',
    ...o,
  });

  it('accepts valid orders', () => {
    expect(validateOrder(BTC, limit({}))).toBeNull();
    expect(validateOrder(BTC, limit({ side: 'SELL' }))).toBeNull();
    expect(validateOrder(BTC, market({}))).toBeNull();
    expect(validateOrder(PEPE, limit({ quantity: '600000', price: '0.0000091', refPrice: '0.0000091' }))).toBeNull();
    expect(validateOrder(XRP, market({ quantity: '10.1', refPrice: '0.5234' }))).toBeNull();
  });

  it('QUANTITY -4003 when quantity <= 0', () => {
    expect(validateOrder(BTC, limit({ quantity: '0' }))).toEqual({
      filter: 'QUANTITY',
      code: -4003,
      reason: 'quantity 0 <= 0',
    });
    expect(validateOrder(BTC, market({ quantity: '-0.001' }))).toEqual({
      filter: 'QUANTITY',
      code: -4003,
      reason: 'quantity -0.001 <= 0',
    });
  });

  it('-1111 when the quantity has more decimals than quantityPrecision (off the 0.001 step)', () => {
    expect(validateOrder(BTC, limit({ quantity: '0.0015' }))).toEqual({
      filter: 'LOT_SIZE',
      code: -1111,
      reason: 'quantity 0.0015 has 4 decimals > quantityPrecision 3',
    });
    expect(validateOrder(BTC, market({ quantity: '0.0015' }))?.filter).toBe('MARKET_LOT_SIZE');
    expect(validateOrder(PEPE, market({ quantity: '1000.5', refPrice: '0.0000091' }))).toMatchObject({
      filter: 'MARKET_LOT_SIZE',
      code: -1111,
    });
  });

  it('-4023 when the quantity is within precision but off the step', () => {
    const r = btcWith((f) => {
      f[1].stepSize = '0.002';
      f[1].minQty = '0.002';
    });
    expect(validateOrder(r, limit({ quantity: '0.003' }))).toEqual({
      filter: 'LOT_SIZE',
      code: -4023,
      reason: 'quantity 0.003 is not on the LOT_SIZE stepSize 0.002 grid from minQty 0.002',
    });
    expect(validateOrder(r, limit({ quantity: '0.004' }))).toBeNull();
  });

  it('-4004 when the quantity is below minQty', () => {
    const r = btcWith((f) => (f[1].minQty = '0.005'));
    expect(validateOrder(r, limit({ quantity: '0.004' }))).toEqual({
      filter: 'LOT_SIZE',
      code: -4004,
      reason: 'quantity 0.004 < LOT_SIZE minQty 0.005',
    });
    expect(validateOrder(r, limit({ quantity: '0.005' }))).toBeNull();
  });

  it('-4005 when the quantity is above maxQty (MARKET 120, LIMIT 1000 on BTCUSDT)', () => {
    expect(validateOrder(BTC, market({ quantity: '120.001' }))).toEqual({
      filter: 'MARKET_LOT_SIZE',
      code: -4005,
      reason: 'quantity 120.001 > MARKET_LOT_SIZE maxQty 120',
    });
    expect(validateOrder(BTC, market({ quantity: '120' }))).toBeNull();
    expect(validateOrder(BTC, limit({ quantity: '120.001' }))).toBeNull();
    expect(validateOrder(BTC, limit({ quantity: '1000.001' }))).toEqual({
      filter: 'LOT_SIZE',
      code: -4005,
      reason: 'quantity 1000.001 > LOT_SIZE maxQty 1000',
    });
  });

  it('-1102 for a LIMIT order without a price', () => {
    expect(validateOrder(BTC, limit({ price: undefined }))).toMatchObject({ filter: 'PRICE_FILTER', code: -1102 });
  });

  it('-4001 for a price <= 0', () => {
    expect(validateOrder(BTC, limit({ price: '0' }))).toEqual({
      filter: 'PRICE_FILTER',
      code: -4001,
      reason: 'price 0 <= 0',
    });
  });

  it('-1111 when the price has more decimals than pricePrecision', () => {
    expect(validateOrder(BTC, limit({ price: '100000.005' }))).toEqual({
      filter: 'PRICE_FILTER',
      code: -1111,
      reason: 'price 100000.005 has 3 decimals > pricePrecision 2',
    });
    expect(validateOrder(PEPE, limit({ quantity: '600000', price: '0.00000915', refPrice: '0.0000091' }))).toMatchObject({
      code: -1111,
    });
  });

  it('-4014 when the price is within precision but off the tick (BTCUSDT pricePrecision 2, tick 0.1)', () => {
    expect(validateOrder(BTC, limit({ price: '100000.05' }))).toEqual({
      filter: 'PRICE_FILTER',
      code: -4014,
      reason: 'price 100000.05 is not on the tickSize 0.1 grid',
    });
    expect(validateOrder(BTC, limit({ price: '100000.10' }))).toBeNull();
  });

  it('-4013 below minPrice, -4002 above maxPrice', () => {
    expect(validateOrder(BTC, limit({ price: '556.7', refPrice: '556.7', quantity: '1' }))).toEqual({
      filter: 'PRICE_FILTER',
      code: -4013,
      reason: 'price 556.7 < minPrice 556.8',
    });
    expect(validateOrder(BTC, limit({ price: '556.8', refPrice: '556.8', quantity: '1' }))).toBeNull();
    expect(validateOrder(BTC, limit({ price: '4529764.1', refPrice: '4529764.1', quantity: '0.001' }))).toEqual({
      filter: 'PRICE_FILTER',
      code: -4002,
      reason: 'price 4529764.1 > maxPrice 4529764',
    });
  });

  it('maxPrice "0" and minPrice "0" mean no limit', () => {
    const r = btcWith((f) => {
      f[0].maxPrice = '0';
      f[0].minPrice = '0';
    });
    expect(validateOrder(r, limit({ price: '10000000', refPrice: '10000000', quantity: '0.001' }))).toBeNull();
    expect(validateOrder(r, limit({ price: '0.1', refPrice: '0.1', quantity: '1000', reduceOnly: true }))).toBeNull();
    expect(validateOrder(r, limit({ price: '0.15', refPrice: '0.1', quantity: '1000', reduceOnly: true }))).toMatchObject({
      code: -4014,
    });
  });

  it('PERCENT_PRICE -4016: a BUY above refPrice × multiplierUp', () => {
    expect(validateOrder(BTC, limit({ price: '105000' }))).toBeNull(); // exactly the cap
    expect(validateOrder(BTC, limit({ price: '105000.1' }))).toEqual({
      filter: 'PERCENT_PRICE',
      code: -4016,
      reason: 'BUY price 105000.1 > refPrice 100000 × multiplierUp 1.05 = 105000',
    });
  });

  it('PERCENT_PRICE -4024: a SELL below refPrice × multiplierDown', () => {
    expect(validateOrder(BTC, limit({ side: 'SELL', price: '95000' }))).toBeNull(); // exactly the floor
    expect(validateOrder(BTC, limit({ side: 'SELL', price: '94999.9' }))).toEqual({
      filter: 'PERCENT_PRICE',
      code: -4024,
      reason: 'SELL price 94999.9 < refPrice 100000 × multiplierDown 0.95 = 95000',
    });
  });

  it('PERCENT_PRICE caps buys and floors sells only (a deep bid or a high offer passes)', () => {
    expect(validateOrder(BTC, limit({ side: 'BUY', price: '90000' }))).toBeNull();
    expect(validateOrder(BTC, limit({ side: 'SELL', price: '110000' }))).toBeNull();
  });

  it('PERCENT_PRICE uses the symbol multipliers (1000PEPEUSDT 1.15)', () => {
    expect(validateOrder(PEPE, limit({ quantity: '600000', price: '0.0000115', refPrice: '0.00001' }))).toBeNull();
    expect(validateOrder(PEPE, limit({ quantity: '600000', price: '0.0000116', refPrice: '0.00001' }))).toMatchObject({
      filter: 'PERCENT_PRICE',
      code: -4016,
    });
  });

  it('MIN_NOTIONAL -4164 on price × quantity for LIMIT', () => {
    expect(validateOrder(BTC, limit({ quantity: '0.001', price: '50300', refPrice: '50300' }))).toEqual({
      filter: 'MIN_NOTIONAL',
      code: -4164,
      reason: 'notional 50.3 < MIN_NOTIONAL 100',
    });
    expect(validateOrder(BTC, limit({ quantity: '0.001', price: '100000' }))).toBeNull(); // exactly 100
  });

  it('MIN_NOTIONAL uses refPrice for MARKET (a MARKET price is ignored)', () => {
    expect(validateOrder(BTC, market({ quantity: '0.001', refPrice: '99999.9' }))).toEqual({
      filter: 'MIN_NOTIONAL',
      code: -4164,
      reason: 'notional 99.9999 < MIN_NOTIONAL 100',
    });
    expect(validateOrder(BTC, market({ quantity: '0.001', refPrice: '100000' }))).toBeNull();
    expect(validateOrder(BTC, market({ quantity: '0.001', refPrice: '50000', price: '1000000' }))).toMatchObject({
      code: -4164,
    });
  });

  it('reduce-only orders are exempt from MIN_NOTIONAL, not from the other filters', () => {
    expect(validateOrder(BTC, limit({ quantity: '0.001', price: '50300', refPrice: '50300', reduceOnly: true }))).toBeNull();
    expect(validateOrder(BTC, market({ quantity: '0.001', refPrice: '50000', reduceOnly: true }))).toBeNull();
    expect(validateOrder(BTC, market({ quantity: '0.0001', refPrice: '50000', reduceOnly: true }))).toMatchObject({
      code: -1111,
    });
    expect(validateOrder(BTC, limit({ price: '105000.1', reduceOnly: true }))).toMatchObject({ code: -4016 });
  });

  it('computes the notional exactly (0.009 × 100000 is 899.9999999999999 in floats)', () => {
    const r = btcWith((f) => (f[5].notional = '900'));
    expect(validateOrder(r, market({ quantity: '0.009', refPrice: '100000' }))).toBeNull();
    expect(validateOrder(r, limit({ quantity: '0.009', price: '100000' }))).toBeNull();
    expect(validateOrder(r, limit({ quantity: '0.009', price: '99999.9' }))).toMatchObject({
      reason: 'notional 899.9991 < MIN_NOTIONAL 900',
    });
  });

  it('reports the first violation in order: quantity, lot, price, percent price, notional', () => {
    expect(validateOrder(BTC, limit({ quantity: '0', price: '1.05' }))?.code).toBe(-4003);
    expect(validateOrder(BTC, limit({ quantity: '0.0001', price: '100000.05' }))?.code).toBe(-1111);
    expect(validateOrder(BTC, limit({ quantity: '0.0001', price: '100000.05' }))?.filter).toBe('LOT_SIZE');
    expect(validateOrder(BTC, limit({ quantity: '0.001', price: '200000.05' }))?.code).toBe(-4014);
    expect(validateOrder(BTC, limit({ quantity: '0.0001', price: '200000' }))?.code).toBe(-1111);
    expect(validateOrder(BTC, limit({ quantity: '0.001', price: '200000' }))?.code).toBe(-4016);
  });

  it('round-then-validate passes for rounded values', () => {
    const qty = roundQuantity(BTC, '0.0019', 'LIMIT');
    const price = roundPrice(BTC, '108153.47', 'SELL');
    expect(validateOrder(BTC, { side: 'SELL', type: 'LIMIT', quantity: qty, price, reduceOnly: true, refPrice: '108153.47' })).toBeNull();
  });

  it('throws INVARIANT for a refPrice <= 0 and TypeError for non-decimal input', () => {
    let err: unknown;
    try {
      validateOrder(BTC, market({ refPrice: '0' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PerpbotError);
    expect((err as PerpbotError).code).toBe('INVARIANT');
    expect(() => validateOrder(BTC, market({ quantity: 'NaN' }))).toThrow(TypeError);
  });
});
