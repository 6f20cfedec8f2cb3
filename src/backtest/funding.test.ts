/**
 * Funding in backtests, on the bundled real rates and klines: the files are found by name, a
 * position held at a funding time pays or receives −qty × open × rate (hand-computed below), a
 * flat one nothing; malformed files are refused naming file and line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { DataError } from '../core/errors.ts';
import { readKlineCsv } from '../market/kline-csv.ts';
import { FundingBook, loadFundingRates, readFundingCsv } from './funding.ts';

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
