/**
 * One subscriber's bounded queue ({@link Subscription}): lossless backpressure and conflation when
 * it is full, the `for await` iteration, and run-queue mode (the handler run by the bus, from a
 * microtask or inline at {@link EventBus.endInline}). See bus.ts's file comment for the
 * semantics. Split from bus.ts (which re-exports it).
 */
import type { EventBus } from './bus.ts';
import type { BusMessage, SubscriberStats } from './messages.ts';

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
