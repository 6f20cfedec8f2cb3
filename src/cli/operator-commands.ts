/**
 * The operator's side of the CLI: starting the API and dashboard with a bot, browsing a finished
 * run, and reaching a running bot through its API.
 *
 *   perpbot halt|pause|resume [--reason …]     trading state of the running bot
 *   perpbot kill [--reason …]                  halt, then flatten everything
 *   perpbot cancel-orders [--symbol S]         cancel perpbot's open orders
 *   perpbot positions|orders|pnl [--json]      tables (or JSON) from the running bot
 *   perpbot dashboard --db FILE [--run ID]     serve a finished run's database read-only
 *   (perpbot flatten --yes [--symbol S] goes through the running bot when one answers: main.ts)
 *
 * The bot's address: `--url`, else `PERPBOT_API_URL`, else `api.host`:`api.port` from the config.
 * The token: PERPBOT_API_TOKEN, else `api.tokenFile`. Exit codes: 0 done, 1 the bot refused or
 * failed, 2 bad input, 3 no bot answers.
 */
import os from 'node:os';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { ConfigSources } from '../config/load.ts';
import { ConfigError, PerpbotError, errorMessage } from '../core/errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { scrub } from '../logging/scrub.ts';
import { checkListenAddress, readApiToken, resolveApiToken } from '../../dashboard/auth.ts';
import type { ApiServer } from '../../dashboard/server.ts';

// The server, the database and the config schema load on use (`await import`), so that
// registering these commands costs `perpbot status` nothing.

/** The config loader (zod), loaded on first use. */
async function loadConfig(sources: ConfigSources): Promise<Config> {
  return (await import('../config/load.ts')).loadConfig(sources);
}

/**
 * Prepare the API and dashboard of a running bot (paper, live) when `api.enabled`: check the
 * listen address, resolve the token and load the server, before the bot starts.
 * @returns a function that starts the server for the bot's kernel: call it before the kernel
 *   runs (it subscribes to the bus synchronously, so the metrics count every event from the
 *   start; listening completes asynchronously); null when the API is disabled
 * @throws ConfigError for a non-loopback host without PERPBOT_API_TOKEN or a bad token
 */
export async function prepareBotApi(config: Config, log: Logger, env: Record<string, string | undefined> = process.env): Promise<((kernel: Kernel) => Promise<ApiServer>) | null> {
  if (!config.api.enabled) return null;
  checkListenAddress(config.api.host, env);
  const t = resolveApiToken(config.api.tokenFile, env);
  if (t.source === 'env') log.info('api token: from PERPBOT_API_TOKEN');
  else log.info({ tokenFile: t.file }, t.source === 'generated' ? 'api token generated into its file (mode 0600)' : 'api token read from its file');
  const [{ ApiBackend }, { startApiServer }] = await Promise.all([import('../../dashboard/backend.ts'), import('../../dashboard/server.ts')]);
  return (kernel) => startApiServer({ backend: ApiBackend.forKernel(kernel, config), host: config.api.host, port: config.api.port, token: t.token, log: log.child({ component: 'api' }), metricsPort: config.metrics.port });
}

/**
 * Start the API and dashboard for a running bot (paper, live) when `api.enabled`.
 * @returns the server, or null when disabled
 * @throws ConfigError for a non-loopback host without PERPBOT_API_TOKEN or a bad token; Error when the port is taken
 */
export async function serveBot(kernel: Kernel, config: Config, log: Logger, env: Record<string, string | undefined> = process.env): Promise<ApiServer | null> {
  const serve = await prepareBotApi(config, log, env);
  return serve ? serve(kernel) : null;
}

/**
 * Serve a finished run's database read-only (commands refused) until SIGINT/SIGTERM.
 * @param runId the run to show; the most recent one by default
 * @throws ConfigError when the database has no run (or not that one)
 */
export async function serveFinishedRun(config: Config, log: Logger, dbFile: string, runId: string | undefined, env: Record<string, string | undefined> = process.env): Promise<void> {
  checkListenAddress(config.api.host, env);
  const [{ openDatabase }, { lastRun }, { ApiBackend }, { startApiServer }] = await Promise.all([
    import('../../database/client.ts'),
    import('../../database/queries.ts'),
    import('../../dashboard/backend.ts'),
    import('../../dashboard/server.ts'),
  ]);
  const db = openDatabase(dbFile, { readonly: true });
  try {
    const id = runId ?? lastRun(db)?.id;
    if (!id) throw new ConfigError([`--db: ${dbFile} holds no run`]);
    const t = resolveApiToken(config.api.tokenFile, env);
    if (t.source !== 'env') log.info({ tokenFile: t.file }, 'api token file');
    const server = await startApiServer({ backend: ApiBackend.readOnly(db, id, config), host: config.api.host, port: config.api.port, token: t.token, log: log.child({ component: 'api' }) });
    process.stderr.write(`perpbot: dashboard of run ${id} (read-only) at ${server.url}/  (token: PERPBOT_API_TOKEN or ${t.file ?? 'the environment'}; open ${server.url}/#token=<token>)\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
  } finally {
    db.close();
  }
}

/** Where and how to reach the running bot. */
export interface BotAddress {
  url: string;
  token: string | null;
}

/** The running bot's address and token from flags, environment and config. */
export function botAddress(config: Config, flags: { url?: string }, env: Record<string, string | undefined> = process.env): BotAddress {
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;
  return { url: (flags.url ?? env.PERPBOT_API_URL ?? `http://${host}:${config.api.port}`).replace(/\/+$/, ''), token: readApiToken(config.api.tokenFile, env) };
}

/** No bot answered at the address (connection refused, timeout). */
export class NoBotError extends Error {
  constructor(url: string, detail: string) {
    super(`no running bot answers at ${url} (${detail})`);
  }
}

/** The bot answered with an error status; `status` is the HTTP status. */
export class BotAnswerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One request to the running bot's API.
 * @returns the parsed JSON body
 * @throws NoBotError when nothing answers; BotAnswerError with the API's error text for 4xx/5xx
 */
export async function callBot(addr: BotAddress, method: 'GET' | 'POST', path: string, body?: object, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${addr.url}${path}`, {
      method,
      headers: { ...(addr.token ? { Authorization: `Bearer ${addr.token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err);
    throw new NoBotError(addr.url, cause);
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { error: text.slice(0, 200) };
  }
  if (!res.ok) {
    const issues = Array.isArray(json.issues) ? ` (${(json.issues as Array<{ field: string; message: string }>).map((i) => `${i.field}: ${i.message}`).join('; ')})` : '';
    throw new BotAnswerError(res.status, `bot at ${addr.url} answered ${res.status}: ${String(json.error ?? text.slice(0, 200))}${issues}`);
  }
  return json;
}

/** True when a bot answers `GET /healthz` at the address within `timeoutMs`. */
export async function botIsUp(addr: BotAddress, timeoutMs = 1_500): Promise<boolean> {
  try {
    const r = await fetch(`${addr.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Who the CLI says it is in the command record: user@host. */
export function cliIdentity(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry
  }
  return `${user}@${os.hostname()}`.replace(/[^\w.@:+-]/g, '_').slice(0, 64);
}

/** Format rows as an aligned text table. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

const iso = (t: unknown) => (typeof t === 'number' ? new Date(t).toISOString().replace('.000Z', 'Z') : null);

/**
 * Flatten through the running bot: halt is not implied; cancels perpbot's open orders on those
 * symbols and closes with reduce-only MARKET orders in the executor; then waits up to `waitMs`
 * for the positions to be flat.
 * @returns lines to print, or null when no bot answers (the caller flattens standalone)
 */
export async function flattenThroughBot(config: Config, flags: { url?: string; symbol?: string; reason?: string }, waitMs = 15_000): Promise<string[] | null> {
  const addr = botAddress(config, flags);
  if (!(await botIsUp(addr))) return null;
  const r = await callBot(addr, 'POST', '/api/commands/flatten', { reason: flags.reason ?? 'perpbot flatten', by: cliIdentity(), ...(flags.symbol ? { symbol: flags.symbol } : {}) });
  const out = [`flatten sent to the running bot at ${addr.url} (command ${String(r.commandId)})`];
  const end = Date.now() + waitMs;
  for (;;) {
    const p = (await callBot(addr, 'GET', '/api/positions')).positions as Array<{ symbol: string; quantity: string }>;
    const left = p.filter((x) => !flags.symbol || x.symbol === flags.symbol);
    if (left.length === 0) {
      out.push(flags.symbol ? `${flags.symbol} is flat` : 'all positions are flat');
      return out;
    }
    if (Date.now() > end) {
      out.push(`still open after ${Math.round(waitMs / 1000)} s: ${left.map((x) => `${x.symbol} ${x.quantity}`).join(', ')}`);
      return out;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}

type SetExit = (code: number) => void;

function reportError(err: unknown, setExit: SetExit): void {
  process.stderr.write(`perpbot: ${scrub(errorMessage(err))}\n`);
  if (err instanceof NoBotError) setExit(3);
  else if (err instanceof ConfigError || (err instanceof PerpbotError && err.code.startsWith('CONFIG')) || (err instanceof BotAnswerError && err.status === 400)) setExit(2);
  else setExit(1);
}

interface ClientFlags {
  config?: string;
  url?: string;
  json?: boolean;
  reason?: string;
  symbol?: string;
}

const clientOptions = (cmd: Command) => cmd.option('--config <file>', 'JSON config file').option('--url <url>', 'the running bot\'s API (default http://<api.host>:<api.port>)');

/** Register the operator commands on the program (called from main.ts). */
export function registerOperatorCommands(program: Command, setExit: SetExit): void {
  const load = (flags: ClientFlags) => loadConfig({ file: flags.config });

  for (const [name, what] of [
    ['halt', 'halt trading in the running bot (HALTED: no order leaves)'],
    ['pause', 'pause entries in the running bot (REDUCING: only orders that shrink a position)'],
    ['resume', 'resume trading in the running bot (ACTIVE)'],
    ['kill', 'kill switch: halt the running bot, then flatten every position'],
  ] as const) {
    clientOptions(program.command(name).description(what).option('--reason <text>', 'why (recorded and alerted)').option('--json', 'print the answer as JSON')).action(async (flags: ClientFlags) => {
      try {
        const addr = botAddress(await load(flags), flags);
        const r = await callBot(addr, 'POST', `/api/commands/${name}`, { reason: flags.reason ?? `perpbot ${name}`, by: cliIdentity() });
        process.stdout.write(flags.json ? `${JSON.stringify(r)}\n` : `${name}: trading state ${String(r.state)} (command ${String(r.commandId)}; ${String(r.outcome)})\n`);
        setExit(0);
      } catch (err) {
        reportError(err, setExit);
      }
    });
  }

  clientOptions(program.command('cancel-orders').description("cancel perpbot's open orders in the running bot").option('--symbol <symbol>', 'only this symbol').option('--reason <text>', 'why')).action(async (flags: ClientFlags) => {
    try {
      const addr = botAddress(await load(flags), flags);
      const r = await callBot(addr, 'POST', '/api/commands/cancel-orders', { reason: flags.reason ?? 'perpbot cancel-orders', by: cliIdentity(), ...(flags.symbol ? { symbol: flags.symbol } : {}) });
      process.stdout.write(`cancel-orders sent (command ${String(r.commandId)})\n`);
      setExit(0);
    } catch (err) {
      reportError(err, setExit);
    }
  });

  clientOptions(program.command('positions').description("the running bot's positions").option('--json', 'print JSON')).action(async (flags: ClientFlags) => {
    try {
      const r = await callBot(botAddress(await load(flags), flags), 'GET', '/api/positions');
      const ps = r.positions as Array<Record<string, unknown>>;
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(r)}\n`
          : ps.length === 0
            ? 'no open positions\n'
            : `${table(['symbol', 'side', 'size', 'entry', 'mark', 'uPnL USDT', 'notional', 'lev', 'since'], ps.map((p) => [p.symbol as string, p.side as string, p.size as string, p.entryPrice as string, p.markPrice as string, p.unrealizedPnl as string, p.notional as string, p.leverage as number, iso(p.since)]))}\n`,
      );
      setExit(0);
    } catch (err) {
      reportError(err, setExit);
    }
  });

  clientOptions(program.command('orders').description("the running bot's open orders").option('--json', 'print JSON')).action(async (flags: ClientFlags) => {
    try {
      const r = await callBot(botAddress(await load(flags), flags), 'GET', '/api/orders/open');
      const os_ = r.orders as Array<Record<string, unknown>>;
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(r)}\n`
          : os_.length === 0
            ? 'no open orders\n'
            : `${table(['client order id', 'symbol', 'side', 'type', 'qty', 'price', 'reduce', 'strategy', 'created'], os_.map((o) => [o.clientOrderId as string, o.symbol as string, o.side as string, o.type as string, o.quantity as string, o.price as string, o.reduceOnly ? 'yes' : 'no', o.strategyId as string, iso(o.createdAt)]))}\n`,
      );
      setExit(0);
    } catch (err) {
      reportError(err, setExit);
    }
  });

  clientOptions(program.command('pnl').description("the running bot's balance, equity and PnL (USDT)").option('--json', 'print JSON')).action(async (flags: ClientFlags) => {
    try {
      const a = await callBot(botAddress(await load(flags), flags), 'GET', '/api/account');
      const rows: Array<[string, unknown]> = [
        ['wallet balance', a.walletBalance],
        ['equity', a.equity],
        ['unrealized PnL', a.unrealizedPnl],
        ['margin', a.margin],
        ['realized PnL today', a.realizedPnlToday],
        ['fees today', a.feesToday],
        ['net PnL today', a.netPnlToday],
        ['realized PnL all time', a.realizedPnlAllTime],
        ['fees all time', a.feesAllTime],
        ['net PnL all time', a.netPnlAllTime],
      ];
      process.stdout.write(flags.json ? `${JSON.stringify(a)}\n` : `${table(['', 'USDT'], rows.map(([k, v]) => [k, v as string]))}\n`);
      setExit(0);
    } catch (err) {
      reportError(err, setExit);
    }
  });

  program
    .command('dashboard')
    .description("serve a finished run's database read-only: the dashboard and the read API (commands refused)")
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file (default database/perpbot.sqlite)')
    .option('--run <id>', 'run id (default: the most recent)')
    .option('--port <port>', 'listen port (default api.port)')
    .action(async (flags: { config?: string; db?: string; run?: string; port?: string }) => {
      try {
        const config = await loadConfig({ file: flags.config, overrides: { db: flags.db, 'api.port': flags.port, 'log.file': 'false' } });
        const { createLogger } = await import('../logging/logger.ts');
        const h = await createLogger({ level: config.log.level, console: 'stderr', dir: null, rotateSize: config.log.rotateSize, keep: config.log.keep });
        try {
          await serveFinishedRun(config, h.logger, config.db, flags.run);
        } finally {
          await h.close();
        }
        setExit(0);
      } catch (err) {
        reportError(err, setExit);
      }
    });
}
