/**
 * The matching engine's orders by client order id: the open orders, the open (untriggered)
 * STOP_MARKET orders, and a bounded history of finished ones (filled, canceled, expired), oldest
 * forgotten first so memory stays flat. The per-symbol order lists live in the engine's books;
 * this is the lookup by id (Binance's `origClientOrderId`).
 *
 * Split from matching-engine.ts.
 */
import type { SimOrder } from './sim-order.ts';

/** Orders by client order id: open, open stops, and the last `historyLimit` finished. */
export class OrderIndex {
  /** Open (NEW or PARTIALLY_FILLED) orders other than stops, in submission order. */
  readonly open = new Map<string, SimOrder>();
  /** Open (untriggered) STOP_MARKET orders, in submission order. */
  readonly stops = new Map<string, SimOrder>();
  /** Finished orders, oldest first; a reused id moves to the end. */
  private readonly finished = new Map<string, SimOrder>();

  /** @param historyLimit how many finished orders are remembered (integer ≥ 0; 0 = none) */
  constructor(private readonly historyLimit: number) {}

  /**
   * Move a finished order from the open sets to the bounded history (the caller fixes the book
   * lists). An open entry under the same id that is another order is left alone.
   */
  finish(o: SimOrder): void {
    const id = o.intent.clientOrderId;
    if (this.open.get(id) === o) this.open.delete(id);
    if (this.stops.get(id) === o) this.stops.delete(id);
    if (this.historyLimit === 0) return;
    this.finished.delete(id);
    this.finished.set(id, o);
    if (this.finished.size > this.historyLimit) {
      const oldest = this.finished.keys().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  /** The finished order last recorded under `clientOrderId`, while still in the history. */
  finishedOrder(clientOrderId: string): SimOrder | undefined {
    return this.finished.get(clientOrderId);
  }
}
