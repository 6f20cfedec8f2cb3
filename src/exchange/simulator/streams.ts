/**
 * Websocket streams: the fan-out of market frames (`<symbol>@kline_1m`, `<symbol>@markPrice[@1s]`,
 * `!markPrice@arr[@1s]`) and user-data events to the open connections, the upgrade of HTTP
 * requests to websockets by path, SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS, and Binance's
 * 3-minute server pings.
 *
 * Paths (https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams):
 * market data on /market/stream, /public/stream, /stream (combined `{"stream","data"}` frames,
 * `?streams=a/b` or SUBSCRIBE) and /ws, /ws/<stream> (raw frames); user data on
 * /private/stream?listenKey= (combined, `stream` = the key), /private/ws?listenKey=,
 * /private/ws/<key>, /ws/<key> (raw). Any path prefix before those endpoints is ignored.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { MINUTE, nextFundingTime, type Conn, type SimContext } from './context.ts';
import { klineEvent, partialKline, toJson } from './wire.ts';

/**
 * Install `sendMarket`, `sendUser`, `marketFrames`, `sendMarks` and `expireKey` on the context.
 * Kline frames go out at every sub-step; mark prices at Binance's rates (`@markPrice@1s` and
 * `!markPrice@arr@1s` every second, `@markPrice` and `!markPrice@arr` every 3 s) from the data
 * clock's timers while it runs (./clock.ts), and at every sub-step played by hand.
 */
export function installStreams(ctx: SimContext): void {
  const { conns, symbols, bars, steps, t0 } = ctx;

  ctx.sendMarket = (stream: string, data: unknown): void => {
    if (conns.size === 0 || ctx.stalled(stream)) return;
    let text: string | null = null;
    let combinedText: string | null = null;
    for (const c of conns) {
      if (c.kind !== 'market' || !c.streams.has(stream) || c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.combined) c.ws.send((combinedText ??= toJson({ stream, data })));
      else c.ws.send((text ??= toJson(data)));
    }
  };

  ctx.sendUser = (data: unknown, onlyKey?: string): void => {
    if (ctx.stalled('user')) return;
    for (const c of conns) {
      if (c.kind !== 'user' || c.ws.readyState !== WebSocket.OPEN) continue;
      if (onlyKey !== undefined && c.listenKey !== onlyKey) continue;
      if (onlyKey === undefined && (c.listenKey === null || !ctx.listenKeys.has(c.listenKey))) continue;
      if (c.listenKey !== null && ctx.stalled(c.listenKey)) continue;
      c.ws.send(toJson(c.combined ? { stream: c.listenKey, data } : data));
    }
  };

  ctx.marketFrames = (isFinal: boolean, withMarks: boolean): void => {
    if (conns.size === 0) return;
    const index = ctx.index;
    const E = ctx.wireTime(isFinal ? t0 + (index + 1) * MINUTE : ctx.dataTime());
    for (const s of symbols) {
      const k = bars.get(s)?.[index];
      if (k === undefined) continue;
      const shown = isFinal ? k : partialKline(k, ctx.phase, steps);
      ctx.sendMarket(`${s.toLowerCase()}@kline_1m`, klineEvent(shown.symbol === s ? shown : { ...shown, symbol: s }, E, ctx.firstTradeIds.get(s)!));
    }
    if (withMarks) ctx.sendMarks('all', isFinal);
  };

  ctx.sendMarks = (which: '1s' | '3s' | 'all', isFinal = false): void => {
    if (conns.size === 0) return;
    const index = ctx.index;
    const dataT = isFinal ? t0 + (index + 1) * MINUTE : ctx.dataTime();
    const E = ctx.wireTime(dataT);
    const next = nextFundingTime(dataT);
    const marks: unknown[] = [];
    const one = which !== '3s';
    const three = which !== '1s';
    for (const s of symbols) {
      const k = isFinal ? bars.get(s)?.[index] : undefined;
      const p = k !== undefined ? k.close : ctx.markPrice(s);
      const mark = { e: 'markPriceUpdate', E, s, p, P: p, i: p, r: ctx.funding.rateAt(s, next), T: next };
      marks.push(mark);
      const lower = s.toLowerCase();
      if (three) ctx.sendMarket(`${lower}@markPrice`, mark);
      if (one) ctx.sendMarket(`${lower}@markPrice@1s`, mark);
    }
    if (three) ctx.sendMarket('!markPrice@arr', marks);
    if (one) ctx.sendMarket('!markPrice@arr@1s', marks);
  };

  ctx.expireKey = (key: string): void => {
    ctx.listenKeys.delete(key);
    // E as a string: what Binance's futures stream really sends (adshao/go-binance#510), unlike its docs.
    const ev = { e: 'listenKeyExpired', E: String(ctx.serverTime()), listenKey: key };
    for (const c of conns) {
      if (c.kind !== 'user' || c.listenKey !== key) continue;
      if (c.ws.readyState === WebSocket.OPEN) c.ws.send(toJson(c.combined ? { stream: key, data: ev } : ev));
      c.ws.close(1000, 'listenKeyExpired');
    }
  };
}

function onWsMessage(c: Conn, data: string): void {
  let msg: { method?: unknown; params?: unknown; id?: unknown };
  try {
    msg = JSON.parse(data) as typeof msg;
  } catch {
    c.ws.send(JSON.stringify({ code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }));
    return;
  }
  const id = msg.id ?? null;
  const params = Array.isArray(msg.params) ? msg.params.filter((x): x is string => typeof x === 'string') : [];
  switch (msg.method) {
    case 'SUBSCRIBE':
      for (const s of params) c.streams.add(s);
      c.ws.send(JSON.stringify({ result: null, id }));
      break;
    case 'UNSUBSCRIBE':
      for (const s of params) c.streams.delete(s);
      c.ws.send(JSON.stringify({ result: null, id }));
      break;
    case 'LIST_SUBSCRIPTIONS':
      c.ws.send(JSON.stringify({ result: [...c.streams], id }));
      break;
    case 'SET_PROPERTY':
    case 'GET_PROPERTY':
      c.ws.send(JSON.stringify({ result: msg.method === 'GET_PROPERTY' ? false : null, id }));
      break;
    default:
      c.ws.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: unknown variant \`${String(msg.method)}\`` }, id }));
  }
}

function reject(socket: Socket, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n`);
}

/** The websocket side of the server: an `upgrade` handler and `close()` (sockets and ping timer). */
export interface WsEndpoint {
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  close(): void;
}

/** Create the websocket endpoint (unknown path → 404, unknown listen key → 400 on upgrade). */
export function createWsEndpoint(ctx: SimContext): WsEndpoint {
  const { conns } = ctx;
  const wss = new WebSocketServer({ noServer: true });
  // Binance's websocket server pings every 3 minutes (clients answer with a pong).
  const pingTimer = setInterval(() => {
    for (const c of conns) if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }, 180_000);
  pingTimer.unref();

  function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    // The endpoint is the end of the path, so a wsUrl that already carries a path still works
    // (the library appends /market/stream, /private/stream?listenKey=… to whatever wsUrl is).
    const m = /(?:\/(private|market|public))?\/(stream|ws)(?:\/([^/]+))?\/*$/.exec(u.pathname);
    let conn: Omit<Conn, 'ws'> | null = null;
    const userConn = (key: string | null, combined: boolean): Omit<Conn, 'ws'> | null => {
      if (key === null || key === '' || !ctx.listenKeys.has(key)) return null;
      return { kind: 'user', combined, streams: new Set(), listenKey: key };
    };
    if (m !== null) {
      const [, area, kind, rawName] = m;
      if (rawName !== undefined) {
        if (kind !== 'ws') return reject(socket, 404, 'Not Found');
        const name = decodeURIComponent(rawName);
        if (area !== 'private' && (name.includes('@') || name.startsWith('!'))) {
          conn = { kind: 'market', combined: false, streams: new Set([name]), listenKey: null };
        } else {
          conn = userConn(name, false);
          if (conn === null) return reject(socket, 400, 'Bad Request');
        }
      } else if (area === 'private') {
        conn = userConn(u.searchParams.get('listenKey'), kind === 'stream');
        if (conn === null) return reject(socket, 400, 'Bad Request');
      } else {
        const streams = (u.searchParams.get('streams') ?? '').split('/').filter((x) => x !== '');
        conn = { kind: 'market', combined: kind === 'stream', streams: new Set(streams), listenKey: null };
      }
    }
    if (conn === null) return reject(socket, 404, 'Not Found');
    const base = conn;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { ...base, ws };
      conns.add(c);
      ws.on('message', (d) => onWsMessage(c, d.toString()));
      ws.on('close', () => conns.delete(c));
      ws.on('error', () => conns.delete(c));
    });
  }

  return {
    onUpgrade,
    close(): void {
      clearInterval(pingTimer);
      for (const c of conns) c.ws.terminate();
      conns.clear();
      wss.close();
    },
  };
}
