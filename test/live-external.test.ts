/**
 * External activity and book-keeping (issue #7 items 3 and 5), end to end: the real `binance`
 * library against perpbot's simulator on 127.0.0.1, a real SQLite file.
 *
 * A person trades on the bot's account while it runs — directly on the simulator through the
 * real USDMClient, with a client order id that is not perpbot's: on BTCUSDT (a perpbot symbol)
 * and on ETHUSDT (not one). Their orders and fills are recorded as external, attributed to no
 * strategy, counted in the heartbeat, and change no strategy figure; positions follow the
 * exchange. Then `flatten` closes perpbot's symbols only, `flatten --all` the rest, and after
 * each, and after `recover`, `recover --dry-run` finds nothing; neither changes the run's status.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { USDMClient } from 'binance';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { buildUsdmClientOptions } from '../src/exchange/binance/client-options.ts';
import { startLive, type RunningLiveBot } from '../src/kernel/live.ts';
import { flatten, recover } from '../src/cli/live-commands.ts';
import { openDatabase } from '../database/client.ts';
import { riskDayOf } from '../database/queries.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const ETH = projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));

const until = async (what: string, cond: () => boolean, ms = 20_000) => {
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

describe('external activity on the same account', () => {
  it("a person's manual trades are recorded as external and change no strategy figure; flatten closes perpbot's symbols only, --all the rest; recover and flatten agree and keep the run's status", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-ext-'));
    const sim: Simulator = await startSimulator({ data: [`BTCUSDT=${BTC}`, `ETHUSDT=${ETH}`], paused: true, history: 120 });
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
        strategies: [{ id: 'vwap-adx', name: 'vwap-adx', params: { allowLong: false, allowShort: false } }],
      },
    });
    const env = { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret };
    const bot: RunningLiveBot = await startLive(config, silentLogger(), RULES, ['BTCUSDT'], env);
    let running = true;
    cleanup.push(async () => {
      if (!running) return;
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
    });
    await bot.ready;
    await until('trading ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
    await until('market frames', () => {
      sim.step(1);
      return bot.kernel.source.health().BTCUSDT!.messages > 0;
    });
    await until('the user stream', () => (bot.kernel.healthSnapshot().counters as Record<string, number>).userStreamUp === 1);

    // perpbot's own order: BUY 0.003 BTCUSDT (an operator order, pb-op-…)
    sim.advance(2);
    bot.kernel.publish('order.request', {
      type: 'SubmitOrder',
      ts: Date.now(),
      intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.003', reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice('BTCUSDT') },
    });
    await until('perpbot order open on the exchange', () => sim.state().openOrders.length === 1);
    sim.advance(1);
    await until('perpbot fill and position', () => bot.kernel.executor.stats.fills === 1 && bot.kernel.executor.positionSnapshot().BTCUSDT === '0.003');
    const ownTotals = bot.kernel.executor.totals();
    const ownTrips = bot.kernel.executor.stats.roundTrips;

    // A person on the same account, through the real binance library, with their own ids.
    const { restOptions, requestOptions } = buildUsdmClientOptions({ env: 'testnet', baseUrl: sim.url, wsUrl: sim.wsUrl, apiKey: sim.apiKey, apiSecret: sim.apiSecret });
    const person = new USDMClient(restOptions, requestOptions);
    await person.submitNewOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: 0.001, newClientOrderId: 'manual-btc-1' });
    await person.submitNewOrder({ symbol: 'ETHUSDT', side: 'BUY', type: 'MARKET', quantity: 0.02, newClientOrderId: 'manual-eth-1' });
    sim.advance(1);
    await until('both external fills seen by the bot', () => bot.kernel.executor.stats.externalFills === 2);
    await until('positions follow the exchange', () => {
      const p = bot.kernel.executor.positionSnapshot();
      return p.BTCUSDT === '0.002' && p.ETHUSDT === '0.02';
    });
    // no strategy figure moved
    expect(bot.kernel.executor.stats.fills).toBe(1);
    expect(bot.kernel.executor.totals()).toEqual(ownTotals);
    expect(bot.kernel.executor.stats.roundTrips).toBe(ownTrips);
    expect(bot.kernel.executor.tradingState().state).toBe('ACTIVE');
    expect(bot.kernel.executor.stats.externalOrders).toBe(2);
    // and the symbol is not held up: fills and positions matched
    bot.kernel.heartbeat!.write();
    const hb = JSON.parse(readFileSync(config.heartbeat.file, 'utf8')) as { counters: Record<string, number> };
    expect(hb.counters.externalFills).toBe(2);
    expect(hb.counters.externalOrders).toBe(2);
    expect(hb.counters.fills).toBe(1);

    await bot.stop();
    await bot.kernel.close(null, 'stopped');
    running = false;

    const runStatus = () => {
      const db = new Database(config.db, { readonly: true });
      try {
        return db.prepare('select status, ended_at from runs').get() as { status: string; ended_at: number };
      } finally {
        db.close();
      }
    };
    const before = runStatus();
    expect(before.status).toBe('stopped');
    {
      const db = new Database(config.db, { readonly: true });
      const ext = db.prepare("select client_order_id, strategy_id, symbol, side, type, quantity, status, executed_qty from orders where external = 1 order by client_order_id").all();
      expect(ext).toEqual([
        { client_order_id: 'manual-btc-1', strategy_id: 'external', symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.001', status: 'FILLED', executed_qty: '0.001' },
        { client_order_id: 'manual-eth-1', strategy_id: 'external', symbol: 'ETHUSDT', side: 'BUY', type: 'MARKET', quantity: '0.02', status: 'FILLED', executed_qty: '0.02' },
      ]);
      expect(db.prepare('select client_order_id, external from fills order by client_order_id').all()).toEqual([
        { client_order_id: 'manual-btc-1', external: 1 },
        { client_order_id: 'manual-eth-1', external: 1 },
        { client_order_id: expect.stringMatching(/^pb-op-/), external: 0 },
      ]);
      db.close();
      // the risk-day restore sees perpbot's fill only
      const rdb = openDatabase(config.db);
      const runId = (rdb.sqlite.prepare('select id from runs').get() as { id: string }).id;
      const day = riskDayOf(rdb, runId, Date.now());
      rdb.close();
      expect(day.opened).toEqual({ BTCUSDT: '0.003' });
      expect(Object.keys(day.strategyPnl)).toEqual(['operator']);
    }

    // nothing to reconcile: the bot recorded everything as it happened
    const dry0 = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry0.text.split('\n')[0]).toBe('database and exchange agree: nothing to do');

    // flatten without --all: BTCUSDT (perpbot's) closed, ETHUSDT (never traded by perpbot) left
    const flattening = flatten(config, silentLogger(), env);
    await until('the closing order', () => sim.state().openOrders.length === 1);
    expect(sim.state().openOrders[0]).toMatchObject({ symbol: 'BTCUSDT', side: 'SELL', reduceOnly: true, quantity: '0.002' });
    sim.advance(1);
    const lines = await flattening;
    expect(lines).toContain('left ETHUSDT 0.02: not a perpbot symbol (flatten --all closes it)');
    expect(lines).toContain('flat: BTCUSDT');
    const dry1 = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry1.text.split('\n')[0]).toBe('database and exchange agree: nothing to do');
    expect(runStatus()).toEqual(before);

    // flatten --all closes the person's ETHUSDT too
    const all = flatten(config, silentLogger(), env, { all: true });
    await until('the closing order', () => sim.state().openOrders.length === 1);
    expect(sim.state().openOrders[0]).toMatchObject({ symbol: 'ETHUSDT', side: 'SELL', reduceOnly: true, quantity: '0.02' });
    sim.advance(1);
    expect(await all).toContain('all positions are flat');
    const dry2 = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry2.text.split('\n')[0]).toBe('database and exchange agree: nothing to do');
    expect(runStatus()).toEqual(before);

    // Two clocks: a stored position row stamped later than anything the exchange reports (an
    // exchange event time ahead of our wall clock) still takes the exchange's truth on recover.
    const w = new Database(config.db);
    w.prepare("update positions set quantity = '-0.39', updated_at = ? where symbol = 'ETHUSDT'").run(Date.now() + 86_400_000);
    w.close();
    const dry3 = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry3.text.split('\n')[0]).toBe('position ETHUSDT: database -0.39 → exchange 0');
    const applied = await recover(config, silentLogger(), { dryRun: false, env });
    expect(applied.text).toMatch(/applied 1 change\(s\)/);
    const dry4 = await recover(config, silentLogger(), { dryRun: true, env });
    expect(dry4.text.split('\n')[0]).toBe('database and exchange agree: nothing to do');
    expect(runStatus()).toEqual(before);
  });
});
