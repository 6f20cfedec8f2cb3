/**
 * Funding in backtests: Binance USDⓈ-M perpetuals exchange funding between longs and shorts at
 * each symbol's funding times (every 8, 4 or 1 h). A replay charges or credits it from a recorded
 * funding-rate history, so a backtest's equity is closer to what the account would have held.
 *
 * Formula (Binance, "Introduction to Binance Futures Funding Rates"): funding amount =
 * nominal value of the position × funding rate, nominal value = mark price × position size.
 * A positive rate: longs pay shorts; negative: shorts pay longs. As a cash flow to the account:
 * `amount = −signedQty × markPrice × rate` (negative = paid, positive = received), exact decimals.
 *
 * Mark price in replay: the recorded klines carry no mark price, so the price used is the OPEN
 * of the 1-minute kline containing the funding time (funding times carry a few ms of jitter after
 * the hour, e.g. 00:00:00.005, so that is the last-trade price at the funding time). It differs
 * from Binance's mark price by the basis (typically well under 0.1 %).
 *
 * A position is charged when it is held at the funding time: fills at that kline's open (orders
 * placed on the previous close) come first, as they do on Binance (a fill at 00:00:00.000 is
 * before a funding time of 00:00:00.005).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { Decimal, ZERO, str } from '../core/decimal.ts';
import { DataError } from '../core/errors.ts';
import { projectPath } from '../core/paths.ts';
import type { DecimalString, Kline, Symbol } from '../core/types.ts';

/** One recorded funding rate: `time` UTC epoch ms, `rate` a decimal fraction (0.0001 = 0.01 %). */
export interface FundingRate {
  time: number;
  rate: DecimalString;
}

/** One funding payment applied in a run. Money in USDT (decimal strings), times UTC epoch ms. */
export interface FundingPayment {
  symbol: Symbol;
  /** The funding time, UTC epoch ms. */
  time: number;
  rate: DecimalString;
  /** Price used as the mark price (the open of the kline containing `time`), quote asset. */
  markPrice: DecimalString;
  /** Signed position held at `time`, base asset. */
  positionQty: DecimalString;
  /** Cash flow to the account: −qty × markPrice × rate. Negative = paid, positive = received. */
  amount: DecimalString;
}

/** Funding totals of a run, USDT decimal strings. */
export interface FundingTotals {
  /** Σ of the negative amounts, as a positive number (what the account paid). */
  paid: DecimalString;
  /** Σ of the positive amounts. */
  received: DecimalString;
  /** received − paid. */
  net: DecimalString;
  /** Funding events applied while a position was open. */
  payments: number;
  /** Funding times that fell in the replayed span (with or without a position). */
  fundingTimes: number;
  /** Symbols replayed without any funding rate for their span (funding not applied to them). */
  uncoveredSymbols: Symbol[];
  /**
   * Parts of the replayed data that a symbol's rates do not reach (the symbol has rates for the
   * rest): its rates start more than one funding interval after its first kline opens, or end
   * more than one interval before its last kline closes. No funding is applied there. Symbols in
   * `uncoveredSymbols` are not repeated here.
   */
  uncoveredSpans: FundingGap[];
  /** Where the rates came from, per symbol (file paths); empty when funding is off. */
  sources: Record<string, string[]>;
}

/**
 * A stretch of a symbol's replayed klines with no funding rate: `from`/`to` UTC epoch ms (the
 * first kline's open and the first rate; or the last rate and the last kline's close).
 */
export interface FundingGap {
  symbol: Symbol;
  /** `start`: before the symbol's first rate; `end`: after its last rate. */
  where: 'start' | 'end';
  from: number;
  to: number;
  /** The funding interval allowed as slack, ms (see {@link fundingIntervalMs}). */
  intervalMs: number;
}

/**
 * A symbol's funding interval as its rates show it: the most common spacing of consecutive
 * funding times, rounded to whole hours (Binance: 8, 4 or 1 h; times carry ms of jitter).
 * @param rates sorted by time
 * @returns milliseconds; 8 h when fewer than two rates
 */
export function fundingIntervalMs(rates: readonly FundingRate[]): number {
  const hour = 3_600_000;
  const counts = new Map<number, number>();
  for (let i = 1; i < rates.length; i++) {
    const h = Math.round(((rates[i] as FundingRate).time - (rates[i - 1] as FundingRate).time) / hour);
    if (h > 0) counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  let best = 8;
  let n = 0;
  for (const [h, c] of counts) if (c > n || (c === n && h < best)) [best, n] = [h, c];
  return best * hour;
}

/** The default folder of funding-rate files: `data/funding/` of the project (not of the working directory). */
export const DEFAULT_FUNDING_DIR = projectPath('data/funding');

/**
 * Parse one funding-rate CSV. Accepted layouts (header required, column names case-insensitive):
 * - `funding_time,funding_rate` (the bundled files; also REST `fundingTime,fundingRate`);
 * - `calc_time,funding_interval_hours,last_funding_rate` (Binance's public data archive,
 *   data/futures/um/monthly/fundingRate/SYMBOL/SYMBOL-fundingRate-YYYY-MM.zip).
 * @returns rates sorted by time, duplicates (same time) dropped
 * @throws DataError naming the file (and line, field) when it is missing, has no known header, or a
 *   row has a non-integer time or a non-decimal rate
 */
export function readFundingCsv(path: string): FundingRate[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DataError(`funding file ${path}: cannot be read (${(err as Error).message})`, { file: path }, 'DATA_FILE');
  }
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  } catch (err) {
    throw new DataError(`funding file ${path}: not CSV (${(err as Error).message})`, { file: path }, 'DATA_FILE');
  }
  const header = (rows[0] ?? []).map((h) => h.toLowerCase().replace(/[^a-z]/g, ''));
  const ti = header.findIndex((h) => h === 'fundingtime' || h === 'calctime');
  const ri = header.findIndex((h) => h === 'fundingrate' || h === 'lastfundingrate');
  if (ti < 0 || ri < 0) {
    throw new DataError(`funding file ${path}: header must name funding_time and funding_rate (or Binance's calc_time and last_funding_rate); got "${(rows[0] ?? []).join(',')}"`, { file: path }, 'DATA_FILE');
  }
  const out: FundingRate[] = [];
  for (let i = 1; i < rows.length; i++) {
    const r = rows[i] as string[];
    const t = Number(r[ti]);
    if (!Number.isSafeInteger(t) || t <= 0) throw new DataError(`funding file ${path}, line ${i + 1}: funding_time "${r[ti] ?? ''}" is not epoch milliseconds`, { file: path, line: i + 1 }, 'DATA_MALFORMED');
    let rate: Decimal;
    try {
      rate = new Decimal(r[ri] ?? '');
      if (!rate.isFinite()) throw new Error('not finite');
    } catch {
      throw new DataError(`funding file ${path}, line ${i + 1}: funding_rate "${r[ri] ?? ''}" is not a decimal number`, { file: path, line: i + 1 }, 'DATA_MALFORMED');
    }
    out.push({ time: t, rate: str(rate) });
  }
  out.sort((a, b) => a.time - b.time);
  return out.filter((r, i) => i === 0 || r.time !== (out[i - 1] as FundingRate).time);
}

/**
 * Find and read the funding rates of `symbols`.
 * - `specs` empty: every file in `dir` whose name starts with `SYMBOL-funding` (Binance-style
 *   naming, e.g. `BTCUSDT-funding-2025-06_2025-07.csv`) or `SYMBOL-fundingRate` (the archive's),
 *   merged; a symbol without a file simply gets no funding (reported in `uncoveredSymbols`).
 * - `specs` given: each is `PATH` (symbol = file name up to the first `-`) or `SYMBOL=PATH`.
 * @returns rates per symbol and the files read per symbol
 * @throws DataError when a given file is missing or malformed, or its symbol cannot be told
 */
export function loadFundingRates(symbols: readonly Symbol[], specs: readonly string[], dir = DEFAULT_FUNDING_DIR): { rates: Map<Symbol, FundingRate[]>; sources: Record<string, string[]> } {
  const files: Array<{ symbol: string; path: string }> = [];
  if (specs.length > 0) {
    for (const spec of specs) {
      const eq = spec.indexOf('=');
      const symbol = (eq > 0 ? spec.slice(0, eq) : basename(spec).split('-')[0] ?? '').toUpperCase();
      const path = eq > 0 ? spec.slice(eq + 1) : spec;
      if (!/^[A-Z0-9]{2,30}$/.test(symbol)) throw new DataError(`--funding ${spec}: cannot tell the symbol; name the file SYMBOL-… or give SYMBOL=PATH`, { file: path }, 'DATA_FILE');
      if (!existsSync(path)) throw new DataError(`--funding ${spec}: file ${path} does not exist`, { file: path }, 'DATA_FILE');
      files.push({ symbol, path });
    }
  } else if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const m = /^([A-Z0-9]{2,30})-funding(?:Rate)?[-.]/i.exec(name);
      if (m && /\.csv$/i.test(name) && symbols.includes((m[1] as string).toUpperCase())) files.push({ symbol: (m[1] as string).toUpperCase(), path: join(dir, name) });
    }
  }
  const rates = new Map<Symbol, FundingRate[]>();
  const sources: Record<string, string[]> = {};
  for (const f of files) {
    const list = rates.get(f.symbol) ?? [];
    list.push(...readFundingCsv(f.path));
    rates.set(f.symbol, list);
    (sources[f.symbol] ??= []).push(f.path);
  }
  for (const [s, list] of rates) {
    list.sort((a, b) => a.time - b.time);
    rates.set(s, list.filter((r, i) => i === 0 || r.time !== (list[i - 1] as FundingRate).time));
  }
  return { rates, sources };
}

/**
 * Applies funding during a replay. The kernel calls {@link onKline} for every closed kline, after
 * the simulated venue has matched that kline (so the position is the one held at the funding
 * time), with the symbol's signed position quantity.
 */
export class FundingBook {
  private readonly next = new Map<Symbol, number>();
  private readonly seen = new Set<Symbol>();
  private readonly covered = new Set<Symbol>();
  /** First kline open and last kline close per symbol, UTC epoch ms. */
  private readonly span = new Map<Symbol, { first: number; last: number }>();
  readonly payments: FundingPayment[] = [];
  private paid: Decimal = ZERO;
  private received: Decimal = ZERO;
  private times = 0;

  /**
   * @param rates recorded rates per symbol, sorted by time (see {@link loadFundingRates})
   * @param sources files read per symbol, for the report
   */
  constructor(
    private readonly rates: ReadonlyMap<Symbol, readonly FundingRate[]>,
    private readonly sources: Record<string, string[]> = {},
  ) {}

  /**
   * A kline closed. For each funding time `t` of its symbol with `openTime ≤ t ≤ closeTime`, a
   * non-zero `positionQty` pays or receives `−qty × open × rate`. Funding times inside a gap of the
   * data (before this kline's open) are skipped: there is no price to charge them at.
   * @param positionQty returns the signed position held at the kline's open after its fills, base
   *   asset (called only when a funding time falls in the kline)
   * @returns the payment applied (null when none)
   */
  onKline(k: Kline, positionQty: () => DecimalString): FundingPayment | null {
    const list = this.rates.get(k.symbol);
    this.seen.add(k.symbol);
    // A symbol's klines arrive in time order (replay merges them so): the first one sets `first`.
    const sp = this.span.get(k.symbol);
    if (sp === undefined) this.span.set(k.symbol, { first: k.openTime, last: k.closeTime });
    else sp.last = k.closeTime;
    if (list === undefined || list.length === 0) return null;
    let i = this.next.get(k.symbol) ?? 0;
    while (i < list.length && (list[i] as FundingRate).time < k.openTime) i++;
    let payment: FundingPayment | null = null;
    while (i < list.length && (list[i] as FundingRate).time <= k.closeTime) {
      const fr = list[i] as FundingRate;
      this.times++;
      this.covered.add(k.symbol);
      const qty = new Decimal(positionQty());
      if (!qty.isZero()) {
        const amount = qty.neg().times(k.open).times(fr.rate);
        if (amount.isNegative()) this.paid = this.paid.minus(amount);
        else this.received = this.received.plus(amount);
        payment = { symbol: k.symbol, time: fr.time, rate: fr.rate, markPrice: k.open, positionQty: str(qty), amount: str(amount) };
        this.payments.push(payment);
      }
      i++;
    }
    if (i > 0 && (list[i - 1] as FundingRate).time >= k.openTime - 8 * 3_600_000) this.covered.add(k.symbol);
    this.next.set(k.symbol, i);
    return payment;
  }

  /**
   * Where the replayed klines of a covered symbol reach past its rates by more than one funding
   * interval (see {@link FundingTotals.uncoveredSpans}), symbols in name order, start before end.
   */
  uncoveredSpans(): FundingGap[] {
    const out: FundingGap[] = [];
    for (const s of [...this.covered].sort()) {
      const list = this.rates.get(s);
      const sp = this.span.get(s);
      if (!list || list.length === 0 || !sp) continue;
      const intervalMs = fundingIntervalMs(list);
      const first = (list[0] as FundingRate).time;
      const last = (list[list.length - 1] as FundingRate).time;
      if (first - sp.first > intervalMs) out.push({ symbol: s, where: 'start', from: sp.first, to: first, intervalMs });
      if (sp.last - last > intervalMs) out.push({ symbol: s, where: 'end', from: last, to: sp.last, intervalMs });
    }
    return out;
  }

  /** Totals so far (see {@link FundingTotals}). */
  totals(): FundingTotals {
    return {
      paid: str(this.paid),
      received: str(this.received),
      net: str(this.received.minus(this.paid)),
      payments: this.payments.length,
      fundingTimes: this.times,
      uncoveredSymbols: [...this.seen].filter((s) => !this.covered.has(s)).sort(),
      uncoveredSpans: this.uncoveredSpans(),
      sources: this.sources,
    };
  }
}
