/**
 * Where perpbot's own folders are. Defaults (bundled data, database/, status/, logs/) live in the
 * project folder whatever the working directory; paths a user gives are taken as given
 * (relative ones from the working directory).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * The nearest folder at or above `from` holding a package.json. The sources live two levels
 * below it (src/core/), the compiled bundle one (dist/): walking up serves both.
 * @throws Error when no package.json is found up to the file system's root
 */
export function findProjectRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

/** Absolute path of the project folder (where package.json is), with a trailing separator. */
export const PROJECT_ROOT = join(findProjectRoot(dirname(fileURLToPath(import.meta.url))), '/');

/** An absolute path inside the project folder. */
export function projectPath(...parts: string[]): string {
  return join(PROJECT_ROOT, ...parts);
}

let version: string | undefined;

/** perpbot's version, from the project's package.json (read once). @throws Error when it cannot be read */
export function perpbotVersion(): string {
  version ??= (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}
