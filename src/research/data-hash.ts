/**
 * Fingerprints of the data a search runs on: SHA-256 of each kline file's bytes, and one hash over
 * them (symbol and hash of each file, in order). A remote worker compares its own files' hash with
 * the job's and refuses a job whose data differ (queue.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { perpbotVersion } from '../core/paths.ts';
import { parseKlineSpec } from '../market/kline-csv.ts';

/** One data file: symbol, file name (not the path: machines differ), SHA-256 hex of its bytes. */
export interface DataFileHash {
  symbol: string;
  file: string;
  sha256: string;
}

/** SHA-256 hex of a file's bytes. @throws Error (ENOENT) when it cannot be read */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Hash every `--data` spec's file.
 * @throws DataError for a bad spec; Error (ENOENT) for a missing file
 */
export function hashDataFiles(specs: readonly string[]): { files: DataFileHash[]; hash: string } {
  const files = specs.map((spec) => {
    const { symbol, path } = parseKlineSpec(spec);
    return { symbol, file: basename(path), sha256: fileSha256(path) };
  });
  const hash = createHash('sha256').update(files.map((f) => `${f.symbol}:${f.sha256}`).join('\n')).digest('hex');
  return { files, hash };
}

/**
 * SHA-256 of what besides the data and the parameters decides a trial's result: the simulated
 * venue (`sim`: fees, slippage, balance), `sizing`, `risk`, `sessions`, the strategy's base params
 * from the config, the `--funding` specs, the exchange-info file's bytes (tick size, step size,
 * notional filters) and the perpbot version (the code). Two output files with the same data and
 * setup hash compare like for like.
 * @throws Error (ENOENT) when `config.exchangeInfo` cannot be read
 */
export function setupHash(config: { sim: unknown; sizing: unknown; risk: unknown; sessions: unknown; strategies: unknown; exchangeInfo: string }, funding: readonly string[]): string {
  const canonical = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(canonical) : x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, canonical((x as Record<string, unknown>)[k])])) : x;
  return createHash('sha256')
    .update(
      JSON.stringify(
        canonical({ sim: config.sim, sizing: config.sizing, risk: config.risk, sessions: config.sessions, strategies: config.strategies, funding, exchangeInfo: fileSha256(config.exchangeInfo), version: perpbotVersion() }),
      ),
    )
    .digest('hex');
}
