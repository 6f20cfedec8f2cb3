/**
 * Donchian channel breakout with an ATR stop: trend following on 15m (default) or 1h bars.
 *
 * Source: the Turtle Traders' "System 1" as published by Curtis Faith, "Way of the Turtle"
 * (McGraw-Hill, 2007), ch. 5 and the appendix "The Original Turtle Trading Rules": enter on a
 * breakout of the 20-period high (long) or low (short), exit on a 10-period breakout the other way,
 * protective stop 2 N from the entry, N = the 20-period Wilder ATR. Richard Donchian's N-bar
 * channel is the breakout rule. Adapted to closed bars:
 *
 * - On each closed `interval` bar: long when its close is above the highest high of the previous
 *   `entryPeriod` bars (the channel before this bar), short when below their lowest low.
 *   Entries only on complete bars (no missing minutes) and inside the symbol's trading session.
 * - Exit (`exit_signal`) when a bar closes below the lowest low of the previous `exitPeriod`
 *   bars (long) or above their highest high (short).
 * - Stop (`stop`): fixed at entry, entry close ∓ `stopAtr`·ATR(`atrPeriod`) of the entry bar; checked
 *   on every closed 1m kline, so it acts within a minute rather than at the next bar. The entry
 *   signal also states it as `stopPrice`, so the executor keeps a STOP_MARKET there on the
 *   exchange (`risk.exchangeStop`): the position stays protected if the bot is down. Recorded in
 *   the signal's indicators (`stop`) too.
 *
 * Indicators: strategies/indicators Donchian and Atr (trading-signals, equal to TA-Lib MAX/MIN/ATR).
 */
import { z } from 'zod';
import type { KlineClosed, OrderEvent, PositionChanged, TargetPosition } from '../../src/core/types.ts';
import { decimalToNumber } from '../../src/core/number-text.ts';
import type { Bar, BarInterval, Strategy, StrategyContext, StrategyDefinition } from '../contract.ts';
import { inSession } from '../bars/session.ts';
import { HeldPosition } from '../common/held-position.ts';
import { stopPriceText } from '../common/stop-price.ts';
import { Atr, Donchian, type Bands } from '../indicators/index.ts';

/** Parameters of donchian-breakout, with their defaults (Turtle System 1 on 15m bars). */
export const donchianBreakoutParams = z.strictObject({
  /** Bar interval the channels and ATR are computed on. */
  interval: z.enum(['5m', '15m', '30m', '1h', '4h']).default('15m'),
  /** Entry channel length, bars (Turtle: 20). */
  entryPeriod: z.number().int().min(2).max(500).default(20),
  /** Exit channel length, bars (Turtle: 10); shorter than entryPeriod. */
  exitPeriod: z.number().int().min(2).max(500).default(10),
  /** Wilder ATR period, bars (Turtle: 20). */
  atrPeriod: z.number().int().min(1).max(500).default(20),
  /** Stop distance from the entry close in ATRs (Turtle: 2). */
  stopAtr: z.number().positive().max(50).default(2),
  /** Trade the long side. */
  allowLong: z.boolean().default(true),
  /** Trade the short side. */
  allowShort: z.boolean().default(true),
}).refine((p) => p.exitPeriod < p.entryPeriod, { message: 'exitPeriod must be shorter than entryPeriod', path: ['exitPeriod'] });

/** Validated donchian-breakout parameters. */
export type DonchianBreakoutParams = z.infer<typeof donchianBreakoutParams>;

/** One donchian-breakout instance for one symbol. */
export class DonchianBreakoutStrategy implements Strategy {
  private readonly entry: Donchian;
  private readonly exit: Donchian;
  private readonly atr: Atr;
  private readonly pos = new HeldPosition();
  /** Stop price of the open position (float, quote asset), or null. */
  private stopPx: number | null = null;
  private bars = 0;
  private skippedIncomplete = 0;

  constructor(
    private readonly p: DonchianBreakoutParams,
    private readonly ctx: StrategyContext,
  ) {
    this.entry = new Donchian(p.entryPeriod);
    this.exit = new Donchian(p.exitPeriod);
    this.atr = new Atr(p.atrPeriod);
  }

  /** The 1m kline: only the stop is checked here. */
  onKline(e: KlineClosed): void {
    const held = this.pos.held;
    if (held === 'FLAT' || this.stopPx === null) return;
    const close = decimalToNumber(e.kline.close);
    if (held === 'LONG' ? close <= this.stopPx : close >= this.stopPx) {
      this.emit('FLAT', 'stop', e.kline.close, e.kline.openTime, { close, stop: this.stopPx, atr: this.atr.value });
    }
  }

  onBar(interval: BarInterval, bar: Bar): void {
    if (interval !== this.p.interval) return;
    this.bars++;
    const high = decimalToNumber(bar.high);
    const low = decimalToNumber(bar.low);
    const close = decimalToNumber(bar.close);
    // Channels of the previous bars, before this one is added.
    const entryCh: Bands | null = this.entry.value;
    const exitCh: Bands | null = this.exit.value;
    this.entry.update(high, low);
    this.exit.update(high, low);
    const atr = this.atr.update(high, low, close);
    const at = bar.emittedOnKlineOpenTime;
    const ind = {
      close,
      entryUpper: entryCh?.upper ?? null,
      entryLower: entryCh?.lower ?? null,
      exitUpper: exitCh?.upper ?? null,
      exitLower: exitCh?.lower ?? null,
      atr,
    };
    const held = this.pos.held;
    if (held !== 'FLAT') {
      if (exitCh && (held === 'LONG' ? close < exitCh.lower : close > exitCh.upper)) {
        this.emit('FLAT', 'exit_signal', bar.close, at, { ...ind, stop: this.stopPx });
      }
      return;
    }
    if (!entryCh || atr === null) return;
    const wantLong = this.p.allowLong && close > entryCh.upper;
    const wantShort = this.p.allowShort && close < entryCh.lower;
    if (!wantLong && !wantShort) return;
    if (!bar.complete) {
      this.skippedIncomplete++;
      return;
    }
    if (!inSession(this.ctx.session, at + 60_000)) return;
    const stop = wantLong ? close - this.p.stopAtr * atr : close + this.p.stopAtr * atr;
    if (this.emit(wantLong ? 'LONG' : 'SHORT', 'entry', bar.close, at, { ...ind, stop }, stopPriceText(stop))) this.stopPx = stop;
  }

  /** Emit; `stopPrice` (entries) is the position's exchange-side stop (executor, `risk.exchangeStop`). */
  private emit(target: TargetPosition, reason: 'entry' | 'exit_signal' | 'stop', refPrice: string, klineOpenTime: number, indicators: Record<string, number | null>, stopPrice?: string): boolean {
    this.pos.set(target);
    const e = this.ctx.emit({ target, reason, refPrice, klineOpenTime, indicators, ...(stopPrice !== undefined ? { stopPrice } : {}) });
    if (e === null) {
      this.pos.undo();
      return false;
    }
    // The stop stays known after an exit signal: should the exit be refused, the position is back and still protected.
    return true;
  }

  onOrderUpdate(e: OrderEvent): void {
    this.pos.onOrderUpdate(e);
  }

  /** Adopt a reconciled position; without an entry bar its stop is the current close ∓ stopAtr·ATR. */
  onPosition(e: PositionChanged): void {
    const adopted = this.pos.onPosition(e);
    if (adopted === null) return;
    const atr = this.atr.value;
    const px = Number(e.position.entryPrice);
    this.stopPx = adopted === 'FLAT' || atr === null || !(px > 0) ? null : adopted === 'LONG' ? px - this.p.stopAtr * atr : px + this.p.stopAtr * atr;
    this.ctx.log.info({ held: adopted, stop: this.stopPx }, 'adopted the account position');
  }

  state(): Record<string, unknown> {
    return {
      held: this.pos.held,
      stop: this.pos.held === 'FLAT' ? null : this.stopPx,
      entryChannel: this.entry.value,
      exitChannel: this.exit.value,
      atr: this.atr.value,
      bars: this.bars,
      skippedIncomplete: this.skippedIncomplete,
      refusals: this.pos.refusals,
    };
  }
}

/** The registered definition of donchian-breakout. */
export const donchianBreakout: StrategyDefinition<DonchianBreakoutParams> = {
  name: 'donchian-breakout',
  description: 'Turtle-style Donchian channel breakout on 15m/1h bars with a 2·ATR stop',
  params: donchianBreakoutParams as unknown as z.ZodType<DonchianBreakoutParams>,
  intervals: (p) => [p.interval],
  create: (params, ctx) => new DonchianBreakoutStrategy(params, ctx),
};
