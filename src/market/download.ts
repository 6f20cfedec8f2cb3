/**
 * Downloads Binance's public market-data archives (https://data.binance.vision) for USDⓈ-M
 * futures: 1-minute (or other) klines and the funding-rate history, each zip checked against its
 * `.CHECKSUM` file (SHA-256) before it is unpacked.
 *
 * Archive layout (Binance's data site, "binance-public-data" README):
 *   {base}/data/futures/um/monthly/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{YYYY-MM}.zip
 *   {base}/data/futures/um/daily/klines/{SYMBOL}/{interval}/{SYMBOL}-{interval}-{YYYY-MM-DD}.zip
 *   {base}/data/futures/um/monthly/fundingRate/{SYMBOL}/{SYMBOL}-fundingRate-{YYYY-MM}.zip
 *   each with `<same>.zip.CHECKSUM` holding "<sha256 hex>  <file name>".
 * A month is published as one monthly zip after it ends; until then (the current month) only the
 * daily zips exist, so a monthly 404 falls back to the month's daily files. A day's zip appears
 * some hours after the day ends, so the last day(s) of the range may not be there yet: the
 * download then stops at the last archive on the server, with a warning. Funding rates are
 * published monthly only.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ConfigError, PerpbotError } from '../core/errors.ts';
import { projectPath } from '../core/paths.ts';

const loadCommonJs = createRequire(import.meta.url);

/** fflate's unzipSync, loaded on first use (the CLI loads this file for every command). */
function unzipSync(data: Uint8Array): Record<string, Uint8Array> {
  return (loadCommonJs('fflate') as typeof import('fflate')).unzipSync(data);
}

/** Binance's public data site. */
export const DEFAULT_ARCHIVE_BASE_URL = 'https://data.binance.vision';

/** Kline intervals the archive publishes for futures/um. */
export const ARCHIVE_INTERVALS = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1mo'] as const;

/** A download failed: HTTP status, network error, checksum mismatch or a malformed archive (exit code 1). */
export class DownloadError extends PerpbotError {
  /** @param url the file concerned */
  constructor(message: string, readonly url: string) {
    super('DOWNLOAD', message, false, { url });
  }
}

/** What to download. */
export interface DownloadRequest {
  symbol: string;
  interval: string;
  /** First month, `YYYY-MM` (UTC). */
  from: string;
  /** Last month, inclusive, `YYYY-MM`. */
  to: string;
  /** Archive base URL (a mirror or a test server); default {@link DEFAULT_ARCHIVE_BASE_URL}. */
  baseUrl?: string;
  /** Output root: klines go to `{outDir}/klines`, funding rates to `{outDir}/funding`. Default the project's `data/`. */
  outDir?: string;
  /** Also download the funding-rate history (default true). */
  funding?: boolean;
  /** "Now" (UTC epoch ms) for range checks and the daily fallback; default Date.now(). */
  now?: number;
  /** fetch implementation (tests); default global fetch. */
  fetch?: typeof fetch;
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

/** One file written. */
export interface DownloadedFile {
  kind: 'klines' | 'funding';
  url: string;
  /** The CSV written, path as built from `outDir`. */
  path: string;
  bytes: number;
  sha256: string;
}

/** What {@link downloadArchives} did. */
export interface DownloadResult {
  files: DownloadedFile[];
  /**
   * Non-fatal problems: a funding month not published yet; kline days missing after the last
   * archive on the server (not published yet: the download stops there, naming the first missing
   * day) or before the first one, within the range's first month (a symbol listed mid-month).
   */
  warnings: string[];
}

/** Months from `from` to `to` inclusive, as `YYYY-MM`. */
function monthsBetween(from: string, to: string): string[] {
  const out: string[] = [];
  let [y, m] = from.split('-').map(Number) as [number, number];
  const [ty, tm] = to.split('-').map(Number) as [number, number];
  while (y < ty || (y === ty && m <= tm)) {
    out.push(`${y}-${String(m).padStart(2, '0')}`);
    m++;
    if (m > 12) {
      m = 1;
      y++;
    }
  }
  return out;
}

/**
 * Validate a request.
 * @throws ConfigError naming each bad field: symbol, interval, `from`/`to` not `YYYY-MM`, from after
 *   to, a month in the future, or more than 120 months
 */
export function validateDownloadRequest(r: DownloadRequest): void {
  const issues: string[] = [];
  if (!/^[A-Z0-9]{2,30}$/.test(r.symbol)) issues.push(`--symbol: got "${r.symbol}", expected an upper-case USDⓈ-M symbol such as BTCUSDT`);
  if (!(ARCHIVE_INTERVALS as readonly string[]).includes(r.interval)) issues.push(`--interval: got "${r.interval}", expected one of ${ARCHIVE_INTERVALS.join(', ')}`);
  const ym = /^(\d{4})-(0[1-9]|1[0-2])$/;
  if (!ym.test(r.from)) issues.push(`--from: got "${r.from}", expected a month YYYY-MM`);
  if (!ym.test(r.to)) issues.push(`--to: got "${r.to}", expected a month YYYY-MM`);
  if (issues.length === 0) {
    const nowMonth = new Date(r.now ?? Date.now()).toISOString().slice(0, 7);
    if (r.from > r.to) issues.push(`--from ${r.from} is after --to ${r.to}`);
    else if (r.to > nowMonth) issues.push(`--to ${r.to} is in the future (now ${nowMonth})`);
    else if (r.from < '2019-09') issues.push(`--from ${r.from}: Binance's USDⓈ-M archive starts in 2019-09`);
    else if (monthsBetween(r.from, r.to).length > 120) issues.push(`--from ${r.from} --to ${r.to}: more than 120 months; split the range`);
  }
  if (r.baseUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(r.baseUrl)) issues.push(`--base-url: got "${r.baseUrl}", expected an http(s) URL`);
  if (issues.length > 0) throw new ConfigError(issues);
}

async function get(f: typeof fetch, url: string): Promise<{ status: number; body: Uint8Array | null }> {
  let res: Response;
  try {
    res = await f(url, { redirect: 'follow' });
  } catch (err) {
    throw new DownloadError(`GET ${url}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`, url);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return { status: 404, body: null };
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new DownloadError(`GET ${url}: HTTP ${res.status} ${res.statusText}`, url);
  }
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

/**
 * Fetch one zip and its CHECKSUM, verify the SHA-256, unpack its single CSV.
 * @returns null when the zip is not on the server (404)
 * @throws DownloadError on a missing CHECKSUM, a mismatch, a zip without exactly one CSV, HTTP errors
 */
async function fetchVerified(f: typeof fetch, url: string): Promise<{ csv: Uint8Array; sha256: string } | null> {
  const zip = await get(f, url);
  if (zip.body === null) return null;
  const sum = await get(f, `${url}.CHECKSUM`);
  if (sum.body === null) throw new DownloadError(`${url}.CHECKSUM: 404 Not Found; the archive cannot be verified, nothing written`, `${url}.CHECKSUM`);
  const expected = /^([0-9a-fA-F]{64})\b/.exec(new TextDecoder().decode(sum.body).trim())?.[1]?.toLowerCase();
  if (!expected) throw new DownloadError(`${url}.CHECKSUM: not "<sha256>  <file>"`, `${url}.CHECKSUM`);
  const actual = createHash('sha256').update(zip.body).digest('hex');
  if (actual !== expected) throw new DownloadError(`${url}: checksum mismatch: SHA-256 of the download is ${actual}, the CHECKSUM file says ${expected}; nothing written`, url);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip.body);
  } catch (err) {
    throw new DownloadError(`${url}: not a valid zip (${(err as Error).message})`, url);
  }
  const csvs = Object.keys(entries).filter((n) => n.toLowerCase().endsWith('.csv'));
  if (csvs.length !== 1) throw new DownloadError(`${url}: expected one CSV in the zip, found ${csvs.length} (${Object.keys(entries).join(', ')})`, url);
  return { csv: entries[csvs[0] as string] as Uint8Array, sha256: actual };
}

function writeAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.part`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Download the klines (and funding rates) of `r.symbol` for every month of the range.
 * Kline CSVs are written unchanged (byte for byte as in the archive) to
 * `{outDir}/klines/{SYMBOL}-{interval}-{YYYY-MM}.csv` (daily fallback: `…-{YYYY-MM-DD}.csv`);
 * funding to `{outDir}/funding/{SYMBOL}-fundingRate-{YYYY-MM}.csv`, which `perpbot backtest`
 * finds by name.
 *
 * Missing kline archives (404, monthly and daily): the files written run from the first archive
 * on the server to the last. Trailing days missing (after the last archive found, e.g. yesterday
 * not published yet) end the download there with a warning naming the first missing day; days
 * missing at the start of the range's first month (before its first daily archive) are skipped
 * with a warning; a day or month missing between two that exist is an error.
 * @throws ConfigError for a bad request (see {@link validateDownloadRequest})
 * @throws DownloadError when the range's first month has no kline archive at all (neither monthly
 *   nor any daily one), for a hole (a missing day or month between two on the server), a checksum
 *   mismatch, HTTP or network errors
 */
export async function downloadArchives(r: DownloadRequest): Promise<DownloadResult> {
  validateDownloadRequest(r);
  const f = r.fetch ?? fetch;
  const base = (r.baseUrl ?? DEFAULT_ARCHIVE_BASE_URL).replace(/\/+$/, '');
  const out = r.outDir ?? projectPath('data');
  const now = r.now ?? Date.now();
  const say = r.onProgress ?? (() => {});
  const files: DownloadedFile[] = [];
  const warnings: string[] = [];
  const { symbol: s, interval: iv } = r;
  mkdirSync(join(out, 'klines'), { recursive: true });
  // The range's kline files run from the first archive on the server to the last: days missing
  // before the first (a symbol listed mid-month, in a month fetched day by day) or after the last
  // (yesterday not published yet) are warnings; a day or month missing between two that exist (a
  // hole) is an error.
  let lastWritten: string | null = null; // `YYYY-MM` or `YYYY-MM-DD` of the last kline file written
  let gap: { day: string; url: string; monthUrl: string; days: number } | null = null; // missing since lastWritten
  const hole = (found: string): DownloadError => {
    const g = gap as NonNullable<typeof gap>;
    return new DownloadError(
      `${s} ${iv} ${g.day.slice(0, 7)}: the monthly archive is not on the server (404 ${g.monthUrl}) and neither is the daily one (404 ${g.url}), although ${lastWritten} before it and ${found} after it are: a hole in the archive; check the range, or retry later`,
      g.url,
    );
  };
  for (const month of monthsBetween(r.from, r.to)) {
    const url = `${base}/data/futures/um/monthly/klines/${s}/${iv}/${s}-${iv}-${month}.zip`;
    const got = await fetchVerified(f, url);
    if (got) {
      if (gap) throw hole(month);
      const path = join(out, 'klines', `${s}-${iv}-${month}.csv`);
      writeAtomic(path, got.csv);
      files.push({ kind: 'klines', url, path, bytes: got.csv.length, sha256: got.sha256 });
      say(`${path} (${got.csv.length} bytes, SHA-256 verified)`);
      lastWritten = month;
      continue;
    }
    // Not published as a month (yet): the month's daily files, up to yesterday (UTC).
    const [y, m] = month.split('-').map(Number) as [number, number];
    const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    const lastDay = Math.min(days, Math.floor((now - Date.UTC(y, m - 1, 1)) / 86_400_000));
    if (lastDay < 1) {
      if (lastWritten === null) throw new DownloadError(`${url}: 404 Not Found, and no day of ${month} is over yet`, url);
      gap ??= { day: `${month}-01`, url, monthUrl: url, days: 0 };
      continue;
    }
    let leading: { day: string; url: string } | null = null; // days missing before the range's first file
    for (let d = 1; d <= lastDay; d++) {
      const day = `${month}-${String(d).padStart(2, '0')}`;
      const durl = `${base}/data/futures/um/daily/klines/${s}/${iv}/${s}-${iv}-${day}.zip`;
      const dg = await fetchVerified(f, durl);
      if (!dg) {
        if (lastWritten === null) leading ??= { day, url: durl };
        else if (gap) gap.days++;
        else gap = { day, url: durl, monthUrl: url, days: 1 };
        continue;
      }
      if (gap) throw hole(day);
      if (leading) {
        warnings.push(`${s} ${iv}: no archive for ${leading.day} … ${month}-${String(d - 1).padStart(2, '0')} (404 ${url} and ${leading.url}); the klines start on ${day}, the first day on the server (listed that day?)`);
        leading = null;
      }
      const path = join(out, 'klines', `${s}-${iv}-${day}.csv`);
      writeAtomic(path, dg.csv);
      files.push({ kind: 'klines', url: durl, path, bytes: dg.csv.length, sha256: dg.sha256 });
      say(`${path} (${dg.csv.length} bytes, SHA-256 verified)`);
      lastWritten = day;
    }
    if (lastWritten === null) {
      const first = leading as NonNullable<typeof leading>;
      throw new DownloadError(`${s} ${iv} ${month}: the monthly archive is not on the server (404 ${url}) and neither is the daily one (404 ${first.url}); check the symbol, interval and range`, first.url);
    }
  }
  if (gap) {
    const rest = gap.days > 1 ? ` nor are the ${gap.days - 1} day(s) after it` : '';
    const what = gap.days === 0 ? `no day of ${gap.day.slice(0, 7)} is over yet (404 ${gap.url})` : `the daily archive of ${gap.day} is not on the server yet (404 ${gap.url})${rest}`;
    warnings.push(`${s} ${iv}: ${what}; the klines stop at ${lastWritten}, the last archive on the server (Binance publishes a day's archive after the day ends)`);
  }
  if (r.funding !== false) {
    mkdirSync(join(out, 'funding'), { recursive: true });
    for (const month of monthsBetween(r.from, r.to)) {
      const url = `${base}/data/futures/um/monthly/fundingRate/${s}/${s}-fundingRate-${month}.zip`;
      const got = await fetchVerified(f, url);
      if (!got) {
        warnings.push(`funding rates of ${s} ${month}: not on the server (404 ${url}); Binance publishes them after the month ends`);
        continue;
      }
      const path = join(out, 'funding', `${s}-fundingRate-${month}.csv`);
      writeAtomic(path, got.csv);
      files.push({ kind: 'funding', url, path, bytes: got.csv.length, sha256: got.sha256 });
      say(`${path} (${got.csv.length} bytes, SHA-256 verified)`);
    }
  }
  return { files, warnings };
}
