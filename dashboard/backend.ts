/**
 * What the API reads and commands: a running bot (its kernel: executor book, bus, heartbeat
 * content, database) or a finished run's database, read-only (`perpbot dashboard --db FILE`,
 * `perpbot backtest --serve`). Money as decimal strings, times UTC epoch ms.
 */
import { Decimal } from '../src/core/decimal.ts';
import type { Config } from '../src/config/schema.ts';
import type { Kernel } from '../src/kernel/kernel.ts';
import type { Db } from '../database/client.ts';
import { openOrders as dbOpenOrders, positionsForRun } from '../database/queries.ts';
import { runs } from '../database/schema.ts';
import { eq } from 'drizzle-orm';
import { knownSymbols, lastClose, lastFillTime, openedAt, pnlSince } from './queries.ts';

/** A position as the API shows it. */
export interface PositionView {
  symbol: string;
  side: 'LONG' | 'SHORT';
  /** Absolute size, base asset. */
  size: string;
  /** Signed quantity, base asset. */
  quantity: string;
  entryPrice: string;
  /** Latest mark price (paper/live), else the last recorded close; quote asset. */
  markPrice: string | null;
  /** (mark − entry) × signed quantity, USDT. */
  unrealizedPnl: string | null;
  /** |quantity| × mark, USDT. */
  notional: string | null;
  leverage: number;
  /** When the position was opened (its latest opening fill), UTC ms. */
  since: number | null;
}

/** An open order as the API shows it. */
export interface OpenOrderView {
  clientOrderId: string;
  symbol: string;
  side: string;
  type: string;
  quantity: string;
  price: string | null;
  reduceOnly: boolean;
  strategyId: string;
  createdAt: number;
}

/** The account as the API shows it, USDT. */
export interface AccountView {
  startingBalance: string;
  /** Starting balance + realized PnL − fees. */
  walletBalance: string;
  /** Wallet balance + unrealized PnL. */
  equity: string;
  unrealizedPnl: string;
  /** Σ notional / leverage of the open positions. */
  margin: string;
  realizedPnlToday: string;
  feesToday: string;
  netPnlToday: string;
  realizedPnlAllTime: string;
  feesAllTime: string;
  netPnlAllTime: string;
  /** Funding payments are not recorded yet: always "0", `fundingTracked` false. */
  funding: string;
  fundingTracked: boolean;
}

/** A running bot or a finished run. */
export class ApiBackend {
  private readonly marks = new Map<string, { price: string; at: number }>();

  private constructor(
    readonly db: Db,
    readonly runId: string,
    readonly config: Config,
    /** The running bot, or null for a finished run (read-only). */
    readonly kernel: Kernel | null,
    private readonly startingBalance: string,
  ) {}

  /** The backend of a running bot: keeps the latest mark price per symbol from the bus. */
  static forKernel(kernel: Kernel, config: Config): ApiBackend {
    const b = new ApiBackend(kernel.db, kernel.runId, config, kernel, config.sim.startingBalance);
    kernel.bus.consume('market.markPrice.*', (m) => void b.marks.set(m.symbol, { price: m.markPrice, at: m.ts }), { name: 'api-marks', capacity: 64 });
    return b;
  }

  /** The backend of a finished run (read-only); its starting balance from the run's recorded config. */
  static readOnly(db: Db, runId: string, config: Config): ApiBackend {
    const run = db.db.select().from(runs).where(eq(runs.id, runId)).get();
    let start = config.sim.startingBalance;
    try {
      const c = JSON.parse(run?.configJson ?? '{}') as { sim?: { startingBalance?: string } };
      if (c.sim?.startingBalance) start = c.sim.startingBalance;
    } catch {
      // keep the configured one
    }
    return new ApiBackend(db, runId, config, null, start);
  }

  /** True for a finished run: commands are refused. */
  get readOnly(): boolean {
    return this.kernel === null;
  }

  /** The run's row (mode, times, status, summary). */
  run() {
    return this.db.db.select().from(runs).where(eq(runs.id, this.runId)).get() ?? null;
  }

  /** Symbols of the run: the bot's, or those the database knows. */
  symbols(): string[] {
    return this.kernel ? [...this.kernel.source.symbols] : knownSymbols(this.db, this.runId);
  }

  /** The latest price of a symbol: mark price (running bot), else last recorded close. */
  markPrice(symbol: string): string | null {
    return this.marks.get(symbol)?.price ?? lastClose(this.db, symbol);
  }

  /** Signed positions by symbol: the executor's book (running), else the database's latest rows. */
  private rawPositions(): Array<{ symbol: string; quantity: string; entryPrice: string }> {
    const rows = positionsForRun(this.db, this.runId);
    const entry = new Map(rows.map((r) => [r.symbol, r.entryPrice]));
    if (this.kernel) {
      return Object.entries(this.kernel.executor.positionSnapshot()).map(([symbol, quantity]) => ({ symbol, quantity, entryPrice: entry.get(symbol) ?? '0' }));
    }
    return rows.filter((r) => !new Decimal(r.quantity).isZero()).map((r) => ({ symbol: r.symbol, quantity: r.quantity, entryPrice: r.entryPrice }));
  }

  /** Open positions with mark price, unrealized PnL, notional, leverage and since when. */
  positions(): PositionView[] {
    const lev = this.config.sizing.leverage;
    return this.rawPositions().map((p) => {
      const q = new Decimal(p.quantity);
      const mark = this.markPrice(p.symbol);
      const upnl = mark === null || p.entryPrice === '0' ? null : new Decimal(mark).minus(p.entryPrice).times(q);
      return {
        symbol: p.symbol,
        side: q.isNegative() ? 'SHORT' : 'LONG',
        size: q.abs().toFixed(),
        quantity: p.quantity,
        entryPrice: p.entryPrice,
        markPrice: mark,
        unrealizedPnl: upnl === null ? null : upnl.toFixed(),
        notional: mark === null ? null : q.abs().times(mark).toFixed(),
        leverage: lev,
        since: openedAt(this.db, this.runId, p.symbol),
      };
    });
  }

  /** Open orders: the executor's book (running), else the database's open rows. */
  openOrders(): OpenOrderView[] {
    if (this.kernel) {
      return this.kernel.executor.openOrders().map((o) => ({
        clientOrderId: o.clientOrderId,
        symbol: o.symbol,
        side: o.side,
        type: o.type,
        quantity: o.quantity,
        price: o.price ?? null,
        reduceOnly: o.reduceOnly,
        strategyId: o.strategyId,
        createdAt: o.createdAt,
      }));
    }
    return dbOpenOrders(this.db, this.runId).map((o) => ({
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      side: o.side,
      type: o.type,
      quantity: o.quantity,
      price: o.price,
      reduceOnly: o.reduceOnly,
      strategyId: o.strategyId,
      createdAt: o.createdAt,
    }));
  }

  /** Balances and PnL, USDT. Today = the current UTC day (running) or the UTC day of the run's last fill (finished). */
  account(now = Date.now()): AccountView {
    const all = pnlSince(this.db, this.runId);
    const wallet = new Decimal(this.startingBalance).plus(all.netPnl);
    const positions = this.positions();
    let upnl = new Decimal(0);
    let notional = new Decimal(0);
    for (const p of positions) {
      if (p.unrealizedPnl) upnl = upnl.plus(p.unrealizedPnl);
      if (p.notional) notional = notional.plus(p.notional);
    }
    // A finished run's "today" is the UTC day of its last fill (a replay's days are the data's).
    const dayRef = this.kernel ? now : (lastFillTime(this.db, this.runId) ?? now);
    const today = pnlSince(this.db, this.runId, Math.floor(dayRef / 86_400_000) * 86_400_000);
    return {
      startingBalance: this.startingBalance,
      walletBalance: wallet.toFixed(),
      equity: wallet.plus(upnl).toFixed(),
      unrealizedPnl: upnl.toFixed(),
      margin: notional.div(this.config.sizing.leverage).toDecimalPlaces(8).toFixed(),
      realizedPnlToday: today.realizedPnl,
      feesToday: today.fees,
      netPnlToday: today.netPnl,
      realizedPnlAllTime: all.realizedPnl,
      feesAllTime: all.fees,
      netPnlAllTime: all.netPnl,
      funding: '0',
      fundingTracked: false,
    };
  }

  /** The strategy's band widths for a symbol (bandK, stopK), from its configured params (defaults 2 and 3). */
  bandWidths(symbol: string): { bandK: number; stopK: number } {
    const s = this.config.strategies.find((x) => x.symbols.length === 0 || x.symbols.includes(symbol));
    const p = (s?.params ?? {}) as { bandK?: unknown; stopK?: unknown };
    return { bandK: typeof p.bandK === 'number' ? p.bandK : 2, stopK: typeof p.stopK === 'number' ? p.stopK : 3 };
  }

  /** The starting balance of the run, USDT. */
  get starting(): string {
    return this.startingBalance;
  }
}
