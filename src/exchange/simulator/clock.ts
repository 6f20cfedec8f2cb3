/**
 * The data clock: plays each 1-minute kline in `steps` sub-steps (a non-final `x:false` kline
 * frame and a mark price at each, then the final `x:true` frame), shows the engine each kline's
 * open as a mark price when it starts (MARKET orders fill there) and the closed kline when it
 * ends (resting LIMIT orders fill through it), and runs in real time × `speed` unless paused.
 */
import { MINUTE, type SimContext } from './context.ts';
import { partialKline } from './wire.ts';

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

  function startKline(): void {
    const t = t0 + ctx.index * MINUTE;
    for (const s of symbols) {
      const k = bars.get(s)![ctx.index];
      if (k === undefined) continue;
      ctx.handleEvents(engine.onMarkPrice(s, k.open, t), t);
    }
    ctx.marketFrames(false);
  }

  function closeKline(): void {
    ctx.marketFrames(true);
    const E = t0 + (ctx.index + 1) * MINUTE;
    for (const s of symbols) {
      const k = bars.get(s)![ctx.index];
      if (k === undefined) continue;
      ctx.lastClose.set(s, k.close);
      ctx.firstTradeIds.set(s, ctx.firstTradeIds.get(s)! + (k.trades ?? 0));
      ctx.handleEvents(engine.onKline(k), E);
    }
  }

  /** One sub-step. @returns 'step' | 'closed' (a kline closed) | 'end' */
  function stepOnce(): 'step' | 'closed' | 'end' {
    if (ctx.ended) return 'end';
    ctx.phase++;
    if (ctx.phase < steps) {
      ctx.marketFrames(false);
      if (opts.fillOnSubSteps === true) {
        const t = ctx.dataTime();
        for (const s of symbols) {
          const k = bars.get(s)![ctx.index];
          if (k !== undefined) ctx.handleEvents(engine.onMarkPrice(s, partialKline(k, ctx.phase, steps).close, t), t);
        }
      }
      return 'step';
    }
    closeKline();
    ctx.index++;
    ctx.phase = 0;
    if (ctx.index >= ctx.timelineLen) {
      ctx.ended = true;
      return 'closed';
    }
    startKline();
    return 'closed';
  }

  if (!ctx.ended) startKline();

  let timer: NodeJS.Timeout | null = null;
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
        if (stepOnce() === 'end') {
          if (timer !== null) clearInterval(timer);
          timer = null;
          return;
        }
      }
    }, Math.max(1, realStepMs));
  }
  arm();
  // Aligned to the wall clock at real speed: the current sub-step began at its boundary, not now.
  if (timer !== null && ctx.speed === 1 && opts.alignToNow !== false) base.wall -= base.wall % ctx.stepMs;

  return {
    pause() {
      ctx.paused = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
    resume() {
      ctx.paused = false;
      arm();
    },
    step(n) {
      let done = 0;
      for (let i = 0; i < n; i++) {
        if (stepOnce() === 'end') break;
        done++;
      }
      rebase(); // a running clock goes on from here
      return done;
    },
    advance(n) {
      let closedCount = 0;
      while (closedCount < n) {
        const r = stepOnce();
        if (r === 'end') break;
        if (r === 'closed') closedCount++;
      }
      rebase();
      return closedCount;
    },
  };
}
