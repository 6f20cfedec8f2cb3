/**
 * perpbot's client order ids, and how to tell them from anyone else's on the same account.
 *
 * Binance's `newClientOrderId` (POST /fapi/v1/order) must match ^[.A-Z:/a-z0-9_-]{1,36}$ and is
 * kept unique among OPEN orders only. perpbot places three kinds:
 * - strategy orders: `pb-` + 22 chars base64url of sha256("<signalId>|<leg>") (25 chars), see
 *   {@link clientOrderIdFor};
 * - operator orders through the bus (`SubmitOrder` without an id): `pb-op-<time36>-<seq36>`;
 * - `perpbot flatten`: `pb-flat-<time36>-<SYMBOL>`.
 * All start with {@link CLIENT_ORDER_PREFIX}. Anything else (an id Binance generated for an order placed in the web UI or app, which looks
 * like `web_…`, `ios_…`, `android_…` or a bare random string, or another program's own id) is
 * external: recorded, shown and alerted, but attributed to no strategy.
 */
import { hash } from 'node:crypto';

/** The prefix every perpbot client order id starts with. */
export const CLIENT_ORDER_PREFIX = 'pb-';

/**
 * A deterministic Binance client order id for one leg of a signal: the same signal always gives
 * the same id, so a replayed signal after a crash is recognised instead of doubled: by the
 * write-ahead journal (the id was written before: `duplicate`, never sent again) and, while the
 * first order is still open, by Binance itself (-4116; Binance checks open orders only).
 * Format `pb-<22 chars base64url of sha256>`, 25 chars, within Binance's ^[.A-Z:/a-z0-9_-]{1,36}$
 * (POST /fapi/v1/order `newClientOrderId`). On the order path: one-shot `crypto.hash` (Node ≥ 20.12),
 * ~4× cheaper than a `createHash` object, same digest.
 */
export function clientOrderIdFor(signalId: string, leg: string): string {
  return `pb-${hash('sha256', `${signalId}|${leg}`, 'base64url').slice(0, 22)}`;
}

/**
 * True when `clientOrderId` is perpbot's: every id perpbot generates starts with `pb-` (strategy
 * orders, `pb-op-…`, `pb-flat-…`, and any later kind, which must keep the prefix); false for
 * anyone else's (external) order. The prefix, not the exact shapes above, decides, so that an
 * order of perpbot's is never mistaken for someone else's (and left unmanaged); Binance's own
 * generated ids (`web_…`, `ios_…`, `android_…`, random strings) never start with it.
 */
export function isPerpbotClientOrderId(clientOrderId: string): boolean {
  return clientOrderId.startsWith(CLIENT_ORDER_PREFIX);
}

/** The strategy id recorded for activity perpbot did not place (manual trades, other programs). */
export const EXTERNAL_STRATEGY = 'external';
