/**
 * Test support for the Binance mapper tests (not used by the bot): the recorded payloads of
 * fixtures/ and data/ws/, and small helpers that damage JSON text and catch the DataError.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { DataError } from '../../core/errors.ts';

/** The text of a recorded payload in fixtures/. */
export const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');
const dataFile = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../../data/ws/${name}`, import.meta.url)), 'utf8');
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** The 67 recorded combined kline frames of data/ws/kline_1m-combined-2021-07-22.jsonl, one per line. */
export const KLINE_LINES = lines(dataFile('kline_1m-combined-2021-07-22.jsonl'));
const PUBLIC_LINES = lines(dataFile('usdm-public-frames.jsonl'));
/** The recorded public frame of `stream` in data/ws/usdm-public-frames.jsonl. */
export const publicFrame = (stream: string): string => {
  const l = PUBLIC_LINES.find((x) => x.startsWith(`{"stream":"${stream}"`));
  if (!l) throw new Error(`no ${stream} frame`);
  return l;
};

/** Run `fn`, expect a DataError, return its message. */
export function dataErrorOf(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('DATA_MALFORMED');
    return err as DataError;
  }
  throw new Error('expected a DataError');
}

/** Replace one `"key": value` (first occurrence after `after`) in JSON text. */
export function setField(text: string, key: string, valueJson: string, after = ''): string {
  const start = after ? text.indexOf(after) : 0;
  const re = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"|-?[\\d.eE+-]+|true|false|null)`);
  const head = text.slice(0, start);
  const tail = text.slice(start);
  if (!re.test(tail)) throw new Error(`no ${key}`);
  return head + tail.replace(re, `"${key}": ${valueJson}`);
}

/** Remove one `"key": value,` from JSON text (first occurrence after `after`). */
export function dropField(text: string, key: string, after = ''): string {
  const start = after ? text.indexOf(after) : 0;
  const re = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"|-?[\\d.eE+-]+|true|false|null)\\s*,`);
  return text.slice(0, start) + text.slice(start).replace(re, '');
}
