/**
 * The strategy host's multi-timeframe bars and trading sessions: bars built by the host reach
 * `onBar` right after the kline that closed them (aligned to UTC or to the session open), gaps are
 * counted, entries outside the session are refused while exits pass, and different symbols may run
 * different strategies.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventBus } from '../bus/bus.ts';
import { ReplayClock } from '../core/clock.ts';
import { PerpbotError } from '../core/errors.ts';
import type { KlineClosed, SignalEmitted } from '../core/types.ts';
import type { StrategyConfig } from '../config/schema.ts';
import { loadConfig } from '../config/load.ts';
import { ConfigError } from '../core/errors.ts';
import { silentLogger } from '../logging/logger.ts';
import type { BarInterval, Strategy } from '../../strategies/contract.ts';
import { registerStrategy } from '../../strategies/registry.ts';
import { readKlines } from '../../strategies/common/strategy-test-support.ts';
import { parseHhMm, type TradingSession } from '../../strategies/bars/session.ts';
import { startStrategies, type StrategyHostOptions } from './strategy-host.ts';

const events: string[] = [];
registerStrategy({
  name: 'test-bars',
  description: 'records klines and bars; on each bar of `signalOn` emits LONG then FLAT',
  params: z.strictObject({ intervals: z.array(z.string()).default(['3m', '15m']), signalOn: z.string().default('') }),
  intervals: (p) => p.intervals as BarInterval[],
  create: (p, ctx): Strategy => ({
    onKline: (e) => void events.push(`k ${iso(e.kline.openTime)}`),
    onBar: (interval, b) => {
      events.push(`${interval} ${iso(b.openTime)} n=${b.minutes} ${b.complete ? 'ok' : 'incomplete'}`);
      if (interval !== p.signalOn) return;
      for (const target of ['LONG', 'FLAT'] as const) {
        const r = ctx.emit({ target, reason: target === 'LONG' ? 'entry' : 'exit_signal', refPrice: b.close, indicators: {}, klineOpenTime: b.emittedOnKlineOpenTime });
        events.push(`emit ${target} ${r === null ? 'refused' : 'published'}`);
      }
    },
  }),
});

const iso = (t: number) => new Date(t).toISOString().slice(11, 16);
const BTC = readKlines('BTCUSDT');
const ETH = readKlines('ETHUSDT');

function setup(configs: StrategyConfig[], opts: StrategyHostOptions = {}) {
  events.length = 0;
  const bus = new EventBus({});
  const clock = new ReplayClock(BTC[0]!.openTime);
  const signals: SignalEmitted[] = [];
  bus.consume('signal.*', (m) => void signals.push(m), { name: 'signals' });
  const instances = startStrategies(bus, configs, ['BTCUSDT', 'ETHUSDT'], clock, silentLogger(), opts);
  const feed = async (klines = BTC.slice(0, 30)) => {
    for (const k of klines) {
      clock.set(k.closeTime + 1);
      bus.publish(`market.kline.${k.symbol}`, { type: 'KlineClosed', ts: k.closeTime + 1, kline: k } satisfies KlineClosed);
      await bus.drain();
    }
  };
  return { bus, signals, instances, feed };
}

const cfg = (params: Record<string, unknown> = {}, symbols = ['BTCUSDT']): StrategyConfig => ({ id: 'bars', name: 'test-bars', symbols, params });

describe('strategy host: multi-timeframe bars', () => {
  it('bars reach onBar right after the onKline of their last minute, shortest first, aligned to 00:00 UTC', async () => {
    const { feed, instances } = setup([cfg()]);
    await feed();
    expect(events.slice(0, 8)).toEqual(['k 00:00', 'k 00:01', 'k 00:02', '3m 00:00 n=3 ok', 'k 00:03', 'k 00:04', 'k 00:05', '3m 00:03 n=3 ok']);
    const i = events.indexOf('k 00:14');
    expect(events.slice(i, i + 3)).toEqual(['k 00:14', '3m 00:12 n=3 ok', '15m 00:00 n=15 ok']);
    expect(events.filter((e) => e.startsWith('3m')).length).toBe(10);
    expect(events.filter((e) => e.startsWith('15m')).length).toBe(2);
    expect(instances[0]!.stats).toEqual({ sessionRefusals: 0, gapMinutes: 0, bars: 12, incompleteBars: 0 });
    expect(instances[0]!.intervals).toEqual(['3m', '15m']);
  });

  it('with a session that aligns bars, windows start at the session open (00:05 → 15m bars at 00:05, 00:20)', async () => {
    const session: TradingSession = { openMinute: 5, closeMinute: 5, days: [0, 1, 2, 3, 4, 5, 6], alignBars: true };
    const { feed } = setup([cfg({ intervals: ['15m'] })], { sessions: { BTCUSDT: session } });
    await feed(BTC.slice(0, 36));
    // The first window (23:50–00:05) started before the data: flagged incomplete, 5 minutes seen.
    expect(events.filter((e) => e.startsWith('15m'))).toEqual(['15m 23:50 n=5 incomplete', '15m 00:05 n=15 ok', '15m 00:20 n=15 ok']);
  });

  it('a missing minute is counted and its bar flagged, never filled in', async () => {
    const { feed, instances } = setup([cfg({ intervals: ['15m'] })]);
    await feed([...BTC.slice(0, 7), ...BTC.slice(9, 30)]);
    expect(events.filter((e) => e.startsWith('15m'))).toEqual(['15m 00:00 n=13 incomplete', '15m 00:15 n=15 ok']);
    expect(instances[0]!.stats).toMatchObject({ gapMinutes: 2, bars: 2, incompleteBars: 1 });
  });

  it('a definition asking for an unknown interval → CONFIG_INVALID naming the instance', () => {
    let err: unknown;
    try {
      setup([cfg({ intervals: ['7m'] })]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PerpbotError);
    expect((err as PerpbotError).code).toBe('CONFIG_INVALID');
    expect((err as Error).message).toMatch(/strategies\[bars\] \(test-bars\): bar interval: got "7m"/);
  });
});

describe('strategy host: trading sessions', () => {
  const session: TradingSession = { openMinute: parseHhMm('00:00'), closeMinute: parseHhMm('00:10'), days: [0, 1, 2, 3, 4, 5, 6], alignBars: false };

  it('an entry decided on a kline closing outside the session is refused (not published, counted); exits always pass', async () => {
    const { feed, signals, instances } = setup([cfg({ intervals: ['3m'], signalOn: '3m' })], { sessions: { BTCUSDT: session } });
    await feed(BTC.slice(0, 15));
    // 3m bars close at 00:03, 00:06, 00:09 (inside [00:00, 00:10)), 00:12 and 00:15 (outside).
    expect(events.filter((e) => e.startsWith('emit'))).toEqual([
      'emit LONG published', 'emit FLAT published',
      'emit LONG published', 'emit FLAT published',
      'emit LONG published', 'emit FLAT published',
      'emit LONG refused', 'emit FLAT published',
      'emit LONG refused', 'emit FLAT published',
    ]);
    expect(signals.map((s) => `${s.target}@${iso(s.klineOpenTime!)}`)).toEqual([
      'LONG@00:02', 'FLAT@00:02', 'LONG@00:05', 'FLAT@00:05', 'LONG@00:08', 'FLAT@00:08', 'FLAT@00:11', 'FLAT@00:14',
    ]);
    expect(instances[0]!.stats.sessionRefusals).toBe(2);
  });

  it('a symbol without a session trades around the clock', async () => {
    const { feed, signals } = setup([cfg({ intervals: ['3m'], signalOn: '3m' }, ['ETHUSDT'])], { sessions: { BTCUSDT: session } });
    await feed(ETH.slice(0, 15));
    expect(signals.filter((s) => s.target === 'LONG')).toHaveLength(5);
  });

  it('config: sessions are validated with the key named; parsed into minutes', () => {
    const ok = loadConfig({ env: { PERPBOT_SESSIONS: '{"BTCUSDT":{"open":"13:30","close":"20:00","days":[1,2,3,4,5],"alignBars":true}}' }, dotenvFile: null });
    expect(ok.sessions).toEqual({ BTCUSDT: { openMinute: 810, closeMinute: 1200, days: [1, 2, 3, 4, 5], alignBars: true } });
    let err: unknown;
    try {
      loadConfig({ env: { PERPBOT_SESSIONS: '{"BTCUSDT":{"open":"25:00","close":"20:00"}}' }, dotenvFile: null });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/sessions\.BTCUSDT\.open.*HH:MM/);
  });
});

describe('one strategy per symbol, different strategies on different symbols', () => {
  it('donchian-breakout on BTCUSDT and rsi-reversion on ETHUSDT start side by side (config and host)', async () => {
    const config = loadConfig({
      env: { PERPBOT_STRATEGIES: JSON.stringify([
        { id: 'dcb', name: 'donchian-breakout', symbols: ['BTCUSDT'], params: {} },
        { id: 'rsi', name: 'rsi-reversion', symbols: ['ETHUSDT'], params: {} },
      ]) },
      dotenvFile: null,
    });
    const { instances } = setup(config.strategies);
    expect(instances.map((i) => `${i.strategyId}/${i.name}/${i.symbol}/${i.intervals.join(',')}`)).toEqual([
      'dcb/donchian-breakout/BTCUSDT/15m',
      'rsi/rsi-reversion/ETHUSDT/5m',
    ]);
  });

  it('two different strategies on the same symbol → CONFIG_INVALID', () => {
    expect(() => setup([
      { id: 'dcb', name: 'donchian-breakout', symbols: ['BTCUSDT'], params: {} },
      { id: 'rsi', name: 'rsi-reversion', symbols: [], params: {} },
    ])).toThrow(/dcb and rsi both trade BTCUSDT/);
  });
});
