/**
 * The data clock: plays each 1-minute kline in `steps` sub-steps (a non-final `x:false` kline
 * frame and a mark price at each, then the final `x:true` frame), shows the engine each kline's
 * open as a mark price when it starts (MARKET orders fill there) and the closed kline when it
 * ends (resting LIMIT orders fill through it), and runs in real time × `speed` unless paused.
 * With `fillOnSubSteps` or the partial-fills fault, the engine also sees each sub-step's mark.
 * Funding is settled when the data clock reaches a funding time (./funding.ts). While running,
 * two server-clock timers send mark prices every 1 s and 3 s (./streams.ts `sendMarks`).
 */
import { Decimal, dec, str } from '../../core/decimal.ts';
import { MINUTE, type SimContext } from './context.ts';
import { FUNDING_INTERVAL_MS } from './funding.ts';
import { flushUserEvents } from './user-events.ts';
import { accountUpdate, partialKline, type AccountUpdatePosition } from './wire.ts';

/** Hand and timer control of the data clock. All methods are synchronous. */
export interface DataClock {
  /** Stop the real-time data clock. */
  pause(): void;
  /** Restart the real-time data clock. */
  resume(): void;
  /** Play `n` sub-steps. @returns how many were played (fewer at the end of the data) */
  step(n: number): number;
  /** Play until `n` more klines have closed. @returns how many closed */
  advance(n: number): number;
}

/** Start the data clock (the first live kline starts now; the timer runs unless `ctx.paused`). */
export function startDataClock(ctx: SimContext): DataClock {
  const { symbols, bars, steps, t0, engine, opts } = ctx;

  function startKline(hand: boolean): void {
    const t = t0 + ctx.index * MINUTE;
    settleFunding();
    for (const s of symbols) {
      const k = bars.get(s)![ctx.index];
      if (k === undefined) continue;
      ctx.handleEvents(engine.onMarkPrice(s, k.open, t, false), t); // stops: from the first sub-step (matching-engine.ts)
    }
    ctx.marketFrames(false, hand);
  }

  /** Settle every funding time the data clock has reached (see ./funding.ts). */
  function settleFunding(): void {
    while (!ctx.ended && ctx.nextFunding <= ctx.dataTime()) {
      const f = ctx.nextFunding;
      ctx.nextFunding += FUNDING_INTERVAL_MS;
      const frames: unknown[] = [];
      for (const p of engine.positions()) {
        const qty = dec(p.quantity);
        if (qty.isZero()) continue;
        const rate = ctx.funding.rateAt(p.symbol, f);
        const mark = ctx.markPrice(p.symbol);
        const amount = str(qty.times(dec(mark)).times(dec(rate)).neg().toDecimalPlaces(8, Decimal.ROUND_HALF_UP));
        const balance = engine.applyFunding(amount);
        const E = ctx.wireTime(f);
        ctx.fundingPayments.push({ symbol: p.symbol, time: E, fundingTime: f, rate, markPrice: mark, positionAmt: p.quantity, amount });
        if (ctx.fundingPayments.length > 10_000) ctx.fundingPayments.shift();
        const isolated = ctx.marginType.get(p.symbol) === 'isolated';
        const pos: AccountUpdatePosition[] = isolated
          ? [{ s: p.symbol, pa: p.quantity, ep: p.entryPrice, cr: p.realizedPnl, up: engine.unrealizedPnl(p.symbol, mark), mt: 'isolated', bep: str(ctx.breakEven(qty, dec(p.entryPrice))) }]
          : [];
        frames.push(accountUpdate(E, E, balance, pos, 'FUNDING_FEE', amount));
      }
      flushUserEvents(ctx, frames);
    }
  }

  function closeKline(hand: boolean): void {
    ctx.marketFrames(true, hand);
    const E = t0 + (ctx.index + 1) * MINUTE;
    for (const s of symbols) {
      const k = ctx.bar(s, ctx.index);
      if (k === undefined) continue;
      ctx.lastClose.set(s, k.close);
      ctx.firstTradeIds.set(s, ctx.firstTradeIds.get(s)! + (k.trades ?? 0));
      ctx.handleEvents(engine.onKline(k), E);
    }
  }

  /** One sub-step. @returns 'step' | 'closed' (a kline closed) | 'end' */
  function stepOnce(hand: boolean): 'step' | 'closed' | 'end' {
    if (ctx.ended) return 'end';
    ctx.phase++;
    if (ctx.phase < steps) {
      ctx.marketFrames(false, hand);
      if (opts.fillOnSubSteps === true || ctx.faults.partialFills > 1) {
        const t = ctx.dataTime();
        for (const s of symbols) {
          const k = bars.get(s)![ctx.index];
          if (k !== undefined) ctx.handleEvents(engine.onMarkPrice(s, partialKline(k, ctx.phase, steps).close, t), t);
        }
      } else {
        // Protective stops trigger on the mark price (Binance workingType MARK_PRICE) all the same.
        const t = ctx.dataTime();
        for (const s of symbols) {
          const k = bars.get(s)![ctx.index];
          if (k !== undefined) ctx.handleEvents(engine.triggerStops(s, partialKline(k, ctx.phase, steps).close, t), t);
        }
      }
      return 'step';
    }
    closeKline(hand);
    ctx.index++;
    ctx.phase = 0;
    if (ctx.index >= ctx.timelineLen) {
      ctx.ended = true;
      return 'closed';
    }
    startKline(hand);
    return 'closed';
  }

  if (!ctx.ended) startKline(true);

  let timer: NodeJS.Timeout | null = null;
  let markTimers: NodeJS.Timeout[] = [];
  const realStepMs = ctx.stepMs / ctx.speed;
  /** Where the data clock stood (in sub-steps) at the wall time it was last armed or stepped by hand. */
  let base = { steps: 0, wall: 0 };
  const position = (): number => ctx.index * steps + ctx.phase;
  const rebase = (): void => {
    base = { steps: position(), wall: Date.now() };
  };
  /**
   * Run the data clock: each tick plays every sub-step due by the wall clock since `base` (a
   * late timer catches up instead of letting the data fall behind the server clock over hours),
   * at most 1,000 a tick.
   */
  function arm(): void {
    if (timer !== null || ctx.paused || ctx.ended) return;
    rebase();
    timer = setInterval(() => {
      const due = base.steps + Math.floor((Date.now() - base.wall) / realStepMs);
      for (let n = 0; position() < due && n < 1_000; n++) {
        if (stepOnce(false) === 'end') {
          stop();
          return;
        }
      }
    }, Math.max(1, realStepMs));
    // Mark prices at Binance's rates on the server clock, whatever the sub-steps.
    markTimers = [setInterval(() => ctx.sendMarks('1s'), 1000), setInterval(() => ctx.sendMarks('3s'), 3000)];
  }
  function stop(): void {
    if (timer !== null) clearInterval(timer);
    timer = null;
    for (const t of markTimers) clearInterval(t);
    markTimers = [];
  }
  arm();
  // Aligned to the wall clock at real speed: the current sub-step began at its boundary, not now.
  if (timer !== null && ctx.speed === 1 && opts.alignToNow !== false) base.wall -= base.wall % ctx.stepMs;

  return {
    pause() {
      ctx.paused = true;
      stop();
    },
    resume() {
      ctx.paused = false;
      arm();
    },
    step(n) {
      let done = 0;
      for (let i = 0; i < n; i++) {
        if (stepOnce(true) === 'end') break;
        done++;
      }
      rebase(); // a running clock goes on from here
      return done;
    },
    advance(n) {
      let closedCount = 0;
      while (closedCount < n) {
        const r = stepOnce(true);
        if (r === 'end') break;
        if (r === 'closed') closedCount++;
      }
      rebase();
      return closedCount;
    },
  };
}
