/**
 * Operator commands in the executor (topic `operator.command`): trading state (pause, halt,
 * resume), cancel perpbot's open orders, flatten positions. Kept out of executor.ts (thin hooks
 * there) so the executor's order path can change without touching this.
 *
 * The executor consumes `operator.command` on a queue of its own, so a halt never waits behind
 * an order that waits on a slow venue. Flatten and cancel do not hold that queue either: they
 * start their venue calls and return at once (the next command — a resume — is handled while
 * they run). Flatten closes each position with a reduce-only MARKET order through the executor's
 * own path (filters, written ahead, `OrderSubmitted`, recorded); the trading-state check lets a
 * reduce-only close through while REDUCING or HALTED, the entry checks do not apply to it.
 */
import type { Logger } from 'pino';
import type { CancelOrders, FlattenPositions } from '../src/bus/bus.ts';
import type { Clock } from '../src/core/clock.ts';
import { Decimal, str } from '../src/core/decimal.ts';
import { errorMessage } from '../src/core/errors.ts';
import type { OrderIntent, SetTradingState, Side, Symbol } from '../src/core/types.ts';

/** What the operator module needs from the executor. */
export interface OperatorHooks {
  clock: Clock;
  log: Logger;
  /** Apply a trading-state command (the executor's own handler). */
  setState(cmd: SetTradingState): void;
  /** Non-zero positions: symbol → signed base-asset quantity. */
  positions(): Record<Symbol, string>;
  /** The executor's open orders. */
  openOrders(): OrderIntent[];
  /** Cancel one order at the venue. Rejects when the venue fails. */
  cancel(symbol: Symbol, clientOrderId: string): Promise<void>;
  /**
   * Place a reduce-only close through the executor's path (filters → trading-state check that
   * lets reducing operator closes through → journal → venue).
   * @returns true when the venue accepted it
   */
  placeClose(intent: OrderIntent): Promise<boolean>;
  /** The latest known price of a symbol (mark price, else the last signal's), quote asset; null when none. */
  lastPrice(symbol: Symbol): string | null;
  /** Note an error for the heartbeat. */
  noteError(message: string): void;
}

/** Counters of operator commands handled. */
export interface OperatorStats {
  stateCommands: number;
  flattens: number;
  cancels: number;
  closeOrdersPlaced: number;
  failures: number;
}

/** Handles `operator.command` messages for the executor. */
export class OperatorCommands {
  readonly stats: OperatorStats = { stateCommands: 0, flattens: 0, cancels: 0, closeOrdersPlaced: 0, failures: 0 };
  private seq = 0;
  /** Flattens and cancels still running (tests and shutdown may wait for them). */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly h: OperatorHooks) {}

  /** Handle one command. Never throws; returns at once (venue calls run in the background). */
  handle(m: SetTradingState | FlattenPositions | CancelOrders): void {
    switch (m.type) {
      case 'SetTradingState':
        this.stats.stateCommands++;
        this.h.setState(m);
        return;
      case 'CancelOrders':
        this.stats.cancels++;
        this.track(this.cancelAll(m.symbol, m.commandId).then(() => undefined));
        return;
      case 'FlattenPositions':
        this.stats.flattens++;
        this.track(this.flatten(m));
        return;
    }
  }

  /** Resolves when every flatten and cancel started so far has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err: unknown) => {
      this.stats.failures++;
      this.h.noteError(`operator command: ${errorMessage(err)}`);
      this.h.log.error({ err }, 'operator command failed');
    });
    this.running.add(q);
    void q.finally(() => this.running.delete(q));
  }

  /** Cancel the executor's open orders (all perpbot's), of one symbol or all; failures are logged, not thrown. */
  private async cancelAll(symbol: Symbol | undefined, commandId: string): Promise<number> {
    const orders = this.h.openOrders().filter((o) => symbol === undefined || o.symbol === symbol);
    const results = await Promise.allSettled(orders.map((o) => this.h.cancel(o.symbol, o.clientOrderId)));
    let ok = 0;
    results.forEach((r, i) => {
      const o = orders[i] as OrderIntent;
      if (r.status === 'fulfilled') ok++;
      else {
        this.stats.failures++;
        this.h.noteError(`cancel ${o.clientOrderId}: ${errorMessage(r.reason)}`);
        this.h.log.warn({ err: r.reason, clientOrderId: o.clientOrderId, commandId }, 'operator cancel failed');
      }
    });
    this.h.log.warn({ commandId, symbol: symbol ?? 'all', canceled: ok, of: orders.length }, 'operator: open orders canceled');
    return ok;
  }

  private async flatten(m: FlattenPositions): Promise<void> {
    const held = Object.entries(this.h.positions()).filter(([s]) => m.symbol === undefined || s === m.symbol);
    // Cancel perpbot's open orders on those symbols first (an entry order filling later would reopen).
    const symbols = new Set<Symbol>([...held.map(([s]) => s), ...(m.symbol ? [m.symbol] : [])]);
    const toCancel = this.h.openOrders().filter((o) => symbols.has(o.symbol));
    await Promise.allSettled(toCancel.map((o) => this.h.cancel(o.symbol, o.clientOrderId)));
    const stamp = this.h.clock.now().toString(36);
    await Promise.all(
      held.map(async ([symbol, qty]) => {
        const q = new Decimal(qty);
        if (q.isZero()) return;
        const side: Side = q.isPositive() ? 'SELL' : 'BUY';
        const intent: OrderIntent = {
          clientOrderId: `pb-flat-${stamp}-${(this.seq++).toString(36)}`,
          symbol,
          side,
          type: 'MARKET',
          quantity: str(q.abs()),
          reduceOnly: true,
          strategyId: 'operator',
          refPrice: this.h.lastPrice(symbol) ?? '0',
          createdAt: this.h.clock.now(),
        };
        this.stats.closeOrdersPlaced++;
        const accepted = await this.h.placeClose(intent);
        this.h.log.warn({ commandId: m.commandId, symbol, quantity: qty, clientOrderId: intent.clientOrderId, accepted }, 'operator flatten: close order sent');
      }),
    );
  }
}
