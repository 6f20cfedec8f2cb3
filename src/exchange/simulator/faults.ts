/**
 * Fault injection: the state of the fault switches ({@link FaultState} on the context) and the
 * admin endpoints that flip them. The HTTP plumbing (./server.ts) applies the REST faults, the
 * streams (./streams.ts) consult {@link installFaults}' `stalled`.
 */
import type { SimContext } from './context.ts';
import type { FaultState } from './types.ts';

/** The fault switches at rest. */
export function noFaults(): FaultState {
  return { restErrors: 0, restErrorStatus: 503, restHangs: 0, restHangRequest: null, clockSkewMs: 0, orderAckDelayMs: 0, stalled: [], partialFills: 0, userEventsReorder: false, userEventsDuplicate: false, userEventsDrop: false };
}

/** Install `pruneStalls` and `stalled(stream)` on the context. */
export function installFaults(ctx: SimContext): void {
  ctx.pruneStalls = (): void => {
    const now = ctx.serverTime();
    if (ctx.faults.stalled.some((s) => s.until !== null && s.until <= now)) ctx.faults.stalled = ctx.faults.stalled.filter((s) => s.until === null || s.until > now);
  };
  ctx.stalled = (stream: string): boolean => {
    if (ctx.faults.stalled.length === 0) return false;
    ctx.pruneStalls();
    let hit = false;
    for (const s of ctx.faults.stalled) if (s.stream === '*' || s.stream === stream) hit = true;
    return hit;
  };
}

/** Reads a numeric field of an admin body; `d` when absent. @throws Error when not a finite number */
export type NumField = (k: string, d?: number) => number;

/**
 * The fault-switch admin endpoints (`POST /admin/stall`, `/unstall`, `/rest-errors`, `/rest-hang`,
 * `/drop-websockets`, `/expire-listen-keys`, `/clock-skew`, `/order-ack-delay`, `/partial-fills`,
 * `/user-events`, `/clear-faults`).
 * @returns the JSON answer, or undefined when `key` ("METHOD /path") is not one of them
 * @throws Error on a bad body (answered 400)
 */
export function faultAdmin(ctx: SimContext, key: string, body: Record<string, unknown>, num: NumField): unknown {
  const faults = ctx.faults;
  switch (key) {
    case 'POST /admin/drop-websockets': {
      let n = 0;
      for (const c of ctx.conns) {
        c.ws.terminate();
        n++;
      }
      return { ok: true, dropped: n };
    }
    case 'POST /admin/stall': {
      const stream = typeof body.stream === 'string' ? body.stream : '*';
      const ms = body.ms === undefined || body.ms === null ? null : num('ms');
      faults.stalled.push({ stream, until: ms === null ? null : ctx.serverTime() + ms });
      return { ok: true };
    }
    case 'POST /admin/unstall': {
      const stream = typeof body.stream === 'string' ? body.stream : null;
      faults.stalled = stream === null ? [] : faults.stalled.filter((s) => s.stream !== stream);
      return { ok: true };
    }
    case 'POST /admin/rest-errors':
      faults.restErrors = num('count', 1);
      faults.restErrorStatus = num('status', 503);
      if (faults.restErrorStatus < 500 || faults.restErrorStatus > 599) throw new Error('status: expected 500…599');
      return { ok: true };
    case 'POST /admin/rest-hang':
      faults.restHangs = num('count', 1);
      if (body.request !== undefined && (typeof body.request !== 'string' || !/^(GET|POST|PUT|DELETE) \/\S+$/.test(body.request))) throw new Error('request: expected "METHOD /path", e.g. "POST /fapi/v1/order"');
      faults.restHangRequest = typeof body.request === 'string' ? body.request : null;
      return { ok: true };
    case 'POST /admin/expire-listen-keys': {
      const keys = [...ctx.listenKeys.keys()];
      for (const k of keys) ctx.expireKey(k);
      return { ok: true, expired: keys };
    }
    case 'POST /admin/clock-skew':
      faults.clockSkewMs = num('ms');
      return { ok: true };
    case 'POST /admin/order-ack-delay':
      faults.orderAckDelayMs = num('ms');
      return { ok: true };
    case 'POST /admin/partial-fills': {
      const pieces = num('pieces', 3);
      if (!Number.isInteger(pieces) || pieces < 0 || pieces > 100) throw new Error('pieces: expected an integer 0…100 (0 or 1 = off)');
      faults.partialFills = pieces;
      return { ok: true };
    }
    case 'POST /admin/user-events':
      faults.userEventsReorder = body.reorder === true;
      faults.userEventsDuplicate = body.duplicate === true;
      faults.userEventsDrop = body.drop === true;
      return { ok: true };
    case 'POST /admin/clear-faults':
      Object.assign(faults, noFaults());
      return { ok: true };
    default:
      return undefined;
  }
}
