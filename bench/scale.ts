/**
 * `npm run bench:scale`: live start-up at scale, figures printed (never asserted).
 *
 * For each N (default 10, 50, 150, 300 symbols) it starts the simulator and the bot as separate
 * processes (`perpbot simulator`, `perpbot run --mode live`), the bot pointed at the simulator
 * on 127.0.0.1, at Binance's stream rates: 240 sub-steps per kline (a kline update every 250 ms
 * per symbol, as `@kline_1m`), a mark price every second (`@markPrice@1s`). Then a stress case
 * at the largest N: the data clock ×60, so every symbol closes a kline every second (4 sub-steps
 * per kline, still one update per 250 ms). For each case it prints:
 * - start → ACTIVE: from spawning the bot to its log line saying trading ACTIVE, s (includes node
 *   loading the build), and from the bot's first log line to that line; the bot writes its
 *   heartbeat at the default interval (5 s);
 * - ACTIVE → warm: from ACTIVE to the end of the warm-up (every symbol back-filled and its first
 *   live kline fed; the log line 'warm-up done'), s;
 * - the bot's CPU (% of one core) over a window that starts `--settle-s` after the warm-up, its
 *   RSS at the window's start and end, and the simulator's CPU;
 * - klines recorded (rows of candles_1m with open time in the window) vs klines the simulator
 *   closed in the window (× N), counted once they are all in or 30 s after the window, and the
 *   REST 429/418 answers the bot counted.
 *
 * The simulator gets one kline file per symbol: the bundled BTCUSDT file, cut to its first 2,000
 * rows, under each symbol name (symbols taken from data/exchange-info, TRADING perpetuals, 323 in the bundled file).
 *
 * Options: `--n 10,50,150,300`, `--window-s 65` (the measuring window), `--settle-s 10` (the
 * window starts this long after the warm-up: the steady state, without the start-up's tail),
 * `--steps-per-kline 240`, `--no-stress`, `--cpu-prof DIR` (a V8 CPU profile of the bot over each
 * window, through its inspector, written into DIR; the profiler's own cost is in that run's CPU).
 * Linux only (reads /proc for CPU and RSS).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { candlesRecorded, cpuSeconds, rssMb, threadCpuSeconds, sleep, startBotCli, startSimulatorCli, stopChild, symbolsFromExchangeInfo, waitFor, writeKlineCsv } from './helpers/processes.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : def);
const Ns = opt('--n', '10,50,150,300').split(',').map(Number);
const windowMs = Number(opt('--window-s', '65')) * 1000;
const settleMs = Number(opt('--settle-s', '10')) * 1000;
const stepsPerKline = Number(opt('--steps-per-kline', '240'));
const stress = !args.includes('--no-stress');
/** `--cpu-prof DIR`: a V8 CPU profile of the bot over each window, written into DIR. */
const cpuProfDir = args.includes('--cpu-prof') ? opt('--cpu-prof', '') : '';

/** One case: N symbols, the simulator at `speed` × real time with `steps` sub-steps per kline. */
async function runOnce(n: number, dir: string, csv: string, speed: number, steps: number): Promise<Record<string, string | number>> {
  const symbols = symbolsFromExchangeInfo(n);
  const sim = await startSimulatorCli({ symbols, csv, history: 500, speed, stepsPerKline: steps });
  const t0 = Date.now();
  // The heartbeat at its default interval (5 s; the helper's 500 ms would cost the bot ~0.3 % of
  // a core at 300 symbols): ACTIVE is read from the log line instead.
  const bot = await startBotCli({ sim, symbols, runDir: join(dir, `n${n}-x${speed}`), env: { PERPBOT_HEARTBEAT_INTERVAL_MS: '5000' }, inspect: cpuProfDir !== '' });
  try {
    await waitFor('trading ACTIVE', () => /HALTED → ACTIVE/.test(bot.out()) || bot.child.exitCode !== null, 600_000);
    if (bot.child.exitCode !== null) throw new Error(`the bot exited ${bot.child.exitCode}: ${bot.out().slice(-2000)}`);
    // The same from the bot's own log: its first line ('live trading', after node and tsx loaded) to ACTIVE.
    const times = (re: RegExp) => bot.out().split('\n').filter((l) => re.test(l)).map((l) => Date.parse((JSON.parse(l) as { time: string }).time))[0];
    const activeS = ((times(/HALTED → ACTIVE/) ?? NaN) - t0) / 1000;
    const fromLogS = ((times(/HALTED → ACTIVE/) ?? NaN) - (times(/"live trading"/) ?? NaN)) / 1000;
    // The window measures the steady state: it starts `settleMs` after the warm-up (every symbol
    // back-filled and streaming; at 300 symbols the back-fill's REST weight may push the last
    // symbols into the next minute's budget).
    let warmS = NaN;
    try {
      await waitFor('the warm-up', () => /warm-up done/.test(bot.out()) || bot.child.exitCode !== null, 240_000);
      warmS = ((times(/warm-up done/) ?? NaN) - (times(/HALTED → ACTIVE/) ?? NaN)) / 1000;
    } catch {
      // figure left out; the window starts anyway
    }
    await sleep(settleMs);
    const botCpu0 = cpuSeconds(bot.child.pid!);
    const threads0 = threadCpuSeconds(bot.child.pid!);
    const simCpu0 = cpuSeconds(sim.child.pid!);
    const rss0 = rssMb(bot.child.pid!);
    const w0 = Date.now();
    const state0 = await sim.state();
    if (cpuProfDir) await bot.startCpuProfile();
    await sleep(windowMs);
    const state1 = await sim.state();
    if (cpuProfDir) {
      const file = join(cpuProfDir, `bot-n${n}-x${speed}.cpuprofile`);
      mkdirSync(cpuProfDir, { recursive: true });
      writeFileSync(file, JSON.stringify(await bot.stopCpuProfile()));
      bot.closeInspector();
      console.log(`CPU profile of the window: ${file}`);
    }
    const wall = (Date.now() - w0) / 1000;
    const botCpu = ((cpuSeconds(bot.child.pid!) - botCpu0) / wall) * 100;
    const simCpu = ((cpuSeconds(sim.child.pid!) - simCpu0) / wall) * 100;
    const rss = rssMb(bot.child.pid!);
    // Where the bot's CPU went, by thread (% of one core over the window).
    const threads1 = threadCpuSeconds(bot.child.pid!);
    const pct = (s: number) => (s / wall) * 100;
    const byThread = [...threads1]
      .map(([t, s]) => {
        const b = threads0.get(t) ?? { user: 0, system: 0 };
        return { t: t === `node#${bot.child.pid}` ? 'main' : t, user: pct(s.user - b.user), system: pct(s.system - b.system) };
      })
      .filter((x) => x.user + x.system >= 0.05)
      .sort((a, b) => b.user + b.system - (a.user + a.system))
      .map((x) => `${x.t} ${x.user.toFixed(2)} user + ${x.system.toFixed(2)} sys`);
    console.log(`bot CPU by thread, % of one core: ${byThread.join('; ')}`);
    // Klines the simulator closed in the window, and the bot's rows for them (they may lag a few
    // s: counted again until all are there or 30 s passed).
    const closedPerSymbol = state1.klineIndex - state0.klineIndex;
    const from = state0.dataTime - (state0.dataTime % 60_000);
    const to = from + closedPerSymbol * 60_000;
    let rows = 0;
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(1_000)) {
      rows = candlesRecorded(bot.db, from, to);
      if (rows >= closedPerSymbol * n) break;
    }
    const c = bot.heartbeat()?.counters ?? {};
    const limited = Number(c.restRateLimited ?? 0);
    return {
      N: speed === 1 ? n : `${n} stress ×${speed}`,
      'spawn→ACTIVE s': activeS.toFixed(1),
      'log→ACTIVE s': fromLogS.toFixed(1),
      'ACTIVE→warm s': warmS.toFixed(1),
      'bot CPU %': botCpu.toFixed(1),
      'bot RSS MB start→end': `${rss0.toFixed(0)}→${rss.toFixed(0)}`,
      'sim CPU %': simCpu.toFixed(1),
      'klines recorded/closed': `${rows}/${closedPerSymbol * n}`,
      'connections': Number(c.marketConnections ?? 0),
      '429/418': limited,
    };
  } finally {
    await stopChild(bot.child);
    await stopChild(sim.child);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'perpbot-scale-'));
try {
  const csv = writeKlineCsv(join(dir, 'klines.csv'), 2_000);
  const rows: Array<Record<string, string | number>> = [];
  const cases = Ns.map((n) => ({ n, speed: 1, steps: stepsPerKline }));
  // Stress: a kline per second per symbol (×60), its updates still every 250 ms (4 per kline).
  if (stress) cases.push({ n: Math.max(...Ns), speed: 60, steps: 4 });
  for (const c of cases) {
    const r = await runOnce(c.n, dir, csv, c.speed, c.steps);
    console.log(JSON.stringify(r));
    rows.push(r);
  }
  console.table(rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
