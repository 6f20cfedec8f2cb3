/**
 * perpbot's SQLite schema (drizzle sqlite-core). The single source of truth for the tables;
 * `npx drizzle-kit generate` turns changes into SQL under `database/migrations/`, which are
 * committed and applied at start by {@link ../database/client.ts openDatabase}.
 *
 * Column conventions (ARCHITECTURE.md, "Money, ids, time"):
 * - Money (prices, quantities, notionals, fees, PnL) is TEXT holding a decimal string
 *   ("108153.4", "-0.002"), never REAL: no value ever passes through a float on its way to disk.
 * - Exchange order ids and trade ids are int64 on Binance: TEXT.
 * - Times are INTEGER UTC epoch milliseconds; the column name ends in `_at`, `_time` or is `ts`.
 * - Booleans are INTEGER 0/1 (drizzle maps them to `boolean`).
 * - No secret (API key, signature, token) is ever stored; `runs.config_json` is the sanitized
 *   configuration the kernel hands in.
 *
 * Run-scoped tables reference `runs(id)` (ON DELETE CASCADE), so a run must be started
 * ({@link ../database/writer.ts RecordWriter.startRun}) before anything is recorded for it.
 * `candle_blocks` (klines, shown as `candles_1m`) is market data shared by every run and has no run id.
 */
import { sql } from 'drizzle-orm';
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { Mode, OrderStatus, OrderType, Side, SignalReason, TargetPosition, TimeInForce, TradingState } from '../src/core/types.ts';

/** Every order status a row of `orders` can hold (Binance's `X` plus PENDING_NEW and DENIED). */
export const ORDER_STATUSES = [
  'PENDING_NEW',
  'NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'REJECTED',
  'EXPIRED',
  'DENIED',
] as const satisfies readonly OrderStatus[];

/** Statuses of an order that may still trade or be canceled ("open orders"). */
export const OPEN_ORDER_STATUSES = ['PENDING_NEW', 'NEW', 'PARTIALLY_FILLED'] as const satisfies readonly OrderStatus[];

/**
 * One row per kernel run (replay, paper or live).
 * `status` is free text set by the kernel: `running` at start, then e.g. `completed`, `failed`,
 * `aborted`. `config_json` is the sanitized configuration (never secrets); `summary_json` is the
 * end-of-run summary, null until the run ends.
 */
export const runs = sqliteTable('runs', {
  id: text('id').primaryKey(),
  mode: text('mode').$type<Mode>().notNull(),
  /** UTC epoch ms. */
  startedAt: integer('started_at').notNull(),
  /** UTC epoch ms; null while the run is going (or when it crashed). */
  endedAt: integer('ended_at'),
  status: text('status').notNull(),
  configJson: text('config_json').notNull(),
  summaryJson: text('summary_json'),
});

/** Length of a {@link candleBlocks} block: one UTC hour, in ms. */
export const CANDLE_BLOCK_MS = 3_600_000;

/**
 * Closed 1-minute klines, market data shared by all runs: one row per symbol and UTC hour.
 * `open_time` is the hour's start (UTC ms, a multiple of {@link CANDLE_BLOCK_MS}); `candles` is a
 * JSON array of that hour's klines in open-time order, each
 * `[openTime, closeTime, "open", "high", "low", "close", "volume", "quoteVolume" | null, trades | null]`:
 * times UTC ms, prices in quote asset as decimal strings, volume in base asset, quote volume in
 * quote asset. Unique (symbol, open_time). A kline is stored once: writing a block whose hour
 * exists merges the two by open time, and a kline already stored is kept (insert-or-ignore).
 *
 * A row per hour instead of a row per kline: SQLite's cost here follows the rows and bytes it
 * writes, and a row per kline capped a replay at ~400,000 candles/s (README, "Benchmarks").
 * The view `candles_1m` (migration 0002) shows the blocks as one row per kline with the old
 * table's columns, for SQL by hand; it also takes INSERTs (an INSTEAD OF trigger merges each
 * row into its block). Code reads blocks through database/candles.ts.
 */
export const candleBlocks = sqliteTable(
  'candle_blocks',
  {
    symbol: text('symbol').notNull(),
    openTime: integer('open_time').notNull(),
    candles: text('candles').notNull(),
  },
  (t) => [uniqueIndex('candle_blocks_symbol_time_uq').on(t.symbol, t.openTime)],
);

/**
 * Strategy decisions, append-only, in arrival order (`id`). Unique (run_id, signal_id): the
 * signal id is deterministic, so recording the same signal twice keeps one row.
 * `indicators` is JSON: the indicator values the decision used (vwap, band edges, adx…).
 */
export const signals = sqliteTable(
  'signals',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    signalId: text('signal_id').notNull(),
    strategyId: text('strategy_id').notNull(),
    symbol: text('symbol').notNull(),
    /** Event time, UTC epoch ms. */
    ts: integer('ts').notNull(),
    target: text('target').$type<TargetPosition>().notNull(),
    reason: text('reason').$type<SignalReason>().notNull(),
    /** Decimal string, quote asset. */
    refPrice: text('ref_price').notNull(),
    indicators: text('indicators', { mode: 'json' }).$type<Record<string, number | null>>().notNull(),
    /** The protective stop level the signal states (SignalEmitted.stopPrice), decimal string, quote asset; null: none. */
    stopPrice: text('stop_price'),
  },
  (t) => [uniqueIndex('signals_run_signal_uq').on(t.runId, t.signalId)],
);

/**
 * One row per order (run_id, client_order_id): its intent and its current state.
 * `executed_qty` (base asset) and `cum_quote` (quote asset, Σ price × qty of the recorded fills)
 * are exact decimal sums; `avg_price` = cum_quote / executed_qty, null before the first fill.
 * `reason` carries the denial, rejection, cancel or expiry reason; `denied_check` names the
 * filter or risk check that denied it; `reject_code` is Binance's error code.
 */
export const orders = sqliteTable(
  'orders',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    clientOrderId: text('client_order_id').notNull(),
    /** Exchange order id (int64 as text); null until the venue accepts the order. */
    orderId: text('order_id'),
    symbol: text('symbol').notNull(),
    side: text('side').$type<Side>().notNull(),
    type: text('type').$type<OrderType>().notNull(),
    /** Decimal string, base asset. */
    quantity: text('quantity').notNull(),
    /** Decimal string, quote asset; null for MARKET. */
    price: text('price'),
    /** STOP_MARKET trigger price (Binance algo `triggerPrice`), decimal string, quote asset; null otherwise. */
    stopPrice: text('stop_price'),
    timeInForce: text('time_in_force').$type<TimeInForce>(),
    reduceOnly: integer('reduce_only', { mode: 'boolean' }).notNull(),
    strategyId: text('strategy_id').notNull(),
    signalId: text('signal_id'),
    /** Decimal string, quote asset. */
    refPrice: text('ref_price').notNull(),
    status: text('status', { enum: ORDER_STATUSES }).notNull(),
    /** Decimal string, base asset. */
    executedQty: text('executed_qty').notNull().default('0'),
    /** Decimal string, quote asset: Σ price × quantity of the recorded fills (Binance's cumQuote). */
    cumQuote: text('cum_quote').notNull().default('0'),
    /** Decimal string, quote asset; volume-weighted over the recorded fills. */
    avgPrice: text('avg_price'),
    rejectCode: integer('reject_code'),
    reason: text('reason'),
    deniedCheck: text('denied_check'),
    /**
     * True for an order perpbot did not place (its client order id is not perpbot's: a person
     * trading on the same account, another program). Such rows carry `strategy_id` "external",
     * type and quantity as the exchange reported them ("UNKNOWN" and "0" when only its trades
     * are known, from GET /fapi/v1/userTrades), and never count toward strategy figures.
     */
    external: integer('external', { mode: 'boolean' }).notNull().default(false),
    /** The intent's creation time, UTC epoch ms. */
    createdAt: integer('created_at').notNull(),
    /** Time of the last event applied, UTC epoch ms. */
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    primaryKey({ name: 'orders_pk', columns: [t.runId, t.clientOrderId] }),
    index('orders_status_idx').on(t.status),
    index('orders_symbol_idx').on(t.symbol),
    // Unqualified column name on purpose: drizzle-kit recreates SQLite tables under a temporary
    // name when altering them, and a CHECK naming "orders"."status" would not survive that.
    check('orders_status_ck', sql.raw(`status IN (${ORDER_STATUSES.map((s) => `'${s}'`).join(', ')})`)),
  ],
);

/**
 * Executions, append-only. Primary key (run_id, symbol, trade_id): Binance trade ids are unique
 * per symbol; rows are inserted with INSERT OR IGNORE so re-recording a fill is a no-op.
 * Prices, commission and realized PnL in quote asset (commission in `commission_asset`),
 * quantity in base asset, `time` UTC epoch ms.
 */
export const fills = sqliteTable(
  'fills',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    tradeId: text('trade_id').notNull(),
    orderId: text('order_id').notNull(),
    clientOrderId: text('client_order_id').notNull(),
    symbol: text('symbol').notNull(),
    side: text('side').$type<Side>().notNull(),
    price: text('price').notNull(),
    quantity: text('quantity').notNull(),
    commission: text('commission').notNull(),
    commissionAsset: text('commission_asset').notNull(),
    realizedPnl: text('realized_pnl').notNull(),
    maker: integer('maker', { mode: 'boolean' }).notNull(),
    time: integer('time').notNull(),
    /**
     * True for a fill of an order perpbot did not place (see `orders.external`): recorded so the
     * account's history is complete, left out of strategy PnL, round trips and loss limits.
     */
    external: integer('external', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    primaryKey({ name: 'fills_pk', columns: [t.runId, t.symbol, t.tradeId] }),
    index('fills_order_idx').on(t.runId, t.clientOrderId),
  ],
);

/**
 * The latest position per (run_id, symbol), upserted on every PositionChanged.
 * `quantity` is signed (negative = short), base asset; the other money columns in quote asset.
 * A stream or poll update older than the row (`updated_at`) is dropped; the exchange's truth
 * from reconciliation (`recover`, `flatten`, start-up) always applies, whichever clock stamped
 * the row (see RecordWriter.position).
 */
export const positions = sqliteTable(
  'positions',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    symbol: text('symbol').notNull(),
    quantity: text('quantity').notNull(),
    entryPrice: text('entry_price').notNull(),
    realizedPnl: text('realized_pnl').notNull(),
    fees: text('fees').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ name: 'positions_pk', columns: [t.runId, t.symbol] })],
);

/** Trading-state changes of the risk engine, append-only, in arrival order (`id`). */
export const riskEvents = sqliteTable(
  'risk_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    ts: integer('ts').notNull(),
    state: text('state').$type<TradingState>().notNull(),
    previous: text('previous').$type<TradingState>().notNull(),
    reason: text('reason').notNull(),
  },
  (t) => [index('risk_events_run_idx').on(t.runId)],
);

/**
 * Operator commands received through the API (halt, pause, resume, flatten, cancel orders),
 * append-only, in arrival order (`id`): who asked, when, why, and what was done.
 * `who` is what the caller said it is (the CLI sends user@host) plus the peer address; never a
 * token. `args` is JSON (e.g. `{"symbol":"BTCUSDT"}`).
 */
export const operatorCommands = sqliteTable(
  'operator_commands',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    /** When the command was received, UTC epoch ms. */
    ts: integer('ts').notNull(),
    /** `halt` | `pause` | `resume` | `flatten` | `cancel-orders`. */
    command: text('command').notNull(),
    args: text('args', { mode: 'json' }).$type<Record<string, string>>().notNull(),
    who: text('who').notNull(),
    reason: text('reason').notNull(),
    /** What the bot did with it (e.g. "published", "refused: read-only"). */
    outcome: text('outcome').notNull(),
  },
  (t) => [index('operator_commands_run_idx').on(t.runId)],
);

/** A row of `runs` as drizzle reads it. */
export type RunRow = typeof runs.$inferSelect;
/**
 * One closed 1-minute kline as stored (a row of the `candles_1m` view): prices in quote asset as
 * decimal strings, `volume` in base asset, `quoteVolume` in quote asset, times UTC ms.
 */
export interface CandleRow {
  symbol: string;
  openTime: number;
  closeTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quoteVolume: string | null;
  trades: number | null;
}
/** A row of `signals` as drizzle reads it (`indicators` parsed from JSON). */
export type SignalRow = typeof signals.$inferSelect;
/** A row of `orders` as drizzle reads it (`reduceOnly` as boolean). */
export type OrderRow = typeof orders.$inferSelect;
/** A row of `fills` as drizzle reads it (`maker` as boolean). */
export type FillRow = typeof fills.$inferSelect;
/** A row of `positions` as drizzle reads it. */
export type PositionRow = typeof positions.$inferSelect;
/** A row of `operator_commands` as drizzle reads it (`args` parsed from JSON). */
export type OperatorCommandRow = typeof operatorCommands.$inferSelect;
/** A row of `risk_events` as drizzle reads it. */
export type RiskEventRow = typeof riskEvents.$inferSelect;
