/**
 * What a strategy instance believes it holds, kept consistent with the executor: a signal sets the
 * target at once; an order of it that is denied or rejected puts the previous state back (so the
 * decision is taken again on the next bar); a reconciled position reported at start-up is adopted
 * when no order is in flight. The same rules vwap-adx applies, shared by the bar strategies.
 */
import type { OrderEvent, PositionChanged, TargetPosition } from '../../src/core/types.ts';

/** The held side and the bookkeeping around it. */
export class HeldPosition {
  /** Current belief: LONG, SHORT or FLAT. */
  held: TargetPosition = 'FLAT';
  /** Orders that were refused (denied or rejected) and rolled back. */
  refusals = 0;
  private prevOfLastSignal: TargetPosition | null = null;
  private readonly pending = new Map<string, TargetPosition>();

  /** Record that a signal targeting `target` is being emitted. */
  set(target: TargetPosition): void {
    this.prevOfLastSignal = this.held;
    this.held = target;
  }

  /**
   * Undo the last {@link set} (the host refused to publish the signal, e.g. outside the trading
   * session).
   */
  undo(): void {
    if (this.prevOfLastSignal !== null) this.held = this.prevOfLastSignal;
  }

  /**
   * Follow an order update of this instance.
   * @returns true when the held state was rolled back (a refusal)
   */
  onOrderUpdate(e: OrderEvent): boolean {
    switch (e.type) {
      case 'OrderSubmitted':
        if (this.prevOfLastSignal !== null) this.pending.set(e.intent.clientOrderId, this.prevOfLastSignal);
        return false;
      case 'OrderDenied':
      case 'OrderRejected': {
        const id = e.type === 'OrderDenied' ? e.intent.clientOrderId : e.clientOrderId;
        const prev = this.pending.get(id) ?? (e.type === 'OrderDenied' ? this.prevOfLastSignal : null);
        this.pending.delete(id);
        if (prev === null || prev === undefined) return false;
        this.held = prev;
        this.refusals++;
        return true;
      }
      case 'OrderFilled':
        if (e.status === 'FILLED') this.pending.delete(e.fill.clientOrderId);
        return false;
      case 'OrderCanceled':
      case 'OrderExpired':
        this.pending.delete(e.clientOrderId);
        return false;
      default:
        return false;
    }
  }

  /**
   * Adopt a reconciled position (source `reconcile`) when no order is in flight.
   * @returns the adopted side, or null when nothing changed
   */
  onPosition(e: PositionChanged): TargetPosition | null {
    if (e.source !== 'reconcile' || this.pending.size > 0) return null;
    const q = Number(e.position.quantity);
    const actual: TargetPosition = q > 0 ? 'LONG' : q < 0 ? 'SHORT' : 'FLAT';
    if (actual === this.held) return null;
    this.held = actual;
    return actual;
  }
}
