/**
 * Risk: the operator's limits, checked on every order after the exchange filters and before
 * anything leaves the process. Each check is a pure function of the order and a read-only view
 * of the book; it returns a {@link RiskDenial} or null. The {@link RiskEngine} keeps the trading
 * state (ACTIVE / REDUCING / HALTED), the daily counters and the consecutive-loss streak.
 *
 * An order "reduces" when it is reduce-only and on the opposite side of the current position;
 * such orders are never stopped by the entry limits (funding window, position count, notional,
 * daily quantity, daily loss), so a position can always be closed unless trading is HALTED.
 */
import type { Decimal } from '../src/core/decimal.ts';
import { Decimal as D, ZERO, str } from '../src/core/decimal.ts';
import type { OrderIntent, Symbol, TradingState } from '../src/core/types.ts';

const DAY_MS = 86_400_000;
const FUNDING_INTERVAL_MS = 8 * 3_600_000;

/** The operator's limits, from config `risk.*`. Money in USDT, quantities in base asset. */
export interface RiskLimits {
  /** Most symbols with a non-zero position at once. */
  maxOpenPositions: number;
  /** Largest |position| × refPrice per symbol after the order, USDT. */
  maxNotionalPerSymbol: Decimal;
  /** Most base-asset quantity opened per symbol per UTC day; symbols absent have no cap. */
  maxDailyQuantity: ReadonlyMap<Symbol, Decimal>;
  /** Per strategy: no entries once its realized PnL net of fees today ≤ −this, USDT; 0 = off. */
  dailyLossLimit: Decimal;
  /** Losing round trips in a row that switch trading to REDUCING; 0 = off. */
  maxConsecutiveLosses: number;
  /** Minutes before an automatic halt lifts itself; 0 = until an operator resumes. */
  haltCooldownMinutes: number;
  /** Minutes around each funding time (00:00, 08:00, 16:00 UTC) without entries; 0 = off. */
  fundingBlackoutMinutes: number;
  /** Signals whose kline closed longer ago than this are refused, ms; 0 = off. */
  maxSignalAgeMs?: number;
}

/** What the checks see of the book when an order is checked. */
export interface RiskView {
  /** Current time, UTC epoch ms (injected clock). */
  now: number;
  state: TradingState;
  /** Signed position of the order's symbol, base asset. */
  position: Decimal;
  /** The position once the symbol's open orders have filled (signed, base asset); the notional check uses it. */
  projected: Decimal;
  /** Symbols with a non-zero position or an open entry order. */
  openPositions: number;
  /** Base-asset quantity opened on the order's symbol today (UTC). */
  openedToday: Decimal;
  /** Realized PnL net of fees of the order's strategy today (UTC), USDT. */
  strategyPnlToday: Decimal;
  /**
   * The symbol's funding times as the exchange announces them (the mark price stream's next
   * funding time `T`, and the one before it), UTC epoch ms. Symbols fund every 8, 4 or 1 h;
   * without them the 8-hourly 00:00/08:00/16:00 UTC schedule is assumed (replay).
   */
  funding?: { next?: number; previous?: number };
}

/** Why a check said no. `check` is the stable name recorded with the `OrderDenied` event. */
export interface RiskDenial {
  check: string;
  reason: string;
}

/** A risk check: pure, no side effects. */
export type RiskCheck = (intent: OrderIntent, view: RiskView, limits: RiskLimits) => RiskDenial | null;

/** Signed quantity of an order: + for BUY, − for SELL. */
function signed(intent: OrderIntent): Decimal {
  const q = new D(intent.quantity);
  return intent.side === 'BUY' ? q : q.neg();
}

/** True when the order only shrinks the current position (reduce-only, opposite side, not past zero). */
export function isReducing(intent: OrderIntent, position: Decimal): boolean {
  if (!intent.reduceOnly || position.isZero()) return false;
  const q = new D(intent.quantity);
  return (position.gt(0) ? intent.side === 'SELL' : intent.side === 'BUY') && q.lte(position.abs());
}

/** ACTIVE lets every order through; REDUCING only reducing orders; HALTED nothing. */
export const tradingStateCheck: RiskCheck = (intent, view) => {
  if (view.state === 'ACTIVE') return null;
  if (view.state === 'REDUCING' && isReducing(intent, view.position)) return null;
  return {
    check: 'tradingState',
    reason: view.state === 'HALTED' ? 'trading is HALTED: no order leaves' : 'trading is REDUCING: only orders that shrink a position leave',
  };
};

/** Milliseconds from `now` to the nearest funding time (00:00, 08:00, 16:00 UTC), before or after. */
export function msToNearestFunding(now: number): number {
  const m = ((now % FUNDING_INTERVAL_MS) + FUNDING_INTERVAL_MS) % FUNDING_INTERVAL_MS;
  return Math.min(m, FUNDING_INTERVAL_MS - m);
}

/**
 * Milliseconds from `now` to the nearest of the funding times the exchange announced (`next`,
 * `previous`); the 8-hourly schedule ({@link msToNearestFunding}) when none is known.
 */
export function msToFunding(now: number, funding?: { next?: number; previous?: number }): number {
  const known = [funding?.next, funding?.previous].filter((t): t is number => t !== undefined);
  if (known.length === 0) return msToNearestFunding(now);
  return Math.min(...known.map((t) => Math.abs(t - now)));
}

/**
 * No entries within `fundingBlackoutMinutes` before or after a funding time: the symbol's own
 * (from the mark price stream) when known, else 00:00/08:00/16:00 UTC.
 * Source: Binance USDⓈ-M "Mark Price Stream" (`T`: next funding time); funding intervals per
 * symbol: GET /fapi/v1/fundingInfo.
 */
export const fundingWindowCheck: RiskCheck = (intent, view, limits) => {
  if (limits.fundingBlackoutMinutes <= 0) return null;
  const d = msToFunding(view.now, view.funding);
  if (d > limits.fundingBlackoutMinutes * 60_000) return null;
  return { check: 'fundingWindow', reason: `${Math.round(d / 1000)} s from a funding time (blackout ${limits.fundingBlackoutMinutes} min)` };
};

/** A new position may not raise the number of open positions above the limit. */
export const maxOpenPositionsCheck: RiskCheck = (_intent, view, limits) => {
  if (!view.position.isZero() || view.openPositions < limits.maxOpenPositions) return null;
  return { check: 'maxOpenPositions', reason: `${view.openPositions} positions open, limit ${limits.maxOpenPositions}` };
};

/** |position after the order and the symbol's open orders| × refPrice must stay within maxNotionalPerSymbol. */
export const maxNotionalCheck: RiskCheck = (intent, view, limits) => {
  const after = view.projected.plus(signed(intent)).abs().times(intent.refPrice);
  if (after.lte(limits.maxNotionalPerSymbol)) return null;
  return {
    check: 'maxNotionalPerSymbol',
    reason: `${intent.symbol} notional after order ${str(after.toDecimalPlaces(2))} > limit ${str(limits.maxNotionalPerSymbol)}`,
  };
};

/** Quantity opened today on the symbol plus this order must stay within maxDailyQuantity. */
export const maxDailyQuantityCheck: RiskCheck = (intent, view, limits) => {
  const cap = limits.maxDailyQuantity.get(intent.symbol);
  if (cap === undefined) return null;
  const after = view.openedToday.plus(intent.quantity);
  if (after.lte(cap)) return null;
  return { check: 'maxDailyQuantity', reason: `${intent.symbol} opened today ${str(view.openedToday)} + ${intent.quantity} > limit ${str(cap)}` };
};

/** A strategy whose net realized PnL today reached −dailyLossLimit opens nothing more today (0 = off). */
export const dailyLossCheck: RiskCheck = (intent, view, limits) => {
  if (limits.dailyLossLimit.isZero() || view.strategyPnlToday.gt(limits.dailyLossLimit.neg())) return null;
  return {
    check: 'dailyLossLimit',
    reason: `strategy ${intent.strategyId} PnL today ${str(view.strategyPnlToday.toDecimalPlaces(4))} ≤ −${str(limits.dailyLossLimit)}`,
  };
};

/** The entry checks, in the order they run. */
export const ENTRY_CHECKS: readonly RiskCheck[] = [fundingWindowCheck, maxOpenPositionsCheck, maxNotionalCheck, maxDailyQuantityCheck, dailyLossCheck];

/**
 * Run every check that applies: the trading state always; the entry checks unless the order
 * only reduces the position.
 * @returns the first denial, or null when the order may leave
 */
export function checkRisk(intent: OrderIntent, view: RiskView, limits: RiskLimits): RiskDenial | null {
  const s = tradingStateCheck(intent, view, limits);
  if (s) return s;
  if (isReducing(intent, view.position)) return null;
  for (const check of ENTRY_CHECKS) {
    const d = check(intent, view, limits);
    if (d) return d;
  }
  return null;
}

/** A trading-state transition, to publish as `TradingStateChanged`. */
export interface StateChange {
  state: TradingState;
  previous: TradingState;
  reason: string;
}

/**
 * The stateful half of risk: trading state, consecutive-loss streak, per-UTC-day counters.
 * Pure bookkeeping: it never reads a clock (times come in as arguments) and never publishes;
 * it returns the state changes for the caller to publish.
 */
export class RiskEngine {
  private tradingState: TradingState = 'ACTIVE';
  private reason = '';
  /** When an automatic halt lifts itself, UTC epoch ms; null = manual. */
  private resumeAt: number | null = null;
  private lossStreak = 0;
  private day = -1;
  private opened = new Map<Symbol, Decimal>();
  private strategyPnl = new Map<string, Decimal>();

  /**
   * @param initial the state to start in (live starts HALTED until its start-up is done), with its reason
   */
  constructor(
    readonly limits: RiskLimits,
    initial?: { state: TradingState; reason: string },
  ) {
    if (initial) {
      this.tradingState = initial.state;
      this.reason = initial.state === 'ACTIVE' ? '' : initial.reason;
    }
  }

  /** Current trading state. */
  get state(): TradingState {
    return this.tradingState;
  }
  /** Why the state is not ACTIVE ('' when ACTIVE). */
  get haltReason(): string {
    return this.reason;
  }
  /** Losing round trips in a row. */
  get consecutiveLosses(): number {
    return this.lossStreak;
  }

  /** Move to the UTC day of `now`; a late event from an earlier day counts toward the current one. */
  private rollDay(now: number): void {
    const d = Math.floor(now / DAY_MS);
    if (d > this.day) {
      this.day = d;
      this.opened.clear();
      this.strategyPnl.clear();
    }
  }

  /**
   * The view the checks need for `intent` at `now`.
   * @param projected the position once open orders fill; defaults to `position`
   */
  view(intent: OrderIntent, now: number, position: Decimal, openPositions: number, projected: Decimal = position, funding?: RiskView['funding']): RiskView {
    this.rollDay(now);
    return {
      now,
      state: this.tradingState,
      position,
      projected,
      openPositions,
      openedToday: this.opened.get(intent.symbol) ?? ZERO,
      strategyPnlToday: this.strategyPnl.get(intent.strategyId) ?? ZERO,
      ...(funding ? { funding } : {}),
    };
  }

  /**
   * Restore the current UTC day's counters after a restart (live, paper: from the day's fills in
   * the database), so a restart never resets the daily loss limit or the daily quantity cap.
   * Replaces what the engine holds for that day.
   * @param now UTC epoch ms of the day to restore
   * @param opened base-asset quantity opened today per symbol
   * @param strategyPnl realized PnL net of fees today per strategy, USDT
   */
  restoreDay(now: number, opened: ReadonlyMap<Symbol, Decimal>, strategyPnl: ReadonlyMap<string, Decimal>): void {
    this.day = Math.floor(now / DAY_MS);
    this.opened = new Map(opened);
    this.strategyPnl = new Map(strategyPnl);
  }

  /** Count base-asset quantity that opened or grew a position (from a fill). */
  recordOpened(symbol: Symbol, quantity: Decimal, now: number): void {
    this.rollDay(now);
    this.opened.set(symbol, (this.opened.get(symbol) ?? ZERO).plus(quantity));
  }

  /** Add realized PnL net of fees (USDT, may be negative) to a strategy's day. */
  recordPnl(strategyId: string, netPnl: Decimal, now: number): void {
    this.rollDay(now);
    this.strategyPnl.set(strategyId, (this.strategyPnl.get(strategyId) ?? ZERO).plus(netPnl));
  }

  /**
   * A round trip closed with `netPnl` (USDT, after fees). A loss extends the streak; reaching
   * maxConsecutiveLosses moves trading to REDUCING.
   * @returns the state change, if any
   */
  roundTripClosed(netPnl: Decimal, now: number): StateChange | null {
    if (netPnl.isNegative()) this.lossStreak++;
    else this.lossStreak = 0;
    const max = this.limits.maxConsecutiveLosses;
    if (max > 0 && this.lossStreak >= max && this.tradingState === 'ACTIVE') {
      const change = this.set('REDUCING', `${this.lossStreak} losing round trips in a row (limit ${max})`);
      this.resumeAt = this.limits.haltCooldownMinutes > 0 ? now + this.limits.haltCooldownMinutes * 60_000 : null;
      return change;
    }
    return null;
  }

  /**
   * Lift an automatic halt whose cooldown has passed.
   * @returns the state change, if any
   */
  tick(now: number): StateChange | null {
    if (this.resumeAt !== null && now >= this.resumeAt && this.tradingState === 'REDUCING') {
      this.resumeAt = null;
      this.lossStreak = 0;
      return this.set('ACTIVE', 'consecutive-loss cooldown over');
    }
    return null;
  }

  /**
   * Command: set the state.
   * @param resumeAt when the new (REDUCING) state lifts itself, UTC epoch ms; omitted = until
   *   the next command (a start-up restoring an automatic halt passes its original lift time)
   * @returns the change; null when already in that state for the same reason (the same state with
   *   a new reason updates the reason and returns it, keeping any cooldown and the loss streak)
   */
  setState(state: TradingState, reason: string, resumeAt?: number): StateChange | null {
    if (state === this.tradingState) {
      // A repeated command keeps the cooldown and the streak; only a new reason is news.
      if (state === 'ACTIVE' || reason === this.reason) return null;
      this.reason = reason;
      return { state, previous: state, reason };
    }
    this.resumeAt = resumeAt ?? null;
    if (state === 'ACTIVE') this.lossStreak = 0;
    return this.set(state, reason);
  }

  private set(state: TradingState, reason: string): StateChange | null {
    if (state === this.tradingState) return null;
    const previous = this.tradingState;
    this.tradingState = state;
    this.reason = state === 'ACTIVE' ? '' : reason;
    return { state, previous, reason };
  }
}
