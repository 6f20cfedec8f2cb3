/**
 * The bus's message and topic types: the commands it carries (`SubmitOrder`, `CancelOrder`,
 * `FlattenPositions`, `CancelOrders`), the message of each topic family ({@link TopicMessages}),
 * topics and subscription patterns and the message types they map to, and the counters of the bus
 * and of each subscriber. Split from bus.ts (which re-exports them all).
 */
import type {
  ComponentHealth,
  KlineClosed,
  MarkPriceUpdated,
  OrderEvent,
  OrderIntent,
  PositionChanged,
  SetTradingState,
  SignalEmitted,
  TradingStateChanged,
} from '../core/types.ts';

/** Command on topic `order.request`: an operator or component asks the executor to place an order. */
export interface SubmitOrder {
  type: 'SubmitOrder';
  ts: number;
  intent: Omit<OrderIntent, 'clientOrderId' | 'createdAt'> & { clientOrderId?: string };
}

/** Command on topic `order.request`: cancel an open order. */
export interface CancelOrder {
  type: 'CancelOrder';
  ts: number;
  symbol: string;
  clientOrderId: string;
  reason: string;
}

/**
 * Operator command on topic `operator.command`: close positions with reduce-only MARKET orders
 * through the executor (after canceling perpbot's open orders on those symbols). Passes the
 * exchange filters and is written ahead like any order; allowed while REDUCING or HALTED
 * (it only shrinks positions).
 */
export interface FlattenPositions {
  type: 'FlattenPositions';
  /** UTC epoch ms. */
  ts: number;
  /** One symbol, or every symbol with a position when absent. */
  symbol?: string;
  reason: string;
  /** The operator command's id (its row in `operator_commands`), for the logs. */
  commandId: string;
}

/** Operator command on topic `operator.command`: cancel perpbot's open orders (one symbol or all). */
export interface CancelOrders {
  type: 'CancelOrders';
  /** UTC epoch ms. */
  ts: number;
  /** One symbol, or every symbol when absent. */
  symbol?: string;
  reason: string;
  commandId: string;
}

/** Every message the bus carries, keyed by topic family. */
export interface TopicMessages {
  'market.kline': KlineClosed;
  'market.markPrice': MarkPriceUpdated;
  signal: SignalEmitted;
  'order.request': SubmitOrder | CancelOrder | SetTradingState;
  /** Operator commands, consumed by the executor on a queue of their own (never behind an order). */
  'operator.command': SetTradingState | FlattenPositions | CancelOrders;
  'order.update': OrderEvent;
  'account.update': PositionChanged;
  'risk.state': TradingStateChanged;
  'system.health': ComponentHealth;
}

/** A concrete topic. */
export type Topic =
  | `market.kline.${string}`
  | `market.markPrice.${string}`
  | `signal.${string}`
  | 'order.request'
  | 'operator.command'
  | 'order.update'
  | 'account.update'
  | 'risk.state'
  | 'system.health';

/** The message type published on topic `T`. */
export type MessageFor<T extends string> = T extends `market.kline.${string}`
  ? TopicMessages['market.kline']
  : T extends `market.markPrice.${string}`
    ? TopicMessages['market.markPrice']
    : T extends `signal.${string}`
      ? TopicMessages['signal']
      : T extends keyof TopicMessages
        ? TopicMessages[T]
        : never;

/** Any message the bus carries. */
export type BusMessage = TopicMessages[keyof TopicMessages];

/** A subscription pattern: a topic, or a prefix ending in `*`. */
export type Pattern = Topic | `${string}*`;

/** The messages a pattern can match. */
export type MessageForPattern<P extends string> = P extends '*'
  ? BusMessage
  : P extends `market.kline.${string}`
    ? KlineClosed
    : P extends `market.markPrice.${string}`
      ? MarkPriceUpdated
      : P extends `market.*` | `market.${string}*`
        ? KlineClosed | MarkPriceUpdated
        : P extends `signal.${string}`
          ? SignalEmitted
          : P extends keyof TopicMessages
            ? TopicMessages[P]
            : P extends `order.*`
              ? TopicMessages['order.request'] | OrderEvent
              : BusMessage;

/** Counters of the whole bus, for the heartbeat and the benchmark. */
export interface BusStats {
  published: number;
  delivered: number;
  conflated: number;
  handlerErrors: number;
  /** Times a publisher was told to wait because a queue was full. */
  backpressureWaits: number;
  subscribers: SubscriberStats[];
}

/** Counters of one subscriber. */
export interface SubscriberStats {
  name: string;
  patterns: string[];
  depth: number;
  maxDepth: number;
  capacity: number;
  delivered: number;
  conflated: number;
  handlerErrors: number;
}
