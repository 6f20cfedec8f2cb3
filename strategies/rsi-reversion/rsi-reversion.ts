/**
 * RSI(2) mean reversion with a long-term trend filter, on 5m bars (default).
 *
 * Source: Larry Connors and Cesar Alvarez, "Short Term Trading Strategies That Work" (TradingMarkets,
 * 2008), ch. 9 "The 2-Period RSI": buy when the 2-period RSI closes below 10 (oversold) while the
 * close is above its 200-period simple moving average (up-trend); exit when the close rises above
 * its 5-period SMA. The short side mirrors it (RSI above 90 below the 200-SMA, exit below the 5-SMA).
 * Adapted to closed bars of `interval`:
 *
 * - Long (`entry`) when RSI(rsiPeriod) < oversold and close > SMA(trendPeriod); short when
 *   RSI > overbought and close < SMA(trendPeriod). Entries only on complete bars (no missing
 *   minutes) and inside the symbol's trading session.
 * - Exit (`exit_signal`) when a bar closes above SMA(exitPeriod) (long) or below it (short).
 * - Time stop (`time_stop`) after `maxHoldBars` bars (0 = off); Connors uses none, a bot that
 *   trades unattended wants a bound.
 * - Optional stop (`stop`) at entry ∓ stopAtr·ATR(14) of the entry bar, checked on every 1m kline
 *   (0 = off, Connors' default). Kept in the strategy, recorded in the signal's indicators, and
 *   stated with the entry as `stopPrice`: the executor keeps a STOP_MARKET there on the exchange
 *   (`risk.exchangeStop`), so the position stays protected while the bot is down.
 *
 * Indicators: strategies/indicators Rsi, Sma, Atr (trading-signals, equal to TA-Lib RSI/SMA/ATR).
 */
import { z } from 'zod';
import type { KlineClosed, OrderEvent, PositionChanged, TargetPosition } from '../../src/core/types.ts';
import { decimalToNumber } from '../../src/core/number-text.ts';
import type { Bar, BarInterval, Strategy, StrategyContext, StrategyDefinition } from '../contract.ts';
import { inSession } from '../bars/session.ts';
import { HeldPosition } from '../common/held-position.ts';
import { stopPriceText } from '../common/stop-price.ts';
import { Atr, Rsi, Sma } from '../indicators/index.ts';

/** Parameters of rsi-reversion, with their defaults (Connors' RSI(2) on 5m bars). */
export const rsiReversionParams = z.strictObject({
  /** Bar interval the indicators are computed on. */
  interval: z.enum(['1m', '3m', '5m', '15m', '30m', '1h', '4h']).default('5m'),
  /** RSI period, bars (Connors: 2). */
  rsiPeriod: z.number().int().min(2).max(100).default(2),
  /** Long when RSI is below this (Connors: 10). */
  oversold: z.number().min(0).max(100).default(10),
  /** Short when RSI is above this (mirror: 90). */
  overbought: z.number().min(0).max(100).default(90),
  /** Trend filter SMA period, bars (Connors: 200); longs above it, shorts below. */
  trendPeriod: z.number().int().min(2).max(2000).default(200),
  /** Exit SMA period, bars (Connors: 5). */
  exitPeriod: z.number().int().min(2).max(200).default(5),
  /** Close a position after this many bars (0 = off). */
  maxHoldBars: z.number().int().min(0).default(24),
  /** ATR stop distance from the entry close (0 = off). */
  stopAtr: z.number().min(0).max(50).default(0),
  /** Trade the long side. */
  allowLong: z.boolean().default(true),
  /** Trade the short side. */
  allowShort: z.boolean().default(true),
}).refine((p) => p.oversold < p.overbought, { message: 'oversold must be below overbought', path: ['oversold'] });

/** Validated rsi-reversion parameters. */
export type RsiReversionParams = z.infer<typeof rsiReversionParams>;

/** One rsi-reversion instance for one symbol. */
export class RsiReversionStrategy implements Strategy {
  private readonly rsi: Rsi;
  private readonly trend: Sma;
  private readonly exitMa: Sma;
  private readonly atr = new Atr(14);
  private readonly pos = new HeldPosition();
  private heldBars = 0;
  private stopPx: number | null = null;
  private skippedIncomplete = 0;

  constructor(
    private readonly p: RsiReversionParams,
    private readonly ctx: StrategyContext,
  ) {
    this.rsi = new Rsi(p.rsiPeriod);
    this.trend = new Sma(p.trendPeriod);
    this.exitMa = new Sma(p.exitPeriod);
  }

  /** The 1m kline: only the optional ATR stop is checked here. */
  onKline(e: KlineClosed): void {
    const held = this.pos.held;
    if (held === 'FLAT' || this.stopPx === null) return;
    const close = decimalToNumber(e.kline.close);
    if (held === 'LONG' ? close <= this.stopPx : close >= this.stopPx) {
      this.emit('FLAT', 'stop', e.kline.close, e.kline.openTime, { close, stop: this.stopPx });
    }
  }

  onBar(interval: BarInterval, bar: Bar): void {
    if (interval !== this.p.interval) return;
    const close = decimalToNumber(bar.close);
    const rsi = this.rsi.update(close);
    const trend = this.trend.update(close);
    const exitMa = this.exitMa.update(close);
    const atr = this.atr.update(decimalToNumber(bar.high), decimalToNumber(bar.low), close);
    const at = bar.emittedOnKlineOpenTime;
    const ind = { close, rsi, trendSma: trend, exitSma: exitMa, atr };
    const held = this.pos.held;
    if (held !== 'FLAT') {
      this.heldBars++;
      if (exitMa !== null && (held === 'LONG' ? close > exitMa : close < exitMa)) {
        this.emit('FLAT', 'exit_signal', bar.close, at, ind);
      } else if (this.p.maxHoldBars > 0 && this.heldBars >= this.p.maxHoldBars) {
        this.emit('FLAT', 'time_stop', bar.close, at, { ...ind, heldBars: this.heldBars });
      }
      return;
    }
    if (rsi === null || trend === null) return;
    const wantLong = this.p.allowLong && rsi < this.p.oversold && close > trend;
    const wantShort = this.p.allowShort && rsi > this.p.overbought && close < trend;
    if (!wantLong && !wantShort) return;
    if (!bar.complete) {
      this.skippedIncomplete++;
      return;
    }
    if (!inSession(this.ctx.session, at + 60_000)) return;
    const stop = this.p.stopAtr > 0 && atr !== null ? (wantLong ? close - this.p.stopAtr * atr : close + this.p.stopAtr * atr) : null;
    if (this.emit(wantLong ? 'LONG' : 'SHORT', 'entry', bar.close, at, { ...ind, stop }, stopPriceText(stop))) {
      this.stopPx = stop;
      this.heldBars = 0;
    }
  }

  /** Emit; `stopPrice` (entries with stopAtr > 0) is the position's exchange-side stop (executor, `risk.exchangeStop`). */
  private emit(target: TargetPosition, reason: 'entry' | 'exit_signal' | 'stop' | 'time_stop', refPrice: string, klineOpenTime: number, indicators: Record<string, number | null>, stopPrice?: string): boolean {
    this.pos.set(target);
    if (this.ctx.emit({ target, reason, refPrice, klineOpenTime, indicators, ...(stopPrice !== undefined ? { stopPrice } : {}) }) === null) {
      this.pos.undo();
      return false;
    }
    // The stop stays known after an exit signal: should the exit be refused, the position is back and still protected.
    return true;
  }

  onOrderUpdate(e: OrderEvent): void {
    this.pos.onOrderUpdate(e);
  }

  /** Adopt a reconciled position (the hold count starts over; no ATR stop for it). */
  onPosition(e: PositionChanged): void {
    const adopted = this.pos.onPosition(e);
    if (adopted === null) return;
    this.heldBars = 0;
    this.stopPx = null;
    this.ctx.log.info({ held: adopted }, 'adopted the account position');
  }

  state(): Record<string, unknown> {
    return {
      held: this.pos.held,
      rsi: this.rsi.value,
      trendSma: this.trend.value,
      exitSma: this.exitMa.value,
      heldBars: this.heldBars,
      stop: this.pos.held === 'FLAT' ? null : this.stopPx,
      skippedIncomplete: this.skippedIncomplete,
      refusals: this.pos.refusals,
    };
  }
}

/** The registered definition of rsi-reversion. */
export const rsiReversion: StrategyDefinition<RsiReversionParams> = {
  name: 'rsi-reversion',
  description: "Connors' RSI(2) mean reversion with a 200-SMA trend filter, exit on the 5-SMA",
  params: rsiReversionParams as unknown as z.ZodType<RsiReversionParams>,
  intervals: (p) => [p.interval],
  create: (params, ctx) => new RsiReversionStrategy(params, ctx),
};
