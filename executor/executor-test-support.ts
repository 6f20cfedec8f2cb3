/**
 * Test support for the executor tests (not used by the bot): a kernel-like harness with real
 * components (the real EventBus, a ReplayClock, the real SimVenue / MatchingEngine with the same
 * tick rounding and filter hook the kernel plugs in, the real bundled exchangeInfo) and real
 * klines copied verbatim from data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv and
 * ETHUSDT-1m-2025-07-06_2025-07-17.csv.
 *
 * Each minute is replayed the way src/kernel/kernel.ts `replay()` does it: clock.set(closeTime+1),
 * venue.onKline(k) (fills of orders placed on the previous close happen at this kline's open),
 * publish the kline, drain the bus; signals are then published on `signal.<id>` and drained.
 *
 * Simulated fees: taker 0.0005, slippage 0 bps (so a MARKET fill is exactly the next open).
 */
import { fileURLToPath } from 'node:url';
import { EventBus } from '../src/bus/bus.ts';
import { ReplayClock } from '../src/core/clock.ts';
import { Decimal } from '../src/core/decimal.ts';
import type {
  Kline,
  OrderEvent,
  OrderIntent,
  PositionChanged,
  SignalEmitted,
  TargetPosition,
  TradingState,
  TradingStateChanged,
} from '../src/core/types.ts';
import { SimVenue } from '../src/exchange/sim/sim-venue.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { loadExchangeInfo } from './exchange-info.ts';
import { Executor, type OrderJournal, type SizingConfig } from './executor.ts';
import { validateOrder } from './filters.ts';
import type { RiskLimits } from './risk.ts';
import type { Venue } from './venue.ts';

const RULES = loadExchangeInfo(fileURLToPath(new URL('../data/exchange-info/fapi-exchangeInfo-2024-10-02.json', import.meta.url)));

function klines(symbol: string, rows: string[]): Kline[] {
  return rows.map((row) => {
    const [t, open, high, low, close, volume] = row.split(',') as [string, string, string, string, string, string];
    const openTime = Number(t);
    return { symbol, interval: '1m', openTime, closeTime: openTime + 59_999, open, high, low, close, volume, closed: true };
  });
}

// BTCUSDT rows 0–7 of the CSV (2025-07-06 00:00–00:07 UTC), verbatim.
const BTC = klines('BTCUSDT', [
  '1751760000000,108153.4,108167.0,108153.3,108167.0,20.406',
  '1751760060000,108166.9,108167.0,108166.9,108167.0,4.633',
  '1751760120000,108167.0,108195.0,108100.0,108113.3,249.878',
  '1751760180000,108113.2,108135.0,108113.2,108134.9,29.041',
  '1751760240000,108135.0,108135.0,108121.1,108121.2,13.233',
  '1751760300000,108121.2,108125.7,108090.0,108090.1,34.616',
  '1751760360000,108090.1,108090.1,108090.0,108090.0,7.093',
  '1751760420000,108090.1,108094.3,108090.0,108094.2,14.995',
]);
// BTCUSDT rows 473–485 (2025-07-06 07:53–08:05 UTC), around the 08:00 funding time, verbatim.
const BTC_0800 = klines('BTCUSDT', [
  '1751788380000,108000.0,108000.1,107994.6,107994.6,15.03',
  '1751788440000,107994.6,107994.7,107994.6,107994.7,13.259',
  '1751788500000,107994.6,107994.7,107994.6,107994.6,3.41',
  '1751788560000,107994.7,107994.7,107994.6,107994.6,4.974',
  '1751788620000,107994.6,108003.0,107994.6,108000.1,34.512',
  '1751788680000,108000.0,108000.0,107991.3,107991.4,23.878',
  '1751788740000,107991.3,107991.4,107991.3,107991.3,11.258',
  '1751788800000,107991.4,107996.0,107988.1,107996.0,62.962',
  '1751788860000,107996.0,107996.0,107972.1,107972.2,14.488',
  '1751788920000,107972.2,107972.2,107966.7,107966.7,25.183',
  '1751788980000,107966.8,107975.1,107966.7,107975.0,39.559',
  '1751789040000,107975.1,107981.7,107970.3,107981.7,22.322',
  '1751789100000,107981.7,107998.0,107981.6,107998.0,28.397',
]);
/** ETHUSDT rows 0–1 of the CSV, verbatim (ETHUSDT: MIN_NOTIONAL 20, step 0.001). */
export const ETH = klines('ETHUSDT', ['1751760000000,2515.25,2516.09,2515.12,2515.26,1011.866', '1751760060000,2515.26,2515.46,2515.02,2515.43,834.149']);

/** BTCUSDT kline `i` of rows 0–7 of the CSV (2025-07-06 00:00–00:07 UTC). */
export const b = (i: number): Kline => BTC[i]!;
/** The BTCUSDT kline of 07:53–08:05 UTC opening at minute `openTimeMinute` of its hour. */
export const at0800 = (openTimeMinute: number): Kline => {
  const k = BTC_0800.find((x) => new Date(x.openTime).getUTCMinutes() === openTimeMinute);
  if (!k) throw new Error(`no kline at minute ${openTimeMinute}`);
  return k;
};

type Recorded = OrderEvent | PositionChanged | TradingStateChanged;
type Of<T extends Recorded['type']> = Extract<Recorded, { type: T }>;

const BASE_LIMITS: RiskLimits = {
  maxOpenPositions: 2,
  maxNotionalPerSymbol: new Decimal('5000'),
  maxDailyQuantity: new Map(),
  dailyLossLimit: new Decimal('300'),
  maxConsecutiveLosses: 0,
  haltCooldownMinutes: 0,
  fundingBlackoutMinutes: 0, // the data starts at 00:00 UTC, a funding time; tests of the window turn it on
};
const BASE_SIZING: SizingConfig = { mode: 'fixed_notional', notional: '1000', equityFraction: '0.1', leverage: 5 };

/** Options of {@link harness}. */
export interface HarnessOptions {
  limits?: Partial<RiskLimits>;
  sizing?: Partial<SizingConfig>;
  limitOrderTtlMs?: number;
  /**
   * Deliver each fill after the position update it caused, as Binance often does
   * (ACCOUNT_UPDATE before ORDER_TRADE_UPDATE); the simulated venue sends the fill first.
   */
  positionFirst?: boolean;
}

/** A kernel-like wiring of the executor with a real bus, replay clock and simulated venue. */
export function harness(o: HarnessOptions = {}) {
  const clock = new ReplayClock(0);
  const handlerErrors: unknown[] = [];
  const bus = new EventBus({ onHandlerError: (_s, err) => handlerErrors.push(err) });
  const sim = new SimVenue({
    clock,
    config: {
      takerFeeRate: '0.0005',
      makerFeeRate: '0.0002',
      slippageBps: '0',
      startingBalance: '10000',
      tickSize: (s) => (RULES.has(s) ? RULES.get(s).priceFilter.tickSize : undefined),
      validate: (intent) => {
        const v = validateOrder(RULES.get(intent.symbol), intent);
        return v ? { code: v.code, reason: v.reason } : null;
      },
    },
  });
  // Exactly like the kernel: venue events go onto the bus.
  const ctl = { journalError: null as string | null, venueError: null as string | null, holdPositions: false };
  const heldFills: OrderEvent[] = [];
  const heldPositions: PositionChanged[] = [];
  sim.onEvent((e) => {
    if (o.positionFirst && e.type === 'OrderFilled') {
      heldFills.push(e);
      return;
    }
    if (e.type === 'PositionChanged') {
      if (ctl.holdPositions) {
        heldPositions.push(e);
        return;
      }
      void bus.publish('account.update', e);
      for (const f of heldFills.splice(0)) void bus.publish('order.update', f);
    } else void bus.publish('order.update', e);
  });
  /** Deliver the position updates held back by `ctl.holdPositions`. */
  async function releasePositions(): Promise<void> {
    ctl.holdPositions = false;
    for (const p of heldPositions.splice(0)) await bus.publish('account.update', p);
    await bus.drain();
  }

  /** Calls to the journal and to the venue, in the order they happened. */
  const trace: string[] = [];
  const journaled: OrderIntent[] = [];
  const venueSaw: OrderIntent[] = [];
  const journal: OrderJournal = {
    recordIntent(intent) {
      trace.push(`journal ${intent.clientOrderId}`);
      if (ctl.journalError !== null) throw new Error(ctl.journalError);
      if (journaled.some((j) => j.clientOrderId === intent.clientOrderId)) return false;
      journaled.push(intent);
      return true;
    },
  };
  const venue: Venue = {
    name: sim.name,
    submit(intent) {
      trace.push(`venue ${intent.clientOrderId}`);
      venueSaw.push(intent);
      if (ctl.venueError !== null) return Promise.reject(new Error(ctl.venueError));
      return sim.submit(intent);
    },
    cancel: (symbol, id) => sim.cancel(symbol, id),
    onEvent: (l) => sim.onEvent(l),
    positions: () => sim.positions(),
  };

  const limits: RiskLimits = { ...BASE_LIMITS, ...o.limits };
  const executor = new Executor({
    bus,
    venue,
    rules: RULES,
    clock,
    sizing: { ...BASE_SIZING, ...o.sizing },
    limits,
    journal,
    log: silentLogger(),
    startingEquity: '10000',
    ...(o.limitOrderTtlMs !== undefined ? { limitOrderTtlMs: o.limitOrderTtlMs } : {}),
  });
  executor.start();

  const events: Recorded[] = [];
  bus.consume(['order.update', 'account.update', 'risk.state'], (m) => void events.push(m), { name: 'recorder' });

  const of = <T extends Recorded['type']>(type: T): Of<T>[] => events.filter((e): e is Of<T> => e.type === type);

  /** One replay minute (one kline per symbol, same open time), in the kernel's order. */
  async function bar(...group: Kline[]): Promise<void> {
    clock.set(group[0]!.closeTime + 1);
    for (const k of group) sim.onKline(k);
    for (const k of group) await bus.publish(`market.kline.${k.symbol}`, { type: 'KlineClosed', ts: clock.now(), kline: k });
    await bus.drain();
  }

  /** A strategy signal decided on kline `k`'s close. */
  async function signal(target: TargetPosition, k: Kline, seq = 0, strategyId = 's1'): Promise<SignalEmitted> {
    const s: SignalEmitted = {
      type: 'SignalEmitted',
      ts: clock.now(),
      signalId: `${strategyId}:${k.symbol}:${k.openTime}:${seq}`,
      strategyId,
      symbol: k.symbol,
      target,
      reason: target === 'FLAT' ? 'exit_vwap' : 'entry',
      refPrice: k.close,
      indicators: {},
      klineOpenTime: k.openTime,
    };
    await bus.publish(`signal.${strategyId}`, s);
    await bus.drain();
    return s;
  }

  async function setState(state: TradingState, reason: string): Promise<void> {
    await bus.publish('order.request', { type: 'SetTradingState', ts: clock.now(), state, reason });
    await bus.drain();
  }

  return { clock, bus, sim, executor, events, of, trace, journaled, venueSaw, ctl, handlerErrors, bar, signal, setState, releasePositions };
}
