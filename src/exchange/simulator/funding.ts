/**
 * Funding rates and payments. Binance USDⓈ-M perpetuals settle funding every 8 hours at 00:00,
 * 08:00 and 16:00 UTC (the bundled files' symbols; others may fund every 4 or 1 h): each position
 * pays or receives `positionAmt × markPrice × fundingRate` (longs pay a positive rate), announced
 * by an ACCOUNT_UPDATE with reason `FUNDING_FEE`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Event-Balance-and-Position-Update:
 * for cross positions only the balance `B` is pushed, `P` is empty).
 *
 * Rates: a symbol's recorded rates come from `<SYMBOL>-funding-*.csv` files (columns
 * `funding_time,funding_rate`, Binance's times with its millisecond jitter; data/funding/ holds
 * real BTCUSDT and ETHUSDT ones). The data clock is the data's time shifted by `offset`, so the
 * funding at data-clock time F takes the recorded rate whose time is nearest to F − offset
 * (within 4 hours); elsewhere the configured default rate. Rates are written as Binance writes
 * them, 8 decimals ("0.00010000").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decimal } from '../../core/decimal.ts';
import type { DecimalString, Symbol } from '../../core/types.ts';

/** Funding interval of the modelled symbols, ms (8 h). */
export const FUNDING_INTERVAL_MS = 8 * 3_600_000;
const NEAREST_MS = 4 * 3_600_000;

/** The funding times at or before `t`: the last one, epoch ms (00:00, 08:00, 16:00 UTC). */
export function lastFundingTime(t: number): number {
  return Math.floor(t / FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
}

/** Recorded funding rates by symbol, looked up on the data clock. */
export interface FundingRates {
  /** The rate of the funding at data-clock time `t` (a funding time), 8 decimals. */
  rateAt(symbol: Symbol, t: number): DecimalString;
  /** Whether a recorded file covers `symbol` at data-clock time `t`. */
  recorded(symbol: Symbol, t: number): boolean;
}

/** Binance's 8-decimal rate text of a decimal ("1.198e-05" → "0.00001198"). @throws Error on non-numbers */
export function fundingRateText(rate: string): DecimalString {
  const d = new Decimal(rate);
  if (!d.isFinite()) throw new Error(`funding rate: got "${rate}"`);
  return d.toFixed(8);
}

/**
 * Load the recorded rates of `symbols` from `dir` (missing folder: none recorded).
 * @param offset data clock − data time, ms
 * @param defaultRate the rate where none is recorded, decimal text
 * @throws Error when a matching file has a malformed row (named)
 */
export function loadFundingRates(symbols: readonly Symbol[], dir: string | null, offset: number, defaultRate: string): FundingRates {
  const fallback = fundingRateText(defaultRate);
  const table = new Map<Symbol, { t: number[]; r: string[] }>();
  const wanted = new Set(symbols);
  if (dir !== null && existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const m = /^([A-Z0-9]+)-funding-.*\.csv$/.exec(name);
      if (m === null || !wanted.has(m[1]!)) continue;
      const entry = table.get(m[1]!) ?? { t: [], r: [] };
      const rows: [number, string][] = entry.t.map((t, i) => [t, entry.r[i]!]);
      const lines = readFileSync(join(dir, name), 'utf8').split(/\r?\n/);
      lines.forEach((line, i) => {
        if (line.trim() === '' || (i === 0 && /[a-z]/i.test(line.split(',')[0]!))) return;
        const [t, r] = line.split(',');
        if (t === undefined || r === undefined || !/^\d+$/.test(t.trim())) throw new Error(`${join(dir, name)} line ${i + 1}: expected funding_time,funding_rate, got "${line}"`);
        rows.push([Number(t), fundingRateText(r.trim())]);
      });
      rows.sort((a, b) => a[0] - b[0]);
      table.set(m[1]!, { t: rows.map((x) => x[0]), r: rows.map((x) => x[1]) });
    }
  }
  const nearest = (symbol: Symbol, t: number): number => {
    const e = table.get(symbol);
    if (e === undefined || e.t.length === 0) return -1;
    const orig = t - offset;
    let lo = 0;
    let hi = e.t.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (e.t[mid]! < orig) lo = mid + 1;
      else hi = mid;
    }
    let best = lo;
    if (lo > 0 && Math.abs(e.t[lo - 1]! - orig) <= Math.abs(e.t[lo]! - orig)) best = lo - 1;
    return Math.abs(e.t[best]! - orig) <= NEAREST_MS ? best : -1;
  };
  return {
    rateAt(symbol, t) {
      const i = nearest(symbol, t);
      return i < 0 ? fallback : table.get(symbol)!.r[i]!;
    },
    recorded(symbol, t) {
      return nearest(symbol, t) >= 0;
    },
  };
}
