/**
 * The research commands, `perpbot optimize`, `walkforward` and `worker`: their flags only. Each
 * action loads ./research-actions.ts (the search, worker threads, BullMQ, the config schema) when
 * it runs, so registering them costs other commands (`perpbot status`) nothing.
 */
import type { Command } from 'commander';
import type { SearchFlags } from './research-actions.ts';

const searchOptions = (cmd: Command) =>
  cmd
    .option('--config <file>', 'JSON config file (sizing, risk, sim; see README)')
    .option('--data <spec...>', 'kline CSV files: PATH or SYMBOL=PATH')
    .option('--exchange-info <file>', 'recorded exchangeInfo JSON')
    .option('--funding <spec...>', 'funding-rate CSV files; "none" = no funding')
    .option('--strategy <name>', 'strategy to tune, e.g. vwap-adx')
    .option('--param <spec...>', 'NAME=FROM:TO:STEP or NAME=A,B,C (repeat per parameter)')
    .option('--objective <name>', 'what to maximise: sharpe|net|calmar|sortino', 'sharpe')
    .option('--method <m>', 'search: grid|random (tpe: not available)', 'grid')
    .option('--trials <n>', 'random: number of points (default 50)')
    .option('--seed <n>', 'random: seed (same seed, same result)', '1')
    .option('--workers <n>', 'worker threads (default: every core)')
    .option('--queue <url>', 'put trials on BullMQ at this Redis URL (run `perpbot worker --queue URL` elsewhere)');

/** Register optimize, walkforward and worker on the program. */
export function researchCommands(program: Command, setExit: (code: number) => void, fail: (err: unknown) => number): void {
  searchOptions(program.command('optimize').description('search strategy parameters: a backtest per point, in parallel; ranked table, overfitting guards'))
    .option('--out <file>', 'write every trial: .csv or .json')
    .action(async (raw: SearchFlags) => {
      try {
        await (await import('./research-actions.ts')).optimizeAction(raw);
        setExit(0);
      } catch (err) {
        setExit(fail(err));
      }
    });

  searchOptions(program.command('walkforward').description('optimise on each in-sample window, trade the best parameters on the next window unseen; stitched out-of-sample equity'))
    .option('--train <dur>', 'in-sample window length, e.g. 30d, 72h')
    .option('--test <dur>', 'out-of-sample window length, e.g. 7d')
    .option('--step <dur>', 'distance between windows (default: --test)')
    .option('--anchored', 'in-sample windows all start at the start of the data')
    .option('--warmup <dur>', 'data replayed before each window with trading off, for indicators', '1d')
    .option('--out <file>', 'write the windows and the stitched equity: .json or .csv')
    .option('--report <file>', 'write a self-contained HTML report')
    .action(async (raw: SearchFlags & { train?: string; test?: string; step?: string; anchored?: boolean; warmup?: string; report?: string }) => {
      try {
        await (await import('./research-actions.ts')).walkforwardAction(raw);
        setExit(0);
      } catch (err) {
        setExit(fail(err));
      }
    });

  program
    .command('worker')
    .description('run trials from a BullMQ queue (perpbot optimize/walkforward --queue URL); needs the same data files')
    .requiredOption('--queue <url>', 'Redis URL, redis://host:6379')
    .option('--config <file>', 'JSON config file')
    .option('--data <spec...>', 'kline CSV files: PATH or SYMBOL=PATH (same bytes as the submitter\'s)')
    .option('--exchange-info <file>', 'recorded exchangeInfo JSON')
    .option('--funding <spec...>', 'funding-rate CSV files; "none" = no funding')
    .option('--concurrency <n>', 'trials at once (worker threads)', '1')
    .option('--lock-duration <ms>', 'BullMQ job lock, ms: a dead worker\'s trial is retried after about this long', '30000')
    .action(async (raw: { queue: string; config?: string; data?: string[]; exchangeInfo?: string; funding?: string[]; concurrency: string; lockDuration: string }) => {
      try {
        await (await import('./research-actions.ts')).workerAction(raw);
        setExit(0);
      } catch (err) {
        setExit(fail(err));
      }
    });
}
