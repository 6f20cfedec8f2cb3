import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../core/errors.ts';
import type { Kline } from '../core/types.ts';
import { mergeKlines, parseKlineSpec, readKlineCsv, shiftKlines } from './kline-csv.ts';

// Real data: bundled BTC/ETH 6-column files and the verbatim head of Binance's AVAX archive.
const BTC = fileURLToPath(new URL('../../data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv', import.meta.url));
const ETH = fileURLToPath(new URL('../../data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv', import.meta.url));
const AVAX = fileURLToPath(new URL('./fixtures/AVAXUSDT-1m-2025-02-head.csv', import.meta.url));

const BTC_FIRST = 1751760000000; // 2025-07-06T00:00:00Z
const BTC_LAST = 1752753960000; // 2025-07-17T12:06:00Z
const AVAX_FIRST = 1738368000000; // 2025-02-01T00:00:00Z
const AVAX_LAST = 1738379880000; // 2025-02-01T03:18:00Z

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-kline-csv-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The file's lines without the final empty string after the trailing newline. */
function linesOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}
function write(name: string, lines: string[], eol = '\n'): string {
  const p = join(dir, name);
  writeFileSync(p, lines.join(eol) + eol);
  return p;
}
function fieldsOf(line: string): string[] {
  return line.split(',');
}
/** Replace field `col` of (1-based) line `n`. */
function edit(lines: string[], n: number, col: number, value: string): string[] {
  const out = lines.slice();
  const f = fieldsOf(out[n - 1] as string);
  f[col] = value;
  out[n - 1] = f.join(',');
  return out;
}
function thrown(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return err as DataError;
  }
  throw new Error('expected a DataError, nothing was thrown');
}

describe('readKlineCsv on the bundled 6-column files (with header)', () => {
  it('reads all 16,567 BTCUSDT minutes, exact strings, no gaps', () => {
    const { klines, gaps, rows } = readKlineCsv(BTC, 'BTCUSDT');
    expect(rows).toBe(16_567);
    expect(klines).toHaveLength(16_567);
    expect(gaps).toEqual([]);
    expect(klines[0]).toEqual({
      symbol: 'BTCUSDT',
      interval: '1m',
      openTime: BTC_FIRST,
      closeTime: BTC_FIRST + 59_999,
      open: '108153.4',
      high: '108167.0', // trailing zero kept: never a float round trip
      low: '108153.3',
      close: '108167.0',
      volume: '20.406',
      closed: true,
    });
    const last = klines.at(-1) as Kline;
    expect(last.openTime).toBe(BTC_LAST);
    expect(last.closeTime).toBe(BTC_LAST + 59_999);
    expect([last.open, last.high, last.low, last.close, last.volume]).toEqual(['117928.0', '117934.0', '117861.0', '117886.9', '135.082']);
    expect(new Date(last.openTime).toISOString()).toBe('2025-07-17T12:06:00.000Z');
    expect(last).not.toHaveProperty('quoteVolume');
    const steps = new Set(klines.slice(1).map((k, i) => k.openTime - (klines[i] as Kline).openTime));
    expect([...steps]).toEqual([60_000]);
  });

  it('reads ETHUSDT over the same span, minute for minute', () => {
    const eth = readKlineCsv(ETH, 'ETHUSDT');
    const btc = readKlineCsv(BTC, 'BTCUSDT');
    expect(eth.rows).toBe(16_567);
    expect(eth.gaps).toEqual([]);
    expect(eth.klines[0]).toMatchObject({ symbol: 'ETHUSDT', openTime: BTC_FIRST, open: '2515.25', high: '2516.09', low: '2515.12', close: '2515.26', volume: '1011.866' });
    expect((eth.klines.at(-1) as Kline).openTime).toBe(BTC_LAST);
    expect((eth.klines.at(-1) as Kline).volume).toBe('15181.75');
    expect(eth.klines.map((k) => k.openTime)).toEqual(btc.klines.map((k) => k.openTime));
  });

  it('reads the same file without its header', () => {
    const lines = linesOf(BTC);
    const p = write('BTCUSDT-noheader.csv', lines.slice(1, 1001));
    const r = readKlineCsv(p, 'BTCUSDT');
    expect(r.rows).toBe(1000);
    expect(r.klines).toEqual(readKlineCsv(BTC, 'BTCUSDT').klines.slice(0, 1000));
  });
});

describe('readKlineCsv on the 12-column Binance archive (AVAX fixture)', () => {
  const expectedFirst: Kline = {
    symbol: 'AVAXUSDT',
    interval: '1m',
    openTime: AVAX_FIRST,
    closeTime: 1738368059999,
    open: '34.4220',
    high: '34.4260',
    low: '34.3600',
    close: '34.3600',
    volume: '9896',
    quoteVolume: '340376.0940',
    trades: 1391,
    closed: true,
  };

  it('reads the header file: 199 rows, exact strings, quote volume and trade count', () => {
    const { klines, gaps, rows } = readKlineCsv(AVAX, 'AVAXUSDT');
    expect(rows).toBe(199);
    expect(gaps).toEqual([]);
    expect(klines[0]).toEqual(expectedFirst);
    expect(klines[1]).toMatchObject({ openTime: 1738368060000, closeTime: 1738368119999, open: '34.3600', close: '34.3180', volume: '3337', quoteVolume: '114621.2970', trades: 489 });
    const last = klines.at(-1) as Kline;
    expect(last).toEqual({
      symbol: 'AVAXUSDT',
      interval: '1m',
      openTime: AVAX_LAST,
      closeTime: 1738379939999,
      open: '34.6860',
      high: '34.7100',
      low: '34.6820',
      close: '34.7090',
      volume: '4616',
      quoteVolume: '160146.4920',
      trades: 501,
      closed: true,
    });
  });

  it('reads it without the header (pre-2022 archives) and with CRLF line ends', () => {
    const lines = linesOf(AVAX);
    const ref = readKlineCsv(AVAX, 'AVAXUSDT').klines;
    expect(readKlineCsv(write('AVAXUSDT-noheader.csv', lines.slice(1)), 'AVAXUSDT').klines).toEqual(ref);
    expect(readKlineCsv(write('AVAXUSDT-crlf.csv', lines, '\r\n'), 'AVAXUSDT').klines).toEqual(ref);
  });

  it('skips empty lines and a UTF-8 BOM', () => {
    const lines = linesOf(AVAX);
    const p = write('AVAXUSDT-bom.csv', ['\uFEFF' + (lines[1] as string), '', ...lines.slice(2, 10), '']);
    const r = readKlineCsv(p, 'AVAXUSDT');
    expect(r.rows).toBe(9);
    expect(r.klines[0]).toEqual(expectedFirst);
  });
});

describe('readKlineCsv gaps', () => {
  it('records missing minutes without failing', () => {
    const lines = linesOf(BTC);
    // data row i (0-based) is on line i + 2; drop row 100 (one minute) and rows 200..204 (five)
    const kept = lines.filter((_, n) => !(n === 101 || (n >= 201 && n <= 205)));
    const r = readKlineCsv(write('BTCUSDT-gaps.csv', kept), 'BTCUSDT');
    expect(r.rows).toBe(16_567 - 6);
    expect(r.gaps).toEqual([
      { after: BTC_FIRST + 99 * 60_000, missing: 1 },
      { after: BTC_FIRST + 199 * 60_000, missing: 5 },
    ]);
    expect(r.klines[100]?.openTime).toBe(BTC_FIRST + 101 * 60_000);
  });

  it('records a gap in the 12-column format too', () => {
    const lines = linesOf(AVAX);
    const kept = [...lines.slice(0, 51), ...lines.slice(81)]; // drop data rows 50..79
    const r = readKlineCsv(write('AVAXUSDT-gaps.csv', kept), 'AVAXUSDT');
    expect(r.rows).toBe(169);
    expect(r.gaps).toEqual([{ after: AVAX_FIRST + 49 * 60_000, missing: 30 }]);
  });
});

describe('readKlineCsv malformed rows name file, line and field', () => {
  const btcHead = (): string[] => linesOf(BTC).slice(0, 40);
  const avaxHead = (): string[] => linesOf(AVAX).slice(0, 40);

  const cases: { name: string; lines: () => string[]; file: string; line: number; field?: string; message: RegExp | string }[] = [
    {
      name: 'bad number',
      file: 'BTCUSDT-1m.csv',
      lines: () => edit(btcHead(), 17, 4, 'abc'),
      line: 17,
      field: 'close',
      message: 'BTCUSDT-1m.csv line 17: field "close": "abc" is not a decimal number',
    },
    { name: 'NaN', file: 'BTCUSDT-nan.csv', lines: () => edit(btcHead(), 5, 1, 'NaN'), line: 5, field: 'open', message: /line 5: field "open": "NaN" is not a decimal number/ },
    { name: 'Infinity', file: 'BTCUSDT-inf.csv', lines: () => edit(btcHead(), 6, 5, 'Infinity'), line: 6, field: 'volume', message: /line 6: field "volume": "Infinity" is not a decimal number/ },
    { name: 'empty field', file: 'BTCUSDT-empty.csv', lines: () => edit(btcHead(), 7, 2, ''), line: 7, field: 'high', message: /line 7: field "high": "" is not a decimal number/ },
    { name: 'negative price', file: 'BTCUSDT-neg.csv', lines: () => edit(btcHead(), 9, 3, '-108153.3'), line: 9, field: 'low', message: /line 9: field "low": "-108153.3" is negative/ },
    { name: 'zero price', file: 'BTCUSDT-zero.csv', lines: () => edit(btcHead(), 9, 4, '0.0'), line: 9, field: 'close', message: /line 9: field "close": "0.0" is not > 0/ },
    { name: 'negative volume', file: 'BTCUSDT-negvol.csv', lines: () => edit(btcHead(), 10, 5, '-1'), line: 10, field: 'volume', message: /line 10: field "volume": "-1" is negative, expected ≥ 0/ },
    {
      name: 'high < low',
      file: 'BTCUSDT-hilo.csv',
      // line 2: 108153.4,108167.0,108153.3,... → high and low swapped
      lines: () => edit(edit(btcHead(), 2, 2, '108153.3'), 2, 3, '108167.0'),
      line: 2,
      field: 'high',
      message: /line 2: field "high": "108153.3" is below low "108167.0"/,
    },
    { name: 'high < close', file: 'BTCUSDT-hic.csv', lines: () => edit(btcHead(), 2, 4, '108167.1'), line: 2, field: 'high', message: /line 2: field "high": "108167.0" is below close "108167.1"/ },
    { name: 'low > open', file: 'BTCUSDT-lo.csv', lines: () => edit(btcHead(), 2, 1, '108153.2'), line: 2, field: 'low', message: /line 2: field "low": "108153.3" is above open "108153.2"/ },
    {
      name: 'high < low beyond float precision',
      file: 'BTCUSDT-prec.csv',
      lines: () => edit(edit(edit(edit(btcHead(), 3, 1, '1.00000000000000000001'), 3, 2, '1.00000000000000000001'), 3, 3, '1.00000000000000000002'), 3, 4, '1.00000000000000000001'),
      line: 3,
      field: 'high',
      message: /line 3: field "high": "1.00000000000000000001" is below low "1.00000000000000000002"/,
    },
    {
      name: 'time going backwards',
      file: 'BTCUSDT-back.csv',
      lines: () => {
        const l = btcHead();
        [l[20], l[21]] = [l[21] as string, l[20] as string]; // swap lines 21 and 22
        return l;
      },
      line: 22,
      field: 'open_time',
      message: /line 22: field "open_time": 1751761140000 \(2025-07-06T00:19:00.000Z\) is not after 1751761200000 \(2025-07-06T00:20:00.000Z\) on line 21/,
    },
    {
      name: 'duplicate time',
      file: 'BTCUSDT-dup.csv',
      lines: () => {
        const l = btcHead();
        l.splice(11, 0, l[10] as string); // line 12 repeats line 11
        return l;
      },
      line: 12,
      field: 'open_time',
      message: /line 12: field "open_time": .* is not after .* on line 11/,
    },
    { name: 'non-integer time', file: 'BTCUSDT-t.csv', lines: () => edit(btcHead(), 8, 0, '1751760420000.5'), line: 8, field: 'open_time', message: /line 8: field "open_time": "1751760420000.5" is not an integer/ },
    {
      name: 'microsecond timestamp',
      file: 'BTCUSDT-us.csv',
      lines: () => edit(btcHead(), 4, 0, '1751760120000000'),
      line: 4,
      field: 'open_time',
      message: /line 4: field "open_time": "1751760120000000" looks like microseconds/,
    },
    { name: 'time off the minute', file: 'BTCUSDT-odd.csv', lines: () => edit(btcHead(), 4, 0, '1751760120001'), line: 4, field: 'open_time', message: /line 4: field "open_time": "1751760120001" .* is not on a whole minute/ },
    {
      name: 'wrong column count (short row)',
      file: 'BTCUSDT-cols.csv',
      lines: () => {
        const l = btcHead();
        l[14] = fieldsOf(l[14] as string).slice(0, 5).join(',');
        return l;
      },
      line: 15,
      message: 'BTCUSDT-cols.csv line 15: expected 6 columns (like line 1), got 5',
    },
    {
      name: 'wrong column count (long row, 12-column file)',
      file: 'AVAXUSDT-cols.csv',
      lines: () => {
        const l = avaxHead();
        l[30] = `${l[30] as string},1`;
        return l;
      },
      line: 31,
      message: 'AVAXUSDT-cols.csv line 31: expected 12 columns (like line 1), got 13',
    },
    { name: 'unsupported column count', file: 'X-7.csv', lines: () => ['1751760000000,1,1,1,1,1,1'], line: 1, message: /line 1: expected 12 columns .* or 6 .*, got 7/ },
    { name: 'close_time not +59999', file: 'AVAXUSDT-ct.csv', lines: () => edit(avaxHead(), 12, 6, '1738368719998'), line: 12, field: 'close_time', message: /line 12: field "close_time": "1738368719998" is not open_time \+ 59999/ },
    { name: 'count not an integer', file: 'AVAXUSDT-n.csv', lines: () => edit(avaxHead(), 13, 8, '12.5'), line: 13, field: 'count', message: /line 13: field "count": "12.5" is not an integer/ },
    { name: 'bad quote volume', file: 'AVAXUSDT-qv.csv', lines: () => edit(avaxHead(), 14, 7, '1;0'), line: 14, field: 'quote_volume', message: /line 14: field "quote_volume": "1;0" is not a decimal number/ },
    {
      name: 'line numbers count empty lines',
      file: 'BTCUSDT-blank.csv',
      lines: () => {
        const l = edit(btcHead(), 10, 4, 'x');
        l.splice(3, 0, '', ''); // two empty lines before it: the bad row moves to line 12
        return l;
      },
      line: 12,
      field: 'close',
      message: /BTCUSDT-blank\.csv line 12: field "close": "x"/,
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const p = write(c.file, c.lines());
      const err = thrown(() => readKlineCsv(p, 'TEST'));
      expect(err.code).toBe('DATA_MALFORMED');
      if (typeof c.message === 'string') expect(err.message).toBe(c.message);
      else expect(err.message).toMatch(c.message);
      expect(err.message.startsWith(`${c.file} line ${c.line}:`)).toBe(true);
      expect(err.location).toEqual({ file: p, line: c.line, ...(c.field ? { field: c.field } : {}) });
    });
  }

  it('a CSV syntax error (unclosed quote) is a DataError naming the file', () => {
    const l = btcHead();
    l[5] = `"${l[5] as string}`;
    const p = write('BTCUSDT-quote.csv', l);
    const err = thrown(() => readKlineCsv(p, 'BTCUSDT'));
    expect(err.code).toBe('DATA_MALFORMED');
    expect(err.message).toMatch(/^BTCUSDT-quote\.csv/);
  });

  it('a missing file is DATA_FILE', () => {
    const p = join(dir, 'nope', 'BTCUSDT-1m-2020-01.csv');
    const err = thrown(() => readKlineCsv(p, 'BTCUSDT'));
    expect(err.code).toBe('DATA_FILE');
    expect(err.message).toContain(p);
    expect(thrown(() => readKlineCsv(dir, 'BTCUSDT')).code).toBe('DATA_FILE');
  });

  it('an empty or header-only file has no klines', () => {
    expect(readKlineCsv(write('EMPTY.csv', []), 'X')).toEqual({ klines: [], gaps: [], rows: 0 });
    expect(readKlineCsv(write('HEADER.csv', [linesOf(AVAX)[0] as string]), 'X')).toEqual({ klines: [], gaps: [], rows: 0 });
  });
});

describe('parseKlineSpec', () => {
  it('takes SYMBOL=path', () => {
    expect(parseKlineSpec('btcusdt=data/my file.csv')).toEqual({ symbol: 'BTCUSDT', path: 'data/my file.csv' });
    expect(parseKlineSpec('1000PEPEUSDT=/x/y.csv')).toEqual({ symbol: '1000PEPEUSDT', path: '/x/y.csv' });
  });
  it("takes the symbol from Binance's file name", () => {
    expect(parseKlineSpec('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv')).toEqual({ symbol: 'BTCUSDT', path: 'data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv' });
    expect(parseKlineSpec('/a-b/c-d/ethusdt-1m-2025-07.csv').symbol).toBe('ETHUSDT');
    expect(parseKlineSpec('AVAXUSDT.csv').symbol).toBe('AVAXUSDT');
    expect(parseKlineSpec('/data/sym=x/BTCUSDT-1m.csv')).toEqual({ symbol: 'BTCUSDT', path: '/data/sym=x/BTCUSDT-1m.csv' });
  });
  it('rejects specs without a valid symbol, naming the spec', () => {
    for (const spec of ['data/-1m.csv', 'B=x.csv', 'BTC_USDT=x.csv', 'data/BTC_USDT-1m.csv', 'BTCUSDT=', `${'A'.repeat(31)}=x.csv`]) {
      const err = thrown(() => parseKlineSpec(spec));
      expect(err.message).toContain(JSON.stringify(spec));
    }
  });
});

describe('mergeKlines', () => {
  it('interleaves BTC and ETH minute by minute, grouped and sorted by symbol', () => {
    const btc = readKlineCsv(BTC, 'BTCUSDT').klines;
    const eth = readKlineCsv(ETH, 'ETHUSDT').klines;
    const groups = [...mergeKlines([eth, btc])]; // input order must not matter
    expect(groups).toHaveLength(16_567);
    const wrong = groups.findIndex((g, i) => g.length !== 2 || g[0] !== btc[i] || g[1] !== eth[i]);
    expect(wrong).toBe(-1);
    expect(groups[0]?.map((k) => [k.symbol, k.openTime, k.open])).toEqual([
      ['BTCUSDT', BTC_FIRST, '108153.4'],
      ['ETHUSDT', BTC_FIRST, '2515.25'],
    ]);
  });

  it('leaves a symbol out of the minutes it does not have', () => {
    const btc = readKlineCsv(BTC, 'BTCUSDT').klines.slice(0, 100);
    const eth = readKlineCsv(ETH, 'ETHUSDT').klines.slice(0, 100).filter((_, i) => i % 10 !== 3);
    const late = readKlineCsv(AVAX, 'AVAXUSDT').klines.map((k) => ({ ...k })); // earlier in time (2025-02)
    const groups = [...mergeKlines([btc, eth, late, []])];
    expect(groups).toHaveLength(199 + 100);
    // AVAX (February) comes first, alone
    expect(groups.slice(0, 199).every((g) => g.length === 1 && g[0]?.symbol === 'AVAXUSDT')).toBe(true);
    const july = groups.slice(199);
    july.forEach((g, i) => {
      expect(g.map((k) => k.symbol)).toEqual(i % 10 === 3 ? ['BTCUSDT'] : ['BTCUSDT', 'ETHUSDT']);
      for (const k of g) expect(k.openTime).toBe(BTC_FIRST + i * 60_000);
    });
    const times = groups.map((g) => g[0]?.openTime as number);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('handles no streams and empty streams', () => {
    expect([...mergeKlines([])]).toEqual([]);
    expect([...mergeKlines([[], []])]).toEqual([]);
  });

  it('rejects an unsorted stream and a symbol given twice', () => {
    const btc = readKlineCsv(BTC, 'BTCUSDT').klines.slice(0, 5);
    const unsorted = [btc[0], btc[2], btc[1]] as Kline[];
    expect(() => [...mergeKlines([unsorted])]).toThrow(DataError);
    expect(() => [...mergeKlines([btc, btc])]).toThrow(/BTCUSDT appears twice/);
  });
});

describe('shiftKlines', () => {
  it('shifts times, keeps everything else, does not mutate', () => {
    const btc = readKlineCsv(BTC, 'BTCUSDT').klines;
    const span = btc.length * 60_000;
    const shifted = shiftKlines(btc, span);
    expect(shifted).toHaveLength(btc.length);
    expect(shifted[0]).toEqual({ ...btc[0], openTime: BTC_LAST + 60_000, closeTime: BTC_LAST + 60_000 + 59_999 });
    expect(btc[0]?.openTime).toBe(BTC_FIRST);
    // repeated end to end it stays one continuous, mergeable stream
    const twice = [...btc, ...shifted];
    const groups = [...mergeKlines([twice])];
    expect(groups).toHaveLength(2 * 16_567);
    expect(shiftKlines(btc, -span)[btc.length - 1]?.openTime).toBe(BTC_FIRST - 60_000);
  });

  it('rejects a non-integer offset', () => {
    expect(() => shiftKlines([], 0.5)).toThrow(RangeError);
    expect(() => shiftKlines([], Number.NaN)).toThrow(RangeError);
  });
});
