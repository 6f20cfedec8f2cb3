import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PerpbotError } from '../src/core/errors.ts';
import { checkDatabase, DEFAULT_CACHE_KIB, MIGRATIONS_FOLDER, openDatabase, type Db } from './client.ts';

let dir: string;
const open: Db[] = [];
function track(db: Db): Db {
  open.push(db);
  return db;
}

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'perpbot-db-'));
});
afterEach(async () => {
  for (const db of open.splice(0)) db.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const TABLES = ['candle_blocks', 'fills', 'orders', 'positions', 'risk_events', 'runs', 'signals'];

function tableNames(db: Db): string[] {
  return (db.sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map(
    (r) => r.name,
  );
}

function migrationCount(db: Db): number {
  return (db.sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n;
}

describe('openDatabase', () => {
  it('creates the parent folder, applies the migrations and sets the pragmas on a fresh file', () => {
    const file = path.join(dir, 'nested', 'deeper', 'perpbot.db');
    const db = track(openDatabase(file));
    expect(fs.existsSync(file)).toBe(true);
    expect(db.file).toBe(file);
    expect(tableNames(db)).toEqual(expect.arrayContaining([...TABLES, '__drizzle_migrations']));
    const journal = fs.readdirSync(path.join(MIGRATIONS_FOLDER, 'meta')).filter((f) => f.endsWith('_snapshot.json'));
    expect(migrationCount(db)).toBe(journal.length);
    expect(db.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.sqlite.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.sqlite.pragma('cache_size', { simple: true })).toBe(-DEFAULT_CACHE_KIB); // not better-sqlite3's 16 MiB
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
  });

  it('sizes the page cache from cacheKiB and refuses a size below 100 KiB naming the option', () => {
    const db = track(openDatabase(path.join(dir, 'c.db'), { cacheKiB: 8000 }));
    expect(db.sqlite.pragma('cache_size', { simple: true })).toBe(-8000);
    expect(() => openDatabase(path.join(dir, 'd.db'), { cacheKiB: 10 })).toThrow(/cacheKiB: got 10/);
  });

  it('is idempotent on an existing file: migrations are not applied twice and data stays', () => {
    const file = path.join(dir, 'perpbot.db');
    const first = openDatabase(file);
    const applied = migrationCount(first);
    first.sqlite
      .prepare(`INSERT INTO runs (id, mode, started_at, status, config_json) VALUES ('r1', 'replay', 1, 'running', '{}')`)
      .run();
    first.close();
    first.close(); // close is idempotent

    const second = track(openDatabase(file));
    expect(migrationCount(second)).toBe(applied);
    expect(second.sqlite.prepare('SELECT id FROM runs').all()).toEqual([{ id: 'r1' }]);
    // and while another connection holds the file open
    const third = track(openDatabase(file));
    expect(migrationCount(third)).toBe(applied);
  });

  it('finds its migrations whatever the working directory', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const db = track(openDatabase('relative.db'));
      expect(tableNames(db)).toEqual(expect.arrayContaining(TABLES));
    } finally {
      process.chdir(cwd);
    }
    expect(fs.existsSync(path.join(dir, 'relative.db'))).toBe(true);
  });

  it('throws PerpbotError DATABASE naming the file when the file is not a database', () => {
    const file = path.join(dir, 'corrupt.db');
    fs.writeFileSync(file, Buffer.from('this is definitely not an SQLite file, just some bytes '.repeat(200)));
    let caught: unknown;
    try {
      openDatabase(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PerpbotError);
    expect((caught as PerpbotError).code).toBe('DATABASE');
    expect((caught as PerpbotError).message).toContain(file);
  });

  it('throws PerpbotError DATABASE when the path cannot be created', () => {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, 'x');
    expect(() => openDatabase(path.join(blocker, 'sub', 'db.sqlite'))).toThrowError(
      expect.objectContaining({ code: 'DATABASE', message: expect.stringContaining(blocker) }),
    );
  });

  it('opens read-only without creating or migrating, and refuses writes', () => {
    const file = path.join(dir, 'ro.db');
    expect(() => openDatabase(file, { readonly: true })).toThrowError(expect.objectContaining({ code: 'DATABASE' }));
    expect(fs.existsSync(file)).toBe(false);
    const rw = track(openDatabase(file));
    rw.sqlite
      .prepare(`INSERT INTO runs (id, mode, started_at, status, config_json) VALUES ('r1', 'paper', 1, 'running', '{}')`)
      .run();
    const ro = track(openDatabase(file, { readonly: true }));
    expect(ro.readonly).toBe(true);
    expect(ro.sqlite.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 1 });
    expect(() => ro.sqlite.prepare(`DELETE FROM runs`).run()).toThrow(/readonly/i);
  });
});

describe('schema', () => {
  it('has no REAL column in any table; money columns are TEXT, times INTEGER', () => {
    const db = track(openDatabase(path.join(dir, 'types.db')));
    const tables = [...tableNames(db), 'candles_1m']; // candles_1m: the view of candle_blocks' klines
    expect(tables.length).toBeGreaterThanOrEqual(TABLES.length);
    const types = new Map<string, string>();
    for (const t of tables) {
      const cols = db.sqlite.pragma(`table_info(${JSON.stringify(t)})`) as { name: string; type: string }[];
      expect(cols.length).toBeGreaterThan(0);
      for (const c of cols) {
        expect(c.type.toUpperCase(), `${t}.${c.name}`).not.toMatch(/REAL|FLOA|DOUB/);
        types.set(`${t}.${c.name}`, c.type.toUpperCase());
      }
    }
    const money = [
      'candles_1m.open', 'candles_1m.high', 'candles_1m.low', 'candles_1m.close', 'candles_1m.volume', 'candles_1m.quote_volume',
      'signals.ref_price',
      'orders.quantity', 'orders.price', 'orders.ref_price', 'orders.executed_qty', 'orders.cum_quote', 'orders.avg_price',
      'orders.order_id', 'fills.trade_id', 'fills.order_id',
      'fills.price', 'fills.quantity', 'fills.commission', 'fills.realized_pnl',
      'positions.quantity', 'positions.entry_price', 'positions.realized_pnl', 'positions.fees',
    ];
    for (const m of money) expect(types.get(m), m).toBe('TEXT');
    const times = [
      'runs.started_at', 'runs.ended_at', 'candles_1m.open_time', 'candles_1m.close_time', 'signals.ts', 'orders.created_at',
      'orders.updated_at', 'fills.time', 'positions.updated_at', 'risk_events.ts',
    ];
    for (const t of times) expect(types.get(t), t).toMatch(/^INT(EGER)?$/); // a view's CAST(… AS INTEGER) reads INT
  });
});

describe('constraints', () => {
  it('refuses an unknown order status and a row for a run that does not exist', () => {
    const db = track(openDatabase(path.join(dir, 'ck.db')));
    db.sqlite.prepare(`INSERT INTO runs (id, mode, started_at, status, config_json) VALUES ('r1', 'replay', 1, 'running', '{}')`).run();
    const insert = db.sqlite.prepare(
      `INSERT INTO orders (run_id, client_order_id, symbol, side, type, quantity, reduce_only, strategy_id, ref_price, status, created_at, updated_at)
       VALUES (?, 'c1', 'BTCUSDT', 'BUY', 'MARKET', '0.001', 0, 's', '1', ?, 1, 1)`,
    );
    expect(() => insert.run('r1', 'BOGUS')).toThrow(/CHECK constraint failed/);
    expect(() => insert.run('no-such-run', 'NEW')).toThrow(/FOREIGN KEY constraint failed/);
    insert.run('r1', 'NEW');
    expect(db.sqlite.prepare(`SELECT executed_qty, cum_quote FROM orders`).get()).toEqual({ executed_qty: '0', cum_quote: '0' });
  });
});

describe('checkDatabase', () => {
  it('reports ok on a healthy database, with and without the integrity check', () => {
    const db = track(openDatabase(path.join(dir, 'health.db')));
    expect(checkDatabase(db)).toEqual({ ok: true, detail: 'ok' });
    expect(checkDatabase(db, { integrity: true })).toEqual({ ok: true, detail: 'ok' });
  });

  it('reports not ok (without throwing) on a closed connection', () => {
    const file = path.join(dir, 'closed.db');
    const db = openDatabase(file);
    db.close();
    const r = checkDatabase(db);
    expect(r.ok).toBe(false);
    expect(r.detail).toContain(file);
  });
});
