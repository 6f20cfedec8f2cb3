/**
 * The executor's contracts: what it needs (its dependencies and settings), what it counts, and
 * the records it keeps. Split from executor.ts (which holds the behaviour); executor.ts
 * re-exports everything here, so importers need not know.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../src/bus/bus.ts';
import type { Clock } from '../src/core/clock.ts';
import type { Decimal } from '../src/core/decimal.ts';
import type { OrderIntent, Symbol, TradingState } from '../src/core/types.ts';
import type { ExchangeRules } from './exchange-info.ts';
import type { RiskLimits } from './risk.ts';
import type { SizingMode } from './sizing.ts';
import type { Venue } from './venue.ts';

/**
 * Write-ahead journal: records an intent durably BEFORE it is sent, so a crash between sending
 * and hearing back can be recovered by querying the exchange by client order id. The executor
 * awaits the answer before the order leaves (only that order waits, in its symbol's lane).
 */
export interface OrderJournal {
  /**
   * Persist the intent (idempotent on its client order id). Throws (or rejects) if it cannot be
   * written. May answer synchronously (the in-process simulated venue needs no write-ahead) or
   * with a promise resolved once the write is committed (the database writer thread).
   * @returns true when written now; false when this client order id was written ahead before
   *   (e.g. a signal re-emitted after a restart): that order may already be on the exchange, and
   *   Binance keeps client order ids unique only among OPEN orders, so it must not be sent again
   */
  recordIntent(intent: OrderIntent): boolean | Promise<boolean>;
}

/** How long fills and position updates of a symbol may stay unmatched before the executor asks the venue, ms. */
export const POSITION_REPORT_OVERDUE_MS = 10_000;

/** Sizing settings, from config `sizing.*`. */
export interface SizingConfig {
  mode: SizingMode;
  /** Entry notional, USDT (fixed_notional). */
  notional: string;
  /** Fraction of equity used as margin (equity_fraction). */
  equityFraction: string;
  leverage: number;
}

/** What the executor needs. */
export interface ExecutorDeps {
  bus: EventBus;
  venue: Venue;
  rules: ExchangeRules;
  clock: Clock;
  sizing: SizingConfig;
  limits: RiskLimits;
  journal: OrderJournal;
  log: Logger;
  /** Account equity at start, USDT (wallet balance). */
  startingEquity: string;
  /** LIMIT orders still open after this long are canceled, ms (default: never). */
  limitOrderTtlMs?: number;
  /**
   * Keep a protective STOP_MARKET on the venue for every position at its strategy's stop level
   * (config `risk.exchangeStop`; see ./protective-stops.ts). Default off.
   */
  exchangeStop?: boolean;
  /** Trading state to start in (default ACTIVE); live starts HALTED until start-up is done. */
  initialTradingState?: { state: TradingState; reason: string };
}

/** Counters for the heartbeat and the backtest report. */
export interface ExecutorStats {
  signals: number;
  ignoredSignals: number;
  submitted: number;
  denied: number;
  deniedByCheck: Record<string, number>;
  rejected: number;
  fills: number;
  roundTrips: number;
  wins: number;
  losses: number;
  venueErrors: number;
  /** Fills of orders perpbot did not place (external): matched against positions, counted nowhere else. */
  externalFills: number;
  /** Orders perpbot did not place, seen accepted on the account (external). */
  externalOrders: number;
}

/** An order the executor is waiting on. */
export interface OpenOrder {
  intent: OrderIntent;
  executed: Decimal;
  /** A TTL cancel was sent (not again until the venue answers). */
  canceling?: boolean;
}

/** A round trip in progress on one symbol: who opened it and its PnL so far (net of fees). */
export interface Trip {
  strategyId: string;
  net: Decimal;
}

/** One completed round trip, for the report. */
export interface RoundTrip {
  symbol: Symbol;
  strategyId: string;
  /** Realized PnL net of fees, USDT. */
  netPnl: string;
  closedAt: number;
}
