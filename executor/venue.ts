/**
 * The venue interface: the only way the executor reaches an exchange. Implemented by the
 * in-process simulated venue (replay, paper) and by the Binance adapter (live). The executor
 * cannot tell which one it talks to.
 */
import type { OrderEvent, OrderIntent, Position, PositionChanged, Symbol } from '../src/core/types.ts';

/** Events a venue reports: the life of orders (topic `order.update`) and positions (`account.update`). */
export type VenueEvent = OrderEvent | PositionChanged;

/** A listener for venue events. Called in the order the venue produced them. */
export type VenueListener = (event: VenueEvent) => void;

/** The outcome of {@link Venue.submit}: accepted with the exchange order id, or rejected. */
export type SubmitResult =
  | { accepted: true; orderId: string }
  | { accepted: false; code: number | null; reason: string };

/** An exchange as the executor sees it. */
export interface Venue {
  /** A short name for logs and the heartbeat, e.g. `"sim"` or `"binance-testnet"`. */
  readonly name: string;
  /**
   * Send an order. Resolves once the venue answered (accepted or rejected). The matching events
   * (`OrderAccepted`/`OrderRejected`, later fills) are also delivered to the listeners.
   * Rejects only for failures where the outcome is unknown (network); the caller then queries by
   * client order id before any resend.
   */
  submit(intent: OrderIntent): Promise<SubmitResult>;
  /** Cancel an open order by client order id. Resolves when the venue confirmed or it was already gone. */
  cancel(symbol: Symbol, clientOrderId: string): Promise<void>;
  /** Subscribe to venue events. */
  onEvent(listener: VenueListener): void;
  /** Positions as the venue knows them (signed quantity, one-way mode). */
  positions(): Promise<Position[]>;
}
