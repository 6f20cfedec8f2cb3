/**
 * Test support for the vwap-adx tests (not used by the bot): the independent references (ADX from
 * the real TA-Lib C library, session VWAP/σ as exact decimal running sums), a harness that drives
 * the strategy with a fake context, the independent decision rule for default parameters, and the
 * shared run over the real bundled BTCUSDT 1m klines.
 */
import { createRequire } from 'node:module';
import { ReplayClock } from '../../src/core/clock.ts';
import type { KlineClosed, MarkPriceUpdated, TargetPosition } from '../../src/core/types.ts';
import type { SignalRequest, Strategy, StrategyContext } from '../contract.ts';
import { D, KLINES_CSV, readKlinesCsv, type KlineColumns } from '../indicators/test-support.ts';
import { vwapAdx, vwapAdxParams, type VwapAdxStrategy, type VwapAdxParams } from './vwap-adx.ts';

// ---------------------------------------------------------------------------------------------
// References

interface TalibResult {
  begIndex: number;
  nbElement: number;
  result: { outReal: number[] };
}
const talib = createRequire(import.meta.url)('talib') as { execute(params: Record<string, unknown>): TalibResult };

/** TA-Lib ADX(period) for every bar of the columns (null before its begIndex). */
export function talibAdx(k: KlineColumns, period = 14, end = k.high.length): (number | null)[] {
  const high = k.high.slice(0, end);
  const low = k.low.slice(0, end);
  const close = k.close.slice(0, end);
  const r = talib.execute({ name: 'ADX', startIdx: 0, endIdx: end - 1, high, low, close, optInTimePeriod: period });
  if (!r || !r.result) throw new Error(`talib ADX failed: ${JSON.stringify(r)}`);
  const out: (number | null)[] = new Array<number | null>(end).fill(null);
  for (let j = 0; j < r.nbElement; j++) out[r.begIndex + j] = r.result.outReal[j]!;
  return out;
}

/** Session VWAP, σ and kline count at a bar, exact decimal. */
export interface SessionRef {
  vwap: D;
  sigma: D;
  count: number;
}

/**
 * Session VWAP and σ for every bar, exact decimal running sums Σv, Σtp·v, Σtp²·v per UTC day
 * (σ² = Σtp²v/Σv − vwap², harmless at 60 significant digits). Null while the session has no volume.
 */
function decimalSessions(k: KlineColumns): (SessionRef | null)[] {
  const out: (SessionRef | null)[] = [];
  let day = -1;
  let n = 0;
  let sv = new D(0);
  let spv = new D(0);
  let sppv = new D(0);
  for (let i = 0; i < k.openTime.length; i++) {
    const d = Math.floor(k.openTime[i]! / 86_400_000);
    if (d !== day) {
      day = d;
      n = 0;
      sv = new D(0);
      spv = new D(0);
      sppv = new D(0);
    }
    n++;
    const tp = new D(k.text.high[i]!).plus(k.text.low[i]!).plus(k.text.close[i]!).div(3);
    const v = new D(k.text.volume[i]!);
    sv = sv.plus(v);
    spv = spv.plus(tp.times(v));
    sppv = sppv.plus(tp.times(tp).times(v));
    if (sv.isZero()) {
      out.push(null);
      continue;
    }
    const vwap = spv.div(sv);
    const variance = sppv.div(sv).minus(vwap.times(vwap));
    out.push({ vwap, sigma: variance.isNegative() ? new D(0) : variance.sqrt(), count: n });
  }
  return out;
}

const TOL = new D('1e-9');
/** Sign of a − b, or 0 when they are within 1e-9 relative (too close to call with floats). */
function cmp(a: D, b: D): -1 | 0 | 1 {
  const diff = a.minus(b);
  if (diff.abs().lte(b.abs().times(TOL))) return 0;
  return diff.isNegative() ? -1 : 1;
}

// ---------------------------------------------------------------------------------------------
// Driving the strategy

/** The bundled real BTCUSDT 1m klines, as columns. */
export const K = readKlinesCsv(KLINES_CSV.BTCUSDT);
/** Number of klines in {@link K}. */
export const N = K.openTime.length;
/** One minute in milliseconds. */
export const MIN = 60_000;

/** A deep copy of the columns, to alter bars without touching {@link K}. */
export function cloneCols(k: KlineColumns): KlineColumns {
  return {
    openTime: k.openTime.slice(),
    high: k.high.slice(),
    low: k.low.slice(),
    close: k.close.slice(),
    volume: k.volume.slice(),
    text: { high: k.text.high.slice(), low: k.text.low.slice(), close: k.text.close.slice(), volume: k.text.volume.slice() },
  };
}

function klineEvent(k: KlineColumns, i: number, symbol = 'BTCUSDT'): KlineClosed {
  const openTime = k.openTime[i]!;
  return {
    type: 'KlineClosed',
    ts: openTime + MIN,
    kline: {
      symbol,
      interval: '1m',
      openTime,
      closeTime: openTime + MIN - 1,
      open: k.text.close[i]!, // vwap-adx does not read the open
      high: k.text.high[i]!,
      low: k.text.low[i]!,
      close: k.text.close[i]!,
      volume: k.text.volume[i]!,
      closed: true,
    },
  };
}

/** A signal the strategy emitted, with the index of the bar it was decided on. */
export interface Emitted {
  i: number;
  req: SignalRequest;
}

/** A strategy instance with a fake context: collects every SignalRequest with the bar index. */
export class Harness {
  readonly clock = new ReplayClock(0);
  readonly signals: Emitted[] = [];
  readonly strategy: VwapAdxStrategy;
  private current = -1;
  next = 0;

  constructor(
    readonly cols: KlineColumns,
    params: Partial<VwapAdxParams> = {},
  ) {
    const ctx: StrategyContext = {
      strategyId: 'va',
      symbol: 'BTCUSDT',
      clock: this.clock,
      log: { debug() {}, info() {}, warn() {} },
      emit: (req) => {
        this.signals.push({ i: this.current, req });
        return {
          type: 'SignalEmitted',
          ts: this.clock.now(),
          signalId: `va:BTCUSDT:${req.klineOpenTime}:0`,
          strategyId: 'va',
          symbol: 'BTCUSDT',
          target: req.target,
          reason: req.reason,
          refPrice: req.refPrice,
          indicators: req.indicators,
        };
      },
    };
    this.strategy = vwapAdx.create(vwapAdxParams.parse(params), ctx) as VwapAdxStrategy;
    (this.strategy as Strategy).start?.();
  }

  /** Feed bars [next, end): the clock moves to each bar's close + 1 first, as replay does. */
  feedTo(end: number): this {
    for (; this.next < end; this.next++) {
      const e = klineEvent(this.cols, this.next);
      this.clock.set(e.ts);
      this.current = this.next;
      this.strategy.onKline(e);
    }
    return this;
  }

  /** Hand the strategy a mark price at time `ts`. */
  mark(ts: number, price: number): void {
    const e: MarkPriceUpdated = { type: 'MarkPriceUpdated', ts, symbol: 'BTCUSDT', markPrice: String(price) };
    this.strategy.onMarkPrice(e);
  }

  /** The position the strategy believes it holds. */
  get held(): TargetPosition {
    return this.strategy.state().held as TargetPosition;
  }
}

// ---------------------------------------------------------------------------------------------
// The independent decision rule

/** What the reference says must happen at a bar. */
export interface Expected {
  signal: { target: TargetPosition; reason: SignalRequest['reason'] } | null;
  /** True when a compared quantity was within 1e-9 of its threshold (not decidable here). */
  borderline: boolean;
}

/** The volatility guard's threshold on a kline's relative range, with default parameters. */
export const GUARD_MAX = new D('0.003').times(new D(12).sqrt()); // volGuardMaxMove × √(60 000 / 5 000)

/**
 * What vwap-adx with default parameters must do at bar i, from the references only.
 * @param enteredAt clock time (close + 1) of the entry bar when held
 */
export function decide(k: KlineColumns, refs: (SessionRef | null)[], adx: (number | null)[], i: number, held: TargetPosition, enteredAt: number): Expected {
  const ref = refs[i];
  let borderline = false;
  if (!ref) return { signal: null, borderline };
  const close = new D(k.text.close[i]!);
  const now = k.openTime[i]! + MIN;
  if (held !== 'FLAT') {
    const long = held === 'LONG';
    const stopLevel = long ? ref.vwap.minus(ref.sigma.times(3)) : ref.vwap.plus(ref.sigma.times(3));
    const s = cmp(close, stopLevel);
    if (s === 0) borderline = true;
    if (long ? s < 0 : s > 0) return { signal: { target: 'FLAT', reason: 'stop' }, borderline };
    const v = cmp(close, ref.vwap);
    if (v === 0) borderline = true;
    if (long ? v > 0 : v < 0) return { signal: { target: 'FLAT', reason: 'exit_vwap' }, borderline };
    if (now - enteredAt >= 120 * MIN) return { signal: { target: 'FLAT', reason: 'time_stop' }, borderline };
    return { signal: null, borderline };
  }
  const a = adx[i];
  if (a === null || a === undefined) return { signal: null, borderline };
  if (Math.abs(a - 20) <= 20 * 1e-9) borderline = true;
  if (a >= 20) return { signal: null, borderline };
  if (ref.count < 30) return { signal: null, borderline };
  const lower = ref.vwap.minus(ref.sigma.times(2));
  const upper = ref.vwap.plus(ref.sigma.times(2));
  const cl = cmp(close, lower);
  const cu = cmp(close, upper);
  if (cl === 0 || cu === 0) borderline = true;
  const target: TargetPosition | null = cl < 0 ? 'LONG' : cu > 0 ? 'SHORT' : null;
  if (target === null) return { signal: null, borderline };
  const high = new D(k.text.high[i]!);
  const low = new D(k.text.low[i]!);
  const g = cmp(high.minus(low).div(low), GUARD_MAX);
  if (g === 0) borderline = true;
  if (g > 0) return { signal: null, borderline };
  return { signal: { target, reason: 'entry' }, borderline };
}

// Shared computations over the real file (the strategy run and both references).
/** Exact-decimal session VWAP/σ of every bar of {@link K}. */
export const REFS = decimalSessions(K);
/** TA-Lib ADX(14) of every bar of {@link K}. */
export const ADX = talibAdx(K);
/** vwap-adx with default parameters run over the whole of {@link K}. */
export const BASE = new Harness(K).feedTo(N);
/** The entry signals of {@link BASE}. */
export const ENTRIES = BASE.signals.filter((s) => s.req.reason === 'entry');
