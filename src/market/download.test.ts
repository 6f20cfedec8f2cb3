/**
 * `perpbot data download` against a local HTTP server on 127.0.0.1 laid out like Binance's public
 * data site, serving real archive content: the bundled AVAXUSDT file (an archive CSV byte for
 * byte) zipped here with its CHECKSUM, and the bundled real BTCUSDT funding rates in the archive's
 * fundingRate layout; and real BTCUSDT 1-minute rows of data/klines/ cut into daily zips (one per
 * UTC day, each with the data file's header row) on mirrors under a path prefix that hold no
 * monthly zip, as for the current month. No test reaches the internet.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { ConfigError } from '../core/errors.ts';
import { readFundingCsv } from '../backtest/funding.ts';
import { DownloadError, downloadArchives } from './download.ts';

const AVAX = fileURLToPath(new URL('./fixtures/AVAXUSDT-1m-2025-02-head.csv', import.meta.url));
const BTC_FUNDING = projectPath('data/funding/BTCUSDT-funding-2025-06_2025-07.csv');
const NOW = Date.UTC(2025, 7, 20); // 2025-08-20: 2025-02 … 2025-07 are published months
const BTC_KLINES = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
/** Days of 2025-07 served as daily zips by the `/daily` mirror (the bundled file starts on the 6th). */
const DAILY_DAYS = ['2025-07-06', '2025-07-07', '2025-07-08', '2025-07-09'];
/** Each day's CSV: the bundled file's header, then its rows of that UTC day, bytes unchanged. */
const dayCsv = new Map<string, string>();

const files = new Map<string, Uint8Array>();
const requests: string[] = [];
let server: Server;
let base: string;
let dir: string;

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
/** Publish `csvName` zipped at `path` with its `.CHECKSUM` ("<sha256>  <zip name>", Binance's form). */
function publish(path: string, csvName: string, csv: Uint8Array, checksum?: string): Uint8Array {
  const zip = zipSync({ [csvName]: csv });
  files.set(path, zip);
  files.set(`${path}.CHECKSUM`, new TextEncoder().encode(`${checksum ?? sha(zip)}  ${path.split('/').pop()}\n`));
  return zip;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-download-'));
  const avax = new Uint8Array(readFileSync(AVAX));
  publish('/data/futures/um/monthly/klines/AVAXUSDT/1m/AVAXUSDT-1m-2025-02.zip', 'AVAXUSDT-1m-2025-02.csv', avax);
  // Same file, but its CHECKSUM is the SHA-256 of something else.
  publish('/data/futures/um/monthly/klines/BADUSDT/1m/BADUSDT-1m-2025-02.zip', 'BADUSDT-1m-2025-02.csv', avax, sha(new TextEncoder().encode('not the zip')));
  // Real BTCUSDT funding rates of 2025-07 re-encoded into the archive's columns (values unchanged).
  const rows = readFileSync(BTC_FUNDING, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const july = rows.filter(([t]) => Number(t) >= Date.UTC(2025, 6, 1) && Number(t) < Date.UTC(2025, 7, 1));
  const fundingCsv = `calc_time,funding_interval_hours,last_funding_rate\n${july.map(([t, r]) => `${t},8,${r}`).join('\n')}\n`;
  publish('/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-07.zip', 'BTCUSDT-fundingRate-2025-07.csv', new TextEncoder().encode(fundingCsv));
  // BTCUSDT klines of 2025-07: the AVAX bytes stand in (the server only has to serve an archive file).
  publish('/data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2025-07.zip', 'BTCUSDT-1m-2025-07.csv', avax);
  // Real BTCUSDT rows split by UTC day into daily zips. `/daily` serves 2025-07-06 … 09 and no
  // monthly zip; `/hole` the same without 2025-07-08.
  const [header, ...klineRows] = readFileSync(BTC_KLINES, 'utf8').split('\n');
  for (const line of klineRows) {
    if (line === '') continue;
    const day = new Date(Number(line.slice(0, line.indexOf(',')))).toISOString().slice(0, 10);
    dayCsv.set(day, `${dayCsv.get(day) ?? `${header}\n`}${line}\n`);
  }
  for (const day of DAILY_DAYS) {
    const csv = new TextEncoder().encode(dayCsv.get(day));
    publish(`/daily/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-${day}.zip`, `BTCUSDT-1m-${day}.csv`, csv);
    if (day !== '2025-07-08') publish(`/hole/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-${day}.zip`, `BTCUSDT-1m-${day}.csv`, csv);
  }
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('downloadArchives', () => {
  it('fetches the monthly zip, verifies its SHA-256 and writes the CSV byte for byte', async () => {
    const out = join(dir, 'ok');
    const r = await downloadArchives({ symbol: 'AVAXUSDT', interval: '1m', from: '2025-02', to: '2025-02', baseUrl: base, outDir: out, now: NOW });
    const csv = join(out, 'klines', 'AVAXUSDT-1m-2025-02.csv');
    expect(readFileSync(csv).equals(readFileSync(AVAX))).toBe(true);
    expect(r.files.map((f) => f.kind)).toEqual(['klines']);
    expect(r.files[0]?.sha256).toBe(sha(files.get('/data/futures/um/monthly/klines/AVAXUSDT/1m/AVAXUSDT-1m-2025-02.zip') as Uint8Array));
    // No funding archive for AVAX on this server: a warning, not a failure.
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('AVAXUSDT-fundingRate-2025-02.zip');
  });

  it('writes the funding-rate history where the backtest finds it, readable with the real rates', async () => {
    const out = join(dir, 'funding');
    await downloadArchives({ symbol: 'BTCUSDT', interval: '1m', from: '2025-07', to: '2025-07', baseUrl: base, outDir: out, now: NOW });
    const rates = readFundingCsv(join(out, 'funding', 'BTCUSDT-fundingRate-2025-07.csv'));
    const bundled = readFundingCsv(BTC_FUNDING).filter((r) => r.time >= Date.UTC(2025, 6, 1) && r.time < Date.UTC(2025, 7, 1));
    expect(rates.length).toBeGreaterThan(40); // the bundled file ends mid-July
    expect(rates).toEqual(bundled);
  });

  it('refuses a corrupted checksum and writes nothing', async () => {
    const out = join(dir, 'bad');
    const err = await downloadArchives({ symbol: 'BADUSDT', interval: '1m', from: '2025-02', to: '2025-02', baseUrl: base, outDir: out, now: NOW, funding: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(/checksum mismatch/);
    expect(readdirSync(join(out, 'klines'))).toEqual([]);
  });

  it('a month on neither the monthly nor the daily archive is a 404 error naming both URLs', async () => {
    const err = await downloadArchives({ symbol: 'AVAXUSDT', interval: '1m', from: '2025-03', to: '2025-03', baseUrl: base, outDir: join(dir, 'missing'), now: NOW, funding: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain('404');
    expect((err as Error).message).toContain('/monthly/klines/AVAXUSDT/1m/AVAXUSDT-1m-2025-03.zip');
    expect((err as Error).message).toContain('/daily/klines/AVAXUSDT/1m/AVAXUSDT-1m-2025-03-01.zip');
  });

  it('a month not published as one is fetched day by day: the daily CSVs joined are the days\' rows in time order, byte for byte', async () => {
    const out = join(dir, 'daily');
    // 2025-07-10 06:00 UTC: 2025-07-01 … 09 are over; the mirror has no monthly zip for 2025-07.
    const r = await downloadArchives({ symbol: 'BTCUSDT', interval: '1m', from: '2025-07', to: '2025-07', baseUrl: `${base}/daily`, outDir: out, now: Date.UTC(2025, 6, 10, 6), funding: false });
    const paths = DAILY_DAYS.map((d) => join(out, 'klines', `BTCUSDT-1m-${d}.csv`));
    expect(r.files.map((f) => f.path)).toEqual(paths);
    expect(r.files.map((f) => f.url)).toEqual(DAILY_DAYS.map((d) => `${base}/daily/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-${d}.zip`));
    // Rows of the written files (header dropped), concatenated in the order written …
    const joined = paths.map((p) => readFileSync(p, 'utf8').split('\n').slice(1).join('\n')).join('');
    // … are the bundled file's rows from 2025-07-06 00:00 to 2025-07-09 23:59, byte for byte.
    const [, ...all] = readFileSync(BTC_KLINES, 'utf8').split('\n');
    const expected = all.filter((l) => l !== '' && Number(l.slice(0, 13)) >= Date.UTC(2025, 6, 6) && Number(l.slice(0, 13)) < Date.UTC(2025, 6, 10));
    expect(expected).toHaveLength(4 * 1440);
    expect(joined).toBe(`${expected.join('\n')}\n`);
    const times = expected.map((l) => Number(l.slice(0, 13)));
    expect(times.every((t, i) => i === 0 || t === (times[i - 1] as number) + 60_000)).toBe(true);
    // Days 1 … 5 are not on the mirror (the bundled data starts on the 6th): skipped, said once.
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('2025-07-01 … 2025-07-05');
    expect(r.warnings[0]).toContain('the klines start on 2025-07-06');
  });

  it('trailing days not published yet end the download at the last day on the server, with a warning naming the first missing day', async () => {
    const out = join(dir, 'trailing');
    // 2025-07-12 06:00 UTC: 2025-07-10 and 11 are over but not on the mirror (not published yet).
    const r = await downloadArchives({ symbol: 'BTCUSDT', interval: '1m', from: '2025-07', to: '2025-07', baseUrl: `${base}/daily`, outDir: out, now: Date.UTC(2025, 6, 12, 6), funding: false });
    expect(r.files.map((f) => f.path)).toEqual(DAILY_DAYS.map((d) => join(out, 'klines', `BTCUSDT-1m-${d}.csv`)));
    expect(readdirSync(join(out, 'klines')).sort()).toEqual(DAILY_DAYS.map((d) => `BTCUSDT-1m-${d}.csv`));
    const trailing = r.warnings.filter((w) => w.includes('not on the server yet'));
    expect(trailing).toHaveLength(1);
    expect(trailing[0]).toContain('the daily archive of 2025-07-10 is not on the server yet');
    expect(trailing[0]).toContain('/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-07-10.zip');
    expect(trailing[0]).toContain('nor are the 1 day(s) after it');
    expect(trailing[0]).toContain('the klines stop at 2025-07-09');
  });

  it('a day missing between two on the server (a hole) is an error naming it; the days before it stay written', async () => {
    const out = join(dir, 'hole');
    const err = await downloadArchives({ symbol: 'BTCUSDT', interval: '1m', from: '2025-07', to: '2025-07', baseUrl: `${base}/hole`, outDir: out, now: Date.UTC(2025, 6, 10, 6), funding: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain('404');
    expect((err as Error).message).toContain('/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-07-08.zip');
    expect((err as Error).message).toContain('a hole in the archive');
    expect((err as DownloadError).url).toBe(`${base}/hole/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-07-08.zip`);
    expect(readdirSync(join(out, 'klines')).sort()).toEqual(['BTCUSDT-1m-2025-07-06.csv', 'BTCUSDT-1m-2025-07-07.csv']);
  });

  it('bad ranges and fields are refused before any request', async () => {
    const before = requests.length;
    const bad = async (over: Record<string, string>) =>
      downloadArchives({ symbol: 'BTCUSDT', interval: '1m', from: '2025-01', to: '2025-02', baseUrl: base, outDir: join(dir, 'x'), now: NOW, ...over }).catch((e: unknown) => e);
    for (const [over, text] of [
      [{ from: '2025-03', to: '2025-02' }, '--from 2025-03 is after --to 2025-02'],
      [{ to: '2025-13' }, '--to: got "2025-13"'],
      [{ to: '2025-09' }, 'in the future'],
      [{ interval: '7m' }, '--interval'],
      [{ symbol: 'btc usdt' }, '--symbol'],
      [{ from: '2018-01' }, '2019-09'],
    ] as const) {
      const e = await bad(over);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toContain(text);
    }
    expect(requests.length).toBe(before);
  });
});

describe('perpbot data download (CLI)', () => {
  // Asynchronous: the test's HTTP server lives in this process and must keep answering.
  const cli = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [projectPath('bin/perpbot.js'), 'data', 'download', ...args], { encoding: 'utf8', cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      });
    });

  it('downloads into --out and says what it wrote; exit 0', async () => {
    const out = join(dir, 'cli');
    const r = await cli(['--symbol', 'AVAXUSDT', '--interval', '1m', '--from', '2025-02', '--to', '2025-02', '--base-url', base, '--out', out, '--no-funding']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('SHA-256 verified');
    expect(r.stdout).toContain('1 kline file(s), 0 funding file(s) written');
    expect(readFileSync(join(out, 'klines', 'AVAXUSDT-1m-2025-02.csv')).equals(readFileSync(AVAX))).toBe(true);
  });

  it('exit 1 on a checksum mismatch, exit 2 on a bad range', async () => {
    const mismatch = await cli(['--symbol', 'BADUSDT', '--from', '2025-02', '--to', '2025-02', '--base-url', base, '--out', join(dir, 'cli-bad'), '--no-funding']);
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toContain('checksum mismatch');
    expect(existsSync(join(dir, 'cli-bad', 'klines', 'BADUSDT-1m-2025-02.csv'))).toBe(false);
    const range = await cli(['--symbol', 'BTCUSDT', '--from', '2024-06', '--to', '2024-01', '--base-url', base, '--out', join(dir, 'cli-range')]);
    expect(range.status).toBe(2);
    expect(range.stderr).toContain('--from 2024-06 is after --to 2024-01');
  });
});
