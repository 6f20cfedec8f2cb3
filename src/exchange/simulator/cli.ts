/**
 * `perpbot simulator`: run the local Binance USDⓈ-M futures simulator ({@link startSimulator}) until
 * SIGINT/SIGTERM, printing its URLs, API key pair and admin endpoints on start.
 *
 *   perpbot simulator --port 8787 --data data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv \
 *     [--data-dir DIR] [--symbols-file FILE] [--funding-dir DIR] [--funding-rate R] \
 *     [--exchange-info <file>] [--speed 60] [--api-key k --api-secret s] [--balance 10000]
 *
 * Wire it into src/cli/main.ts with `simulatorCommand(program)`. Bad options throw a
 * {@link ConfigError} and bad data a DataError / PerpbotError from the action, which main.ts's
 * error handling maps to exit code 2.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.ts';
import { isDecimalString } from '../../core/decimal.ts';
import { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, DEFAULT_SIM_EXCHANGE_INFO } from './defaults.ts';
import type { Simulator, SimulatorOptions } from './server.ts';

/** The admin endpoints, for the start banner (all JSON, no auth). */
export const ADMIN_ENDPOINTS: readonly string[] = [
  'GET  /admin/state                                  orders, fills, positions, balance, clocks, faults',
  'POST /admin/pause | /admin/resume                  stop / restart the data clock',
  'POST /admin/advance {"klines":n} | /admin/step {"steps":n}   play the data by hand',
  'POST /admin/drop-websockets                        terminate every websocket',
  'POST /admin/stall {"stream":"btcusdt@kline_1m"|"user"|"*","ms":n?} | /admin/unstall {"stream"?}',
  'POST /admin/rest-errors {"count":n,"status":503}   answer the next n REST requests with a 5xx',
  'POST /admin/rest-hang {"count":n,"request"?}       never answer the next n REST requests (only "METHOD /path" ones if given)',
  'POST /admin/expire-listen-keys                     listenKeyExpired now, sockets closed',
  'POST /admin/clock-skew {"ms":±n}                   skew the server clock',
  'POST /admin/order-ack-delay {"ms":n}               delay POST/DELETE /fapi/v1/order responses',
  'POST /admin/partial-fills {"pieces":n}            MARKET/LIMIT orders fill in n pieces over sub-steps (0 = off)',
  'POST /admin/user-events {"reorder":b,"duplicate":b} ACCOUNT_UPDATE before ORDER_TRADE_UPDATE; every event twice',
  'POST /admin/clear-faults',
];

interface SimFlags {
  port?: string;
  data?: string[];
  dataDir?: string;
  symbolsFile?: string;
  fundingDir?: string;
  fundingRate?: string;
  exchangeInfo?: string;
  speed?: string;
  apiKey?: string;
  apiSecret?: string;
  balance?: string;
  history?: string;
  stepsPerKline?: string;
  paused?: boolean;
  fillOnSubsteps?: boolean;
}

/** Optional hooks (tests): see the started simulator, stop it without a signal, capture output. */
export interface SimulatorCommandHooks {
  /** Called once the simulator listens. */
  onStarted?: (sim: Simulator) => void;
  /** Aborting it stops the simulator like SIGINT does. */
  stop?: AbortSignal;
  /** Where the banner goes. Default process.stdout. */
  out?: (text: string) => void;
}

/**
 * Turn the flags into {@link SimulatorOptions}.
 * @throws ConfigError listing every bad flag (`--port: got "x", expected an integer 0…65535`)
 */
export function simulatorOptionsFromFlags(flags: SimFlags): SimulatorOptions {
  const issues: string[] = [];
  const int = (name: string, v: string | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      issues.push(`--${name}: got "${v}", expected an integer ${min}…${max}`);
      return undefined;
    }
    return n;
  };
  const port = int('port', flags.port, 0, 65535);
  const history = int('history', flags.history, 0, 1_000_000);
  const steps = int('steps-per-kline', flags.stepsPerKline, 1, 600);
  let speed: number | undefined;
  if (flags.speed !== undefined) {
    speed = Number(flags.speed);
    if (!Number.isFinite(speed) || speed <= 0) issues.push(`--speed: got "${flags.speed}", expected a number > 0`);
  }
  if (flags.balance !== undefined && (!isDecimalString(flags.balance) || flags.balance.startsWith('-'))) {
    issues.push(`--balance: got "${flags.balance}", expected a non-negative decimal number of USDT`);
  }
  if ((flags.data === undefined || flags.data.length === 0) && flags.dataDir === undefined && flags.symbolsFile === undefined) {
    issues.push('--data: at least one kline CSV (PATH or SYMBOL=PATH) is required, or --data-dir DIR, or --symbols-file FILE');
  }
  if (flags.fundingRate !== undefined && !isDecimalString(flags.fundingRate)) issues.push(`--funding-rate: got "${flags.fundingRate}", expected a decimal rate such as 0.0001`);
  if ((flags.apiKey === undefined) !== (flags.apiSecret === undefined)) issues.push('--api-key and --api-secret go together');
  if (issues.length > 0) throw new ConfigError(issues);
  const opts: SimulatorOptions = { data: flags.data ?? [] };
  if (flags.dataDir !== undefined) opts.dataDir = flags.dataDir;
  if (flags.symbolsFile !== undefined) opts.symbolsFile = flags.symbolsFile;
  if (flags.fundingDir !== undefined) opts.fundingDir = flags.fundingDir === 'none' ? null : flags.fundingDir;
  if (flags.fundingRate !== undefined) opts.fundingRate = flags.fundingRate;
  if (port !== undefined) opts.port = port;
  if (history !== undefined) opts.history = history;
  if (steps !== undefined) opts.stepsPerKline = steps;
  if (speed !== undefined) opts.speed = speed;
  if (flags.balance !== undefined) opts.balance = flags.balance;
  if (flags.exchangeInfo !== undefined) opts.exchangeInfo = flags.exchangeInfo;
  if (flags.apiKey !== undefined) opts.apiKey = flags.apiKey;
  if (flags.apiSecret !== undefined) opts.apiSecret = flags.apiSecret;
  if (flags.paused === true) opts.paused = true;
  if (flags.fillOnSubsteps === true) opts.fillOnSubSteps = true;
  return opts;
}

/** The start banner: URLs, key pair, data and admin endpoints. */
export function simulatorBanner(sim: Simulator, opts: SimulatorOptions): string {
  return [
    `perpbot simulator: Binance USDⓈ-M futures on ${sim.url}`,
    `  REST       ${sim.url}            (USDMClient { baseUrl })`,
    `  websocket  ${sim.wsUrl}              (WebsocketClient { wsUrl }: /market/stream, /public/stream, /stream, /ws, /private/stream?listenKey=, /ws/<listenKey>)`,
    `  api key    ${sim.apiKey}`,
    `  api secret ${sim.apiSecret}`,
    `  symbols    ${sim.symbols.length > 10 ? `${sim.symbols.slice(0, 10).join(', ')}, … (${sim.symbols.length})` : sim.symbols.join(', ')}; speed ×${opts.speed ?? 1}${opts.paused ? ' (paused)' : ''}${opts.fillOnSubSteps ? '; fills on sub-steps' : '; MARKET fills at the next kline open'}; data clock ${new Date(sim.dataTime()).toISOString()}`,
    '  admin (no auth, JSON):',
    ...ADMIN_ENDPOINTS.map((e) => `    ${e}`),
    '',
  ].join('\n');
}

/**
 * Add `perpbot simulator` to `program` (commander 14).
 * The action resolves when the simulator has been closed (SIGINT, SIGTERM or `hooks.stop`).
 * @returns the new sub-command
 */
export function simulatorCommand(program: Command, hooks: SimulatorCommandHooks = {}): Command {
  return program
    .command('simulator')
    .description('run a local Binance USDⓈ-M futures exchange (REST + websockets) replaying kline files, for testing live mode')
    .option('--port <n>', 'TCP port on 127.0.0.1 (0 = any free port)', '0')
    .option('--data <spec...>', 'kline CSV files: PATH or SYMBOL=PATH (Binance archive format)')
    .option('--data-dir <dir>', 'every Binance-named kline CSV in a folder (BTCUSDT-1m-….csv: one symbol per file name)')
    .option('--symbols-file <file>', 'SYMBOL=PATH lines (paths relative to the file): many symbols on few files, each file held once')
    .option('--funding-dir <dir>', 'recorded funding rates, <SYMBOL>-funding-*.csv ("none": no files; default data/funding)')
    .option('--funding-rate <r>', 'funding rate where no recorded one applies (default 0.0001)')
    .option('--exchange-info <file>', `recorded GET /fapi/v1/exchangeInfo JSON (default ${DEFAULT_SIM_EXCHANGE_INFO})`)
    .option('--speed <x>', 'data clock speed, times real time (60 = one kline per second)', '1')
    .option('--api-key <k>', `API key (default ${DEFAULT_SIM_API_KEY})`)
    .option('--api-secret <s>', `API secret (default ${DEFAULT_SIM_API_SECRET})`)
    .option('--balance <USDT>', 'starting wallet balance', '10000')
    .option('--history <n>', 'klines already closed at start (served by /fapi/v1/klines)', '500')
    .option('--steps-per-kline <n>', 'websocket updates per kline (x=false frames and mark prices)', '12')
    .option('--paused', 'start with the data clock paused (drive it with POST /admin/advance)')
    .option('--fill-on-substeps', 'fill MARKET orders at the next sub-step mark price instead of the next kline open')
    .action(async (flags: SimFlags) => {
      const opts = simulatorOptionsFromFlags(flags);
      const { startSimulator, SimulatorPortError } = await import('./server.ts'); // loaded on use: other commands start faster
      let sim: Simulator;
      try {
        sim = await startSimulator(opts);
      } catch (err) {
        // a taken port is bad input (exit 2 with the message), not a hang
        if (err instanceof SimulatorPortError) throw new ConfigError([`--port: ${err.message}`]);
        throw err;
      }
      (hooks.out ?? ((t: string) => process.stdout.write(t)))(simulatorBanner(sim, opts));
      hooks.onStarted?.(sim);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          hooks.stop?.removeEventListener('abort', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        if (hooks.stop?.aborted) stop();
        else hooks.stop?.addEventListener('abort', stop);
      });
      await sim.close();
    });
}
