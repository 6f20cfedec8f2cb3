/**
 * Position accounting of the matching engine (one-way mode, one net position per symbol): the
 * mutable {@link PosState}, how a fill moves it (quantity-weighted average entry on open or
 * increase, PnL realized against the entry on reduce, close or flip), how much of it an order
 * of a given side can close, and its public {@link Position} view.
 *
 * Units: quantities in the base asset (signed: positive long, negative short), prices in the
 * quote asset, PnL, fees and notionals in USDT, times UTC epoch ms. All `Decimal`, never a float.
 *
 * Split from matching-engine.ts.
 */
import { Decimal, ZERO, str } from '../../core/decimal.ts';
import type { Position, Side, Symbol } from '../../core/types.ts';

/** The engine's running position in one symbol. */
export interface PosState {
  readonly symbol: Symbol;
  /** Signed quantity, base asset: > 0 long, < 0 short, 0 flat. */
  qty: Decimal;
  /** Average entry price, quote asset; 0 when flat. */
  entry: Decimal;
  /** Σ realized PnL, USDT, before fees. */
  realized: Decimal;
  /** Σ commissions paid, USDT. */
  fees: Decimal;
  /** Time of the last fill, UTC epoch ms. */
  updatedAt: number;
}

/** A flat position in `symbol` created at `t` (UTC epoch ms), before its first fill is applied. */
export function newPosition(symbol: Symbol, t: number): PosState {
  return { symbol, qty: ZERO, entry: ZERO, realized: ZERO, fees: ZERO, updatedAt: t };
}

/**
 * How much of signed position `q` (base asset) an order on `side` can close: a BUY closes a
 * short, a SELL a long; `ZERO` when flat or when the position is on the order's own side.
 */
export function closableQuantity(q: Decimal, side: Side): Decimal {
  return side === 'BUY' ? (q.isNeg() ? q.neg() : ZERO) : q.isPos() ? q : ZERO;
}

/**
 * Apply one fill to `p` in place: open or increase (entry becomes the quantity-weighted average),
 * or reduce, close or flip (the closed part realizes `(price − entry) × closed` for a long,
 * `(entry − price) × closed` for a short; a flip re-opens the rest at `price`). Adds the realized
 * PnL and `commission` to the position's totals and stamps it `t`.
 * @param side the fill's side; `qty` (> 0, base asset) at `price` (quote asset)
 * @param notional `price × qty`, USDT (the caller already has it)
 * @param commission the fill's fee, USDT
 * @param t fill time, UTC epoch ms
 * @returns the PnL this fill realized, USDT (`ZERO` on open or increase)
 */
export function applyFill(p: PosState, side: Side, price: Decimal, qty: Decimal, notional: Decimal, commission: Decimal, t: number): Decimal {
  const signed = side === 'BUY' ? qty : qty.neg();
  const q0 = p.qty;
  let realized = ZERO;
  if (q0.isZero() || q0.isPos() === signed.isPos()) {
    // Open or increase: quantity-weighted average entry.
    const a0 = q0.abs();
    p.entry = a0.times(p.entry).plus(notional).div(a0.plus(qty));
    p.qty = q0.plus(signed);
  } else {
    // Reduce, close, or flip: the closed part realizes against the entry.
    const a0 = q0.abs();
    const closed = Decimal.min(a0, qty);
    realized = (q0.isPos() ? price.minus(p.entry) : p.entry.minus(price)).times(closed);
    p.qty = q0.plus(signed);
    if (p.qty.isZero()) p.entry = ZERO;
    else if (qty.gt(a0)) p.entry = price; // flipped: the rest opened at the fill price
  }
  p.realized = p.realized.plus(realized);
  p.fees = p.fees.plus(commission);
  p.updatedAt = t;
  return realized;
}

/** The public view of `p`: every decimal as plain text (quantity signed, base asset; USDT amounts). */
export function toPosition(p: PosState): Position {
  return {
    symbol: p.symbol,
    quantity: str(p.qty),
    entryPrice: str(p.entry),
    realizedPnl: str(p.realized),
    fees: str(p.fees),
    updatedAt: p.updatedAt,
  };
}

/** The position of a symbol that never traded: flat, every amount `"0"`, `updatedAt` 0. */
export function flatPosition(symbol: Symbol): Position {
  return { symbol, quantity: '0', entryPrice: '0', realizedPnl: '0', fees: '0', updatedAt: 0 };
}
