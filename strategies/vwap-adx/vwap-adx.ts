/**
 * VWAP bands with an ADX filter: a mean-reversion strategy for sideways markets.
 *
 * - Session VWAP anchored at 00:00 UTC from typical price (h+l+c)/3 and volume; bands at
 *   VWAP ± bandK·σ, σ the volume-weighted standard deviation of typical price in the session.
 * - Wilder ADX(adxPeriod). Entries only while ADX < adxMax (no trend).
 * - Long when a kline closes below the lower band, short when it closes above the upper band.
 * - Exit when the close returns to VWAP (`exit_vwap`), when it closes beyond the outer band
 *   VWAP ∓ stopK·σ against the position (`stop`), or after timeStopMinutes (`time_stop`).
 * - A position held across 00:00 UTC keeps being judged against the previous session's final
 *   VWAP and σ until the new session has minSessionKlines klines (a fresh session has σ ≈ 0,
 *   which would otherwise close every position at midnight).
 * - Volatility guard: no new entry while price moved more than volGuardMaxMove (fraction) within
 *   the last volGuardWindowMs, measured on mark prices (live, paper). Replay has only 1-minute
 *   klines, so there the guard looks at the closing kline's own range (high−low)/low against the
 *   threshold scaled to one minute by √(60 000 / volGuardWindowMs) (random-walk scaling).
 *
 * Floats are used for the indicators only; the signal's reference price is the kline's close
 * text, untouched.
 */
import { z } from 'zod';
import type { KlineClosed, MarkPriceUpdated, OrderEvent, PositionChanged, TargetPosition } from '../../src/core/types.ts';
import type { Strategy, StrategyContext, StrategyDefinition } from '../contract.ts';
import { decimalToNumber } from '../../src/core/number-text.ts';
import { stopPriceText } from '../common/stop-price.ts';
import { Adx, SessionVwap } from '../indicators/index.ts';

/** Parameters of vwap-adx, with their defaults. */
export const vwapAdxParams = z.strictObject({
  /** Entry band width in σ: long below VWAP − bandK·σ, short above VWAP + bandK·σ. */
  bandK: z.number().positive().default(2),
  /** Stop band width in σ (must exceed bandK): a close beyond VWAP ∓ stopK·σ against the position exits. */
  stopK: z.number().positive().default(3),
  /** ADX period in klines (Wilder). */
  adxPeriod: z.number().int().min(2).max(200).default(14),
  /** Enter only while ADX is below this (sideways market). */
  adxMax: z.number().positive().max(100).default(20),
  /** Klines of the current session needed before the bands are trusted for entries. */
  minSessionKlines: z.number().int().min(1).default(30),
  /** Close a position after this many minutes regardless (0 = off). */
  timeStopMinutes: z.number().int().min(0).default(120),
  /** Minutes after an exit before a new entry on the same symbol. */
  cooldownMinutes: z.number().int().min(0).default(0),
  /** Volatility guard window, ms. */
  volGuardWindowMs: z.number().int().positive().default(5_000),
  /** Largest price move (fraction, 0.003 = 0.3%) inside the window that still allows an entry. */
  volGuardMaxMove: z.number().positive().default(0.003),
  /** Trade the long side. */
  allowLong: z.boolean().default(true),
  /** Trade the short side. */
  allowShort: z.boolean().default(true),
}).refine((p) => p.stopK > p.bandK, { message: 'stopK must be greater than bandK', path: ['stopK'] });

/** Validated vwap-adx parameters. */
export type VwapAdxParams = z.infer<typeof vwapAdxParams>;

type Held = TargetPosition;

/** A short ring of recent mark prices for the volatility guard. */
class PriceWindow {
  private ts: number[] = [];
  private px: number[] = [];
  constructor(private readonly windowMs: number) {}
  add(ts: number, price: number): void {
    this.ts.push(ts);
    this.px.push(price);
    this.trim(ts);
  }
  private trim(now: number): void {
    let drop = 0;
    while (drop < this.ts.length && (this.ts[drop] as number) < now - this.windowMs) drop++;
    if (drop > 0) {
      this.ts.splice(0, drop);
      this.px.splice(0, drop);
    }
  }
  /** Relative range (max−min)/min of the prices seen in the window ending at `now`, or null with < 2 samples. */
  move(now: number): number | null {
    this.trim(now);
    if (this.px.length < 2) return null;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of this.px) {
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    return (hi - lo) / lo;
  }
  /** Time of the newest sample, or -Infinity. */
  get lastTs(): number {
    return this.ts.length ? (this.ts[this.ts.length - 1] as number) : -Infinity;
  }
}

/** One vwap-adx instance for one symbol. */
export class VwapAdxStrategy implements Strategy {
  private readonly vwap = new SessionVwap();
  private readonly adx: Adx;
  private readonly marks: PriceWindow;
  private readonly klineGuardMax: number;
  private held: Held = 'FLAT';
  private enteredAt = 0;
  private lastExitAt = -Infinity;
  /** Client order ids of orders from this instance's signals, with the state to restore if refused. */
  private pending = new Map<string, Held>();
  private lastSignalPrev: Held | null = null;
  private guardBlocks = 0;
  private refusals = 0;
  /** The previous session's final VWAP and σ, for positions held across 00:00 UTC. */
  private carry: { vwap: number; sigma: number } | null = null;

  constructor(
    private readonly p: VwapAdxParams,
    private readonly ctx: StrategyContext,
  ) {
    this.adx = new Adx(p.adxPeriod);
    this.marks = new PriceWindow(p.volGuardWindowMs);
    this.klineGuardMax = p.volGuardMaxMove * Math.sqrt(60_000 / p.volGuardWindowMs);
  }

  onMarkPrice(e: MarkPriceUpdated): void {
    const price = Number(e.markPrice);
    if (Number.isFinite(price) && price > 0) this.marks.add(e.ts, price);
  }

  /** True when the volatility guard blocks entries now. */
  private guardBlocked(now: number, high: number, low: number): boolean {
    if (now - this.marks.lastTs <= this.p.volGuardWindowMs) {
      const move = this.marks.move(now);
      return move !== null && move > this.p.volGuardMaxMove;
    }
    // No recent mark prices (replay): the kline's own range stands in, scaled to one minute.
    return (high - low) / low > this.klineGuardMax;
  }

  onKline(e: KlineClosed): void {
    const k = e.kline;
    const high = decimalToNumber(k.high);
    const low = decimalToNumber(k.low);
    const close = decimalToNumber(k.close);
    const prevSession = this.vwap.sessionStart;
    const prevVwap = this.vwap.vwap;
    const prevSigma = this.vwap.stdev;
    this.vwap.update(k.openTime, high, low, close, decimalToNumber(k.volume));
    if (this.vwap.sessionStart !== prevSession) {
      this.carry = prevVwap !== null && prevSigma !== null ? { vwap: prevVwap, sigma: prevSigma } : null;
    }
    const adx = this.adx.update(high, low, close);
    const vwap = this.vwap.vwap;
    const sigma = this.vwap.stdev;
    if (vwap === null || sigma === null) return;
    const p = this.p;
    const upper = vwap + p.bandK * sigma;
    const lower = vwap - p.bandK * sigma;
    const now = this.ctx.clock.now();

    if (this.held === 'LONG' || this.held === 'SHORT') {
      const long = this.held === 'LONG';
      // Young session: judge the position against the previous session's bands.
      const carried = this.carry !== null && this.vwap.count < p.minSessionKlines;
      const v = carried ? this.carry!.vwap : vwap;
      const sd = carried ? this.carry!.sigma : sigma;
      let reason: 'exit_vwap' | 'stop' | 'time_stop' | null = null;
      if (long ? close <= v - p.stopK * sd : close >= v + p.stopK * sd) reason = 'stop';
      else if (long ? close >= v : close <= v) reason = 'exit_vwap';
      else if (p.timeStopMinutes > 0 && now - this.enteredAt >= p.timeStopMinutes * 60_000) reason = 'time_stop';
      if (reason !== null) {
        this.signal('FLAT', reason, k.close, k.openTime, v, sd, v + p.bandK * sd, v - p.bandK * sd, adx, carried);
        this.lastExitAt = now;
      }
      return;
    }

    if (adx === null || adx >= p.adxMax) return;
    if (this.vwap.count < p.minSessionKlines) return;
    if (now - this.lastExitAt < p.cooldownMinutes * 60_000) return;
    const wantLong = p.allowLong && close < lower;
    const wantShort = p.allowShort && close > upper;
    if (!wantLong && !wantShort) return;
    if (this.guardBlocked(now, high, low)) {
      this.guardBlocks++;
      return;
    }
    this.signal(wantLong ? 'LONG' : 'SHORT', 'entry', k.close, k.openTime, vwap, sigma, upper, lower, adx);
    this.enteredAt = now;
  }

  private signal(
    target: Held,
    reason: 'entry' | 'exit_vwap' | 'stop' | 'time_stop',
    refPrice: string,
    klineOpenTime: number,
    vwap: number,
    sigma: number,
    upper: number,
    lower: number,
    adx: number | null,
    carried = false,
  ): void {
    this.lastSignalPrev = this.held;
    this.held = target;
    // The stop band at entry, VWAP ∓ stopK·σ of the entry kline, stated as the position's
    // exchange stop. Indicators are floats; the level becomes decimal text here (the shortest
    // text that round-trips the double) and the executor rounds it to the tick, never wider.
    const band = target === 'LONG' ? vwap - this.p.stopK * sigma : target === 'SHORT' ? vwap + this.p.stopK * sigma : NaN;
    const stopPrice = reason === 'entry' ? stopPriceText(band) : undefined;
    this.ctx.emit({
      target,
      reason,
      refPrice,
      klineOpenTime,
      ...(stopPrice !== undefined ? { stopPrice } : {}),
      indicators: {
        vwap,
        sigma,
        upper,
        lower,
        stopUpper: vwap + this.p.stopK * sigma,
        stopLower: vwap - this.p.stopK * sigma,
        adx,
        sessionKlines: this.vwap.count,
        /** 1 when the bands are the previous session's (position held across 00:00 UTC). */
        carriedSession: carried ? 1 : 0,
      },
    });
  }

  /**
   * Adopt the position the exchange reports at start-up (restored after a restart, or
   * reconciled) when it disagrees with what this instance believes it holds and no order of ours
   * is in flight: exits then apply to it; the time stop counts from now. Positions changed by
   * fills (ours, or an operator's manual order) are not adopted.
   */
  onPosition(e: PositionChanged): void {
    if (e.source !== 'reconcile' || this.pending.size > 0) return;
    const q = Number(e.position.quantity);
    const actual: Held = q > 0 ? 'LONG' : q < 0 ? 'SHORT' : 'FLAT';
    if (actual === this.held) return;
    this.held = actual;
    if (actual !== 'FLAT') this.enteredAt = this.ctx.clock.now();
    this.ctx.log.info({ held: actual }, 'adopted the account position');
  }

  onOrderUpdate(e: OrderEvent): void {
    switch (e.type) {
      case 'OrderSubmitted':
        if (this.lastSignalPrev !== null) this.pending.set(e.intent.clientOrderId, this.lastSignalPrev);
        return;
      case 'OrderDenied':
      case 'OrderRejected': {
        // The executor or the exchange refused: our intended position did not happen. Go back
        // to what we held so the decision is taken again on the next kline.
        const id = e.type === 'OrderDenied' ? e.intent.clientOrderId : e.clientOrderId;
        const prev = this.pending.get(id) ?? (e.type === 'OrderDenied' ? this.lastSignalPrev : null);
        this.pending.delete(id);
        if (prev !== null && prev !== undefined) {
          this.held = prev;
          this.refusals++;
        }
        return;
      }
      case 'OrderFilled':
        if (e.status === 'FILLED') this.pending.delete(e.fill.clientOrderId);
        return;
      case 'OrderCanceled':
      case 'OrderExpired':
        this.pending.delete(e.clientOrderId);
        return;
      default:
        return;
    }
  }

  state(): Record<string, unknown> {
    return {
      held: this.held,
      vwap: this.vwap.vwap,
      sigma: this.vwap.stdev,
      adx: this.adx.value,
      sessionKlines: this.vwap.count,
      guardBlocks: this.guardBlocks,
      refusals: this.refusals,
    };
  }
}

/** The registered definition of vwap-adx. */
export const vwapAdx: StrategyDefinition<VwapAdxParams> = {
  name: 'vwap-adx',
  description: 'Session VWAP bands (±k·σ) mean reversion, only while ADX says the market is sideways',
  params: vwapAdxParams as unknown as z.ZodType<VwapAdxParams>,
  create: (params, ctx) => new VwapAdxStrategy(params, ctx),
};
