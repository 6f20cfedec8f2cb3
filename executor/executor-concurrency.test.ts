/**
 * The executor never waits on the network (issue #7 item 1): a venue whose submit hangs holds up
 * only its own order and, on its symbol, the orders that must follow it. Fills, position reports,
 * operator commands (SetTradingState, SubmitOrder, CancelOrder) and other symbols' signals are
 * handled meanwhile; the write-ahead journal is awaited by its own order only.
 *
 * Real EventBus, real exchangeInfo, a wall clock at a fixed instant; the venue is a fake whose
 * submit hangs until the test lets it go (no timing is asserted: "handled while the submit still
 * hangs" is a fact, not a race). Elapsed times are printed for the record.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/bus/bus.ts';
import { ReplayClock } from '../src/core/clock.ts';
import { Decimal } from '../src/core/decimal.ts';
import type { OrderEvent, OrderIntent, SignalEmitted, TargetPosition } from '../src/core/types.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { loadExchangeInfo } from './exchange-info.ts';
import { Executor, clientOrderIdFor, type OrderJournal } from './executor.ts';
import type { RiskLimits } from './risk.ts';
import type { SubmitResult, Venue, VenueListener } from './venue.ts';

const RULES = loadExchangeInfo(fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url)));
const T0 = 1751760120000; // 2025-07-06 00:02 UTC
const LIMITS: RiskLimits = {
  maxOpenPositions: 2,
  maxNotionalPerSymbol: new Decimal('5000'),
  maxDailyQuantity: new Map(),
  dailyLossLimit: new Decimal('300'),
  maxConsecutiveLosses: 0,
  haltCooldownMinutes: 0,
  fundingBlackoutMinutes: 0,
};
const PRICE: Record<string, string> = { BTCUSDT: '108167.0', ETHUSDT: '2515.26' };

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Wait until `cond` holds (generous timeout: robust under CPU load). */
async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function harness(o: { journal?: OrderJournal } = {}) {
  const clock = new ReplayClock(T0);
  const bus = new EventBus();
  const sent: OrderIntent[] = [];
  const canceled: string[] = [];
  /** Symbols whose submits hang until released. */
  const hang = new Set<string>();
  const hanging = new Map<string, Deferred<SubmitResult>>();
  let orderId = 1000;
  const venue: Venue = {
    name: 'fake',
    submit(intent) {
      sent.push(intent);
      if (hang.has(intent.symbol)) {
        const d = deferred<SubmitResult>();
        hanging.set(intent.clientOrderId, d);
        return d.promise;
      }
      return Promise.resolve({ accepted: true, orderId: String(++orderId) });
    },
    cancel(_symbol, id) {
      canceled.push(id);
      return Promise.resolve();
    },
    onEvent(_l: VenueListener) {},
    positions: () => Promise.resolve([]),
  };
  const journaled: string[] = [];
  const journal: OrderJournal = o.journal ?? {
    recordIntent(intent) {
      journaled.push(intent.clientOrderId);
      return Promise.resolve(true);
    },
  };
  const executor = new Executor({
    bus,
    venue,
    rules: RULES,
    clock,
    sizing: { mode: 'fixed_notional', notional: '1000', equityFraction: '0.1', leverage: 5 },
    limits: LIMITS,
    journal,
    log: silentLogger(),
    startingEquity: '10000',
  });
  executor.start();
  const events: OrderEvent[] = [];
  bus.consume('order.update', (m) => void events.push(m), { name: 'test' });

  function signal(symbol: string, target: TargetPosition, seq: number): SignalEmitted {
    const s: SignalEmitted = {
      type: 'SignalEmitted',
      ts: clock.now(),
      signalId: `s1:${symbol}:${T0}:${seq}`,
      strategyId: 's1',
      symbol,
      target,
      reason: target === 'FLAT' ? 'exit_vwap' : 'entry',
      refPrice: PRICE[symbol]!,
      indicators: {},
      klineOpenTime: T0 - 60_000,
    };
    void bus.publish('signal.s1', s);
    return s;
  }
  /** The venue's fill of `intent` (all of it) and the position report that goes with it. */
  function fill(intent: OrderIntent, position: string, tradeId: string): void {
    void bus.publish('order.update', {
      type: 'OrderFilled',
      ts: clock.now(),
      cumulativeQuantity: intent.quantity,
      status: 'FILLED',
      fill: {
        tradeId,
        orderId: '1',
        clientOrderId: intent.clientOrderId,
        symbol: intent.symbol,
        side: intent.side,
        price: PRICE[intent.symbol]!,
        quantity: intent.quantity,
        commission: '0.1',
        commissionAsset: 'USDT',
        realizedPnl: '0',
        maker: false,
        time: clock.now(),
      },
    });
    void bus.publish('account.update', {
      type: 'PositionChanged',
      ts: clock.now(),
      position: { symbol: intent.symbol, quantity: position, entryPrice: PRICE[intent.symbol]!, realizedPnl: '0', fees: '0', updatedAt: clock.now() },
    });
  }
  return { clock, bus, executor, sent, canceled, hang, hanging, journaled, events, signal, fill };
}

describe('Executor: a hanging submit holds up nothing else', () => {
  it('while a BTCUSDT submit hangs: an ETHUSDT signal leaves, its fill and position are handled, HALT applies, a BTCUSDT signal is denied orderInFlight', async () => {
    const h = harness();
    h.hang.add('BTCUSDT');
    h.signal('BTCUSDT', 'LONG', 0);
    await until('the BTCUSDT order at the venue', () => h.sent.length === 1);
    const btc = h.sent[0]!;
    expect(h.hanging.has(btc.clientOrderId)).toBe(true);

    // another symbol's signal leaves while BTCUSDT hangs
    let t = performance.now();
    h.signal('ETHUSDT', 'LONG', 0);
    await until('the ETHUSDT order at the venue', () => h.sent.some((i) => i.symbol === 'ETHUSDT'));
    const eth = h.sent.find((i) => i.symbol === 'ETHUSDT')!;
    console.log(`ETHUSDT order sent ${(performance.now() - t).toFixed(2)} ms after its signal, BTCUSDT submit still hanging`);
    expect(eth.side).toBe('BUY');
    expect(eth.quantity).toBe('0.397'); // floor(1000 / 2515.26, 0.001)

    // its fill and position report are handled
    t = performance.now();
    h.fill(eth, '0.397', '7001');
    await until('the ETHUSDT fill handled', () => h.executor.stats.fills === 1 && h.executor.positionSnapshot().ETHUSDT === '0.397');
    console.log(`ETHUSDT fill handled ${(performance.now() - t).toFixed(2)} ms after it arrived`);
    expect(h.executor.openOrders().map((i) => i.clientOrderId)).toEqual([btc.clientOrderId]);

    // a second BTCUSDT signal is denied, not queued behind the hanging order
    h.signal('BTCUSDT', 'SHORT', 1);
    await until('the BTCUSDT denial', () => h.events.some((e) => e.type === 'OrderDenied' && e.check === 'orderInFlight'));

    // HALT applies at once
    t = performance.now();
    void h.bus.publish('order.request', { type: 'SetTradingState', ts: h.clock.now(), state: 'HALTED', reason: 'operator' });
    await until('HALTED', () => h.executor.tradingState().state === 'HALTED');
    console.log(`HALT applied ${(performance.now() - t).toFixed(2)} ms after the command, BTCUSDT submit still hanging`);
    // an operator cancel goes out meanwhile too
    void h.bus.publish('order.request', { type: 'CancelOrder', ts: h.clock.now(), symbol: 'ETHUSDT', clientOrderId: 'pb-op-x-0', reason: 'test' });
    await until('the cancel at the venue', () => h.canceled.includes('pb-op-x-0'));
    expect(h.hanging.has(btc.clientOrderId)).toBe(true); // all of it while the submit hangs

    // the hanging submit ends; the bus drains
    h.hanging.get(btc.clientOrderId)!.resolve({ accepted: true, orderId: '42' });
    await h.bus.drain();
    expect(h.sent).toHaveLength(2);
  });

  it('per symbol order is kept: a reversal whose close hangs sends its entry only after the close was answered', async () => {
    const h = harness();
    h.signal('BTCUSDT', 'LONG', 0);
    await h.bus.drain();
    const entry = h.sent[0]!;
    h.fill(entry, '0.009', '8001');
    await h.bus.drain();
    expect(h.executor.positionSnapshot().BTCUSDT).toBe('0.009');

    h.hang.add('BTCUSDT');
    const s = h.signal('BTCUSDT', 'SHORT', 1);
    await until('the close at the venue', () => h.sent.length === 2);
    const close = h.sent[1]!;
    expect(close.clientOrderId).toBe(clientOrderIdFor(s.signalId, 'close'));
    expect(close.reduceOnly).toBe(true);
    // an operator order on the same symbol waits in the lane behind the reversal
    void h.bus.publish('order.request', { type: 'SubmitOrder', ts: h.clock.now(), intent: { symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.001', reduceOnly: true, strategyId: 'operator', refPrice: '108167.0' } });
    // other work proceeds meanwhile (a signal on ETHUSDT leaves) …
    h.signal('ETHUSDT', 'LONG', 0);
    await until('the ETHUSDT order', () => h.sent.some((i) => i.symbol === 'ETHUSDT'));
    // … but nothing more on BTCUSDT leaves while its close hangs
    expect(h.sent.filter((i) => i.symbol === 'BTCUSDT')).toHaveLength(2);

    h.hang.delete('BTCUSDT');
    h.hanging.get(close.clientOrderId)!.resolve({ accepted: true, orderId: '43' });
    await h.bus.drain();
    const btc = h.sent.filter((i) => i.symbol === 'BTCUSDT').map((i) => i.clientOrderId);
    expect(btc[2]).toBe(clientOrderIdFor(s.signalId, 'open')); // the reversal's entry, then …
    expect(btc[3]).toMatch(/^pb-op-/); // … the operator's order, in the order they were decided
    expect(btc).toHaveLength(4);
  });
});

describe('Executor: asynchronous write-ahead', () => {
  function slowJournal() {
    const pending: Array<{ id: string; d: Deferred<boolean> }> = [];
    const journal: OrderJournal = {
      recordIntent(intent) {
        const d = deferred<boolean>();
        pending.push({ id: intent.clientOrderId, d });
        return d.promise;
      },
    };
    return { pending, journal };
  }

  it('an order leaves only once its own intent is committed; other symbols do not wait for that commit', async () => {
    const j = slowJournal();
    const h = harness({ journal: j.journal });
    h.signal('BTCUSDT', 'LONG', 0);
    h.signal('ETHUSDT', 'LONG', 0);
    await until('both intents at the journal', () => j.pending.length === 2);
    expect(h.sent).toHaveLength(0); // nothing leaves before its commit
    j.pending[1]!.d.resolve(true); // ETHUSDT committed first
    await until('the ETHUSDT order', () => h.sent.length === 1);
    expect(h.sent[0]!.symbol).toBe('ETHUSDT');
    j.pending[0]!.d.resolve(true);
    await h.bus.drain();
    expect(h.sent.map((i) => i.symbol)).toEqual(['ETHUSDT', 'BTCUSDT']);
    expect(h.executor.stats.submitted).toBe(2);
  });

  it('a failed commit → OrderDenied journal; an intent written before → duplicate; neither leaves nor stays in the book', async () => {
    const j = slowJournal();
    const h = harness({ journal: j.journal });
    h.signal('BTCUSDT', 'LONG', 0);
    h.signal('ETHUSDT', 'LONG', 0);
    await until('both intents at the journal', () => j.pending.length === 2);
    j.pending[0]!.d.reject(new Error('disk full'));
    j.pending[1]!.d.resolve(false);
    await h.bus.drain();
    expect(h.sent).toHaveLength(0);
    const denied = h.events.filter((e) => e.type === 'OrderDenied').map((e) => (e.type === 'OrderDenied' ? `${e.intent.symbol} ${e.check}` : ''));
    expect(denied).toEqual(['BTCUSDT journal', 'ETHUSDT duplicate']);
    // neither was written ahead by this process: an earlier row of the id (the duplicate's) is kept
    expect(h.events.filter((e) => e.type === 'OrderDenied' && e.writtenAhead)).toEqual([]);
    expect(h.executor.openOrders()).toEqual([]);
    // the symbols are free again: a new signal on BTCUSDT is decided (and waits for its commit)
    h.signal('BTCUSDT', 'LONG', 2);
    await until('the third intent', () => j.pending.length === 3);
    j.pending[2]!.d.resolve(true);
    await h.bus.drain();
    expect(h.sent.map((i) => i.symbol)).toEqual(['BTCUSDT']);
  });

  it('a HALT that arrives while the intent is being committed stops the order (denied tradingState)', async () => {
    const j = slowJournal();
    const h = harness({ journal: j.journal });
    h.signal('BTCUSDT', 'LONG', 0);
    await until('the intent at the journal', () => j.pending.length === 1);
    void h.bus.publish('order.request', { type: 'SetTradingState', ts: h.clock.now(), state: 'HALTED', reason: 'kill switch' });
    await until('HALTED', () => h.executor.tradingState().state === 'HALTED');
    j.pending[0]!.d.resolve(true);
    await h.bus.drain();
    expect(h.sent).toHaveLength(0);
    const d = h.events.find((e) => e.type === 'OrderDenied');
    expect(d?.type === 'OrderDenied' && d.check).toBe('tradingState');
    // written ahead by this process and never sent: its row may become DENIED
    expect(d?.type === 'OrderDenied' && d.writtenAhead).toBe(true);
    expect(h.executor.openOrders()).toEqual([]);
  });

  it('REDUCING arriving while an exit is being committed lets the exit go (it shrinks the position); an entry in the same spot is stopped', async () => {
    const j = slowJournal();
    const h = harness({ journal: j.journal });
    // a BTCUSDT long to exit (its entry committed and filled)
    h.signal('BTCUSDT', 'LONG', 0);
    await until('the entry intent', () => j.pending.length === 1);
    j.pending[0]!.d.resolve(true);
    await h.bus.drain();
    h.fill(h.sent[0]!, '0.009', '9001');
    await h.bus.drain();
    h.signal('BTCUSDT', 'FLAT', 1); // exit (reduce-only)
    h.signal('ETHUSDT', 'LONG', 0); // entry
    await until('both intents', () => j.pending.length === 3);
    void h.bus.publish('order.request', { type: 'SetTradingState', ts: h.clock.now(), state: 'REDUCING', reason: 'loss streak' });
    await until('REDUCING', () => h.executor.tradingState().state === 'REDUCING');
    j.pending[1]!.d.resolve(true);
    j.pending[2]!.d.resolve(true);
    await h.bus.drain();
    expect(h.sent.map((i) => `${i.symbol} ${i.side} ${i.reduceOnly}`)).toEqual(['BTCUSDT BUY false', 'BTCUSDT SELL true']);
    const d = h.events.filter((e) => e.type === 'OrderDenied');
    expect(d.map((e) => (e.type === 'OrderDenied' ? `${e.intent.symbol} ${e.check}` : ''))).toEqual(['ETHUSDT tradingState']);
  });
});
