/**
 * A local Binance USDⓈ-M futures exchange (fapi) that the real `binance` npm library cannot tell
 * from the real one: one `node:http` server on 127.0.0.1 answering Binance's REST paths, with a
 * `ws` WebSocketServer on the same port (upgrade by path) for market and user-data streams, and an
 * unauthenticated `/admin/…` API for fault injection and inspection.
 *
 * Everything trades through the project's one {@link MatchingEngine} (src/exchange/sim), orders are
 * checked with executor/filters.ts `validateOrder` against a recorded exchangeInfo
 * (executor/exchange-info.ts), and prices come from kline CSV files (src/market/kline-csv.ts).
 *
 * Two clocks:
 * - the **server clock** = wall clock + an admin skew: `GET /fapi/v1/time`, `serverTime`, the
 *   `timestamp`/`recvWindow` check, listen-key expiry and rate-limit windows;
 * - the **data clock**: the replayed market. Each 1-minute kline is played in `stepsPerKline`
 *   sub-steps (a non-final `x:false` kline frame and a mark price at each, then the final `x:true`
 *   frame). With `speed` s the data clock runs s times faster than real time (60 → one kline per
 *   second); `pause()`/`advance()`/`step()` drive it by hand (tests). Kline times are shifted so
 *   the first replayed kline opens at the current wall-clock minute (`alignToNow`, default).
 *   Times on the wire (`E`, `T`, order and trade times) are data-clock times bounded by the
 *   server clock (`SimContext.wireTime`): never ahead of `GET /fapi/v1/time`.
 *
 * Fill model (the engine's): an order is stamped 1 ms after the data clock's "now". At the start of
 * each kline the engine is shown the kline's open as a mark price, so MARKET orders fill at the
 * next kline's open (± slippage) the moment it starts; LIMIT orders rest and fill at their price
 * when a closed kline trades through them.
 *
 * Ids: `orderId`, trade `id`, `i` and `t` are JSON numbers, as Binance sends them, written from the
 * engine's int64 strings digit for digit. They start at 700000000001 (orders) and 5000000001
 * (trades), below 2^53, so JavaScript clients that `JSON.parse` (the `binance` library does) read
 * them exactly.
 *
 * Module layout (one concern each): ./types.ts public types; ./context.ts shared state and clocks;
 * ./clock.ts the data clock; ./streams.ts websockets; ./user-events.ts engine events → user data;
 * ./auth.ts keys, signatures, rate limits; ./faults.ts fault switches; ./admin.ts the admin API;
 * ./routes/*.ts REST route families (market data, account, trade, listen key), merged by
 * {@link ROUTE_FAMILIES}; this file composes them and runs the HTTP server.
 *
 * Not modelled: hedge mode (orders are refused with -4061 while dualSidePosition is true),
 * isolated margin accounting (the margin type is stored and reported only), liquidation, order
 * types other than MARKET and LIMIT, kline intervals other than 1m. Funding is settled 8-hourly
 * (./funding.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleAdmin, simulatorState } from './admin.ts';
import { checkAuth, createRateLimiter } from './auth.ts';
import { startDataClock } from './clock.ts';
import { createAlgoOrders } from './algo-orders.ts';
import { createContext, type Route, type RouteFamily } from './context.ts';
import { installFaults } from './faults.ts';
import { accountRoutes, installAccount } from './routes/account.ts';
import { listenKeyRoutes, startListenKeyExpiry } from './routes/listen-key.ts';
import { marketDataRoutes } from './routes/market-data.ts';
import { tradeRoutes } from './routes/trade.ts';
import { createWsEndpoint, installStreams } from './streams.ts';
import { installUserEvents } from './user-events.ts';
import type { Simulator, SimulatorOptions } from './types.ts';
import { BinanceApiError, apiError, toJson } from './wire.ts';

export {
  DEFAULT_SIM_API_KEY,
  DEFAULT_SIM_API_SECRET,
  DEFAULT_SIM_EXCHANGE_INFO,
  type FaultState,
  type RateLimits,
  type SimFill,
  type Simulator,
  type SimulatorOptions,
  type SimulatorState,
} from './types.ts';
export type { Route, RouteFamily, SimContext } from './context.ts';

/** The simulator could not listen on its port (taken, or not allowed). */
export class SimulatorPortError extends Error {
  /** @param port the port asked for */
  constructor(
    readonly port: number,
    message: string,
  ) {
    super(message);
    this.name = 'SimulatorPortError';
  }
}

/**
 * The REST route families every simulator serves, merged in this order (a later family may not
 * redefine a route: that throws at start). To add an endpoint family (e.g. algo orders), write a
 * `RouteFamily` in its own file under ./routes/ and append it here.
 */
export const ROUTE_FAMILIES: readonly RouteFamily[] = [marketDataRoutes, accountRoutes, tradeRoutes, listenKeyRoutes];

/** Merge route families into one table. @throws Error when two families define the same route */
function buildRoutes(ctx: Parameters<RouteFamily>[0], families: readonly RouteFamily[]): Record<string, Route> {
  const routes: Record<string, Route> = {};
  for (const family of families) {
    for (const [key, route] of Object.entries(family(ctx))) {
      if (key in routes) throw new Error(`simulator route ${key} is defined twice`);
      routes[key] = route;
    }
  }
  return routes;
}

/**
 * Start a simulator on 127.0.0.1 (`opts.port`, 0 = any free port) and resolve once it listens.
 *
 * REST (JSON; errors are `{"code":<Binance code>,"msg":"…"}` with Binance's HTTP status — 400
 * request errors, 401 -2014/-2015 key errors, 429 -1003/-1015 rate limits with `Retry-After`, 418
 * -1003 ban; every /fapi answer carries `X-MBX-USED-WEIGHT-1M`, order endpoints also
 * `X-MBX-ORDER-COUNT-10S`/`-1M`):
 * - public: GET /fapi/v1/ping, /time, /exchangeInfo (the file, `serverTime` and `rateLimits`
 *   updated), /klines (1m only; closed klines only; startTime/endTime/limit ≤ 1500 as Binance),
 *   /premiumIndex (mark = forming kline's close so far, the next funding's rate), /ticker/price,
 *   /ticker/24hr, /depth (synthetic), /fundingRate (settled fundings);
 * - SIGNED (`timestamp`, optional `recvWindow` ≤ 60000, `signature` = hex HMAC-SHA256 of the query
 *   string + body exactly as sent, minus the signature; header X-MBX-APIKEY): POST/GET/DELETE
 *   /fapi/v1/order, DELETE /fapi/v1/allOpenOrders, GET /fapi/v1/openOrders, GET /fapi/v3/positionRisk,
 *   /fapi/v3/account, /fapi/v3/balance (and the v2 forms of those three), /fapi/v1/userTrades,
 *   /fapi/v1/allOrders, /fapi/v1/commissionRate, /fapi/v1/leverageBracket,
 *   POST /fapi/v1/leverage, /fapi/v1/marginType, GET/POST /fapi/v1/positionSide/dual;
 *   -2014 missing key, -2015 wrong key, -1102 missing timestamp/signature, -1021 outside recvWindow
 *   or > 1000 ms ahead, -1022 bad signature;
 * - order checks, in order: parameters (-1102, -1117, -1116, -1115, -1100, -1121), exchange filters
 *   via executor/filters.ts validateOrder (-1111, -4014, -4013, -4002, -4003, -4004, -4005, -4023,
 *   -4016, -4024, -4164 unless reduce-only), -4116 duplicate open client id, -2019 initial margin
 *   (notional ÷ leverage of the part that opens or grows a position) above the available balance,
 *   then the engine (-2022 reduce-only that would open or grow, -5022 GTX that would take);
 *   -2013 GET of an unknown order, -2011 DELETE of an unknown or finished order (as Binance);
 * - API key only: POST/PUT/DELETE /fapi/v1/listenKey (one key per account, `listenKeyTtlMs`;
 *   PUT on none → -1125).
 *
 * Websockets (same port): market data on /market/stream, /public/stream, /stream (combined
 * `{"stream","data"}` frames, `?streams=a/b` or SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS) and /ws,
 * /ws/<stream> (raw frames); streams `<symbol>@kline_1m`, `<symbol>@markPrice[@1s]`,
 * `!markPrice@arr[@1s]`. User data on /private/stream?listenKey= (combined, `stream` = the key),
 * /private/ws?listenKey=, /private/ws/<key>, /ws/<key> (raw): ORDER_TRADE_UPDATE, ACCOUNT_UPDATE
 * (reason ORDER), listenKeyExpired (then the socket is closed). Unknown listen key → HTTP 400 on
 * upgrade. Any path prefix before those endpoints is ignored.
 *
 * Admin (no auth, JSON body): see ADMIN_ENDPOINTS in ./cli.ts and {@link SimulatorState}.
 *
 * @throws SimulatorPortError when the port is taken (EADDRINUSE) or not allowed (EACCES), after
 *   stopping every timer (the process can exit), DataError when a kline file is missing or malformed, PerpbotError EXCHANGE_INFO_INVALID
 *   / SYMBOL_UNKNOWN when the exchangeInfo is bad or lacks a data symbol, RangeError on bad options
 */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const ctx = createContext(opts);
  installFaults(ctx);
  installStreams(ctx);
  installUserEvents(ctx);
  installAccount(ctx);
  // Conditional (algo) orders: routes and user-data frames in ./algo-orders.ts; their engine
  // events are sent within the batch that caused them (in order).
  let algoSink: (frame: unknown) => void = (f) => ctx.sendUser(f);
  const algo = createAlgoOrders({
    engine: ctx.engine,
    rules: ctx.rules,
    symbolParam: (p) => ctx.symbolParam(p),
    markPrice: (s) => ctx.markPrice(s),
    dataTime: () => ctx.dataTime(),
    wireTime: (t) => ctx.wireTime(t),
    dualSide: () => ctx.dualSide,
    sendUser: (f) => algoSink(f),
    bookFill: (f) => ctx.bookFill(f),
    openNotionals: (s) => ctx.openNotionals(s),
  });
  ctx.eventHooks.push((ev, eventTime, send) => {
    algoSink = send;
    try {
      return algo.onEvent(ev, eventTime);
    } finally {
      algoSink = (f) => ctx.sendUser(f);
    }
  });
  const routes = buildRoutes(ctx, [...ROUTE_FAMILIES, () => algo.routes, ...(opts.routeFamilies ?? [])]);
  const clock = startDataClock(ctx);
  const stopKeyExpiry = startListenKeyExpiry(ctx);
  const limiter = createRateLimiter(ctx);
  const ws = createWsEndpoint(ctx);
  const faults = ctx.faults;

  // ---------------------------------------------------------------- HTTP plumbing
  const hanging = new Set<ServerResponse>();
  const delayed = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers });
    res.end(body);
  }

  function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
    const rawQuery = q >= 0 ? rawUrl.slice(q + 1) : '';
    const rawBody = await readBody(req);
    if (path.startsWith('/admin/') || path === '/admin') {
      handleAdmin(ctx, clock, req.method ?? 'GET', path, rawBody, res, send);
      return;
    }
    if (faults.restHangs > 0 && (faults.restHangRequest === null || faults.restHangRequest === `${req.method} ${path}`)) {
      faults.restHangs--;
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (faults.restErrors > 0) {
      faults.restErrors--;
      send(res, faults.restErrorStatus, toJson({ code: -1001, msg: apiError(-1001).msg }));
      return;
    }
    const route = routes[`${req.method} ${path}`];
    if (route === undefined) {
      send(res, 404, toJson({ code: -5000, msg: `Path ${path}, Method ${req.method} is invalid` }));
      return;
    }
    const p = new URLSearchParams(rawQuery);
    if (rawBody !== '') for (const [k, v] of new URLSearchParams(rawBody)) p.append(k, v);
    const isOrder = route.order === true;
    try {
      limiter.charge(route.weight(p), isOrder);
      if (route.auth !== 'none') checkAuth(ctx, req, rawQuery, rawBody, p, route.auth === 'signed');
      const body = toJson(route.handler(p));
      const headers = limiter.headers(isOrder);
      const ackDelay = faults.orderAckDelayMs;
      if ((path === '/fapi/v1/order' && req.method !== 'GET') && ackDelay > 0) {
        const t = setTimeout(() => {
          delayed.delete(t);
          send(res, 200, body, headers);
        }, ackDelay);
        delayed.add(t);
        return;
      }
      send(res, 200, body, headers);
    } catch (err) {
      if (err instanceof BinanceApiError) {
        send(res, err.status, toJson({ code: err.code, msg: err.msg }), { ...limiter.headers(isOrder), ...err.headers });
      } else {
        send(res, 500, toJson({ code: -1000, msg: `An unknown error occurred while processing the request. ${err instanceof Error ? err.message : String(err)}` }));
      }
    }
  }

  // ---------------------------------------------------------------- server
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, JSON.stringify({ code: -1000, msg: String(err) })));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', ws.onUpgrade);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // Nothing may keep the process alive after a failed start (the data clock's timers would).
    clock.pause();
    stopKeyExpiry();
    ws.close();
    server.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new SimulatorPortError(opts.port ?? 0, `port ${opts.port ?? 0} on 127.0.0.1 is already in use (EADDRINUSE): stop what holds it or pick another --port`);
    if (code === 'EACCES') throw new SimulatorPortError(opts.port ?? 0, `port ${opts.port ?? 0} on 127.0.0.1 needs privileges (EACCES): pick a port above 1023`);
    throw err;
  }
  const port = (server.address() as AddressInfo).port;

  let closed = false;
  const sim: Simulator = {
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    apiKey: ctx.apiKey,
    apiSecret: ctx.apiSecret,
    engine: ctx.engine,
    symbols: ctx.symbols,
    dataTime: ctx.dataTime,
    serverTime: ctx.serverTime,
    pause: () => clock.pause(),
    resume: () => clock.resume(),
    step: (n = 1) => clock.step(n),
    advance: (n = 1) => clock.advance(n),
    markPrice: ctx.markPrice,
    state: () => simulatorState(ctx),
    async close() {
      if (closed) return;
      closed = true;
      clock.pause();
      stopKeyExpiry();
      for (const t of delayed) clearTimeout(t);
      delayed.clear();
      ws.close();
      for (const r of hanging) r.destroy();
      hanging.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await done;
    },
  };
  return sim;
}
