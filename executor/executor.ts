/**
 * The executor: the one path from a strategy's signal to an exchange.
 *
 *   signal → order intents (sizing) → exchange filters (round, then validate) → risk checks
 *   → write-ahead journal (the intent with its deterministic client order id, durable before
 *   sending) → `OrderSubmitted` → venue.
 *
 * A refusal at any step is an `OrderDenied` event with the filter or check that said no; nothing
 * is thrown for it. Order, fill and position updates come back on the bus (`order.update`,
 * `account.update`) and keep the executor's book: open orders, positions, equity, the PnL of
 * each round trip (which feeds the risk engine's loss streak and daily loss).
 *
 * Signals state a target position (LONG / SHORT / FLAT), so repeating a signal never doubles a
 * position, and while an order of a symbol is still open, a new signal on it is denied
 * (`orderInFlight`) instead of sending a second order.
 *
 * The executor never waits on the network. Every decision (sizing, filters, risk checks, the
 * book's reservation of the order) is made synchronously in bus order; what takes time — the
 * write-ahead commit and the venue's submit with its retries — runs in the symbol's lane
 * ({@link Lanes}): orders of different symbols go out concurrently, and on one symbol an order
 * never overtakes the one before it (a reversal's entry waits for its reduce-only close). Fills,
 * position reports, operator commands and other symbols' signals are handled meanwhile.
 *
 * The booking of what comes back (order events, position reports, round trips, the positions
 * re-read when they stay unmatched, the TTL cancel of LIMIT orders) is in ./bookkeeping.ts, on
 * the same maps as the decisions here.
 */
import type { CancelOrder, EventBus, SubmitOrder } from '../src/bus/bus.ts';
import { Decimal, ZERO, dec, str } from '../src/core/decimal.ts';
import { InvariantError, errorMessage } from '../src/core/errors.ts';
import { clientOrderIdFor } from './client-order-id.ts';
import { Lanes } from './lanes.ts';
import type { ExecutorDeps, ExecutorStats, OpenOrder, RoundTrip, Trip } from './executor-types.ts';
import { cancelExpiredLimits, closeOrder, onOrderEvent, onPosition, refreshOverduePositions, restoreBook, type BookContext, type ReportedPosition, type UnmatchedQuantity } from './bookkeeping.ts';
import type {
  OrderDenied,
  MarkPriceUpdated,
  OrderIntent,
  Position,
  SetTradingState,
  Side,
  SignalEmitted,
  Symbol,
  TradingState,
} from '../src/core/types.ts';
import { roundPrice, roundQuantity, validateOrder } from './filters.ts';
import { RiskEngine, checkRisk, isReducing, tradingStateCheck, type StateChange } from './risk.ts';
import { OperatorCommands } from './operator.ts';
import { sizeEntry } from './sizing.ts';
import { ProtectiveStops, isStopId } from './protective-stops.ts';

export { clientOrderIdFor, isPerpbotClientOrderId } from './client-order-id.ts';
export { POSITION_REPORT_OVERDUE_MS } from './executor-types.ts';
export type { ExecutorDeps, ExecutorStats, OrderJournal, RoundTrip, SizingConfig } from './executor-types.ts';

/** The executor. Create, then {@link Executor.start} to consume the bus. */
export class Executor {
  private readonly risk: RiskEngine;
  private readonly open = new Map<string, OpenOrder>();
  /** Per-symbol lanes of order placements (write-ahead, then submit): see the file comment. */
  private readonly lanes = new Lanes();
  private readonly openBySymbol = new Map<Symbol, number>();
  /** The venue's last reported position per symbol (signed, base asset) and its time (UTC epoch ms). */
  private readonly reported = new Map<Symbol, ReportedPosition>();
  /** Per symbol, fills and position reports not matched yet: see {@link UnmatchedQuantity}. */
  private readonly unmatched = new Map<Symbol, UnmatchedQuantity>();
  /** Funding times per symbol as the mark price stream announces them (UTC epoch ms). */
  private readonly funding = new Map<Symbol, { next?: number; previous?: number }>();
  private readonly trips = new Map<Symbol, Trip>();
  private equity: Decimal;
  private realized = ZERO;
  private fees = ZERO;
  private readonly roundTrips: RoundTrip[] = [];
  private seq = 0;
  private lastError: string | null = null;
  /** Latest mark price and latest signal reference price per symbol, for operator closes. */
  private readonly lastMarks = new Map<Symbol, string>();
  private readonly lastSignalPrices = new Map<Symbol, string>();
  /** Operator commands (topic `operator.command`): executor/operator.ts. */
  readonly operator: OperatorCommands;

  readonly stats: ExecutorStats = {
    signals: 0,
    ignoredSignals: 0,
    submitted: 0,
    denied: 0,
    deniedByCheck: {},
    rejected: 0,
    fills: 0,
    roundTrips: 0,
    wins: 0,
    losses: 0,
    venueErrors: 0,
    externalFills: 0,
    externalOrders: 0,
  };

  /** The protective stops on the venue (null when `exchangeStop` is off). */
  readonly stops: ProtectiveStops | null;
  /** What ./bookkeeping.ts borrows: this executor's maps, counters and hooks. */
  private readonly book: BookContext;

  constructor(private readonly d: ExecutorDeps) {
    this.risk = new RiskEngine(d.limits, d.initialTradingState);
    this.equity = new Decimal(d.startingEquity);
    this.operator = new OperatorCommands({
      clock: d.clock,
      log: d.log,
      setState: (cmd) => this.onSetState(cmd),
      positions: () => this.positionSnapshot(),
      openOrders: () => this.openOrders(),
      cancel: (symbol, id) => d.venue.cancel(symbol, id),
      placeClose: (intent) => this.place(intent, { operatorClose: true }),
      lastPrice: (symbol) => this.lastMarks.get(symbol) ?? this.lastSignalPrices.get(symbol) ?? null,
      noteError: (message) => (this.lastError = message),
    });
    this.stops = d.exchangeStop === true
      ? new ProtectiveStops({ bus: d.bus, venue: d.venue, rules: d.rules, clock: d.clock, log: d.log, recordIntent: (i) => d.journal.recordIntent(i), deny: (i, c, r) => this.deny(i, c, r) })
      : null;
    this.book = {
      bus: d.bus, venue: d.venue, clock: d.clock, log: d.log, risk: this.risk, stats: this.stats, stops: this.stops,
      // This executor's own maps, shared, not copied: its decisions read them directly.
      open: this.open, openBySymbol: this.openBySymbol, reported: this.reported, unmatched: this.unmatched, trips: this.trips, roundTrips: this.roundTrips,
      refreshingPositions: false,
      addPnl: (realizedPnl, commission, net) => {
        this.realized = this.realized.plus(realizedPnl);
        this.fees = this.fees.plus(commission);
        this.equity = this.equity.plus(net);
      },
      publishState: (change) => this.publishState(change),
      noteError: (message) => (this.lastError = message),
    };
  }

  /**
   * Start consuming `signal.*`, `order.update`, `account.update` and `order.request` (one queue,
   * in order). No handler waits on the network: order placements run in per-symbol lanes, which
   * the bus counts as in flight ({@link EventBus.track}) so that `drain()` still waits for them.
   */
  start(): void {
    this.d.bus.consume(
      ['signal.*', 'order.update', 'account.update', 'order.request'],
      (m) => {
        switch (m.type) {
          case 'SignalEmitted':
            return this.onSignal(m);
          case 'PositionChanged':
            return onPosition(this.book, m);
          case 'SetTradingState':
            return this.onSetState(m);
          case 'SubmitOrder':
          case 'CancelOrder':
            return this.onOperatorCommand(m);
          default:
            return onOrderEvent(this.book, m);
        }
      },
      { name: 'executor' },
    );
    // Operator commands: their own queue, so a halt never waits behind an order on a slow venue.
    this.d.bus.consume('operator.command', (m) => this.operator.handle(m), { name: 'executor-operator' });
    // Funding times only (a map update): their own queue, so mark prices never wait behind orders.
    this.d.bus.consume('market.markPrice.*', (m) => this.onMarkPrice(m), { name: 'executor-funding' });
  }

  /** Learn the symbol's funding times from a mark price (`nextFundingTime`, when the source has it). */
  private onMarkPrice(m: MarkPriceUpdated): void {
    this.lastMarks.set(m.symbol, m.markPrice);
    const t = m.nextFundingTime;
    if (t === undefined) return;
    const f = this.funding.get(m.symbol);
    if (f === undefined) this.funding.set(m.symbol, { next: t });
    else if (f.next !== t) {
      if (f.next !== undefined && t > f.next) f.previous = f.next;
      f.next = t;
    }
  }

  /**
   * Restore the book at start (live and paper, after a restart): the orders the database holds as
   * open, with what has executed of them, and the positions (the exchange's, after
   * reconciliation). Call before {@link Executor.start}'s queue sees any signal.
   * @throws InvariantError when called after orders were placed in this process
   */
  restore(openOrders: ReadonlyArray<{ intent: OrderIntent; executedQty: string }>, positions: ReadonlyArray<Position>): void {
    if (this.stats.submitted > 0) throw new InvariantError('executor.restore after orders were placed');
    // Protective stops are not orders in flight: the stops module keeps them.
    this.stops?.restore(openOrders.filter((o) => isStopId(o.intent.clientOrderId)).map((o) => o.intent));
    restoreBook(this.book, openOrders.filter((o) => !isStopId(o.intent.clientOrderId)), positions);
  }

  /** Current trading state and why. */
  tradingState(): { state: TradingState; reason: string; consecutiveLosses: number } {
    return { state: this.risk.state, reason: this.risk.haltReason, consecutiveLosses: this.risk.consecutiveLosses };
  }

  /** Open orders (client order id → intent). */
  openOrders(): OrderIntent[] {
    return [...this.open.values()].map((o) => o.intent);
  }

  /** Non-zero positions, signed base-asset quantity as text. */
  positionSnapshot(): Record<Symbol, string> {
    const out: Record<Symbol, string> = {};
    for (const s of this.positionSymbols()) {
      const q = this.positionOf(s);
      if (!q.isZero()) out[s] = str(q);
    }
    return out;
  }

  /** The position of `symbol` as the venue last reported it (signed, base asset). */
  private positionOf(symbol: Symbol): Decimal {
    return this.reported.get(symbol)?.quantity ?? ZERO;
  }

  private positionSymbols(): Iterable<Symbol> {
    return this.reported.keys();
  }

  /**
   * Set the equity from the exchange's wallet balance (live start-up), USDT; sizing by
   * `equity_fraction` uses it from then on.
   * @throws TypeError naming the value when it is not a decimal string
   */
  setEquity(balance: string): void {
    this.equity = dec(balance, 'wallet balance');
  }

  /** Equity by the executor's book (starting equity + realized PnL − fees), USDT. */
  currentEquity(): string {
    return str(this.equity);
  }

  /** Realized PnL before fees, fees paid, and their difference, USDT, over the executor's life. */
  totals(): { realizedPnl: string; fees: string; netPnl: string } {
    return { realizedPnl: str(this.realized), fees: str(this.fees), netPnl: str(this.realized.minus(this.fees)) };
  }

  /** Completed round trips, oldest first. */
  trades(): readonly RoundTrip[] {
    return this.roundTrips;
  }

  /** The last error met (venue failure, journal failure), or null. */
  get error(): string | null {
    return this.lastError;
  }

  private publishState(change: StateChange | null): void {
    if (!change) return;
    this.d.log.warn({ state: change.state, previous: change.previous, reason: change.reason }, 'trading state changed');
    void this.d.bus.publish('risk.state', { type: 'TradingStateChanged', ts: this.d.clock.now(), ...change });
  }

  private onSetState(cmd: SetTradingState): void {
    if (cmd.ifReason !== undefined && this.risk.haltReason !== cmd.ifReason) {
      this.d.log.warn({ state: cmd.state, reason: cmd.reason, current: this.risk.state, currentReason: this.risk.haltReason }, 'trading state command not applied: the state it was meant to lift has changed');
      return;
    }
    this.publishState(this.risk.setState(cmd.state, cmd.reason, cmd.resumeAt));
  }

  /**
   * Restore the current UTC day's risk counters after a restart (see RiskEngine.restoreDay).
   * @param opened base-asset quantity opened today per symbol, decimal strings
   * @param strategyPnl realized PnL net of fees today per strategy, USDT decimal strings
   * @throws TypeError naming the entry when a value is not a decimal string
   */
  restoreRiskDay(now: number, opened: Record<Symbol, string>, strategyPnl: Record<string, string>): void {
    const toMap = (r: Record<string, string>, what: string) => new Map(Object.entries(r).map(([k, v]) => [k, dec(v, `${what} ${k}`)]));
    this.risk.restoreDay(now, toMap(opened, 'opened today'), toMap(strategyPnl, 'PnL today of'));
  }

  /**
   * Time moved (the kernel calls this every kline, and every second live): lift an automatic
   * halt whose cooldown has passed; cancel LIMIT orders older than their TTL.
   */
  tick(): void {
    const now = this.d.clock.now();
    this.publishState(this.risk.tick(now));
    refreshOverduePositions(this.book, now);
    const ttl = this.d.limitOrderTtlMs;
    if (ttl === undefined || this.open.size === 0) return;
    cancelExpiredLimits(this.book, now, ttl);
  }

  private onSignal(s: SignalEmitted): void {
    this.stats.signals++;
    this.lastSignalPrices.set(s.symbol, s.refPrice);
    this.tick();
    const base = {
      symbol: s.symbol,
      type: 'MARKET' as const,
      strategyId: s.strategyId,
      signalId: s.signalId,
      refPrice: s.refPrice,
      createdAt: this.d.clock.now(),
    };
    const pos = this.positionOf(s.symbol);
    const want = s.target === 'LONG' ? 1 : s.target === 'SHORT' ? -1 : 0;
    const have = pos.isZero() ? 0 : pos.isPositive() ? 1 : -1;
    // Stale first: a decision on a kline that closed long ago (a back-fill after an outage, a
    // warm-up at start) must not trade at today's prices. The strategy hears the denial.
    const maxAge = this.d.limits.maxSignalAgeMs ?? 0;
    if (maxAge > 0 && s.klineOpenTime !== undefined && base.createdAt - (s.klineOpenTime + 60_000) > maxAge) {
      if (want !== have) {
        const age = Math.round((base.createdAt - (s.klineOpenTime + 60_000)) / 1000);
        this.deny({ ...base, clientOrderId: clientOrderIdFor(s.signalId, 'x'), side: want > have ? 'BUY' : 'SELL', quantity: '0', reduceOnly: want === 0 }, 'staleSignal', `the signal's kline closed ${age} s ago (limit ${Math.round(maxAge / 1000)} s)`);
      } else this.stats.ignoredSignals++;
      return;
    }
    // In-flight first: until the open order settles, the position we see is not the one we
    // will have, so "already at target" cannot be judged. The strategy hears the denial and
    // decides again on its next kline.
    if ((this.openBySymbol.get(s.symbol) ?? 0) > 0 || this.unmatched.has(s.symbol) || this.lanes.busy(s.symbol)) {
      const side: Side = want > have ? 'BUY' : 'SELL';
      const why = this.unmatched.has(s.symbol) ? `fills and the position update of ${s.symbol} do not match yet` : `an order of ${s.symbol} is still open`;
      this.deny({ ...base, clientOrderId: clientOrderIdFor(s.signalId, 'x'), side, quantity: '0', reduceOnly: want === 0 }, 'orderInFlight', why);
      return;
    }
    const entryId = clientOrderIdFor(s.signalId, 'open');
    this.stops?.onSignal(s, entryId, have, want);
    if (want === have) {
      this.stats.ignoredSignals++;
      return;
    }
    this.inLane(s.symbol, () => this.actOn(s, base, entryId, pos, want, have), (err) => {
      // A bug or bad data must not swallow an exit silently: say so as a denial.
      this.lastError = `signal ${s.signalId}: ${errorMessage(err)}`;
      this.d.log.error({ err, signalId: s.signalId }, 'signal could not be turned into an order');
      this.deny({ ...base, clientOrderId: clientOrderIdFor(s.signalId, 'err'), side: want > have ? 'BUY' : 'SELL', quantity: '0', reduceOnly: want === 0 }, 'error', errorMessage(err));
    });
  }

  /**
   * Run `task` in `symbol`'s lane (at once when the lane is free, else after the orders before
   * it), counted by the bus as in flight; its error goes to `onError`.
   */
  private inLane(symbol: Symbol, task: () => Promise<unknown>, onError: (err: unknown) => void): void {
    void this.d.bus.track(
      this.lanes.run(
        symbol,
        async () => {
          await task();
        },
        onError,
      ),
    );
  }

  /** Turn a signal into orders: close what is held (reduce-only), then the entry `entryId`. */
  private async actOn(
    s: SignalEmitted,
    base: Omit<OrderIntent, 'clientOrderId' | 'side' | 'quantity' | 'reduceOnly'>,
    entryId: string,
    pos: Decimal,
    want: number,
    have: number,
  ): Promise<void> {
    if (have !== 0) {
      // Close what we hold first (reduce-only, the whole position).
      const side: Side = have > 0 ? 'SELL' : 'BUY';
      const ok = await this.place({ ...base, clientOrderId: clientOrderIdFor(s.signalId, 'close'), side, quantity: str(pos.abs()), reduceOnly: true });
      if (!ok || want === 0) return;
    }
    const side: Side = want > 0 ? 'BUY' : 'SELL';
    const rules = this.d.rules.get(s.symbol);
    const sized = sizeEntry({
      rules,
      refPrice: s.refPrice,
      mode: this.d.sizing.mode,
      notional: this.d.sizing.notional,
      equityFraction: this.d.sizing.equityFraction,
      equity: str(this.equity),
      leverage: this.d.sizing.leverage,
      side,
    });
    const intent: OrderIntent = { ...base, clientOrderId: entryId, side, quantity: '0', reduceOnly: false };
    if ('violation' in sized) {
      this.deny(intent, 'sizing', sized.violation);
      return;
    }
    await this.place({ ...intent, quantity: str(sized.quantity) });
  }

  /**
   * Filters → risk → journal → venue for one intent.
   * @returns true when the venue accepted it
   */
  private async place(raw: OrderIntent, opts: { operatorClose?: boolean } = {}): Promise<boolean> {
    const rules = this.d.rules.get(raw.symbol);
    // Round, then validate: quantity floored to the step, a limit price to the tick toward the
    // passive side (BUY down, SELL up), so rounding never makes an order bigger or more aggressive.
    const intent: OrderIntent = { ...raw, quantity: str(roundQuantity(rules, raw.quantity, raw.type)) };
    if (raw.price !== undefined) intent.price = str(roundPrice(rules, raw.price, raw.side));
    const violation = validateOrder(rules, intent);
    if (violation) {
      this.deny(intent, violation.filter, `${violation.reason} (Binance ${violation.code})`);
      return false;
    }
    const now = this.d.clock.now();
    const position = this.positionOf(intent.symbol);
    const view = this.risk.view(intent, now, position, this.openPositionCount(), this.projected(intent.symbol, position), this.funding.get(intent.symbol));
    // An operator's reduce-only close (flatten) leaves in any trading state; nothing else changes.
    const denial = opts.operatorClose && isReducing(intent, position) ? null : checkRisk(intent, view, this.d.limits);
    if (denial) {
      this.deny(intent, denial.check, denial.reason);
      return false;
    }
    // Decided: the book holds the order from now on (the next decision, on any symbol, counts it
    // in open positions and projected notional), while its intent is being written ahead.
    this.open.set(intent.clientOrderId, { intent, executed: ZERO });
    this.openBySymbol.set(intent.symbol, (this.openBySymbol.get(intent.symbol) ?? 0) + 1);
    let written: boolean;
    try {
      const r = this.d.journal.recordIntent(intent);
      written = typeof r === 'boolean' ? r : await r;
    } catch (err) {
      // Not written ahead = not sent: an order we could not recover after a crash must not exist.
      closeOrder(this.book, intent.clientOrderId);
      this.lastError = `journal: ${errorMessage(err)}`;
      this.deny(intent, 'journal', `write-ahead failed: ${errorMessage(err)}`);
      return false;
    }
    if (!written) {
      closeOrder(this.book, intent.clientOrderId);
      this.deny(intent, 'duplicate', `order ${intent.clientOrderId} was written ahead before (sent before a restart?): not sent again; reconciliation owns it`);
      return false;
    }
    // A halt (or REDUCING) that arrived while the intent was being committed still stops it:
    // the same trading-state check, on the state and position of now (an operator's reducing
    // close is exempt, as above).
    if (this.risk.state !== 'ACTIVE' && !(opts.operatorClose && isReducing(intent, this.positionOf(intent.symbol)))) {
      const nowPos = this.positionOf(intent.symbol);
      const late = tradingStateCheck(intent, this.risk.view(intent, this.d.clock.now(), nowPos, this.openPositionCount(), this.projected(intent.symbol, nowPos), this.funding.get(intent.symbol)), this.d.limits);
      if (late) {
        closeOrder(this.book, intent.clientOrderId);
        this.deny(intent, 'tradingState', `${late.reason} (${this.risk.haltReason}; it changed while the order was written ahead: not sent)`, true);
        return false;
      }
    }
    this.stats.submitted++;
    void this.d.bus.publish('order.update', { type: 'OrderSubmitted', ts: this.d.clock.now(), intent });
    try {
      const r = await this.d.venue.submit(intent);
      return r.accepted;
    } catch (err) {
      // Outcome unknown: the order stays open in the book; reconciliation settles it.
      this.stats.venueErrors++;
      this.lastError = `venue: ${errorMessage(err)}`;
      this.d.log.error({ err, clientOrderId: intent.clientOrderId }, 'order outcome unknown');
      return false;
    }
  }

  /** @param writtenAhead the intent was written ahead by this process (see OrderDenied.writtenAhead) */
  private deny(intent: OrderIntent, check: string, reason: string, writtenAhead = false): void {
    this.stats.denied++;
    this.stats.deniedByCheck[check] = (this.stats.deniedByCheck[check] ?? 0) + 1;
    this.d.log.debug({ clientOrderId: intent.clientOrderId, symbol: intent.symbol, check, reason }, 'order denied');
    const e: OrderDenied = { type: 'OrderDenied', ts: this.d.clock.now(), intent, check, reason };
    if (writtenAhead) e.writtenAhead = true;
    void this.d.bus.publish('order.update', e);
  }

  /** The position of `symbol` once every open order of it has filled (signed, base asset). */
  private projected(symbol: Symbol, position: Decimal): Decimal {
    let q = position;
    for (const o of this.open.values()) {
      if (o.intent.symbol !== symbol) continue;
      const rest = new Decimal(o.intent.quantity).minus(o.executed);
      q = o.intent.side === 'BUY' ? q.plus(rest) : q.minus(rest);
    }
    return q;
  }

    /** Symbols with a position or an entry order on its way to becoming one. */
  private openPositionCount(): number {
    const symbols = new Set<Symbol>();
    for (const s of this.positionSymbols()) if (!this.positionOf(s).isZero()) symbols.add(s);
    for (const o of this.open.values()) if (!o.intent.reduceOnly) symbols.add(o.intent.symbol);
    return symbols.size;
  }

  /**
   * Operator commands. A cancel goes to the venue at once, concurrently with everything else
   * (its failure is logged and kept as the last error); an order goes through the same checks
   * as a strategy's, in its symbol's lane (after the orders of that symbol already on their way).
   */
  private onOperatorCommand(m: SubmitOrder | CancelOrder): void {
    if (m.type === 'CancelOrder') {
      void this.d.bus.track(
        this.d.venue.cancel(m.symbol, m.clientOrderId).catch((err: unknown) => {
          this.lastError = `cancel ${m.clientOrderId}: ${errorMessage(err)}`;
          this.d.log.warn({ err, clientOrderId: m.clientOrderId, symbol: m.symbol }, 'operator cancel failed');
        }),
      );
      return;
    }
    const req = m.intent;
    const now = this.d.clock.now();
    const intent: OrderIntent = { ...req, clientOrderId: req.clientOrderId ?? `pb-op-${now.toString(36)}-${(this.seq++).toString(36)}`, createdAt: now };
    this.inLane(intent.symbol, () => this.place(intent), (err) => {
      // A malformed operator order (a price or reference price that is no decimal, a symbol
      // the exchange does not list) is refused with its reason, like any other denial.
      this.lastError = `operator order ${intent.clientOrderId}: ${errorMessage(err)}`;
      this.deny({ ...intent, quantity: intent.quantity || '0' }, 'error', errorMessage(err));
    });
  }
}
