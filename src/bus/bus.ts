/**
 * The typed event bus (ARCHITECTURE.md, "The bus").
 *
 * - Topics are dotted strings: `market.kline.<SYMBOL>`, `market.markPrice.<SYMBOL>`,
 *   `signal.<strategyId>`, `order.request`, `order.update`, `account.update`, `risk.state`,
 *   `system.health`. A subscription pattern is a topic, or a prefix ending in `*`
 *   (`signal.*`, `market.kline.*`, `*`).
 * - Every subscriber owns a bounded queue and consumes it in its own async loop, like an asyncio
 *   queue: `for await (const msg of bus.subscribe('signal.*'))`, or `bus.consume(...)` with a
 *   handler. A subscriber with several patterns has ONE queue, so it sees their messages in
 *   publish order.
 * - Lossless topics (klines, signals, orders) are never dropped: when a queue is full, `publish`
 *   returns a promise that resolves once every full queue has room again (backpressure); the
 *   message is queued at once all the same, so order is kept even if the publisher does not wait.
 * - Conflating topics (mark prices) never block: when a queue is full, a queued message of the
 *   same topic is replaced by the newer one (latest wins) and counted as conflated.
 * - A failing handler never breaks the publisher or other subscribers: its error is counted and
 *   reported to `onHandlerError`.
 * - `drain()` resolves when every published message has been fully handled, including messages
 *   published by handlers meanwhile; replay awaits it after each step so results are
 *   deterministic and equal to what live would have done.
 * - Replay runs the bus in run-queue mode (`runQueue: true`): a `consume` handler is not an async
 *   loop woken through a promise but is run by the bus, from a microtask queued when a message
 *   arrives for it (its loop would have been woken at that same point), so replay makes the same
 *   decisions in the same order as before, bit for bit. On top of that, the replay feed publishes
 *   a minute's klines between {@link EventBus.beginInline} and {@link EventBus.endInline}:
 *   handlers marked `inline` (synchronous, and starting no asynchronous work: the strategies,
 *   the recorder) then run at once, in the order their microtasks would have run, until the
 *   first handler that is not `inline` (the executor, after a signal) — it and the rest go to the
 *   microtask queue in order. A minute without a signal so costs no promise and no microtask at
 *   all. Subscriptions iterated with `for await` work as in the default mode.
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

/** Options of the bus. */
export interface BusOptions {
  /** Default queue capacity per subscriber (messages). Default 10,000. */
  capacity?: number;
  /** Which topics conflate (latest wins) instead of applying backpressure. Default: mark prices. */
  conflates?: (topic: string) => boolean;
  /** Called when a handler throws or rejects. Default: nothing (the error is still counted). */
  onHandlerError?: (subscriber: string, err: unknown, msg: BusMessage) => void;
  /**
   * Run `consume` handlers from the bus (a microtask each, or at once at
   * {@link EventBus.endInline}) instead of one async loop each (see the file comment). Replay
   * turns it on: same order of every handler, fewer promises. Default false.
   */
  runQueue?: boolean;
}

const defaultConflates = (topic: string): boolean => topic.startsWith('market.markPrice.');

function matches(pattern: string, topic: string): boolean {
  if (pattern.endsWith('*')) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

/**
 * One subscriber's bounded queue. Iterate it with `for await`; the previous message counts as
 * handled when the loop asks for the next one (asyncio's `task_done`).
 */
export class Subscription<M = BusMessage> implements AsyncIterable<M> {
  private items: M[] = [];
  private topics: string[] = [];
  private head = 0;
  private waiter: ((v: IteratorResult<M>) => void) | null = null;
  private outstanding = false;
  private closed = false;
  /** @internal */ maxDepth = 0;
  /** @internal */ delivered = 0;
  /** @internal */ conflated = 0;
  /** @internal */ handlerErrors = 0;
  private spaceWaiters: Array<() => void> = [];
  /** @internal Run-queue mode: the handler {@link EventBus.consume} gave, run by the bus. */
  handler: ((msg: M) => void | Promise<void>) | null = null;
  /** @internal Run-queue mode: counts and reports a failed handler. */
  fail: (err: unknown, msg: M) => void = () => {};
  /** @internal Run-queue mode: 0 idle, 1 due to run or running, 2 waiting on its handler's promise. */
  runState = 0;
  /** @internal Run-queue mode: the handler may run at {@link EventBus.endInline} (see `consume`). */
  inline = false;
  /** @internal Run-queue mode: {@link runQueued}, bound once (a microtask's callback). */
  readonly run = (): void => this.runQueued();
  /** @internal Run-queue mode: called once, when the subscription is closed and its queue ran empty. */
  onFinished: (() => void) | null = null;

  /** @internal */
  constructor(
    private readonly bus: EventBus,
    readonly name: string,
    readonly patterns: readonly string[],
    readonly capacity: number,
  ) {}

  /** Messages waiting in the queue. */
  get depth(): number {
    return this.items.length - this.head;
  }

  /**
   * @internal Enqueue; returns a promise when the queue is over capacity (lossless backpressure).
   */
  push(topic: string, msg: M, conflate: boolean): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.handler !== null && this.runState === 0) {
      // Run-queue mode, idle subscriber: queue the message and make the subscriber ready.
      this.items.push(msg);
      this.topics.push(topic);
      this.bus.inFlight++;
      if (this.items.length - this.head > this.maxDepth) this.maxDepth = this.items.length - this.head;
      this.runState = 1;
      this.bus.ready(this as Subscription<unknown> as Subscription<BusMessage>);
      return undefined;
    }
    const waiter = this.waiter;
    if (waiter !== null) {
      // The consumer is idle and waiting: hand the message over directly.
      this.waiter = null;
      this.bus.inFlight++;
      this.outstanding = true;
      this.delivered++;
      waiter({ value: msg, done: false });
      return undefined;
    }
    const depth = this.items.length - this.head;
    if (depth >= this.capacity) {
      if (conflate) {
        for (let i = this.items.length - 1; i >= this.head; i--) {
          if (this.topics[i] === topic) {
            this.items[i] = msg;
            this.conflated++;
            this.bus.conflatedCount++;
            return undefined;
          }
        }
      }
      this.items.push(msg);
      this.topics.push(topic);
      this.bus.inFlight++;
      if (depth + 1 > this.maxDepth) this.maxDepth = depth + 1;
      if (conflate) return undefined;
      this.bus.backpressureWaits++;
      return new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    this.items.push(msg);
    this.topics.push(topic);
    this.bus.inFlight++;
    if (depth + 1 > this.maxDepth) this.maxDepth = depth + 1;
    return undefined;
  }

  private shift(): M | undefined {
    if (this.head >= this.items.length) return undefined;
    const msg = this.items[this.head] as M;
    // Release the slot; the arrays are emptied only every 256 messages (setting an array's length
    // is a runtime call, too dear once per message).
    (this.items as Array<M | undefined>)[this.head] = undefined;
    this.topics[this.head] = '';
    this.head++;
    if (this.head === this.items.length) {
      if (this.head >= 256) {
        this.items.length = 0;
        this.topics.length = 0;
        this.head = 0;
      }
    } else if (this.head >= 4096 && this.head * 2 >= this.items.length) {
      this.items.splice(0, this.head);
      this.topics.splice(0, this.head);
      this.head = 0;
    }
    if (this.spaceWaiters.length > 0 && this.items.length - this.head < this.capacity) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of waiters) w();
    }
    return msg;
  }

  /** @internal Mark the message taken last as handled. */
  done(): void {
    if (this.outstanding) {
      this.outstanding = false;
      this.bus.completed();
    }
  }

  /** Take the next message, waiting if the queue is empty; `done: true` once closed and empty. */
  next(): Promise<IteratorResult<M>> {
    this.done();
    const msg = this.shift();
    if (msg !== undefined) {
      this.outstanding = true;
      this.delivered++;
      return Promise.resolve({ value: msg, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** @internal Synchronous take for the handler loop: the next queued message or undefined. */
  takeNow(): M | undefined {
    this.done();
    const msg = this.shift();
    if (msg !== undefined) {
      this.outstanding = true;
      this.delivered++;
    }
    return msg;
  }

  /**
   * @internal Run-queue mode: handle the queued messages in order until the queue is empty or a
   * handler returns a promise (the rest waits until it settles).
   */
  runQueued(): void {
    const handler = this.handler as (msg: M) => void | Promise<void>;
    for (;;) {
      const msg = this.takeNow();
      if (msg === undefined) break;
      let p: void | Promise<void>;
      try {
        p = handler(msg);
      } catch (err) {
        this.fail(err, msg);
        continue;
      }
      if (p !== undefined) {
        this.runState = 2;
        p.then(
          () => this.resume(),
          (err: unknown) => {
            this.fail(err, msg);
            this.resume();
          },
        );
        return;
      }
    }
    this.runState = 0;
    if (this.closed) this.finish();
  }

  /** After the handler's promise settled: go on at once, as the awaiting loop would have. */
  private resume(): void {
    this.runState = 1;
    this.runQueued();
  }

  private finish(): void {
    const f = this.onFinished;
    this.onFinished = null;
    f?.();
  }

  /** Stop receiving: the loop ends once the queued messages are consumed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bus.unsubscribe(this as Subscription<unknown> as Subscription<BusMessage>);
    if (this.handler !== null && this.runState === 0) {
      this.done();
      this.finish();
    }
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter({ value: undefined, done: true });
    }
    for (const w of this.spaceWaiters) w();
    this.spaceWaiters = [];
  }

  /** Drop whatever is still queued (used after close when the loop will not run again). */
  discard(): void {
    this.done();
    while (this.shift() !== undefined) this.bus.completed();
  }

  [Symbol.asyncIterator](): AsyncIterator<M> {
    return {
      next: () => this.next(),
      return: async () => {
        this.done();
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** Counters of this subscriber. */
  stats(): SubscriberStats {
    return {
      name: this.name,
      patterns: [...this.patterns],
      depth: this.depth,
      maxDepth: this.maxDepth,
      capacity: this.capacity,
      delivered: this.delivered,
      conflated: this.conflated,
      handlerErrors: this.handlerErrors,
    };
  }
}

/** A running handler loop started by {@link EventBus.consume}. */
export interface Consumer {
  readonly subscription: Subscription<BusMessage>;
  /** Resolves when the loop ended (after `close()` and the queue ran empty). */
  readonly finished: Promise<void>;
  /** Stop the loop after the queued messages. */
  close(): void;
}

/** The bus. One per kernel. */
export class EventBus {
  private subs: Array<Subscription<BusMessage>> = [];
  private route = new Map<string, { subs: Array<Subscription<BusMessage>>; conflate: boolean }>();
  private readonly capacity: number;
  private readonly conflates: (topic: string) => boolean;
  private readonly onHandlerError: NonNullable<BusOptions['onHandlerError']>;
  private drainWaiters: Array<() => void> = [];
  private readonly runQueue: boolean;
  /** Between beginInline and endInline: subscribers with messages to handle, in the order they became due. */
  private inlineQueue: Array<Subscription<BusMessage>> = [];
  private inlineHead = 0;
  private inlining = false;
  /** @internal messages queued or being handled, over all subscribers */
  inFlight = 0;
  /** @internal */ conflatedCount = 0;
  /** @internal */ backpressureWaits = 0;
  private published = 0;
  private handlerErrors = 0;

  constructor(opts: BusOptions = {}) {
    this.capacity = opts.capacity ?? 10_000;
    this.conflates = opts.conflates ?? defaultConflates;
    this.onHandlerError = opts.onHandlerError ?? (() => {});
    this.runQueue = opts.runQueue === true;
  }

  /**
   * @internal Run-queue mode: `sub` has messages to handle. Between {@link beginInline} and
   * {@link endInline} it waits its turn there; otherwise it runs from a microtask queued now,
   * where its loop's would have been.
   */
  ready(sub: Subscription<BusMessage>): void {
    if (this.inlining) this.inlineQueue.push(sub);
    else queueMicrotask(sub.run);
  }

  /**
   * Run-queue mode: start holding the subscribers that messages published from now on make due,
   * until {@link endInline} runs them. Only when the bus is idle (replay, between minutes:
   * nothing else waits in the microtask queue then), so the order of every handler is the one
   * the default mode would have given.
   * @returns true when holding (call {@link endInline}); false without run-queue mode, when the
   *   bus is not idle, or when already holding (publish as usual)
   */
  beginInline(): boolean {
    if (!this.runQueue || this.inlining || this.inFlight !== 0) return false;
    this.inlining = true;
    return true;
  }

  /**
   * Run-queue mode, after {@link beginInline} returned true: run the held subscribers, and those
   * they make due, in order, at once, while they are `inline`; from the first that is not, every
   * subscriber still due goes to the microtask queue, in order.
   */
  endInline(): void {
    const q = this.inlineQueue;
    try {
      while (this.inlineHead < q.length) {
        const sub = q[this.inlineHead] as Subscription<BusMessage>;
        if (!sub.inline) break;
        this.inlineHead++;
        sub.runQueued();
      }
    } finally {
      this.inlining = false;
      // What is left (after a handler that is not inline, or a throw) runs as microtasks, in order.
      while (this.inlineHead < q.length) queueMicrotask((q[this.inlineHead++] as Subscription<BusMessage>).run);
      // Emptied every 256 minutes, not every time (setting the length is a runtime call).
      if (this.inlineHead >= 256) {
        q.length = 0;
        this.inlineHead = 0;
      }
    }
  }

  /**
   * Subscribe to one or more patterns with one queue.
   * @param patterns a topic, a prefix ending in `*`, or a list of them
   * @param opts `name` for stats and logs; `capacity` of its queue (messages)
   */
  subscribe<P extends Pattern>(
    patterns: P | readonly P[],
    opts: { name?: string; capacity?: number } = {},
  ): Subscription<MessageForPattern<P>> {
    const list = (Array.isArray(patterns) ? patterns : [patterns]) as string[];
    if (list.length === 0) throw new TypeError('subscribe: at least one pattern is required');
    const sub = new Subscription<BusMessage>(this, opts.name ?? list.join(','), list, opts.capacity ?? this.capacity);
    this.subs.push(sub);
    this.route.clear();
    return sub as unknown as Subscription<MessageForPattern<P>>;
  }

  /**
   * Subscribe and run `handler` for each message in its own loop. A handler may be sync or async;
   * the next message is taken only after it finished. Throws/rejections are counted, reported to
   * `onHandlerError`, and the loop goes on.
   */
  consume<P extends Pattern>(
    patterns: P | readonly P[],
    handler: (msg: MessageForPattern<P>) => void | Promise<void>,
    opts: {
      name?: string;
      capacity?: number;
      /**
       * The handler is synchronous and starts no asynchronous work (no promise, microtask or
       * timer of its own; publishing is fine): in run-queue mode it may run in the publisher's
       * turn, at {@link EventBus.endInline}. Default false.
       */
      inline?: boolean;
    } = {},
  ): Consumer {
    const sub = this.subscribe(patterns, opts) as unknown as Subscription<BusMessage>;
    const h = handler as (msg: BusMessage) => void | Promise<void>;
    const fail = (err: unknown, msg: BusMessage): void => {
      sub.handlerErrors++;
      this.handlerErrors++;
      try {
        this.onHandlerError(sub.name, err, msg);
      } catch {
        // a failing error reporter must not stop the loop
      }
    };
    if (this.runQueue) {
      const s = sub as Subscription<BusMessage>;
      s.fail = fail;
      s.handler = h;
      s.inline = opts.inline === true;
      const finished = new Promise<void>((resolve) => {
        s.onFinished = resolve;
      });
      return { subscription: sub, finished, close: () => sub.close() };
    }
    const finished = (async () => {
      for (;;) {
        let msg = sub.takeNow();
        if (msg === undefined) {
          const r = await sub.next();
          if (r.done) break;
          msg = r.value;
        }
        try {
          const p = h(msg);
          if (p !== undefined) await p;
        } catch (err) {
          fail(err, msg);
        }
      }
      sub.done();
    })();
    return { subscription: sub, finished, close: () => sub.close() };
  }

  /** @internal */
  unsubscribe(sub: Subscription<BusMessage>): void {
    const i = this.subs.indexOf(sub);
    if (i >= 0) {
      this.subs.splice(i, 1);
      this.route.clear();
    }
  }

  private routeFor(topic: string): { subs: Array<Subscription<BusMessage>>; conflate: boolean } {
    let r = this.route.get(topic);
    if (r === undefined) {
      const subs = this.subs.filter((s) => s.patterns.some((p) => matches(p, topic)));
      r = { subs, conflate: this.conflates(topic) };
      this.route.set(topic, r);
    }
    return r;
  }

  /**
   * Publish a message to every matching subscriber. Never throws because of a subscriber.
   * @returns undefined, or a promise to await when a lossless queue is full (backpressure)
   */
  publish<T extends Topic>(topic: T, msg: MessageFor<T>): Promise<void> | undefined {
    this.published++;
    const { subs, conflate } = this.routeFor(topic);
    let wait: Promise<void>[] | undefined;
    for (let i = 0; i < subs.length; i++) {
      const p = (subs[i] as Subscription<BusMessage>).push(topic, msg as BusMessage, conflate);
      if (p !== undefined) (wait ??= []).push(p);
    }
    if (wait === undefined) return undefined;
    return wait.length === 1 ? wait[0] : Promise.all(wait).then(() => undefined);
  }

  /** @internal one queued message was fully handled */
  completed(): void {
    if (--this.inFlight === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Count work a handler started and did not await (an order on its way to the venue) as
   * in flight until `work` settles, so {@link EventBus.drain} waits for it too: replay stays
   * deterministic while live handlers return at once. The outcome of `work` is not observed
   * here (the caller handles its errors).
   * @returns `work`, unchanged
   */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => this.completed();
    work.then(done, done);
    return work;
  }

  /** True when no message is queued or being handled. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /**
   * Resolves when every message published so far, and every message those handlers published,
   * has been handled by every subscriber.
   */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Close every subscription (their loops end after their queued messages). */
  close(): void {
    for (const s of [...this.subs]) s.close();
  }

  /** Counters. */
  stats(): BusStats {
    let delivered = 0;
    for (const s of this.subs) delivered += s.delivered;
    return {
      published: this.published,
      delivered,
      conflated: this.conflatedCount,
      handlerErrors: this.handlerErrors,
      backpressureWaits: this.backpressureWaits,
      subscribers: this.subs.map((s) => s.stats()),
    };
  }
}
