/**
 * Runs strategy instances on the bus: one instance per (strategy config, symbol), each with its
 * own queue and loop over `market.kline.<SYMBOL>`, `market.markPrice.<SYMBOL>`, the order
 * updates of its own orders and the position changes of its symbol. A throwing strategy is counted and logged by the bus; the others and
 * the rest of the bot go on.
 *
 * Multi-timeframe bars: each instance whose definition declares `intervals` gets its own
 * {@link BarAggregator} fed from the same closed 1m klines in every mode (replay, backtest, paper,
 * live), so bars and the signals decided on them are identical across modes. Missing minutes are
 * logged (warn) and counted per instance ({@link StrategyInstance.stats}).
 *
 * Trading sessions: the host enforces them. A signal targeting LONG or SHORT whose decision kline
 * closed outside the symbol's session is not published (logged, counted as `sessionRefusals`).
 */
import type { Logger } from 'pino';
import type { StrategyConfig } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { PerpbotError } from '../core/errors.ts';
import type { OrderEvent, SignalEmitted, Symbol } from '../core/types.ts';
import type { EventBus } from '../bus/bus.ts';
import type { Bar, Strategy, StrategyContext } from '../../strategies/contract.ts';
import { getStrategy, parseStrategyParams } from '../../strategies/registry.ts';
import { BarAggregator } from '../../strategies/bars/aggregator.ts';
import { barAnchorMs, inSession, type TradingSession } from '../../strategies/bars/session.ts';

/** Counters of one instance. */
export interface StrategyInstanceStats {
  /** Entry signals refused because their kline closed outside the trading session. */
  sessionRefusals: number;
  /** Minutes missing between consecutive 1m klines (only counted when the instance builds bars). */
  gapMinutes: number;
  /** Bars delivered to `onBar`, and how many of them had missing minutes. */
  bars: number;
  incompleteBars: number;
}

/** Options of {@link startStrategies}. */
export interface StrategyHostOptions {
  /** Trading sessions by symbol (config `sessions`); symbols not listed trade around the clock. */
  sessions?: Readonly<Record<string, TradingSession>>;
}

/** One running instance. */
export interface StrategyInstance {
  strategyId: string;
  name: string;
  symbol: Symbol;
  strategy: Strategy;
  /** Bar intervals it receives through `onBar`. */
  intervals: readonly string[];
  stats: StrategyInstanceStats;
}

/** The client order id an order event concerns. */
function orderIdOf(e: OrderEvent): string {
  switch (e.type) {
    case 'OrderSubmitted':
    case 'OrderDenied':
      return e.intent.clientOrderId;
    case 'OrderFilled':
      return e.fill.clientOrderId;
    default:
      return e.clientOrderId;
  }
}

/** No bars closed (no allocation per kline for strategies without bars). */
const NO_BARS: readonly Bar[] = Object.freeze([]);

/**
 * Create and start every strategy instance.
 * @param symbols the symbols of the run; a strategy with an empty `symbols` list trades them all
 * @param opts trading sessions by symbol
 * @throws PerpbotError STRATEGY_UNKNOWN / STRATEGY_PARAMS for a bad strategy config, or
 *   CONFIG_INVALID when two instances would trade the same symbol (one-way mode has one position;
 *   different symbols may run different strategies) or a definition asks for an unknown interval
 */
export function startStrategies(
  bus: EventBus,
  configs: StrategyConfig[],
  symbols: Symbol[],
  clock: Clock,
  log: Logger,
  opts: StrategyHostOptions = {},
): StrategyInstance[] {
  const owner = new Map<Symbol, string>();
  const prepared = configs.map((cfg) => {
    const def = getStrategy(cfg.name);
    const params = parseStrategyParams(def, cfg.id, cfg.params);
    const syms = cfg.symbols.length > 0 ? cfg.symbols : symbols;
    for (const s of syms) {
      if (!symbols.includes(s)) throw new PerpbotError('CONFIG_INVALID', `strategies[${cfg.id}].symbols: ${s} is not among the run's symbols (${symbols.join(', ')})`);
      const prev = owner.get(s);
      if (prev) throw new PerpbotError('CONFIG_INVALID', `strategies: ${prev} and ${cfg.id} both trade ${s}; one-way mode holds one position per symbol`);
      owner.set(s, cfg.id);
    }
    const intervals = def.intervals?.(params) ?? [];
    try {
      new BarAggregator('CHECK', intervals);
    } catch (err) {
      throw new PerpbotError('CONFIG_INVALID', `strategies[${cfg.id}] (${def.name}): ${(err as Error).message}`);
    }
    return { cfg, def, params, syms, intervals };
  });

  const instances: StrategyInstance[] = [];
  for (const { cfg, def, params, syms, intervals } of prepared) {
    for (const symbol of syms) {
      const topic = `signal.${cfg.id}` as const;
      let lastKline = -1;
      let seq = 0;
      const session = opts.sessions?.[symbol];
      const ilog = log.child({ strategy: cfg.id, symbol });
      const stats: StrategyInstanceStats = { sessionRefusals: 0, gapMinutes: 0, bars: 0, incompleteBars: 0 };
      const bars =
        intervals.length > 0
          ? new BarAggregator(symbol, intervals, barAnchorMs(session), (gap) => {
              stats.gapMinutes += gap.minutes;
              ilog.warn({ gap }, 'missing 1m klines: the bars around them are flagged incomplete, nothing is invented');
            })
          : null;
      const ctx: StrategyContext = {
        strategyId: cfg.id,
        symbol,
        clock,
        log: ilog,
        ...(session ? { session } : {}),
        emit: (req) => {
          if (req.target !== 'FLAT' && !inSession(session, req.klineOpenTime + 60_000)) {
            stats.sessionRefusals++;
            ilog.warn({ target: req.target, reason: req.reason, klineOpenTime: req.klineOpenTime }, 'entry outside the trading session refused');
            return null;
          }
          if (req.klineOpenTime !== lastKline) {
            lastKline = req.klineOpenTime;
            seq = 0;
          }
          const e: SignalEmitted = {
            type: 'SignalEmitted',
            ts: clock.now(),
            signalId: `${cfg.id}:${symbol}:${req.klineOpenTime}:${seq++}`,
            strategyId: cfg.id,
            symbol,
            target: req.target,
            reason: req.reason,
            refPrice: req.refPrice,
            indicators: req.indicators,
            klineOpenTime: req.klineOpenTime,
          };
          if (req.stopPrice !== undefined) e.stopPrice = req.stopPrice;
          void bus.publish(topic, e);
          return e;
        },
      };
      const strategy = def.create(params, ctx);
      strategy.start?.();
      const mine = new Set<string>();
      bus.consume(
        [`market.kline.${symbol}`, `market.markPrice.${symbol}`, 'order.update', 'account.update'],
        (m) => {
          if (m.type === 'KlineClosed') {
            // Aggregate first: a strategy throwing in onKline must not make the bars lose a minute.
            const closed = bars ? bars.update(m.kline) : NO_BARS;
            strategy.onKline(m);
            {
              for (const bar of closed) {
                stats.bars++;
                if (!bar.complete) stats.incompleteBars++;
                strategy.onBar?.(bar.interval, bar);
              }
            }
            return;
          }
          if (m.type === 'MarkPriceUpdated') return strategy.onMarkPrice?.(m);
          if (m.type === 'PositionChanged') return m.position.symbol === symbol ? strategy.onPosition?.(m) : undefined;
          const id = orderIdOf(m);
          if (m.type === 'OrderSubmitted' || m.type === 'OrderDenied') {
            // Protective stops (executor/protective-stops.ts) are the executor's, not the
            // strategy's decisions: their refusals must not undo what the strategy holds.
            if (m.intent.strategyId !== cfg.id || m.intent.symbol !== symbol || m.intent.type === 'STOP_MARKET') return;
            if (m.type === 'OrderSubmitted') mine.add(id);
          } else if (!mine.has(id)) return;
          if (
            m.type === 'OrderDenied' ||
            m.type === 'OrderRejected' ||
            m.type === 'OrderCanceled' ||
            m.type === 'OrderExpired' ||
            (m.type === 'OrderFilled' && m.status === 'FILLED')
          ) {
            mine.delete(id);
          }
          strategy.onOrderUpdate?.(m);
        },
        // Strategy callbacks are synchronous (strategies/contract.ts): replay may run them inline.
        { name: `strategy:${cfg.id}:${symbol}`, inline: true },
      );
      instances.push({ strategyId: cfg.id, name: def.name, symbol, strategy, intervals, stats });
    }
  }
  return instances;
}
