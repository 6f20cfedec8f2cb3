/**
 * `perpbot db backup`: a consistent copy of the SQLite database while the bot keeps writing,
 * through SQLite's online backup API (better-sqlite3 `Database.backup`). The copy is a complete
 * database file (WAL content included), openable on its own.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PerpbotError, errorMessage } from '../src/core/errors.ts';

/** What a backup did. */
export interface BackupResult {
  /** Absolute path of the backup file. */
  out: string;
  /** SQLite pages copied. */
  pages: number;
  /** Size of the backup file, bytes. */
  bytes: number;
}

/**
 * Copy `dbFile` into the new file `out` (its folder is created).
 * @throws PerpbotError CONFIG_INVALID when `dbFile` does not exist or `out` already exists (never
 *   overwritten) or is the database itself; DATABASE when SQLite fails
 */
export async function backupDatabase(dbFile: string, out: string): Promise<BackupResult> {
  const src = resolve(dbFile);
  const dst = resolve(out);
  if (!existsSync(src)) throw new PerpbotError('CONFIG_INVALID', `--db: database ${dbFile} does not exist`);
  if (src === dst) throw new PerpbotError('CONFIG_INVALID', `--out: ${out} is the database itself`);
  if (existsSync(dst)) throw new PerpbotError('CONFIG_INVALID', `--out: ${out} already exists (a backup never overwrites a file)`);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(dst), { recursive: true });
    // readonly: the backup never writes to (or migrates) the live database.
    db = new Database(src, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const r = await db.backup(dst);
    return { out: dst, pages: r.totalPages, bytes: statSync(dst).size };
  } catch (err) {
    throw new PerpbotError('DATABASE', `backup of ${dbFile} to ${out} failed: ${errorMessage(err)}`);
  } finally {
    db?.close();
  }
}
