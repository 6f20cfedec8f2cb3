/**
 * The kill switch (halt, then flatten all) through the API of a live bot (the real `binance`
 * library against the simulator) while the venue is slow: the simulator holds every order
 * acknowledgement for 8 s. The API answers HALTED before the venue acknowledged anything, and
 * the position is closed by a reduce-only MARKET order through the executor once the venue
 * catches up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator } from '../src/exchange/simulator/server.ts';
import { startLive } from '../src/kernel/live.ts';
import { serveBot } from '../src/cli/operator-commands.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';
import { projectPath } from '../src/core/paths.ts';
import { BTC, until } from './helpers/paper-bot.ts';

const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
const TOKEN = 'kill-switch-test-token-0123456789';

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('kill switch', () => {
  it('answers HALTED while the venue holds order acknowledgements, then flattens through the executor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-kill-'));
    const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 120 });
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
        'api.port': '0',
        'api.tokenFile': join(dir, 'api-token'),
        strategies: [{ id: 'vwap-adx', name: 'vwap-adx', params: { allowLong: false, allowShort: false } }],
      },
    });
    const bot = await startLive(config, silentLogger(), RULES, ['BTCUSDT'], { BINANCE_API_KEY: sim.apiKey, BINANCE_API_SECRET: sim.apiSecret });
    const server = (await serveBot(bot.kernel, config, silentLogger(), { PERPBOT_API_TOKEN: TOKEN }))!;
    cleanup.push(async () => {
      await server.close();
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
    });
    await bot.ready;
    await until('ACTIVE', () => bot.kernel.executor.tradingState().state === 'ACTIVE');
    await until('market frames', () => {
      sim.step(1);
      return bot.kernel.source.health().BTCUSDT!.messages > 0;
    });
    sim.advance(2);
    bot.kernel.publish('order.request', { type: 'SubmitOrder', ts: Date.now(), intent: { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.003', reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice('BTCUSDT') } });
    await until('order on the exchange', () => sim.state().openOrders.length === 1 || sim.state().fills.length === 1);
    sim.advance(1);
    await until('position', () => bot.kernel.executor.positionSnapshot().BTCUSDT === '0.003');

    // The venue turns slow: every order acknowledgement is held for 8 s.
    await fetch(`${sim.url}/admin/order-ack-delay`, { method: 'POST', body: JSON.stringify({ ms: 8_000 }), headers: { 'content-type': 'application/json' } });
    const t0 = Date.now();
    const res = await fetch(`${server.url}/api/commands/kill`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'kill switch test', by: 'test' }) });
    const answeredAfter = Date.now() - t0;
    const body = (await res.json()) as { state: string; outcome: string };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ state: 'HALTED', outcome: 'trading state HALTED' });
    // Answered before the venue acknowledged the close order it was sent meanwhile.
    expect(answeredAfter).toBeLessThan(8_000);
    expect(bot.kernel.executor.tradingState().state).toBe('HALTED');
    await until('the close order reached the exchange', () => sim.state().openOrders.some((o) => o.clientOrderId.startsWith('pb-flat-')) || sim.state().fills.length >= 2);
    const close = bot.kernel.executor.openOrders().find((o) => o.clientOrderId.startsWith('pb-flat-'));
    expect(close).toMatchObject({ side: 'SELL', type: 'MARKET', quantity: '0.003', reduceOnly: true, strategyId: 'operator' });
    await fetch(`${sim.url}/admin/clear-faults`, { method: 'POST' });
    sim.advance(1);
    await until('flat', () => bot.kernel.executor.positionSnapshot().BTCUSDT === undefined, 20_000);
    expect(bot.kernel.executor.tradingState().state).toBe('HALTED');
  }, 240_000);
});
