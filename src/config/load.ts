/**
 * Loading the configuration: defaults < JSON config file (`--config`) < `.env` file < process
 * environment < command-line flags. Unknown keys in the file and unknown `PERPBOT_*` variables
 * are errors (a typo must not silently fall back to a default). Every problem is reported at once,
 * naming the key, the value and what was expected, as a {@link ConfigError} (the CLI exits 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { scrub } from '../logging/logger.ts';
import { configSchema, crossChecks, type Config } from './schema.ts';

type Kind = 'string' | 'list' | 'json';

/**
 * Environment variables and the config key each sets. `list` values are comma-separated;
 * `json` values are JSON text. This table is the source of the README's configuration table.
 */
export const ENV_KEYS: Record<string, { key: string; kind: Kind; secret?: boolean }> = {
  PERPBOT_MODE: { key: 'mode', kind: 'string' },
  PERPBOT_SYMBOLS: { key: 'symbols', kind: 'list' },
  PERPBOT_DATA: { key: 'data', kind: 'list' },
  PERPBOT_EXCHANGE_INFO: { key: 'exchangeInfo', kind: 'string' },
  PERPBOT_DB: { key: 'db', kind: 'string' },
  PERPBOT_LOG_LEVEL: { key: 'log.level', kind: 'string' },
  PERPBOT_LOG_DIR: { key: 'log.dir', kind: 'string' },
  PERPBOT_LOG_FILE: { key: 'log.file', kind: 'string' },
  PERPBOT_LOG_ROTATE_SIZE: { key: 'log.rotateSize', kind: 'string' },
  PERPBOT_LOG_KEEP: { key: 'log.keep', kind: 'string' },
  PERPBOT_HEARTBEAT_FILE: { key: 'heartbeat.file', kind: 'string' },
  PERPBOT_HEARTBEAT_INTERVAL_MS: { key: 'heartbeat.intervalMs', kind: 'string' },
  PERPBOT_HEARTBEAT_STALE_AFTER_MS: { key: 'heartbeat.staleAfterMs', kind: 'string' },
  PERPBOT_STRATEGIES: { key: 'strategies', kind: 'json' },
  PERPBOT_SESSIONS: { key: 'sessions', kind: 'json' },
  PERPBOT_SIZING_MODE: { key: 'sizing.mode', kind: 'string' },
  PERPBOT_SIZING_NOTIONAL: { key: 'sizing.notional', kind: 'string' },
  PERPBOT_SIZING_EQUITY_FRACTION: { key: 'sizing.equityFraction', kind: 'string' },
  PERPBOT_SIZING_LEVERAGE: { key: 'sizing.leverage', kind: 'string' },
  PERPBOT_RISK_MAX_OPEN_POSITIONS: { key: 'risk.maxOpenPositions', kind: 'string' },
  PERPBOT_RISK_MAX_NOTIONAL_PER_SYMBOL: { key: 'risk.maxNotionalPerSymbol', kind: 'string' },
  PERPBOT_RISK_MAX_DAILY_QUANTITY: { key: 'risk.maxDailyQuantity', kind: 'json' },
  PERPBOT_RISK_DAILY_LOSS_LIMIT: { key: 'risk.dailyLossLimit', kind: 'string' },
  PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES: { key: 'risk.maxConsecutiveLosses', kind: 'string' },
  PERPBOT_RISK_HALT_COOLDOWN_MINUTES: { key: 'risk.haltCooldownMinutes', kind: 'string' },
  PERPBOT_RISK_FUNDING_BLACKOUT_MINUTES: { key: 'risk.fundingBlackoutMinutes', kind: 'string' },
  PERPBOT_RISK_MAX_SIGNAL_AGE_MS: { key: 'risk.maxSignalAgeMs', kind: 'string' },
  PERPBOT_RISK_EXCHANGE_STOP: { key: 'risk.exchangeStop', kind: 'string' },
  PERPBOT_SIM_TAKER_FEE_RATE: { key: 'sim.takerFeeRate', kind: 'string' },
  PERPBOT_SIM_MAKER_FEE_RATE: { key: 'sim.makerFeeRate', kind: 'string' },
  PERPBOT_SIM_SLIPPAGE_BPS: { key: 'sim.slippageBps', kind: 'string' },
  PERPBOT_SIM_STARTING_BALANCE: { key: 'sim.startingBalance', kind: 'string' },
  PERPBOT_RECORD_CANDLES: { key: 'recordCandles', kind: 'string' },
  BINANCE_ENV: { key: 'binance.env', kind: 'string' },
  BINANCE_BASE_URL: { key: 'binance.baseUrl', kind: 'string' },
  BINANCE_WS_URL: { key: 'binance.wsUrl', kind: 'string' },
  PERPBOT_BINANCE_RECV_WINDOW_MS: { key: 'binance.recvWindowMs', kind: 'string' },
  PERPBOT_BINANCE_MARGIN_TYPE: { key: 'binance.marginType', kind: 'string' },
  PERPBOT_LIVE_STREAM_SILENCE_MS: { key: 'live.streamSilenceMs', kind: 'string' },
  PERPBOT_LIVE_ROTATE_AFTER_MINUTES: { key: 'live.rotateAfterMinutes', kind: 'string' },
  PERPBOT_LIVE_STREAMS_PER_CONNECTION: { key: 'live.streamsPerConnection', kind: 'string' },
  PERPBOT_LIVE_MARK_PRICE_STREAMS: { key: 'live.markPriceStreams', kind: 'string' },
  PERPBOT_LIVE_RECONNECT_MAX_MS: { key: 'live.reconnectMaxMs', kind: 'string' },
  PERPBOT_LIVE_LIMIT_ORDER_TTL_MS: { key: 'live.limitOrderTtlMs', kind: 'string' },
  PERPBOT_LIVE_ORDER_ATTEMPTS: { key: 'live.orderAttempts', kind: 'string' },
  PERPBOT_LIVE_EXCHANGE_INFO_REFRESH_MINUTES: { key: 'live.exchangeInfoRefreshMinutes', kind: 'string' },
  PERPBOT_LIVE_FORCE_WITHOUT_RECONCILE: { key: 'live.forceWithoutReconcile', kind: 'string' },
  PERPBOT_LIVE_FSYNC_INTENTS: { key: 'live.fsyncIntents', kind: 'string' },
  PERPBOT_LIVE_WARMUP_MINUTES: { key: 'live.warmupMinutes', kind: 'string' },
  SLACK_BOT_TOKEN: { key: 'alerts.slackToken', kind: 'string', secret: true },
  SLACK_CHANNEL: { key: 'alerts.slackChannel', kind: 'string' },
  PERPBOT_SLACK_API_URL: { key: 'alerts.slackApiUrl', kind: 'string' },
  PERPBOT_API_ENABLED: { key: 'api.enabled', kind: 'string' },
  PERPBOT_API_HOST: { key: 'api.host', kind: 'string' },
  PERPBOT_API_PORT: { key: 'api.port', kind: 'string' },
  PERPBOT_API_TOKEN_FILE: { key: 'api.tokenFile', kind: 'string' },
  PERPBOT_METRICS_PORT: { key: 'metrics.port', kind: 'string' },
  PERPBOT_DAILY_SUMMARY_CRON: { key: 'alerts.dailySummaryCron', kind: 'string' },
  PERPBOT_RETENTION_CANDLES_1M_DAYS: { key: 'retention.candles1mDays', kind: 'string' },
  PERPBOT_RETENTION_CRON: { key: 'retention.cron', kind: 'string' },
  PERPBOT_ALERT_LARGE_LOSS: { key: 'alerts.largeLoss', kind: 'string' },
  PERPBOT_ALERT_ORDER_UNKNOWN_SECONDS: { key: 'alerts.orderUnknownSeconds', kind: 'string' },
  PERPBOT_ALERT_STREAM_STALE_SECONDS: { key: 'alerts.streamStaleSeconds', kind: 'string' },
  PERPBOT_ALERT_MAX_PER_MINUTE: { key: 'alerts.maxPerMinute', kind: 'string' },
};

/** `PERPBOT_*` variables that are read elsewhere and are not config keys. */
const OTHER_PERPBOT_VARS = new Set(['PERPBOT_CONFIG', 'PERPBOT_API_TOKEN', 'PERPBOT_API_URL']);

/** Where configuration comes from. */
export interface ConfigSources {
  /** JSON config file path, if any. */
  file?: string;
  /** The environment (default: `process.env`). */
  env?: Record<string, string | undefined>;
  /** A `.env` file to read, if it exists (default: `.env` in the working directory). */
  dotenvFile?: string | null;
  /** Values from command-line flags, by config key path (`"db"`, `"log.level"`). Highest precedence. */
  overrides?: Record<string, unknown>;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function getPath(obj: unknown, path: (string | number)[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name`, if it is close enough to be a typo. */
function nearest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = name.startsWith(`${k}_`) || k.startsWith(name) ? 1 : distance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(3, Math.floor(name.length / 4)) ? best : undefined;
}

/** A value as shown in an error message: secrets masked (by key and by look), long values cut. */
function show(key: string, value: unknown): string {
  if (/token|secret|key$|^alerts\.slack/i.test(key) && value !== undefined && value !== '') return '"***"';
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const s = scrub(JSON.stringify(value) ?? String(value));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Where the value at `path` came from: the longest configured prefix of it. */
function originOf(origins: Origins, path: readonly PropertyKey[]): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const o = origins.get(path.slice(0, n).map(String).join('.'));
    if (o !== undefined) return o;
  }
  return undefined;
}

/** Where a JSON syntax error is, without the source text V8 quotes (it may hold a secret). */
function jsonError(err: unknown): string {
  const m = /position (\d+)/.exec((err as Error).message);
  return m ? `syntax error at character ${m[1]}` : 'syntax error';
}

/** Where a key got its value, to name it in errors (`PERPBOT_DB`, `config.json`, `--db`). */
type Origins = Map<string, string>;

/**
 * Turn zod issues into one line each: `key (from ORIGIN): got VALUE, expected WHAT`.
 */
export function formatIssues(error: z.ZodError, input: unknown, origins: Origins = new Map()): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const base = issue.path.join('.');
      return issue.keys
        .map((k) => {
          const full = base ? `${base}.${k}` : k;
          const origin = originOf(origins, [...issue.path, k]);
          return `${full}${origin ? ` (from ${origin})` : ''}: unknown key`;
        })
        .join('; ');
    }
    const key = issue.path.join('.') || '(root)';
    const origin = originOf(origins, issue.path);
    const value = getPath(input, issue.path as (string | number)[]);
    let expected = issue.message;
    if (issue.code === 'invalid_value' && 'values' in issue) expected = `one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    else if (/^expected /i.test(expected)) expected = expected.replace(/^expected /i, '');
    else if (issue.code === 'invalid_type') expected = `a ${issue.expected}`;
    return `${key}${origin ? ` (from ${origin})` : ''}: got ${show(key, value)}, expected ${expected}`;
  });
}

/**
 * Load and validate the configuration.
 * @returns the validated config
 * @throws ConfigError listing every bad, unknown or unreadable key (CLI exit code 2)
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const input: Record<string, unknown> = {};
  const origins: Origins = new Map();
  const issues: string[] = [];

  const file = sources.file ?? env.PERPBOT_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`], 'CONFIG_FILE');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new ConfigError([`config file ${file}: not valid JSON (${jsonError(err)})`], 'CONFIG_FILE');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError([`config file ${file}: expected a JSON object at the top level`], 'CONFIG_FILE');
    }
    Object.assign(input, parsed);
    for (const k of Object.keys(parsed)) origins.set(k, file);
  }

  const vars: Record<string, string | undefined> = {};
  const dotenvFile = sources.dotenvFile === undefined ? '.env' : sources.dotenvFile;
  if (dotenvFile && existsSync(dotenvFile)) {
    try {
      Object.assign(vars, parseEnv(readFileSync(dotenvFile, 'utf8')));
    } catch (err) {
      throw new ConfigError([`${dotenvFile}: cannot be read (${(err as Error).message})`], 'CONFIG_FILE');
    }
  }
  Object.assign(vars, env);

  for (const [name, raw] of Object.entries(vars)) {
    if (raw === undefined) continue;
    const spec = ENV_KEYS[name];
    if (!spec) {
      if (name.startsWith('PERPBOT_') && !OTHER_PERPBOT_VARS.has(name)) {
        const near = nearest(name, Object.keys(ENV_KEYS));
        issues.push(`${name}: unknown variable${near ? ` (did you mean ${near}?)` : ''}; see the README's configuration table`);
      }
      continue;
    }
    let value: unknown = raw;
    if (spec.kind === 'list') value = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    else if (spec.kind === 'json') {
      try {
        value = JSON.parse(raw);
      } catch (err) {
        issues.push(`${spec.key} (from ${name}): got ${show(spec.key, raw)}, expected JSON (${jsonError(err)})`);
        continue;
      }
    }
    setPath(input, spec.key, value);
    origins.set(spec.key, name);
  }

  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(input, key, value);
    origins.set(key, `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/\./g, '-')}`);
  }

  const result = configSchema.safeParse(input);
  if (!result.success) issues.push(...formatIssues(result.error, input, origins));
  else issues.push(...crossChecks(result.data));
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data!;
}

/** The config with every secret replaced by `"***"` (for logs, the database and the heartbeat). */
export function redactConfig(config: Config): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  const alerts = copy.alerts as Record<string, unknown>;
  if (alerts.slackToken) alerts.slackToken = '***';
  return copy;
}
