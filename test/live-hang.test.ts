/**
 * The executor never waits on the network (issue #7 item 1), end to end: the live bot (real
 * `binance` library, real SQLite) against the simulator, whose `POST /admin/rest-hang` (limited to
 * `POST /fapi/v1/order`: the bot's other REST calls, such as a back-fill after the paused
 * simulator's silent market stream was replaced, must not take the hang) makes the BTCUSDT
 * order's POST never answer (the library times out after
 * 10 s, then the venue queries the order). While that submit hangs, an ETHUSDT order is placed,
 * filled and its fill and position handled, and an operator HALT applies. Elapsed times are
 * printed, not asserted (no timed asserts in tests); the test asserts that all of it happened
 * while the BTCUSDT submit had not returned.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import type { OrderIntent } from '../src/core/types.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';
import { startLive, type RunningLiveBot } from '../src/kernel/live.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const ETH = projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));

const until = async (what: string, cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('live: a hanging order POST holds up nothing else', () => {
  it('while the BTCUSDT submit hangs (simulator rest-hang), an ETHUSDT order leaves and fills, its fill and position are handled, and HALT applies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-hang-'));
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
        symbols: ['BTCUSDT', 'ETHUSDT'],
        'risk.fundingBlackoutMinutes': '0',
        strategies: [{ id: 'vwap-adx', name: 'vwap-adx', params: { allowLong: false, allowShort: false } }],
      },
    });
    const bot: RunningLiveBot = await startLive(config, silentLogger(), RULES, ['BTCUSDT', 'ETHUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret });
    cleanup.push(async () => {
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
    });
    await bot.ready;
    await until('trading ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
    await until('market frames', () => {
      sim.step(1);
      return bot.kernel.source.health().BTCUSDT!.messages > 0;
    });
    sim.advance(2);

    // Watch the venue's submits (the executor calls this very object).
    const pending = new Set<string>();
    const venue = bot.venue as unknown as { submit(i: OrderIntent): Promise<unknown> };
    const submit = venue.submit.bind(bot.venue);
    venue.submit = (i) => {
      pending.add(i.clientOrderId);
      return submit(i).finally(() => pending.delete(i.clientOrderId));
    };

    const hang = await fetch(`${sim.url}/admin/rest-hang`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 1, request: 'POST /fapi/v1/order' }) });
    expect(hang.ok).toBe(true);
    const order = (symbol: string, quantity: string) =>
      bot.kernel.publish('order.request', {
        type: 'SubmitOrder',
        ts: Date.now(),
        intent: { symbol, side: 'BUY', type: 'MARKET', quantity, reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice(symbol) },
      });
    order('BTCUSDT', '0.002');
    await until('the BTCUSDT submit under way', () => pending.size === 1);
    const btcId = [...pending][0]!;
    const hangStart = performance.now();

    // Another symbol's order leaves and fills; its fill and position are handled.
    order('ETHUSDT', '0.01');
    await until('the ETHUSDT order on the exchange', () => sim.state().openOrders.some((o) => o.symbol === 'ETHUSDT'));
    const placed = performance.now();
    sim.advance(1);
    await until('the ETHUSDT fill and position handled', () => bot.kernel.executor.stats.fills === 1 && bot.kernel.executor.positionSnapshot().ETHUSDT === '0.01');
    const filled = performance.now();

    // An operator HALT applies.
    bot.kernel.publish('order.request', { type: 'SetTradingState', ts: Date.now(), state: 'HALTED', reason: 'operator: kill switch' });
    const t = performance.now();
    await until('HALTED', () => bot.kernel.executor.tradingState().state === 'HALTED');
    const halted = performance.now();
    console.log(
      `while the BTCUSDT POST hung: ETHUSDT order on the exchange after ${(placed - hangStart).toFixed(1)} ms, its fill handled ${(filled - placed).toFixed(1)} ms after the kline, HALT applied ${(halted - t).toFixed(1)} ms after the command`,
    );

    // All of it while the BTCUSDT submit had not returned.
    expect(pending.has(btcId)).toBe(true);
    expect(bot.kernel.executor.openOrders().map((i) => i.clientOrderId)).toContain(btcId);
    expect(sim.state().openOrders.some((o) => o.symbol === 'BTCUSDT')).toBe(false);
  });
});
