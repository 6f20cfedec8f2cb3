/**
 * Historical 1-minute klines from CSV files, for replay and benchmarks.
 *
 * Format source: Binance public data (https://github.com/binance/binance-public-data),
 * USDⓈ-M futures klines (`data/futures/um/{daily,monthly}/klines/<SYMBOL>/1m/`). An archive file
 * has 12 columns:
 *
 *     open_time, open, high, low, close, volume, close_time, quote_volume, count,
 *     taker_buy_volume, taker_buy_quote_volume, ignore
 *
 * Files from about 2022-05 on start with that header row, older ones have none. Some recorders
 * keep only the 6-column prefix `open_time,open,high,low,close,volume` (the bundled
 * `data/klines/` files), with or without a header; both are read here. futures/um times are UTC
 * epoch milliseconds (Binance's *spot* archives switched to microseconds in 2025, futures did
 * not, so a microsecond-looking time is rejected rather than guessed at).
 *
 * Prices (quote asset) and volumes (base asset) are kept as the file's own decimal text and never
 * pass through a float; floats are only used to compare them while validating.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse, CsvError } from 'csv-parse/sync';
import { Decimal } from '../core/decimal.ts';
import { DataError } from '../core/errors.ts';
import type { Kline } from '../core/types.ts';

/** One minute in ms: the only interval read here. */
const MINUTE_MS = 60_000;
/** `closeTime - openTime` of a 1m kline as Binance reports it (…59999). */
const CLOSE_OFFSET_MS = MINUTE_MS - 1;
/** Open times above this are microseconds, not milliseconds (1e14 ms is the year 5138). */
const MAX_MS_TIME = 1e14;

const SYMBOL_RE = /^[A-Z0-9]{2,30}$/;
const INT_RE = /^\d+$/;
/** An unsigned base-10 number: "108153.4", "0", ".5", "1e-8". */
const UDEC_RE = /^(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * A run of missing klines inside a file. Missing minutes are not an error (Binance's archives
 * have them around exchange maintenance); replay simply has no candle for them.
 */
export interface Gap {
  /** openTime (UTC epoch ms) of the last kline before the gap. */
  after: number;
  /** How many 1-minute klines are missing after it (≥ 1). */
  missing: number;
}

/** What {@link readKlineCsv} returns. */
export interface KlineCsvResult {
  /** The file's klines in file order (strictly increasing openTime), all `closed: true`, interval `"1m"`. */
  klines: Kline[];
  /** Missing minutes between consecutive rows, in time order. Empty when the file is continuous. */
  gaps: Gap[];
  /** Number of data rows read (header excluded); equals `klines.length`. */
  rows: number;
}

/**
 * Parse a kline-file argument (e.g. from the CLI) into a symbol and a path.
 *
 * Accepted forms:
 * - `SYMBOL=path`, e.g. `btcusdt=data/my.csv` (the symbol is upper-cased);
 * - a bare path whose file name up to the first `-` is the symbol, Binance's naming:
 *   `data/klines/BTCUSDT-1m-2025-07.csv` → `BTCUSDT` (a name without `-` is cut at its first `.`).
 *
 * @returns `{ symbol, path }`; `symbol` matches `/^[A-Z0-9]{2,30}$/`, `path` is as given.
 * @throws DataError (code `DATA_FILE`) naming `spec` when no valid symbol can be found or the path is empty.
 */
export function parseKlineSpec(spec: string): { symbol: string; path: string } {
  let symbol: string;
  let path: string;
  const eq = spec.indexOf('=');
  const left = eq > 0 ? spec.slice(0, eq) : '';
  if (eq > 0 && !left.includes('/') && !left.includes('\\')) {
    symbol = left.trim().toUpperCase();
    path = spec.slice(eq + 1).trim();
    if (path === '') {
      throw new DataError(`kline spec ${JSON.stringify(spec)}: no path after "="`, { file: spec }, 'DATA_FILE');
    }
  } else {
    path = spec.trim();
    const name = basename(path);
    const dash = name.indexOf('-');
    let stem = dash >= 0 ? name.slice(0, dash) : name;
    const dot = stem.indexOf('.');
    if (dot >= 0) stem = stem.slice(0, dot);
    symbol = stem.toUpperCase();
  }
  if (!SYMBOL_RE.test(symbol)) {
    throw new DataError(
      `kline spec ${JSON.stringify(spec)}: symbol ${JSON.stringify(symbol)} is not 2-30 letters/digits ` +
        `(use SYMBOL=path or a file named like BTCUSDT-1m-2025-07.csv)`,
      { file: spec, field: 'symbol' },
      'DATA_FILE',
    );
  }
  return { symbol, path };
}

/** Quote a field value for an error message, shortened if long. */
function show(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Format a UTC epoch-ms time for an error message. */
function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** Compare two validated decimals: by float first, exactly (decimal.js) only when the floats tie. */
function cmpDec(a: string, af: number, b: string, bf: number): number {
  if (af !== bf) return af < bf ? -1 : 1;
  if (a === b) return 0;
  return new Decimal(a).cmp(b);
}

/**
 * Read one Binance USDⓈ-M kline CSV file (1-minute klines of one symbol).
 *
 * Reads the 12-column archive format (`open_time, open, high, low, close, volume, close_time,
 * quote_volume, count, taker_buy_volume, taker_buy_quote_volume, ignore`) or its 6-column prefix
 * (`open_time,open,high,low,close,volume`), each with or without a header row (a first row whose
 * first field is not an integer is the header). Source of the format: Binance public data,
 * https://github.com/binance/binance-public-data (futures/um klines). Empty lines are skipped,
 * a UTF-8 BOM is ignored, CRLF and LF line ends both work.
 *
 * Each row becomes a {@link Kline}: `symbol` as given, `interval: "1m"`, `closed: true`,
 * `openTime`/`closeTime` in UTC epoch ms (`closeTime = openTime + 59_999` when the file has no
 * close_time column), `open/high/low/close` in the quote asset and `volume` in the base asset as
 * the file's exact decimal text; 12-column files add `quoteVolume` (text) and `trades`.
 *
 * Validation, per row: the column count equals the first row's (6 or 12); open_time is an integer
 * number of ms (not µs), aligned to a minute and strictly greater than the previous row's;
 * prices are finite decimals > 0, volumes finite decimals ≥ 0; high ≥ max(open, close, low),
 * low ≤ min(open, close); close_time (when present) = open_time + 59_999, count an integer.
 * Missing minutes are not an error: they are reported in `gaps`.
 *
 * @param path the CSV file
 * @param symbol the symbol to stamp on every kline (e.g. from {@link parseKlineSpec})
 * @throws DataError code `DATA_FILE` when the file cannot be read (missing, a directory, no access)
 * @throws DataError code `DATA_MALFORMED` naming the file, the 1-based line number and the field,
 *   e.g. `BTCUSDT-1m.csv line 17: field "close": "abc" is not a decimal number`
 */
export function readKlineCsv(path: string, symbol: string): KlineCsvResult {
  const file = basename(path);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`kline file ${path} does not exist`, { file: path }, 'DATA_FILE');
    const why = code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new DataError(`kline file ${path}: cannot read (${why})`, { file: path }, 'DATA_FILE');
  }

  const opts = { bom: true, skip_empty_lines: true, relax_column_count: true } as const;
  let records: string[][];
  try {
    // Fast path: no per-record info objects (they halve csv-parse's speed). Line numbers are
    // recovered by a second, annotated parse only when a row turns out to be malformed.
    records = parse(data, opts) as string[][];
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as unknown as { lines?: number }).lines;
      throw new DataError(`${file}${line ? ` line ${line}` : ''}: ${err.message}`, { file: path, ...(line ? { line } : {}) });
    }
    throw err;
  }

  /** 1-based file line of record `i` (as an editor shows it); only called on the error path. */
  const lineOf = (i: number): number => {
    const lines: number[] = [];
    parse(data, {
      ...opts,
      on_record: (_rec: string[], ctx) => {
        lines.push(ctx.lines);
        return null;
      },
    });
    return lines[i] ?? i + 1;
  };
  const fail = (i: number, field: string | undefined, what: string): never => {
    const line = lineOf(i);
    const where = field === undefined ? '' : ` field "${field}":`;
    throw new DataError(`${file} line ${line}:${where} ${what}`, { file: path, line, ...(field ? { field } : {}) });
  };
  /** Check a price (> 0) or, with `zeroOk`, a volume (≥ 0). Returns its float value for comparisons. */
  const num = (value: string, field: string, i: number, zeroOk: boolean): number => {
    if (!UDEC_RE.test(value)) {
      if (value.charCodeAt(0) === 45 /* - */ && UDEC_RE.test(value.slice(1))) {
        fail(i, field, `${show(value)} is negative, expected ${zeroOk ? '≥ 0' : '> 0'}`);
      }
      fail(i, field, `${show(value)} is not a decimal number`);
    }
    const n = Number(value);
    if (!Number.isFinite(n)) fail(i, field, `${show(value)} is not a finite number`);
    if (!zeroOk && !(n > 0)) fail(i, field, `${show(value)} is not > 0`);
    return n;
  };

  const klines: Kline[] = [];
  const gaps: Gap[] = [];
  const first = records[0];
  if (first === undefined) return { klines, gaps, rows: 0 };
  const columns = first.length; // 6 or 12, fixed by the first row (header or data)
  if (columns !== 6 && columns !== 12) {
    fail(0, undefined, `expected 12 columns (Binance kline archive) or 6 (open_time,open,high,low,close,volume), got ${columns}`);
  }
  const start = INT_RE.test(first[0] ?? '') ? 0 : 1; // a non-integer first field: header row
  let prevOpen = -1;

  for (let i = start; i < records.length; i++) {
    const rec = records[i] as string[];
    if (rec.length !== columns) {
      fail(i, undefined, `expected ${columns} columns (like line ${lineOf(0)}), got ${rec.length}`);
    }

    // open_time
    const ot = rec[0] as string;
    if (!INT_RE.test(ot)) fail(i, 'open_time', `${show(ot)} is not an integer (UTC epoch ms)`);
    const openTime = Number(ot);
    if (openTime > MAX_MS_TIME) {
      fail(i, 'open_time', `${show(ot)} looks like microseconds; futures/um klines use epoch milliseconds (spot switched to µs in 2025, futures did not)`);
    }
    if (openTime % MINUTE_MS !== 0) fail(i, 'open_time', `${show(ot)} (${iso(openTime)}) is not on a whole minute (only 1m klines are read)`);
    if (prevOpen >= 0) {
      if (openTime <= prevOpen) {
        fail(i, 'open_time', `${ot} (${iso(openTime)}) is not after ${prevOpen} (${iso(prevOpen)}) on line ${lineOf(i - 1)}: rows must be strictly increasing in time`);
      }
      const step = openTime - prevOpen;
      if (step !== MINUTE_MS) gaps.push({ after: prevOpen, missing: step / MINUTE_MS - 1 });
    }

    // prices and volume
    const o = rec[1] as string;
    const h = rec[2] as string;
    const l = rec[3] as string;
    const c = rec[4] as string;
    const v = rec[5] as string;
    const of = num(o, 'open', i, false);
    const hf = num(h, 'high', i, false);
    const lf = num(l, 'low', i, false);
    const cf = num(c, 'close', i, false);
    num(v, 'volume', i, true);
    if (cmpDec(h, hf, l, lf) < 0) fail(i, 'high', `${show(h)} is below low ${show(l)}`);
    if (cmpDec(h, hf, o, of) < 0) fail(i, 'high', `${show(h)} is below open ${show(o)}`);
    if (cmpDec(h, hf, c, cf) < 0) fail(i, 'high', `${show(h)} is below close ${show(c)}`);
    if (cmpDec(l, lf, o, of) > 0) fail(i, 'low', `${show(l)} is above open ${show(o)}`);
    if (cmpDec(l, lf, c, cf) > 0) fail(i, 'low', `${show(l)} is above close ${show(c)}`);
    prevOpen = openTime;

    if (columns === 6) {
      klines.push({ symbol, interval: '1m', openTime, closeTime: openTime + CLOSE_OFFSET_MS, open: o, high: h, low: l, close: c, volume: v, closed: true });
      continue;
    }
    const ct = rec[6] as string;
    if (!INT_RE.test(ct) || Number(ct) !== openTime + CLOSE_OFFSET_MS) {
      fail(i, 'close_time', `${show(ct)} is not open_time + 59999 (only 1m klines are read)`);
    }
    const qv = rec[7] as string;
    num(qv, 'quote_volume', i, true);
    const n = rec[8] as string;
    if (!INT_RE.test(n)) fail(i, 'count', `${show(n)} is not an integer`);
    num(rec[9] as string, 'taker_buy_volume', i, true);
    num(rec[10] as string, 'taker_buy_quote_volume', i, true);
    klines.push({
      symbol,
      interval: '1m',
      openTime,
      closeTime: openTime + CLOSE_OFFSET_MS,
      open: o,
      high: h,
      low: l,
      close: c,
      volume: v,
      quoteVolume: qv,
      trades: Number(n),
      closed: true,
    });
  }
  return { klines, gaps, rows: klines.length };
}

/**
 * Merge several symbols' klines into one time-ordered stream.
 *
 * Each input array holds one symbol's klines sorted by strictly increasing `openTime` (as
 * {@link readKlineCsv} returns them). Yields, for each distinct `openTime` in increasing order,
 * a new array with the klines that have that openTime (at most one per stream; a symbol that
 * has a gap there is simply absent), sorted by `symbol` (code-unit order) for determinism.
 * A k-way merge over the inputs (binary heap): O(N log k), nothing is re-sorted; the inputs
 * are not modified.
 *
 * @throws DataError (DATA_MALFORMED) when a stream is not strictly increasing in openTime, or
 *   when two streams yield the same symbol at the same openTime.
 */
export function* mergeKlines(streams: readonly (readonly Kline[])[]): Generator<Kline[], void, undefined> {
  const merger = new KlineMerger(streams);
  for (let group = merger.next(); group !== undefined; group = merger.next()) yield group;
}

/** Streams merged by a linear scan rather than the heap, at most (a scan of 8 beats the heap's log steps). */
const LINEAR_MAX = 8;

/** True when every kline of `stream` has the symbol of its first (what the linear merge relies on for its order). */
function oneSymbol(stream: readonly Kline[]): boolean {
  const sym = stream[0]?.symbol;
  for (let i = 1; i < stream.length; i++) if ((stream[i] as Kline).symbol !== sym) return false;
  return true;
}

/**
 * {@link mergeKlines} as a plain iterator (`next()` until undefined): no generator per replay,
 * and one stream, the common backtest, is walked without the heap. Same groups, same order,
 * same errors.
 */
export class KlineMerger {
  private readonly pos: number[];
  /** Heap of stream indices, ordered by (head openTime, head symbol, stream index). */
  private readonly heap: number[] = [];
  /**
   * Up to {@link LINEAR_MAX} streams of one symbol each: the streams in (symbol, index) order,
   * scanned in a line instead of the heap (fewer steps for a few symbols); null otherwise.
   */
  private readonly linear: number[] | null = null;

  constructor(private readonly streams: readonly (readonly Kline[])[]) {
    this.pos = streams.map(() => 0);
    // Non-empty streams in (symbol, index) order: the order of a group's klines.
    const heads = streams.flatMap((st, s) => (st.length > 0 ? [{ s, symbol: (st[0] as Kline).symbol }] : []));
    heads.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.s - b.s));
    if (heads.length > 1 && heads.length <= LINEAR_MAX && heads.every((h) => oneSymbol(streams[h.s] as readonly Kline[]))) {
      this.linear = heads.map((h) => h.s);
      return;
    }
    for (let s = 0; s < streams.length; s++) {
      if ((streams[s] as readonly Kline[]).length > 0) {
        this.heap.push(s);
        this.up(this.heap.length - 1);
      }
    }
  }

  /**
   * The klines of the next openTime (a new array), or undefined at the end.
   * @throws DataError (DATA_MALFORMED) as {@link mergeKlines}
   */
  next(): Kline[] | undefined {
    if (this.linear !== null) return this.nextLinear(this.linear);
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const pos = this.pos;
    if (heap.length === 1) {
      // One stream left: no ordering to do, only the check.
      const s = heap[0] as number;
      const stream = this.streams[s] as readonly Kline[];
      const i = pos[s] as number;
      const k = stream[i] as Kline;
      const next = i + 1;
      pos[s] = next;
      if (next < stream.length) {
        if ((stream[next] as Kline).openTime <= k.openTime) this.unordered(s, k, next);
      } else heap.pop();
      return [k];
    }
    const t = this.headTime(heap[0] as number);
    const group: Kline[] = [];
    while (heap.length > 0 && this.headTime(heap[0] as number) === t) {
      const s = heap[0] as number;
      const stream = this.streams[s] as readonly Kline[];
      const k = stream[pos[s] as number] as Kline;
      if (group.length > 0 && (group[group.length - 1] as Kline).symbol === k.symbol) this.twice(k, t);
      group.push(k);
      const next = (pos[s] as number) + 1;
      pos[s] = next;
      if (next < stream.length) {
        if ((stream[next] as Kline).openTime <= k.openTime) this.unordered(s, k, next);
        this.down(0);
      } else {
        const lastIdx = heap.pop() as number;
        if (heap.length > 0) {
          heap[0] = lastIdx;
          this.down(0);
        }
      }
    }
    return group;
  }

  /** {@link next} over a few single-symbol streams: the earliest head time, then the streams at it in symbol order. */
  private nextLinear(order: readonly number[]): Kline[] | undefined {
    const pos = this.pos;
    const streams = this.streams;
    let t = Infinity;
    for (let j = 0; j < order.length; j++) {
      const s = order[j] as number;
      const k = (streams[s] as readonly Kline[])[pos[s] as number];
      if (k !== undefined && k.openTime < t) t = k.openTime;
    }
    if (t === Infinity) return undefined;
    const group: Kline[] = [];
    for (let j = 0; j < order.length; j++) {
      const s = order[j] as number;
      const stream = streams[s] as readonly Kline[];
      const i = pos[s] as number;
      const k = stream[i];
      if (k === undefined || k.openTime !== t) continue;
      if (group.length > 0 && (group[group.length - 1] as Kline).symbol === k.symbol) this.twice(k, t);
      group.push(k);
      pos[s] = i + 1;
      if (i + 1 < stream.length && (stream[i + 1] as Kline).openTime <= t) this.unordered(s, k, i + 1);
    }
    return group;
  }

  private twice(k: Kline, t: number): never {
    throw new DataError(`mergeKlines: symbol ${k.symbol} appears twice at openTime ${t} (${iso(t)})`, { stream: k.symbol, field: 'openTime' });
  }

  private unordered(s: number, k: Kline, next: number): never {
    throw new DataError(`mergeKlines: stream ${s} (${k.symbol}) is not strictly increasing in openTime at index ${next}`, { stream: k.symbol, field: 'openTime' });
  }

  private headTime(s: number): number {
    return (this.streams[s] as readonly Kline[])[this.pos[s] as number]!.openTime;
  }

  private less(a: number, b: number): boolean {
    const ka = (this.streams[a] as readonly Kline[])[this.pos[a] as number]!;
    const kb = (this.streams[b] as readonly Kline[])[this.pos[b] as number]!;
    if (ka.openTime !== kb.openTime) return ka.openTime < kb.openTime;
    if (ka.symbol !== kb.symbol) return ka.symbol < kb.symbol;
    return a < b;
  }

  private up(i: number): void {
    const heap = this.heap;
    const x = heap[i] as number;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = heap[p] as number;
      if (!this.less(x, y)) break;
      heap[i] = y;
      i = p;
    }
    heap[i] = x;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const x = heap[i] as number;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(heap[c + 1] as number, heap[c] as number)) c++;
      if (!this.less(heap[c] as number, x)) break;
      heap[i] = heap[c] as number;
      i = c;
    }
    heap[i] = x;
  }
}

/**
 * Copies of `klines` with `openTime` and `closeTime` moved by `offsetMs` (UTC ms, may be
 * negative); every other field is copied unchanged. The input is not modified. Used to repeat
 * the bundled data end to end for benchmarks (shift by a multiple of the data's span).
 *
 * @throws RangeError when `offsetMs` is not a safe integer
 */
export function shiftKlines(klines: readonly Kline[], offsetMs: number): Kline[] {
  if (!Number.isSafeInteger(offsetMs)) throw new RangeError(`shiftKlines: offsetMs ${offsetMs} is not an integer number of ms`);
  const out: Kline[] = new Array(klines.length);
  for (let i = 0; i < klines.length; i++) {
    const k = klines[i] as Kline;
    out[i] = { ...k, openTime: k.openTime + offsetMs, closeTime: k.closeTime + offsetMs };
  }
  return out;
}
