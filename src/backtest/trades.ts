/**
 * Round trips of a run, built from the fills: from flat to flat on one symbol, with its side,
 * average entry and exit prices, gross PnL, fees, funding and net PnL (exact decimals), and the
 * strategy that opened it. `perpbot backtest --trades FILE` writes them as CSV.
 */
import { Decimal, ZERO, str } from '../core/decimal.ts';
import type { OrderEvent, Symbol } from '../core/types.ts';
import type { FundingPayment } from './funding.ts';

/** One completed (or still open) round trip. Money USDT / quote asset decimal strings; times UTC epoch ms. */
export interface TradeRecord {
  symbol: Symbol;
  strategyId: string;
  side: 'LONG' | 'SHORT';
  /** Time of the first entry fill. */
  entryTime: number;
  /** Time of the fill that made the position flat; null while still open at the end of the run. */
  exitTime: number | null;
  /** Largest absolute position reached, base asset. */
  quantity: string;
  /** Volume-weighted entry price, quote asset. */
  entryPrice: string;
  /** Volume-weighted exit price, quote asset ("" while open). */
  exitPrice: string;
  /** Realized PnL before fees, USDT (Σ of the fills' realized PnL). */
  grossPnl: string;
  fees: string;
  /** Funding received − paid while it was open, USDT. */
  funding: string;
  /** grossPnl − fees + funding, USDT. */
  netPnl: string;
}

interface OpenTrip {
  symbol: Symbol;
  strategyId: string;
  side: 'LONG' | 'SHORT';
  entryTime: number;
  pos: Decimal;
  maxAbs: Decimal;
  entryQty: Decimal;
  entryNotional: Decimal;
  exitQty: Decimal;
  exitNotional: Decimal;
  gross: Decimal;
  fees: Decimal;
}

/**
 * Builds round trips from the bus's `order.update` events: `OrderSubmitted` tells which strategy
 * owns a client order id; `OrderFilled` moves the position. A fill that crosses zero closes the
 * trip and opens the opposite one with the remainder (its fee split by quantity).
 */
export class TradeLedger {
  private readonly owner = new Map<string, string>();
  private readonly open = new Map<Symbol, OpenTrip>();
  private readonly closed: OpenTrip[] = [];
  private readonly exits = new Map<OpenTrip, number>();

  /** Feed one `order.update` event (others are ignored). */
  onOrderEvent(e: OrderEvent): void {
    if (e.type === 'OrderSubmitted') {
      this.owner.set(e.intent.clientOrderId, e.intent.strategyId);
      return;
    }
    if (e.type !== 'OrderFilled') return;
    const f = e.fill;
    const signed = f.side === 'BUY' ? new Decimal(f.quantity) : new Decimal(f.quantity).neg();
    let remaining = signed;
    let rp = new Decimal(f.realizedPnl);
    let fee = new Decimal(f.commission);
    const total = signed.abs();
    while (!remaining.isZero()) {
      let t = this.open.get(f.symbol);
      if (!t) {
        t = {
          symbol: f.symbol,
          strategyId: this.owner.get(f.clientOrderId) ?? 'external',
          side: remaining.isPositive() ? 'LONG' : 'SHORT',
          entryTime: f.time,
          pos: ZERO,
          maxAbs: ZERO,
          entryQty: ZERO,
          entryNotional: ZERO,
          exitQty: ZERO,
          exitNotional: ZERO,
          gross: ZERO,
          fees: ZERO,
        };
        this.open.set(f.symbol, t);
      }
      const increasing = t.pos.isZero() || t.pos.isPositive() === remaining.isPositive();
      // The part of this fill that belongs to the current trip.
      const part = increasing ? remaining : Decimal.min(remaining.abs(), t.pos.abs()).times(remaining.isPositive() ? 1 : -1);
      const share = total.isZero() ? new Decimal(1) : part.abs().div(total);
      const partFee = remaining.eq(part) ? fee : new Decimal(f.commission).times(share);
      if (increasing) {
        t.entryQty = t.entryQty.plus(part.abs());
        t.entryNotional = t.entryNotional.plus(part.abs().times(f.price));
      } else {
        t.exitQty = t.exitQty.plus(part.abs());
        t.exitNotional = t.exitNotional.plus(part.abs().times(f.price));
        t.gross = t.gross.plus(rp); // the fill's realized PnL belongs to its closing part
        rp = ZERO;
      }
      t.fees = t.fees.plus(partFee);
      fee = fee.minus(partFee);
      t.pos = t.pos.plus(part);
      if (t.pos.abs().gt(t.maxAbs)) t.maxAbs = t.pos.abs();
      remaining = remaining.minus(part);
      if (t.pos.isZero()) {
        this.open.delete(f.symbol);
        this.closed.push(t);
        this.exits.set(t, f.time);
      }
    }
  }

  /**
   * The round trips, closed ones in closing order then those still open, with funding attributed
   * by time: a payment belongs to the trip of its symbol open at the funding time.
   * @param funding the run's funding payments (may be empty)
   */
  trades(funding: readonly FundingPayment[] = []): TradeRecord[] {
    const all = [...this.closed, ...this.open.values()];
    return all.map((t) => {
      const exitTime = this.exits.get(t) ?? null;
      let fund = ZERO;
      for (const p of funding) {
        if (p.symbol === t.symbol && p.time >= t.entryTime && (exitTime === null || p.time < exitTime)) fund = fund.plus(p.amount);
      }
      return {
        symbol: t.symbol,
        strategyId: t.strategyId,
        side: t.side,
        entryTime: t.entryTime,
        exitTime,
        quantity: str(t.maxAbs),
        entryPrice: t.entryQty.isZero() ? '0' : str(t.entryNotional.div(t.entryQty).toDecimalPlaces(8)),
        exitPrice: t.exitQty.isZero() ? '' : str(t.exitNotional.div(t.exitQty).toDecimalPlaces(8)),
        grossPnl: str(t.gross),
        fees: str(t.fees),
        funding: str(fund),
        netPnl: str(t.gross.minus(t.fees).plus(fund)),
      };
    });
  }
}

/** CSV columns of {@link tradesCsv}, in order. */
export const TRADE_CSV_COLUMNS = ['symbol', 'strategy_id', 'side', 'entry_time', 'entry_time_utc', 'exit_time', 'exit_time_utc', 'quantity', 'entry_price', 'exit_price', 'gross_pnl', 'fees', 'funding', 'net_pnl'] as const;

/**
 * Round trips as CSV text: a header row ({@link TRADE_CSV_COLUMNS}), then one row per trip; money
 * as decimal strings, times as epoch ms and ISO 8601 UTC; an open trip has empty exit fields.
 */
export function tradesCsv(trades: readonly TradeRecord[]): string {
  const iso = (t: number | null) => (t === null ? '' : new Date(t).toISOString());
  const lines = [TRADE_CSV_COLUMNS.join(',')];
  for (const t of trades) {
    lines.push([t.symbol, t.strategyId, t.side, t.entryTime, iso(t.entryTime), t.exitTime ?? '', iso(t.exitTime), t.quantity, t.entryPrice, t.exitPrice, t.grossPnl, t.fees, t.funding, t.netPnl].join(','));
  }
  return `${lines.join('\n')}\n`;
}
