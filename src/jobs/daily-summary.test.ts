/**
 * The daily summary job: the previous UTC day's fills summed from a real SQLite file, the line
 * the team gets, and the node-cron schedule actually firing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fill } from '../core/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { openDatabase, type Db } from '../../database/client.ts';
import { RecordWriter } from '../../database/writer.ts';
import { formatDaySummary, startDailySummary, summarizeDay } from './daily-summary.ts';

const RUN = 'live-testnet';
const DAY = 1_751_760_000_000; // 2025-07-06 00:00 UTC
const H = 3_600_000;

let dir: string;
let db: Db;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'perpbot-daily-'));
  db = openDatabase(path.join(dir, 'perpbot.sqlite'));
  const w = new RecordWriter(db, RUN);
  w.startRun({ id: RUN, mode: 'live', startedAt: DAY - H, configJson: '{}' });
  const fill = (tradeId: string, over: Partial<Fill>): Fill => ({
    tradeId, orderId: '700000000001', clientOrderId: 'pb-x', symbol: 'BTCUSDT', side: 'BUY', price: '108166.9', quantity: '0.009',
    commission: '0.48675105', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: DAY + H, ...over,
  });
  const filled = (f: Fill) => w.orderEvent({ type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity: f.quantity, status: 'FILLED' });
  filled(fill('1', { time: DAY - 1 })); // the day before
  filled(fill('2', {}));
  filled(fill('3', { side: 'SELL', price: '108113.2', realizedPnl: '-0.4833', commission: '0.4865094', time: DAY + 2 * H }));
  filled(fill('4', { symbol: 'ETHUSDT', quantity: '0.4', commission: '0.503052', realizedPnl: '1.25', time: DAY + 24 * H - 1 }));
  filled(fill('5', { time: DAY + 24 * H })); // the next day
  w.flush();
});
afterEach(async () => {
  db.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

describe('summarizeDay / formatDaySummary', () => {
  it('sums the fills of exactly that UTC day, in exact decimals', () => {
    const d = summarizeDay(db, RUN, DAY);
    // realized −0.4833 + 1.25 = 0.7667; fees 0.48675105 + 0.4865094 + 0.503052 = 1.47631245
    expect(d).toEqual({ dayStart: DAY, fills: 3, realizedPnl: '0.7667', fees: '1.47631245', netPnl: '-0.70961245', fillsBySymbol: { BTCUSDT: 2, ETHUSDT: 1 } });
    expect(formatDaySummary(d, { BTCUSDT: '-0.002' }, { state: 'REDUCING', reason: '4 losing round trips in a row (limit 4)' })).toBe(
      '2025-07-06 (UTC): 3 fills (BTCUSDT 2, ETHUSDT 1), net PnL -0.70961245 USDT (realized 0.7667, fees 1.47631245); positions BTCUSDT -0.002; trading REDUCING (4 losing round trips in a row (limit 4))',
    );
    expect(formatDaySummary(summarizeDay(db, RUN, DAY - 24 * H + 0), {}, { state: 'ACTIVE', reason: '' })).toBe(
      '2025-07-05 (UTC): 1 fills (BTCUSDT 1), net PnL -0.48675105 USDT (realized 0, fees 0.48675105); positions flat; trading ACTIVE',
    );
  });
});

describe('startDailySummary', () => {
  it('fires on its cron schedule with the summary of the day before "now"', async () => {
    const sent: string[] = [];
    const task = startDailySummary('* * * * * *', {
      db,
      runId: RUN,
      send: (t) => sent.push(t),
      positions: () => ({}),
      tradingState: () => ({ state: 'ACTIVE', reason: '' }),
      now: () => DAY + 24 * H + 5 * 60_000, // 2025-07-07 00:05 UTC
      log: silentLogger(),
    });
    try {
      const end = Date.now() + 5_000;
      while (sent.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await task.destroy();
    }
    expect(sent[0]).toMatch(/^2025-07-06 \(UTC\): 3 fills .* net PnL -0\.70961245 USDT/);
  });

  it('refuses an expression that is not cron, naming the key', () => {
    expect(() => startDailySummary('every day', { db, runId: RUN, send: () => {}, positions: () => ({}), tradingState: () => ({ state: 'ACTIVE', reason: '' }), now: Date.now, log: silentLogger() })).toThrow(
      'alerts.dailySummaryCron: "every day" is not a cron expression',
    );
  });
});
