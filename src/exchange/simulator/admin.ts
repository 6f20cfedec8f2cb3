/**
 * The unauthenticated admin API on the same port (JSON bodies): `GET /admin/state` (see
 * {@link SimulatorState}), the data-clock controls (`POST /admin/pause`, `/resume`,
 * `/advance {"klines":n}`, `/step {"steps":n}`) and the fault switches of ./faults.ts. The list
 * with one line each is ADMIN_ENDPOINTS in ./cli.ts.
 */
import type { ServerResponse } from 'node:http';
import { str } from '../../core/decimal.ts';
import type { DataClock } from './clock.ts';
import type { SimContext } from './context.ts';
import { faultAdmin } from './faults.ts';
import type { SimulatorState } from './types.ts';
import { toJson } from './wire.ts';

/** Snapshot of the simulator (GET /admin/state). */
export function simulatorState(ctx: SimContext): SimulatorState {
  const { engine, conns } = ctx;
  ctx.pruneStalls();
  const a = ctx.accountNumbers();
  return {
    serverTime: ctx.serverTime(),
    dataTime: ctx.dataTime(),
    klineIndex: ctx.index,
    step: ctx.phase,
    ended: ctx.ended,
    paused: ctx.paused,
    balance: engine.balance(),
    positions: [...a.perSymbol]
      .filter(([s]) => engine.positions().some((x) => x.symbol === s))
      .map(([s, e]) => ({ symbol: s, positionAmt: str(e.qty), entryPrice: str(e.entry), markPrice: e.mark, unrealizedProfit: str(e.up), realizedPnl: e.realized, fees: e.fees, leverage: ctx.lev(s) })),
    openOrders: engine.openOrders(),
    openAlgoOrders: engine.openStops(),
    fills: [...ctx.fills],
    funding: [...ctx.fundingPayments],
    listenKeys: [...ctx.listenKeys].map(([listenKey, expiresAt]) => ({ listenKey, expiresAt })),
    faults: { ...ctx.faults, stalled: [...ctx.faults.stalled] },
    connections: {
      market: [...conns].filter((c) => c.kind === 'market').length,
      user: [...conns].filter((c) => c.kind === 'user').length,
      streams: [...new Set([...conns].flatMap((c) => [...c.streams]))],
    },
  };
}

/** Writes a JSON answer (./server.ts `send`). */
export type Send = (res: ServerResponse, status: number, body: string) => void;

/**
 * Answer one admin request: 200 with the result, 400 `{"error"}` for a bad body, 404 for an
 * unknown endpoint.
 */
export function handleAdmin(ctx: SimContext, clock: DataClock, method: string, path: string, rawBody: string, res: ServerResponse, send: Send): void {
  let body: Record<string, unknown> = {};
  try {
    if (rawBody.trim() !== '') body = JSON.parse(rawBody) as Record<string, unknown>;
  } catch {
    send(res, 400, JSON.stringify({ error: 'body is not JSON' }));
    return;
  }
  const num = (k: string, d?: number): number => {
    const v = body[k];
    if (v === undefined && d !== undefined) return d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${k}: expected a number`);
    return v;
  };
  try {
    let out: unknown = { ok: true };
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /admin/state':
        out = simulatorState(ctx);
        break;
      case 'POST /admin/pause':
        clock.pause();
        break;
      case 'POST /admin/resume':
        clock.resume();
        break;
      case 'POST /admin/advance':
        out = { ok: true, closed: clock.advance(num('klines', 1)), dataTime: ctx.dataTime() };
        break;
      case 'POST /admin/step':
        out = { ok: true, steps: clock.step(num('steps', 1)), dataTime: ctx.dataTime() };
        break;
      default: {
        const r = faultAdmin(ctx, key, body, num);
        if (r === undefined) {
          send(res, 404, JSON.stringify({ error: `no admin endpoint ${key}` }));
          return;
        }
        out = r;
      }
    }
    send(res, 200, toJson(out));
  } catch (err) {
    send(res, 400, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}
