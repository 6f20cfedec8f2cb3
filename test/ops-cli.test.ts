/**
 * End-to-end checks of what a new user runs into: the real CLI (the build of the current sources,
 * see test/global-setup.ts) in a child process, files in a temp folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { backtestDatabase, statusWord } from '../src/cli/main.ts';
import { loadConfig } from '../src/config/load.ts';

const BIN = projectPath('bin/perpbot.js');
const AVAX_HEAD = projectPath('src/market/fixtures/AVAXUSDT-1m-2025-02-head.csv');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-ops-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function perpbot(args: string[], env: Record<string, string> = {}, bin = BIN) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, PERPBOT_LOG_FILE: 'false', PERPBOT_HEARTBEAT_FILE: join(dir, 'hb.json'), ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('perpbot --version', () => {
  it("prints package.json's version, from the build", () => {
    const version = (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
    const r = perpbot(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
    expect(existsSync(projectPath('dist/perpbot.js'))).toBe(true);
  });
  it('the same from the sources (PERPBOT_FROM_SOURCE=1)', () => {
    const r = perpbot(['--version'], { PERPBOT_FROM_SOURCE: '1' });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('perpbot status on a stopped bot', () => {
  it('says STOPPED, not STALE, even when the heartbeat is old', () => {
    const f = join(dir, 'old-stopped.json');
    writeFileSync(f, JSON.stringify({ status: 'stopped', statusReason: null, time: '2026-01-01T00:00:00.000Z', timeMs: Date.now() - 3_600_000, pid: 1, mode: 'replay', runId: 'r', sources: {}, database: { ok: true, detail: 'ok' }, risk: { state: 'ACTIVE', reason: null }, positions: {}, openOrders: [], lastError: null }));
    const r = perpbot(['status', '--file', f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^STOPPED: heartbeat 36\d\ds old/); // an hour old (a second more under load)
    expect(statusWord('ok', true)).toBe('STALE');
    expect(statusWord('stopped', true)).toBe('STOPPED');
    expect(statusWord('halted', false)).toBe('HALTED');
  });
  it('reads heartbeat.file from the environment without loading the whole config', () => {
    const r = perpbot(['status'], { PERPBOT_HEARTBEAT_FILE: join(dir, 'none.json') });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(join(dir, 'none.json'));
    const bad = perpbot(['status'], { PERPBOT_HEARTBEAT_STALE_AFTER_MS: 'soon' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/heartbeat\.staleAfterMs \(from PERPBOT_HEARTBEAT_STALE_AFTER_MS\): got "soon"/);
  });
});

describe('perpbot backtest', () => {
  it('--data on a missing file says that it does not exist', () => {
    const r = perpbot(['backtest', '--data', '/nonexistent.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kline file \/nonexistent\.csv does not exist/);
  });
  it("without a database of its own, gets a new file per run, never the bot's database/perpbot.sqlite", () => {
    const cfg = loadConfig({ env: {}, dotenvFile: null });
    expect(cfg.db).toBe(projectPath('database', 'perpbot.sqlite'));
    const a = backtestDatabase(cfg, Date.UTC(2026, 11, 3, 17, 0, 0));
    const b = backtestDatabase(cfg, Date.UTC(2026, 11, 3, 17, 0, 0));
    expect(a.db).toMatch(/database[\\/]backtests[\\/]backtest-20261203T170000-[0-9a-f]{6}\.sqlite$/);
    expect(a.db).not.toBe(b.db);
    const own = loadConfig({ env: { PERPBOT_DB: join(dir, 'mine.sqlite') }, dotenvFile: null });
    expect(backtestDatabase(own).db).toBe(join(dir, 'mine.sqlite'));
  });
  it('the report names the per-run database it wrote', () => {
    const r = perpbot(['backtest', '--json', '--data', `AVAXUSDT=${AVAX_HEAD}`]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { dbFile?: string; database?: string };
    const file = report.database ?? report.dbFile ?? '';
    expect(file).toMatch(/backtests[\\/]backtest-.*\.sqlite$/);
    expect(existsSync(file)).toBe(true);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  });
});

describe('perpbot db', () => {
  it('migrate on a new file says it created it, then that it is up to date', () => {
    const f = join(dir, 'new', 'x.sqlite');
    const a = perpbot(['db', 'migrate', '--db', f]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(`created database ${f} (migrations applied)\n`);
    const b = perpbot(['db', 'migrate', '--db', f]);
    expect(b.stdout).toBe(`database ${f} is up to date\n`);
  });
  it('backup copies the database (online backup) into a new file that opens on its own, and never overwrites', () => {
    const f = join(dir, 'b.sqlite');
    expect(perpbot(['db', 'migrate', '--db', f]).code).toBe(0);
    const live = new Database(f);
    live.pragma('journal_mode = WAL');
    live.prepare("insert into runs (id, mode, started_at, status, config_json) values ('r1', 'replay', 1, 'running', '{}')").run();
    const out = join(dir, 'backups', 'b1.sqlite');
    const r = perpbot(['db', 'backup', '--db', f, '--out', out]);
    live.close();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backed up .* to .*b1\.sqlite \(\d+ pages, \d+ bytes\)/);
    const copy = new Database(out, { readonly: true });
    expect((copy.prepare('select id from runs').all() as Array<{ id: string }>).map((x) => x.id)).toEqual(['r1']);
    copy.close();
    const again = perpbot(['db', 'backup', '--db', f, '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out: .* already exists/);
    const none = perpbot(['db', 'backup', '--db', join(dir, 'nope.sqlite'), '--out', join(dir, 'x.sqlite')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/does not exist/);
  });
});

describe('perpbot flatten', () => {
  it('without --yes refuses and says why, not "invalid configuration"', () => {
    const r = perpbot(['flatten']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/invalid configuration/);
    expect(r.stderr).toMatch(/flatten sends real orders .* nothing was done; run `perpbot flatten --yes`/);
  });
});
