/**
 * Per-key lanes: tasks of one key (a symbol) run one after another, in the order they were
 * given; tasks of different keys run concurrently. The executor runs each symbol's order
 * placements (write-ahead commit, then the venue's submit, with its retries) in the symbol's
 * lane, so a slow submit holds up only the orders of its own symbol that must follow it (the
 * entry after a reversal's reduce-only close), never the bus, fills, commands or other symbols.
 */
export class Lanes {
  /** The last task of each busy key (its completion frees the lane). */
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Run `task` after the tasks already given for `key`. When the lane is free the task starts
   * at once, synchronously (up to its first `await`), so checks it makes first happen in the
   * caller's order.
   * @returns a promise that settles when the task did; it never rejects (a task's error is
   *   passed to `onError`, which the caller must supply: lanes do not swallow silently)
   */
  run(key: string, task: () => Promise<void>, onError: (err: unknown) => void): Promise<void> {
    const safe = (): Promise<void> => {
      try {
        return task().catch(onError);
      } catch (err) {
        onError(err);
        return Promise.resolve();
      }
    };
    const prev = this.tails.get(key);
    const p = prev === undefined ? safe() : prev.then(safe);
    this.tails.set(key, p);
    void p.then(() => {
      if (this.tails.get(key) === p) this.tails.delete(key);
    });
    return p;
  }

  /** True while a task of `key` runs or waits. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
