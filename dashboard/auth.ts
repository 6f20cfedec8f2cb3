/**
 * The API's bearer token: where it comes from, and whether an address may listen. How a token is
 * compared and failed attempts limited is ./token-guard.ts (loaded by the API server only, so
 * that the CLI's start-up does not load rate-limiter-flexible).
 *
 * - `PERPBOT_API_TOKEN` from the environment; failing that, a token generated at first start
 *   (32 random bytes, base64url) into `api.tokenFile` with mode 0600, and read from there on
 *   later starts. The log says where the file is, never the token.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../src/core/errors.ts';

/** Where the token came from. */
export type TokenSource = 'env' | 'file' | 'generated';

/**
 * The API token: `env.PERPBOT_API_TOKEN`, else the token file (created with mode 0600 when missing).
 * @param tokenFile path of the token file (config `api.tokenFile`)
 * @returns the token and where it came from
 * @throws ConfigError when PERPBOT_API_TOKEN is set but shorter than 16 characters, or the file is unreadable/empty
 */
export function resolveApiToken(tokenFile: string, env: Record<string, string | undefined> = process.env): { token: string; source: TokenSource; file: string | null } {
  const fromEnv = env.PERPBOT_API_TOKEN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv.length < 16) throw new ConfigError(['PERPBOT_API_TOKEN: expected at least 16 characters']);
    return { token: fromEnv, source: 'env', file: null };
  }
  if (fs.existsSync(tokenFile)) {
    const t = fs.readFileSync(tokenFile, 'utf8').trim();
    if (t.length < 16) throw new ConfigError([`api.tokenFile: ${tokenFile} holds no token (expected at least 16 characters); delete it to generate a new one`]);
    return { token: t, source: 'file', file: tokenFile };
  }
  fs.mkdirSync(path.dirname(path.resolve(tokenFile)), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  // 'wx': never overwrite a token another process just wrote.
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
  fs.chmodSync(tokenFile, 0o600);
  return { token, source: 'generated', file: tokenFile };
}

/**
 * Read the token a CLI command uses to reach a running bot: `PERPBOT_API_TOKEN`, else the token
 * file; null when neither exists (never creates one).
 */
export function readApiToken(tokenFile: string, env: Record<string, string | undefined> = process.env): string | null {
  if (env.PERPBOT_API_TOKEN) return env.PERPBOT_API_TOKEN;
  try {
    const t = fs.readFileSync(tokenFile, 'utf8').trim();
    return t || null;
  } catch {
    return null;
  }
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Refuse a non-loopback listen address unless the token was configured explicitly
 * (PERPBOT_API_TOKEN): a generated token on a public address is a door left ajar.
 * @throws ConfigError naming `api.host`
 */
export function checkListenAddress(host: string, env: Record<string, string | undefined> = process.env): void {
  if (isLoopbackHost(host)) return;
  if (!env.PERPBOT_API_TOKEN) {
    throw new ConfigError([`api.host: got "${host}", a non-loopback address; set PERPBOT_API_TOKEN (≥ 16 characters) to listen on it, or use 127.0.0.1`]);
  }
}
