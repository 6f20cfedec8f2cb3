/**
 * What `perpbot backtest` writes besides its report: the funding book it starts with
 * (`--funding`), the HTML report (`--report FILE`) and the round trips as CSV (`--trades FILE`).
 * Kept here so the CLI only wires flags.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import type { Kline, Symbol } from '../core/types.ts';
import type { ReplayData } from '../market/replay-source.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { FundingBook, loadFundingRates } from './funding.ts';
import { renderHtmlReport } from './html-report.ts';
import type { BacktestReport } from './report.ts';
import { tradesCsv } from './trades.ts';

/** Output files of a backtest (paths as given; absent = not written). */
export interface BacktestOutputs {
  html?: string | undefined;
  tradesCsv?: string | undefined;
}

/**
 * The funding book for a replay of `symbols`.
 * @param specs `--funding` values: empty = the bundled/default files found by name in
 *   data/funding/ (`SYMBOL-funding….csv`); `["none"]` = funding off; else `PATH` or `SYMBOL=PATH`
 * @returns the book, or null when funding is off
 * @throws DataError naming a missing or malformed funding file
 */
export function fundingBookFor(symbols: readonly Symbol[], specs: readonly string[]): FundingBook | null {
  if (specs.length === 1 && specs[0]?.toLowerCase() === 'none') return null;
  const { rates, sources } = loadFundingRates(symbols, specs);
  return new FundingBook(rates, sources);
}

/**
 * Check, before a run, that each output file can be written: its folder exists and it is not a
 * folder itself.
 * @throws ConfigError naming the flag and the path
 */
export function checkOutputs(o: BacktestOutputs): void {
  const problems: string[] = [];
  for (const [flag, path] of [['--report', o.html], ['--trades', o.tradesCsv]] as const) {
    if (path === undefined) continue;
    const dir = dirname(resolve(path));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) problems.push(`${flag} ${path}: folder ${dir} does not exist`);
    else if (existsSync(path) && statSync(path).isDirectory()) problems.push(`${flag} ${path}: is a folder, expected a file`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Write the HTML report and/or the trades CSV of a finished replay. */
export function writeBacktestOutputs(o: BacktestOutputs, report: BacktestReport, kernel: Kernel, data: ReplayData): void {
  const trades = kernel.trades.trades(report.fundingPayments);
  if (o.tradesCsv !== undefined) writeFileSync(o.tradesCsv, tradesCsv(trades));
  if (o.html !== undefined) {
    const klines = new Map<Symbol, readonly Kline[]>();
    data.symbols.forEach((s, i) => klines.set(s, data.streams[i] ?? []));
    writeFileSync(o.html, renderHtmlReport({ report, curve: kernel.perf.summary().curve, trades, klines }));
  }
}
