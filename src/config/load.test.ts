import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { ENV_KEYS, loadConfig, redactConfig } from './load.ts';

/** Project root computed from this file's location, independently of src/core/paths.ts. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'perpbot-config-'));
}

function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Run loadConfig expecting a ConfigError; returns it. */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('loadConfig defaults', () => {
  it('an empty environment and no .env give the documented defaults', () => {
    const c = loadConfig({ env: {}, dotenvFile: null });
    expect(c.mode).toBe('replay');
    expect(c.data).toEqual([
      join(ROOT, 'data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv'),
      join(ROOT, 'data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv'),
    ]);
    for (const f of c.data) expect(existsSync(f), f).toBe(true);
    expect(c.exchangeInfo).toBe(join(ROOT, 'data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
    expect(existsSync(c.exchangeInfo)).toBe(true);
    expect(c.db).toBe(join(ROOT, 'database/perpbot.sqlite'));
    expect(c.log).toEqual({ level: 'info', dir: join(ROOT, 'logs'), file: true, rotateSize: '10m', keep: 14 });
    expect(c.heartbeat).toEqual({ file: join(ROOT, 'status/heartbeat.json'), intervalMs: 5000, staleAfterMs: 30000 });
    expect(c.strategies).toEqual([{ id: 'vwap-adx', name: 'vwap-adx', symbols: [], params: {} }]);
    expect(c.sizing).toEqual({ mode: 'fixed_notional', notional: '1000', equityFraction: '0.1', leverage: 5 });
    expect(c.risk).toEqual({
      maxOpenPositions: 2,
      maxNotionalPerSymbol: '5000',
      maxDailyQuantity: {},
      dailyLossLimit: '300',
      maxConsecutiveLosses: 4,
      haltCooldownMinutes: 240,
      fundingBlackoutMinutes: 5,
      maxSignalAgeMs: 60_000,
      exchangeStop: true,
    });
    expect(c.sim).toEqual({ takerFeeRate: '0.0005', makerFeeRate: '0.0002', slippageBps: '1', startingBalance: '10000' });
    expect(c.recordCandles).toBe(true);
    expect(c.alerts).toEqual({ slackToken: '', slackChannel: '', slackApiUrl: 'https://slack.com/api/', dailySummaryCron: '0 0 * * *', largeLoss: '200', orderUnknownSeconds: 30, streamStaleSeconds: 60, maxPerMinute: 20 });
  });

  it('a .env path that does not exist is ignored', () => {
    const dir = tempDir();
    const c = loadConfig({ env: {}, dotenvFile: join(dir, 'no-such.env') });
    expect(c.mode).toBe('replay');
    expect(c.sizing.notional).toBe('1000');
  });

  it('list and JSON variables are parsed; JSON numbers are accepted as decimals', () => {
    const c = loadConfig({
      env: {
        PERPBOT_DATA: ' /a.csv, BTCUSDT=/b.csv ,,',
        PERPBOT_STRATEGIES: '[{"id":"s1","name":"vwap-adx","symbols":["BTCUSDT"],"params":{"bandK":2.5}}]',
        PERPBOT_RISK_MAX_DAILY_QUANTITY: '{"BTCUSDT":"0.5","ETHUSDT":3}',
        PERPBOT_LOG_FILE: '0',
        PERPBOT_RECORD_CANDLES: 'false',
      },
      dotenvFile: null,
    });
    expect(c.data).toEqual(['/a.csv', 'BTCUSDT=/b.csv']);
    expect(c.strategies).toEqual([{ id: 's1', name: 'vwap-adx', symbols: ['BTCUSDT'], params: { bandK: 2.5 } }]);
    expect(c.risk.maxDailyQuantity).toEqual({ BTCUSDT: '0.5', ETHUSDT: '3' });
    expect(c.log.file).toBe(false);
    expect(c.recordCandles).toBe(false);
  });
});

describe('loadConfig precedence: file < .env < environment < overrides', () => {
  it('each layer overrides the one below, key by key, nested objects merged', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'config.json', {
      mode: 'paper',
      db: '/from/file.sqlite',
      exchangeInfo: '/from/file-info.json',
      log: { level: 'debug', keep: 3 },
      sizing: { notional: '10', leverage: 7 },
    });
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, ['PERPBOT_DB=/from/dotenv.sqlite', 'PERPBOT_LOG_LEVEL=warn', 'PERPBOT_SIZING_NOTIONAL=20', 'SLACK_CHANNEL=#dotenv'].join('\n'));
    const c = loadConfig({
      file,
      dotenvFile: dotenv,
      env: { PERPBOT_LOG_LEVEL: 'error', PERPBOT_SIZING_NOTIONAL: '30', SLACK_CHANNEL: '#env' },
      overrides: { 'sizing.notional': '40', db: undefined },
    });
    expect(c.mode).toBe('paper'); // file only
    expect(c.exchangeInfo).toBe('/from/file-info.json'); // file only
    expect(c.log.keep).toBe(3); // file, not touched by the env's log.level
    expect(c.sizing.leverage).toBe(7); // file, not touched by the sizing.notional layers
    expect(c.db).toBe('/from/dotenv.sqlite'); // .env over file (an undefined override is ignored)
    expect(c.log.level).toBe('error'); // env over .env over file
    expect(c.alerts.slackChannel).toBe('#env');
    expect(c.sizing.notional).toBe('40'); // override over everything
  });

  it('the file can also come from PERPBOT_CONFIG, and sources.file wins over it', () => {
    const dir = tempDir();
    const a = writeJson(dir, 'a.json', { mode: 'paper' });
    const b = writeJson(dir, 'b.json', { mode: 'live' });
    expect(loadConfig({ env: { PERPBOT_CONFIG: a }, dotenvFile: null }).mode).toBe('paper');
    expect(loadConfig({ file: b, env: { PERPBOT_CONFIG: a }, dotenvFile: null }).mode).toBe('live');
  });
});

describe('loadConfig errors name the key, the origin and the value', () => {
  it('a daily summary schedule that is not cron; empty turns it off', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_DAILY_SUMMARY_CRON: 'daily at midnight' }, dotenvFile: null }));
    expect(e.issues).toEqual(['alerts.dailySummaryCron (from PERPBOT_DAILY_SUMMARY_CRON): got "daily at midnight", expected a cron expression like "0 0 * * *" (UTC), or empty for none']);
    expect(loadConfig({ env: { PERPBOT_DAILY_SUMMARY_CRON: '' }, dotenvFile: null }).alerts.dailySummaryCron).toBe('');
    expect(loadConfig({ env: { PERPBOT_DAILY_SUMMARY_CRON: '30 0 * * *' }, dotenvFile: null }).alerts.dailySummaryCron).toBe('30 0 * * *');
  });
  it('bad enum from the environment', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_MODE: 'backtest' }, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.issues).toEqual(['mode (from PERPBOT_MODE): got "backtest", expected one of "replay", "paper", "live"']);
    expect(e.message).toBe('invalid configuration:\n  - mode (from PERPBOT_MODE): got "backtest", expected one of "replay", "paper", "live"');
  });

  it('bad enum from a JSON file names the file path', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { sizing: { mode: 'all_in' } });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues).toEqual([`sizing.mode (from ${file}): got "all_in", expected one of "fixed_notional", "equity_fraction"`]);
  });

  for (const bad of ['abc', '-5', '1,5', '']) {
    it(`bad decimal ${JSON.stringify(bad)}`, () => {
      const e = configError(() => loadConfig({ env: { PERPBOT_SIZING_NOTIONAL: bad }, dotenvFile: null }));
      expect(e.issues).toEqual([
        `sizing.notional (from PERPBOT_SIZING_NOTIONAL): got ${JSON.stringify(bad)}, expected a non-negative decimal number, e.g. "1000"`,
      ]);
    });
  }

  it('a negative JSON number is rejected naming the file and the value', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { risk: { dailyLossLimit: -5 } });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues).toEqual([`risk.dailyLossLimit (from ${file}): got -5, expected a non-negative decimal number, e.g. "1000"`]);
  });

  it('a non-finite number (JSON 1e999 = Infinity, NaN override) is rejected', () => {
    const dir = tempDir();
    const file = join(dir, 'cfg.json');
    writeFileSync(file, '{"sizing": {"notional": 1e999}}');
    const e1 = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e1.issues).toHaveLength(1);
    expect(e1.issues[0]).toMatch(new RegExp(`^sizing\\.notional \\(from ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): `));
    const e2 = configError(() => loadConfig({ env: {}, dotenvFile: null, overrides: { 'sizing.notional': Number.NaN } }));
    expect(e2.issues).toHaveLength(1);
    expect(e2.issues[0]).toMatch(/^sizing\.notional \(from --sizing-notional\): /);
  });

  // BUG (src/config/load.ts formatIssues/show + schema.ts decimalString): zod's z.number() rejects
  // NaN/Infinity before the transform runs, so the issue is an invalid_union "Invalid input", and
  // show() renders the value with JSON.stringify, which turns Infinity/NaN into "null".
  // Actual: `sizing.notional (from <file>): got null, expected Invalid input`.
  // Expected: the value as given (Infinity) and what is expected (a non-negative decimal number).
  it('a non-finite number is reported with its value and the decimal expectation, not "got null, expected Invalid input"', () => {
    const dir = tempDir();
    const file = join(dir, 'cfg.json');
    writeFileSync(file, '{"sizing": {"notional": 1e999}}');
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues[0]).not.toContain('got null');
    expect(e.issues[0]).toContain('expected a non-negative decimal number');
  });

  it('bad integers: fraction, not a number, out of range, zero', () => {
    const e = configError(() =>
      loadConfig({
        env: { PERPBOT_LOG_KEEP: '2.5', PERPBOT_SIZING_LEVERAGE: 'abc', PERPBOT_RISK_MAX_OPEN_POSITIONS: '0', PERPBOT_HEARTBEAT_INTERVAL_MS: '-1' },
        dotenvFile: null,
      }),
    );
    expect(e.issues).toHaveLength(4);
    const byKey = (k: string) => e.issues.filter((i) => i.startsWith(`${k} `));
    expect(byKey('log.keep')).toHaveLength(1);
    expect(byKey('log.keep')[0]).toMatch(/^log\.keep \(from PERPBOT_LOG_KEEP\): got "2\.5", expected /);
    expect(byKey('sizing.leverage')[0]).toMatch(/^sizing\.leverage \(from PERPBOT_SIZING_LEVERAGE\): got "abc", expected /);
    expect(byKey('risk.maxOpenPositions')).toEqual(['risk.maxOpenPositions (from PERPBOT_RISK_MAX_OPEN_POSITIONS): got "0", expected a whole number ≥ 1']);
    expect(byKey('heartbeat.intervalMs')).toEqual(['heartbeat.intervalMs (from PERPBOT_HEARTBEAT_INTERVAL_MS): got "-1", expected milliseconds ≥ 1']);
    const e2 = configError(() => loadConfig({ env: { PERPBOT_SIZING_LEVERAGE: '200' }, dotenvFile: null }));
    expect(e2.issues).toEqual(['sizing.leverage (from PERPBOT_SIZING_LEVERAGE): got "200", expected a whole number 1–125']);
  });

  // BUG (src/config/load.ts formatIssues, the `issue.code === 'invalid_type'` branch): zod 4 reports
  // a non-integer as invalid_type (expected "int"), and formatIssues replaces the schema's own
  // message by `a ${issue.expected}`. Input PERPBOT_LOG_KEEP=2.5.
  // Actual: `log.keep (from PERPBOT_LOG_KEEP): got "2.5", expected a int`.
  // Expected: the schema's text, `expected a whole number ≥ 1`.
  it('a fractional integer keeps the schema message ("a whole number ≥ 1")', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_LOG_KEEP: '2.5' }, dotenvFile: null }));
    expect(e.issues).toEqual(['log.keep (from PERPBOT_LOG_KEEP): got "2.5", expected a whole number ≥ 1']);
  });

  // BUG (src/config/schema.ts positiveInt/nonNegInt use z.coerce.number): Number('') is 0, so an
  // empty integer variable (a `PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES=` line in .env) is accepted as 0,
  // which switches the consecutive-loss halt OFF; decimal keys reject '' (see above).
  // Actual: risk.maxConsecutiveLosses = 0, no error. Expected: a ConfigError naming the key.
  it('an empty integer variable is an error, not a silent 0 that disables a risk control', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES: '' }, dotenvFile: null }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatch(/^risk\.maxConsecutiveLosses \(from PERPBOT_RISK_MAX_CONSECUTIVE_LOSSES\): got "", expected /);
  });

  it('unknown keys in the JSON file are errors naming the key', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { modee: 'replay', risk: { maxOpenPosition: 3 } });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.issues).toHaveLength(2);
    expect(e.issues).toContain(`modee (from ${file}): unknown key`);
    expect(e.issues.some((i) => i.startsWith('risk.maxOpenPosition') && i.endsWith('unknown key'))).toBe(true);
  });

  // BUG (src/config/load.ts formatIssues, unrecognized_keys branch): the origin is looked up only by
  // the full path (`risk.maxOpenPosition`), never by its top-level key, so a nested unknown key in
  // the file is reported without the file. Input file {"risk":{"maxOpenPosition":3}}.
  // Actual: `risk.maxOpenPosition: unknown key`. Expected: `risk.maxOpenPosition (from <file>): unknown key`.
  it('a nested unknown key in the file names the file', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { risk: { maxOpenPosition: 3 } });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues).toEqual([`risk.maxOpenPosition (from ${file}): unknown key`]);
  });

  // BUG (src/config/load.ts formatIssues: `origins.get(key) ?? origins.get(String(issue.path[0]))`):
  // a bad value deeper than the key a variable set (PERPBOT_RISK_MAX_DAILY_QUANTITY sets
  // `risk.maxDailyQuantity`, the issue is at `risk.maxDailyQuantity.BTCUSDT`) falls back to the
  // origin of `risk`, which is the config file when the file has a `risk` section.
  // Actual: `risk.maxDailyQuantity.BTCUSDT (from <file>): got "abc", …` (and no origin at all when
  // the file has no `risk`). Expected: `(from PERPBOT_RISK_MAX_DAILY_QUANTITY)`.
  it('a bad value inside a JSON variable names that variable, not the config file', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { risk: { maxOpenPositions: 3 } });
    const e = configError(() =>
      loadConfig({ file, env: { PERPBOT_RISK_MAX_DAILY_QUANTITY: '{"BTCUSDT":"abc"}' }, dotenvFile: null }),
    );
    expect(e.issues).toEqual([
      'risk.maxDailyQuantity.BTCUSDT (from PERPBOT_RISK_MAX_DAILY_QUANTITY): got "abc", expected a non-negative decimal number, e.g. "1000"',
    ]);
  });

  it('a bad value nested in the file names the file (top-level origin)', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { heartbeat: { staleAfterMs: 'soon' } });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]).toMatch(new RegExp(`^heartbeat\\.staleAfterMs \\(from ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): got "soon", expected `));
  });

  it('a bad strategy entry in PERPBOT_STRATEGIES names the element path and the variable', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_STRATEGIES: '[{"id":"BAD","name":"vwap-adx"}]' }, dotenvFile: null }));
    expect(e.issues).toEqual(['strategies.0.id (from PERPBOT_STRATEGIES): got "BAD", expected 1–16 chars of a-z, 0-9 and -']);
  });

  it('an unknown PERPBOT_ variable is an error with a "did you mean" hint; other variables are ignored', () => {
    const e = configError(() =>
      loadConfig({ env: { PERPBOT_SIZING_NOTINAL: '5', HOME: '/home/x', PATH: '/bin', PERPBOT_CONFIG: undefined }, dotenvFile: null }),
    );
    expect(e.issues).toEqual([
      "PERPBOT_SIZING_NOTINAL: unknown variable (did you mean PERPBOT_SIZING_NOTIONAL?); see the README's configuration table",
    ]);
  });

  it('an unknown PERPBOT_ variable far from every known name has no hint', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_COMPLETELY_UNRELATED_THING: '1' }, dotenvFile: null }));
    expect(e.issues).toEqual(["PERPBOT_COMPLETELY_UNRELATED_THING: unknown variable; see the README's configuration table"]);
  });

  it('an unknown PERPBOT_ variable in the .env file is reported too', () => {
    const dir = tempDir();
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, 'PERPBOT_LOG_LEVL=debug\n');
    const e = configError(() => loadConfig({ env: {}, dotenvFile: dotenv }));
    expect(e.issues).toEqual(["PERPBOT_LOG_LEVL: unknown variable (did you mean PERPBOT_LOG_LEVEL?); see the README's configuration table"]);
  });

  it('bad JSON in PERPBOT_STRATEGIES', () => {
    const e = configError(() => loadConfig({ env: { PERPBOT_STRATEGIES: '[{"id": "a",' }, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.issues).toEqual(['strategies (from PERPBOT_STRATEGIES): got "[{\\"id\\": \\"a\\",", expected JSON (syntax error at character 12)']);
  });

  it('a missing config file → CONFIG_FILE naming the path and ENOENT', () => {
    const dir = tempDir();
    const file = join(dir, 'missing.json');
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.issues).toEqual([`config file ${file}: cannot be read (ENOENT)`]);
  });

  it('a directory as config file → CONFIG_FILE (EISDIR)', () => {
    const dir = tempDir();
    const sub = join(dir, 'cfg.json');
    mkdirSync(sub);
    const e = configError(() => loadConfig({ file: sub, env: {}, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.issues).toEqual([`config file ${sub}: cannot be read (EISDIR)`]);
  });

  it('invalid JSON and a non-object top level → CONFIG_FILE naming the path', () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"mode": "replay",}');
    const e1 = configError(() => loadConfig({ file: bad, env: {}, dotenvFile: null }));
    expect(e1.code).toBe('CONFIG_FILE');
    expect(e1.issues).toHaveLength(1);
    expect(e1.issues[0]!.startsWith(`config file ${bad}: not valid JSON (`)).toBe(true);
    for (const top of [[1, 2], null, 'replay', 5]) {
      const f = writeJson(dir, 'top.json', top);
      const e = configError(() => loadConfig({ file: f, env: {}, dotenvFile: null }));
      expect(e.code).toBe('CONFIG_FILE');
      expect(e.issues).toEqual([`config file ${f}: expected a JSON object at the top level`]);
    }
  });

  it('several problems are reported at once', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { db: '', extra: 1 });
    const e = configError(() =>
      loadConfig({
        file,
        env: { PERPBOT_MODE: 'x', PERPBOT_SIM_TAKER_FEE_RATE: 'high', PERPBOT_NOPE: '1', PERPBOT_STRATEGIES: '{' },
        dotenvFile: null,
        overrides: { 'log.level': 'loud' },
      }),
    );
    expect(e.code).toBe('CONFIG_INVALID');
    const dbIssue = e.issues.filter((i) => i.startsWith('db '));
    expect(dbIssue).toHaveLength(1);
    expect(dbIssue[0]!.startsWith(`db (from ${file}): got "", expected `)).toBe(true);
    expect(e.issues.filter((i) => !i.startsWith('db ')).sort()).toEqual(
      [
        'PERPBOT_NOPE: unknown variable (did you mean PERPBOT_MODE?); see the README\'s configuration table',
        'strategies (from PERPBOT_STRATEGIES): got "{", expected JSON (syntax error at character 1)',
        'mode (from PERPBOT_MODE): got "x", expected one of "replay", "paper", "live"',
        'sim.takerFeeRate (from PERPBOT_SIM_TAKER_FEE_RATE): got "high", expected a non-negative decimal number, e.g. "1000"',
        'log.level (from --log-level): got "loud", expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent"',
        `extra (from ${file}): unknown key`,
      ].sort(),
    );
    // One line per issue in the message.
    expect(e.message.split('\n')).toHaveLength(1 + 7);
  });
});

describe('secrets', () => {
  it('SLACK_BOT_TOKEN is loaded but never appears in an error message', () => {
    expect(ENV_KEYS.SLACK_BOT_TOKEN).toEqual({ key: 'alerts.slackToken', kind: 'string', secret: true });
    expect(loadConfig({ env: { SLACK_BOT_TOKEN: TOKEN }, dotenvFile: null }).alerts.slackToken).toBe(TOKEN);
    const e = configError(() =>
      loadConfig({ env: { SLACK_BOT_TOKEN: TOKEN, PERPBOT_MODE: 'bad', PERPBOT_SIZING_NOTIONAL: 'x', PERPBOT_TYPO: '1' }, dotenvFile: null }),
    );
    expect(e.issues).toHaveLength(3);
    expect(e.message).not.toContain(TOKEN);
    expect(e.message).not.toContain('xoxb-');
    expect(JSON.stringify(e.issues)).not.toContain(TOKEN);
    expect(JSON.stringify(e.details)).not.toContain(TOKEN);
  });

  it('the environment token replaces a wrong-typed file value; the remaining error does not carry the token', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { alerts: { slackToken: 42 }, mode: 'bad' });
    const e = configError(() => loadConfig({ file, env: { SLACK_BOT_TOKEN: TOKEN }, dotenvFile: null }));
    // env overrides the file's 42 with the token string; only the mode is wrong.
    expect(e.issues).toEqual([`mode (from ${file}): got "bad", expected one of "replay", "paper", "live"`]);
    expect(e.message).not.toContain(TOKEN);
  });

  // BUG (src/config/load.ts loadConfig, the JSON.parse catch): V8's SyntaxError message quotes the
  // text around the error, and it is copied into the ConfigError. A config file
  // `{"alerts": {"slackToken": 'xoxb-…'}}` (single quotes) gives
  // `config file …: not valid JSON (Unexpected token ''', ..."ckToken": 'xoxb-1234567"... is not valid JSON)`.
  // Expected: no part of the token in the message.
  it('a syntax error next to the token in the config file does not leak the token', () => {
    const dir = tempDir();
    const file = join(dir, 'cfg.json');
    writeFileSync(file, `{"alerts": {"slackToken": '${TOKEN}'}}`);
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.code).toBe('CONFIG_FILE');
    expect(e.message).not.toContain('xoxb-');
  });

  // BUG (src/config/load.ts show): only keys matching /token|secret|key$/ are masked, so a token put
  // one level too high (`"alerts": "xoxb-…"`) is printed in full: `alerts (from <file>): got "xoxb-…", expected a object`.
  // Expected: a Slack token never appears in an error message.
  it('a token given in place of the alerts object is not echoed', () => {
    const dir = tempDir();
    const file = writeJson(dir, 'cfg.json', { alerts: TOKEN });
    const e = configError(() => loadConfig({ file, env: {}, dotenvFile: null }));
    expect(e.issues).toHaveLength(1);
    expect(e.message).not.toContain(TOKEN);
  });

  it('redactConfig masks the token, keeps everything else, and does not touch the original', () => {
    const c = loadConfig({ env: { SLACK_BOT_TOKEN: TOKEN, SLACK_CHANNEL: '#alerts' }, dotenvFile: null });
    const r = redactConfig(c);
    expect((r.alerts as Record<string, unknown>).slackToken).toBe('***');
    expect((r.alerts as Record<string, unknown>).slackChannel).toBe('#alerts');
    expect(JSON.stringify(r)).not.toContain(TOKEN);
    expect(r.sizing).toEqual(c.sizing);
    expect(r.data).toEqual(c.data);
    expect(c.alerts.slackToken).toBe(TOKEN);
    // An empty token stays empty (nothing to hide).
    const r2 = redactConfig(loadConfig({ env: {}, dotenvFile: null }));
    expect((r2.alerts as Record<string, unknown>).slackToken).toBe('');
  });
});

describe('risk.exchangeStop', () => {
  it('is on by default and turned off by PERPBOT_RISK_EXCHANGE_STOP=false; a bad value names the key', () => {
    expect(loadConfig({ env: {}, dotenvFile: null }).risk.exchangeStop).toBe(true);
    expect(loadConfig({ env: { PERPBOT_RISK_EXCHANGE_STOP: 'false' }, dotenvFile: null }).risk.exchangeStop).toBe(false);
    expect(() => loadConfig({ env: { PERPBOT_RISK_EXCHANGE_STOP: 'maybe' }, dotenvFile: null })).toThrow(/risk\.exchangeStop/);
  });
});
