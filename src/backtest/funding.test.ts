/**
 * Funding in backtests, on the bundled real rates and klines: the files are found by name, a
 * position held at a funding time pays or receives −qty × open × rate (hand-computed below), a
 * flat one nothing; malformed files are refused naming file and line. Rates that cover only part
 * of the data (a file cut from the bundled one) are reported, and printed by `perpbot backtest`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { DataError } from '../core/errors.ts';
import { readKlineCsv } from '../market/kline-csv.ts';
import { FundingBook, fundingIntervalMs, loadFundingRates, readFundingCsv } from './funding.ts';
import { fundingWarnings } from './report.ts';

const FUNDING_DIR = projectPath('data/funding');
const BTC = readKlineCsv(projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'), 'BTCUSDT').klines;
const ETH = readKlineCsv(projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv'), 'ETHUSDT').klines;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-funding-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readFundingCsv / loadFundingRates', () => {
  it('reads the bundled file: times ascending, rates as plain decimal strings', () => {
    const r = readFundingCsv(join(FUNDING_DIR, 'BTCUSDT-funding-2025-06_2025-07.csv'));
    expect(r[0]).toEqual({ time: 1749744000001, rate: '0.00001198' });
    expect(r.find((x) => x.time === 1751788800002)).toEqual({ time: 1751788800002, rate: '0.00001665' });
    for (let i = 1; i < r.length; i++) expect(r[i]!.time).toBeGreaterThan(r[i - 1]!.time);
  });

  it('finds each symbol\'s file by name; a symbol without one is not an error', () => {
    const { rates, sources } = loadFundingRates(['BTCUSDT', 'ETHUSDT', 'AVAXUSDT'], [], FUNDING_DIR);
    expect(Object.keys(sources).sort()).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(rates.get('ETHUSDT')?.find((x) => x.time === 1751817600004)?.rate).toBe('0.00008149');
    expect(rates.has('AVAXUSDT')).toBe(false);
  });

  it('refuses a missing file, an unknown header and a bad row, naming file and line', () => {
    expect(() => loadFundingRates(['BTCUSDT'], [join(dir, 'BTCUSDT-none.csv')])).toThrow(/BTCUSDT-none\.csv/);
    const header = join(dir, 'BTCUSDT-a.csv');
    writeFileSync(header, 'time,rate\n1,0.0001\n');
    expect(() => readFundingCsv(header)).toThrow(/header must name funding_time and funding_rate/);
    const row = join(dir, 'BTCUSDT-b.csv');
    writeFileSync(row, 'funding_time,funding_rate\n1751788800002,1.665e-05\n1751817600004,abc\n');
    const err = (() => {
      try {
        readFundingCsv(row);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain('line 3: funding_rate "abc"');
    // The archive's layout is read too.
    const archive = join(dir, 'BTCUSDT-fundingRate-2025-07.csv');
    writeFileSync(archive, 'calc_time,funding_interval_hours,last_funding_rate\n1751788800002,8,0.00001665\n');
    expect(readFundingCsv(archive)).toEqual([{ time: 1751788800002, rate: '0.00001665' }]);
  });
});

describe('FundingBook', () => {
  it('charges the position held at each funding time at that kline\'s open', () => {
    const { rates, sources } = loadFundingRates(['BTCUSDT', 'ETHUSDT'], [], FUNDING_DIR);
    const book = new FundingBook(rates, sources);
    // Long 0.01 BTC from 04:00 to 12:00; short 0.4 ETH from 12:00 on; flat otherwise.
    const four = Date.UTC(2025, 6, 6, 4);
    const noon = Date.UTC(2025, 6, 6, 12);
    const applied = [];
    for (let i = 0; i < 1000; i++) {
      const b = BTC[i]!;
      const e = ETH[i]!;
      const pb = book.onKline(b, () => (b.openTime >= four && b.openTime < noon ? '0.01' : '0'));
      const pe = book.onKline(e, () => (e.openTime >= noon ? '-0.4' : '0'));
      if (pb) applied.push(pb);
      if (pe) applied.push(pe);
    }
    // BTC 08:00:00.002, rate 1.665e-05, kline open 107991.4: −0.01 × 107991.4 × 0.00001665 = −0.0179805681
    // ETH 16:00:00.004, rate 8.149e-05, kline open 2557.69: 0.4 × 2557.69 × 0.00008149 = 0.08337046324
    expect(applied).toEqual([
      { symbol: 'BTCUSDT', time: 1751788800002, rate: '0.00001665', markPrice: '107991.4', positionQty: '0.01', amount: '-0.0179805681' },
      { symbol: 'ETHUSDT', time: 1751817600004, rate: '0.00008149', markPrice: '2557.69', positionQty: '-0.4', amount: '0.08337046324' },
    ]);
    const t = book.totals();
    expect(t).toMatchObject({ paid: '0.0179805681', received: '0.08337046324', net: '0.06538989514', payments: 2, uncoveredSymbols: [] });
    // 00:00, 08:00 and 16:00 of 2025-07-06 for both symbols fell in the 1000 minutes.
    expect(t.fundingTimes).toBe(6);
  });

  it('a symbol without rates is reported as uncovered and never charged', () => {
    const book = new FundingBook(new Map());
    expect(book.onKline(BTC[480]!, () => '1')).toBeNull();
    expect(book.totals().uncoveredSymbols).toEqual(['BTCUSDT']);
  });
});

describe('funding rates covering part of the data', () => {
  const HOUR = 3_600_000;
  const BUNDLED = join(FUNDING_DIR, 'BTCUSDT-funding-2025-06_2025-07.csv');
  /** The bundled BTCUSDT file's lines from 2025-07-08 00:00 to 2025-07-12 00:00 UTC (bytes unchanged), in a temp file. */
  function cutFile(): string {
    const [header, ...lines] = readFileSync(BUNDLED, 'utf8').trim().split('\n');
    const kept = lines.filter((l) => {
      const t = Number(l.split(',')[0]);
      return t >= Date.UTC(2025, 6, 8) && t < Date.UTC(2025, 6, 12) + HOUR;
    });
    const path = join(dir, 'BTCUSDT-funding-cut.csv');
    writeFileSync(path, `${header}\n${kept.join('\n')}\n`);
    return path;
  }
  const flat = () => '0';

  it('the funding interval is read off the rates (8 h for the bundled file, jitter ignored)', () => {
    expect(fundingIntervalMs(readFundingCsv(BUNDLED))).toBe(8 * HOUR);
    expect(fundingIntervalMs([])).toBe(8 * HOUR);
    expect(fundingIntervalMs([{ time: 1, rate: '0' }, { time: 4 * HOUR + 3, rate: '0' }, { time: 8 * HOUR + 5, rate: '0' }])).toBe(4 * HOUR);
  });

  it('a file cut to 2025-07-08 … 07-12 leaves the data before and after it unfunded, named with UTC times', () => {
    const cut = readFundingCsv(cutFile());
    expect(cut[0]?.time).toBe(1751932800010); // 2025-07-08 00:00:00.010
    expect(cut.at(-1)?.time).toBe(1752278400000); // 2025-07-12 00:00:00.000
    const book = new FundingBook(new Map([['BTCUSDT', cut]]));
    for (const k of BTC) book.onKline(k, flat);
    const t = book.totals();
    expect(t.uncoveredSymbols).toEqual([]);
    expect(t.fundingTimes).toBe(13); // 07-08 00:00 … 07-12 00:00, every 8 h
    expect(t.uncoveredSpans).toEqual([
      { symbol: 'BTCUSDT', where: 'start', from: BTC[0]!.openTime, to: 1751932800010, intervalMs: 8 * HOUR },
      { symbol: 'BTCUSDT', where: 'end', from: 1752278400000, to: BTC.at(-1)!.closeTime, intervalMs: 8 * HOUR },
    ]);
    expect(fundingWarnings({ enabled: true, ...t })).toEqual([
      'warning: funding rates of BTCUSDT start at 2025-07-08 00:00: its data 2025-07-06 00:00 → 2025-07-08 00:00 UTC is unfunded (more than one 8 h funding interval without a rate)',
      'warning: funding rates of BTCUSDT end at 2025-07-12 00:00: its data 2025-07-12 00:00 → 2025-07-17 12:06 UTC is unfunded (more than one 8 h funding interval without a rate)',
    ]);
    expect(fundingWarnings({ enabled: false, ...t })).toEqual([]);
  });

  it('one funding interval of slack: data ending less than 8 h after the last rate is covered, more is not', () => {
    const { rates } = loadFundingRates(['BTCUSDT'], [BUNDLED]);
    expect(rates.get('BTCUSDT')?.at(-1)?.time).toBe(1752710400003); // the bundled file ends 2025-07-17 00:00
    const upTo = (end: number) => {
      const book = new FundingBook(rates);
      for (const k of BTC) if (k.closeTime < end) book.onKline(k, flat);
      return book.totals().uncoveredSpans;
    };
    expect(upTo(Date.UTC(2025, 6, 17, 8))).toEqual([]); // last close 07:59:59.999
    // The whole bundled span (to 12:06): the 08:00 funding time of 07-17 has no rate.
    expect(upTo(Infinity)).toEqual([{ symbol: 'BTCUSDT', where: 'end', from: 1752710400003, to: BTC.at(-1)!.closeTime, intervalMs: 8 * HOUR }]);
  });

  it('perpbot backtest prints the warning under its funding line', () => {
    const base = join(dir, 'cli');
    mkdirSync(base, { recursive: true });
    const r = spawnSync(process.execPath, [projectPath('bin/perpbot.js'), 'backtest', '--data', projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'), '--funding', cutFile()], {
      encoding: 'utf8',
      cwd: projectPath('.'),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, PERPBOT_DB: join(base, 'perpbot.sqlite'), PERPBOT_LOG_DIR: join(base, 'logs'), PERPBOT_LOG_FILE: 'false' },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('  funding paid'));
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1, at + 3)).toEqual([
      '  warning: funding rates of BTCUSDT start at 2025-07-08 00:00: its data 2025-07-06 00:00 → 2025-07-08 00:00 UTC is unfunded (more than one 8 h funding interval without a rate)',
      '  warning: funding rates of BTCUSDT end at 2025-07-12 00:00: its data 2025-07-12 00:00 → 2025-07-17 12:06 UTC is unfunded (more than one 8 h funding interval without a rate)',
    ]);
  }, 120_000);
});
