/**
 * Opening perpbot's SQLite database: better-sqlite3 + drizzle, WAL, committed migrations applied
 * at open. One {@link Db} per process and file; better-sqlite3 is synchronous, so every call
 * below blocks the event loop for as long as SQLite works (microseconds for the hot paths).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { PerpbotError, errorMessage } from '../src/core/errors.ts';
import { projectPath } from '../src/core/paths.ts';
import * as schema from './schema.ts';

/**
 * The folder of committed drizzle-kit migrations, `database/migrations` of the project folder
 * (found from this module's file, not the working directory), so the bot can be started from
 * anywhere, from the sources or from the compiled bundle in dist/.
 */
export const MIGRATIONS_FOLDER = projectPath('database', 'migrations');

/** The drizzle instance over perpbot's schema (synchronous better-sqlite3 driver). */
export type DrizzleDb = BetterSQLite3Database<typeof schema>;

/** An open database: the raw connection, its drizzle wrapper, and how to close both. */
export interface Db {
  /** The better-sqlite3 connection; for prepared statements on hot paths (see RecordWriter). */
  readonly sqlite: Database.Database;
  /** drizzle over the same connection, typed with {@link schema}; for queries. */
  readonly db: DrizzleDb;
  /** The path given to {@link openDatabase}. */
  readonly file: string;
  /** Whether the connection was opened read-only. */
  readonly readonly: boolean;
  /**
   * Close the connection. Idempotent. In WAL mode SQLite checkpoints and removes the -wal file
   * when the last connection closes cleanly. Flush any RecordWriter first.
   */
  close(): void;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * Open read-only (dashboard, reports): the file must exist, nothing is created or migrated,
   * and the journal mode is left as the writer set it. Default false.
   */
  readonly?: boolean;
  /**
   * Page cache of this connection, KiB. Default {@link DEFAULT_CACHE_KIB}. better-sqlite3 is
   * built with a 16 MiB default, which a long-lived bot's writer connection fills slowly as the
   * database grows (a steady RSS rise over a day, seen in `npm run bench:soak`); the OS page
   * cache holds the file anyway, so a small SQLite cache costs little.
   */
  cacheKiB?: number;
}

/** Default page cache per connection, KiB: SQLite's own default (2,000 KiB). */
export const DEFAULT_CACHE_KIB = 2000;

/** Result of {@link checkDatabase}. */
export interface DatabaseCheck {
  /** True when the connection answers and `quick_check` reports no corruption. */
  ok: boolean;
  /** `"ok"`, or a one-line description of what failed. */
  detail: string;
}

/**
 * Open (creating if needed) the SQLite database at `file` and bring its schema up to date.
 *
 * - creates the parent folder (mkdir -p) unless `file` is `:memory:` or `opts.readonly`;
 * - pragmas: `journal_mode = WAL` (not in read-only mode), `synchronous = NORMAL`,
 *   `foreign_keys = ON`, `busy_timeout = 5000` (ms), `cache_size` = −`opts.cacheKiB` (KiB);
 * - applies the committed migrations of {@link MIGRATIONS_FOLDER} with drizzle's better-sqlite3
 *   migrator (already-applied ones are skipped, so opening an existing file is idempotent).
 *
 * @param file path of the database file, or `:memory:`
 * @throws PerpbotError code `DATABASE` naming `file` when the file cannot be opened, is not a
 *   database (corrupt), or a migration fails; the connection is closed before throwing.
 */
export function openDatabase(file: string, opts: OpenDatabaseOptions = {}): Db {
  const readonly = opts.readonly === true;
  const cacheKiB = opts.cacheKiB ?? DEFAULT_CACHE_KIB;
  if (!Number.isInteger(cacheKiB) || cacheKiB < 100) throw new RangeError(`cacheKiB: got ${cacheKiB}, expected an integer >= 100`);
  const memory = file === ':memory:' || file === '';
  let sqlite: Database.Database | undefined;
  try {
    if (!memory && !readonly) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    sqlite = new Database(file, readonly ? { readonly: true, fileMustExist: true } : {});
    // busy_timeout first, so the pragmas and migrations below wait for another writer.
    sqlite.pragma('busy_timeout = 5000');
    if (!readonly) {
      const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
      if (!memory && String(mode).toLowerCase() !== 'wal') {
        throw new Error(`journal_mode is ${String(mode)}, expected wal`);
      }
    } else {
      // Touch the file so that a non-database file fails here rather than at the first query.
      sqlite.pragma('schema_version', { simple: true });
    }
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`cache_size = -${cacheKiB}`);
    const db = drizzle(sqlite, { schema });
    if (!readonly) applyMigrations(db);
    const conn = sqlite;
    let closed = false;
    return {
      sqlite: conn,
      db,
      file,
      readonly,
      close() {
        if (closed) return;
        closed = true;
        conn.close();
      },
    };
  } catch (err) {
    try {
      sqlite?.close();
    } catch {
      // already failing; the original error is the one worth reporting
    }
    throw new PerpbotError('DATABASE', `cannot open database ${file}: ${errorMessage(err)}`, false, {
      file,
      sqliteCode: (err as { code?: unknown }).code,
    });
  }
}

/**
 * Apply pending migrations. drizzle reads the last applied migration before its own BEGIN, so
 * two processes opening a fresh file at the same moment can both try to create the tables; the
 * loser's transaction rolls back and a second attempt then finds the migrations applied.
 */
function applyMigrations(db: DrizzleDb): void {
  try {
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (err) {
    if (!/already exists/i.test(errorMessage(err))) throw err;
    migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  }
}

/** Options of {@link checkDatabase}. */
export interface CheckDatabaseOptions {
  /**
   * Also run `pragma quick_check(1)`. It reads every page, so it is O(database size): about
   * 0.4 s for a 110 MB file (1,000,000 candles) on a 2-core VM, during which the event loop is
   * blocked. Do it at start-up or on a slow schedule, not on every heartbeat. Default false.
   */
  integrity?: boolean;
}

/**
 * Health probe for the heartbeat. Always runs `select 1` (microseconds); with
 * `opts.integrity` also `pragma quick_check(1)`. Never throws.
 * @returns `{ ok: true, detail: "ok" }`, or `ok: false` with the file, the error or the first
 *   problem `quick_check` found
 */
export function checkDatabase(db: Db, opts: CheckDatabaseOptions = {}): DatabaseCheck {
  try {
    const one = db.sqlite.prepare('select 1 as one').get() as { one: number } | undefined;
    if (one?.one !== 1) return { ok: false, detail: `${db.file}: select 1 returned no row` };
    if (opts.integrity) {
      const result = db.sqlite.pragma('quick_check(1)', { simple: true });
      if (result !== 'ok') return { ok: false, detail: `${db.file}: quick_check: ${String(result)}` };
    }
    return { ok: true, detail: 'ok' };
  } catch (err) {
    return { ok: false, detail: `${db.file}: ${errorMessage(err)}` };
  }
}
