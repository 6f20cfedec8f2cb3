/**
 * What a restart restores of the risk engine's day, from a real SQLite file: today's realized
 * PnL net of fees per strategy and today's opened quantity per symbol (riskDayOf); and which
 * automatic halt is still held (restoredHalt).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fill, OrderIntent } from '../src/core/types.ts';
import { restoredHalt } from '../src/kernel/live.ts';
import { openDatabase, type Db } from './client.ts';
import { recentTradingStateChanges, riskDayOf } from './queries.ts';
import { RecordWriter } from './writer.ts';

const RUN = 'live-testnet';
const DAY = 1_751_760_000_000; // 2025-07-06 00:00 UTC
const H = 3_600_000;

let dir: string;
let db: Db;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'perpbot-riskday-'));
  db = openDatabase(path.join(dir, 'perpbot.sqlite'));
});
afterEach(async () => {
  db.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const intent = (id: string, over: Partial<OrderIntent>): OrderIntent => ({
  clientOrderId: id,
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.009',
  reduceOnly: false,
  strategyId: 'vwap-adx',
  signalId: `sig-${id}`,
  refPrice: '108167.0',
  createdAt: DAY,
  ...over,
});
const fill = (tradeId: string, clientOrderId: string, over: Partial<Fill>): Fill => ({
  tradeId,
  orderId: '700000000001',
  clientOrderId,
  symbol: 'BTCUSDT',
  side: 'BUY',
  price: '108166.9',
  quantity: '0.009',
  commission: '0.48675105',
  commissionAsset: 'USDT',
  realizedPnl: '0',
  maker: false,
  time: DAY + H,
  ...over,
});

describe('riskDayOf', () => {
  it("sums today's fills: opened quantity of entries per symbol, PnL net of fees per strategy; yesterday's are left out", () => {
    const w = new RecordWriter(db, RUN);
    w.startRun({ id: RUN, mode: 'live', startedAt: DAY - 24 * H, configJson: '{}' });
    w.writeIntentNow(intent('pb-old', { createdAt: DAY - 2 * H }));
    w.writeIntentNow(intent('pb-entry', {}));
    w.writeIntentNow(intent('pb-exit', { side: 'SELL', reduceOnly: true }));
    w.writeIntentNow(intent('pb-eth', { symbol: 'ETHUSDT', strategyId: 'other', quantity: '0.4' }));
    const filled = (f: Fill) => w.orderEvent({ type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity: f.quantity, status: 'FILLED' });
    filled(fill('1', 'pb-old', { time: DAY - H, realizedPnl: '-50' })); // yesterday
    filled(fill('2', 'pb-entry', {}));
    filled(fill('3', 'pb-exit', { side: 'SELL', price: '108113.2', realizedPnl: '-0.4833', commission: '0.4865094', time: DAY + 2 * H }));
    filled(fill('4', 'pb-eth', { symbol: 'ETHUSDT', quantity: '0.4', price: '2515.26', commission: '0.503052', realizedPnl: '0' }));
    filled(fill('5', 'pb-unknown-to-db', { realizedPnl: '1.5', commission: '0.1' })); // an order the database lacks
    w.flush();
    expect(riskDayOf(db, RUN, DAY + 3 * H)).toEqual({
      opened: { BTCUSDT: '0.009', ETHUSDT: '0.4' },
      // vwap-adx: −0.48675105 − 0.4833 − 0.4865094 = −1.45656045
      strategyPnl: { 'vwap-adx': '-1.45656045', other: '-0.503052', unknown: '1.4' },
    });
    expect(riskDayOf(db, RUN, DAY + 24 * H)).toEqual({ opened: {}, strategyPnl: {} });
  });
});

describe('restoredHalt', () => {
  const losses = '4 losing round trips in a row (limit 4)';
  it('holds a consecutive-loss REDUCING whose cooldown has not run out, with its original lift time', () => {
    const w = new RecordWriter(db, RUN);
    w.startRun({ id: RUN, mode: 'live', startedAt: DAY, configJson: '{}' });
    w.riskEvent({ type: 'TradingStateChanged', ts: DAY + H, state: 'ACTIVE', previous: 'HALTED', reason: 'start-up complete' });
    w.riskEvent({ type: 'TradingStateChanged', ts: DAY + 2 * H, state: 'REDUCING', previous: 'ACTIVE', reason: losses });
    w.flush();
    const changes = recentTradingStateChanges(db, RUN);
    expect(restoredHalt(changes, DAY + 3 * H, 240)).toEqual({ reason: losses, resumeAt: DAY + 6 * H });
    expect(restoredHalt(changes, DAY + 6 * H, 240)).toBeNull(); // the cooldown is over
    expect(restoredHalt(changes, DAY + 30 * H, 0)).toEqual({ reason: losses }); // 0: until an operator resumes
  });

  it('a halt carried over one restart keeps its first lift time at the next; a start-up HALTED between is skipped', () => {
    const changes = [
      { ts: DAY + 4 * H, state: 'HALTED', reason: 'start-up failed: …' },
      { ts: DAY + 3 * H, state: 'REDUCING', reason: `${losses} (held across a restart)` },
      { ts: DAY + 2 * H, state: 'REDUCING', reason: losses },
    ];
    expect(restoredHalt(changes, DAY + 5 * H, 240)).toEqual({ reason: losses, resumeAt: DAY + 6 * H });
  });

  it('carries nothing else: ACTIVE last, an operator or failure halt, no history', () => {
    expect(restoredHalt([{ ts: DAY, state: 'ACTIVE', reason: 'consecutive-loss cooldown over' }], DAY + 1, 240)).toBeNull();
    expect(restoredHalt([{ ts: DAY, state: 'REDUCING', reason: 'operator: reduce only' }], DAY + 1, 240)).toBeNull();
    expect(restoredHalt([{ ts: DAY, state: 'HALTED', reason: 'database: disk full' }], DAY + 1, 240)).toBeNull();
    expect(restoredHalt([], DAY, 240)).toBeNull();
  });
});
