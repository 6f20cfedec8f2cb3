/**
 * The two settings `perpbot status` needs — `heartbeat.file` and `heartbeat.staleAfterMs` — read
 * from the same sources and with the same precedence as {@link loadConfig} (defaults < JSON
 * config file < `.env` < environment), without loading the whole schema (zod): `status` is called
 * by monitors every few seconds and must start fast. Other keys are not read or checked here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError } from '../core/errors.ts';
import { projectPath } from '../core/paths.ts';

/** What `perpbot status` reads. */
export interface HeartbeatSettings {
  /** Heartbeat file path. */
  file: string;
  /** Age at which the heartbeat is stale, ms. */
  staleAfterMs: number;
}

/**
 * Resolve the heartbeat settings.
 * @param sources `file`: JSON config file (default `PERPBOT_CONFIG`); `env` (default process.env);
 *   `dotenvFile` (default `.env` in the working directory; null = none)
 * @throws ConfigError naming the key when the config file cannot be read or a value is bad
 */
export function heartbeatSettings(sources: { file?: string; env?: Record<string, string | undefined>; dotenvFile?: string | null } = {}): HeartbeatSettings {
  const env = sources.env ?? process.env;
  let file: unknown = projectPath('status/heartbeat.json');
  let stale: unknown = 30_000;
  let fileOrigin = 'the default';
  let staleOrigin = 'the default';
  const cfgFile = sources.file ?? env.PERPBOT_CONFIG;
  if (cfgFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(cfgFile, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError([`config file ${cfgFile}: ${code ? `cannot be read (${code})` : 'not valid JSON'}`], 'CONFIG_FILE');
    }
    const hb = (parsed as { heartbeat?: { file?: unknown; staleAfterMs?: unknown } } | null)?.heartbeat;
    if (hb?.file !== undefined) [file, fileOrigin] = [hb.file, cfgFile];
    if (hb?.staleAfterMs !== undefined) [stale, staleOrigin] = [hb.staleAfterMs, cfgFile];
  }
  const vars: Record<string, string | undefined> = {};
  const dotenv = sources.dotenvFile === undefined ? '.env' : sources.dotenvFile;
  if (dotenv && existsSync(dotenv)) {
    try {
      Object.assign(vars, parseEnv(readFileSync(dotenv, 'utf8')));
    } catch (err) {
      throw new ConfigError([`${dotenv}: cannot be read (${(err as Error).message})`], 'CONFIG_FILE');
    }
  }
  Object.assign(vars, env);
  if (vars.PERPBOT_HEARTBEAT_FILE !== undefined) [file, fileOrigin] = [vars.PERPBOT_HEARTBEAT_FILE, 'PERPBOT_HEARTBEAT_FILE'];
  if (vars.PERPBOT_HEARTBEAT_STALE_AFTER_MS !== undefined) [stale, staleOrigin] = [vars.PERPBOT_HEARTBEAT_STALE_AFTER_MS, 'PERPBOT_HEARTBEAT_STALE_AFTER_MS'];
  const issues: string[] = [];
  if (typeof file !== 'string' || file === '') issues.push(`heartbeat.file (from ${fileOrigin}): got ${JSON.stringify(file)}, expected a file path`);
  const staleMs = typeof stale === 'string' && /^\d+$/.test(stale) ? Number(stale) : stale;
  if (typeof staleMs !== 'number' || !Number.isInteger(staleMs) || staleMs <= 0) {
    issues.push(`heartbeat.staleAfterMs (from ${staleOrigin}): got ${JSON.stringify(stale)}, expected a positive whole number of ms`);
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { file: file as string, staleAfterMs: staleMs as number };
}
