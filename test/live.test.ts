/**
 * Live mode end to end: the real `binance` library (REST + websockets) against perpbot's
 * Binance-compatible simulator on 127.0.0.1, a real SQLite file in a temp folder, real data.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { startLive, type RunningLiveBot } from '../src/kernel/live.ts';
import { flatten, recover } from '../src/cli/live-commands.ts';
import { USDMClient } from 'binance';
import { WallClock } from '../src/core/clock.ts';
import { buildUsdmClientOptions } from '../src/exchange/binance/client-options.ts';
import { RateLimitTracker } from '../src/exchange/binance/retry.ts';
import { restPort } from '../src/kernel/live.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));

const until = async (what: string, cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'perpbot-live-'));
  const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 120 });
  cleanup.push(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = loadConfig({
    env: { BINANCE_BASE_URL: sim.url, BINANCE_WS_URL: sim.wsUrl },
    dotenvFile: null,
    overrides: {
      db: join(dir, 'live.sqlite'),
      'heartbeat.file': join(dir, 'heartbeat.json'),
      'log.file': 'false',
      symbols: ['BTCUSDT'],
      'risk.fundingBlackoutMinutes': '0',
      // these tests place their own orders: the strategy watches but never enters
      strategies: [{ id: 'vwap-adx', name: 'vwap-adx', params: { allowLong: false, allowShort: false } }],
    },
  });
  const bot: RunningLiveBot = await startLive(config, silentLogger(), RULES, ['BTCUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret });
  cleanup.push(async () => {
    await bot.stop();
    await bot.kernel.close(null, 'stopped');
  });
  return { sim, bot, config, dir };
}

/** Step the simulator until the bot's market stream delivers frames (its subscription is registered). */
async function streaming(sim: Simulator, bot: RunningLiveBot): Promise<void> {
  await until('market frames', () => {
    sim.step(1);
    return bot.kernel.source.health().BTCUSDT!.messages > 0;
  });
}

/** A bot that opens a position with an operator MARKET order, records its fill, and stops. */
async function positionThenStop(side: 'BUY' | 'SELL', quantity: string) {
  const { sim, bot, config } = await setup();
  await bot.ready;
  await streaming(sim, bot);
  sim.advance(2);
  bot.kernel.publish('order.request', {
    type: 'SubmitOrder',
    ts: Date.now(),
    intent: { symbol: 'BTCUSDT', side, type: 'MARKET', quantity, reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice('BTCUSDT') },
  });
  await until('order open on the exchange', () => sim.state().openOrders.length === 1);
  const clientOrderId = sim.state().openOrders[0]!.clientOrderId;
  sim.advance(1);
  await until('fill recorded', () => bot.kernel.executor.stats.fills === 1);
  await bot.stop();
  await bot.kernel.close(null, 'stopped');
  cleanup.pop();
  return { sim, config, clientOrderId };
}

describe('live mode against the simulator', () => {
  it('starts up (clock, filters, account, reconciliation), goes ACTIVE, and an order round-trips to a recorded fill equal to the exchange\'s', async () => {
    const { sim, bot, config } = await setup();
    await bot.ready;
    await until('trading ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
    expect(bot.kernel.executor.currentEquity()).toBe('10000'); // the simulator's wallet balance
    await streaming(sim, bot);
    // market data flows: closed klines reach the bot
    sim.advance(3);
    await until('3 klines', () => bot.kernel.source.health().BTCUSDT!.lastEventTime !== null);

    bot.kernel.publish('order.request', {
      type: 'SubmitOrder',
      ts: Date.now(),
      intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.002', reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice('BTCUSDT') },
    });
    await until('order accepted', () => sim.state().openOrders.length === 1 || sim.state().fills.length === 1);
    sim.advance(1); // the next kline fills the market order
    await until('fill recorded by the bot', () => bot.kernel.executor.stats.fills === 1);
    await until('position', () => bot.kernel.executor.positionSnapshot().BTCUSDT === '0.002');
    bot.kernel.heartbeat!.write();
    const hb = JSON.parse(readFileSync(config.heartbeat.file, 'utf8')) as { counters: Record<string, number>; clockOffsetMs: number | null; positions: Record<string, string> };
    expect(hb.counters.venueOrdersSent).toBe(1);
    expect(hb.counters.userStreamUp).toBe(1);
    // The weight of the current minute (0 right after a minute boundary); the REST calls made so far are counted.
    expect(hb.counters.rateLimitWeight1m).toBeGreaterThanOrEqual(0);
    expect(hb.counters.restCalls).toBeGreaterThan(0);
    expect(typeof hb.clockOffsetMs).toBe('number');
    expect(hb.positions).toEqual({ BTCUSDT: '0.002' });

    await bot.stop();
    await bot.kernel.close(null, 'stopped');
    cleanup.pop();
    const db = new Database(config.db, { readonly: true });
    try {
      const simFill = sim.state().fills[0]!;
      const fills = db.prepare('select trade_id, order_id, price, quantity, commission from fills').all();
      expect(fills).toEqual([{ trade_id: simFill.tradeId, order_id: simFill.orderId, price: simFill.price, quantity: simFill.quantity, commission: simFill.commission }]);
      const orders = db.prepare('select status, executed_qty, order_id from orders').all();
      expect(orders).toEqual([{ status: 'FILLED', executed_qty: '0.002', order_id: simFill.orderId }]);
      const run = db.prepare('select id, mode, status from runs').get();
      expect(run).toMatchObject({ mode: 'live', status: 'stopped' });
    } finally {
      db.close();
    }
  });

  it('recover --dry-run prints an induced divergence exactly; recover applies it; then database and exchange agree', async () => {
    const { sim, config, clientOrderId } = await positionThenStop('BUY', '0.003');

    // A crash lost the fill: the database still thinks the order is NEW and the account flat.
    const w = new Database(config.db);
    w.prepare("update orders set status = 'NEW', executed_qty = '0', cum_quote = '0', avg_price = null").run();
    w.prepare('delete from fills').run();
    w.prepare("update positions set quantity = '0', entry_price = '0'").run();
    w.close();

    const f = sim.state().fills[0]!;
    const env = { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret };
    const dry = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry.text.split('\n')).toEqual([
      `settle order ${clientOrderId} (BTCUSDT): database NEW → exchange FILLED, executed 0.003`,
      `insert fill BTCUSDT trade ${f.tradeId}: BUY 0.003 @ ${f.price} (order ${clientOrderId})`,
      'position BTCUSDT: database 0 → exchange 0.003',
      '(dry run: nothing changed)',
    ]);
    const applied = await recover(config, silentLogger(), { dryRun: false, env });
    expect(applied.text).toMatch(/applied 3 change\(s\)/);
    const again = await recover(config, silentLogger(), { dryRun: true, env });
    expect(again.text.split('\n')[0]).toBe('database and exchange agree: nothing to do');
    const db = new Database(config.db, { readonly: true });
    expect(db.prepare('select status, executed_qty from orders').get()).toEqual({ status: 'FILLED', executed_qty: '0.003' });
    expect(db.prepare('select trade_id, price from fills').get()).toEqual({ trade_id: f.tradeId, price: f.price });
    db.close();
  });

  it('flatten --yes closes the position with a reduce-only MARKET order and records it, even with the server clock 3 s behind ours (-1021 unless the offset is measured)', async () => {
    const { sim, config } = await positionThenStop('SELL', '0.004');

    const skew = await fetch(`${sim.url}/admin/clock-skew`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ms: -3_000 }) });
    expect(skew.ok).toBe(true);
    const env = { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret };
    const flattening = flatten(config, silentLogger(), env);
    await until('the closing order on the exchange', () => sim.state().openOrders.length === 1);
    expect(sim.state().openOrders[0]).toMatchObject({ side: 'BUY', reduceOnly: true, quantity: '0.004' });
    sim.advance(1);
    const lines = await flattening;
    expect(lines[0]).toMatch(/^closing BTCUSDT -0\.004: BUY 0\.004 reduce-only MARKET, order \d+$/);
    expect(lines).toContain('flat: BTCUSDT');
    const db = new Database(config.db, { readonly: true });
    try {
      const orders = db.prepare("select side, reduce_only, status, executed_qty from orders where client_order_id like 'pb-flat-%'").all();
      expect(orders).toEqual([{ side: 'BUY', reduce_only: 1, status: 'FILLED', executed_qty: '0.004' }]);
      expect(db.prepare('select count(*) as n from fills').get()).toEqual({ n: 2 });
    } finally {
      db.close();
    }
  });

  it('the REST port feeds the request weight Binance reports (X-MBX-USED-WEIGHT-1M) into the rate-limit tracker', async () => {
    const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 10 });
    cleanup.push(() => sim.close());
    const { restOptions, requestOptions } = buildUsdmClientOptions({ env: 'testnet', baseUrl: sim.url, wsUrl: sim.wsUrl, apiKey: sim.apiKey, apiSecret: sim.apiSecret });
    const tracker = new RateLimitTracker(new WallClock());
    const port = restPort(new USDMClient(restOptions, requestOptions), tracker);
    expect(tracker.snapshot().weight1m).toBe(0);
    await port.getAllOpenOrders(); // weight 40 without a symbol on Binance
    await port.getPositionsV3();
    const used = tracker.snapshot().weight1m;
    expect(used).toBeGreaterThanOrEqual(40);
  });
});

describe('live start-up that cannot succeed', () => {
  it('a symbol the exchange does not list: no crash, trading stays HALTED with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-live-'));
    const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 10 });
    const config = loadConfig({
      env: { BINANCE_BASE_URL: sim.url, BINANCE_WS_URL: sim.wsUrl },
      dotenvFile: null,
      overrides: { db: join(dir, 'x.sqlite'), 'heartbeat.file': join(dir, 'hb.json'), 'log.file': 'false', symbols: ['NOPEUSDT'] },
    });
    const bot = await startLive(config, silentLogger(), RULES, ['NOPEUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret });
    cleanup.push(async () => {
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await bot.ready;
    await until('the halt applied', () => bot.kernel.executor.tradingState().reason.startsWith('start-up failed'));
    const st = bot.kernel.executor.tradingState();
    expect(st.state).toBe('HALTED');
    expect(st.reason).toMatch(/^start-up failed: .*NOPEUSDT/);
  });
});

describe('start-up warm-up window', () => {
  it('starts at the UTC session start, or warmupMinutes back when the session is younger', async () => {
    const { warmupStart } = await import('../src/kernel/live.ts');
    const day = Date.UTC(2025, 6, 7);
    expect(warmupStart(day + 14 * 3_600_000 + 30_500, 60)).toBe(day); // 14:00:30 → 00:00
    expect(warmupStart(day + 10 * 60_000 + 30_500, 60)).toBe(day + 10 * 60_000 - 60 * 60_000); // 00:10:30 → 23:10 the day before
    expect(warmupStart(day + 10 * 60_000, 0)).toBe(day);
  });
});
