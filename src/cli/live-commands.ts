/**
 * The CLI's live-trading commands: `perpbot recover [--dry-run]` (reconcile the database with the
 * exchange and apply the differences) and `perpbot flatten --yes [--all]` (close perpbot's
 * positions, or with `--all` every position of the account, with reduce-only market orders).
 * Both use the same connector, reconciliation and database writer as the bot; neither runs while
 * a bot of the same account is alive (its heartbeat is fresh). Both leave the account run's
 * status as they found it (they record into the run; they do not start or end it), and flatten
 * ends with the same reconciliation `recover` applies, so afterwards `recover --dry-run` finds
 * nothing.
 */
import { USDMClient } from 'binance';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { WallClock } from '../core/clock.ts';
import { Decimal, str } from '../core/decimal.ts';
import { PerpbotError, errorMessage } from '../core/errors.ts';
import type { OrderIntent, Side, Symbol } from '../core/types.ts';
import { readHeartbeatFile } from '../health/heartbeat.ts';
import { buildUsdmClientOptions } from '../exchange/binance/client-options.ts';
import { BinanceVenue } from '../exchange/binance/venue.ts';
import { accountRunId, connectionSettings, fetchExchangeState, loadLocalState, positionDetails, restPort, serverTime } from '../kernel/live.ts';
import { measureClockOffset } from '../exchange/binance/clock-sync.ts';
import { formatReconciliation, reconcile, reconciliationEvents, type Reconciliation } from '../../executor/reconcile.ts';
import { isPerpbotClientOrderId } from '../../executor/client-order-id.ts';
import { perpbotSymbols } from '../../database/queries.ts';
import { openDatabase, type Db } from '../../database/client.ts';
import { RecordWriter } from '../../database/writer.ts';
import { replayIntentJournal } from '../../database/intent-journal.ts';

/** Refuse to act while the bot of this account runs: two writers of one account would race. */
function refuseIfBotAlive(config: Config, runId: string): void {
  try {
    const hb = readHeartbeatFile(config.heartbeat.file);
    const fresh = Date.now() - hb.timeMs <= config.heartbeat.staleAfterMs;
    if (fresh && hb.runId === runId && hb.status !== 'stopped') {
      throw new PerpbotError('CONFIG_INVALID', `the bot of ${runId} is running (pid ${hb.pid}, heartbeat ${config.heartbeat.file}): stop it first`);
    }
  } catch (err) {
    if (err instanceof PerpbotError) throw err;
    // no heartbeat: nothing runs
  }
}

interface Connected {
  venue: BinanceVenue;
  db: Db;
  runId: string;
  clock: WallClock;
}

/**
 * Connect to the account: measure the clock offset first (signed requests more than 1 s ahead of
 * Binance's clock are refused with -1021, which must not stop an emergency flatten), and let the
 * venue re-measure it after a -1021.
 * @throws ConfigError without keys; VenueError / network errors when Binance cannot be reached
 */
async function connect(config: Config, log: Logger, env: Record<string, string | undefined>): Promise<Connected> {
  const settings = connectionSettings(config, 'live', env);
  const { restOptions, requestOptions } = buildUsdmClientOptions(settings);
  const rest = new USDMClient(restOptions, requestOptions);
  const clock = new WallClock(0);
  const runId = accountRunId('live', settings);
  refuseIfBotAlive(config, runId);
  const syncClock = async () => {
    const off = await measureClockOffset(() => serverTime(rest), () => Date.now(), { samples: 3 });
    clock.offsetMs = off.offsetMs;
    rest.setTimeOffset(off.offsetMs);
  };
  await syncClock();
  const venue = new BinanceVenue({
    rest: restPort(rest),
    clock,
    log: log.child({ component: 'venue' }),
    attempts: config.live.orderAttempts,
    resyncClock: syncClock,
    recvWindowMs: config.binance.recvWindowMs,
  });
  const db = openDatabase(config.db);
  replayIntentJournal(config.db, db, log); // intents a crashed bot journaled and did not record
  return { venue, db, runId, clock };
}

/**
 * Reconcile the database of the connected account with the exchange; unless `dryRun`, record the
 * differences (through a RecordWriter on the same connection, into the account's run, whose
 * status is left as it was).
 */
async function reconcileAccount(config: Config, c: Connected, dryRun: boolean): Promise<{ result: Reconciliation; text: string; applied: number }> {
  const { local, oldestOpen } = loadLocalState(c.db, c.runId);
  const since = Math.min(oldestOpen ?? Infinity, c.clock.now() - 7 * 86_400_000);
  const { state, entryPrices, positionTimes } = await fetchExchangeState(c.venue, local, config.symbols, since);
  const result = reconcile(local, state);
  const text = formatReconciliation(result);
  const changes = result.actions.filter((a) => a.kind !== 'foreign').length;
  if (dryRun || result.actions.length === 0) return { result, text, applied: 0 };
  const writer = new RecordWriter(c.db, c.runId);
  writer.ensureRun({ id: c.runId, mode: 'live', startedAt: c.clock.now(), configJson: '{}' });
  for (const e of reconciliationEvents(result, c.clock.now(), positionDetails(c.db, c.runId, entryPrices, positionTimes))) {
    if (e.type === 'PositionChanged') writer.position(e);
    else writer.orderEvent(e);
  }
  writer.flush();
  return { result, text, applied: changes };
}

/**
 * Compare the database with the exchange; print every difference; unless `dryRun`, apply them
 * (adopt, settle, insert missing fills — a person's trades as external —, follow the exchange's
 * positions, record open orders that are not perpbot's as external).
 * @returns the reconciliation and the printed text
 */
export async function recover(config: Config, log: Logger, opts: { dryRun: boolean; env?: Record<string, string | undefined> }): Promise<{ result: Reconciliation; text: string }> {
  const c = await connect(config, log, opts.env ?? process.env);
  try {
    const r = await reconcileAccount(config, c, opts.dryRun);
    let text = r.text;
    if (opts.dryRun) text += '\n(dry run: nothing changed)';
    else if (r.applied > 0) text += `\napplied ${r.applied} change(s) to ${config.db}`;
    return { result: r.result, text };
  } finally {
    c.db.close();
  }
}

/**
 * The symbols `perpbot flatten` closes without `--all`: perpbot's symbols, i.e. the configured
 * `symbols` plus every symbol perpbot has placed an order on in this account's run (orders in the
 * database that are not external and were not merely denied). A position on any other symbol is
 * someone else's and is left alone.
 */
export function flattenScope(config: Config, db: Db, runId: string): Set<Symbol> {
  return new Set<Symbol>([...config.symbols, ...perpbotSymbols(db, runId)]);
}

/**
 * Close positions with reduce-only MARKET orders, after canceling perpbot's open orders on those
 * symbols. Without `all`, only perpbot's symbols ({@link flattenScope}); with `all`, every
 * position of the account. Each order is written ahead and recorded; then the database is
 * reconciled with the exchange (fills, positions), as `perpbot recover` would.
 * @returns one line per action
 */
export async function flatten(config: Config, log: Logger, env: Record<string, string | undefined> = process.env, opts: { all?: boolean } = {}): Promise<string[]> {
  const c = await connect(config, log, env);
  const out: string[] = [];
  const writer = new RecordWriter(c.db, c.runId);
  writer.ensureRun({ id: c.runId, mode: 'live', startedAt: c.clock.now(), configJson: '{}' });
  c.venue.onEvent((e) => {
    if (e.type === 'PositionChanged') writer.position(e);
    else writer.orderEvent(e);
  });
  try {
    const scope = flattenScope(config, c.db, c.runId);
    const held = (await c.venue.positions()).filter((p) => !new Decimal(p.quantity).isZero());
    const positions = opts.all ? held : held.filter((p) => scope.has(p.symbol));
    for (const p of held) if (!positions.includes(p)) out.push(`left ${p.symbol} ${p.quantity}: not a perpbot symbol (flatten --all closes it)`);
    if (positions.length === 0) {
      out.push(held.length === 0 ? 'no open positions' : 'no open positions on perpbot symbols');
      return out;
    }
    const open = await c.venue.openOrders();
    for (const o of open) {
      if (isPerpbotClientOrderId(o.clientOrderId) && positions.some((p) => p.symbol === o.symbol)) {
        await c.venue.cancel(o.symbol, o.clientOrderId);
        out.push(`canceled ${o.clientOrderId} (${o.symbol} ${o.side} ${o.quantity})`);
      }
    }
    const stamp = c.clock.now().toString(36);
    for (const p of positions) {
      const q = new Decimal(p.quantity);
      const side: Side = q.isPositive() ? 'SELL' : 'BUY';
      const intent: OrderIntent = {
        clientOrderId: `pb-flat-${stamp}-${p.symbol}`.slice(0, 36),
        symbol: p.symbol as Symbol,
        side,
        type: 'MARKET',
        quantity: str(q.abs()),
        reduceOnly: true,
        strategyId: 'operator',
        refPrice: p.entryPrice,
        createdAt: c.clock.now(),
      };
      writer.writeIntentNow(intent);
      try {
        const r = await c.venue.submit(intent);
        out.push(r.accepted ? `closing ${p.symbol} ${p.quantity}: ${side} ${intent.quantity} reduce-only MARKET, order ${r.orderId}` : `closing ${p.symbol} refused: ${r.reason}`);
      } catch (err) {
        out.push(`closing ${p.symbol}: outcome unknown (${errorMessage(err)}); run perpbot recover`);
      }
    }
    // Wait (briefly) for the positions to be flat as the exchange sees them.
    const closing = new Set(positions.map((p) => p.symbol));
    for (let i = 0; i < 20; i++) {
      const left = (await c.venue.positions()).filter((p) => closing.has(p.symbol) && !new Decimal(p.quantity).isZero());
      if (left.length === 0) {
        out.push(opts.all ? 'all positions are flat' : `flat: ${[...closing].join(', ')}`);
        await c.venue.poll().catch((err: unknown) => out.push(`recording the fills failed (${errorMessage(err)}); run perpbot recover`));
        break;
      }
      if (i === 19) out.push(`still open after waiting: ${left.map((p) => `${p.symbol} ${p.quantity}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // The database takes the exchange's truth (fills, positions) exactly as recover would apply it.
    writer.flush();
    const r = await reconcileAccount(config, c, false);
    if (r.applied > 0) out.push(`reconciled: ${r.text.split('\n').join('; ')}`);
    return out;
  } finally {
    writer.flush();
    c.db.close();
  }
}
