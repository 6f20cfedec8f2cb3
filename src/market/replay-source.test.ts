/**
 * loadReplayData with a symbol in several files (as `perpbot data download` writes them, one per
 * month): the bundled real BTCUSDT file cut in two loads as the whole; overlapping files are
 * refused naming the file; a hole between files is a gap.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { loadReplayData } from './replay-source.ts';

const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
let dir: string;
let lines: string[];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-replay-'));
  lines = readFileSync(BTC, 'utf8').trim().split('\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function part(name: string, from: number, to: number): string {
  const p = join(dir, name);
  writeFileSync(p, `${[lines[0], ...lines.slice(from, to)].join('\n')}\n`);
  return p;
}

describe('loadReplayData, several files per symbol', () => {
  it('joins the files of a symbol in time order (given in any order) into one stream', () => {
    const whole = loadReplayData([BTC]);
    const b = part('BTCUSDT-1m-b.csv', 8001, lines.length);
    const a = part('BTCUSDT-1m-a.csv', 1, 8001);
    const joined = loadReplayData([b, a]);
    expect(joined.symbols).toEqual(['BTCUSDT']);
    expect(joined.streams[0]).toEqual(whole.streams[0]);
    expect(joined.totalKlines).toBe(16_567);
    expect(joined.files.map((f) => f.rows)).toEqual([16_567 - 8000, 8000]);
    expect(joined.files.every((f) => f.gaps.length === 0)).toBe(true);
  });

  it('refuses overlapping files, naming the later one', () => {
    const a = part('BTCUSDT-1m-o1.csv', 1, 101);
    const b = part('BTCUSDT-1m-o2.csv', 100, 200);
    expect(() => loadReplayData([a, b])).toThrow(/BTCUSDT-1m-o2\.csv: its BTCUSDT klines overlap those of .*BTCUSDT-1m-o1\.csv/);
  });

  it('counts the minutes between two files as a gap of the later one', () => {
    const a = part('BTCUSDT-1m-g1.csv', 1, 101);
    const b = part('BTCUSDT-1m-g2.csv', 111, 200);
    const d = loadReplayData([a, b]);
    expect(d.files[1]?.gaps[0]).toEqual({ after: Number(lines[100]?.split(',')[0]), missing: 10 });
    expect(d.files[1]?.missingMinutes).toBe(10);
  });
});
