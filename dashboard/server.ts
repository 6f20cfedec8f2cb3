/**
 * The operating surface: one fastify server in the bot's process serving the dashboard (static
 * ES modules from dashboard/public, lightweight-charts' standalone build from node_modules), the
 * read and command API (routes.ts), a live stream of bus events (`GET /api/events`,
 * server-sent events) and `/metrics` (prom-client).
 *
 * Why fastify: a well-kept, fast HTTP server with hooks for authentication, a plugin for static
 * files and first-class TypeScript types; hono would need an adapter for Node's server and its
 * static serving for Node is thinner.
 *
 * Security:
 * - binds `api.host` (127.0.0.1 by default); a non-loopback address needs PERPBOT_API_TOKEN;
 * - every `/api/*` and `/metrics` request needs `Authorization: Bearer <token>` (constant-time
 *   comparison); failures are counted, logged (address and path, never the header) and
 *   rate-limited per address (429 with Retry-After). `GET /healthz` and the page's static files
 *   (HTML, JS, CSS: no data) are public: a browser cannot send a header when it navigates, so the
 *   page fetches everything else with the token it is given (see README);
 * - no cookies, no CORS headers (browsers refuse cross-origin reads), `Cache-Control: no-store`,
 *   a strict Content-Security-Policy on the page, `Referrer-Policy: no-referrer`.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import type { BusMessage } from '../src/bus/bus.ts';
import { TokenGuard } from './token-guard.ts';
import type { ApiBackend } from './backend.ts';
import { createMetrics, type BotMetrics } from './metrics.ts';
import { registerRoutes, type RouteStats } from './routes.ts';
import { projectPath } from '../src/core/paths.ts';

// From the project root, so that the sources and the compiled bundle (dist/) serve the same files.
const PUBLIC_DIR = projectPath('dashboard', 'public');
const CHARTS_DIR = path.join(path.dirname(createRequire(import.meta.url).resolve('lightweight-charts/package.json')), 'dist');

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  backend: ApiBackend;
  /** Listen address and port (0 = any free port). */
  host: string;
  port: number;
  /** The bearer token (never logged). */
  token: string;
  log: Logger;
  /** A separate metrics port on 127.0.0.1 without the token; 0 or absent = /metrics on this server, behind the token. */
  metricsPort?: number;
}

/** A running API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The metrics server's URL when `metricsPort` was given. */
  metricsUrl: string | null;
  app: FastifyInstance;
  metrics: BotMetrics;
  guard: TokenGuard;
  stats: RouteStats & { sseClients: number };
  /** Stop listening, end event streams, stop the bus subscriptions. */
  close(): Promise<void>;
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Start the server.
 * @throws Error when the address is in use or cannot be bound (EADDRINUSE, EACCES)
 */
export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const log = o.log;
  const guard = new TokenGuard(o.token);
  const stats = { badRequests: 0, commands: 0, sseClients: 0 };
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false, forceCloseConnections: true });
  const metrics = createMetrics(o.backend);

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('Cache-Control', 'no-store');
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    if (!req.url.startsWith('/api/') && req.url !== '/metrics') reply.header('Content-Security-Policy', CSP);
    return payload;
  });

  // Authentication: everything under /api and /metrics.
  app.addHook('onRequest', async (req, reply) => {
    const p = req.url.split('?')[0] as string;
    const needsToken = p.startsWith('/api/') || p === '/api' || (p === '/metrics' && !o.metricsPort);
    if (!needsToken) return;
    const wait = await guard.blockedFor(req.ip);
    if (wait > 0) {
      guard.limited++;
      return reply.code(429).header('Retry-After', String(wait)).send({ error: `too many failed token attempts; retry in ${wait} s` });
    }
    if (guard.matches(req.headers.authorization)) return;
    const blocked = await guard.fail(req.ip);
    log.warn({ address: req.ip, method: req.method, path: p, hadHeader: req.headers.authorization !== undefined }, 'api: request without a valid token refused');
    if (blocked > 0) return reply.code(429).header('Retry-After', String(blocked)).send({ error: `too many failed token attempts; retry in ${blocked} s` });
    return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'a valid token is required: Authorization: Bearer <token>' });
  });

  app.get('/healthz', async () => ({ ok: true }));
  if (!o.metricsPort) {
    app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  }

  registerRoutes(app, o.backend, log, stats);

  // Live bus events as server-sent events (read with fetch + a stream reader: EventSource cannot send a header).
  const clients = new Set<(m: BusMessage) => void>();
  const consumer = o.backend.kernel?.bus.consume(
    ['market.kline.*', 'market.markPrice.*', 'signal.*', 'order.update', 'account.update', 'risk.state'],
    (m) => {
      for (const c of clients) c(m);
    },
    { name: 'api-events' },
  );
  app.get('/api/events', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Content-Type-Options': 'nosniff' });
    res.write(`event: hello\ndata: ${JSON.stringify({ runId: o.backend.runId, readOnly: o.backend.readOnly })}\n\n`);
    const send = (m: BusMessage) => {
      // A client that does not read is not waited for: its events are dropped past 1 MB buffered.
      if (res.writableLength > 1_000_000) return;
      res.write(`event: ${m.type}\ndata: ${JSON.stringify(m)}\n\n`);
    };
    clients.add(send);
    stats.sseClients = clients.size;
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      clearInterval(ping);
      clients.delete(send);
      stats.sseClients = clients.size;
    });
  });

  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', index: ['index.html'], decorateReply: false, cacheControl: false, etag: false, lastModified: false });
  await app.register(fastifyStatic, { root: CHARTS_DIR, prefix: '/vendor/', decorateReply: false, cacheControl: false, allowedPath: (p) => p.endsWith('lightweight-charts.standalone.production.js') });

  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;

  let metricsApp: FastifyInstance | null = null;
  let metricsUrl: string | null = null;
  if (o.metricsPort) {
    metricsApp = Fastify({ logger: false });
    metricsApp.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
    await metricsApp.listen({ host: '127.0.0.1', port: o.metricsPort });
    metricsUrl = `http://127.0.0.1:${o.metricsPort}`;
  }
  log.info({ url, metricsUrl, readOnly: o.backend.readOnly }, 'api and dashboard listening');

  return {
    url,
    metricsUrl,
    app,
    metrics,
    guard,
    stats,
    close: async () => {
      consumer?.close();
      metrics.close();
      clients.clear();
      await metricsApp?.close();
      await app.close();
    },
  };
}
