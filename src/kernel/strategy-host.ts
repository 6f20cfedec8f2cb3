/**
 * Runs strategy instances on the bus: one instance per (strategy config, symbol), each with its
 * own queue and loop over `market.kline.<SYMBOL>`, `market.markPrice.<SYMBOL>`, the order
 * updates of its own orders and the position changes of its symbol. A throwing strategy is counted and logged by the bus; the others and
 * the rest of the bot go on.
 */
import type { Logger } from 'pino';
import type { StrategyConfig } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { PerpbotError } from '../core/errors.ts';
import type { OrderEvent, SignalEmitted, Symbol } from '../core/types.ts';
import type { EventBus } from '../bus/bus.ts';
import type { Strategy, StrategyContext } from '../../strategies/contract.ts';
import { getStrategy, parseStrategyParams } from '../../strategies/registry.ts';

/** One running instance. */
export interface StrategyInstance {
  strategyId: string;
  name: string;
  symbol: Symbol;
  strategy: Strategy;
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

/**
 * Create and start every strategy instance.
 * @param symbols the symbols of the run; a strategy with an empty `symbols` list trades them all
 * @throws PerpbotError STRATEGY_UNKNOWN / STRATEGY_PARAMS for a bad strategy config, or
 *   CONFIG_INVALID when two instances would trade the same symbol (one-way mode has one position)
 */
export function startStrategies(bus: EventBus, configs: StrategyConfig[], symbols: Symbol[], clock: Clock, log: Logger): StrategyInstance[] {
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
    return { cfg, def, params, syms };
  });

  const instances: StrategyInstance[] = [];
  for (const { cfg, def, params, syms } of prepared) {
    for (const symbol of syms) {
      const topic = `signal.${cfg.id}` as const;
      let lastKline = -1;
      let seq = 0;
      const ctx: StrategyContext = {
        strategyId: cfg.id,
        symbol,
        clock,
        log: log.child({ strategy: cfg.id, symbol }),
        emit: (req) => {
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
          if (m.type === 'KlineClosed') return strategy.onKline(m);
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
        { name: `strategy:${cfg.id}:${symbol}` },
      );
      instances.push({ strategyId: cfg.id, name: def.name, symbol, strategy });
    }
  }
  return instances;
}
