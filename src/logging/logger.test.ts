import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../core/paths.ts';
import { CONSOLE_BUFFER_MAX_BYTES, createLogger, REDACT_PATHS, scrub, silentLogger } from './logger.ts';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'perpbot-log-'));
}

/** Every JSON line of every file under `dir`, with the file names. */
function readLogs(dir: string): { files: string[]; lines: Record<string, unknown>[]; text: string } {
  const files = readdirSync(dir).sort();
  const text = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('');
  const lines = text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { files, lines, text };
}

/** Log with a fresh file logger, close it, return what reached the files. */
async function logged(write: (log: Awaited<ReturnType<typeof createLogger>>['logger']) => void, level = 'info') {
  const dir = join(tempDir(), 'logs'); // does not exist yet: createLogger must create it
  const h = await createLogger({ level, console: 'none', dir });
  write(h.logger);
  await h.close();
  await h.close(); // safe twice
  return { dir, ...readLogs(dir) };
}

const SIG = 'a3f1c9e2b7d45e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f';
const SLACK = 'xoxb-2222222222-3333333333-ZyXwVuTsRqPoNmLkJiHgFeDc';

describe('createLogger files', () => {
  it('writes JSON lines to a perpbot.<n>.log file under the dir once closed', async () => {
    const { dir, files, lines } = await logged((log) => {
      log.info({ symbol: 'BTCUSDT', n: 3 }, 'first');
      log.child({ component: 'executor' }).warn('second');
    });
    expect(existsSync(dir)).toBe(true);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^perpbot\.\d+\.log$/);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, pid: process.pid, symbol: 'BTCUSDT', n: 3, msg: 'first' });
    expect(lines[1]).toMatchObject({ level: 40, component: 'executor', msg: 'second' });
    // ISO-8601 UTC timestamps
    expect(lines[0]!.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('the level filters what is written', async () => {
    const { lines } = await logged((log) => {
      log.debug('no');
      log.info('no');
      log.warn('yes-warn');
      log.error('yes-error');
    }, 'warn');
    expect(lines.map((l) => l.msg)).toEqual(['yes-warn', 'yes-error']);
  });

  it('dir null and console none: a disabled logger, nothing written, close resolves', async () => {
    const h = await createLogger({ level: 'info', console: 'none', dir: null });
    expect(h.logger.isLevelEnabled('info')).toBe(false);
    h.logger.info('nowhere');
    await h.close();
    expect(silentLogger().isLevelEnabled('fatal')).toBe(false);
  });
});

describe('redaction of secret keys', () => {
  it('REDACT_PATHS covers each key at the top level and three levels below', () => {
    for (const k of ['apiKey', 'apiSecret', 'signature', 'listenKey', 'slackToken', 'token', 'authorization']) {
      expect(REDACT_PATHS).toEqual(expect.arrayContaining([k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]));
    }
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['["X-MBX-APIKEY"]', '*["X-MBX-APIKEY"]']));
  });

  it('secrets at the top level and nested are *** in the file; other fields untouched', async () => {
    const secrets = {
      apiKey: 'AK-top-1',
      apiSecret: 'AS-top-2',
      signature: 'SIG-top-3',
      listenKey: 'LK-top-4',
      slackToken: 'ST-top-5',
      token: 'TK-top-6',
      authorization: 'AUTH-top-7',
    };
    const { lines, text } = await logged((log) => {
      log.info({ ...secrets, symbol: 'ETHUSDT' }, 'top');
      log.info({ req: { apiKey: 'AK-n1', signature: 'SIG-n1', headers: { authorization: 'AUTH-n2', 'X-MBX-APIKEY': 'MBX-n2' } } }, 'nested');
      log.info({ a: { b: { c: { apiSecret: 'AS-n3', listenKey: 'LK-n3', slackToken: 'ST-n3', token: 'TK-n3' } } } }, 'deep');
    });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      apiKey: '***',
      apiSecret: '***',
      signature: '***',
      listenKey: '***',
      slackToken: '***',
      token: '***',
      authorization: '***',
      symbol: 'ETHUSDT',
      msg: 'top',
    });
    expect(lines[1]).toMatchObject({ req: { apiKey: '***', signature: '***', headers: { authorization: '***', 'X-MBX-APIKEY': '***' } } });
    expect(lines[2]).toMatchObject({ a: { b: { c: { apiSecret: '***', listenKey: '***', slackToken: '***', token: '***' } } } });
    for (const v of [...Object.values(secrets), 'AK-n1', 'SIG-n1', 'AUTH-n2', 'MBX-n2', 'AS-n3', 'LK-n3', 'ST-n3', 'TK-n3']) {
      expect(text).not.toContain(v);
    }
  });

  // BUG (src/logging/logger.ts SECRET_KEYS): redaction paths are case-sensitive and only the
  // lower-case `authorization` is listed, while the module promises to redact Authorization
  // headers; `{ headers: { Authorization: 'Bearer …' } }` is written verbatim.
  // Expected: Authorization '***'. Actual: 'Bearer eyJ-secret-bearer'.
  it('a capitalised Authorization header is redacted', async () => {
    const { lines, text } = await logged((log) => log.info({ headers: { Authorization: 'Bearer eyJ-secret-bearer' } }, 'req'));
    expect(lines[0]).toMatchObject({ headers: { Authorization: '***' } });
    expect(text).not.toContain('eyJ-secret-bearer');
  });
});

describe('secrets inside text', () => {
  it('scrub() masks signature=… in URLs, key/value secrets and Slack tokens', () => {
    expect(scrub(`https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1752000000000&signature=${SIG}&recvWindow=5000`)).toBe(
      'https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1752000000000&signature=***&recvWindow=5000',
    );
    expect(scrub(`POST /fapi/v1/order?signature=${SIG}`)).toBe('POST /fapi/v1/order?signature=***');
    expect(scrub(`slack failed for ${SLACK}: invalid_auth`)).toBe('slack failed for xox*-***: invalid_auth');
    expect(scrub('{"apiKey":"AKIA123","listenKey": "lk-9", "x": 1}')).toBe('{"apiKey":"***","listenKey": "***", "x": 1}');
    expect(scrub('X-MBX-APIKEY: abcDEF123 sent')).toBe('X-MBX-APIKEY: *** sent');
    expect(scrub("secret='s3cr3t', token=t0k")).toBe("secret='***', token=***");
    expect(scrub('Signature=ABC')).toBe('Signature=***');
    // Listen keys where the library puts them: in a websocket URL and its connection names.
    const LK = 'pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1';
    expect(scrub(`wsURL wss://fstream.binance.com/private/ws/${LK} open; wsKey usdm_userData__${LK}_ listenKey(${LK})`)).toBe(
      'wsURL wss://fstream.binance.com/private/ws/*** open; wsKey usdm_userData__***_ listenKey(***)',
    );
    expect(scrub('order 8389766049535966587 client pb-0123456789abcdefghijkl')).toBe('order 8389766049535966587 client pb-0123456789abcdefghijkl');
    // Text without secrets is unchanged.
    const plain = 'order BTCUSDT qty=0.001 price=108153.4 tokens: 3';
    expect(scrub(plain)).toBe(plain);
  });

  it('the err serializer scrubs the message and the stack of a logged Error (and its cause)', async () => {
    const err = new Error(`GET https://fapi.binance.com/fapi/v1/account?timestamp=1&signature=${SIG} failed: 401 (${SLACK})`);
    const wrapped = new Error('order outcome unknown', { cause: new Error(`listenKey=LK-inside-cause expired`) });
    const { lines, text } = await logged((log) => {
      log.error({ err }, 'request failed');
      log.warn({ error: wrapped }, 'wrapped');
    });
    expect(lines).toHaveLength(2);
    const e0 = lines[0]!.err as Record<string, unknown>;
    expect(e0.type).toBe('Error');
    expect(e0.message).toBe('GET https://fapi.binance.com/fapi/v1/account?timestamp=1&signature=*** failed: 401 (xox*-***)');
    expect(String(e0.stack).split('\n')[0]).toBe('Error: GET https://fapi.binance.com/fapi/v1/account?timestamp=1&signature=*** failed: 401 (xox*-***)');
    expect(lines[0]!.msg).toBe('request failed');
    const e1 = lines[1]!.error as Record<string, unknown>;
    expect(e1.message).toBe('order outcome unknown: listenKey=*** expired');
    expect(String(e1.stack)).toContain('caused by: Error: listenKey=*** expired');
    expect(text).not.toContain(SIG);
    expect(text).not.toContain(SLACK);
    expect(text).not.toContain('LK-inside-cause');
  });

  // BUG (src/logging/logger.ts): pino's `logger.error(err)` form copies err.message into `msg`
  // unscrubbed; only the `err` object goes through errSerializer. Input: log.error(new Error('…signature=<hex>…')).
  // Actual line: "err":{"message":"…signature=***…"}, "msg":"…signature=<hex>…". Expected: the signature nowhere in the file.
  it('logging an Error directly does not leak its message through msg', async () => {
    const { text } = await logged((log) => log.error(new Error(`GET /fapi/v1/order?signature=${SIG} failed`)));
    expect(text).toContain('signature=***');
    expect(text).not.toContain(SIG);
  });

  // BUG (src/logging/logger.ts): the module says secrets are redacted "also when they hide inside
  // … a URL query", but only Error messages/stacks are scrubbed: a URL logged as a field,
  // log.info({ url: '…&signature=<hex>' }), is written verbatim. Expected: signature=*** in the file.
  it('a signed URL logged as a field is scrubbed', async () => {
    const { text } = await logged((log) => log.info({ url: `https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&signature=${SIG}` }, 'request'));
    expect(text).not.toContain(SIG);
  });
});

describe('lines logged just before the process dies are in the file', () => {
  it('an uncaught exception right after logging, without close(): the line is written (the exit handler flushes)', () => {
    const dir = tempDir();
    const logs = join(dir, 'logs');
    const f = join(dir, 'die.mts');
    writeFileSync(
      f,
      `import { createLogger } from ${JSON.stringify(projectPath('src/logging/logger.ts'))};\n` +
        `const h = await createLogger({ level: 'info', console: 'none', dir: ${JSON.stringify(logs)} });\n` +
        `for (let i = 0; i < 2000; i++) h.logger.info({ i }, 'line ' + i);\n` +
        `h.logger.error('the last words');\n` +
        `throw new Error('boom');\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', f], { encoding: 'utf8', cwd: projectPath(), timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('boom');
    const { lines } = readLogs(logs);
    expect(lines).toHaveLength(2001);
    expect(lines.at(-1)).toMatchObject({ level: 50, msg: 'the last words' });
  });
});

describe('a console nobody reads (a stuck pipe reader)', () => {
  it('holds at most CONSOLE_BUFFER_MAX_BYTES: later console lines are dropped, said once in the files, which keep every line; the process still exits', async () => {
    const dir = tempDir();
    const logs = join(dir, 'logs');
    const f = join(dir, 'stuck.mts');
    // 40,000 lines of ~1 KB (~40 MB): more than the bound while stdout is not read.
    writeFileSync(
      f,
      `import { createLogger } from ${JSON.stringify(projectPath('src/logging/logger.ts'))};\n` +
        `const h = await createLogger({ level: 'info', console: 'stdout', pretty: false, dir: ${JSON.stringify(logs)} });\n` +
        `const pad = 'a few words '.repeat(85);\n` +
        `for (let i = 0; i < 40000; i++) h.logger.info({ i, pad }, 'line ' + i);\n` +
        `await new Promise((r) => setTimeout(r, 200));\n` +
        `process.stderr.write('rss ' + process.memoryUsage().rss + '\\n');\n` +
        `await h.close();\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', f], { cwd: projectPath(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pause(); // nobody reads stdout until the child said it is done
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const end = Date.now() + 60_000;
    while (!/rss \d+/.test(err) && Date.now() < end && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    let consoleBytes = 0;
    child.stdout.on('data', (d: Buffer) => (consoleBytes += d.length)).resume(); // now drain it
    expect(await exited).toBe(0);
    expect(err).toMatch(/rss \d+/);
    const { lines } = readLogs(logs);
    expect(lines.filter((l) => typeof l.i === 'number')).toHaveLength(40_000);
    expect(lines.filter((l) => /console log output is not being read/.test(String(l.msg)))).toHaveLength(1);
    // What reached the console: the bound, not the 40 MB.
    expect(consoleBytes).toBeLessThan(CONSOLE_BUFFER_MAX_BYTES + 2 * 1024 * 1024);
    expect(consoleBytes).toBeGreaterThan(1024 * 1024);
  }, 90_000);
});
