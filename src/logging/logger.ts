/**
 * Logging: pino JSON lines to stdout (or stderr) and to rotating files under `logs/` (pino-roll),
 * a child logger per component (`logger.child({ component: 'executor' })`), and redaction of
 * anything secret: API keys and secrets, signatures, listen keys, tokens, Authorization headers,
 * also when they hide inside an error message or a URL query.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
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
  /** Flush and close the streams (the files; the console is flushed, not closed). Safe to call twice. */
  close(): Promise<void>;
}

/** What {@link createLogger} needs of a destination stream (sonic-boom's). */
interface Destination extends NodeJS.WritableStream {
  /** The file descriptor; -1 until the file is open. */
  readonly fd: number;
  flushSync(): void;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close' | 'finish' | 'ready', listener: () => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
}

/**
 * Most the console copy holds while its reader does not keep up (a stuck pipe reader, a full
 * terminal), bytes: past it, console lines are dropped (the files keep every line), so a blocked
 * stdout never grows the bot's memory without bound.
 */
export const CONSOLE_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/** At exit, how long the console copy keeps retrying a stdout that does not drain, ms: then the process ends anyway. */
const CONSOLE_EXIT_WAIT_MS = 2_000;

/**
 * Create the root logger. It writes in-process, without a worker thread (a thread costs ~12 MB
 * of RSS): the console copy through an asynchronous sonic-boom (pino-pretty, synchronous, on a
 * terminal), the files through pino-roll: `<dir>/perpbot.<n>.log`, rotated daily and at
 * `rotateSize`, `keep` files kept.
 *
 * Durability: writes are asynchronous (libuv), so a line is on its way when the call returns; at
 * process exit, also an exit on an uncaught exception, what is still buffered is written
 * synchronously (an 'exit' handler); a SIGKILL loses at most what was buffered. A failing
 * destination (disk full, a file removed) never throws into the bot: the error is reported on
 * stderr once per destination and the logger goes on with the others. A console that does not
 * drain costs at most {@link CONSOLE_BUFFER_MAX_BYTES} (then its lines are dropped, said once in
 * the files) and holds up the exit at most {@link CONSOLE_EXIT_WAIT_MS}.
 * @throws Error when `dir` cannot be created (before anything is written)
 */
export async function createLogger(opts: LoggerOptions): Promise<LoggerHandle> {
  const streams: pino.StreamEntry[] = [];
  let logger: Logger | undefined;
  let consoleDropped = false;
  let exitingAt = 0;
  const noteExit = () => {
    exitingAt = Date.now();
  };
  const destinations: Destination[] = [];
  const watch = (d: Destination, what: string): Destination => {
    let reported = false;
    d.on('error', (err) => {
      if (reported) return;
      reported = true;
      process.stderr.write(`perpbot: log destination ${what} failed: ${scrub(err.message)}\n`);
    });
    destinations.push(d);
    return d;
  };
  if (opts.console !== 'none') {
    const fd = opts.console === 'stdout' ? 1 : 2;
    const pretty = opts.pretty ?? (fd === 1 ? process.stdout.isTTY : process.stderr.isTTY) === true;
    if (pretty) {
      const { default: pinoPretty } = await import('pino-pretty');
      // One line per record: time, level, component, message; the structured fields stay in the files.
      const stream = pinoPretty({ destination: fd, sync: true, colorize: true, translateTime: 'UTC:HH:MM:ss.l', ignore: 'pid,hostname', messageFormat: '{if component}[{component}] {end}{msg}', hideObject: true, singleLine: true });
      streams.push({ level: opts.level as pino.Level, stream });
    } else {
      // Registered before the destination's own exit flush (pino.destination has one), so the
      // console's retry limit counts from the process's exit.
      process.on('exit', noteExit);
      const dest = pino.destination({
        dest: fd,
        sync: false,
        maxLength: CONSOLE_BUFFER_MAX_BYTES,
        // A reader that does not drain (EAGAIN): keep trying while the bot runs; at exit, only
        // for a while (the exit flush would otherwise spin forever and the process never end).
        retryEAGAIN: () => exitingAt === 0 || Date.now() - exitingAt < CONSOLE_EXIT_WAIT_MS,
      });
      dest.on('drop', () => {
        if (consoleDropped) return;
        consoleDropped = true;
        // Said in the files (the console is the stream that does not drain).
        setImmediate(() => logger?.warn({ console: opts.console, maxBytes: CONSOLE_BUFFER_MAX_BYTES }, 'the console log output is not being read (its buffer is full): console lines are dropped from now on; the log files keep every line'));
      });
      streams.push({ level: opts.level as pino.Level, stream: watch(dest as unknown as Destination, opts.console) });
    }
  }
  if (opts.dir) {
    const dir = resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    // pino-roll ships no types (CommonJS): required, its options as its README gives them.
    const pinoRoll = createRequire(import.meta.url)('pino-roll') as (o: Record<string, unknown>) => Promise<Destination>;
    const file = await pinoRoll({
      file: join(dir, 'perpbot'),
      extension: '.log',
      frequency: 'daily',
      size: opts.rotateSize ?? '10m',
      mkdir: true,
      limit: { count: opts.keep ?? 14 },
    });
    // The file opens asynchronously: wait for it, so that the exit handler can flush from the first line on.
    if (file.fd === -1) await new Promise<void>((ready, fail) => file.once('ready', ready).once('error', fail));
    streams.push({ level: opts.level as pino.Level, stream: watch(file, dir) });
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
  if (streams.length === 0) {
    return { logger: pino({ ...base, enabled: false }), close: async () => {} };
  }
  logger = pino(base, pino.multistream(streams));
  // pino.destination flushes itself at exit too; pino-roll's stream does not: both are flushed here.
  const flushAtExit = () => {
    for (const d of destinations) {
      try {
        d.flushSync();
      } catch {
        // not open yet, or already closed: nothing buffered to save
      }
    }
  };
  process.on('exit', flushAtExit);
  let closed: Promise<void> | null = null;
  return {
    logger,
    close: () =>
      (closed ??= (async () => {
        process.off('exit', flushAtExit);
        process.off('exit', noteExit);
        await Promise.all(
          destinations.map(
            (d) =>
              new Promise<void>((done) => {
                const timer = setTimeout(done, 2_000);
                const end = () => {
                  clearTimeout(timer);
                  done();
                };
                d.once('close', end);
                d.once('finish', end);
                d.end();
              }),
          ),
        );
      })()),
  };
}

/** A logger that writes nothing (tests, library use). */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
