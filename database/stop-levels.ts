/**
 * The protective stop level of each held position, as the database knows it, for start-up
 * reconciliation of stops (executor/protective-stops.ts `planStartupStops`). Synchronous
 * (better-sqlite3); read-only.
 */
import type { Symbol } from '../src/core/types.ts';
import type { Db } from './client.ts';

/** A stop level: quote asset decimal text, with the signal it came from and its strategy. */
export interface StopLevel {
  stopPrice: string;
  signalId: string;
  strategyId: string;
}

/**
 * For each symbol: the level of the last STOP_MARKET order placed since the last entry that
 * filled (a stop the strategy moved, or the entry's own), else that entry signal's `stop_price`;
 * and how many stop orders that signal already has (the next re-placement's index). An entry on
 * the other side of `sign` (the position was turned by someone else) has no level here.
 *
 * An entry counts as filled when the database says so, or when the exchange does
 * (`filledOnExchange`): after a crash right after an entry filled, the database still holds the
 * entry as NEW with nothing executed, and start-up reconciliation's settlement of it reaches the
 * database asynchronously (through the recorder), after this synchronous read.
 * @param held signed position sign per symbol (1 long, -1 short)
 * @param filledOnExchange client order ids the exchange reports with a non-zero executed quantity
 *   (reconciliation's `ExchangeState`: open and settled orders)
 */
export function stopLevelsOf(db: Db, runId: string, held: Record<Symbol, number>, filledOnExchange: readonly string[] = []): Record<Symbol, { level?: StopLevel; stopsOfSignal: number }> {
  const out: Record<Symbol, { level?: StopLevel; stopsOfSignal: number }> = {};
  const filledJson = JSON.stringify(filledOnExchange);
  const entryQ = db.sqlite.prepare(
    `SELECT o.signal_id AS signalId, o.strategy_id AS strategyId, o.side AS side, o.created_at AS createdAt, s.stop_price AS stopPrice
       FROM orders o LEFT JOIN signals s ON s.run_id = o.run_id AND s.signal_id = o.signal_id
      WHERE o.run_id = ? AND o.symbol = ? AND o.type != 'STOP_MARKET' AND o.reduce_only = 0
        AND (o.executed_qty NOT IN ('0', '0.0') OR o.client_order_id IN (SELECT value FROM json_each(?)))
      ORDER BY o.created_at DESC, o.rowid DESC LIMIT 1`,
  );
  const stopQ = db.sqlite.prepare(
    `SELECT signal_id AS signalId, strategy_id AS strategyId, stop_price AS stopPrice FROM orders
      WHERE run_id = ? AND symbol = ? AND type = 'STOP_MARKET' AND stop_price IS NOT NULL AND status != 'DENIED' AND created_at >= ?
      ORDER BY created_at DESC, rowid DESC LIMIT 1`,
  );
  const countQ = db.sqlite.prepare(`SELECT count(*) AS n FROM orders WHERE run_id = ? AND type = 'STOP_MARKET' AND signal_id = ?`);
  for (const [symbol, sign] of Object.entries(held)) {
    const entry = entryQ.get(runId, symbol, filledJson) as { signalId: string | null; strategyId: string; side: string; createdAt: number; stopPrice: string | null } | undefined;
    if (entry === undefined || (sign > 0 ? entry.side !== 'BUY' : entry.side !== 'SELL')) {
      out[symbol] = { stopsOfSignal: 0 };
      continue;
    }
    const moved = stopQ.get(runId, symbol, entry.createdAt) as { signalId: string | null; strategyId: string; stopPrice: string } | undefined;
    const pick = moved?.signalId ? { stopPrice: moved.stopPrice, signalId: moved.signalId, strategyId: moved.strategyId } : entry.stopPrice !== null && entry.signalId !== null ? { stopPrice: entry.stopPrice, signalId: entry.signalId, strategyId: entry.strategyId } : undefined;
    if (pick === undefined) {
      out[symbol] = { stopsOfSignal: 0 };
      continue;
    }
    const n = (countQ.get(runId, pick.signalId) as { n: number }).n;
    out[symbol] = { level: pick, stopsOfSignal: n };
  }
  return out;
}
