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
 *
 * This file holds {@link EventBus} and its options; the message and topic types are in
 * messages.ts and the per-subscriber queue ({@link Subscription}) in subscription.ts. Both are
 * re-exported from here, so importers use bus.ts alone.
 */
import type { BusMessage, BusStats, MessageFor, MessageForPattern, Pattern, Topic } from './messages.ts';
import { Subscription } from './subscription.ts';

export type {
  BusMessage,
  BusStats,
  CancelOrder,
  CancelOrders,
  FlattenPositions,
  MessageFor,
  MessageForPattern,
  Pattern,
  SubmitOrder,
  SubscriberStats,
  Topic,
  TopicMessages,
} from './messages.ts';
export { Subscription } from './subscription.ts';

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
