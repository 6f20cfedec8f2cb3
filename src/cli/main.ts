/**
 * perpbot's command line (commander).
 *
 *   perpbot run       the long-lived bot (mode replay now; paper and live with the Binance connector)
 *   perpbot backtest  replay data files as fast as possible, then print a report (--json: the object only)
 *   perpbot status    read status/heartbeat.json; exit 0 ok, 1 degraded/halted, 2 stale/stopped, 3 missing
 *   perpbot db migrate  create or upgrade the database
 *
 * Exit codes of run/backtest/db: 0 done, 1 runtime failure, 2 bad configuration or input data
 * (the message names the key, file, line or field). Nothing is written before input is validated.
 */
import { existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Command, CommanderError, Option } from 'commander';
import type { Logger } from 'pino';
import type { ConfigSources } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError, DataError, PerpbotError, errorMessage } from '../core/errors.ts';
import type { Mode } from '../core/types.ts';
import { perpbotVersion, projectPath } from '../core/paths.ts';
import { scrub } from '../logging/scrub.ts';
import type { LoggerHandle } from '../logging/logger.ts';
import type { Kernel } from '../kernel/kernel.ts';
import type { BacktestReport } from '../backtest/report.ts';
import { flattenThroughBot, prepareBotApi, registerOperatorCommands, serveFinishedRun } from './operator-commands.ts';
import type { ApiServer } from '../../dashboard/server.ts';
import { checkListenAddress } from '../../dashboard/auth.ts';
import { simulatorCommand } from '../exchange/simulator/cli.ts';
import type { BacktestOutputs } from '../backtest/outputs.ts';
import { dataCommand } from './data-commands.ts';
import { runStatus, type StatusFlags } from './status-command.ts';
export { statusWord } from './status-command.ts';
import { researchCommands } from './research-commands.ts';

// The config schema (zod), the logger (pino), the kernel, the Binance connector, SQLite and the
// simulator are imported by the commands that use them (`await import(…)`), so `perpbot status`
// and `perpbot --version` load none of them (the compiled bundle splits them into chunks loaded
// on demand). Keep it so: `status` is what monitors and the Docker HEALTHCHECK call.

/** {@link loadConfig}, loaded on first use. */
async function loadConfig(sources: ConfigSources): Promise<Config> {
  const { loadConfig: load } = await import('../config/load.ts');
  return load(sources);
}


/** A refused operator command (e.g. `flatten` without `--yes`): exit code 2, not a config error. */
export class RefusedError extends Error {}

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

interface CommonFlags {
  config?: string;
  db?: string;
  data?: string[];
  exchangeInfo?: string;
  logLevel?: string;
}

function overridesFrom(flags: CommonFlags & { mode?: string }): Record<string, unknown> {
  return {
    mode: flags.mode,
    db: flags.db,
    data: flags.data,
    exchangeInfo: flags.exchangeInfo,
    'log.level': flags.logLevel,
  };
}

function fail(err: unknown): number {
  if (err instanceof RefusedError) {
    process.stderr.write(`perpbot: ${err.message}\n`);
    return EXIT.badInput;
  }
  if (err instanceof ConfigError || err instanceof DataError || (err instanceof PerpbotError && /^(CONFIG|DATA|EXCHANGE_INFO|SYMBOL|STRATEGY)/.test(err.code))) {
    process.stderr.write(`perpbot: ${scrub(err.message)}\n`);
    return EXIT.badInput;
  }
  process.stderr.write(`perpbot: ${scrub(errorMessage(err))}\n`);
  return EXIT.failure;
}

/**
 * Validate everything, then replay the data through the whole pipeline.
 * @returns the report
 * @throws ConfigError / DataError / PerpbotError on bad input, before anything is written
 */
async function replayRun(
  config: Config,
  log: Logger,
  opts: { heartbeat: boolean; onStart?: (k: Kernel) => void; funding?: string[]; outputs?: BacktestOutputs },
): Promise<{ report: BacktestReport; kernel: Kernel }> {
  const [{ loadExchangeInfo }, { loadReplayData }, { Kernel, newRunId, openStorage }] = await Promise.all([
    import('../../executor/exchange-info.ts'),
    import('../market/replay-source.ts'),
    import('../kernel/kernel.ts'),
  ]);
  const { fundingBookFor, checkOutputs } = await import('../backtest/outputs.ts');
  const { loadStrategyModules } = await import('../../strategies/loader.ts');
  await loadStrategyModules(config.strategies); // users' strategy modules: STRATEGY_MODULE (exit 2) before anything is written
  const rules = loadExchangeInfo(config.exchangeInfo);
  if (opts.outputs) checkOutputs(opts.outputs);
  // The database's writer thread starts now and boots (its module, SQLite, the file) while this
  // thread reads the data; a data error then stops it again with nothing written.
  const runId = newRunId('replay', Date.now());
  const created = !existsSync(config.db);
  const storage = openStorage(config.db, runId);
  let data: ReturnType<typeof loadReplayData>;
  let funding: ReturnType<typeof fundingBookFor>;
  try {
    data = loadReplayData(config.data);
    for (const s of data.symbols) rules.get(s); // SYMBOL_UNKNOWN before anything is written
    funding = fundingBookFor(data.symbols, opts.funding ?? []);
  } catch (err) {
    await storage.writer.close().catch(() => undefined);
    storage.db.close();
    if (created) for (const f of [config.db, `${config.db}-wal`, `${config.db}-shm`]) rmSync(f, { force: true }); // bad input leaves no file behind
    throw err;
  }
  const kernel = Kernel.forReplay({ config, mode: 'replay', rules, symbols: data.symbols, log, heartbeat: opts.heartbeat, runId, storage, ...(funding ? { funding } : {}) }, data);
  opts.onStart?.(kernel);
  let report: BacktestReport | undefined;
  try {
    log.info({ runId: kernel.runId, symbols: data.symbols, klines: data.totalKlines, db: config.db }, 'replay started');
    for (const f of data.files) {
      if (f.gaps.length > 0) log.warn({ symbol: f.symbol, file: f.path, gaps: f.gaps.length, missingMinutes: f.missingMinutes }, 'gaps in kline data');
    }
    report = await kernel.run();
    // The report itself is printed (and stored in the runs table), not repeated in a log line.
    log.info({ runId: report.runId, interrupted: report.interrupted, db: config.db }, 'replay finished');
    if (opts.outputs) (await import('../backtest/outputs.ts')).writeBacktestOutputs(opts.outputs, report, kernel, data);
    return { report, kernel };
  } finally {
    await kernel.close(report ?? null, report ? (report.interrupted ? 'stopped' : 'completed') : 'failed');
  }
}

/**
 * Paper or live trading until SIGINT/SIGTERM: Binance market data (retried with backoff while it
 * cannot be reached, the heartbeat saying degraded); the simulated venue (paper) or Binance (live).
 */
async function runOnBinance(config: Config, log: Logger, mode: 'paper' | 'live'): Promise<void> {
  // SIGINT/SIGTERM are ours from the first line: one that arrives while the bot is still being
  // built (modules, database, kernel) stops it as soon as it exists, instead of Node's default
  // (killed at once, no 'stopped' heartbeat, the database not closed).
  let bot: { stop(): Promise<void> } | null = null;
  let stopRequested = false;
  const off = withSignals(() => {
    log.warn('signal received: stopping');
    stopRequested = true;
    if (bot) void bot.stop();
  });
  try {
    await runOnBinanceUntilStopped(config, log, mode, (b) => {
      bot = b;
      if (stopRequested) void b.stop();
    });
  } finally {
    off();
  }
}

/** Build and run the paper or live bot; `started` gets it as soon as it exists (to stop it). */
async function runOnBinanceUntilStopped(config: Config, log: Logger, mode: 'paper' | 'live', started: (bot: { stop(): Promise<void> }) => void): Promise<void> {
  const [{ loadExchangeInfo }, { startLive, startPaper }] = await Promise.all([import('../../executor/exchange-info.ts'), import('../kernel/live.ts')]);
  const { loadStrategyModules } = await import('../../strategies/loader.ts');
  await loadStrategyModules(config.strategies);
  const rules = loadExchangeInfo(config.exchangeInfo);
  for (const s of config.symbols) rules.get(s); // SYMBOL_UNKNOWN before anything is written
  // The API is prepared before anything starts (a bad address or token stops here), and starts
  // with the kernel, before its first event: the metrics count from the start, and an operator
  // can halt the bot while it is still starting up.
  const serve = await prepareBotApi(config, log);
  let starting = null as Promise<ApiServer> | null; // set by beforeRun
  const beforeRun = (k: Kernel) => {
    if (serve) starting = serve(k);
    starting?.catch(() => undefined); // awaited below; not unhandled meanwhile
  };
  const bot = mode === 'paper' ? await startPaper(config, log, rules, config.symbols, { beforeRun }) : await startLive(config, log, rules, config.symbols, process.env, { beforeRun });
  started(bot);
  let api = null as ApiServer | null;
  try {
    api = await starting;
    await bot.done;
  } catch (err) {
    await bot.stop();
    throw err;
  } finally {
    await api?.close();
    await bot.kernel.close(null, 'stopped');
  }
}

function withSignals(onSignal: () => void): () => void {
  const handler = () => onSignal();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

async function withLogger<T>(config: Config, console: 'stdout' | 'stderr' | 'none', body: (log: Logger) => Promise<T>): Promise<T> {
  let handle: LoggerHandle | undefined;
  try {
    const { createLogger } = await import('../logging/logger.ts');
    handle = await createLogger({ level: config.log.level, console, dir: config.log.file ? config.log.dir : null, rotateSize: config.log.rotateSize, keep: config.log.keep });
    return await body(handle.logger);
  } finally {
    await handle?.close();
  }
}

/**
 * A backtest never writes into the bot's database: without a database of its own (`--db`,
 * `PERPBOT_DB` or the config file's `db`), each backtest gets a new file
 * `database/backtests/backtest-<UTC yyyymmddThhmmss>-<6 hex>.sqlite`, kept for inspection and
 * named in the report (delete the folder at will).
 */
export function backtestDatabase(config: Config, now = Date.now()): Config {
  if (config.db !== projectPath('database', 'perpbot.sqlite')) return config;
  const t = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return { ...config, db: projectPath('database', 'backtests', `backtest-${t}-${randomBytes(3).toString('hex')}.sqlite`) };
}

/** Build the commander program. `out` receives what commands print (stdout). */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('perpbot')
    .description('Event-driven trading bot for Binance USDⓈ-M perpetual futures')
    .version(perpbotVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  const common = (cmd: Command) =>
    cmd
      .option('--config <file>', 'JSON config file (see README, Configuration)')
      .option('--db <file>', 'SQLite database file (default database/perpbot.sqlite)')
      .option('--data <spec...>', 'kline CSV files: PATH or SYMBOL=PATH (Binance archive format)')
      .option('--exchange-info <file>', 'recorded GET /fapi/v1/exchangeInfo JSON')
      .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent');

  common(
    program
      .command('run')
      .description('run the bot (replay: the bundled real data by default; exits at the end of the data)')
      .addOption(new Option('--mode <mode>', 'run mode').choices(['replay', 'paper', 'live'])),
  ).action(async (flags: CommonFlags & { mode?: Mode }) => {
    try {
      const config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
      if (config.mode === 'paper' || config.mode === 'live') {
        await withLogger(config, 'stdout', (log) => runOnBinance(config, log, config.mode as 'paper' | 'live'));
        setExit(EXIT.ok);
        return;
      }
      await withLogger(config, 'stdout', async (log) => {
        let kernel: Kernel | undefined;
        const off = withSignals(() => {
          log.warn('signal received: stopping after the current kline');
          kernel?.requestStop();
        });
        try {
          const { report, kernel: k } = await replayRun(config, log, { heartbeat: true, onStart: (x) => (kernel = x) });
          const { formatReport } = await import('../backtest/report.ts');
          const first = k.firstKlineAt === null ? '' : `  first kline processed ${Math.round(k.firstKlineAt)} ms after the process started; report ready at ${Math.round(performance.now())} ms\n`;
          process.stdout.write(`${formatReport(report)}\n${first}`);
        } finally {
          off();
        }
      });
      setExit(EXIT.ok);
    } catch (err) {
      setExit(fail(err));
    }
  });

  common(
    program
      .command('backtest')
      .description('replay kline files as fast as possible and print a report')
      .option('--json', 'print the report as one JSON object on stdout, nothing else')
      .option('--funding <spec...>', 'funding-rate CSV files: PATH or SYMBOL=PATH (default: data/funding/SYMBOL-funding*.csv); "none" = no funding')
      .option('--report <file>', 'write a self-contained HTML report (equity, drawdown, monthly heatmap, trades on the price chart)')
      .option('--trades <file>', 'write the round trips as CSV')
      .option('--serve', 'then serve the run read-only (dashboard and read API on api.host:api.port) until SIGINT/SIGTERM'),
  ).action(async (flags: CommonFlags & { json?: boolean; funding?: string[]; report?: string; trades?: string; serve?: boolean }) => {
    try {
      const config = backtestDatabase(await loadConfig({ file: flags.config, overrides: overridesFrom(flags) }));
      if (flags.serve) checkListenAddress(config.api.host);
      await withLogger(config, flags.json ? 'none' : 'stderr', async (log) => {
        const { report } = await replayRun(config, log, { heartbeat: false, funding: flags.funding ?? [], outputs: { html: flags.report, tradesCsv: flags.trades } });
        const { formatReport } = await import('../backtest/report.ts');
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
        if (flags.serve) await serveFinishedRun(config, log, config.db, report.runId);
      });
      setExit(EXIT.ok);
    } catch (err) {
      setExit(fail(err));
    }
  });

  program
    .command('status')
    .description('read the heartbeat; exit 0 ok, 1 degraded or halted, 2 stale, stopping or stopped, 3 missing or unreadable')
    .option('--config <file>', 'JSON config file')
    .option('--file <file>', 'heartbeat file (default status/heartbeat.json)')
    .option('--json', 'print the heartbeat JSON')
    .action((flags: StatusFlags) => {
      setExit(runStatus(flags));
    });

  program
    .command('recover')
    .description('compare the database with the exchange (live account) and apply the differences; --dry-run only prints them')
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .option('--dry-run', 'print the differences, change nothing')
    .action(async (flags: { config?: string; db?: string; dryRun?: boolean }) => {
      try {
        const config = await loadConfig({ file: flags.config, overrides: { db: flags.db } });
        await withLogger(config, 'stderr', async (log) => {
          const { recover } = await import('./live-commands.ts');
          const { text } = await recover(config, log, { dryRun: flags.dryRun === true });
          process.stdout.write(`${text}\n`);
        });
        setExit(EXIT.ok);
      } catch (err) {
        setExit(fail(err));
      }
    });

  program
    .command('flatten')
    .description("close perpbot's positions (configured symbols and symbols perpbot placed orders on) with reduce-only market orders (live account); needs --yes")
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .option('--yes', 'really send the orders')
    .option('--symbol <symbol>', 'only this symbol (through a running bot)')
    .option('--url <url>', "the running bot's API (default http://<api.host>:<api.port>)")
    .option('--reason <text>', 'why (recorded and alerted by a running bot)')
    .option('--all', "close every position of the account, not only perpbot's symbols")
    .action(async (flags: { config?: string; db?: string; yes?: boolean; symbol?: string; url?: string; reason?: string; all?: boolean }) => {
      try {
        if (!flags.yes) throw new RefusedError('flatten sends real orders to close every position: nothing was done; run `perpbot flatten --yes` to confirm');
        const config = await loadConfig({ file: flags.config, overrides: { db: flags.db } });
        // A running bot flattens through its own executor; standalone only when none answers.
        const viaBot = await flattenThroughBot(config, flags);
        if (viaBot) {
          for (const line of viaBot) process.stdout.write(`${line}\n`);
          setExit(EXIT.ok);
          return;
        }
        if (flags.symbol) throw new ConfigError(['--symbol: standalone flatten (no running bot answers) closes every position; drop --symbol or start the bot']);
        await withLogger(config, 'stderr', async (log) => {
          const { flatten } = await import('./live-commands.ts');
          for (const line of await flatten(config, log, process.env, { all: flags.all === true })) process.stdout.write(`${line}\n`);
        });
        setExit(EXIT.ok);
      } catch (err) {
        setExit(fail(err));
      }
    });

  simulatorCommand(program);
  dataCommand(program, setExit, fail);
  registerOperatorCommands(program, setExit);
  researchCommands(program, setExit, fail);

  const db = program.command('db').description('database maintenance');
  db.command('migrate')
    .description('create the database or apply pending migrations')
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .action(async (flags: { config?: string; db?: string }) => {
      try {
        const config = await loadConfig({ file: flags.config, overrides: { db: flags.db } });
        const { openDatabase } = await import('../../database/client.ts');
        const existed = existsSync(config.db);
        const d = openDatabase(config.db);
        d.close();
        process.stdout.write(existed ? `database ${config.db} is up to date\n` : `created database ${config.db} (migrations applied)\n`);
        setExit(EXIT.ok);
      } catch (err) {
        setExit(fail(err));
      }
    });
  db.command('backup')
    .description("copy the database into a new file while the bot runs (SQLite's online backup)")
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file (default database/perpbot.sqlite)')
    .requiredOption('--out <file>', 'the backup file to create (must not exist)')
    .action(async (flags: { config?: string; db?: string; out: string }) => {
      try {
        const config = await loadConfig({ file: flags.config, overrides: { db: flags.db } });
        const { backupDatabase } = await import('../../database/backup.ts');
        const r = await backupDatabase(config.db, flags.out);
        process.stdout.write(`backed up ${config.db} to ${r.out} (${r.pages} pages, ${r.bytes} bytes)\n`);
        setExit(EXIT.ok);
      } catch (err) {
        setExit(fail(err));
      }
    });

  return program;
}

/**
 * Run the CLI with `argv` (as process.argv).
 * @returns the exit code
 */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : EXIT.badInput;
    }
    return fail(err);
  }
  return code;
}

const isEntry = process.argv[1] !== undefined && /(?:^|[\\/])(perpbot(?:\.js)?|main\.ts)$/.test(process.argv[1]);
if (isEntry) {
  process.exitCode = await main(process.argv);
}
