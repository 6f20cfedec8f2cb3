/**
 * Paper mode: Binance market data (the real `binance` library), the simulated venue, no keys.
 * Against the simulator on 127.0.0.1, and against a closed port standing in for an unreachable
 * Binance (the same failure path, without traffic leaving the machine).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';
import type { Heartbeat } from '../src/health/heartbeat.ts';
import { Writable } from 'node:stream';
import pino from 'pino';
import { silentLogger } from '../src/logging/logger.ts';
import { startSimulator } from '../src/exchange/simulator/server.ts';
import { startPaper } from '../src/kernel/live.ts';
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

function paperConfig(dir: string, baseUrl: string, wsUrl: string) {
  return loadConfig({
    env: { BINANCE_BASE_URL: baseUrl, BINANCE_WS_URL: wsUrl },
    dotenvFile: null,
    overrides: {
      db: join(dir, 'paper.sqlite'),
      'heartbeat.file': join(dir, 'hb.json'),
      'heartbeat.intervalMs': '200',
      'log.file': 'false',
      symbols: ['BTCUSDT'],
      // The simulator's data runs on today's wall clock: near 00/08/16 UTC the funding window would deny the entry.
      'risk.fundingBlackoutMinutes': '0',
    },
  });
}

describe('paper mode', () => {
  it('trades on the simulator\'s market data with the simulated venue: a market order fills at the next mark price', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-paper-'));
    const sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 60 });
    const config = paperConfig(dir, sim.url, sim.wsUrl);
    // The trade log (src/logging/trade-log.ts) writes info lines: capture them.
    const lines: Array<{ level: number; msg: string; component?: string; clientOrderId?: string }> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as (typeof lines)[number]), cb()) }));
    const bot = await startPaper(config, log, RULES, ['BTCUSDT']);
    cleanup.push(async () => {
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await until('market stream connected', () => bot.kernel.source.health().BTCUSDT!.state === 'connected');
    // The subscription is registered some time after the socket opens: step until frames arrive.
    await until('first frames', () => {
      sim.step(1);
      return bot.kernel.source.health().BTCUSDT!.messages > 0;
    });
    sim.advance(2);
    await until('closed klines', () => bot.kernel.source.health().BTCUSDT!.lastEventTime !== null);
    bot.kernel.publish('order.request', {
      type: 'SubmitOrder',
      ts: Date.now(),
      intent: { symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.002', reduceOnly: false, strategyId: 'operator', refPrice: sim.markPrice('BTCUSDT') },
    });
    await until('order accepted by the simulated venue', () => bot.kernel.executor.stats.submitted === 1);
    sim.step(2); // mark prices after the order
    await until('filled', () => bot.kernel.executor.stats.fills === 1);
    expect(bot.kernel.executor.positionSnapshot()).toEqual({ BTCUSDT: '-0.002' });
    expect(sim.state().openOrders).toHaveLength(0); // nothing reached the exchange's account
    expect(sim.state().fills).toHaveLength(0);
    // One readable info line per order event, fill and position change, with the client order id.
    await bot.kernel.bus.drain();
    const trades = lines.filter((l) => l.component === 'trades');
    const cid = trades.find((l) => l.msg.startsWith('order submitted'))?.clientOrderId;
    expect(cid).toMatch(/^pb-/);
    expect(trades.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^order submitted BTCUSDT SELL 0\\.002 MARKET \\[${cid}\\]`)),
        expect.stringMatching(new RegExp(`^fill BTCUSDT SELL 0\\.002 @ [\\d.]+, fee [\\d.]+ USDT, realized PnL 0 \\[${cid}\\]`)),
        expect.stringMatching(new RegExp(`^position BTCUSDT -0\\.002 @ [\\d.]+, realized PnL 0, fees [\\d.]+ \\[${cid}\\]$`)),
      ]),
    );
    expect(trades.every((l) => l.level === 30)).toBe(true);
  });

  it('when Binance cannot be reached it says so, keeps retrying, and the heartbeat says degraded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-paper-'));
    const config = paperConfig(dir, 'http://127.0.0.1:9', 'ws://127.0.0.1:9');
    const bot = await startPaper(config, silentLogger(), RULES, ['BTCUSDT']);
    cleanup.push(async () => {
      await bot.stop();
      await bot.kernel.close(null, 'stopped');
      rmSync(dir, { recursive: true, force: true });
    });
    const read = () => JSON.parse(readFileSync(config.heartbeat.file, 'utf8')) as Heartbeat;
    await until('a failed attempt reported', () => (read().lastError?.message ?? '').includes('attempt 2'));
    const hb = read();
    expect(hb.status).toBe('degraded');
    expect(hb.statusReason).toMatch(/sources BTCUSDT (connecting|disconnected|stale)/);
    expect(hb.lastError!.message).toMatch(
      /^(measuring the clock offset to Binance \(GET \/fapi\/v1\/time\)|loading exchange filters \(GET \/fapi\/v1\/exchangeInfo\)) failed \(attempt \d+\): connect ECONNREFUSED 127\.0\.0\.1:9/,
    );
    expect(hb.mode).toBe('paper');
  });
});
