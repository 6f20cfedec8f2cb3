/**
 * Fingerprints of the data a search runs on: SHA-256 of each kline file's bytes, and one hash over
 * them (symbol and hash of each file, in order). A remote worker compares its own files' hash with
 * the job's and refuses a job whose data differ (queue.ts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseKlineSpec } from '../market/kline-csv.ts';

/** One data file: symbol, file name (not the path: machines differ), SHA-256 hex of its bytes. */
export interface DataFileHash {
  symbol: string;
  file: string;
  sha256: string;
}

/**
 * Hash every `--data` spec's file.
 * @throws DataError for a bad spec; Error (ENOENT) for a missing file
 */
export function hashDataFiles(specs: readonly string[]): { files: DataFileHash[]; hash: string } {
  const files = specs.map((spec) => {
    const { symbol, path } = parseKlineSpec(spec);
    return { symbol, file: basename(path), sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
  });
  const hash = createHash('sha256').update(files.map((f) => `${f.symbol}:${f.sha256}`).join('\n')).digest('hex');
  return { files, hash };
}
