/**
 * The live venue's protective stops: STOP_MARKET with `closePosition=true` and
 * `workingType=MARK_PRICE` through Binance's Algo Order API (`POST /fapi/v1/algoOrder`,
 * `algoType=CONDITIONAL`; since 2025-12-09 the old POST /fapi/v1/order answers -4120 for
 * conditional types), canceled with `DELETE /fapi/v1/algoOrder`, looked up with
 * `GET /fapi/v1/algoOrder` and listed with `GET /fapi/v1/openAlgoOrders`, all by `clientAlgoId`
 * = perpbot's deterministic stop client order id. Used by {@link BinanceVenue}; kept apart so the
 * venue's order path stays readable.
 *
 * Placement: up to `attempts` tries for retryable failures; after an unknown outcome (timeout,
 * network, 5xx) the algo order is looked up by its clientAlgoId before it is sent again (a stop
 * sent twice would be refused anyway: one closePosition stop per direction, -4130). Business
 * refusals (-2021 would trigger immediately, -4130, -4014 tick, …) are final.
 *
 * Sources: https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order
 * (weight 0 on IP, 1 order), .../Cancel-Algo-Order (weight 1), .../Query-Algo-Order (weight 1),
 * .../Current-All-Algo-Open-Orders (weight 1 with symbol, 40 without).
 */
import type { OrderIntent } from '../../core/types.ts';
import { VenueError, toVenueError } from './errors.ts';
import { mapRestAlgoOrder, mapRestOpenAlgoOrders, type VenueAlgoOrder } from './algo-mapper.ts';
import { backoffDelay } from './retry.ts';

/** The algo-order REST calls (the `binance` USDMClient's submitNewAlgoOrder, … through a thin adapter). */
export interface AlgoRestPort {
  /** POST /fapi/v1/algoOrder; resolves with the raw response. */
  submitNewAlgoOrder(params: Record<string, string | number | boolean>): Promise<unknown>;
  /** DELETE /fapi/v1/algoOrder by clientAlgoId. */
  cancelAlgoOrder(params: { clientAlgoId: string }): Promise<unknown>;
  /** GET /fapi/v1/algoOrder by clientAlgoId. */
  getAlgoOrder(params: { clientAlgoId: string }): Promise<unknown>;
  /** GET /fapi/v1/openAlgoOrders. */
  getOpenAlgoOrders(params?: { symbol?: string }): Promise<unknown>;
}

/** What the helper borrows from the venue. */
export interface AlgoVenueContext {
  rest: AlgoRestPort;
  attempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  random: () => number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Take from the rate-limit budget (request weight, order count): null when reserved at once, else a promise of the wait. */
  throttle: (weight: number, orders: number) => Promise<void> | null;
  /** Learn from a failure (Retry-After, halts); returns it. */
  observe: (ve: VenueError) => VenueError;
}

/** The outcome of a placement. */
export type AlgoSubmitOutcome = { kind: 'accepted'; algoId: string } | { kind: 'rejected'; error: VenueError } | { kind: 'unknown'; error: VenueError };

/** Binance's "no such algo order" answers (unknown order sent / does not exist). */
const GONE = new Set([-2011, -2013]);

/** The POST /fapi/v1/algoOrder parameters of a protective stop. */
export function algoStopParams(intent: OrderIntent): Record<string, string | number | boolean> {
  return {
    algoType: 'CONDITIONAL',
    symbol: intent.symbol,
    side: intent.side,
    type: 'STOP_MARKET',
    triggerPrice: intent.stopPrice ?? '',
    closePosition: 'true',
    workingType: 'MARK_PRICE',
    clientAlgoId: intent.clientOrderId,
  };
}

/**
 * Place a protective stop (see the module doc).
 * @returns accepted with the algo id; rejected (business refusal); unknown (the outcome could not
 *   be learned: the caller keeps it as placed, reconciliation at the next start settles it)
 */
export async function submitAlgoStop(c: AlgoVenueContext, intent: OrderIntent): Promise<AlgoSubmitOutcome> {
  let last: VenueError | null = null;
  let uncertain = false;
  for (let attempt = 1; attempt <= c.attempts; attempt++) {
    if (attempt > 1) await c.sleep(Math.max(backoffDelay(attempt - 1, c.backoffBaseMs, c.backoffMaxMs, true, c.random), last?.retryAfterMs ?? 0));
    await c.throttle(0, 1);
    try {
      const o = mapRestAlgoOrder(await c.rest.submitNewAlgoOrder(algoStopParams(intent)));
      return { kind: 'accepted', algoId: o.orderId };
    } catch (err) {
      const ve = c.observe(toVenueError(err, { method: 'POST', path: '/fapi/v1/algoOrder', now: c.now() }));
      last = ve;
      if (ve.kind === 'unknown_outcome' || ve.kind === 'timeout' || ve.kind === 'network' || ve.kind === 'server' || ve.binanceCode === -4116) {
        uncertain = true;
        const found = await lookupAlgo(c, intent.clientOrderId).catch(() => undefined);
        if (found === undefined) return { kind: 'unknown', error: ve };
        if (found !== null) return { kind: 'accepted', algoId: found.orderId };
        continue; // not there: send again with the same clientAlgoId
      }
      if (ve.kind === 'clock' || (ve.retryable && ve.kind !== 'auth' && ve.kind !== 'ip_ban')) continue;
      return { kind: 'rejected', error: ve };
    }
  }
  return uncertain ? { kind: 'unknown', error: last! } : { kind: 'rejected', error: last! };
}

/**
 * Cancel a protective stop by clientAlgoId. An algo order Binance no longer has open (-2011 /
 * -2013: triggered or canceled already) is not an error.
 * @returns true when this call canceled it
 * @throws VenueError after the last retryable failure, or at once for any other refusal
 */
export async function cancelAlgoStop(c: AlgoVenueContext, clientAlgoId: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    await c.throttle(1, 0);
    try {
      await c.rest.cancelAlgoOrder({ clientAlgoId });
      return true;
    } catch (err) {
      const ve = c.observe(toVenueError(err, { method: 'DELETE', path: '/fapi/v1/algoOrder', now: c.now() }));
      if (ve.binanceCode !== null && GONE.has(ve.binanceCode)) return false;
      if (!ve.retryable || attempt >= c.attempts) throw ve;
      await c.sleep(Math.max(backoffDelay(attempt, c.backoffBaseMs, c.backoffMaxMs, true, c.random), ve.retryAfterMs ?? 0));
    }
  }
}

/**
 * An algo order by clientAlgoId (GET /fapi/v1/algoOrder), or null when Binance does not know it.
 * @throws VenueError when the query fails
 */
export async function lookupAlgo(c: AlgoVenueContext, clientAlgoId: string): Promise<VenueAlgoOrder | null> {
  await c.throttle(1, 0);
  try {
    return mapRestAlgoOrder(await c.rest.getAlgoOrder({ clientAlgoId }));
  } catch (err) {
    const ve = c.observe(toVenueError(err, { method: 'GET', path: '/fapi/v1/algoOrder', now: c.now() }));
    if (ve.binanceCode !== null && GONE.has(ve.binanceCode)) return null;
    throw ve;
  }
}

/** Every open algo order (GET /fapi/v1/openAlgoOrders, weight 40 without a symbol). */
export async function openAlgoOrders(c: AlgoVenueContext): Promise<VenueAlgoOrder[]> {
  await c.throttle(40, 0);
  return mapRestOpenAlgoOrders(await c.rest.getOpenAlgoOrders());
}
