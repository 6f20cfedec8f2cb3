/**
 * The simulated venue: the {@link Venue} the executor talks to in replay/backtest and paper modes.
 * A thin, synchronous wrapper around the one {@link MatchingEngine}: it stamps calls with the
 * injected clock's time and hands the engine's events to listeners, in order, before returning.
 */
import type { Clock } from '../../core/clock.ts';
import type { DecimalString, Kline, OrderIntent, Position, Symbol } from '../../core/types.ts';
import type { SubmitResult, Venue, VenueEvent, VenueListener } from '../../../executor/venue.ts';
import { MatchingEngine, NO_EVENTS, type EngineEvent, type MatchingEngineConfig } from './matching-engine.ts';

/** Options of a {@link SimVenue}. */
export interface SimVenueOptions {
  /** Where "now" comes from (the replay clock in replay, the wall clock in paper). */
  clock: Clock;
  /** The engine to wrap; when absent one is built from {@link SimVenueOptions.config}. */
  engine?: MatchingEngine;
  /** Engine configuration, used only when `engine` is absent. */
  config?: Partial<MatchingEngineConfig>;
  /**
   * Called when a listener throws; the other listeners and events are still delivered and the
   * venue's state is unaffected. Default: rethrow in a microtask (surfaces as an uncaught error,
   * since a throwing listener is a bug).
   */
  onListenerError?: (err: unknown, event: VenueEvent) => void;
}

/**
 * In-process simulated exchange, name `"sim"`.
 *
 * Events (`OrderAccepted`/`OrderRejected`, `OrderFilled` + `PositionChanged`, `OrderCanceled`,
 * `OrderExpired`) reach the listeners synchronously, in the order the engine produced them, inside
 * the call that caused them ({@link submit}, {@link cancel}, {@link onKline}, {@link onMarkPrice}).
 * Fills only happen in {@link onKline}/{@link onMarkPrice}, never in {@link submit}: the kernel
 * feeds the venue each market event (before or after the strategies, its choice) and an order
 * placed on kline N fills at kline N+1's open at the earliest.
 */
export class SimVenue implements Venue {
  /** Always `"sim"`. */
  readonly name = 'sim';
  /** The wrapped engine (balance, open orders, stats, …). Mutate it only through this venue. */
  readonly engine: MatchingEngine;
  private readonly clock: Clock;
  private readonly listeners: VenueListener[] = [];
  private readonly onListenerError: (err: unknown, event: VenueEvent) => void;

  /** @throws ConfigError when `config` is invalid (see {@link MatchingEngine}). */
  constructor(options: SimVenueOptions) {
    this.clock = options.clock;
    this.engine = options.engine ?? new MatchingEngine(options.config);
    this.onListenerError =
      options.onListenerError ??
      ((err) => {
        queueMicrotask(() => {
          throw err;
        });
      });
  }

  /**
   * Place an order at the clock's current time (see {@link MatchingEngine.submit} for the checks
   * and Binance codes). Never rejects: every outcome is known in process.
   * @returns `{accepted:true, orderId}` (int64 string) or `{accepted:false, code, reason}`
   */
  submit(intent: OrderIntent): Promise<SubmitResult> {
    const events = this.engine.submit(intent, this.clock.now());
    this.deliver(events);
    let result: SubmitResult = { accepted: false, code: null, reason: 'no answer from the matching engine' };
    for (const ev of events) {
      if (ev.type === 'OrderAccepted') result = { accepted: true, orderId: ev.orderId };
      else if (ev.type === 'OrderRejected') result = { accepted: false, code: ev.code, reason: ev.reason };
    }
    return Promise.resolve(result);
  }

  /**
   * Cancel an open order at the clock's current time. Resolves either way; an `OrderCanceled`
   * reaches the listeners only when the order was open.
   */
  cancel(symbol: Symbol, clientOrderId: string): Promise<void> {
    this.deliver(this.engine.cancel(symbol, clientOrderId, this.clock.now()));
    return Promise.resolve();
  }

  /** Subscribe to venue events (delivered synchronously, in order). */
  onEvent(listener: VenueListener): void {
    this.listeners.push(listener);
  }

  /** Every symbol the account traded, flat ones included (see {@link MatchingEngine.positions}). */
  positions(): Promise<Position[]> {
    return Promise.resolve(this.engine.positions());
  }

  /**
   * Feed a closed kline: matches the symbol's open orders, delivers and returns the events.
   * Returns the shared empty {@link NO_EVENTS} (no allocation) when nothing happened.
   */
  onKline(k: Kline): readonly VenueEvent[] {
    const events = this.engine.onKline(k);
    if (events.length !== 0) this.deliver(events);
    return events;
  }

  /**
   * Feed a mark price (quote asset, decimal string) at `ts` (UTC epoch ms): matches, delivers and
   * returns the events.
   */
  onMarkPrice(symbol: Symbol, price: DecimalString, ts: number): readonly VenueEvent[] {
    const events = this.engine.onMarkPrice(symbol, price, ts);
    if (events.length !== 0) this.deliver(events);
    return events;
  }

  private deliver(events: readonly EngineEvent[]): void {
    if (events === NO_EVENTS) return;
    for (const ev of events) {
      for (const l of this.listeners) {
        try {
          l(ev);
        } catch (err) {
          this.onListenerError(err, ev);
        }
      }
    }
  }
}
