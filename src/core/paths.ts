/**
 * Where perpbot's own folders are. Defaults (bundled data, database/, status/, logs/) live in the
 * project folder whatever the working directory; paths a user gives are taken as given
 * (relative ones from the working directory).
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Absolute path of the project folder (where package.json is). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** An absolute path inside the project folder. */
export function projectPath(...parts: string[]): string {
  return join(PROJECT_ROOT, ...parts);
}
