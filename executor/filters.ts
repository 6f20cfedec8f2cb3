/**
 * Binance USDⓈ-M symbol filters as pure functions: round an order to the exchange's grid, then
 * check it the way the exchange would, so that an order Binance would refuse never leaves the
 * process (the executor turns a violation into an `OrderDenied` event).
 *
 * Units: prices in the quote asset (USDT), quantities in the base asset (e.g. BTC), notionals in
 * the quote asset. All arithmetic is exact decimal arithmetic ({@link Decimal}); no floats.
 *
 * Sources:
 * - Binance "Filters" (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, PERCENT_PRICE):
 *   https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition
 * - Binance "Error Codes" (the `code` of a {@link FilterViolation}):
 *   https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 */
import { Decimal, dec, str } from '../src/core/decimal.ts';
import { PerpbotError } from '../src/core/errors.ts';
import type { OrderType, Side } from '../src/core/types.ts';
import type { LotSizeRules, SymbolRules } from './exchange-info.ts';

/**
 * Binance USDⓈ-M error codes produced by the filter checks, as listed on the "Error Codes" page
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
 */
export const BINANCE_FILTER_ERROR = {
  /** -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED: a LIMIT order without `price`. */
  MANDATORY_PARAM_EMPTY_OR_MALFORMED: -1102,
  /** -1111 BAD_PRECISION: "Precision is over the maximum defined for this asset." */
  BAD_PRECISION: -1111,
  /** -4001 PRICE_LESS_THAN_ZERO: "Price less than 0." */
  PRICE_LESS_THAN_ZERO: -4001,
  /** -4002 PRICE_GREATER_THAN_MAX_PRICE: "Price greater than max price." */
  PRICE_GREATER_THAN_MAX_PRICE: -4002,
  /** -4003 QTY_LESS_THAN_ZERO: "Quantity less than or equal to zero." */
  QTY_LESS_THAN_ZERO: -4003,
  /** -4004 QTY_LESS_THAN_MIN_QTY: "Quantity less than min quantity." */
  QTY_LESS_THAN_MIN_QTY: -4004,
  /** -4005 QTY_GREATER_THAN_MAX_QTY: "Quantity greater than max quantity." */
  QTY_GREATER_THAN_MAX_QTY: -4005,
  /** -4013 PRICE_LESS_THAN_MIN_PRICE: "Price less than min price." */
  PRICE_LESS_THAN_MIN_PRICE: -4013,
  /** -4014 PRICE_NOT_INCREASED_BY_TICK_SIZE: "Price not increased by tick size." */
  PRICE_NOT_INCREASED_BY_TICK_SIZE: -4014,
  /** -4016 PRICE_HIGHTER_THAN_MULTIPLIER_UP (sic): "Price is higher than mark price multiplier cap." */
  PRICE_HIGHER_THAN_MULTIPLIER_UP: -4016,
  /** -4023 QTY_NOT_INCREASED_BY_STEP_SIZE: "Qty not increased by step size." */
  QTY_NOT_INCREASED_BY_STEP_SIZE: -4023,
  /** -4024 PRICE_LOWER_THAN_MULTIPLIER_DOWN: "Price is lower than mark price multiplier floor." */
  PRICE_LOWER_THAN_MULTIPLIER_DOWN: -4024,
  /** -4164 MIN_NOTIONAL: "Order's notional must be no smaller than %s (unless you choose reduce only)" */
  MIN_NOTIONAL: -4164,
} as const;

/** The filter (or check) an order breaks. `QUANTITY` is the "quantity must be > 0" check. */
export type FilterName = 'PRICE_FILTER' | 'LOT_SIZE' | 'MARKET_LOT_SIZE' | 'MIN_NOTIONAL' | 'PERCENT_PRICE' | 'QUANTITY';

/**
 * Why Binance would refuse an order.
 * Source: Binance "Filters" and "Error Codes" pages for USDⓈ-M futures (see the module doc).
 */
export interface FilterViolation {
  /** The filter the order breaks. */
  filter: FilterName;
  /** The Binance error code the exchange would answer with, e.g. -4164. */
  code: number;
  /** Human-readable, names the values, e.g. `"notional 50.3 < MIN_NOTIONAL 100"`. */
  reason: string;
}

/** An order as {@link validateOrder} sees it. */
export interface OrderToValidate {
  side: Side;
  type: OrderType;
  /** Base-asset quantity (e.g. BTC). */
  quantity: Decimal | string;
  /** Limit price, quote asset; required for LIMIT, ignored for MARKET. */
  price?: Decimal | string | undefined;
  /** STOP_MARKET: the trigger price, quote asset (checked against PRICE_FILTER like a price). */
  stopPrice?: Decimal | string | undefined;
  /** STOP_MARKET: closes the whole position (no quantity: the quantity filters do not apply). */
  closePosition?: boolean | undefined;
  /** Reduce-only orders are exempt from MIN_NOTIONAL. */
  reduceOnly: boolean;
  /** Reference price, quote asset: the mark price (or the last close). Must be > 0. */
  refPrice: Decimal | string;
}

/** The quantity rules that apply to an order type, and the name of the filter they come from. */
export interface EffectiveLotSize {
  filter: 'LOT_SIZE' | 'MARKET_LOT_SIZE';
  /** Smallest quantity, base asset; `0` = none. */
  minQty: Decimal;
  /** Largest quantity, base asset; `0` = no limit. */
  maxQty: Decimal;
  /** Quantity increment, base asset; `0` = no step. */
  stepSize: Decimal;
}

/**
 * Effective lot rules of frozen filter objects (what loadExchangeInfo builds), by LOT_SIZE, then
 * MARKET_LOT_SIZE (or LOT_SIZE again when there is none): parsed once, not on every order.
 * Frozen objects cannot change, and Decimals are immutable, so sharing them is safe.
 */
const lotCache = new WeakMap<LotSizeRules, WeakMap<LotSizeRules, EffectiveLotSize>>();

/**
 * The quantity rules for an order type: LOT_SIZE for LIMIT, MARKET_LOT_SIZE for MARKET.
 * When the symbol has no MARKET_LOT_SIZE, LOT_SIZE applies to MARKET orders too; a `"0"` field in
 * MARKET_LOT_SIZE (e.g. `stepSize: "0"`) falls back to the same field of LOT_SIZE.
 * Quantities in the base asset. Source: Binance "Filters" (LOT_SIZE, MARKET_LOT_SIZE).
 * Memoised for frozen filter objects (see `lotCache`); the result must not be mutated.
 */
export function lotSizeFor(rules: SymbolRules, type: OrderType): EffectiveLotSize {
  const lot = rules.lotSize;
  const market: LotSizeRules | null = type === 'MARKET' ? rules.marketLotSize : null;
  const cacheable = Object.isFrozen(lot) && (market === null || Object.isFrozen(market));
  if (cacheable) {
    const hit = lotCache.get(lot)?.get(market ?? lot);
    if (hit !== undefined) return hit;
  }
  const effective: EffectiveLotSize =
    market === null
      ? { filter: 'LOT_SIZE', minQty: dec(lot.minQty), maxQty: dec(lot.maxQty), stepSize: dec(lot.stepSize) }
      : {
          filter: 'MARKET_LOT_SIZE',
          minQty: pickLot(market.minQty, lot.minQty),
          maxQty: pickLot(market.maxQty, lot.maxQty),
          stepSize: pickLot(market.stepSize, lot.stepSize),
        };
  if (cacheable) {
    let byMarket = lotCache.get(lot);
    if (byMarket === undefined) lotCache.set(lot, (byMarket = new WeakMap()));
    byMarket.set(market ?? lot, Object.freeze(effective));
  }
  return effective;
}

/** MARKET_LOT_SIZE's field, or LOT_SIZE's when it is "0". */
function pickLot(market: string, lot: string): Decimal {
  return dec(market).isZero() ? dec(lot) : dec(market);
}

/** Largest multiple of `m` (> 0) that is ≤ `x`. Exact. */
function floorToMultiple(x: Decimal, m: Decimal): Decimal {
  const r = x.divToInt(m).times(m); // divToInt truncates toward zero, exactly
  return r.gt(x) ? r.minus(m) : r;
}

/** Smallest multiple of `m` (> 0) that is ≥ `x`. Exact. */
function ceilToMultiple(x: Decimal, m: Decimal): Decimal {
  const r = x.divToInt(m).times(m);
  return r.lt(x) ? r.plus(m) : r;
}

/**
 * Floor a quantity to the step size of the order type's lot filter (LOT_SIZE for LIMIT,
 * MARKET_LOT_SIZE for MARKET, falling back to LOT_SIZE when MARKET_LOT_SIZE's stepSize is "0" or
 * the filter is absent). Never rounds up, so an order never grows. Bounds are not applied: use
 * {@link validateOrder}.
 *
 * @param qty quantity in the base asset, e.g. `"0.0019"` (BTC)
 * @returns the quantity in the base asset on the step grid, e.g. `0.001`; unchanged when already
 *   on the grid or when the step is 0
 * Source: Binance "Filters" (LOT_SIZE, MARKET_LOT_SIZE).
 */
export function roundQuantity(rules: SymbolRules, qty: Decimal | string, type: OrderType): Decimal {
  const q = dec(qty, 'quantity');
  const { stepSize } = lotSizeFor(rules, type);
  return stepSize.isZero() ? q : floorToMultiple(q, stepSize);
}

/**
 * Round a price to the PRICE_FILTER tick toward the passive side: BUY rounds down, SELL rounds up,
 * so a rounded order never becomes more aggressive than asked. Bounds are not applied: use
 * {@link validateOrder}.
 *
 * @param price price in the quote asset, e.g. `"108153.47"` (USDT)
 * @returns the price in the quote asset on the tick grid (BUY `108153.4`, SELL `108153.5` for a
 *   0.1 tick); unchanged when already on the grid or when the tick is 0
 * Source: Binance "Filters" (PRICE_FILTER).
 */
export function roundPrice(rules: SymbolRules, price: Decimal | string, side: Side): Decimal {
  const p = dec(price, 'price');
  const tick = dec(rules.priceFilter.tickSize);
  if (tick.isZero()) return p;
  return side === 'BUY' ? floorToMultiple(p, tick) : ceilToMultiple(p, tick);
}

const E = BINANCE_FILTER_ERROR;

function violation(filter: FilterName, code: number, reason: string): FilterViolation {
  return { filter, code, reason };
}

/**
 * PRICE_FILTER on one price (a LIMIT price, or a STOP_MARKET trigger price): > 0, at most
 * `pricePrecision` decimals, on the tick grid from minPrice, within [minPrice, maxPrice] (0 = no
 * bound). `label` names the field in the reason. Source: Binance "Filters" (PRICE_FILTER).
 */
export function priceFilterViolation(rules: SymbolRules, price: Decimal, label: string): FilterViolation | null {
  const pf = rules.priceFilter;
  const tick = dec(pf.tickSize);
  const minPrice = dec(pf.minPrice);
  const maxPrice = dec(pf.maxPrice);
  if (!price.gt(0)) {
    return violation('PRICE_FILTER', E.PRICE_LESS_THAN_ZERO, `${label} ${str(price)} <= 0`);
  }
  if (price.decimalPlaces() > rules.pricePrecision) {
    return violation('PRICE_FILTER', E.BAD_PRECISION, `${label} ${str(price)} has ${price.decimalPlaces()} decimals > pricePrecision ${rules.pricePrecision}`);
  }
  if (!tick.isZero() && !price.minus(minPrice).mod(tick).isZero()) {
    return violation('PRICE_FILTER', E.PRICE_NOT_INCREASED_BY_TICK_SIZE, `${label} ${str(price)} is not on the tickSize ${str(tick)} grid`);
  }
  if (!minPrice.isZero() && price.lt(minPrice)) {
    return violation('PRICE_FILTER', E.PRICE_LESS_THAN_MIN_PRICE, `${label} ${str(price)} < minPrice ${str(minPrice)}`);
  }
  if (!maxPrice.isZero() && price.gt(maxPrice)) {
    return violation('PRICE_FILTER', E.PRICE_GREATER_THAN_MAX_PRICE, `${label} ${str(price)} > maxPrice ${str(maxPrice)}`);
  }
  return null;
}

/**
 * Check an order against the symbol's filters as Binance USDⓈ-M would, in this order, and return
 * the first violation (or `null` when the exchange's filters would accept it):
 *
 * 0. STOP_MARKET (closePosition only, else -1102): its `stopPrice` against PRICE_FILTER as in 3.,
 *    and nothing else (no quantity; Binance checks a trigger price against the tick and bounds);
 * 1. quantity > 0, else `QUANTITY` -4003;
 * 2. quantity (base asset) against LOT_SIZE (LIMIT) / MARKET_LOT_SIZE (MARKET): no more decimals
 *    than `quantityPrecision` (-1111), on the step grid `(qty - minQty) % stepSize == 0` (-4023),
 *    `qty >= minQty` (-4004), `qty <= maxQty` (-4005; maxQty "0" = no limit);
 * 3. LIMIT only, price (quote asset) against PRICE_FILTER: present (-1102), > 0 (-4001), no more
 *    decimals than `pricePrecision` (-1111), on the tick grid `(price - minPrice) % tickSize == 0`
 *    (-4014), `price >= minPrice` (-4013), `price <= maxPrice` (-4002); a minPrice, maxPrice or
 *    tickSize of "0" disables that rule;
 * 4. LIMIT only, PERCENT_PRICE against `refPrice` (the mark price): BUY `price <= refPrice ×
 *    multiplierUp` (-4016), SELL `price >= refPrice × multiplierDown` (-4024). Binance applies the
 *    cap to buys and the floor to sells only; a deep bid or a high offer passes;
 * 5. MIN_NOTIONAL unless `reduceOnly`: `quantity × (price for LIMIT, refPrice for MARKET) >=
 *    notional` (-4164). Reduce-only orders are exempt (Binance: "unless you choose reduce only").
 *
 * A MARKET order's price, if given, is ignored (Binance uses the mark price for its notional).
 * Not checked (they need account or book state): MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, -4131
 * (MARKET order against the book's PERCENT_PRICE limit), margin, position limits.
 *
 * Sources: Binance "Filters"
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition) and
 * "Error Codes" (https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
 *
 * @throws TypeError when a quantity, price or refPrice is not a decimal number
 * @throws PerpbotError code `INVARIANT` when `refPrice` is not > 0 (a caller bug: no mark price)
 */
export function validateOrder(rules: SymbolRules, order: OrderToValidate): FilterViolation | null {
  const qty = dec(order.quantity, 'quantity');
  const ref = dec(order.refPrice, 'refPrice');
  if (!ref.gt(0)) {
    throw new PerpbotError('INVARIANT', `${rules.symbol}: refPrice ${str(ref)} must be > 0`, false, {
      symbol: rules.symbol,
      refPrice: str(ref),
    });
  }

  // 0. A closePosition STOP_MARKET (the protective stop) has no quantity: PRICE_FILTER on its
  // trigger price only (Binance New Algo Order: `triggerPrice` follows the price rules).
  if (order.type === 'STOP_MARKET') {
    if (order.closePosition !== true) return violation('QUANTITY', E.MANDATORY_PARAM_EMPTY_OR_MALFORMED, 'STOP_MARKET is supported only with closePosition');
    if (order.stopPrice === undefined) return violation('PRICE_FILTER', E.MANDATORY_PARAM_EMPTY_OR_MALFORMED, 'STOP_MARKET order without a stopPrice');
    return priceFilterViolation(rules, dec(order.stopPrice, 'stopPrice'), 'stopPrice');
  }

  // 1. Quantity > 0.
  if (!qty.gt(0)) {
    return violation('QUANTITY', E.QTY_LESS_THAN_ZERO, `quantity ${str(qty)} <= 0`);
  }

  // 2. LOT_SIZE / MARKET_LOT_SIZE.
  const lot = lotSizeFor(rules, order.type);
  const lotName = lot.filter;
  if (qty.decimalPlaces() > rules.quantityPrecision) {
    return violation(
      lotName,
      E.BAD_PRECISION,
      `quantity ${str(qty)} has ${qty.decimalPlaces()} decimals > quantityPrecision ${rules.quantityPrecision}`,
    );
  }
  if (!lot.stepSize.isZero() && !qty.minus(lot.minQty).mod(lot.stepSize).isZero()) {
    return violation(
      lotName,
      E.QTY_NOT_INCREASED_BY_STEP_SIZE,
      `quantity ${str(qty)} is not on the ${lotName} stepSize ${str(lot.stepSize)} grid from minQty ${str(lot.minQty)}`,
    );
  }
  if (qty.lt(lot.minQty)) {
    return violation(lotName, E.QTY_LESS_THAN_MIN_QTY, `quantity ${str(qty)} < ${lotName} minQty ${str(lot.minQty)}`);
  }
  if (!lot.maxQty.isZero() && qty.gt(lot.maxQty)) {
    return violation(lotName, E.QTY_GREATER_THAN_MAX_QTY, `quantity ${str(qty)} > ${lotName} maxQty ${str(lot.maxQty)}`);
  }

  let notionalPrice = ref;
  if (order.type === 'LIMIT') {
    // 3. PRICE_FILTER.
    if (order.price === undefined) {
      return violation('PRICE_FILTER', E.MANDATORY_PARAM_EMPTY_OR_MALFORMED, 'LIMIT order without a price');
    }
    const price = dec(order.price, 'price');
    const pfv = priceFilterViolation(rules, price, 'price');
    if (pfv !== null) return pfv;

    // 4. PERCENT_PRICE.
    const pp = rules.percentPrice;
    if (order.side === 'BUY') {
      const cap = ref.times(pp.multiplierUp);
      if (price.gt(cap)) {
        return violation(
          'PERCENT_PRICE',
          E.PRICE_HIGHER_THAN_MULTIPLIER_UP,
          `BUY price ${str(price)} > refPrice ${str(ref)} × multiplierUp ${pp.multiplierUp} = ${str(cap)}`,
        );
      }
    } else {
      const floor = ref.times(pp.multiplierDown);
      if (price.lt(floor)) {
        return violation(
          'PERCENT_PRICE',
          E.PRICE_LOWER_THAN_MULTIPLIER_DOWN,
          `SELL price ${str(price)} < refPrice ${str(ref)} × multiplierDown ${pp.multiplierDown} = ${str(floor)}`,
        );
      }
    }
    notionalPrice = price;
  }

  // 5. MIN_NOTIONAL (reduce-only exempt).
  if (!order.reduceOnly) {
    const minNotional = dec(rules.minNotional.notional);
    const notional = qty.times(notionalPrice);
    if (notional.lt(minNotional)) {
      return violation('MIN_NOTIONAL', E.MIN_NOTIONAL, `notional ${str(notional)} < MIN_NOTIONAL ${str(minNotional)}`);
    }
  }
  return null;
}
