/**
 * `npm run bench:soak`: the bot streaming many symbols for a simulated day, sped up; its memory
 * per simulated hour, printed (never asserted). Issue #9, "no leak": the bot's RSS should grow by
 * less than 5 % from the first simulated hour to the last.
 *
 * It starts the simulator and the bot as separate processes (bench/helpers/processes.ts, as
 * bench/scale.ts does): `perpbot simulator --speed S --paused`, every symbol replaying the bundled
 * BTCUSDT klines (one file, held once), and `perpbot run --mode live` pointed at it, with its
 * inspector on. Once the bot is ACTIVE the data clock starts. At each simulated hour (60 klines
 * closed) it forces a full GC in the bot (inspector `HeapProfiler.collectGarbage`, so that the
 * figures do not depend on where the GC stood) and records: RSS after that GC (/proc), the
 * highest RSS seen during the hour (sampled every 500 ms, no forced GC), heap used, heap total and
 * external memory of the main thread (/metrics), the bot's CPU over the hour, the closed klines
 * it received (heartbeat counter, back-fill included) against 60 × symbols, and the database's
 * size (file + WAL). At the end: the table, the klines the bot recorded (candles_1m rows) against
 * the klines the simulator closed, the RSS trend after the first hour (least squares, MB per
 * simulated hour, beside the database's growth), the growth of the hours' median RSS (of the
 * samples every 500 ms, no forced GC; for reading only: it swings with the garbage the bot's
 * threads hold between collections, 131–144 MB in one run) and the verdict line
 * `RSS growth first→last hour: X.X % (…)`, RSS after the full GC, first counted hour to last.
 *
 * Warm-up: the first `--warmup-hours` (default 1) simulated hours are played and printed but not
 * counted: hour 1 is the first hour after them. At ×240 a simulated hour is 15 s of wall time,
 * and the process settles in wall time, not data time (its young generation grows to size, hot
 * functions are optimised, each connection's page cache fills): live, all of that is over within
 * the first real hour. On 2026-12-05 the hour-1 sample at ×240 without a warm-up was 117 MB after
 * a full GC and 127 MB by median, and every later hour 120–133 and 135–142 MB. The growth from
 * the warm-up's first hour is printed too.
 *
 * Reading it: RSS also grows while SQLite's page cache of a connection fills with the pages the
 * bot writes (a fresh database grows: `db MB`). better-sqlite3 builds with a 16 MiB cache, which
 * filled at ~0.45 MB per simulated hour at 50 symbols; every connection is now opened with
 * SQLite's own 2 MiB (database/client.ts `DEFAULT_CACHE_KIB`), full within the first hour.
 *
 * Wall-clock timers are compressed by the speed too, so that the day has them: market websocket
 * rotation (`live.rotateAfterMinutes`, 23 h) and the exchangeInfo refresh (60 min), at least 1 min.
 * A rotation closes the old connection before the new one subscribes; when that hand-over spans a
 * kline close, the missed klines cannot be back-filled here (the REST back-fill keeps only klines
 * closed by the bot's clock, and at speed > 1 the data clock runs ahead of it), so they show as
 * lost; live, the back-fill fetches them.
 *
 * Options: `--symbols 50`, `--hours 24` (simulated), `--warmup-hours 1`, `--speed 240` (data
 * clock × real time: 240 = one simulated day in 6 min wall), `--history 500` (klines closed
 * before the start), `--steps-per-kline 12` (websocket updates per kline), `--snapshots` (heap snapshots of the bot's
 * main thread at the first and last hour, via --heapsnapshot-signal, and the constructors that
 * grew; a snapshot stops the bot for seconds and leaves its RSS raised, so the RSS verdict of
 * such a run is disturbed), `--keep` (keep the run folder: database, logs, snapshots).
 * Linux only (reads /proc).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapGrowth, heapTotalMb, summarizeHeapSnapshot } from './helpers/heap-summary.ts';
import { candlesRecorded, cpuSeconds, rssMb, sleep, startBotCli, startSimulatorCli, stopChild, symbolsFromExchangeInfo, waitActive, waitFor, writeKlineCsv, type BotCli } from './helpers/processes.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : def);
const nSymbols = Number(opt('--symbols', '50'));
const hours = Number(opt('--hours', '24'));
const warmupHours = Number(opt('--warmup-hours', '1'));
const speed = Number(opt('--speed', '240'));
const history = Number(opt('--history', '500'));
const steps = Number(opt('--steps-per-kline', '12'));
const snapshots = args.includes('--snapshots');
const keep = args.includes('--keep');
const MINUTE = 60_000;
const MB = 2 ** 20;

type Row = Record<string, string | number>;

/** Least-squares slope of `ys` against 1, 2, 3…, per step. */
function slope(ys: number[]): number {
  const n = ys.length;
  const mx = (n + 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => {
    num += (i + 1 - mx) * (y - my);
    den += (i + 1 - mx) ** 2;
  });
  return den === 0 ? NaN : num / den;
}

/** Median of `xs` (NaN when empty). */
function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Size of a SQLite database with its WAL, MB (2^20 bytes). */
function dbMb(file: string): number {
  return [file, `${file}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0) / MB;
}

/** Signal the bot to write a heap snapshot into `dir`; resolves with its file once written. */
async function heapSnapshot(bot: BotCli, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  bot.child.kill('SIGUSR2');
  const file = await waitFor('the heap snapshot', () => readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f)), 60_000);
  await bot.metrics(); // the bot answers once the snapshot is written (it blocks its event loop)
  return join(dir, file);
}

/** Print the constructors that grew between two heap snapshots. */
function compareSnapshots(first: string, last: string): void {
  const a = summarizeHeapSnapshot(first);
  const b = summarizeHeapSnapshot(last);
  console.log(`\nheap snapshots: ${heapTotalMb(a).toFixed(1)} MB (first hour) → ${heapTotalMb(b).toFixed(1)} MB (last hour); largest growth by own size:`);
  console.table(heapGrowth(a, b).map((d) => ({ constructor: d.name, 'count first': d.countBefore, 'count last': d.countAfter, 'MB first': d.mbBefore.toFixed(2), 'MB last': d.mbAfter.toFixed(2), 'Δ MB': (d.mbAfter - d.mbBefore).toFixed(2) })));
}

async function soak(dir: string): Promise<void> {
  const symbols = symbolsFromExchangeInfo(nSymbols);
  // Enough data for the history, the soak and a margin: the simulator must not run out.
  const csv = writeKlineCsv(join(dir, 'klines.csv'), history + (warmupHours + hours) * 60 + 120);
  const sim = await startSimulatorCli({ symbols, csv, history, speed, paused: true, stepsPerKline: steps });
  const runDir = join(dir, 'bot');
  const env: Record<string, string> = {
    PERPBOT_LIVE_ROTATE_AFTER_MINUTES: String(Math.max(1, Math.floor((23 * 60) / speed))),
    PERPBOT_LIVE_EXCHANGE_INFO_REFRESH_MINUTES: String(Math.max(1, Math.floor(60 / speed))),
  };
  const nodeOptions = snapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${runDir}`] : [];
  const spawned = Date.now();
  const bot = await startBotCli({ sim, symbols, runDir, logLevel: 'warn', env, nodeOptions, inspect: true });
  try {
    await waitActive(bot, 600_000);
    const activeS = (Date.now() - spawned) / 1000;
    const pid = bot.child.pid!;
    const s0 = await sim.state();
    const from = s0.dataTime - (s0.dataTime % MINUTE);
    await sim.admin('resume');
    const w0 = Date.now();
    console.log(`${symbols.length} symbols, ${warmupHours} + ${hours} simulated h at ×${speed} (${(((warmupHours + hours) * 3600) / speed / 60).toFixed(1)} min wall), ${steps} updates per kline; bot ACTIVE after ${activeS.toFixed(1)} s, RSS ${rssMb(pid).toFixed(0)} MB`);
    const rows: Row[] = [];
    const warmRows: Row[] = [];
    const snaps: string[] = [];
    let hour = 0;
    let hourRssMax = 0;
    let hourRss: number[] = [];
    let cpu0 = cpuSeconds(pid);
    let wallH = w0;
    let klines0 = Number(bot.heartbeat()?.counters?.klines ?? 0);
    while (hour < warmupHours + hours) {
      await sleep(500);
      if (bot.child.exitCode !== null) throw new Error(`the bot exited ${bot.child.exitCode}: ${bot.out().slice(-2000)}`);
      const sample = rssMb(pid);
      hourRss.push(sample);
      hourRssMax = Math.max(hourRssMax, sample);
      const st = await sim.state();
      if (st.ended) throw new Error('the simulator ran out of data');
      if (st.klineIndex - s0.klineIndex < (hour + 1) * 60) continue;
      hour++;
      const now = Date.now();
      hourRssMax = Math.max(hourRssMax, rssMb(pid));
      await bot.collectGarbage(); // what stays after a full GC: the GC's phase does not move the figures
      const rss = rssMb(pid);
      const m = await bot.metrics();
      const cpu = cpuSeconds(pid);
      const klines = Number(bot.heartbeat()?.counters?.klines ?? 0);
      const warm = hour <= warmupHours;
      const row: Row = {
        'sim hour': warm ? `warm-up ${hour}` : hour - warmupHours,
        'wall s': ((now - w0) / 1000).toFixed(0),
        'RSS MB': rss.toFixed(1),
        'RSS max MB': hourRssMax.toFixed(1),
        'RSS median MB': median(hourRss).toFixed(1),
        'heap used MB': ((m.get('nodejs_heap_size_used_bytes') ?? NaN) / MB).toFixed(1),
        'heap total MB': ((m.get('nodejs_heap_size_total_bytes') ?? NaN) / MB).toFixed(1),
        'external MB': ((m.get('nodejs_external_memory_bytes') ?? NaN) / MB).toFixed(1),
        'CPU %': (((cpu - cpu0) / (now - wallH)) * 100_000).toFixed(0),
        'klines in/closed': `${klines - klines0}/${60 * symbols.length}`,
        'db MB': dbMb(bot.db).toFixed(1),
      };
      console.log(JSON.stringify(row));
      (warm ? warmRows : rows).push(row);
      if (snapshots && (hour === warmupHours + 1 || hour === warmupHours + hours)) {
        await sim.admin('pause'); // the data waits while the bot is stopped writing
        snaps.push(await heapSnapshot(bot, runDir));
        await sim.admin('resume');
      }
      [hourRssMax, hourRss, cpu0, wallH, klines0] = [0, [], cpuSeconds(pid), Date.now(), klines];
    }
    const wallS = (Date.now() - w0) / 1000;
    await sim.admin('pause');
    const end = await sim.state();
    const closedPerSymbol = end.klineIndex - s0.klineIndex; // the warm-up's klines included
    const expected = closedPerSymbol * symbols.length;
    const to = from + closedPerSymbol * MINUTE;
    // The bot may lag: wait for its rows (at most 10 s: less than the silence that reconnects), then count.
    await waitFor('the last klines', () => candlesRecorded(bot.db, from, to) >= expected, 10_000).catch(() => undefined);
    const recorded = candlesRecorded(bot.db, from, to);
    const hb = bot.heartbeat();

    console.table([...warmRows, ...rows]);
    const growthOf = (k: string, from = rows[0]!) => {
      const a = Number(from[k]);
      return ((Number(rows[rows.length - 1]![k]) - a) / a) * 100;
    };
    if (warmRows.length > 0) console.log(`RSS growth from the warm-up's first hour to the last hour: ${growthOf('RSS MB', warmRows[0]).toFixed(1)} % after a full GC (${growthOf('RSS median MB', warmRows[0]).toFixed(1)} % by the hours' medians)`);
    const growth = growthOf('RSS MB');
    const heapFirst = Number(rows[0]!['heap used MB']);
    const heapLast = Number(rows[rows.length - 1]!['heap used MB']);
    console.log(`soak wall time: ${wallS.toFixed(0)} s for ${warmupHours + hours} simulated h (×${(((warmupHours + hours) * 3600) / wallS).toFixed(0)} real time)`);
    console.log(`heap used first→last hour: ${heapFirst.toFixed(1)} → ${heapLast.toFixed(1)} MB (${(((heapLast - heapFirst) / heapFirst) * 100).toFixed(1)} %)`);
    console.log(`klines recorded/closed: ${recorded}/${expected} (${closedPerSymbol} per symbol; lost ${expected - recorded}); bot counters: ${JSON.stringify(hb?.counters ?? {})}`);
    if (hb?.lastError) console.log(`bot lastError: ${hb.lastError.message}`);
    // The first hour holds the start-up's leftovers (back-fill, warm-up): the trend leaves it out.
    const later = rows.slice(1);
    const col = (k: string) => later.map((r) => Number(r[k]));
    if (later.length >= 2) console.log(`RSS trend hours 2–${hours} (least squares): ${slope(col('RSS MB')).toFixed(2)} MB per simulated hour; database ${slope(col('db MB')).toFixed(2)} MB per simulated hour`);
    console.log(`RSS by the hours' medians (no forced GC), first→last hour: ${growthOf('RSS median MB').toFixed(1)} %`);
    console.log(`RSS growth first→last hour: ${growth.toFixed(1)} % (after a full GC; target < 5 %)${snapshots ? ' [disturbed by the heap snapshots]' : ''}`);
    if (snaps.length === 2) compareSnapshots(snaps[0]!, snaps[1]!);
    else if (growth >= 5) console.log('RSS grew by 5 % or more: run again with --snapshots to compare heap snapshots of the first and last hour');
  } finally {
    bot.closeInspector();
    await stopChild(bot.child);
    await stopChild(sim.child);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'perpbot-soak-'));
try {
  await soak(dir);
} finally {
  if (keep) console.log(`run folder kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
