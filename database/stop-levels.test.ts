/**
 * The stop level start-up reconciliation places a missing protective stop at (stopLevelsOf), from
 * a real SQLite file written by the recorder's writer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fill, OrderIntent } from '../src/core/types.ts';
import { openDatabase, type Db } from './client.ts';
import { stopLevelsOf } from './stop-levels.ts';
import { RecordWriter } from './writer.ts';

const RUN = 'live-testnet';
const T = 1_751_760_000_000; // 2025-07-06 00:00 UTC
const SIGNAL = 'vwap-adx:BTCUSDT:1751760000000:0';

let dir: string;
let db: Db;
let w: RecordWriter;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'perpbot-stoplevels-'));
  db = openDatabase(path.join(dir, 'perpbot.sqlite'));
  w = new RecordWriter(db, RUN);
  w.startRun({ id: RUN, mode: 'live', startedAt: T, configJson: '{}' });
  // A short entry: its signal states the stop level; the entry order is written ahead (PENDING_NEW).
  w.signal({ type: 'SignalEmitted', ts: T, signalId: SIGNAL, strategyId: 'vwap-adx', symbol: 'BTCUSDT', target: 'SHORT', reason: 'entry', refPrice: '108052.7', indicators: {}, stopPrice: '108159.7' });
  w.writeIntentNow(entry);
  w.flush();
});
afterEach(async () => {
  db.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const entry: OrderIntent = {
  clientOrderId: 'pb-entry-1',
  symbol: 'BTCUSDT',
  side: 'SELL',
  type: 'MARKET',
  quantity: '0.009',
  reduceOnly: false,
  strategyId: 'vwap-adx',
  signalId: SIGNAL,
  refPrice: '108052.7',
  createdAt: T + 1,
};
const fill: Fill = {
  tradeId: '5000000013',
  orderId: '700000000001',
  clientOrderId: entry.clientOrderId,
  symbol: 'BTCUSDT',
  side: 'SELL',
  price: '108052.7',
  quantity: '0.009',
  commission: '0.43',
  commissionAsset: 'USDT',
  realizedPnl: '0',
  maker: false,
  time: T + 60_000,
};

describe('stopLevelsOf', () => {
  it("an entry the database holds as filled: its signal's stop level", () => {
    w.orderEvent({ type: 'OrderFilled', ts: fill.time, fill, cumulativeQuantity: '0.009', status: 'FILLED' });
    w.flush();
    expect(stopLevelsOf(db, RUN, { BTCUSDT: -1 })).toEqual({
      BTCUSDT: { level: { stopPrice: '108159.7', signalId: SIGNAL, strategyId: 'vwap-adx' }, stopsOfSignal: 0 },
    });
  });

  it('a crash right after the fill: the database still holds the entry unfilled, the exchange reports it filled — the level is known', () => {
    // Without the exchange's word the entry looks unfilled, so the level would be lost (the
    // position left without a stop): what start-up reconciliation met before it passed it on.
    expect(stopLevelsOf(db, RUN, { BTCUSDT: -1 })).toEqual({ BTCUSDT: { stopsOfSignal: 0 } });
    expect(stopLevelsOf(db, RUN, { BTCUSDT: -1 }, ['pb-entry-1'])).toEqual({
      BTCUSDT: { level: { stopPrice: '108159.7', signalId: SIGNAL, strategyId: 'vwap-adx' }, stopsOfSignal: 0 },
    });
  });

  it('the stop placed after the entry (written ahead, never confirmed) gives the level and the count', () => {
    w.writeIntentNow({ ...entry, clientOrderId: 'pb-stop-1', side: 'BUY', type: 'STOP_MARKET', reduceOnly: true, stopPrice: '108100.0', closePosition: true, createdAt: T + 2 });
    w.flush();
    expect(stopLevelsOf(db, RUN, { BTCUSDT: -1 }, ['pb-entry-1'])).toEqual({
      BTCUSDT: { level: { stopPrice: '108100.0', signalId: SIGNAL, strategyId: 'vwap-adx' }, stopsOfSignal: 1 },
    });
  });

  it('no level for a position on the other side of the entry, nor for an order the exchange reports on another symbol', () => {
    expect(stopLevelsOf(db, RUN, { BTCUSDT: 1 }, ['pb-entry-1'])).toEqual({ BTCUSDT: { stopsOfSignal: 0 } });
    expect(stopLevelsOf(db, RUN, { ETHUSDT: -1 }, ['pb-entry-1'])).toEqual({ ETHUSDT: { stopsOfSignal: 0 } });
  });
});
