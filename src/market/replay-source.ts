/**
 * Market data for replay: Binance kline CSV files loaded and validated up front (so a malformed
 * row stops the run before anything is written), then merged in time order across symbols.
 */
import { DataError } from '../core/errors.ts';
import type { Kline, Symbol } from '../core/types.ts';
import { parseKlineSpec, readKlineCsv, type Gap } from './kline-csv.ts';

/** One loaded file. */
export interface ReplayFile {
  symbol: Symbol;
  path: string;
  rows: number;
  gaps: Gap[];
  /** Minutes missing inside the file, summed over its gaps. */
  missingMinutes: number;
  /** Open time of the first and last kline, UTC epoch ms (null when empty). */
  firstOpenTime: number | null;
  lastOpenTime: number | null;
}

/** Everything a replay needs. */
export interface ReplayData {
  /** One time-ordered kline array per symbol, in `symbols` order. */
  streams: Kline[][];
  symbols: Symbol[];
  files: ReplayFile[];
  totalKlines: number;
}

/**
 * Load replay data from specs (`path` or `SYMBOL=path`, see {@link parseKlineSpec}).
 * @throws DataError naming the file, line and field of a malformed row, a missing file, or a
 *   symbol given twice
 */
export function loadReplayData(specs: readonly string[]): ReplayData {
  if (specs.length === 0) throw new DataError('no kline data given (--data FILE or SYMBOL=FILE)', {}, 'DATA_FILE');
  const streams: Kline[][] = [];
  const symbols: Symbol[] = [];
  const files: ReplayFile[] = [];
  let total = 0;
  for (const spec of specs) {
    const { symbol, path } = parseKlineSpec(spec);
    if (symbols.includes(symbol)) {
      throw new DataError(`${spec}: symbol ${symbol} is given twice; give one file per symbol`, { file: path }, 'DATA_FILE');
    }
    const r = readKlineCsv(path, symbol);
    streams.push(r.klines);
    symbols.push(symbol);
    files.push({
      symbol,
      path,
      rows: r.rows,
      gaps: r.gaps,
      missingMinutes: r.gaps.reduce((a, g) => a + g.missing, 0),
      firstOpenTime: r.klines[0]?.openTime ?? null,
      lastOpenTime: r.klines[r.klines.length - 1]?.openTime ?? null,
    });
    total += r.klines.length;
  }
  return { streams, symbols, files, totalKlines: total };
}
