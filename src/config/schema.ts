/**
 * The one configuration schema of perpbot (zod). Every key has a safe default, so the bot runs
 * with no configuration at all: replay of the bundled real BTCUSDT/ETHUSDT data, simulated venue,
 * SQLite in database/perpbot.sqlite, heartbeat in status/heartbeat.json. Default paths are inside
 * the project folder; paths given by the user are taken as given (relative to the working directory).
 *
 * Units: money in the quote asset (USDT) as decimal strings, quantities in the base asset as
 * decimal strings, durations in the unit their name says (`…Ms`, `…Minutes`).
 */
import cron from 'node-cron';
import { z } from 'zod';
import { isDecimalString } from '../core/decimal.ts';
import { projectPath } from '../core/paths.ts';

/** A non-negative decimal given as a string ("1000", "0.0005") or a JSON number. */
export const decimalString = (what = 'a non-negative decimal number, e.g. "1000"') =>
  z.unknown().transform((v, ctx) => {
      const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : String(v)) : typeof v === 'string' ? v.trim() : '';
      if (!isDecimalString(s) || s.startsWith('-')) {
        ctx.addIssue({ code: 'custom', message: `expected ${what}` });
        return z.NEVER;
      }
      return s;
    });

/** An empty or blank string is not a number (coercion would read it as 0 and silently switch a limit off). */
const blankToNaN = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v);
const positiveInt = (what: string) =>
  z.preprocess(blankToNaN, z.coerce.number({ error: `expected ${what}` }).int(`expected ${what}`).positive(`expected ${what}`));
const nonNegInt = (what: string) =>
  z.preprocess(blankToNaN, z.coerce.number({ error: `expected ${what}` }).int(`expected ${what}`).min(0, `expected ${what}`));
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');

/** One strategy instance set: a registered strategy, the symbols it trades, its parameters. */
export const strategyConfigSchema = z.strictObject({
  /** Instance id, used in topics (`signal.<id>`), client order ids and the database. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,15}$/, 'expected 1–16 chars of a-z, 0-9 and -'),
  /** Registered strategy name, e.g. `vwap-adx`. */
  name: z.string().min(1),
  /** Symbols it trades; empty = every symbol of the run. */
  symbols: z.array(z.string().regex(/^[A-Z0-9]{2,30}$/, 'expected an upper-case symbol like BTCUSDT')).default([]),
  /** Strategy parameters, validated by the strategy's own schema. */
  params: z.record(z.string(), z.unknown()).default({}),
  /**
   * A user's strategy module (a .ts or .js file, relative to the working directory) exporting a
   * StrategyDefinition as `default` or `strategy`; loaded at start (strategies/loader.ts). Its
   * definition's `name` must equal `name`.
   */
  module: z.string().min(1).optional(),
});

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a UTC time "HH:MM" (00:00 … 23:59)');
const toMinutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

/**
 * One symbol's trading session (`sessions.<SYMBOL>`), hours in UTC: entries only from `open` to
 * `close` (a close at or before the open runs past midnight) on the listed weekdays; with
 * `alignBars` the strategy's multi-timeframe bars align to `open` instead of 00:00 UTC.
 * Parsed into strategies/bars/session.ts `TradingSession` (minutes after midnight).
 */
export const sessionConfigSchema = z
  .strictObject({
    open: hhmm,
    close: hhmm,
    /** UTC weekdays a session opens on, 0 = Sunday … 6 = Saturday; default every day. */
    days: z.array(z.number().int().min(0).max(6)).min(1).default([0, 1, 2, 3, 4, 5, 6]),
    alignBars: bool.default(false),
  })
  .transform((s) => ({ openMinute: toMinutes(s.open), closeMinute: toMinutes(s.close), days: s.days, alignBars: s.alignBars }));

/**
 * The whole configuration. Strict at every level: an unknown key is an error, not ignored.
 * README "Configuration" lists every key with its environment variable and default.
 */
export const configSchema = z.strictObject({
  /** Run mode: `replay` (recorded data, simulated venue), `paper` (Binance market data, simulated venue), `live`. */
  mode: z.enum(['replay', 'paper', 'live']).default('replay'),
  /** Symbols traded in paper and live modes (replay takes its symbols from the data files). */
  symbols: z
    .array(z.string().regex(/^[A-Z0-9]{2,30}$/, 'expected an upper-case symbol like BTCUSDT'))
    .min(1, 'expected at least one symbol')
    .default(['BTCUSDT', 'ETHUSDT']),
  /** Kline data for replay: paths or SYMBOL=path, Binance kline CSV (12-column archive or 6-column prefix). */
  data: z.array(z.string().min(1)).default([projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'), projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv')]),
  /** A recorded GET /fapi/v1/exchangeInfo response; its filters are enforced on every order. */
  exchangeInfo: z.string().min(1).default(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json')),
  /** SQLite database file. */
  db: z.string().min(1).default(projectPath('database/perpbot.sqlite')),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Folder of the rotating log files. */
      dir: z.string().min(1).default(projectPath('logs')),
      /** Write rotating files under `dir`. */
      file: bool.default(true),
      /** Rotate when a file reaches this size (pino-roll syntax: "10m", "1g"). */
      rotateSize: z.string().regex(/^\d+[kmg]?$/i, 'expected a size like "10m"').default('10m'),
      /** Rotation files kept. */
      keep: positiveInt('a whole number ≥ 1').default(14),
    })
    .prefault({}),
  heartbeat: z
    .strictObject({
      file: z.string().min(1).default(projectPath('status/heartbeat.json')),
      /** Write interval, ms. */
      intervalMs: positiveInt('milliseconds ≥ 1').default(5_000),
      /** `perpbot status` calls a heartbeat older than this stale, ms. */
      staleAfterMs: positiveInt('milliseconds ≥ 1').default(30_000),
    })
    .prefault({}),
  /**
   * Trading sessions by symbol (UTC hours): no entries outside them (the strategy host refuses
   * them); optionally bars aligned to the session open. Symbols not listed trade around the clock.
   */
  sessions: z.record(z.string().regex(/^[A-Z0-9]{2,30}$/, 'expected an upper-case symbol like BTCUSDT'), sessionConfigSchema).default({}),
  strategies: z
    .array(strategyConfigSchema)
    .min(1, 'expected at least one strategy')
    .default([{ id: 'vwap-adx', name: 'vwap-adx', symbols: [], params: {} }]),
  sizing: z
    .strictObject({
      /** `fixed_notional`: every entry is `notional` USDT; `equity_fraction`: equity × fraction × leverage. */
      mode: z.enum(['fixed_notional', 'equity_fraction']).default('fixed_notional'),
      /** Entry notional, USDT, for fixed_notional. */
      notional: decimalString().default('1000'),
      /** Fraction of equity per entry (0–1), for equity_fraction. */
      equityFraction: decimalString('a decimal fraction between 0 and 1, e.g. "0.1"').default('0.1'),
      /** Leverage applied to equity_fraction sizing (1–125). */
      leverage: z
        .preprocess(blankToNaN, z.coerce.number({ error: 'expected a whole number 1–125' }).int('expected a whole number 1–125').min(1, 'expected a whole number 1–125').max(125, 'expected a whole number 1–125'))
        .default(5),
    })
    .prefault({}),
  risk: z
    .strictObject({
      /** Most open positions across symbols. */
      maxOpenPositions: positiveInt('a whole number ≥ 1').default(2),
      /** Largest absolute position notional per symbol after an order, USDT (at the reference price). */
      maxNotionalPerSymbol: decimalString().default('5000'),
      /** Most base-asset quantity opened per symbol per UTC day, by symbol; symbols not listed have no cap. */
      maxDailyQuantity: z.record(z.string(), decimalString()).default({}),
      /** Per strategy: entries stop for the UTC day once its realized PnL net of fees reaches −this, USDT; 0 = off. */
      dailyLossLimit: decimalString().default('300'),
      /** After this many losing round trips in a row, trading goes to REDUCING (exits only). 0 = off. */
      maxConsecutiveLosses: nonNegInt('a whole number ≥ 0').default(4),
      /** Minutes in REDUCING after a consecutive-loss halt before ACTIVE again; 0 = until an operator resumes. */
      haltCooldownMinutes: nonNegInt('a whole number ≥ 0').default(240),
      /** No new entries within this many minutes before or after a funding time (00:00, 08:00, 16:00 UTC). */
      fundingBlackoutMinutes: nonNegInt('a whole number ≥ 0').default(5),
      /** A signal whose kline closed longer ago than this is refused (stale data, e.g. a back-fill), ms. 0 = off. */
      maxSignalAgeMs: nonNegInt('milliseconds ≥ 0').default(60_000),
      /**
       * Keep a reduce-only STOP_MARKET (closePosition, mark price) on the exchange at the
       * strategy's stop level for every position (Binance Algo Order API), so a crash never leaves
       * a position unprotected. Applies in every mode (replay and paper simulate it) so that
       * replay equals live.
       */
      exchangeStop: bool.default(true),
    })
    .prefault({}),
  sim: z
    .strictObject({
      /** Taker fee rate (Binance USDⓈ-M VIP 0: 0.05%). */
      takerFeeRate: decimalString().default('0.0005'),
      /** Maker fee rate (Binance USDⓈ-M VIP 0: 0.02%). */
      makerFeeRate: decimalString().default('0.0002'),
      /** Slippage of market fills, basis points against the taker. */
      slippageBps: decimalString().default('1'),
      /** Starting wallet balance, USDT. */
      startingBalance: decimalString().default('10000'),
    })
    .prefault({}),
  /** Record every closed kline (candle_blocks, shown by the view candles_1m; idempotent). */
  recordCandles: bool.default(true),
  binance: z
    .strictObject({
      /** Which Binance: `testnet` (default) or `mainnet` (real money: needs allowMainnet). */
      env: z.enum(['testnet', 'mainnet']).default('testnet'),
      /** The explicit opt-in to trade on mainnet. Set it in the config file; no variable sets it. */
      allowMainnet: bool.default(false),
      /** REST base URL override (e.g. the local simulator, http://127.0.0.1:8080). Empty: the env's. */
      baseUrl: z.union([z.literal(''), z.url({ error: 'expected a URL like http://127.0.0.1:8080' })]).default(''),
      /** Websocket base URL override (e.g. ws://127.0.0.1:8080). Empty: the env's. */
      wsUrl: z.union([z.literal(''), z.url({ error: 'expected a URL like ws://127.0.0.1:8080' })]).default(''),
      /** recvWindow of signed requests, ms (Binance: ≤ 60000). */
      recvWindowMs: positiveInt('milliseconds 1–60000').pipe(z.number().max(60_000, 'expected milliseconds 1–60000')).default(5_000),
      /** Margin type set per symbol at start (idempotent). */
      marginType: z.enum(['ISOLATED', 'CROSSED']).default('ISOLATED'),
    })
    .prefault({}),
  live: z
    .strictObject({
      /** A market stream silent for longer than this is reconnected, ms. */
      streamSilenceMs: positiveInt('milliseconds ≥ 1').default(15_000),
      /** Websocket connections are replaced before Binance's 24 h limit, after this many minutes. */
      rotateAfterMinutes: positiveInt('minutes ≥ 1').default(23 * 60),
      /**
       * Market streams per websocket connection (2 per symbol); symbols are spread over as many
       * connections as needed. Binance allows 1024 streams per connection; 200 keeps each
       * connection's subscription in one message.
       */
      streamsPerConnection: positiveInt('streams, 2–1024').pipe(z.number().min(2, 'expected 2–1024').max(1024, 'expected 2–1024')).default(200),
      /**
       * How mark prices are subscribed: `perSymbol` (`<symbol>@markPrice@1s`, a frame per symbol a
       * second), `allMarket` (one `!markPrice@arr@1s` frame a second for every symbol), or `auto`:
       * all-market from 50 symbols on, where it costs the bot less.
       */
      markPriceStreams: z.enum(['auto', 'perSymbol', 'allMarket']).default('auto'),
      /** Longest wait between websocket reconnect attempts (exponential back-off from 0.5 s, jittered), ms. */
      reconnectMaxMs: positiveInt('milliseconds ≥ 1').pipe(z.number().min(500, 'expected ≥ 500')).default(30_000),
      /** LIMIT orders still open after this long are canceled, ms. */
      limitOrderTtlMs: positiveInt('milliseconds ≥ 1').default(60_000),
      /** Attempts per order request for retryable failures (network, 5xx, -1001, 429). */
      orderAttempts: positiveInt('a whole number ≥ 1').pipe(z.number().max(10, 'expected 1–10')).default(5),
      /** exchangeInfo (filters) is refreshed this often, minutes. */
      exchangeInfoRefreshMinutes: positiveInt('minutes ≥ 1').default(60),
      /**
       * At start, klines are back-filled from the start of the UTC session (00:00, the VWAP anchor)
       * and at least this many minutes back, so indicators start right; signals on them are refused
       * as stale. 0 = from the session start only.
       */
      warmupMinutes: nonNegInt('minutes ≥ 0').default(60),
      /** Start trading even when reconciliation with the exchange failed (not recommended). */
      forceWithoutReconcile: bool.default(false),
      /**
       * fdatasync the intent journal after each order intent, so that it survives a power loss
       * too (a process crash never loses it). Costs one disk flush per order; off by default, as
       * reconciliation adopts from the exchange any perpbot order the database lacks.
       */
      fsyncIntents: bool.default(false),
    })
    .prefault({}),
  api: z
    .strictObject({
      /** Serve the control and read API, the dashboard and /metrics in paper and live. */
      enabled: bool.default(true),
      /** Listen address. Anything but a loopback address needs PERPBOT_API_TOKEN set (else the bot refuses to start). */
      host: z.string().min(1).default('127.0.0.1'),
      /** Listen port (0 = any free port, printed in the log). */
      port: nonNegInt('a port 0–65535').pipe(z.number().max(65_535, 'expected a port 0–65535')).default(8080),
      /** Where the API token is generated at first start (mode 0600) when PERPBOT_API_TOKEN is not set. */
      tokenFile: z.string().min(1).default(projectPath('status/api-token')),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      /** 0: /metrics on the API server, behind the token. Else a separate port on 127.0.0.1 serving /metrics without a token. */
      port: nonNegInt('a port 0–65535').pipe(z.number().max(65_535, 'expected a port 0–65535')).default(0),
    })
    .prefault({}),
  alerts: z
    .strictObject({
      /** Slack bot token (xoxb-…). Empty: alerts go to the log only. Never logged. */
      slackToken: z.string().default(''),
      /** Slack channel id or name for alerts. */
      slackChannel: z.string().default(''),
      /** Slack Web API base URL (change only to test against a local server). */
      slackApiUrl: z.url({ error: 'expected a URL like https://slack.com/api/' }).default('https://slack.com/api/'),
      /**
       * When the summary of the previous UTC day is sent (paper, live): a cron expression in UTC
       * (node-cron; six fields = with seconds). Empty: no daily summary.
       */
      dailySummaryCron: z
        .string()
        .trim()
        .refine((v) => v === '' || cron.validate(v), { error: 'expected a cron expression like "0 0 * * *" (UTC), or empty for none' })
        .default('0 0 * * *'),
      /** A realized loss (one fill, net of its fee) at least this large raises a `largeLoss` alert, USDT. "0" = off. */
      largeLoss: decimalString().default('200'),
      /** An order whose outcome is still unknown after this long raises `orderOutcomeUnknown`, seconds. */
      orderUnknownSeconds: positiveInt('seconds ≥ 1').default(30),
      /** A market stream stale (silent) this long raises `streamStale`, seconds. */
      streamStaleSeconds: positiveInt('seconds ≥ 1').default(60),
      /** Most Slack messages per channel per minute; more are dropped (and counted, and logged). */
      maxPerMinute: positiveInt('messages ≥ 1').default(20),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /**
       * Paper and live: stored klines whose open time is older than this many days are deleted
       * by a node-cron job (src/jobs/candle-retention.ts). 0 = keep everything. Never in replay.
       */
      candles1mDays: nonNegInt('days ≥ 0 (0 = keep all)').default(30),
      /** When the retention job runs: a cron expression in UTC (node-cron); empty = never. */
      cron: z
        .string()
        .trim()
        .refine((v) => v === '' || cron.validate(v), { error: 'expected a cron expression like "15 0 * * *" (UTC), or empty for never' })
        .default('15 0 * * *'),
    })
    .prefault({}),
});

/** The validated configuration. */
export type Config = z.infer<typeof configSchema>;

/**
 * Rules across keys, checked after the schema: mainnet needs the explicit opt-in.
 * @returns one line per problem, in the format of the schema's errors
 */
export function crossChecks(c: Config): string[] {
  const out: string[] = [];
  if (c.mode === 'live' && c.binance.env === 'mainnet' && !c.binance.allowMainnet && c.binance.baseUrl === '') {
    out.push('binance.env: got "mainnet", expected "testnet" unless binance.allowMainnet is true in the config file (real money)');
  }
  return out;
}
/** One strategy instance's configuration. */
export type StrategyConfig = z.infer<typeof strategyConfigSchema>;
