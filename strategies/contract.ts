/**
 * The strategy contract. A strategy sees closed klines, mark prices and the updates of its own
 * orders, and publishes {@link SignalEmitted} events through its context. It never sees the
 * executor, the database or the exchange, and it never reads the wall clock (it asks
 * `ctx.clock`), so the same code runs in replay, paper and live.
 *
 * One instance runs per (strategy config, symbol). Its parameters are validated by the zod schema
 * of its {@link StrategyDefinition} before it is created.
 */
import type { z } from 'zod';
import type { Clock } from '../src/core/clock.ts';
import type { Bar, BarInterval } from './bars/aggregator.ts';
import type { TradingSession } from './bars/session.ts';
import type {
  KlineClosed,
  MarkPriceUpdated,
  OrderEvent,
  PositionChanged,
  SignalEmitted,
  SignalReason,
  Symbol,
  TargetPosition,
} from '../src/core/types.ts';

/** What a strategy passes to {@link StrategyContext.emit}; the host fills in ids and time. */
export interface SignalRequest {
  target: TargetPosition;
  reason: SignalReason;
  /** The price the decision was based on, quote asset, decimal text (usually the kline close). */
  refPrice: string;
  /** Indicator values the decision used (recorded with the signal). */
  indicators: Record<string, number | null>;
  /** Open time of the kline the decision was made on (UTC epoch ms); makes the signal id deterministic. */
  klineOpenTime: number;
}

/** Minimal logger interface strategies may use (a pino child logger satisfies it). */
export interface StrategyLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** What the host gives a strategy instance. */
export interface StrategyContext {
  /** Instance id from the config (`signal.<strategyId>` is its topic). */
  readonly strategyId: string;
  readonly symbol: Symbol;
  /** The injected clock (replay time or wall clock), UTC epoch ms. */
  readonly clock: Clock;
  readonly log: StrategyLogger;
  /**
   * The symbol's trading session (config `sessions.<SYMBOL>`), or undefined when it trades around
   * the clock. Entries are allowed only inside it: see {@link StrategyContext.emit}.
   */
  readonly session?: TradingSession;
  /**
   * Publish a signal; returns the published event. The host refuses (does not publish, logs and
   * counts, returns null) a signal targeting LONG or SHORT whose decision kline closed
   * (`klineOpenTime` + 1 min) outside the symbol's trading session: no entries outside session
   * hours. Exits (FLAT) always pass. Strategies should check `inSession(ctx.session, t)` (strategies/bars/session.ts) first so their own
   * state never assumes a refused entry.
   */
  emit(signal: SignalRequest): SignalEmitted | null;
}

/** A running strategy instance. All hooks are synchronous and must be fast (O(1) per kline). */
export interface Strategy {
  /** Called once before any market data. */
  start?(): void;
  /** Each closed kline of the instance's symbol, in time order. */
  onKline(event: KlineClosed): void;
  /**
   * Each closed bar of the intervals the definition asked for ({@link StrategyDefinition.intervals}),
   * right after the `onKline` of the 1m kline that closed it; shortest interval first when several
   * close together. Bars come from the host's one aggregator (strategies/bars/aggregator.ts), the
   * same in replay and live; a bar with missing minutes has `complete: false`.
   */
  onBar?(interval: BarInterval, bar: Bar): void;
  /** Each mark price update of the instance's symbol (live and paper; may be conflated). */
  onMarkPrice?(event: MarkPriceUpdated): void;
  /** Each update of an order that came from this instance's signals (including denials). */
  onOrderUpdate?(event: OrderEvent): void;
  /**
   * The position of the instance's symbol changed (fills, or a position restored or reconciled
   * after a restart): a strategy that tracks what it holds adopts it.
   */
  onPosition?(event: PositionChanged): void;
  /** Called once at shutdown. */
  stop?(): void;
  /** A snapshot of internal state for the heartbeat and debugging (no secrets). */
  state?(): Record<string, unknown>;
}

/** A strategy as registered: name, parameter schema, factory. */
export interface StrategyDefinition<P = unknown> {
  /** Registry name, e.g. `vwap-adx`. */
  readonly name: string;
  readonly description: string;
  /** zod schema of the parameters; every parameter has a documented default. */
  readonly params: z.ZodType<P>;
  /** Create one instance for one symbol. */
  create(params: P, ctx: StrategyContext): Strategy;
  /**
   * The bar intervals the instance needs for these parameters (delivered to `onBar`); none when
   * absent. Each must be one of BAR_INTERVALS ('1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '1d').
   */
  intervals?(params: P): readonly BarInterval[];
}

export type { Bar, BarInterval } from './bars/aggregator.ts';
export type { TradingSession } from './bars/session.ts';
