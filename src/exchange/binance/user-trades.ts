/**
 * Reading an account's trades of one symbol over any span (GET /fapi/v1/userTrades), for the
 * venue's start-up reconciliation and `perpbot recover`.
 *
 * Binance answers for windows of at most 7 days (startTime…endTime) and at most 1,000 trades a
 * page; a full page continues from the next trade id. Weight 5 a page.
 * Source: https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List
 */
import type { Fill, Symbol } from '../../core/types.ts';
import { mapUserTrades } from './mapper.ts';
import type { UsdmRestPort } from './venue.ts';

/** What the reader borrows from the venue. */
export interface UserTradesContext {
  rest: Pick<UsdmRestPort, 'getAccountTrades'>;
  /** The venue's clock, UTC epoch ms. */
  now: () => number;
  /** Take from the rate-limit budget (request weight, order count): null when reserved at once, else a promise of the wait. */
  throttle: (weight: number, orders: number) => Promise<void> | null;
}

const WEEK = 7 * 86_400_000 - 1;

/**
 * Trades of `symbol` from `startTime` (UTC epoch ms) up to a day past now, oldest first by trade
 * id, each once: the span walked 7-day window by window, a full page continued from the last id.
 * @param clientOrderIdOf the client order id of an order id ('' when unknown: an external trade)
 * @throws VenueError or the library's rejection when a page cannot be read (nothing is returned)
 */
export async function readUserTrades(c: UserTradesContext, symbol: Symbol, startTime: number, clientOrderIdOf: (orderId: string) => string | undefined): Promise<Fill[]> {
  const end = c.now() + 86_400_000;
  const out: Fill[] = [];
  const seen = new Set<string>();
  for (let from = startTime; from <= end; from += WEEK + 1) {
    let page: Fill[];
    let fromId: string | undefined;
    do {
      await c.throttle(5, 0);
      const params: { symbol: string; startTime?: number; endTime?: number; fromId?: string; limit: number } = { symbol, limit: 1000 };
      if (fromId === undefined) {
        params.startTime = from;
        params.endTime = Math.min(from + WEEK, end);
      } else params.fromId = fromId;
      page = mapUserTrades(await c.rest.getAccountTrades(params), clientOrderIdOf);
      for (const f of page) {
        if (f.time > Math.min(from + WEEK, end) || seen.has(f.tradeId)) continue;
        seen.add(f.tradeId);
        out.push(f);
      }
      fromId = page.length === 1000 ? (BigInt(page[page.length - 1]!.tradeId) + 1n).toString() : undefined;
    } while (fromId !== undefined);
  }
  return out.sort((a, b) => (BigInt(a.tradeId) < BigInt(b.tradeId) ? -1 : BigInt(a.tradeId) > BigInt(b.tradeId) ? 1 : 0));
}
