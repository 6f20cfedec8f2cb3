import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvariantError, PerpbotError } from '../src/core/errors.ts';
import type {
  Fill,
  Kline,
  OrderEvent,
  OrderIntent,
  PositionChanged,
  SignalEmitted,
  TradingStateChanged,
} from '../src/core/types.ts';
import { openDatabase, type Db } from './client.ts';
import { countRows, fillsForRun, lastRun, openOrders, ordersForRun, positionsForRun, signalsForRun } from './queries.ts';
import { redactJson } from './record-checks.ts';
import { RecordWriter } from './writer.ts';

const RUN = 'run-1';
const T0 = 1_730_000_000_000;
const BIG_ORDER_ID = '8389766049535966587'; // > 2^53: would not survive a float

let dir: string;
let db: Db;

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'perpbot-writer-'));
  db = openDatabase(path.join(dir, 'perpbot.db'));
});
afterEach(async () => {
  db.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

function started(opts: ConstructorParameters<typeof RecordWriter>[2] = {}, runId = RUN): RecordWriter {
  const w = new RecordWriter(db, runId, opts);
  w.startRun({ id: runId, mode: 'replay', startedAt: T0, configJson: '{"symbols":["BTCUSDT"]}' });
  return w;
}

function kline(i: number, symbol = 'BTCUSDT'): Kline {
  const openTime = T0 + i * 60_000;
  return {
    symbol,
    interval: '1m',
    openTime,
    closeTime: openTime + 59_999,
    open: '108153.4',
    high: '108190.0',
    low: '108100.1',
    close: `10816${i % 10}.1`,
    volume: '12.345',
    quoteVolume: '1335432.10',
    trades: 1000 + i,
    closed: true,
  };
}

function intent(clientOrderId = 'vwap-adx:BTCUSDT:1:0', over: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId,
    symbol: 'BTCUSDT',
    side: 'BUY',
    type: 'LIMIT',
    quantity: '0.003',
    price: '108160.1',
    timeInForce: 'GTC',
    reduceOnly: false,
    strategyId: 'vwap-adx',
    signalId: 'vwap-adx:BTCUSDT:1730000000000:0',
    refPrice: '108153.4',
    createdAt: T0 + 1,
    ...over,
  };
}

function fill(tradeId: string, price: string, quantity: string, over: Partial<Fill> = {}): Fill {
  return {
    tradeId,
    orderId: BIG_ORDER_ID,
    clientOrderId: 'vwap-adx:BTCUSDT:1:0',
    symbol: 'BTCUSDT',
    side: 'BUY',
    price,
    quantity,
    commission: '0.04326136',
    commissionAsset: 'USDT',
    realizedPnl: '0',
    maker: true,
    time: T0 + 10,
    ...over,
  };
}

function filled(f: Fill, cumulativeQuantity: string, status: 'PARTIALLY_FILLED' | 'FILLED'): OrderEvent {
  return { type: 'OrderFilled', ts: f.time, fill: f, cumulativeQuantity, status };
}

function accepted(clientOrderId = 'vwap-adx:BTCUSDT:1:0', orderId = BIG_ORDER_ID): OrderEvent {
  return { type: 'OrderAccepted', ts: T0 + 5, clientOrderId, orderId, symbol: 'BTCUSDT' };
}

function signal(i: number, over: Partial<SignalEmitted> = {}): SignalEmitted {
  return {
    type: 'SignalEmitted',
    ts: T0 + i * 60_000,
    signalId: `vwap-adx:BTCUSDT:${T0 + i * 60_000}:0`,
    strategyId: 'vwap-adx',
    symbol: 'BTCUSDT',
    target: 'LONG',
    reason: 'entry',
    refPrice: '108153.4',
    indicators: { vwap: 108170.25, upper: 108320.5, lower: 108020, adx: 17.3, adxPrev: null },
    ...over,
  };
}

function candleCount(): number {
  return (db.sqlite.prepare('SELECT count(*) AS n FROM candles_1m').get() as { n: number }).n;
}

describe('RecordWriter: the life of an order', () => {
  it('submitted → accepted → partially filled → filled ends with exact executed_qty and avg_price', () => {
    const w = started();
    const i = intent();
    expect(w.writeIntentNow(i)).toBe(true); // durable before it leaves
    expect(ordersForRun(db, RUN)[0]).toMatchObject({ status: 'PENDING_NEW', orderId: null, executedQty: '0', avgPrice: null });
    expect(openOrders(db, RUN).map((o) => o.clientOrderId)).toEqual([i.clientOrderId]);

    w.orderEvent({ type: 'OrderSubmitted', ts: T0 + 2, intent: i }); // no-op: already written ahead
    w.orderEvent(accepted());
    w.orderEvent(filled(fill('5001', '108153.4', '0.001'), '0.001', 'PARTIALLY_FILLED'));
    w.flush();
    expect(ordersForRun(db, RUN)[0]).toMatchObject({
      status: 'PARTIALLY_FILLED',
      orderId: BIG_ORDER_ID,
      executedQty: '0.001',
      avgPrice: '108153.4',
    });

    w.orderEvent(filled(fill('5002', '108160.1', '0.002', { time: T0 + 20 }), '0.003', 'FILLED'));
    w.flush();

    // By hand: 0.001 × 108153.4 = 108.1534; 0.002 × 108160.1 = 216.3202; Σ = 324.4736 over 0.003
    // = 108157.86666…, rounded half-even to 40 significant digits (6 before the point, 34 after).
    const [o] = ordersForRun(db, RUN);
    expect(o).toMatchObject({
      clientOrderId: i.clientOrderId,
      orderId: BIG_ORDER_ID,
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      quantity: '0.003',
      price: '108160.1',
      timeInForce: 'GTC',
      reduceOnly: false,
      strategyId: 'vwap-adx',
      signalId: 'vwap-adx:BTCUSDT:1730000000000:0',
      refPrice: '108153.4',
      status: 'FILLED',
      executedQty: '0.003',
      cumQuote: '324.4736',
      avgPrice: '108157.8666666666666666666666666666666667',
      createdAt: T0 + 1,
      updatedAt: T0 + 20,
    });
    expect(openOrders(db, RUN)).toEqual([]);

    const fs_ = fillsForRun(db, RUN);
    expect(fs_.map((f) => [f.tradeId, f.price, f.quantity, f.commission, f.maker])).toEqual([
      ['5001', '108153.4', '0.001', '0.04326136', true],
      ['5002', '108160.1', '0.002', '0.04326136', true],
    ]);
    expect(w.stats()).toMatchObject({ orders: 1, fills: 2, orphans: 0, pending: 0 });
  });

  it('ignores a fill recorded twice (after a crash) without counting it twice in the order', () => {
    const w = started();
    w.writeIntentNow(intent());
    const f1 = fill('5001', '108153.4', '0.001');
    w.orderEvent(filled(f1, '0.001', 'PARTIALLY_FILLED'));
    w.flush();
    w.orderEvent(filled(f1, '0.001', 'PARTIALLY_FILLED')); // the same fill again, next flush
    w.orderEvent(filled(f1, '0.001', 'PARTIALLY_FILLED')); // and twice in one flush
    w.flush();
    expect(fillsForRun(db, RUN)).toHaveLength(1);
    expect(ordersForRun(db, RUN)[0]).toMatchObject({ executedQty: '0.001', cumQuote: '108.1534', avgPrice: '108153.4' });
    expect(w.stats().fills).toBe(1);
    // a new writer (restart) re-recording it: still once
    const again = new RecordWriter(db, RUN);
    again.orderEvent(filled(f1, '0.001', 'PARTIALLY_FILLED'));
    again.flush();
    expect(fillsForRun(db, RUN)).toHaveLength(1);
    expect(again.stats().fills).toBe(0);
  });

  it('round-trips int64 order and trade ids above 2^53 exactly, stored as TEXT', () => {
    const w = started();
    const maxTrade = '9223372036854775807';
    w.orderEvent({ type: 'OrderSubmitted', ts: T0, intent: intent() });
    w.orderEvent(accepted());
    w.orderEvent(filled(fill(maxTrade, '108153.4', '0.003'), '0.003', 'FILLED'));
    w.flush();
    expect(ordersForRun(db, RUN)[0]?.orderId).toBe(BIG_ORDER_ID);
    expect(fillsForRun(db, RUN)[0]).toMatchObject({ tradeId: maxTrade, orderId: BIG_ORDER_ID });
    const raw = db.sqlite
      .prepare(`SELECT typeof(o.order_id) AS t1, o.order_id AS oid, typeof(f.trade_id) AS t2, f.trade_id AS tid
                FROM orders o JOIN fills f ON f.run_id = o.run_id AND f.client_order_id = o.client_order_id`)
      .get();
    expect(raw).toEqual({ t1: 'text', oid: BIG_ORDER_ID, t2: 'text', tid: maxTrade });
  });

  it('stores a denied order with its check and reason', () => {
    const w = started();
    const i = intent('vwap-adx:BTCUSDT:2:0', { quantity: '0.0001', price: '108160.1' });
    w.orderEvent({ type: 'OrderDenied', ts: T0 + 3, intent: i, check: 'MIN_NOTIONAL', reason: 'notional 10.81601 < minNotional 100' });
    w.flush();
    expect(ordersForRun(db, RUN)).toEqual([
      expect.objectContaining({
        clientOrderId: 'vwap-adx:BTCUSDT:2:0',
        status: 'DENIED',
        deniedCheck: 'MIN_NOTIONAL',
        reason: 'notional 10.81601 < minNotional 100',
        quantity: '0.0001',
        orderId: null,
        executedQty: '0',
        createdAt: T0 + 1,
        updatedAt: T0 + 3,
      }),
    ]);
    expect(openOrders(db, RUN)).toEqual([]);
    expect(w.stats().orders).toBe(1);
  });

  it('a denial never overwrites an order written ahead earlier (maybe sent), unless this process wrote it and stopped it', () => {
    const w = started();
    const sent = intent('pb-sent-before-a-restart');
    const stopped = intent('pb-written-then-halted');
    expect(w.writeIntentNow(sent)).toBe(true);
    expect(w.writeIntentNow(stopped)).toBe(true);
    // after a restart, the same signal decided again (same deterministic id) is denied: the
    // earlier order stays open, for reconciliation to settle from the exchange
    w.orderEvent({ type: 'OrderDenied', ts: T0 + 5, intent: sent, check: 'tradingState', reason: 'starting' });
    // this process wrote the intent ahead, then a halt stopped it before sending: DENIED
    w.orderEvent({ type: 'OrderDenied', ts: T0 + 5, intent: stopped, check: 'tradingState', reason: 'halted while written ahead', writtenAhead: true });
    w.flush();
    const byId = Object.fromEntries(ordersForRun(db, RUN).map((o) => [o.clientOrderId, o.status]));
    expect(byId).toEqual({ 'pb-sent-before-a-restart': 'PENDING_NEW', 'pb-written-then-halted': 'DENIED' });
    expect(openOrders(db, RUN).map((o) => o.clientOrderId)).toEqual(['pb-sent-before-a-restart']);
  });

  it('records rejections with code and reason, cancels and expiries; a status never moves backwards', () => {
    const w = started();
    const a = intent('a'), b = intent('b'), c = intent('c');
    for (const i of [a, b, c]) w.orderEvent({ type: 'OrderSubmitted', ts: T0, intent: i });
    w.orderEvent({ type: 'OrderRejected', ts: T0 + 1, clientOrderId: 'a', symbol: 'BTCUSDT', code: -2019, reason: 'Margin is insufficient.' });
    w.orderEvent(accepted('b', '11'));
    w.orderEvent(filled(fill('1', '108150', '0.001', { clientOrderId: 'b', orderId: '11' }), '0.001', 'PARTIALLY_FILLED'));
    w.orderEvent({ type: 'OrderCanceled', ts: T0 + 30, clientOrderId: 'b', orderId: '11', symbol: 'BTCUSDT', reason: 'ttl' });
    w.orderEvent(accepted('b', '11')); // late duplicate: must not reopen the order
    w.orderEvent({ type: 'OrderExpired', ts: T0 + 40, clientOrderId: 'c', orderId: '12', symbol: 'BTCUSDT', reason: 'GTX would take' });
    w.orderEvent({ type: 'OrderCanceled', ts: T0 + 50, clientOrderId: 'c', orderId: '12', symbol: 'BTCUSDT', reason: 'late' });
    w.flush();
    const byId = Object.fromEntries(ordersForRun(db, RUN).map((o) => [o.clientOrderId, o]));
    expect(byId.a).toMatchObject({ status: 'REJECTED', rejectCode: -2019, reason: 'Margin is insufficient.', orderId: null });
    expect(byId.b).toMatchObject({ status: 'CANCELED', reason: 'ttl', orderId: '11', executedQty: '0.001', avgPrice: '108150' });
    expect(byId.c).toMatchObject({ status: 'EXPIRED', reason: 'GTX would take', orderId: '12', updatedAt: T0 + 40 });
    expect(w.stats().orphans).toBe(0);
  });

  it('applies buffered events in arrival order within one flush and counts events for unknown orders', () => {
    const w = started({ batchSize: 1000 });
    w.orderEvent(accepted('ghost', '99')); // before its order exists: an orphan
    w.orderEvent({ type: 'OrderSubmitted', ts: T0, intent: intent('x') });
    w.orderEvent(accepted('x', '42'));
    w.orderEvent(filled(fill('7', '100.5', '2', { clientOrderId: 'x', orderId: '42' }), '2', 'FILLED'));
    w.orderEvent(filled(fill('8', '1', '1', { clientOrderId: 'nobody', orderId: '43' }), '1', 'FILLED'));
    expect(ordersForRun(db, RUN)).toEqual([]); // buffered
    w.flush();
    expect(ordersForRun(db, RUN)).toEqual([expect.objectContaining({ clientOrderId: 'x', orderId: '42', status: 'FILLED', avgPrice: '100.5', cumQuote: '201' })]);
    expect(w.stats()).toMatchObject({ orders: 1, fills: 2, orphans: 2 });
    expect(fillsForRun(db, RUN)).toHaveLength(2); // the orphan fill is history too
  });

  it('writeIntentNow is idempotent and durable at once (visible to another connection)', () => {
    const w = new RecordWriter(db, 'live-run');
    w.startRun({ id: 'live-run', mode: 'live', startedAt: T0, configJson: '{}' });
    expect(w.writeIntentNow(intent('l1'))).toBe(true);
    expect(w.writeIntentNow(intent('l1'))).toBe(false);
    expect(db.sqlite.pragma('synchronous', { simple: true })).toBe(1); // back to NORMAL after the FULL commit
    const other = openDatabase(db.file, { readonly: true });
    try {
      expect(ordersForRun(other, 'live-run').map((o) => [o.clientOrderId, o.status])).toEqual([['l1', 'PENDING_NEW']]);
    } finally {
      other.close();
    }
    expect(w.stats()).toMatchObject({ orders: 1, pending: 0 });
  });

  it('rejects non-decimal money at the door, before anything is buffered', () => {
    const w = started();
    expect(() => w.orderEvent(filled(fill('1', '1.2.3', '0.001'), '0.001', 'FILLED'))).toThrow(InvariantError);
    expect(() => w.writeIntentNow(intent('bad', { quantity: 'NaN' }))).toThrow(/intent\.quantity/);
    expect(() => w.signal(signal(0, { refPrice: '' }))).toThrow(InvariantError);
    expect(w.stats().pending).toBe(0);
  });
});

describe('RecordWriter: candles', () => {
  it('stores candles once when the same data is inserted twice, values exact', () => {
    const w = started();
    for (let i = 0; i < 25; i++) w.candle(kline(i));
    w.flush();
    expect(candleCount()).toBe(25);
    const again = new RecordWriter(db, RUN);
    for (let i = 0; i < 25; i++) again.candle(kline(i));
    again.candle(kline(25));
    again.flush();
    expect(candleCount()).toBe(26);
    expect(w.stats().candles).toBe(25);
    expect(again.stats().candles).toBe(1); // duplicates are not counted
    const row = db.sqlite.prepare('SELECT * FROM candles_1m WHERE symbol = ? AND open_time = ?').get('BTCUSDT', T0 + 3 * 60_000);
    expect(row).toEqual({
      symbol: 'BTCUSDT',
      open_time: T0 + 3 * 60_000,
      close_time: T0 + 3 * 60_000 + 59_999,
      open: '108153.4',
      high: '108190.0',
      low: '108100.1',
      close: '108163.1',
      volume: '12.345',
      quote_volume: '1335432.10',
      trades: 1003,
    });
  });

  it('keeps the same open time of different symbols apart, stores missing optional fields as NULL', () => {
    const w = started();
    const { quoteVolume: _q, trades: _t, ...bare } = kline(0, 'ETHUSDT');
    w.candle(kline(0));
    w.candle(bare);
    w.flush();
    expect(candleCount()).toBe(2);
    expect(db.sqlite.prepare(`SELECT quote_volume, trades FROM candles_1m WHERE symbol = 'ETHUSDT'`).get()).toEqual({
      quote_volume: null,
      trades: null,
    });
  });

  it('ignores klines that are not closed and refuses other intervals', () => {
    const w = started();
    w.candle({ ...kline(0), closed: false });
    expect(w.stats().pending).toBe(0);
    expect(() => w.candle({ ...kline(0), interval: '5m' })).toThrow(InvariantError);
  });

  it('flushes by itself when the buffer reaches batchSize, in one transaction per batch', () => {
    const w = started({ batchSize: 4 });
    for (let i = 0; i < 3; i++) w.candle(kline(i));
    expect(w.stats()).toMatchObject({ flushes: 0, pending: 3 });
    expect(candleCount()).toBe(0);
    w.candle(kline(3));
    expect(w.stats()).toMatchObject({ flushes: 1, pending: 0, candles: 4 });
    expect(candleCount()).toBe(4);
    // every record kind counts toward the batch
    w.candle(kline(4));
    w.signal(signal(1));
    w.riskEvent({ type: 'TradingStateChanged', ts: T0, state: 'REDUCING', previous: 'ACTIVE', reason: 'daily loss' });
    expect(w.stats().flushes).toBe(1);
    w.orderEvent({ type: 'OrderSubmitted', ts: T0, intent: intent() });
    expect(w.stats()).toMatchObject({ flushes: 2, pending: 0, candles: 5, signals: 1, orders: 1 });
    w.flush(); // nothing pending: no-op
    expect(w.stats().flushes).toBe(2);
    expect(w.stats().lastFlushMs).toBeGreaterThanOrEqual(0);
  });

  it('stores a block per symbol and hour; an hour split over two flushes is merged, in order, once each', () => {
    const w = started({ batchSize: 1_000 });
    for (let i = 0; i < 2_503; i++) w.candle(kline(i, i % 2 === 0 ? 'BTCUSDT' : 'ETHUSDT'));
    w.flush();
    expect(candleCount()).toBe(2_503);
    expect(w.stats()).toMatchObject({ candles: 2_503, flushes: 3 });
    const blocks = db.sqlite.prepare('SELECT symbol, open_time AS t, json_array_length(candles) AS n FROM candle_blocks ORDER BY symbol, open_time').all() as Array<{ symbol: string; t: number; n: number }>;
    const hours = new Set(Array.from({ length: 2_503 }, (_, i) => { const t = T0 + i * 60_000; return t - (t % 3_600_000); }));
    expect(blocks.filter((b) => b.symbol === 'BTCUSDT').map((b) => b.t)).toEqual([...hours]);
    for (const b of blocks) expect(b.n).toBeLessThanOrEqual(30); // every other minute: 30 an hour
    for (const symbol of ['BTCUSDT', 'ETHUSDT']) {
      const times = (db.sqlite.prepare('SELECT open_time AS t FROM candles_1m WHERE symbol = ?').all(symbol) as Array<{ t: number }>).map((r) => r.t);
      expect(times).toEqual(Array.from({ length: times.length }, (_, k) => T0 + (2 * k + (symbol === 'ETHUSDT' ? 1 : 0)) * 60_000));
    }
  });

  it('sorts an hour given out of order, keeps one of a kline given twice in a flush, and keeps the stored one over a later copy', () => {
    const w = started();
    for (const i of [5, 2, 9, 2, 0]) w.candle(kline(i));
    w.flush();
    expect(w.stats().candles).toBe(4);
    w.candle({ ...kline(9), close: '1.0' }); // already stored: kept as it was
    w.candle(kline(7));
    w.flush();
    expect(w.stats().candles).toBe(5);
    const rows = db.sqlite.prepare(`SELECT open_time AS t, close FROM candles_1m WHERE symbol = 'BTCUSDT'`).all() as Array<{ t: number; close: string }>;
    expect(rows.map((r) => (r.t - T0) / 60_000)).toEqual([0, 2, 5, 7, 9]);
    expect(rows.find((r) => r.t === T0 + 9 * 60_000)?.close).toBe(kline(9).close);
  });

  it('refuses a kline whose strings would not be plain JSON text, naming the field, and stores nothing of it', () => {
    const w = started();
    expect(() => w.candle({ ...kline(0), high: '1"2' })).toThrow(/high of the BTCUSDT kline/);
    expect(() => w.candle({ ...kline(1), symbol: 'BTC\\USDT' })).toThrow(/symbol/);
    w.candle(kline(2));
    w.flush();
    expect(candleCount()).toBe(1);
  });
});

describe('RecordWriter: signals, positions, risk events, runs', () => {
  it('stores signals with their indicators as JSON, once per signal id, in arrival order', () => {
    const w = started();
    for (let i = 0; i < 5; i++) w.signal(signal(i, i === 3 ? { target: 'FLAT', reason: 'exit_vwap' } : {}));
    w.signal(signal(2)); // repeated
    w.flush();
    const all = signalsForRun(db, RUN);
    expect(all).toHaveLength(5);
    expect(all[0]).toMatchObject({
      runId: RUN,
      signalId: `vwap-adx:BTCUSDT:${T0}:0`,
      strategyId: 'vwap-adx',
      symbol: 'BTCUSDT',
      ts: T0,
      target: 'LONG',
      reason: 'entry',
      refPrice: '108153.4',
      indicators: { vwap: 108170.25, upper: 108320.5, lower: 108020, adx: 17.3, adxPrev: null },
    });
    expect(signalsForRun(db, RUN, 2).map((s) => s.ts)).toEqual([T0 + 3 * 60_000, T0 + 4 * 60_000]);
    expect(signalsForRun(db, RUN, 2)[0]).toMatchObject({ target: 'FLAT', reason: 'exit_vwap' });
    expect(w.stats().signals).toBe(5);
  });

  it('upserts positions (latest wins, older updates ignored) and appends risk events', () => {
    const w = started();
    const pos = (quantity: string, updatedAt: number): PositionChanged => ({
      type: 'PositionChanged',
      ts: updatedAt,
      position: { symbol: 'BTCUSDT', quantity, entryPrice: '108157.8666666666666666666666666666666667', realizedPnl: '-1.25', fees: '0.0865', updatedAt },
    });
    w.position(pos('0.003', T0 + 10));
    w.position(pos('-0.002', T0 + 20));
    w.position(pos('0.5', T0 + 15)); // stale
    const risk: TradingStateChanged[] = [
      { type: 'TradingStateChanged', ts: T0 + 1, state: 'REDUCING', previous: 'ACTIVE', reason: 'daily loss limit' },
      { type: 'TradingStateChanged', ts: T0 + 2, state: 'HALTED', previous: 'REDUCING', reason: 'operator' },
    ];
    for (const r of risk) w.riskEvent(r);
    w.flush();
    expect(positionsForRun(db, RUN)).toEqual([
      {
        runId: RUN,
        symbol: 'BTCUSDT',
        quantity: '-0.002',
        entryPrice: '108157.8666666666666666666666666666666667',
        realizedPnl: '-1.25',
        fees: '0.0865',
        updatedAt: T0 + 20,
      },
    ]);
    const events = db.sqlite.prepare('SELECT ts, state, previous, reason FROM risk_events WHERE run_id = ? ORDER BY id').all(RUN);
    expect(events).toEqual(risk.map(({ ts, state, previous, reason }) => ({ ts, state, previous, reason })));
    expect(countRows(db, RUN)).toEqual({ candles: 0, signals: 0, orders: 0, fills: 0, positions: 1, riskEvents: 2 });
  });

  it('starts and ends runs; lastRun is the latest; secrets never reach config_json', () => {
    const w = new RecordWriter(db, 'r-a');
    w.startRun({
      id: 'r-a',
      mode: 'paper',
      startedAt: T0,
      configJson: JSON.stringify({ symbols: ['BTCUSDT'], binance: { apiKey: 'AKIA-123', apiSecret: 's3cr3t' }, slack: { token: 'xoxb-1' } }),
    });
    const b = new RecordWriter(db, 'r-b');
    b.startRun({ id: 'r-b', mode: 'replay', startedAt: T0 + 1000, configJson: '{}' });
    expect(() => b.startRun({ id: 'r-b', mode: 'replay', startedAt: T0, configJson: '{}' })).toThrowError(
      expect.objectContaining({ code: 'DATABASE', message: expect.stringContaining('r-b') }),
    );
    expect(() => b.startRun({ id: 'r-c', mode: 'replay', startedAt: T0, configJson: '{oops' })).toThrow(InvariantError);
    b.candle(kline(0));
    b.endRun('r-b', { endedAt: T0 + 5000, status: 'completed', summaryJson: '{"trades":0}' });
    expect(candleCount()).toBe(1); // endRun flushed
    expect(lastRun(db)).toEqual({
      id: 'r-b',
      mode: 'replay',
      startedAt: T0 + 1000,
      endedAt: T0 + 5000,
      status: 'completed',
      configJson: '{}',
      summaryJson: '{"trades":0}',
    });
    const cfg = (db.sqlite.prepare(`SELECT config_json FROM runs WHERE id = 'r-a'`).get() as { config_json: string }).config_json;
    expect(cfg).not.toMatch(/AKIA|s3cr3t|xoxb/);
    expect(JSON.parse(cfg)).toEqual({ symbols: ['BTCUSDT'], binance: { apiKey: '[redacted]', apiSecret: '[redacted]' }, slack: { token: '[redacted]' } });
    expect(() => w.endRun('nope', { endedAt: T0, status: 'completed', summaryJson: null })).toThrowError(
      expect.objectContaining({ code: 'DATABASE' }),
    );
    expect(redactJson('{"a":1}')).toBe('{"a":1}');
  });

  it('keeps the buffer when a flush fails and writes it on the next flush', () => {
    const w = new RecordWriter(db, 'not-started-yet', { batchSize: 100 });
    w.candle(kline(0));
    w.signal(signal(0));
    let caught: unknown;
    try {
      w.flush(); // the run row does not exist: foreign key
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PerpbotError);
    expect((caught as PerpbotError).code).toBe('DATABASE');
    expect((caught as PerpbotError).message).toContain(db.file);
    expect(candleCount()).toBe(0); // rolled back as a whole
    expect(w.stats()).toMatchObject({ pending: 2, flushes: 0 });
    w.startRun({ id: 'not-started-yet', mode: 'replay', startedAt: T0, configJson: '{}' });
    w.flush();
    expect(candleCount()).toBe(1);
    expect(signalsForRun(db, 'not-started-yet')).toHaveLength(1);
    expect(w.stats()).toMatchObject({ pending: 0, flushes: 1, candles: 1, signals: 1 });
  });
});
