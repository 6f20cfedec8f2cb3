/**
 * The API's routes: reads (JSON, query parameters checked with zod) and operator commands.
 *
 * Reads: `GET /api/status`, `/api/account`, `/api/positions`, `/api/orders/open`, `/api/orders`,
 * `/api/fills`, `/api/signals` (paged: `symbol`, `from`, `to` UTC ms, `limit` 1–1000, `offset`),
 * `/api/candles` (`symbol`, `interval` 1m|5m|15m|1h, `from`, `to`, `limit`), `/api/risk`,
 * `/api/equity`, `/api/commands`, `/api/symbols`.
 *
 * Commands: `POST /api/commands/<halt|pause|resume|flatten|cancel-orders|kill>` with a JSON body
 * `{ reason?, symbol?, by? }`. Each is recorded in `operator_commands` (who, when, why, outcome),
 * announced through the alert policy (`operatorCommand`), and published on the bus (`operator.command`) for the executor:
 * nothing here touches the exchange. halt, pause, resume and kill answer once the executor's
 * trading state shows the change (at most ~1 s), with the state.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { TradingState } from '../src/core/types.ts';
import { deriveStatus } from '../src/health/heartbeat.ts';
import { operatorCommands } from '../database/schema.ts';
import type { ApiBackend } from './backend.ts';
import { INTERVALS, candlesWithBands, commandHistory, equityCurve, fillsPage, ordersPage, riskHistory, signalsPage, type Interval, type PageQuery } from './queries.ts';

const symbolField = z.string().regex(/^[A-Z0-9]{2,30}$/, 'expected an upper-case symbol like BTCUSDT');
const ms = (what: string) => z.coerce.number({ error: `expected ${what}` }).int(`expected ${what}`).min(0, `expected ${what}`);
const pageSchema = z.strictObject({
  symbol: symbolField.optional(),
  from: ms('UTC epoch milliseconds').optional(),
  to: ms('UTC epoch milliseconds').optional(),
  limit: z.coerce.number({ error: 'expected 1–1000' }).int('expected 1–1000').min(1, 'expected 1–1000').max(1000, 'expected 1–1000').default(100),
  offset: z.coerce.number({ error: 'expected an integer ≥ 0' }).int('expected an integer ≥ 0').min(0, 'expected an integer ≥ 0').default(0),
});
const candleSchema = z.strictObject({
  symbol: symbolField,
  interval: z.enum(Object.keys(INTERVALS) as [Interval, ...Interval[]]).default('1m'),
  from: ms('UTC epoch milliseconds').optional(),
  to: ms('UTC epoch milliseconds').optional(),
  limit: z.coerce.number({ error: 'expected 1–5000' }).int('expected 1–5000').min(1, 'expected 1–5000').max(5000, 'expected 1–5000').default(500),
});
const commandBody = z.strictObject({
  reason: z.string().trim().max(500, 'expected at most 500 characters').optional(),
  symbol: symbolField.optional(),
  by: z
    .string()
    .trim()
    .max(64, 'expected at most 64 characters')
    .regex(/^[\w.@:+-]*$/, 'expected letters, digits and . @ : + - _')
    .optional(),
});
const emptyQuery = z.strictObject({});

/** The commands the API accepts. */
export const COMMANDS = ['halt', 'pause', 'resume', 'flatten', 'cancel-orders', 'kill'] as const;
/** One command name. */
export type CommandName = (typeof COMMANDS)[number];

/** Counters of refused input, for the metrics and the tests. */
export interface RouteStats {
  badRequests: number;
  commands: number;
}

/** Thrown by {@link parse}: answered with 400 and the fields named. */
class BadInput extends Error {
  constructor(readonly issues: Array<{ field: string; message: string }>) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '));
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  throw new BadInput(r.error.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : i.code === 'unrecognized_keys' ? (i as { keys?: string[] }).keys?.join(',') ?? '(root)' : '(root)', message: i.message })));
}

/** Register the read and command routes. */
export function registerRoutes(app: FastifyInstance, backend: ApiBackend, log: Logger, stats: RouteStats): void {
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof BadInput) {
      stats.badRequests++;
      log.warn({ method: req.method, path: req.url.split('?')[0], problems: err.message }, 'api: bad request');
      return reply.code(400).send({ error: 'bad request', issues: err.issues });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status < 500) {
      stats.badRequests++;
      log.warn({ method: req.method, path: req.url.split('?')[0], status, problem: (err as Error).message }, 'api: bad request');
      return reply.code(status).send({ error: (err as Error).message });
    }
    log.error({ err, method: req.method, path: req.url.split('?')[0] }, 'api: request failed');
    return reply.code(500).send({ error: 'internal error (see the bot log)' });
  });

  const pageOf = (req: FastifyRequest): PageQuery => {
    const q = parse(pageSchema, req.query);
    const out: PageQuery = { limit: q.limit, offset: q.offset };
    if (q.symbol !== undefined) out.symbol = q.symbol;
    if (q.from !== undefined) out.from = q.from;
    if (q.to !== undefined) out.to = q.to;
    return out;
  };
  const noQuery = (req: FastifyRequest) => parse(emptyQuery, req.query);

  app.get('/api/status', async (req) => {
    noQuery(req);
    const k = backend.kernel;
    const run = backend.run();
    if (!k) return { readOnly: true, mode: run?.mode ?? null, runId: backend.runId, run, risk: riskHistory(backend.db, backend.runId, 1)[0] ?? null };
    const snap = k.healthSnapshot();
    const derived = deriveStatus(snap);
    return { readOnly: false, status: derived.status, statusReason: derived.reason, ...snap, time: Date.now(), uptimeMs: Date.now() - snap.startedAt, symbols: backend.symbols() };
  });
  app.get('/api/symbols', async (req) => {
    noQuery(req);
    return { symbols: backend.symbols() };
  });
  app.get('/api/account', async (req) => {
    noQuery(req);
    return backend.account();
  });
  app.get('/api/positions', async (req) => {
    noQuery(req);
    return { positions: backend.positions() };
  });
  app.get('/api/orders/open', async (req) => {
    noQuery(req);
    return { orders: backend.openOrders() };
  });
  app.get('/api/orders', async (req) => ordersPage(backend.db, backend.runId, pageOf(req)));
  app.get('/api/fills', async (req) => fillsPage(backend.db, backend.runId, pageOf(req)));
  app.get('/api/signals', async (req) => signalsPage(backend.db, backend.runId, pageOf(req)));
  app.get('/api/candles', async (req) => {
    const q = parse(candleSchema, req.query);
    const bands = backend.bandWidths(q.symbol);
    const o: Parameters<typeof candlesWithBands>[2] = { interval: q.interval, limit: q.limit, ...bands };
    if (q.from !== undefined) o.from = q.from;
    if (q.to !== undefined) o.to = q.to;
    return { symbol: q.symbol, interval: q.interval, ...bands, candles: candlesWithBands(backend.db, q.symbol, o) };
  });
  app.get('/api/risk', async (req) => {
    noQuery(req);
    const k = backend.kernel;
    const state = k ? k.executor.tradingState() : null;
    return { state: state ? { state: state.state, reason: state.reason || null, consecutiveLosses: state.consecutiveLosses } : null, history: riskHistory(backend.db, backend.runId) };
  });
  app.get('/api/equity', async (req) => {
    noQuery(req);
    return { startingBalance: backend.starting, points: equityCurve(backend.db, backend.runId, backend.starting) };
  });
  app.get('/api/commands', async (req) => {
    noQuery(req);
    return { commands: commandHistory(backend.db, backend.runId) };
  });

  app.post<{ Params: { command: string } }>('/api/commands/:command', async (req, reply) => command(req, reply));

  async function command(req: FastifyRequest<{ Params: { command: string } }>, reply: FastifyReply) {
    const name = req.params.command as CommandName;
    if (!COMMANDS.includes(name)) throw new BadInput([{ field: 'command', message: `expected one of ${COMMANDS.join(', ')}` }]);
    const body = parse(commandBody, req.body);
    const k = backend.kernel;
    if (!k) return reply.code(409).send({ error: 'read-only: this is a finished run; commands need a running bot' });
    if (body.symbol !== undefined && !backend.symbols().includes(body.symbol)) {
      throw new BadInput([{ field: 'symbol', message: `expected one of the bot's symbols (${backend.symbols().join(', ')})` }]);
    }
    if (body.symbol !== undefined && !['flatten', 'cancel-orders'].includes(name)) {
      throw new BadInput([{ field: 'symbol', message: `only flatten and cancel-orders take a symbol` }]);
    }
    stats.commands++;
    const who = `${body.by || 'unknown'} via ${req.ip}`;
    const reason = body.reason || 'no reason given';
    const ts = Date.now();
    const args: Record<string, string> = body.symbol ? { symbol: body.symbol } : {};
    const row = k.db.db.insert(operatorCommands).values({ runId: backend.runId, ts, command: name, args, who, reason, outcome: 'received' }).returning({ id: operatorCommands.id }).get();
    const commandId = String(row.id);
    log.warn({ commandId, command: name, symbol: body.symbol, who, reason }, 'operator command');
    k.alerts.raise('operatorCommand', { command: `${name}${body.symbol ? ` ${body.symbol}` : ''}`, by: who, detail: reason });

    const setState = (state: TradingState) =>
      void k.bus.publish('operator.command', { type: 'SetTradingState', ts: k.clock.now(), state, reason: `operator ${name}: ${reason}` });
    let want: TradingState | null = null;
    switch (name) {
      case 'halt':
        want = 'HALTED';
        setState('HALTED');
        break;
      case 'pause':
        want = 'REDUCING';
        setState('REDUCING');
        break;
      case 'resume':
        want = 'ACTIVE';
        setState('ACTIVE');
        break;
      case 'kill':
        want = 'HALTED';
        setState('HALTED');
        void k.bus.publish('operator.command', { type: 'FlattenPositions', ts: k.clock.now(), reason: `operator kill: ${reason}`, commandId });
        break;
      case 'flatten':
        void k.bus.publish('operator.command', { type: 'FlattenPositions', ts: k.clock.now(), ...(body.symbol ? { symbol: body.symbol } : {}), reason: `operator flatten: ${reason}`, commandId });
        break;
      case 'cancel-orders':
        void k.bus.publish('operator.command', { type: 'CancelOrders', ts: k.clock.now(), ...(body.symbol ? { symbol: body.symbol } : {}), reason: `operator cancel-orders: ${reason}`, commandId });
        break;
    }
    // Answer once the executor shows the new state (its own queue: not behind a slow order).
    let state = k.executor.tradingState().state;
    for (let i = 0; want !== null && state !== want && i < 90; i++) {
      await new Promise((r) => setTimeout(r, 10));
      state = k.executor.tradingState().state;
    }
    const applied = want === null || state === want;
    const outcome = want === null ? 'published to the executor' : applied ? `trading state ${state}` : `published; trading state still ${state} after 900 ms`;
    k.db.sqlite.prepare('UPDATE operator_commands SET outcome = ? WHERE id = ?').run(outcome, row.id);
    return reply.code(applied ? 200 : 202).send({ ok: true, commandId, command: name, state, positions: k.executor.positionSnapshot(), outcome });
  }
}
