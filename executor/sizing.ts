/**
 * Entry sizing: how many base-asset units an entry order carries, from the configured sizing mode.
 * Exact decimal arithmetic; the result is floored to the MARKET_LOT_SIZE step (LOT_SIZE when the
 * symbol has none), so sizing never rounds up. A size that cannot be traded is reported as a
 * violation reason, never thrown: the executor turns it into an `OrderDenied` event.
 *
 * Units: prices, notionals and equity in the quote asset (USDT); quantities in the base asset.
 * Source of the step/minQty rules: Binance "Filters" (LOT_SIZE, MARKET_LOT_SIZE),
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition
 */
import { Decimal, dec, isDecimalString, str } from '../src/core/decimal.ts';
import type { Side } from '../src/core/types.ts';
import type { SymbolRules } from './exchange-info.ts';
import { lotSizeFor } from './filters.ts';

/** Division that truncates instead of rounding half-even, for the no-step case. */
const DecimalDown = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_DOWN, toExpNeg: -40, toExpPos: 40 });

/** How an entry is sized. */
export type SizingMode = 'fixed_notional' | 'equity_fraction';

/** Input of {@link sizeEntry}. */
export interface SizeEntryParams {
  rules: SymbolRules;
  /** Reference price, quote asset per base unit: the mark price or the last close. Must be > 0. */
  refPrice: Decimal | string;
  /**
   * - `fixed_notional`: quantity = notional / refPrice (leverage does not change the exposure);
   * - `equity_fraction`: quantity = equity × equityFraction × leverage / refPrice (the fraction of
   *   equity is the margin committed; leverage multiplies it into exposure).
   */
  mode: SizingMode;
  /** `fixed_notional`: position notional, quote asset (e.g. `"500"` USDT). Must be > 0. */
  notional?: string | undefined;
  /** `equity_fraction`: fraction of equity used as margin, dimensionless, in (0, 1] (e.g. `"0.1"`). */
  equityFraction?: string | undefined;
  /** `equity_fraction`: account equity, quote asset (e.g. `"1000"` USDT). Must be > 0. */
  equity?: string | undefined;
  /** `equity_fraction`: leverage, a positive integer (Binance allows 1..125 depending on the symbol). */
  leverage: number;
  /** Side of the entry; sizing is symmetric, the side only appears in reasons. */
  side: Side;
}

/** Either a tradable quantity (base asset, on the step grid, within min/max qty) or why not. */
export type SizeEntryResult = { quantity: Decimal } | { violation: string };

/** Parse a positive decimal string, or say why not. */
function positive(value: string | Decimal | undefined, name: string): Decimal | string {
  if (value === undefined) return `${name} is required`;
  if (typeof value === 'string' && !isDecimalString(value)) return `${name} "${value}" is not a decimal number`;
  const d = dec(value);
  if (!d.gt(0)) return `${name} ${str(d)} must be > 0`;
  return d;
}

/**
 * Size an entry order.
 *
 * fixed_notional: `qty = notional / refPrice`; equity_fraction: `qty = equity × equityFraction ×
 * leverage / refPrice`. The quotient is then floored (exactly, no intermediate rounding) to the
 * MARKET_LOT_SIZE step, falling back to LOT_SIZE when MARKET_LOT_SIZE is absent or its step is "0".
 *
 * Returns `{ violation }` (never throws) when an input is missing or not positive, when the
 * quantity floors to 0, when it is below minQty, or above maxQty of that filter. MIN_NOTIONAL is
 * not checked here (it depends on the final order price): {@link validateOrder} in
 * `./filters.ts` does it.
 *
 * @returns `{ quantity }` in the base asset, or `{ violation }` naming the values
 */
export function sizeEntry(params: SizeEntryParams): SizeEntryResult {
  const { rules, mode, side } = params;
  const price = positive(params.refPrice, 'refPrice');
  if (typeof price === 'string') return { violation: price };

  let exposure: Decimal; // quote asset
  let how: string;
  if (mode === 'fixed_notional') {
    const notional = positive(params.notional, 'notional');
    if (typeof notional === 'string') return { violation: notional };
    exposure = notional;
    how = `notional ${str(notional)}`;
  } else if (mode === 'equity_fraction') {
    const equity = positive(params.equity, 'equity');
    if (typeof equity === 'string') return { violation: equity };
    const fraction = positive(params.equityFraction, 'equityFraction');
    if (typeof fraction === 'string') return { violation: fraction };
    if (fraction.gt(1)) return { violation: `equityFraction ${str(fraction)} must be <= 1` };
    const lev = params.leverage;
    if (!Number.isSafeInteger(lev) || lev < 1) return { violation: `leverage ${lev} must be a positive integer` };
    exposure = equity.times(fraction).times(lev);
    how = `equity ${str(equity)} × equityFraction ${str(fraction)} × leverage ${lev} = ${str(exposure)}`;
  } else {
    return { violation: `unknown sizing mode ${String(mode)}` };
  }

  const lot = lotSizeFor(rules, 'MARKET');
  let quantity: Decimal;
  if (lot.stepSize.isZero()) {
    // No step: the quotient truncated (never rounded up) to 40 significant digits.
    quantity = new Decimal(new DecimalDown(exposure).div(price));
  } else {
    // floor(exposure / (price × step)) × step: divToInt truncates exactly (all values > 0).
    quantity = exposure.divToInt(price.times(lot.stepSize)).times(lot.stepSize);
  }

  const what = `${side} ${rules.symbol}: ${how} / refPrice ${str(price)}`;
  if (quantity.isZero()) {
    return { violation: `${what} floors to quantity 0 at ${lot.filter} stepSize ${str(lot.stepSize)}` };
  }
  if (quantity.lt(lot.minQty)) {
    return { violation: `${what} = quantity ${str(quantity)} < ${lot.filter} minQty ${str(lot.minQty)}` };
  }
  if (!lot.maxQty.isZero() && quantity.gt(lot.maxQty)) {
    return { violation: `${what} = quantity ${str(quantity)} > ${lot.filter} maxQty ${str(lot.maxQty)}` };
  }
  return { quantity };
}
