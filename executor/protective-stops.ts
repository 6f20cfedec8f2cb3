/**
 * Protective stops on the exchange: every position perpbot opens carries a reduce-only
 * STOP_MARKET with `closePosition=true` at its strategy's stop level, working on the MARK price,
 * so that a crash, a deploy or a reboot never leaves a position unprotected.
 *
 * On Binance such conditional orders go through the Algo Order API only (POST /fapi/v1/algoOrder,
 * `algoType=CONDITIONAL`, since 2025-12-09; the old POST /fapi/v1/order answers -4120); the venue
 * does that translation. Here a stop is an {@link OrderIntent} of type `STOP_MARKET` like any
 * other order: written ahead with a deterministic client order id, recorded in the orders table,
 * reconciled at start.
 *
 * Life of a stop (one symbol, one stop at most):
 * - the strategy states the level with its entry signal (`SignalEmitted.stopPrice`); when that
 *   entry order has FILLED the stop is placed (client order id {@link stopClientOrderIdFor} of the
 *   entry signal);
 * - a later signal for the held position with another level REPLACES it: the old one is canceled
 *   first (Binance keeps one closePosition stop per direction, -4130), then the new one placed;
 * - the position goes flat (the strategy's exit, a flatten, or the stop itself) → it is canceled if
 *   still open; a triggered stop's fill is a fill like any other (the executor books it);
 * - start-up: {@link planStartupStops} decides which held positions need a stop and which stops
 *   are orphaned (no position) and must go.
 *
 * Rounding: the level is rounded to PRICE_FILTER `tickSize` in the direction that never widens the
 * risk: a SELL stop (protecting a long, below the price) UP, a BUY stop (protecting a short, above
 * the price) DOWN. The position is then closed at most one tick earlier than the strategy asked,
 * never later. A level outside PRICE_FILTER's [minPrice, maxPrice] is denied (`PRICE_FILTER`).
 *
 * Operations of one symbol run one after another (cancel before place); the executor never waits
 * on them, and a stop is never counted as an order in flight (it does not block new signals).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../src/bus/bus.ts';
import type { Clock } from '../src/core/clock.ts';
import { Decimal, dec, str } from '../src/core/decimal.ts';
import { errorMessage } from '../src/core/errors.ts';
import type { OrderEvent, OrderIntent, Side, SignalEmitted, Symbol } from '../src/core/types.ts';
import type { ExchangeRules, SymbolRules } from './exchange-info.ts';
import type { Venue } from './venue.ts';

/**
 * Client order ids of protective stops start with this (then 22 chars of a hash): Binance's
 * `clientAlgoId`, and the trigger's MARKET order carries it too (ORDER_TRADE_UPDATE `c`). Within
 * perpbot's `pb-` prefix, so reconciliation treats them as perpbot's.
 */
export const STOP_PREFIX = 'pb-stop-';

/**
 * The deterministic client order id of the stop placed for `signalId` (the entry signal, or the
 * signal that moved the stop); `n` > 0 for a re-placement at start-up (the n-th stop of that
 * signal). Format `pb-stop-<22 chars base64url of sha256>`, 30 chars, within Binance's
 * ^[.A-Z:/a-z0-9_-]{1,36}$.
 */
export function stopClientOrderIdFor(signalId: string, n = 0): string {
  return `${STOP_PREFIX}${createHash('sha256').update(`${signalId}|stop${n === 0 ? '' : `|${n}`}`).digest('base64url').slice(0, 22)}`;
}

/** True when `clientOrderId` is a protective stop's. */
export function isStopId(clientOrderId: string): boolean {
  return clientOrderId.startsWith(STOP_PREFIX);
}

/**
 * Round a stop level to the symbol's tick so that it never widens the risk: a SELL stop (long
 * position) up, a BUY stop (short position) down. Source of the rule: PRICE_FILTER `tickSize`
 * (GET /fapi/v1/exchangeInfo); Binance refuses a triggerPrice off the tick (-4014).
 * @param stopPrice quote asset, decimal text
 * @returns the rounded level, quote asset
 * @throws TypeError naming `stopPrice` when it is not a decimal string
 */
export function roundStopPrice(rules: SymbolRules, stopPrice: string, side: Side): Decimal {
  const p = dec(stopPrice, 'stopPrice');
  const tick = dec(rules.priceFilter.tickSize, 'tickSize');
  if (!tick.isPos()) return p;
  return p.toNearest(tick, side === 'SELL' ? Decimal.ROUND_CEIL : Decimal.ROUND_FLOOR);
}

/** The side of the stop that protects a position of sign `positionSign` (1 long, -1 short). */
export function stopSideFor(positionSign: number): Side {
  return positionSign > 0 ? 'SELL' : 'BUY';
}

/** What the stops module needs (the executor hands over its own). */
export interface ProtectiveStopsDeps {
  bus: EventBus;
  venue: Venue;
  rules: ExchangeRules;
  clock: Clock;
  log: Logger;
  /** Write-ahead (the executor's journal): false when the id was written before; may answer with a promise (the writer thread). */
  recordIntent(intent: OrderIntent): boolean | Promise<boolean>;
  /** Publish a denial (the executor's `OrderDenied` path). */
  deny(intent: OrderIntent, check: string, reason: string): void;
}

/** Counters for logs, the heartbeat and tests. */
export interface ProtectiveStopStats {
  placed: number;
  replaced: number;
  canceled: number;
  triggered: number;
  rejected: number;
  /** Entries filled at or beyond their stop level: no stop placed (it would trigger at once). */
  beyondStop: number;
  failures: number;
}

interface Wanted {
  stopPrice: string;
  signalId: string;
  strategyId: string;
}

/** The stops of one executor. */
export class ProtectiveStops {
  /** Levels stated by entry signals, by the entry order's client order id, until it fills. */
  private readonly wanted = new Map<string, Wanted>();
  /** The stop each symbol has (placed, or being placed), by symbol. */
  private readonly active = new Map<Symbol, OrderIntent>();
  /** Per symbol, the tail of its chain of stop operations. */
  private readonly chains = new Map<Symbol, Promise<void>>();
  readonly stats: ProtectiveStopStats = { placed: 0, replaced: 0, canceled: 0, triggered: 0, rejected: 0, beyondStop: 0, failures: 0 };

  constructor(private readonly d: ProtectiveStopsDeps) {}

  /**
   * The stop operations still running (placing, canceling), or null when there are none. Replay
   * waits for them (with the bus) before the next minute, so results stay deterministic.
   */
  pending(): Promise<void> | null {
    if (this.chains.size === 0) return null;
    return Promise.all([...this.chains.values()]).then(() => undefined);
  }

  /** The stop of `symbol` as placed (or being placed), or undefined. */
  stopOf(symbol: Symbol): OrderIntent | undefined {
    return this.active.get(symbol);
  }

  /** Open stops, one per symbol at most. */
  openStops(): OrderIntent[] {
    return [...this.active.values()];
  }

  /**
   * Learn the stops open after a restart (from the database, reconciled with the exchange), so
   * they are replaced and canceled like the ones placed in this process.
   */
  restore(stops: readonly OrderIntent[]): void {
    for (const s of stops) this.active.set(s.symbol, s);
  }

  /**
   * A signal reached the executor (before it acts on it).
   * @param entryClientOrderId the client order id its entry leg will carry (when it opens one)
   * @param have the sign of the held position (1, 0, -1); @param want the target's sign
   */
  onSignal(s: SignalEmitted, entryClientOrderId: string, have: number, want: number): void {
    if (s.stopPrice === undefined || want === 0) return;
    if (want !== have) {
      this.wanted.set(entryClientOrderId, { stopPrice: s.stopPrice, signalId: s.signalId, strategyId: s.strategyId });
      return;
    }
    // The held position, with a level: move the stop when the level (on the tick) differs.
    const current = this.active.get(s.symbol);
    const side = stopSideFor(have);
    let level: string;
    try {
      level = str(roundStopPrice(this.d.rules.get(s.symbol), s.stopPrice, side));
    } catch (err) {
      this.stats.failures++;
      this.d.log.warn({ err, signalId: s.signalId }, 'stop level of a signal unusable: stop not moved');
      return;
    }
    if (current !== undefined && current.stopPrice !== undefined && new Decimal(current.stopPrice).eq(level)) return;
    this.stats.replaced++;
    this.place(s.symbol, side, { stopPrice: s.stopPrice, signalId: s.signalId, strategyId: s.strategyId }, stopClientOrderIdFor(s.signalId));
  }

  /**
   * An order event (the executor's `order.update`): an entry that FILLED gets its stop; the
   * stop's own end (filled, canceled, expired, rejected) forgets it.
   * @param entry the executor's intent of the order the event is about (undefined: not its own)
   */
  onOrderEvent(e: OrderEvent, entry: OrderIntent | undefined): void {
    const id = e.type === 'OrderFilled' ? e.fill.clientOrderId : e.type === 'OrderSubmitted' || e.type === 'OrderDenied' ? e.intent.clientOrderId : e.clientOrderId;
    if (isStopId(id)) {
      const symbol = e.type === 'OrderFilled' ? e.fill.symbol : e.type === 'OrderSubmitted' || e.type === 'OrderDenied' ? e.intent.symbol : e.symbol;
      const cur = this.active.get(symbol);
      const ended = (e.type === 'OrderFilled' && e.status === 'FILLED') || e.type === 'OrderCanceled' || e.type === 'OrderExpired' || e.type === 'OrderRejected';
      if (e.type === 'OrderFilled' && e.status === 'FILLED') {
        this.stats.triggered++;
        this.d.log.warn({ clientOrderId: id, symbol, price: e.fill.price, quantity: e.fill.quantity }, 'protective stop triggered: position closed on the exchange');
      }
      if (e.type === 'OrderRejected') {
        this.stats.rejected++;
        this.d.log.error({ clientOrderId: id, symbol, code: e.code, reason: e.reason }, 'protective stop refused by the exchange: the position has no exchange stop (the strategy\'s own exit still applies)');
      }
      if (ended && cur?.clientOrderId === id) this.active.delete(symbol);
      return;
    }
    if (e.type !== 'OrderFilled' || e.status !== 'FILLED' || entry === undefined || entry.reduceOnly) return;
    const w = this.wanted.get(entry.clientOrderId);
    if (w === undefined) return;
    this.wanted.delete(entry.clientOrderId);
    const side = stopSideFor(entry.side === 'BUY' ? 1 : -1);
    // Filled at or beyond its stop level already (the entry kline closed past the stop band, or
    // slipped through it): Binance would refuse the stop (-2021, would immediately trigger), and
    // the position is past its stop: no exchange stop; the strategy's own stop exit applies.
    // Judged on the fill price, which replay and live share (the mark at placement they do not).
    try {
      const level = roundStopPrice(this.d.rules.get(entry.symbol), w.stopPrice, side);
      const px = new Decimal(e.fill.price);
      if (side === 'SELL' ? px.lte(level) : px.gte(level)) {
        this.stats.beyondStop++;
        this.d.log.warn({ symbol: entry.symbol, fillPrice: e.fill.price, stopPrice: str(level), signalId: w.signalId }, 'entry filled beyond its stop level: no exchange stop placed (Binance would refuse it, -2021)');
        return;
      }
    } catch {
      // an unusable level is denied with its reason by place()
    }
    this.place(entry.symbol, side, w, stopClientOrderIdFor(w.signalId));
  }

  /** The venue reported the symbol's position: flat → its stop, if any, is canceled. */
  onPosition(symbol: Symbol, quantity: Decimal): void {
    if (!quantity.isZero()) return;
    const cur = this.active.get(symbol);
    if (cur === undefined) return;
    this.cancel(cur, 'position closed');
  }

  /**
   * Place a stop for a held position at start-up (see {@link planStartupStops}); `n` makes the
   * client order id of a re-placement unique.
   */
  placeFor(symbol: Symbol, positionSign: number, w: Wanted, n: number): void {
    this.place(symbol, stopSideFor(positionSign), w, stopClientOrderIdFor(w.signalId, n));
  }

  /** Cancel a stop (an orphan found at start-up, or the symbol's stop). */
  cancel(stop: Pick<OrderIntent, 'symbol' | 'clientOrderId'>, why: string): void {
    this.enqueue(stop.symbol, async () => {
      try {
        await this.d.venue.cancel(stop.symbol, stop.clientOrderId);
        this.stats.canceled++;
        this.d.log.info({ clientOrderId: stop.clientOrderId, symbol: stop.symbol, why }, 'protective stop canceled');
      } catch (err) {
        this.stats.failures++;
        this.d.log.error({ err, clientOrderId: stop.clientOrderId }, `canceling a protective stop failed (${why}); reconciliation at the next start cancels an orphan`);
      }
      if (this.active.get(stop.symbol)?.clientOrderId === stop.clientOrderId) this.active.delete(stop.symbol);
    });
  }

  private place(symbol: Symbol, side: Side, w: Wanted, clientOrderId: string): void {
    const old = this.active.get(symbol);
    const now = this.d.clock.now();
    let intent: OrderIntent = {
      clientOrderId,
      symbol,
      side,
      type: 'STOP_MARKET',
      quantity: '0',
      closePosition: true,
      reduceOnly: true,
      strategyId: w.strategyId,
      signalId: w.signalId,
      refPrice: w.stopPrice,
      createdAt: now,
    };
    try {
      const rules = this.d.rules.get(symbol);
      const level = roundStopPrice(rules, w.stopPrice, side);
      intent = { ...intent, stopPrice: str(level), refPrice: str(level) };
      const pf = rules.priceFilter;
      if (level.lt(pf.minPrice) || (new Decimal(pf.maxPrice).isPos() && level.gt(pf.maxPrice))) {
        this.d.deny(intent, 'PRICE_FILTER', `stop price ${str(level)} outside [${pf.minPrice}, ${pf.maxPrice}] (Binance -4014/-4016)`);
        return;
      }
    } catch (err) {
      this.stats.failures++;
      this.d.deny(intent, 'error', `stop level unusable: ${errorMessage(err)}`);
      return;
    }
    this.active.set(symbol, intent);
    if (old !== undefined && old.clientOrderId !== clientOrderId) {
      // Binance keeps one closePosition stop per direction (-4130): the old one goes first.
      this.enqueue(symbol, async () => {
        await this.d.venue.cancel(symbol, old.clientOrderId).catch((err: unknown) => {
          this.stats.failures++;
          this.d.log.error({ err, clientOrderId: old.clientOrderId }, 'canceling the previous protective stop failed');
        });
      });
    }
    this.enqueue(symbol, async () => {
      try {
        if (!(await this.d.recordIntent(intent))) {
          this.d.log.warn({ clientOrderId }, 'protective stop was written ahead before (placed before a restart?): not sent again');
          return;
        }
      } catch (err) {
        this.stats.failures++;
        if (this.active.get(symbol) === intent) this.active.delete(symbol);
        this.d.deny(intent, 'journal', `write-ahead failed: ${errorMessage(err)}`);
        return;
      }
      this.stats.placed++;
      void this.d.bus.publish('order.update', { type: 'OrderSubmitted', ts: this.d.clock.now(), intent });
      try {
        const r = await this.d.venue.submit(intent);
        if (!r.accepted && this.active.get(symbol) === intent) this.active.delete(symbol);
      } catch (err) {
        // Unknown outcome: kept as active (the venue resolves it); reconciliation at start settles it.
        this.stats.failures++;
        this.d.log.error({ err, clientOrderId }, 'protective stop outcome unknown');
      }
    });
  }

  /**
   * Run `op` after the symbol's earlier operations. The first one starts synchronously (the
   * simulated venue answers within the call, so replay stays deterministic).
   */
  private enqueue(symbol: Symbol, op: () => Promise<void>): void {
    const prev = this.chains.get(symbol);
    const p: Promise<void> = (prev === undefined ? op() : prev.then(op)).catch((err: unknown) => {
      this.d.log.error({ err, symbol }, 'protective stop operation failed');
    });
    this.chains.set(symbol, p);
    void p.then(() => {
      if (this.chains.get(symbol) === p) this.chains.delete(symbol);
    });
  }
}

/** A position as start-up sees it, and what the database knows of its stop level. */
export interface StartupPosition {
  symbol: Symbol;
  /** Signed quantity, base asset (non-zero). */
  quantity: string;
  /**
   * The level to protect it at (the last stop placed for it, else its entry signal's
   * `stopPrice`), with the signal it came from; undefined when the database knows none (a
   * position perpbot did not open, or an entry without a stop level).
   */
  level?: Wanted;
  /** Stop orders of that signal already in the database (the next re-placement's `n`). */
  stopsOfSignal: number;
}

/** The start-up plan for stops. */
export interface StartupStopPlan {
  /** Held positions without an open stop: place one. */
  place: Array<{ symbol: Symbol; positionSign: number; level: Wanted; n: number }>;
  /** Held positions without an open stop and without a known level: reported, left alone. */
  unprotected: Symbol[];
  /** Open stops of perpbot on symbols without a position: cancel them. */
  orphans: Array<{ symbol: Symbol; clientOrderId: string }>;
}

/**
 * Reconcile stops at start (pure): every held position needs one open perpbot stop on the
 * protecting side; a perpbot stop on a flat symbol, or on the side that would not close the
 * position, is an orphan. Stops not carrying {@link STOP_PREFIX} are someone else's: untouched.
 * @param openStops the exchange's open stop orders (GET /fapi/v1/openAlgoOrders, mapped)
 */
export function planStartupStops(positions: readonly StartupPosition[], openStops: ReadonlyArray<{ symbol: Symbol; clientOrderId: string; side: Side }>): StartupStopPlan {
  const plan: StartupStopPlan = { place: [], unprotected: [], orphans: [] };
  const held = new Map(positions.filter((p) => !new Decimal(p.quantity).isZero()).map((p) => [p.symbol, p]));
  const covered = new Set<Symbol>();
  for (const s of [...openStops].sort((a, b) => (a.symbol + a.clientOrderId < b.symbol + b.clientOrderId ? -1 : 1))) {
    if (!isStopId(s.clientOrderId)) continue;
    const p = held.get(s.symbol);
    const sign = p === undefined ? 0 : new Decimal(p.quantity).isPos() ? 1 : -1;
    if (sign === 0 || stopSideFor(sign) !== s.side || covered.has(s.symbol)) plan.orphans.push({ symbol: s.symbol, clientOrderId: s.clientOrderId });
    else covered.add(s.symbol);
  }
  for (const p of [...held.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : 1))) {
    if (covered.has(p.symbol)) continue;
    if (p.level === undefined) plan.unprotected.push(p.symbol);
    else plan.place.push({ symbol: p.symbol, positionSign: new Decimal(p.quantity).isPos() ? 1 : -1, level: p.level, n: p.stopsOfSignal });
  }
  return plan;
}
