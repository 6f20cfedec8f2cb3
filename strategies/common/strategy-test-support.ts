/**
 * Test support for the bar strategies (not used by the bot): real klines as `Kline` objects, a
 * driver that runs a strategy definition the way the host does (one BarAggregator, onKline then
 * onBar) and collects what it emits, and plain group-by bars plus TA-Lib for the references.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { ReplayClock } from '../../src/core/clock.ts';
import type { Kline, SignalEmitted } from '../../src/core/types.ts';
import { BarAggregator, INTERVAL_MS, type BarInterval } from '../bars/aggregator.ts';
import { inSession, type TradingSession } from '../bars/session.ts';
import type { SignalRequest, StrategyDefinition } from '../contract.ts';
import { KLINES_CSV } from '../indicators/test-support.ts';

/** The bundled real 1m klines of a symbol. */
export function readKlines(symbol: 'BTCUSDT' | 'ETHUSDT'): Kline[] {
  const lines = readFileSync(KLINES_CSV[symbol], 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [t, open, high, low, close, volume] = l.split(',') as [string, string, string, string, string, string];
    return { symbol, interval: '1m', openTime: Number(t), closeTime: Number(t) + 59_999, open, high, low, close, volume, closed: true };
  });
}

/** A signal as the tests compare them. */
export interface Emitted extends SignalRequest {}

/** Run `def` with `params` over `klines` as the host would, without executor (every signal "fills"). */
export function drive<P>(def: StrategyDefinition<P>, params: unknown, klines: Kline[], session?: TradingSession): { signals: Emitted[]; refused: Emitted[] } {
  const p = def.params.parse(params);
  const clock = new ReplayClock(klines[0]!.openTime);
  const signals: Emitted[] = [];
  const refused: Emitted[] = [];
  const s = def.create(p, {
    strategyId: 't',
    symbol: klines[0]!.symbol,
    clock,
    log: { debug() {}, info() {}, warn() {} },
    ...(session ? { session } : {}),
    emit: (req) => {
      if (req.target !== 'FLAT' && !inSession(session, req.klineOpenTime + 60_000)) {
        refused.push(req);
        return null;
      }
      signals.push(req);
      return { type: 'SignalEmitted', ts: clock.now(), signalId: String(signals.length), strategyId: 't', symbol: klines[0]!.symbol, ...req } as SignalEmitted;
    },
  });
  const agg = new BarAggregator(klines[0]!.symbol, def.intervals?.(p) ?? []);
  for (const k of klines) {
    clock.set(k.closeTime + 1);
    const bars = agg.update(k);
    s.onKline({ type: 'KlineClosed', ts: k.closeTime + 1, kline: k });
    for (const b of bars) s.onBar?.(b.interval, b);
  }
  return { signals, refused };
}

/** A plain group-by bar (reference). */
export interface RefBar { openTime: number; lastMinute: number; open: number; high: number; low: number; close: number; minutes: number }

/** Complete and incomplete bars of `interval` by a naive group-by over the minutes (UTC aligned). */
export function groupBars(klines: Kline[], interval: BarInterval): RefBar[] {
  const len = INTERVAL_MS[interval];
  const out: RefBar[] = [];
  for (const k of klines) {
    const start = Math.floor(k.openTime / len) * len;
    const last = out[out.length - 1];
    if (last && last.openTime === start) {
      last.high = Math.max(last.high, +k.high);
      last.low = Math.min(last.low, +k.low);
      last.close = +k.close;
      last.lastMinute = k.openTime;
      last.minutes++;
    } else {
      out.push({ openTime: start, lastMinute: k.openTime, open: +k.open, high: +k.high, low: +k.low, close: +k.close, minutes: 1 });
    }
  }
  return out;
}

interface TalibResult { begIndex: number; nbElement: number; result: Record<string, number[]> }
const talib = createRequire(import.meta.url)('talib') as { execute(p: Record<string, unknown>): TalibResult };

/** A TA-Lib function's first output aligned to input indexes (null before begIndex). */
export function taLib(name: string, inputs: Record<string, number[]>, opts: Record<string, number>, out = 'outReal'): (number | null)[] {
  const n = Object.values(inputs)[0]!.length;
  const r = talib.execute({ name, startIdx: 0, endIdx: n - 1, ...inputs, ...opts });
  if (!r || !r.result) throw new Error(`talib ${name} failed`);
  return Array.from({ length: n }, (_, i) => (i < r.begIndex ? null : r.result[out]![i - r.begIndex]!));
}
