/**
 * The project's one matching engine: a simulated Binance USDⓈ-M futures account (USDT margined,
 * one-way position mode) that accepts orders and fills them against the prices it is shown.
 *
 * It runs in process behind {@link SimVenue} (replay/backtest and paper modes) and is meant to be
 * wrapped, unchanged, by a Binance-protocol HTTP/websocket simulator. It therefore does no I/O,
 * reads no clock and publishes nothing: time comes in as arguments (UTC epoch ms) and every call
 * returns the events it produced, in order. The same inputs always give the same outputs.
 *
 * Units everywhere: prices in the quote asset (USDT), quantities in the base asset, notionals,
 * fees, PnL and balance in USDT, times in UTC epoch milliseconds. Money is `Decimal` inside and
 * `DecimalString` outside; it never passes through a float.
 *
 * Fill model (no look-ahead):
 * - An order only ever fills on a price the engine sees *after* it was submitted: a kline whose
 *   `openTime >= submittedAt` ({@link MatchingEngine.onKline}) or a mark price whose
 *   `ts >= submittedAt` ({@link MatchingEngine.onMarkPrice}). A decision taken on kline N's close
 *   therefore fills at kline N+1's open at the earliest. A mark price counts as a kline whose open,
 *   high and low are that price.
 * - MARKET: fills at the open of that next price, moved by `slippageBps` against the taker, taker fee.
 * - LIMIT: on the first price after submit the order "arrives": if the open already crosses the
 *   limit it takes liquidity (taker fee) at the open (GTC, IOC, FOK); IOC/FOK that do not cross
 *   expire; GTX (post-only) that would cross expires. Otherwise it rests, and fills as a maker at
 *   its own limit price on the first kline whose low (BUY) / high (SELL) reaches it — also when a
 *   later kline opens beyond it: on Binance a trade executes at the resting (maker) order's price,
 *   so a resting BUY never fills below its limit.
 * - GTX is also checked at submit against the last price seen (kline close or mark): one that
 *   would cross is rejected with -5022, as Binance does synchronously.
 * - No volume model: an order fills in full in one fill, except that a reduce-only order is capped
 *   to the position (the remainder then expires). `cumulativeQuantity`/`status` are kept exact so
 *   partial fills can be added later.
 *
 * - STOP_MARKET with `closePosition` (the protective stop, Binance's Algo Order API): kept apart
 *   from the open orders ({@link MatchingEngine.openStops}; Binance lists algo orders apart too),
 *   at most one per symbol and side (-4130), refused when the price is already at or beyond it
 *   (-2021; the price: the first of the last bar seen, i.e. in replay the open of the kline the
 *   entry filled on, the closest stand-in for the mark a few hundred ms after that fill). It is ARMED from the first minute boundary at or
 *   after its submission (`ceil(submittedAt / 60 s) × 60 s`): replay cannot see inside the kline on
 *   which it was placed, so the exchange simulator does not use that kline's remaining prices
 *   either, and the two stay equal. Once armed, a SELL stop triggers when a price reaches
 *   `≤ stopPrice` (kline: its low; mark: the mark), a BUY stop at `≥ stopPrice` (kline high).
 *   It then fills as a MARKET close of the whole position (taker fee, `slippageBps` against the
 *   taker, on the tick): at the first price it sees if that price is already beyond the stop (the
 *   stop was placed beyond the market, or the price gapped past it while it was being armed),
 *   otherwise AT THE STOP PRICE, on the assumption that the price path within and between klines
 *   is continuous (a 1-minute kline opens within a tick or so of the previous close; a real gap
 *   through the stop would fill worse than modelled). Nothing to close (flat, or a position on the
 *   stop's side): it does not trigger and stays open until canceled (perpbot cancels the stop of a
 *   flat position; replay and the simulator then agree however the cancel and the price race).
 *
 * Not modelled: margin, leverage, liquidation, funding, exchange filters (tick/step/notional — the
 * caller may plug them in through {@link MatchingEngineConfig.validate}).
 *
 * Helpers by concern, next to this file: engine-types.ts, engine-config.ts (defaults, slippage),
 * order-check.ts (submit validation), sim-order.ts, order-index.ts (orders by id, history),
 * position-accounting.ts, plain-decimal.ts (price text comparison).
 *
 * Binance error codes used in `OrderRejected.code`:
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code
 */
import { Decimal, ZERO, dec, str } from '../../core/decimal.ts';
import type {
  DecimalString,
  Kline,
  OrderAccepted,
  OrderCanceled,
  OrderExpired,
  OrderIntent,
  OrderRejected,
  Position,
  PositionChanged,
  Symbol,
} from '../../core/types.ts';

export * from './engine-types.ts';
export { comparePlainDecimal } from './plain-decimal.ts';
import { NO_EVENTS, REDUCE_ONLY_NOTHING, REDUCE_ONLY_REMAINDER, IOC_NOT_FILLED, GTX_WOULD_TAKE, type EngineEvent, type MatchingEngineConfig, type EngineOrder, type EngineStats } from './engine-types.ts';
import { resolveEngineConfig, slippedPrice, type ResolvedEngineConfig } from './engine-config.ts';
import { checkOrder, type OrderCheckContext } from './order-check.ts';
import { OrderIndex } from './order-index.ts';
import { comparePriceText } from './plain-decimal.ts';
import { applyFill, closableQuantity, flatPosition, newPosition, toPosition, type PosState } from './position-accounting.ts';
import { filledEvent, newBook, recordFill, snapshot, type Book, type SimOrder } from './sim-order.ts';

/**
 * The matching engine: one USDT-margined account in one-way mode.
 *
 * Every mutating method returns the events it produced, in order (a fill is always an
 * `OrderFilled` followed by its `PositionChanged`). Calls must come in non-decreasing time.
 * Malformed kline/mark prices throw `TypeError` (from `dec`); bad orders never throw, they are
 * answered with `OrderRejected` carrying a Binance code.
 */
export class MatchingEngine {
  private readonly cfg: ResolvedEngineConfig;
  private nextOrderId: bigint;
  private nextTradeId: bigint;
  private readonly books = new Map<Symbol, Book>();
  private readonly orders: OrderIndex;
  private readonly pos = new Map<Symbol, PosState>();
  private realizedTotal: Decimal = ZERO;
  private feesTotal: Decimal = ZERO;
  private fundingTotal: Decimal = ZERO;
  private readonly counters = { accepted: 0, rejected: 0, filled: 0, canceled: 0, expired: 0, fills: 0 };
  /** The state {@link checkOrder} reads: the live maps above and the `validate` hook. */
  private readonly checkCtx: OrderCheckContext;

  /**
   * @param config partial configuration; missing fields take their defaults.
   * @throws ConfigError listing every invalid field (non-decimal rate, negative taker fee or
   *   slippage, slippage ≥ 10000 bps, non-positive id, id beyond int64, bad history limit).
   */
  constructor(config: Partial<MatchingEngineConfig> = {}) {
    const c = (this.cfg = resolveEngineConfig(config));
    this.nextOrderId = c.firstOrderId;
    this.nextTradeId = c.firstTradeId;
    this.orders = new OrderIndex(c.historyLimit);
    this.checkCtx = { validate: c.validate, books: this.books, openById: this.orders.open, stopById: this.orders.stops, pos: this.pos };
  }

  // ------------------------------------------------------------------ orders

  /**
   * Place an order (Binance POST /fapi/v1/order). Never fills at submit time: fills come from a
   * later {@link onKline} / {@link onMarkPrice}.
   *
   * Checks, in order (the first failure answers `OrderRejected` with the Binance code):
   * `config.validate` hook; `clientOrderId` pattern (-1100); side (-1117); type (-1116);
   * quantity malformed (-1102) or ≤ 0 (-4003); LIMIT price missing/malformed (-1102) or ≤ 0
   * (-4001); timeInForce (-1115, LIMIT defaults to GTC); `clientOrderId` already used by an OPEN
   * order (-4116); reduce-only with no position or on the side that would increase it (-2022);
   * GTX whose price would cross the last price seen for the symbol (-5022).
   *
   * @param intent the order; `quantity`/`price` are decimal strings (base / quote asset)
   * @param now submit time, UTC epoch ms; fills need a price at or after it
   * @returns `[OrderAccepted]` (orderId: next int64 id as a string) or `[OrderRejected]`
   */
  submit(intent: OrderIntent, now: number): readonly EngineEvent[] {
    const checked = checkOrder(intent, this.checkCtx);
    if ('code' in checked) {
      this.counters.rejected++;
      const ev: OrderRejected = {
        type: 'OrderRejected',
        ts: now,
        clientOrderId: intent.clientOrderId,
        symbol: intent.symbol,
        code: checked.code,
        reason: checked.reason,
      };
      return [ev];
    }
    const orderId = (this.nextOrderId++).toString();
    const isStop = intent.type === 'STOP_MARKET';
    const order: SimOrder = {
      intent,
      orderId,
      symbol: intent.symbol,
      side: intent.side,
      type: intent.type,
      tif: checked.tif,
      qty: checked.qty,
      price: checked.price,
      priceText: checked.price === null ? null : str(checked.price),
      reduceOnly: intent.reduceOnly === true || isStop,
      stop: checked.stop,
      armedFrom: Math.ceil(now / 60_000) * 60_000,
      submittedAt: now,
      executed: ZERO,
      quoteExecuted: ZERO,
      status: 'NEW',
      arrived: false,
      updatedAt: now,
    };
    if (isStop) {
      this.book(intent.symbol).stops.push(order);
      this.orders.stops.set(intent.clientOrderId, order);
    } else {
      this.book(intent.symbol).open.push(order);
      this.orders.open.set(intent.clientOrderId, order);
    }
    this.counters.accepted++;
    const ev: OrderAccepted = { type: 'OrderAccepted', ts: now, clientOrderId: intent.clientOrderId, orderId, symbol: intent.symbol };
    return [ev];
  }

  /**
   * Cancel an open order (Binance DELETE /fapi/v1/order by `origClientOrderId`).
   * @param symbol the order's symbol; an open order of another symbol is not found
   * @param now cancel time, UTC epoch ms
   * @param reason carried into `OrderCanceled.reason`
   * @returns `[OrderCanceled]`, or {@link NO_EVENTS} when no such order is open (Binance would
   *   answer -2011 "Unknown order sent."): `length > 0` tells whether it existed.
   */
  cancel(symbol: Symbol, clientOrderId: string, now: number, reason = 'canceled'): readonly EngineEvent[] {
    const stop = this.orders.stops.get(clientOrderId);
    if (stop !== undefined) {
      if (stop.symbol !== symbol) return NO_EVENTS;
      const b = this.books.get(symbol)!;
      b.stops = b.stops.filter((x) => x !== stop);
      return [this.cancelOrder(stop, now, reason)];
    }
    const o = this.orders.open.get(clientOrderId);
    if (o === undefined || o.symbol !== symbol) return NO_EVENTS;
    const book = this.books.get(symbol)!;
    const i = book.open.indexOf(o);
    if (i >= 0) book.open.splice(i, 1);
    return [this.cancelOrder(o, now, reason)];
  }

  /**
   * Cancel every open order of a symbol (Binance DELETE /fapi/v1/allOpenOrders).
   * @returns one `OrderCanceled` per order, in submission order (may be empty)
   */
  cancelAll(symbol: Symbol, now: number, reason = 'canceled'): readonly EngineEvent[] {
    const book = this.books.get(symbol);
    if (book === undefined || book.open.length === 0) return NO_EVENTS;
    const orders = book.open;
    book.open = [];
    return orders.map((o) => this.cancelOrder(o, now, reason));
  }

  /** Open orders (NEW or PARTIALLY_FILLED), of one symbol or all, in submission order. */
  openOrders(symbol?: Symbol): EngineOrder[] {
    if (symbol !== undefined) return (this.books.get(symbol)?.open ?? []).map(snapshot);
    return [...this.orders.open.values()].map(snapshot);
  }

  /** True when `clientOrderId` names an open order (open stops included). */
  isOpen(clientOrderId: string): boolean {
    return this.orders.open.has(clientOrderId) || this.orders.stops.has(clientOrderId);
  }

  /**
   * Open (untriggered) STOP_MARKET orders, of one symbol or all, in submission order. Not part of
   * {@link openOrders}: Binance lists algo orders apart (GET /fapi/v1/openAlgoOrders).
   */
  openStops(symbol?: Symbol): EngineOrder[] {
    if (symbol !== undefined) return (this.books.get(symbol)?.stops ?? []).map(snapshot);
    return [...this.orders.stops.values()].map(snapshot);
  }

  /** True when `clientOrderId` names a STOP_MARKET order, open or (still in the history) finished. */
  isStop(clientOrderId: string): boolean {
    if (this.orders.stops.has(clientOrderId)) return true;
    return this.orders.finishedOrder(clientOrderId)?.type === 'STOP_MARKET';
  }

  /** A STOP_MARKET order by client order id, open or finished (triggered, canceled, expired). */
  getStop(clientOrderId: string): EngineOrder | undefined {
    const o = this.orders.stops.get(clientOrderId) ?? this.orders.finishedOrder(clientOrderId);
    return o === undefined || o.type !== 'STOP_MARKET' ? undefined : snapshot(o);
  }

  /**
   * An order by client order id: open orders, then the last `orderHistoryLimit` finished ones
   * (the newest order wins when a finished id was reused). Rejected orders are never recorded.
   */
  getOrder(clientOrderId: string): EngineOrder | undefined {
    const o = this.orders.open.get(clientOrderId) ?? this.orders.finishedOrder(clientOrderId);
    return o === undefined ? undefined : snapshot(o);
  }

  // ------------------------------------------------------------------ prices

  /**
   * Show the engine a kline. Orders of `k.symbol` submitted at or before `k.openTime` are matched
   * against it (open, then high/low), in submission order; fills are stamped `k.openTime`.
   * Only closed klines (`k.closed`) are used; others are ignored. The close is remembered as the
   * symbol's last price (for the GTX check at submit) unless a later price is already known.
   *
   * Hot path: with no open order for the symbol this returns {@link NO_EVENTS} without allocating
   * and without decimal arithmetic.
   * @throws TypeError when a price field the matching needs is not a decimal string
   */
  onKline(k: Kline): readonly EngineEvent[] {
    if (!k.closed) return NO_EVENTS;
    let book = this.books.get(k.symbol);
    if (book === undefined) book = this.book(k.symbol);
    if (k.closeTime >= book.lastTs) {
      // A back-filled older kline (paper mode after a reconnect) must not turn the last price back.
      book.last = k.close;
      book.lastOpen = k.open;
      book.lastTs = k.closeTime;
    }
    if (book.open.length === 0 && book.stops.length === 0) return NO_EVENTS;
    return this.match(book, k.open, k.high, k.low, k.openTime, true);
  }

  /**
   * Show the engine a mark price (treated as a kline whose open = high = low = `price`). Orders
   * of `symbol` submitted at or before `ts` are matched; fills are stamped `ts`.
   * Same hot path as {@link onKline}.
   * @param stops false: STOP_MARKET orders do not see this price (the exchange simulator's mark at
   *   a kline's open, shown the instant the previous kline closes: replay lets the orders decided
   *   on that close go first, so the simulator shows the stops that open with its first sub-step)
   * @param price quote asset, decimal string
   * @param ts UTC epoch ms
   * @throws TypeError when `price` is not a decimal string and an order needs it
   */
  onMarkPrice(symbol: Symbol, price: DecimalString, ts: number, stops = true): readonly EngineEvent[] {
    let book = this.books.get(symbol);
    if (book === undefined) book = this.book(symbol);
    book.last = price;
    book.lastOpen = price;
    book.lastTs = ts;
    if (book.open.length === 0 && (book.stops.length === 0 || !stops)) return NO_EVENTS;
    return this.match(book, price, price, price, ts, false, stops);
  }

  /**
   * Show only the armed STOP_MARKET orders of `symbol` a mark price (the exchange simulator's
   * mark between klines when its other orders fill on klines only): stops trigger on the mark
   * as on Binance; nothing else is matched and the last price is not changed.
   * @param price quote asset, decimal string; @param ts UTC epoch ms
   */
  triggerStops(symbol: Symbol, price: DecimalString, ts: number): readonly EngineEvent[] {
    const book = this.books.get(symbol);
    if (book === undefined || book.stops.length === 0) return NO_EVENTS;
    return this.matchStops(book, price, price, price, ts, false, null) ?? NO_EVENTS;
  }

  /** The last price seen for `symbol` (kline close or mark price) and its time (kline closeTime or mark ts). */
  lastPrice(symbol: Symbol): { price: DecimalString; ts: number } | undefined {
    const b = this.books.get(symbol);
    return b === undefined || b.last === null ? undefined : { price: b.last, ts: b.lastTs };
  }

  // ------------------------------------------------------------------ account

  /**
   * Every symbol the account has traded, flat ones included (quantity `"0"`), in order of first
   * fill. Like Binance GET /fapi/v2/positionRisk, one-way mode, plus our realized PnL and fees.
   */
  positions(): Position[] {
    return [...this.pos.values()].map(toPosition);
  }

  /** The position in `symbol`; a flat one (`updatedAt` 0) when it never traded. */
  position(symbol: Symbol): Position {
    const p = this.pos.get(symbol);
    return p === undefined ? flatPosition(symbol) : toPosition(p);
  }

  /**
   * Wallet balance, USDT: `startingBalance + Σ realizedPnl − Σ fees + Σ funding` (exact).
   * Unrealized PnL is not included; see {@link unrealizedPnl}.
   */
  balance(): DecimalString {
    return str(this.cfg.start.plus(this.realizedTotal).minus(this.feesTotal).plus(this.fundingTotal));
  }

  /**
   * Book a funding payment into the wallet balance (Binance: at each funding time a position pays
   * or receives `positionAmt × markPrice × fundingRate`, longs paying a positive rate;
   * https://www.binance.com/en/support/faq/introduction-to-binance-futures-funding-rates-360033525031).
   * @param amount signed USDT, positive = received
   * @returns the wallet balance after it
   * @throws TypeError when `amount` is not a decimal string
   */
  applyFunding(amount: DecimalString): DecimalString {
    this.fundingTotal = this.fundingTotal.plus(dec(amount, 'funding amount'));
    return this.balance();
  }

  /**
   * Unrealized PnL of the position in `symbol` at `markPrice`, USDT:
   * `signedQuantity × (markPrice − entryPrice)`; `"0"` when flat.
   * @throws TypeError when `markPrice` is not a decimal string
   */
  unrealizedPnl(symbol: Symbol, markPrice: DecimalString): DecimalString {
    const p = this.pos.get(symbol);
    if (p === undefined || p.qty.isZero()) return '0';
    return str(p.qty.times(dec(markPrice, 'markPrice').minus(p.entry)));
  }

  /** Counters and account totals (no history is kept). */
  stats(): EngineStats {
    const c = this.counters;
    return {
      ordersAccepted: c.accepted,
      ordersRejected: c.rejected,
      ordersFilled: c.filled,
      ordersCanceled: c.canceled,
      ordersExpired: c.expired,
      fills: c.fills,
      openOrders: this.orders.open.size,
      realizedPnl: str(this.realizedTotal),
      fees: str(this.feesTotal),
    };
  }

  // ------------------------------------------------------------------ internals

  private book(symbol: Symbol): Book {
    let b = this.books.get(symbol);
    if (b === undefined) {
      b = newBook();
      this.books.set(symbol, b);
    }
    return b;
  }

  /**
   * Match the open orders of `book` against one price bar. `open/high/low` are decimal text
   * (equal for a mark price); `t` is the bar's time (kline openTime or mark ts).
   */
  private match(book: Book, openS: string, highS: string, lowS: string, t: number, isKline: boolean, stops = true): readonly EngineEvent[] {
    const list = book.open;
    const openField = isKline ? 'kline.open' : 'markPrice';
    let events: EngineEvent[] | null = null;
    let done = false;
    for (let i = 0; i < list.length; i++) {
      const o = list[i]!;
      if (t < o.submittedAt) continue; // submitted after this bar started: no look-ahead
      const first = !o.arrived;
      if (o.type === 'MARKET') {
        events ??= [];
        this.execute(o, slippedPrice(this.cfg, dec(openS, openField), o.side, o.symbol), false, t, events);
      } else {
        const limitS = o.priceText!;
        const buy = o.side === 'BUY';
        if (first) {
          const c = comparePriceText(openS, limitS, openField);
          const crossesAtOpen = buy ? c <= 0 : c >= 0;
          if (o.tif === 'IOC' || o.tif === 'FOK') {
            events ??= [];
            if (crossesAtOpen) this.execute(o, dec(openS, openField), false, t, events);
            else this.expire(o, t, IOC_NOT_FILLED, events);
            done = true;
            continue;
          }
          if (crossesAtOpen) {
            events ??= [];
            if (o.tif === 'GTX') this.expire(o, t, GTX_WOULD_TAKE, events);
            else this.execute(o, dec(openS, openField), false, t, events);
            done = true;
            continue;
          }
        }
        // Resting: a maker fill at its own limit price once the bar trades through it.
        const touched = buy ? comparePriceText(lowS, limitS, isKline ? 'kline.low' : openField) <= 0 : comparePriceText(highS, limitS, isKline ? 'kline.high' : openField) >= 0;
        if (touched) {
          events ??= [];
          this.execute(o, o.price!, true, t, events);
        }
      }
      o.arrived = true; // set only once the bar was read without error
      if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') done = true;
    }
    if (done) {
      book.open = list.filter((o) => o.status === 'NEW' || o.status === 'PARTIALLY_FILLED');
    }
    if (stops && book.stops.length !== 0) events = this.matchStops(book, openS, highS, lowS, t, isKline, events);
    return events ?? NO_EVENTS;
  }

  /**
   * Trigger the armed stops of `book` on one price bar (see the module doc: a SELL stop at
   * `low ≤ stop`, a BUY stop at `high ≥ stop`; filled at the bar's open when its first price is
   * already beyond, else at the stop price; both as a MARKET taker with slippage).
   */
  private matchStops(book: Book, openS: string, highS: string, lowS: string, t: number, isKline: boolean, events: EngineEvent[] | null): EngineEvent[] | null {
    let fired = false;
    const openField = isKline ? 'kline.open' : 'markPrice';
    for (const o of book.stops) {
      if (t < o.armedFrom) continue;
      const stopS = str(o.stop!);
      const buy = o.side === 'BUY';
      const first = !o.arrived;
      o.arrived = true;
      const openBeyond = buy ? comparePriceText(openS, stopS, openField) >= 0 : comparePriceText(openS, stopS, openField) <= 0;
      const reached = buy ? comparePriceText(highS, stopS, isKline ? 'kline.high' : openField) >= 0 : comparePriceText(lowS, stopS, isKline ? 'kline.low' : openField) <= 0;
      if (!reached && !openBeyond) continue;
      const q = this.pos.get(o.symbol)?.qty ?? ZERO;
      const closable = closableQuantity(q, o.side);
      // Nothing to close (the position was closed by another order): it stays open, untriggered,
      // until canceled (perpbot cancels a stop once its position is flat). Replay sees a whole
      // kline at once and live sees the cancel land mid-kline: not triggering keeps them equal.
      if (closable.isZero()) continue;
      // Already beyond at the first price seen once armed: filled there; else crossed on a
      // continuous path: at the stop price (the same in replay and in the exchange simulator).
      const at = openBeyond && first ? dec(openS, openField) : o.stop!;
      events ??= [];
      fired = true;
      this.orders.stops.delete(o.intent.clientOrderId);
      o.qty = closable;
      this.fill(o, slippedPrice(this.cfg, at, o.side, o.symbol), closable, false, t, events);
    }
    if (fired) book.stops = book.stops.filter((o) => o.status === 'NEW');
    return events;
  }

  /** Fill the rest of `o` at `price` (after the reduce-only cap); marks it finished when done. */
  private execute(o: SimOrder, price: Decimal, maker: boolean, t: number, events: EngineEvent[]): void {
    let qty = o.qty.minus(o.executed);
    let capped = false;
    if (o.reduceOnly) {
      const q = this.pos.get(o.symbol)?.qty ?? ZERO;
      const reducible = closableQuantity(q, o.side);
      if (reducible.isZero()) {
        this.expire(o, t, REDUCE_ONLY_NOTHING, events);
        return;
      }
      if (reducible.lt(qty)) {
        qty = reducible;
        capped = true;
      }
    }
    const piece = this.cfg.maxFill?.({ symbol: o.symbol, type: o.type, timeInForce: o.tif, quantity: o.intent.quantity, remaining: qty });
    if (piece !== undefined && piece.isPos() && piece.lt(qty)) {
      qty = piece;
      capped = false; // the rest is checked again at its next fill
    }
    this.fill(o, price, qty, maker, t, events);
    if (capped) this.expire(o, t, REDUCE_ONLY_REMAINDER, events);
  }

  private fill(o: SimOrder, price: Decimal, qty: Decimal, maker: boolean, t: number, events: EngineEvent[]): void {
    const notional = price.times(qty);
    const commission = notional.times(maker ? this.cfg.makerFee : this.cfg.takerFee);
    let p = this.pos.get(o.symbol);
    if (p === undefined) {
      p = newPosition(o.symbol, t);
      this.pos.set(o.symbol, p);
    }
    const realized = applyFill(p, o.side, price, qty, notional, commission, t);
    this.realizedTotal = this.realizedTotal.plus(realized);
    this.feesTotal = this.feesTotal.plus(commission);

    const full = recordFill(o, qty, notional, t);
    this.counters.fills++;
    if (full) {
      this.counters.filled++;
      this.orders.finish(o);
    }
    const filled = filledEvent(o, (this.nextTradeId++).toString(), price, qty, commission, realized, maker, full, t);
    const changed: PositionChanged = { type: 'PositionChanged', ts: t, position: toPosition(p) };
    events.push(filled, changed);
  }

  private expire(o: SimOrder, t: number, reason: string, events: EngineEvent[]): void {
    o.status = 'EXPIRED';
    o.updatedAt = t;
    this.counters.expired++;
    this.orders.finish(o);
    const ev: OrderExpired = { type: 'OrderExpired', ts: t, clientOrderId: o.intent.clientOrderId, orderId: o.orderId, symbol: o.symbol, reason };
    events.push(ev);
  }

  private cancelOrder(o: SimOrder, now: number, reason: string): OrderCanceled {
    o.status = 'CANCELED';
    o.updatedAt = now;
    this.counters.canceled++;
    this.orders.finish(o);
    return { type: 'OrderCanceled', ts: now, clientOrderId: o.intent.clientOrderId, orderId: o.orderId, symbol: o.symbol, reason };
  }
}
