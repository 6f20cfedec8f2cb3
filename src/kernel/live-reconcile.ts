/**
 * Start-up reconciliation of the live bot with the exchange: the database's view of an account
 * run and the exchange's (read through the venue), applying their comparison to the kernel
 * (executor, venue, strategies, protective stops), and the automatic halt carried over a
 * restart. Split from live.ts (whose `startLive` runs these once the user-data stream is open).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { Decimal } from '../core/decimal.ts';
import type { Symbol } from '../core/types.ts';
import { formatReconciliation, reconcile, reconciliationEvents, type ExchangeOrder, type ExchangeState, type LocalState } from '../../executor/reconcile.ts';
import { isStopId, planStartupStops, type ProtectiveStops, type StartupStopPlan } from '../../executor/protective-stops.ts';
import { stopLevelsOf } from '../../database/stop-levels.ts';
import { openOrders, positionsForRun, riskDayOf, tradeIdsOfOrder } from '../../database/queries.ts';
import type { Db } from '../../database/client.ts';
import type { OrderRow } from '../../database/schema.ts';
import type { BinanceVenue } from '../exchange/binance/venue.ts';
import type { VenueOrder } from '../exchange/binance/mapper.ts';
import type { Kernel } from './kernel.ts';

const MINUTE = 60_000;

/**
 * Suffix of the reason of an automatic halt carried over a restart: `startLive` appends it when it
 * re-imposes the halt {@link restoredHalt} found, and `restoredHalt` strips it to find the origin.
 */
export const HELD_SUFFIX = ' (held across a restart)';

/**
 * The automatic halt (consecutive losses → REDUCING) recorded before a restart that still holds:
 * its cooldown (`haltCooldownMinutes` from when it was first set, however many restarts ago;
 * 0 = until an operator resumes) has not run out. HALTED states are start-up's or failures a
 * restart is meant to clear (database, IP ban, reconciliation, which runs again): they are
 * skipped over and not carried.
 * @param changes the run's recorded trading-state changes, newest first (`ts` UTC epoch ms)
 * @param now UTC epoch ms
 * @param haltCooldownMinutes the config's `risk.haltCooldownMinutes`, minutes (0 = no cooldown)
 * @returns the reason and when it lifts (UTC epoch ms; absent = never by itself), or null
 */
export function restoredHalt(changes: ReadonlyArray<{ ts: number; state: string; reason: string }>, now: number, haltCooldownMinutes: number): { reason: string; resumeAt?: number } | null {
  let origin: { ts: number; reason: string } | null = null;
  for (const c of changes) {
    if (c.state === 'HALTED') continue;
    if (c.state !== 'REDUCING' || !/losing round trips in a row/.test(c.reason)) break;
    origin = { ts: c.ts, reason: c.reason.endsWith(HELD_SUFFIX) ? c.reason.slice(0, -HELD_SUFFIX.length) : c.reason };
    if (!c.reason.endsWith(HELD_SUFFIX)) break; // the halt itself, not a carry-over of it
  }
  if (!origin) return null;
  if (haltCooldownMinutes <= 0) return { reason: origin.reason };
  const resumeAt = origin.ts + haltCooldownMinutes * MINUTE;
  return resumeAt > now ? { reason: origin.reason, resumeAt } : null;
}

/**
 * Start-up reconciliation of protective stops (after the orders and positions): every held
 * position gets its stop when the exchange has none open for it (at the level the database
 * knows: see database/stop-levels.ts); perpbot's stops on symbols without a position, or on the
 * wrong side, are canceled; a position whose level is unknown is reported, left alone.
 * Places and cancels through `stops` (asynchronously, as it does); logs each at warn/error.
 * @param state the exchange's view ({@link fetchExchangeState}): positions as signed quantities
 * @returns the plan carried out: `place`, `orphans` and `unprotected` (symbols left without a stop)
 */
export function reconcileStops(stops: ProtectiveStops, db: Db, runId: string, state: ExchangeState, log: Logger): StartupStopPlan {
  const held: Record<Symbol, number> = {};
  for (const [s, q] of Object.entries(state.positions)) if (!new Decimal(q).isZero()) held[s] = new Decimal(q).isPos() ? 1 : -1;
  // What the exchange has filled that the database may not show yet (see stopLevelsOf).
  const filled = [...state.openOrders, ...Object.values(state.settled)].flatMap((o) => (o !== null && !new Decimal(o.executedQty).isZero() ? [o.clientOrderId] : []));
  const levels = stopLevelsOf(db, runId, held, filled);
  const plan = planStartupStops(
    Object.entries(state.positions).map(([symbol, quantity]) => ({ symbol, quantity, stopsOfSignal: levels[symbol]?.stopsOfSignal ?? 0, ...(levels[symbol]?.level ? { level: levels[symbol]!.level! } : {}) })),
    state.openOrders.filter((o) => isStopId(o.clientOrderId)),
  );
  for (const o of plan.orphans) {
    log.warn({ clientOrderId: o.clientOrderId, symbol: o.symbol }, 'protective stop without its position: canceling it');
    stops.cancel(o, 'orphaned: no position');
  }
  for (const p of plan.place) {
    log.warn({ symbol: p.symbol, stopPrice: p.level.stopPrice, signalId: p.level.signalId }, 'position without its protective stop: placing it');
    stops.placeFor(p.symbol, p.positionSign, p.level, p.n);
  }
  for (const s of plan.unprotected) log.error({ symbol: s }, 'position without a protective stop and no stop level known for it (not opened by perpbot?): left without an exchange stop');
  return plan;
}

/**
 * Database state of an account run, for reconciliation and restore: its open orders, positions
 * (signed quantities per symbol) and the trade ids of its fills of the last 7 days per symbol.
 * @returns `local` for {@link reconcile}, the open order rows themselves (`open`, to restore the
 *   executor), and the creation time of the oldest open order (`oldestOpen`, UTC epoch ms; null
 *   when none is open)
 * @throws the database's error when a query fails
 */
export function loadLocalState(db: Db, runId: string): { local: LocalState; open: OrderRow[]; oldestOpen: number | null } {
  const open = openOrders(db, runId);
  const positions: Record<Symbol, string> = {};
  for (const p of positionsForRun(db, runId)) positions[p.symbol] = p.quantity;
  const knownTradeIds: Record<Symbol, Set<string>> = {};
  const rows = db.sqlite.prepare('SELECT symbol, trade_id FROM fills WHERE run_id = ? AND time >= ?').all(runId, Date.now() - 7 * 86_400_000) as Array<{ symbol: string; trade_id: string }>;
  for (const r of rows) (knownTradeIds[r.symbol] ??= new Set()).add(r.trade_id);
  return {
    local: {
      openOrders: open.map((o) => ({ clientOrderId: o.clientOrderId, orderId: o.orderId, symbol: o.symbol, side: o.side, quantity: o.quantity, status: o.status, executedQty: o.executedQty })),
      positions,
      knownTradeIds,
    },
    open,
    oldestOpen: open.length ? Math.min(...open.map((o) => o.createdAt)) : null,
  };
}

/**
 * The exchange's view for reconciliation, asked through the venue: its open orders, each of the
 * database's open orders the exchange no longer lists (looked up one by one; null when it does
 * not know it), non-zero positions, and the trades since `since` on every symbol the bot had an
 * order or a position on (either side's view). `symbols` is unused (kept for the signature).
 * @param since UTC epoch ms: the earliest trade asked for
 * @returns `state` for {@link reconcile}; the exchange's entry price per held symbol
 *   (`entryPrices`, decimal strings) and its position update time per symbol (`positionTimes`,
 *   UTC epoch ms, zero positions included)
 * @throws VenueError (rejects) when a REST call of the venue fails
 */
export async function fetchExchangeState(
  venue: BinanceVenue,
  local: LocalState,
  symbols: readonly Symbol[],
  since: number,
): Promise<{ state: ExchangeState; entryPrices: Record<Symbol, string>; positionTimes: Record<Symbol, number> }> {
  const toExchangeOrder = (o: VenueOrder): ExchangeOrder => ({
    clientOrderId: o.clientOrderId,
    orderId: o.orderId,
    symbol: o.symbol,
    side: o.side,
    quantity: o.quantity,
    status: o.status,
    executedQty: o.executedQuantity,
  });
  const openOrders = (await venue.openOrders()).map(toExchangeOrder);
  const openIds = new Set(openOrders.map((o) => o.clientOrderId));
  const settled: ExchangeState['settled'] = {};
  for (const o of local.openOrders) {
    if (openIds.has(o.clientOrderId)) continue;
    const found = await venue.lookup(o.symbol, o.clientOrderId);
    settled[o.clientOrderId] = found === null ? null : toExchangeOrder(found);
  }
  const positions: Record<Symbol, string> = {};
  const entryPrices: Record<Symbol, string> = {};
  const positionTimes: Record<Symbol, number> = {};
  for (const p of await venue.positions()) {
    positionTimes[p.symbol] = p.updatedAt;
    if (!new Decimal(p.quantity).isZero()) {
      positions[p.symbol] = p.quantity;
      entryPrices[p.symbol] = p.entryPrice;
    }
  }
  const byOrderId = new Map<string, string>();
  for (const o of [...openOrders, ...Object.values(settled).filter((x): x is ExchangeOrder => x !== null)]) byOrderId.set(o.orderId, o.clientOrderId);
  const trades = [];
  // GET /fapi/v1/userTrades needs a symbol and weighs 5: asking all 300 symbols would cost 1,500
  // of the 2,400/min budget at every start. Fills can only be missing where the bot had an order
  // or a position (the database's or the exchange's): those symbols are asked, concurrently
  // (the venue paces them within the weight budget).
  const localHeld = Object.entries(local.positions).filter(([, q]) => !new Decimal(q).isZero()).map(([sym]) => sym);
  const tradeSymbols = new Set<Symbol>([...Object.keys(positions), ...localHeld, ...local.openOrders.map((o) => o.symbol), ...openOrders.map((o) => o.symbol)]);
  void symbols;
  for (const batch of await Promise.all([...tradeSymbols].map((s) => venue.trades(s, since, (id) => byOrderId.get(id) ?? '')))) trades.push(...batch);
  return {
    state: {
      openOrders,
      settled,
      positions,
      trades,
    },
    entryPrices,
    positionTimes,
  };
}

/**
 * Per-symbol position details for reconciliation events: the exchange's entry and time, the
 * database's PnL history.
 * @param entryPrices decimal strings per symbol ({@link fetchExchangeState})
 * @param positionTimes UTC epoch ms per symbol ({@link fetchExchangeState})
 * @returns per symbol: `entryPrice` (decimal string), `updatedAt` (UTC epoch ms), `realizedPnl`
 *   and `fees` (decimal strings, USDT), each present only when known
 */
export function positionDetails(db: Db, runId: string, entryPrices: Record<Symbol, string>, positionTimes: Record<Symbol, number>): Record<Symbol, { entryPrice?: string; updatedAt?: number; realizedPnl?: string; fees?: string }> {
  const out: Record<Symbol, { entryPrice?: string; updatedAt?: number; realizedPnl?: string; fees?: string }> = {};
  for (const p of positionsForRun(db, runId)) out[p.symbol] = { realizedPnl: p.realizedPnl, fees: p.fees };
  for (const [s, e] of Object.entries(entryPrices)) (out[s] ??= {}).entryPrice = e;
  for (const [s, t] of Object.entries(positionTimes)) (out[s] ??= {}).updatedAt = t;
  return out;
}

/**
 * Compare the database with the exchange and apply the result at start (synchronously): log the
 * differences (warn, and a `reconciliationDiff` alert, when there are any); restore the executor
 * (the orders still open on the exchange plus unknown ones adopted, the exchange's positions) and
 * today's risk counters from the database; give the venue each restored order with every trade
 * already known and the stored fees and realized PnL; publish the positions and reconciliation's
 * events for the strategies and the recorder; reconcile protective stops ({@link reconcileStops}),
 * raising `positionUnprotected` for each position left without one.
 * @param local the database's view and `open` its open order rows ({@link loadLocalState})
 * @param fetched the exchange's view ({@link fetchExchangeState})
 * @throws the database's error when a query fails; InvariantError when the executor already placed orders
 */
export function applyStartupReconciliation(
  k: Kernel,
  venue: BinanceVenue,
  clock: Clock,
  log: Logger,
  local: LocalState,
  open: readonly OrderRow[],
  fetched: { state: ExchangeState; entryPrices: Record<Symbol, string>; positionTimes: Record<Symbol, number> },
): void {
  const { state, entryPrices, positionTimes } = fetched;
  const r = reconcile(local, state);
  const text = formatReconciliation(r);
  if (r.clean) log.info(text);
  else {
    log.warn({ actions: r.actions.length }, `reconciliation with the exchange:\n${text}`);
    k.alerts.raise('reconciliationDiff', { count: r.actions.length, summary: text.split('\n').slice(0, 12).join('\n') });
  }
  // The executor and the venue learn what is open and held, then the events settle the rest.
  const stillOpen = open.filter((o) => state.openOrders.some((x) => x.clientOrderId === o.clientOrderId));
  const restored = stillOpen.map((o) => ({
    intent: { clientOrderId: o.clientOrderId, symbol: o.symbol, side: o.side, type: o.type, quantity: o.quantity, reduceOnly: o.reduceOnly, strategyId: o.strategyId, refPrice: o.refPrice, createdAt: o.createdAt, ...(o.price ? { price: o.price } : {}), ...(o.stopPrice ? { stopPrice: o.stopPrice, closePosition: true } : {}), ...(o.signalId ? { signalId: o.signalId } : {}) },
    executedQty: o.executedQty,
    orderId: o.orderId,
  }));
  for (const a of r.actions) {
    if (a.kind === 'adopt' && a.unknown) {
      const x = a.order;
      restored.push({ intent: { clientOrderId: x.clientOrderId, symbol: x.symbol, side: x.side, type: 'MARKET', quantity: x.quantity, reduceOnly: false, strategyId: 'adopted', refPrice: '0', createdAt: clock.now() }, executedQty: x.executedQty, orderId: x.orderId });
    }
  }
  const positions = Object.entries(state.positions).map(([symbol, quantity]) => ({ symbol, quantity, entryPrice: entryPrices[symbol] ?? '0', realizedPnl: '0', fees: '0', updatedAt: clock.now() }));
  k.executor.restore(restored, positions);
  // Today's risk counters from the database (before the reconciled fills, which add to them),
  // so a restart never resets the daily loss limit or the daily quantity cap.
  const day = riskDayOf(k.db, k.runId, clock.now());
  k.executor.restoreRiskDay(clock.now(), day.opened, day.strategyPnl);
  // The venue learns each order as the exchange has it now, with every trade already known
  // (the database's and those reconciliation inserts), so a later poll reports none twice.
  const exchangeOpen = new Map(state.openOrders.map((o) => [o.clientOrderId, o]));
  const reconciledTrades = r.actions.flatMap((a) => (a.kind === 'insertFill' ? [a.fill] : []));
  venue.adopt(
    restored.map((o) => ({
      ...o,
      executedQty: exchangeOpen.get(o.intent.clientOrderId)?.executedQty ?? o.executedQty,
      tradeIds: [...tradeIdsOfOrder(k.db, k.runId, o.intent.clientOrderId), ...reconciledTrades.filter((f) => f.clientOrderId === o.intent.clientOrderId).map((f) => f.tradeId)],
    })),
  );
  const stored = positionsForRun(k.db, k.runId);
  venue.seedFees(Object.fromEntries(stored.map((p) => [p.symbol, p.fees])), Object.fromEntries(stored.map((p) => [p.symbol, p.realizedPnl])));
  // Strategies learn what the account holds (they adopt positions only from such events).
  for (const position of positions) void k.publish('account.update', { type: 'PositionChanged', ts: clock.now(), position, source: 'reconcile' });
  for (const e of reconciliationEvents(r, clock.now(), positionDetails(k.db, k.runId, entryPrices, positionTimes))) {
    if (e.type === 'PositionChanged') void k.publish('account.update', e);
    else void k.publish('order.update', e);
  }
  if (k.executor.stops) {
    const plan = reconcileStops(k.executor.stops, k.db, k.runId, state, log);
    for (const symbol of plan.unprotected) k.alerts.raise('positionUnprotected', { symbol, why: 'found at start with no stop level known for it (not opened by perpbot?)' });
  }
}
