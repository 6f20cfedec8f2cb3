/**
 * Example of a user's own strategy module (README "Your own strategy"): an EMA crossover on
 * 15-minute bars. Load it with
 *
 *   "strategies": [{ "id": "mine", "name": "ema-cross", "module": "./strategies/examples/ema-cross.ts",
 *                    "params": { "fast": 9, "slow": 21 } }]
 *
 * A module exports one StrategyDefinition as `default`: a name (must equal the config's `name`), a
 * description, a zod schema of its parameters (validated at start: a bad value stops the bot with
 * exit 2 naming the module), the bar intervals it needs, and `create`, called once per symbol.
 *
 * Rule (Gerald Appel's moving-average crossover, the textbook trend signal): long when the fast EMA
 * crosses above the slow EMA on a closed bar, short when it crosses below; always in the market
 * once the EMAs are warm (a crossover reverses the position). Entries only inside the symbol's
 * trading session.
 */
import { z } from 'zod';
import type { Bar, BarInterval, Strategy, StrategyContext, StrategyDefinition } from '../contract.ts';
import { inSession } from '../bars/session.ts';
import { Ema } from '../indicators/index.ts';

/** Parameters, each with a default. */
const params = z.strictObject({
  /** Bar interval. */
  interval: z.enum(['5m', '15m', '1h']).default('15m'),
  /** Fast EMA period, bars. */
  fast: z.number().int().min(2).default(9),
  /** Slow EMA period, bars (greater than fast). */
  slow: z.number().int().min(3).default(21),
}).refine((p) => p.fast < p.slow, { message: 'fast must be below slow', path: ['fast'] });

type Params = z.infer<typeof params>;

class EmaCross implements Strategy {
  private readonly fast: Ema;
  private readonly slow: Ema;
  private prevDiff: number | null = null;

  constructor(private readonly p: Params, private readonly ctx: StrategyContext) {
    this.fast = new Ema(p.fast);
    this.slow = new Ema(p.slow);
  }

  /** Every closed 1m kline; this strategy decides on bars only. */
  onKline(): void {}

  onBar(interval: BarInterval, bar: Bar): void {
    if (interval !== this.p.interval) return;
    const close = +bar.close;
    const f = this.fast.update(close);
    const s = this.slow.update(close);
    if (f === null || s === null) return;
    const diff = f - s;
    const prev = this.prevDiff;
    this.prevDiff = diff;
    if (prev === null || !bar.complete) return;
    const target = prev <= 0 && diff > 0 ? 'LONG' : prev >= 0 && diff < 0 ? 'SHORT' : null;
    if (target === null || !inSession(this.ctx.session, bar.emittedOnKlineOpenTime + 60_000)) return;
    this.ctx.emit({
      target,
      reason: 'entry',
      refPrice: bar.close,
      klineOpenTime: bar.emittedOnKlineOpenTime,
      indicators: { fastEma: f, slowEma: s },
    });
  }
}

const emaCross: StrategyDefinition<Params> = {
  name: 'ema-cross',
  description: 'EMA(fast) / EMA(slow) crossover on closed bars (example of a user module)',
  params: params as unknown as z.ZodType<Params>,
  intervals: (p) => [p.interval],
  create: (p, ctx) => new EmaCross(p, ctx),
};

export default emaCross;
