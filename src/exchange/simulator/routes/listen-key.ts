/**
 * Listen-key REST routes (API key only, no signature): POST/PUT/DELETE /fapi/v1/listenKey, one key
 * per account valid `ctx.ttl` ms (Binance: 60 minutes) unless kept alive; PUT with none → -1125
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Start-User-Data-Stream).
 * Expired keys get `listenKeyExpired` and their sockets closed (see {@link startListenKeyExpiry}).
 */
import { randomBytes } from 'node:crypto';
import type { Route, SimContext } from '../context.ts';
import { apiError } from '../wire.ts';

/** The listen-key route family. */
export function listenKeyRoutes(ctx: SimContext): Record<string, Route> {
  const { listenKeys, conns, ttl } = ctx;
  const serverTime = ctx.serverTime;
  const w = (n: number) => () => n;

  function listenKeyCreate(): unknown {
    const now = serverTime();
    for (const [k, exp] of listenKeys) {
      if (exp > now) {
        listenKeys.set(k, now + ttl);
        return { listenKey: k };
      }
    }
    const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const k = [...randomBytes(64)].map((b) => ALNUM[b % ALNUM.length]).join('');
    listenKeys.set(k, now + ttl);
    return { listenKey: k };
  }

  function listenKeyKeepAlive(): unknown {
    const now = serverTime();
    for (const [k, exp] of listenKeys) {
      if (exp > now) {
        listenKeys.set(k, now + ttl);
        return { listenKey: k };
      }
    }
    throw apiError(-1125);
  }

  function listenKeyDelete(): unknown {
    for (const k of [...listenKeys.keys()]) {
      listenKeys.delete(k);
      for (const c of conns) if (c.kind === 'user' && c.listenKey === k) c.ws.close(1000, 'listenKey closed');
    }
    return {};
  }


  return {
    'POST /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyCreate },
    'PUT /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyKeepAlive },
    'DELETE /fapi/v1/listenKey': { weight: w(1), auth: 'key', handler: listenKeyDelete },
  };
}

/** Expire listen keys past their TTL (checked every ttl/4, 10 ms…1 s). @returns the stop function */
export function startListenKeyExpiry(ctx: SimContext): () => void {
  const keyTimer = setInterval(() => {
    const now = ctx.serverTime();
    for (const [k, exp] of ctx.listenKeys) if (exp <= now) ctx.expireKey(k);
  }, Math.max(10, Math.min(1000, Math.floor(ctx.ttl / 4))));
  keyTimer.unref();
  return () => clearInterval(keyTimer);
}
