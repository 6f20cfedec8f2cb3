/**
 * The SQL text of the {@link RecordWriter} (./writer.ts): one statement per kind of record, with
 * the conflict rules that make every write idempotent (a record given twice is stored once) and
 * keep an order's status from moving backwards. Column names: ./schema.ts.
 */
/** Head of the multi-row candle INSERT; rows of {@link CANDLE_ROW} follow, then the conflict clause. */
export const CANDLE_INSERT_HEAD =
  'INSERT INTO candles_1m (symbol, open_time, close_time, open, high, low, close, volume, quote_volume, trades) VALUES ';
/** One candle row's placeholders (10 columns, in CANDLE_INSERT_HEAD's order). */
export const CANDLE_ROW = '(?,?,?,?,?,?,?,?,?,?)';

const ORDER_COLUMNS =
  'run_id, client_order_id, order_id, symbol, side, type, quantity, price, stop_price, time_in_force, reduce_only, strategy_id, signal_id, ref_price, status, executed_qty, cum_quote, avg_price, reject_code, reason, denied_check, created_at, updated_at';

/** A DENIED order row; the conflict action follows. */
const INSERT_DENIED = `INSERT INTO orders (${ORDER_COLUMNS})
    VALUES (@runId, @clientOrderId, NULL, @symbol, @side, @type, @quantity, @price, @stopPrice, @timeInForce, @reduceOnly,
      @strategyId, @signalId, @refPrice, 'DENIED', '0', '0', NULL, NULL, @reason, @check, @createdAt, @updatedAt)
    ON CONFLICT (run_id, client_order_id)`;

/** The writer's other statements, by name (prepared once per writer). */
export const SQL = {
  insertRun: `INSERT INTO runs (id, mode, started_at, ended_at, status, config_json, summary_json)
    VALUES (@id, @mode, @startedAt, NULL, 'running', @configJson, NULL)`,
  resumeRun: `INSERT INTO runs (id, mode, started_at, ended_at, status, config_json, summary_json)
    VALUES (@id, @mode, @startedAt, NULL, 'running', @configJson, NULL)
    ON CONFLICT (id) DO UPDATE SET ended_at = NULL, status = 'running', config_json = excluded.config_json`,
  ensureRun: `INSERT INTO runs (id, mode, started_at, ended_at, status, config_json, summary_json)
    VALUES (@id, @mode, @startedAt, @startedAt, 'stopped', @configJson, NULL) ON CONFLICT (id) DO NOTHING`,
  endRun: `UPDATE runs SET ended_at = @endedAt, status = @status, summary_json = @summaryJson WHERE id = @id`,
  insertSignal: `INSERT INTO signals (run_id, signal_id, strategy_id, symbol, ts, target, reason, ref_price, indicators, stop_price)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, signal_id) DO NOTHING`,
  insertOrder: `INSERT INTO orders (${ORDER_COLUMNS})
    VALUES (@runId, @clientOrderId, NULL, @symbol, @side, @type, @quantity, @price, @stopPrice, @timeInForce, @reduceOnly,
      @strategyId, @signalId, @refPrice, 'PENDING_NEW', '0', '0', NULL, NULL, NULL, NULL, @createdAt, @updatedAt)
    ON CONFLICT (run_id, client_order_id) DO NOTHING`,
  // A denial of an intent this process wrote ahead and stopped: its PENDING_NEW row becomes DENIED.
  upsertDenied: `${INSERT_DENIED} DO UPDATE SET status = 'DENIED', denied_check = excluded.denied_check,
      reason = excluded.reason, updated_at = excluded.updated_at
    WHERE orders.status = 'PENDING_NEW'`,
  // Any other denial: recorded, but never over an existing row of the id (an earlier order).
  insertDenied: `${INSERT_DENIED} DO NOTHING`,
  orderExists: `SELECT 1 FROM orders WHERE run_id = ? AND client_order_id = ?`,
  insertExternalOrder: `INSERT INTO orders (${ORDER_COLUMNS}, external)
    VALUES (@runId, @clientOrderId, @orderId, @symbol, @side, @type, @quantity, @price, NULL, NULL, @reduceOnly,
      'external', NULL, '0', 'NEW', '0', '0', NULL, NULL, NULL, NULL, @ts, @ts, 1)
    ON CONFLICT (run_id, client_order_id) DO NOTHING`,
  accepted: `UPDATE orders SET order_id = coalesce(order_id, @orderId),
      status = CASE WHEN status = 'PENDING_NEW' THEN 'NEW' ELSE status END,
      updated_at = max(updated_at, @ts)
    WHERE run_id = @runId AND client_order_id = @clientOrderId`,
  rejected: `UPDATE orders SET status = 'REJECTED', reject_code = @code, reason = @reason, updated_at = max(updated_at, @ts)
    WHERE run_id = @runId AND client_order_id = @clientOrderId AND status IN ('PENDING_NEW', 'NEW')`,
  closed: `UPDATE orders SET status = @status, reason = @reason, order_id = coalesce(order_id, @orderId),
      updated_at = max(updated_at, @ts)
    WHERE run_id = @runId AND client_order_id = @clientOrderId AND status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED')`,
  insertFill: `INSERT INTO fills (run_id, trade_id, order_id, client_order_id, symbol, side, price, quantity, commission,
      commission_asset, realized_pnl, maker, time, external)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, symbol, trade_id) DO NOTHING`,
  orderForFill: `SELECT executed_qty, cum_quote, status FROM orders WHERE run_id = ? AND client_order_id = ?`,
  filled: `UPDATE orders SET executed_qty = @executedQty, cum_quote = @cumQuote, avg_price = @avgPrice, status = @status,
      order_id = coalesce(order_id, @orderId), updated_at = max(updated_at, @ts)
    WHERE run_id = @runId AND client_order_id = @clientOrderId`,
  upsertPosition: `INSERT INTO positions (run_id, symbol, quantity, entry_price, realized_pnl, fees, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, symbol) DO UPDATE SET quantity = excluded.quantity, entry_price = excluded.entry_price,
      realized_pnl = excluded.realized_pnl, fees = excluded.fees, updated_at = excluded.updated_at
    WHERE excluded.updated_at >= positions.updated_at`,
  // The exchange's truth (reconciliation, recover, flatten): applied whatever the stored row's
  // time, which may come from another clock (an exchange event time against a wall-clock stamp).
  truePosition: `INSERT INTO positions (run_id, symbol, quantity, entry_price, realized_pnl, fees, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, symbol) DO UPDATE SET quantity = excluded.quantity, entry_price = excluded.entry_price,
      realized_pnl = excluded.realized_pnl, fees = excluded.fees, updated_at = max(positions.updated_at, excluded.updated_at)`,
  insertRisk: `INSERT INTO risk_events (run_id, ts, state, previous, reason) VALUES (?, ?, ?, ?, ?)`,
} as const;
