/**
 * Market data for replay: Binance kline CSV files loaded and validated up front (so a malformed
 * row stops the run before anything is written), then merged in time order across symbols.
 */
import type { ReplayClock } from '../core/clock.ts';
import { DataError } from '../core/errors.ts';
import type { Kline, Symbol } from '../core/types.ts';
import type { SourceHealth } from '../health/heartbeat.ts';
import { KlineMerger, parseKlineSpec, readKlineCsv, type Gap } from './kline-csv.ts';
import type { MarketDataSource, MarketFeed } from './source.ts';

/** One loaded file. */
export interface ReplayFile {
  symbol: Symbol;
  path: string;
  rows: number;
  gaps: Gap[];
  /** Minutes missing inside the file, summed over its gaps. */
  missingMinutes: number;
  /** Open time of the first and last kline, UTC epoch ms (null when empty). */
  firstOpenTime: number | null;
  lastOpenTime: number | null;
}

/** Everything a replay needs. */
export interface ReplayData {
  /** One time-ordered kline array per symbol, in `symbols` order. */
  streams: Kline[][];
  symbols: Symbol[];
  files: ReplayFile[];
  totalKlines: number;
}

/**
 * Load replay data from specs (`path` or `SYMBOL=path`, see {@link parseKlineSpec}). A symbol may
 * come in several files (e.g. the monthly files `perpbot data download` writes): they are joined
 * in time order, and the minutes missing between two of them count as a gap of the later file.
 * @throws DataError naming the file, line and field of a malformed row, a missing file, or two
 *   files of one symbol that overlap in time
 */
export function loadReplayData(specs: readonly string[]): ReplayData {
  if (specs.length === 0) throw new DataError('no kline data given (--data FILE or SYMBOL=FILE)', {}, 'DATA_FILE');
  const bySymbol = new Map<Symbol, Array<{ path: string; klines: Kline[]; file: ReplayFile }>>();
  let total = 0;
  for (const spec of specs) {
    const { symbol, path } = parseKlineSpec(spec);
    const r = readKlineCsv(path, symbol);
    const file: ReplayFile = {
      symbol,
      path,
      rows: r.rows,
      gaps: r.gaps,
      missingMinutes: r.gaps.reduce((a, g) => a + g.missing, 0),
      firstOpenTime: r.klines[0]?.openTime ?? null,
      lastOpenTime: r.klines[r.klines.length - 1]?.openTime ?? null,
    };
    const list = bySymbol.get(symbol) ?? [];
    list.push({ path, klines: r.klines, file });
    bySymbol.set(symbol, list);
    total += r.klines.length;
  }
  const streams: Kline[][] = [];
  const symbols: Symbol[] = [];
  const files: ReplayFile[] = [];
  for (const [symbol, list] of bySymbol) {
    const parts = list.filter((p) => p.klines.length > 0).sort((a, b) => (a.file.firstOpenTime as number) - (b.file.firstOpenTime as number));
    for (let i = 1; i < parts.length; i++) {
      const prev = parts[i - 1] as (typeof parts)[number];
      const cur = parts[i] as (typeof parts)[number];
      const gapMin = ((cur.file.firstOpenTime as number) - (prev.file.lastOpenTime as number)) / 60_000 - 1;
      if (gapMin < 0) {
        throw new DataError(`${cur.path}: its ${symbol} klines overlap those of ${prev.path} (from ${new Date(cur.file.firstOpenTime as number).toISOString()}); give each minute once`, { file: cur.path }, 'DATA_FILE');
      }
      if (gapMin > 0) {
        cur.file.gaps = [{ after: prev.file.lastOpenTime as number, missing: gapMin }, ...cur.file.gaps];
        cur.file.missingMinutes += gapMin;
      }
    }
    streams.push(parts.length === 1 ? (parts[0] as (typeof parts)[number]).klines : parts.flatMap((p) => p.klines));
    symbols.push(symbol);
    files.push(...list.map((p) => p.file));
  }
  return { streams, symbols, files, totalKlines: total };
}

/**
 * Replays loaded kline data as fast as the bot consumes it. Each minute: the replay clock moves
 * to the klines' close (closeTime + 1), then the group goes to the feed, which resolves when every
 * decision and order it caused is done — so the run is deterministic and equals what live would
 * have done. Every ~50 ms of wall time it yields to the event loop so timers (heartbeat, log
 * flushing, signals) keep running during a long replay.
 */
export class ReplaySource implements MarketDataSource {
  readonly name = 'replay';
  readonly symbols: readonly Symbol[];
  private readonly state: Record<Symbol, SourceHealth> = {};
  private stopped = false;
  /** Klines fed so far. */
  klines = 0;

  /**
   * @param data loaded data ({@link loadReplayData})
   * @param clock the kernel's replay clock; this source moves it
   */
  constructor(
    readonly data: ReplayData,
    private readonly clock: ReplayClock,
  ) {
    this.symbols = data.symbols;
    for (const s of data.symbols) {
      this.state[s] = { state: 'connecting', lastMessageAt: null, ageMs: null, lastEventTime: null, messages: 0, errors: 0 };
    }
  }

  /** True when {@link stop} ended the run before the end of the data. */
  get interrupted(): boolean {
    return this.stopped;
  }

  stop(): void {
    this.stopped = true;
  }

  health(): Record<Symbol, SourceHealth> {
    const now = Date.now();
    for (const h of Object.values(this.state)) h.ageMs = h.lastMessageAt === null ? null : now - h.lastMessageAt;
    return this.state;
  }

  async run(feed: MarketFeed): Promise<void> {
    const health = this.state;
    const touch = (state: SourceHealth['state']) => {
      const wall = Date.now();
      for (const s of this.symbols) {
        health[s]!.lastMessageAt = wall;
        health[s]!.state = state;
      }
    };
    touch('replaying');
    feed.healthChanged();
    let lastYield = performance.now();
    let n = 0;
    const merger = new KlineMerger(this.data.streams);
    for (let group = merger.next(); group !== undefined; group = merger.next()) {
      if (this.stopped) break;
      this.clock.set((group[0] as Kline).closeTime + 1);
      for (let i = 0; i < group.length; i++) {
        const k = group[i] as Kline;
        const h = health[k.symbol] as SourceHealth;
        h.messages++;
        h.lastEventTime = k.closeTime;
      }
      const settled = feed.klines(group);
      if (settled !== undefined) await settled;
      n += group.length;
      // Let timers run now and then: replay is all microtasks.
      if ((n & 1023) < group.length) {
        const now = performance.now();
        if (now - lastYield > 50) {
          touch('replaying');
          await new Promise<void>((r) => setImmediate(r));
          lastYield = performance.now();
        }
      }
    }
    this.klines = n;
    touch('done');
    feed.healthChanged();
  }
}
