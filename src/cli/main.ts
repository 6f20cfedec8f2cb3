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
import { Command, CommanderError, Option } from 'commander';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.ts';
import { loadStrategyModules } from '../../strategies/loader.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError, DataError, PerpbotError, errorMessage } from '../core/errors.ts';
import type { Mode } from '../core/types.ts';
import { readHeartbeatFile } from '../health/heartbeat.ts';
import { createLogger, scrub, type LoggerHandle } from '../logging/logger.ts';
import { loadReplayData } from '../market/replay-source.ts';
import { Kernel } from '../kernel/kernel.ts';
import { startLive, startPaper } from '../kernel/live.ts';
import { flatten, recover } from './live-commands.ts';
import { simulatorCommand } from '../exchange/simulator/cli.ts';
import { formatReport, type BacktestReport } from '../backtest/report.ts';
import { checkOutputs, fundingBookFor, writeBacktestOutputs, type BacktestOutputs } from '../backtest/outputs.ts';
import { dataCommand } from './data-commands.ts';
import { researchCommands } from './research-commands.ts';
import { loadExchangeInfo } from '../../executor/exchange-info.ts';
import { openDatabase } from '../../database/client.ts';

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
  await loadStrategyModules(config.strategies); // users' strategy modules: STRATEGY_MODULE (exit 2) before anything is written
  const rules = loadExchangeInfo(config.exchangeInfo);
  const data = loadReplayData(config.data);
  for (const s of data.symbols) rules.get(s); // SYMBOL_UNKNOWN before anything is written
  const funding = fundingBookFor(data.symbols, opts.funding ?? []);
  if (opts.outputs) checkOutputs(opts.outputs);
  const kernel = Kernel.forReplay({ config, mode: 'replay', rules, symbols: data.symbols, log, heartbeat: opts.heartbeat, ...(funding ? { funding } : {}) }, data);
  opts.onStart?.(kernel);
  let report: BacktestReport | undefined;
  try {
    log.info({ runId: kernel.runId, symbols: data.symbols, klines: data.totalKlines, db: config.db }, 'replay started');
    for (const f of data.files) {
      if (f.gaps.length > 0) log.warn({ symbol: f.symbol, file: f.path, gaps: f.gaps.length, missingMinutes: f.missingMinutes }, 'gaps in kline data');
    }
    report = await kernel.run();
    log.info({ report: { ...report, fundingPayments: report.fundingPayments.length } }, 'replay finished');
    if (opts.outputs) writeBacktestOutputs(opts.outputs, report, kernel, data);
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
  await loadStrategyModules(config.strategies);
  const rules = loadExchangeInfo(config.exchangeInfo);
  for (const s of config.symbols) rules.get(s); // SYMBOL_UNKNOWN before anything is written
  const bot = mode === 'paper' ? await startPaper(config, log, rules, config.symbols) : await startLive(config, log, rules, config.symbols);
  const off = withSignals(() => {
    log.warn('signal received: stopping');
    void bot.stop();
  });
  try {
    await bot.done;
  } finally {
    off();
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
    handle = createLogger({ level: config.log.level, console, dir: config.log.file ? config.log.dir : null, rotateSize: config.log.rotateSize, keep: config.log.keep });
    return await body(handle.logger);
  } finally {
    await handle?.close();
  }
}

/** Build the commander program. `out` receives what commands print (stdout). */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('perpbot')
    .description('Event-driven trading bot for Binance USDⓈ-M perpetual futures')
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
      const config = loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
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
          const { report } = await replayRun(config, log, { heartbeat: true, onStart: (k) => (kernel = k) });
          process.stdout.write(`${formatReport(report)}\n`);
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
      .option('--trades <file>', 'write the round trips as CSV'),
  ).action(async (flags: CommonFlags & { json?: boolean; funding?: string[]; report?: string; trades?: string }) => {
    try {
      const config = loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
      await withLogger(config, flags.json ? 'none' : 'stderr', async (log) => {
        const { report } = await replayRun(config, log, { heartbeat: false, funding: flags.funding ?? [], outputs: { html: flags.report, tradesCsv: flags.trades } });
        process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
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
    .action((flags: { config?: string; file?: string; json?: boolean }) => {
      let file = flags.file;
      let staleAfter = 30_000;
      try {
        const config = loadConfig({ file: flags.config });
        file ??= config.heartbeat.file;
        staleAfter = config.heartbeat.staleAfterMs;
      } catch (err) {
        setExit(fail(err));
        return;
      }
      try {
        const hb = readHeartbeatFile(file);
        const age = Date.now() - hb.timeMs;
        const stale = age > staleAfter;
        if (flags.json) process.stdout.write(`${JSON.stringify(hb, null, 2)}\n`);
        else {
          const src = Object.entries(hb.sources)
            .map(([s, h]) => `${s} ${h.state}${h.ageMs !== null ? ` (${Math.round(h.ageMs / 1000)}s)` : ''}`)
            .join(', ');
          process.stdout.write(
            `${stale ? 'STALE' : hb.status.toUpperCase()}: heartbeat ${Math.round(age / 1000)}s old, pid ${hb.pid}, mode ${hb.mode}, run ${hb.runId}\n` +
              (hb.statusReason ? `  reason: ${hb.statusReason}\n` : '') +
              `  risk ${hb.risk.state}${hb.risk.reason ? ` (${hb.risk.reason})` : ''}; positions ${JSON.stringify(hb.positions)}; open orders ${hb.openOrders.length}\n` +
              `  sources: ${src || 'none'}; database ${hb.database.ok ? 'ok' : hb.database.detail}\n` +
              (hb.lastError ? `  last error: ${hb.lastError.message}\n` : ''),
          );
        }
        if (stale || hb.status === 'stopped' || hb.status === 'stopping') setExit(2);
        else if (hb.status !== 'ok') setExit(1);
        else setExit(0);
      } catch (err) {
        process.stderr.write(`perpbot status: ${errorMessage(err)}\n`);
        setExit(3);
      }
    });

  program
    .command('recover')
    .description('compare the database with the exchange (live account) and apply the differences; --dry-run only prints them')
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .option('--dry-run', 'print the differences, change nothing')
    .action(async (flags: { config?: string; db?: string; dryRun?: boolean }) => {
      try {
        const config = loadConfig({ file: flags.config, overrides: { db: flags.db } });
        await withLogger(config, 'stderr', async (log) => {
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
    .description('close every position with reduce-only market orders (live account); needs --yes')
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .option('--yes', 'really send the orders')
    .action(async (flags: { config?: string; db?: string; yes?: boolean }) => {
      try {
        if (!flags.yes) throw new ConfigError(['--yes: flatten sends real orders; say --yes to confirm']);
        const config = loadConfig({ file: flags.config, overrides: { db: flags.db } });
        await withLogger(config, 'stderr', async (log) => {
          for (const line of await flatten(config, log)) process.stdout.write(`${line}\n`);
        });
        setExit(EXIT.ok);
      } catch (err) {
        setExit(fail(err));
      }
    });

  simulatorCommand(program);
  dataCommand(program, setExit, fail);
  researchCommands(program, setExit, fail);

  const db = program.command('db').description('database maintenance');
  db.command('migrate')
    .description('create the database or apply pending migrations')
    .option('--config <file>', 'JSON config file')
    .option('--db <file>', 'SQLite database file')
    .action((flags: { config?: string; db?: string }) => {
      try {
        const config = loadConfig({ file: flags.config, overrides: { db: flags.db } });
        const d = openDatabase(config.db);
        d.close();
        process.stdout.write(`database ${config.db} is up to date\n`);
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
