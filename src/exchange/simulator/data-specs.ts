/**
 * Where the simulator's kline data comes from, for many symbols at once (issue #9): `--data`
 * specs, a folder of Binance-named files (`--data-dir`), and a symbols file mapping symbols to
 * files (`--symbols-file`), merged into one list of `{symbol, path}`; and the loading that
 * parses each distinct file once, however many symbols replay it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DataError } from '../../core/errors.ts';
import type { Kline, Symbol } from '../../core/types.ts';
import { parseKlineSpec, readKlineCsv } from '../../market/kline-csv.ts';

/** One symbol and the kline file it replays (as given for `--data`, else absolute). */
export interface DataSpec {
  symbol: Symbol;
  path: string;
}

/**
 * Every `*.csv` in `dir` (not recursive), its symbol from its name up to the first `-`
 * (Binance's naming, `BTCUSDT-1m-2025-07.csv`). Sorted by name.
 * @throws DataError when the folder is missing or holds no CSV file
 */
export function specsFromDir(dir: string): DataSpec[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DataError(`--data-dir ${dir}: not a folder`, { file: dir }, 'DATA_FILE');
  const names = readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.csv')).sort();
  if (names.length === 0) throw new DataError(`--data-dir ${dir}: no .csv file in it`, { file: dir }, 'DATA_FILE');
  return names.map((n) => {
    const { symbol } = parseKlineSpec(join(dir, n));
    return { symbol, path: resolve(dir, n) };
  });
}

/**
 * A symbols file: one `SYMBOL=PATH` per line (`#` comments and blank lines ignored; a path
 * relative to the file's own folder), e.g. 300 symbols mapped to a handful of files.
 * @throws DataError naming the file and line when a line is not `SYMBOL=PATH`
 */
export function specsFromSymbolsFile(file: string): DataSpec[] {
  if (!existsSync(file)) throw new DataError(`--symbols-file ${file}: no such file`, { file }, 'DATA_FILE');
  const out: DataSpec[] = [];
  readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (line === '') return;
      if (!/^[A-Za-z0-9]+\s*=/.test(line)) throw new DataError(`${file} line ${i + 1}: expected SYMBOL=PATH, got ${JSON.stringify(raw)}`, { file, line: i + 1 }, 'DATA_FILE');
      const { symbol, path } = parseKlineSpec(line);
      out.push({ symbol, path: isAbsolute(path) ? path : resolve(dirname(file), path) });
    });
  if (out.length === 0) throw new DataError(`--symbols-file ${file}: no SYMBOL=PATH line`, { file }, 'DATA_FILE');
  return out;
}

/**
 * All data specs: `data` (each `SYMBOL=PATH` or a Binance-named path, relative to the working
 * directory), then `dataDir`'s files, then `symbolsFile`'s lines. A symbol named twice keeps
 * every file (merged in time order).
 */
export function collectSpecs(data: readonly string[], dataDir?: string, symbolsFile?: string): DataSpec[] {
  const out: DataSpec[] = data.map((s) => parseKlineSpec(s));
  if (dataDir !== undefined) out.push(...specsFromDir(dataDir));
  if (symbolsFile !== undefined) out.push(...specsFromSymbolsFile(symbolsFile));
  return out;
}

/**
 * Read every distinct file once. @returns per symbol its klines (sorted by open time, one per
 * minute; when several files give the same minute the later file wins); symbols that replay the
 * same single file share one array, whose klines carry the first such symbol's name (callers
 * re-stamp `symbol` where it matters).
 * @throws DataError on a missing or malformed file
 */
export function loadSpecs(specs: readonly DataSpec[]): Map<Symbol, readonly Kline[]> {
  const byFile = new Map<string, Kline[]>();
  const filesOf = new Map<Symbol, string[]>();
  for (const { symbol, path } of specs) {
    const key = resolve(path);
    if (!byFile.has(key)) byFile.set(key, readKlineCsv(path, symbol).klines);
    const list = filesOf.get(symbol) ?? [];
    if (!list.includes(key)) list.push(key);
    filesOf.set(symbol, list);
  }
  const out = new Map<Symbol, readonly Kline[]>();
  for (const [symbol, files] of filesOf) {
    if (files.length === 1) {
      out.set(symbol, byFile.get(files[0]!)!);
      continue;
    }
    const byTime = new Map<number, Kline>();
    for (const f of files) for (const k of byFile.get(f)!) byTime.set(k.openTime, k.symbol === symbol ? k : { ...k, symbol });
    out.set(symbol, [...byTime.values()].sort((a, b) => a.openTime - b.openTime));
  }
  return out;
}
