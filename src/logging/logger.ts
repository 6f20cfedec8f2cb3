/**
 * Logging: pino JSON lines to stdout (or stderr) and to rotating files under `logs/` (pino-roll),
 * a child logger per component (`logger.child({ component: 'executor' })`), and redaction of
 * anything secret: API keys and secrets, signatures, listen keys, tokens, Authorization headers,
 * also when they hide inside an error message or a URL query.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { scrub } from './scrub.ts';

/** pino's logger type, re-exported so components need not import pino. */
export type { Logger } from 'pino';

const SECRET_KEYS = [
  'apiKey',
  'apiSecret',
  'api_key',
  'api_secret',
  'secret',
  'signature',
  'token',
  'slackToken',
  'listenKey',
  'authorization',
  'Authorization',
  'password',
  'X-MBX-APIKEY',
  'x-mbx-apikey',
];

/** pino redact paths: the secret keys at the top level and up to three levels deep. */
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
});

export { scrub } from './scrub.ts';

/** Scrub every string inside a log record (a few levels deep; logs are off the hot path). */
function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 4 || value === null || typeof value !== 'object' || value instanceof Error) return value; // errors: errSerializer
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, depth + 1);
  return out;
}

function errSerializer(err: unknown): unknown {
  const e = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (typeof e.message === 'string') e.message = scrub(e.message);
  if (typeof e.stack === 'string') e.stack = scrub(e.stack);
  return e;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level: string;
  /** Where the console copy goes. */
  console: 'stdout' | 'stderr' | 'none';
  /** Folder for rotating files, or null for no files. */
  dir: string | null;
  /** Rotate at this size ("10m"). */
  rotateSize?: string;
  /** Rotated files kept. */
  keep?: number;
  /**
   * The console copy as readable text (pino-pretty) instead of JSON lines. Default: when the
   * console stream is a terminal. Files are always JSON.
   */
  pretty?: boolean;
}

/** A root logger and how to flush it before exit. */
export interface LoggerHandle {
  logger: Logger;
  /** Flush and close the file transport. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Create the root logger. Files are written by a pino-roll worker thread:
 * `<dir>/perpbot.<n>.log`, rotated daily and at `rotateSize`, `keep` files kept.
 */
export function createLogger(opts: LoggerOptions): LoggerHandle {
  const targets: pino.TransportTargetOptions[] = [];
  if (opts.console !== 'none') {
    const fd = opts.console === 'stdout' ? 1 : 2;
    const pretty = opts.pretty ?? (fd === 1 ? process.stdout.isTTY : process.stderr.isTTY) === true;
    targets.push(
      pretty
        ? {
            target: 'pino-pretty',
            level: opts.level,
            // One line per record: time, level, component, message; the structured fields stay in the files.
            options: { destination: fd, colorize: true, translateTime: 'UTC:HH:MM:ss.l', ignore: 'pid,hostname', messageFormat: '{if component}[{component}] {end}{msg}', hideObject: true, singleLine: true },
          }
        : { target: 'pino/file', level: opts.level, options: { destination: fd } },
    );
  }
  if (opts.dir) {
    const dir = resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    targets.push({
      target: 'pino-roll',
      level: opts.level,
      options: {
        file: join(dir, 'perpbot'),
        extension: '.log',
        frequency: 'daily',
        size: opts.rotateSize ?? '10m',
        mkdir: true,
        limit: { count: opts.keep ?? 14 },
      },
    });
  }
  const base: pino.LoggerOptions = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '***' },
    serializers: { err: errSerializer, error: errSerializer },
    formatters: { log: (obj) => scrubDeep(obj) as Record<string, unknown> },
    hooks: {
      // `log.error(err)` and plain message strings pass here: scrub them too.
      logMethod(args, method) {
        const a = args as unknown[];
        if (a[0] instanceof Error) {
          if (typeof a[1] !== 'string') a.splice(1, 0, a[0].message);
          a[0] = { err: a[0] };
        }
        for (let i = 0; i < a.length; i++) if (typeof a[i] === 'string') a[i] = scrub(a[i] as string);
        return method.apply(this, a as Parameters<typeof method>);
      },
    },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (targets.length === 0) {
    const logger = pino({ ...base, enabled: false });
    return { logger, close: async () => {} };
  }
  const transport = pino.transport({ targets });
  const logger = pino(base, transport);
  let closed: Promise<void> | null = null;
  return {
    logger,
    close: () =>
      (closed ??= new Promise<void>((done) => {
        const timer = setTimeout(done, 2_000);
        transport.once('close', () => {
          clearTimeout(timer);
          done();
        });
        logger.flush();
        transport.end();
      })),
  };
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
