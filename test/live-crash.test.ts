/**
 * Crash-only recovery, end to end: the real CLI (`node bin/perpbot.js run --mode live`) in a child
 * process against the Binance-compatible simulator running in this process (paused, driven kline
 * by kline), killed with SIGKILL at bad moments and restarted with the same command:
 *
 *   1. right after an order was accepted, before its fill (the order fills while the bot is down);
 *   2. while an order's acknowledgement is still on its way (the exchange holds the order, the
 *      bot only its write-ahead intent; the order fills while the bot is down);
 *   3. right after an order was accepted, restarting before it fills (restored as open, then
 *      filled and recorded by the running bot);
 *   4. right after fills were delivered on the user-data stream.
 *
 * Each restart must reconcile (settle, insert the missed fills, follow the exchange's position),
 * go ACTIVE and trade on; the last run is stopped with SIGTERM (exit 0). Then: no client order id
 * reached the exchange twice, every order the exchange received is one the bot wrote down, the
 * database's fills are exactly the exchange's, the positions agree, and `perpbot recover --dry-run`
 * (child process) says database and exchange agree.
 *
 * Every REST request of the bot goes through a recording pass-through proxy in this process, so
 * the test sees each POST /fapi/v1/order the exchange received (also ones it refused).
 *
 * Not covered here: that a restart back-fills the klines that closed while the bot was down.
 * The paused simulator's data clock runs ahead of the wall clock (one minute per `advance`), so
 * to the restarted bot those klines lie in the future and its REST back-fill rightly treats them
 * as not closed yet (mapRestKlines `now`). Skewing the simulator's server clock to match would
 * need the bot to sign with its measured offset, which it does not (see live-faults.test.ts,
 * the -1021 it.fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { Decimal } from '../src/core/decimal.ts';
import { startSimulator, type SimFill, type Simulator } from '../src/exchange/simulator/server.ts';
import type { Heartbeat } from '../src/health/heartbeat.ts';

const BIN = projectPath('bin/perpbot.js');
const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, cond: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
};

/** A pass-through HTTP proxy to the simulator that records every order request. */
interface OrderProxy {
  url: string;
  /** newClientOrderId of every POST /fapi/v1/order received, in order. */
  orders: string[];
  /** Order requests not answered yet. */
  inFlight: number;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<OrderProxy> {
  const p: OrderProxy = { url: '', orders: [], inFlight: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      // orders, and conditional (algo) orders: the protective stops
      const isOrder = req.method === 'POST' && (u.pathname.endsWith('/fapi/v1/order') || u.pathname.endsWith('/fapi/v1/algoOrder'));
      if (isOrder) {
        const form = new URLSearchParams(body.toString());
        const id = u.searchParams.get('newClientOrderId') ?? form.get('newClientOrderId') ?? u.searchParams.get('clientAlgoId') ?? form.get('clientAlgoId') ?? '(none)';
        p.orders.push(id);
        p.inFlight++;
      }
      let counted = isOrder;
      const done = () => {
        if (counted) p.inFlight--;
        counted = false;
      };
      const up = request(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, connection: 'close' }, agent: false }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
        r.on('end', done);
        r.on('error', done);
      });
      up.on('error', () => {
        done();
        res.destroy();
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  p.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  p.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return p;
}

interface Bot {
  child: ChildProcess;
  pid: number;
  out: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Klines fed to this process so far (as counted by the test). */
  klines: number;
  /** Proxy order count when it started. */
  ordersAtStart: number;
}

const STRATEGIES = JSON.stringify([
  {
    id: 'vwap-adx',
    name: 'vwap-adx',
    symbols: [],
    // Trades nearly every kline once ADX(14) exists (checked with a replay of the same data).
    // The volatility guard is off: the simulator's data clock runs far ahead of the bot's wall
    // clock here, and the guard compares mark-price times with the wall clock.
    params: { bandK: 0.5, stopK: 1, adxMax: 100, minSessionKlines: 5, timeStopMinutes: 3, volGuardMaxMove: 1 },
  },
]);

describe('live mode: SIGKILL at bad moments and restart (the real CLI in a child process)', () => {
  const teardown: Array<() => Promise<void> | void> = [];
  let dir = '';
  let dbFile = '';
  let env: Record<string, string> = {};
  let sim: Simulator;
  let proxy: OrderProxy;
  let victim1 = '';
  let victim2 = '';
  let missed1: SimFill;
  let missed2: SimFill;
  let log2 = '';
  let log3 = '';
  let log4 = '';
  let log5 = '';
  let victim3: string[] = [];
  let restoredOpen: string[] = [];
  let exit5: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let finalHeartbeat: Heartbeat | null = null;
  const downKlines: number[] = [];
  const bots: Bot[] = [];
  let streamed = 0;
  let perRun: string[] = [];
  let elapsedMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'perpbot-crash-'));
    teardown.push(() => rmSync(dir, { recursive: true, force: true }));
    sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 120 });
    teardown.push(() => sim.close());
    proxy = await startProxy(sim.url);
    teardown.push(() => proxy.close());
    const admin = async (path: string, body: object) => {
      const r = await fetch(`${sim.url}/admin/${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect(r.status).toBe(200);
    };

    dbFile = join(dir, 'perpbot.sqlite');
    const hbFile = join(dir, 'status', 'heartbeat.json');
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      BINANCE_BASE_URL: proxy.url,
      BINANCE_WS_URL: sim.wsUrl,
      BINANCE_API_KEY: sim.apiKey,
      BINANCE_API_SECRET: sim.apiSecret,
      PERPBOT_DB: dbFile,
      PERPBOT_HEARTBEAT_FILE: hbFile,
      PERPBOT_HEARTBEAT_INTERVAL_MS: '50',
      PERPBOT_LOG_DIR: join(dir, 'logs'),
      PERPBOT_SYMBOLS: 'BTCUSDT',
      PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: '0',
      PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES: '0',
      PERPBOT_RISK_DAILY_LOSS_LIMIT: '0',
      PERPBOT_STRATEGIES: STRATEGIES,
      // No operator API here: it would bind 127.0.0.1:8080 and write a token under the project's status/.
      PERPBOT_API_ENABLED: 'false',
    };

    const heartbeat = (): Heartbeat | null => {
      try {
        return JSON.parse(readFileSync(hbFile, 'utf8')) as Heartbeat;
      } catch {
        return null;
      }
    };


    const startBot = async (): Promise<Bot> => {
      const child = spawn(process.execPath, [BIN, 'run', '--mode', 'live'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: string[] = [];
      child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => out.push(d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
      const bot: Bot = { child, pid: child.pid!, out, exited, klines: 0, ordersAtStart: proxy.orders.length };
      bots.push(bot);
      teardown.push(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      });
      // ACTIVE after start-up: the heartbeat says ACTIVE and the log says reconciliation is done
      // (the executor starts out ACTIVE for a moment before the start-up halt: see the last test)
      await until(
        `bot ${bot.pid} ACTIVE after start-up`,
        () => {
          const hb = heartbeat();
          return hb !== null && hb.pid === bot.pid && hb.risk.state === 'ACTIVE' && out.join('').includes('start-up complete: reconciled with the exchange');
        },
        30_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; output: ${out.join('').slice(-3000)}`);
      });
      await until('market and user streams subscribed', () => {
        const c = sim.state().connections;
        return c.streams.includes('btcusdt@kline_1m') && c.market >= 1 && c.user >= 1;
      });
      return bot;
    };

    const kill = async (bot: Bot) => {
      bot.child.kill('SIGKILL');
      const r = await bot.exited;
      expect(r.signal).toBe('SIGKILL');
      // the exchange notices the dead sockets
      await until('websockets of the killed bot closed', () => sim.state().connections.market === 0 && sim.state().connections.user === 0);
    };

    const hbOf = (bot: Bot) => {
      const hb = heartbeat();
      return hb !== null && hb.pid === bot.pid ? hb : null;
    };

    /**
     * Close one kline and wait for the bot: the kline counted in its heartbeat, a later heartbeat
     * (its decisions made), and every order it counted as submitted received and answered.
     * `stopWhen` is polled meanwhile; when it says so, the wait ends at once (to kill there).
     */
    const step = async (bot: Bot, stopWhen?: () => boolean): Promise<'settled' | 'stopped'> => {
      expect(sim.advance(1)).toBe(1);
      bot.klines++;
      let seenAt = 0;
      const end = Date.now() + 15_000;
      for (;;) {
        if (stopWhen?.()) return 'stopped';
        const hb = hbOf(bot);
        if (hb && seenAt === 0 && (hb.counters.klines ?? 0) >= bot.klines) seenAt = hb.timeMs;
        if (hb && seenAt > 0 && hb.timeMs >= seenAt + 40) {
          if (proxy.inFlight === 0 && proxy.orders.length - bot.ordersAtStart >= (hb.counters.ordersSubmitted ?? 0)) return 'settled';
        }
        if (Date.now() > end) throw new Error(`bot did not settle after kline ${bot.klines}: ${JSON.stringify(hb?.counters)} proxy ${proxy.orders.length - bot.ordersAtStart}`);
        await sleep(5);
      }
    };

    const fillOf = (clientOrderId: string) => sim.state().fills.find((f) => f.clientOrderId === clientOrderId);
    /** The bot's start-up reconciliation report, from its log (stdout; it may arrive after ACTIVE). */
    const reconciliationLog = async (bot: Bot) => {
      await until('the reconciliation report in the log', () => /reconciliation with the exchange|database and exchange agree/.test(bot.out.join('')));
      return bot.out.join('');
    };

    // ---- run 1: trade until an order is accepted, kill before its fill
    const b1 = await startBot();
    let r: 'settled' | 'stopped' = 'settled';
    let before = proxy.orders.length;
    for (let i = 0; i < 80 && r === 'settled'; i++) {
      before = proxy.orders.length;
      r = await step(b1, () => proxy.orders.length > before && proxy.inFlight === 0 && sim.state().openOrders.length > 0);
    }
    expect(r).toBe('stopped');
    victim1 = sim.state().openOrders[0]!.clientOrderId;
    await kill(b1);
    expect(fillOf(victim1)).toBeUndefined();
    sim.advance(3); // the order fills while the bot is down; klines go by
    downKlines.push(3);
    missed1 = fillOf(victim1)!;
    expect(missed1).toBeDefined();

    // ---- run 2: reconcile (settle + insert the missed fill), trade on, kill while an ack is pending
    const b2 = await startBot();
    log2 = await reconciliationLog(b2);
    await admin('order-ack-delay', { ms: 3_000 });
    before = proxy.orders.length;
    r = 'settled';
    for (let i = 0; i < 80 && r === 'settled'; i++) {
      before = proxy.orders.length;
      r = await step(b2, () => proxy.orders.length > before && proxy.inFlight > 0);
    }
    expect(r).toBe('stopped');
    victim2 = proxy.orders[proxy.orders.length - 1]!;
    await until('the exchange holds the order', () => sim.state().openOrders.some((o) => o.clientOrderId === victim2));
    await kill(b2); // its acknowledgement never reached the bot
    await admin('clear-faults', {});
    sim.advance(2);
    downKlines.push(2);
    missed2 = fillOf(victim2)!;
    expect(missed2).toBeDefined();

    // ---- run 3: reconcile, trade on, kill after an order was accepted; restart before it fills
    const b3 = await startBot();
    log3 = await reconciliationLog(b3);
    r = 'settled';
    for (let i = 0; i < 80 && r === 'settled'; i++) {
      before = proxy.orders.length;
      r = await step(b3, () => proxy.orders.length > before && proxy.inFlight === 0 && sim.state().openOrders.length > 0);
    }
    expect(r).toBe('stopped');
    victim3 = sim.state().openOrders.map((o) => o.clientOrderId);
    await kill(b3);

    // ---- run 4: the order is still open: restored as open (heartbeat), then it fills and the bot
    // records it; trade on, kill right after fills were sent on the user-data stream
    const b4 = await startBot();
    log4 = await reconciliationLog(b4);
    restoredOpen = heartbeat()!.openOrders.map((o) => o.clientOrderId);
    const victim3Fills = sim.state().fills.length;
    await step(b4);
    expect(sim.state().fills.length).toBeGreaterThan(victim3Fills); // the restored order filled, the bot running
    await until('the restored order is settled by the bot', () => !(hbOf(b4)?.openOrders ?? []).some((o) => victim3.includes(o.clientOrderId)));
    let fillsBefore = sim.state().fills.length;
    r = 'settled';
    for (let i = 0; i < 80 && r === 'settled'; i++) {
      fillsBefore = sim.state().fills.length;
      r = await step(b4, () => sim.state().fills.length > fillsBefore);
    }
    expect(r).toBe('stopped');
    await kill(b4);
    sim.advance(2);
    downKlines.push(2);

    // ---- run 5: reconcile, trade on for a while, stop cleanly
    const b5 = await startBot();
    log5 = await reconciliationLog(b5);
    const ordersBefore5 = proxy.orders.length;
    for (let i = 0; i < 90 && proxy.orders.length - ordersBefore5 < 6; i++) await step(b5);
    expect(proxy.orders.length - ordersBefore5).toBeGreaterThanOrEqual(6); // it traded after the restart
    // let any last order fill and reach the bot
    sim.advance(2);
    b5.klines += 2;
    await until('the bot saw the last klines', () => (hbOf(b5)?.counters.klines ?? 0) >= b5.klines);
    await sleep(300);
    b5.child.kill('SIGTERM');
    exit5 = await b5.exited;
    finalHeartbeat = heartbeat();

    streamed = bots.reduce((n, b) => n + b.klines, 0);
    perRun = bots.map((b, i) => `run ${i + 1}: ${b.klines} klines, ${(bots[i + 1]?.ordersAtStart ?? proxy.orders.length) - b.ordersAtStart} orders`);
    expect(bots).toHaveLength(5);
    elapsedMs = Date.now() - t0;
  }, 80_000);

  afterAll(async () => {
    for (const c of teardown.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning
      }
    }
  });

  const readDb = () => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return {
        orders: db.prepare('select client_order_id, status from orders').all() as Array<{ client_order_id: string; status: string }>,
        fills: db.prepare('select trade_id, order_id, price, quantity, commission from fills order by cast(trade_id as integer)').all() as Array<{ trade_id: string; order_id: string; price: string; quantity: string; commission: string }>,
        positions: db.prepare('select symbol, quantity, entry_price from positions order by symbol').all() as Array<{ symbol: string; quantity: string; entry_price: string }>,
        candles: (db.prepare("select open_time from candles_1m where symbol = 'BTCUSDT' order by open_time").all() as Array<{ open_time: number }>).map((c) => c.open_time),
      };
    } finally {
      db.close();
    }
  };

  it('each restart reconciled what happened while it was down: the order killed before its fill, the one killed before its acknowledgement, the one still open', () => {
    expect(log2).toContain(`settle order ${victim1} (BTCUSDT)`);
    expect(log2).toContain(`insert fill BTCUSDT trade ${missed1.tradeId}: ${missed1.side} ${missed1.quantity} @ ${missed1.price} (order ${victim1})`);
    expect(log3).toContain(`settle order ${victim2} (BTCUSDT)`);
    expect(log3).toContain(`insert fill BTCUSDT trade ${missed2.tradeId}: ${missed2.side} ${missed2.quantity} @ ${missed2.price} (order ${victim2})`);
    expect(log4).toMatch(/reconciliation with the exchange|database and exchange agree/);
    expect(log5).toMatch(/reconciliation with the exchange|database and exchange agree/);
    // the order left open across the third crash was restored as open at the fourth start
    expect(victim3.length).toBeGreaterThan(0);
    for (const id of victim3) expect(restoredOpen).toContain(id);
    // and the restarted bots went ACTIVE and traded on (each run placed orders)
    expect(proxy.orders.length).toBeGreaterThanOrEqual(9);
  });

  it('the last run stops on SIGTERM with exit code 0 and a heartbeat saying stopped', () => {
    expect(exit5).toEqual({ code: 0, signal: null });
    expect(finalHeartbeat?.status).toBe('stopped');
  });

  it('no client order id reached the exchange twice, and every order it received is one the bot wrote down', () => {
    expect(new Set(proxy.orders).size).toBe(proxy.orders.length);
    // (the proxy saw everything the exchange holds: every order with a fill or still open)
    const state = sim.state();
    for (const id of [...state.fills.map((f) => f.clientOrderId), ...state.openOrders.map((o) => o.clientOrderId)]) expect(proxy.orders).toContain(id);
    const { orders } = readDb();
    const intended = new Set(orders.map((o) => o.client_order_id));
    expect(proxy.orders.filter((id) => !intended.has(id))).toEqual([]);
    // ... and every order the bot recorded as sent reached the exchange
    const sent = orders.filter((o) => o.status !== 'DENIED').map((o) => o.client_order_id);
    expect(sent.filter((id) => !proxy.orders.includes(id))).toEqual([]);
  });

  it("the database's fills (trade id, order id, price, quantity, commission) are exactly the exchange's", () => {
    const state = sim.state();
    expect(state.fills.length).toBeGreaterThanOrEqual(6);
    const simFills = [...state.fills]
      .sort((a, b) => (BigInt(a.tradeId) < BigInt(b.tradeId) ? -1 : 1))
      .map((f) => ({ trade_id: f.tradeId, order_id: f.orderId, price: f.price, quantity: f.quantity, commission: f.commission }));
    expect(readDb().fills).toEqual(simFills);
  });

  it("the database's positions and open orders are the exchange's", () => {
    const state = sim.state();
    const { positions, orders } = readDb();
    const simPos = Object.fromEntries(state.positions.map((p) => [p.symbol, new Decimal(p.positionAmt)]));
    for (const p of positions) expect(new Decimal(p.quantity).eq(simPos[p.symbol] ?? 0), `${p.symbol}: database ${p.quantity}, exchange ${String(simPos[p.symbol])}`).toBe(true);
    for (const [s, q] of Object.entries(simPos)) if (!q.isZero()) expect(positions.some((p) => p.symbol === s)).toBe(true);
    const open = orders.filter((o) => o.status === 'PENDING_NEW' || o.status === 'NEW' || o.status === 'PARTIALLY_FILLED').map((o) => o.client_order_id).sort();
    // the exchange lists protective stops (algo orders) apart from the other open orders: when the
    // last run stopped holding a position, its stop is open on both sides
    const exchangeOpen = [...state.openOrders, ...state.openAlgoOrders].map((o) => o.clientOrderId).sort();
    expect(open, `exchange positions ${JSON.stringify(state.positions.map((p) => [p.symbol, p.positionAmt]))}`).toEqual(exchangeOpen);
  });

  it('perpbot recover --dry-run (child process, same environment) says database and exchange agree', async () => {
    // asynchronously: the simulator answering it lives in this process
    const rec = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [BIN, 'recover', '--dry-run'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
      let stdout = '';
      let stderr = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      c.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(rec.status, rec.stderr).toBe(0);
    expect(rec.stdout.split('\n')[0]).toBe('database and exchange agree: nothing to do');
    // eslint-disable-next-line no-console
    console.log(`crash test: ${proxy.orders.length} orders, ${sim.state().fills.length} fills, ${streamed} klines streamed to the bots, ${downKlines.reduce((a, b) => a + b, 0)} while down (${perRun.join('; ')}), ${elapsedMs} ms`);
  });

  // BUG (src/kernel/kernel.ts:198 `this.heartbeat?.start()` in the constructor, with
  // src/kernel/live.ts:432 publishing the "starting" halt only after Kernel.forSource returns): the
  // executor's risk engine starts ACTIVE (executor/risk.ts:167), the kernel writes the first heartbeat at once
  // with risk.state ACTIVE, and only then does the queued SetTradingState HALTED ("starting: waiting
  // for the exchange …") apply. Every live start therefore logs and alerts (Slack)
  // "trading ACTIVE → HALTED: starting …", and for a moment its heartbeat says ACTIVE before
  // anything is reconciled (this test's start-up wait was once fooled by it). README: "Trading
  // stays HALTED ("starting") while …". Should: a live kernel starts HALTED, so the first
  // heartbeat says halted/starting and no ACTIVE → HALTED transition is logged or alerted.
  it('a starting live bot is never ACTIVE before its reconciliation: no ACTIVE → HALTED "starting" transition at start', () => {
    const transitions = bots.flatMap((b) =>
      b.out
        .join('')
        .split('\n')
        .filter((l) => l.includes('"msg":"trading state changed"'))
        .map((l) => JSON.parse(l) as { previous: string; state: string; reason: string }),
    );
    expect(transitions.length).toBeGreaterThanOrEqual(bots.length); // each start went ACTIVE once
    expect(transitions.filter((t) => t.previous === 'ACTIVE' && t.state === 'HALTED' && t.reason.startsWith('starting'))).toEqual([]);
  });
});
