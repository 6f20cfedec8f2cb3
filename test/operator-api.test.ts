/**
 * The operating surface from outside the bot's process: a paper bot (child process) trading on
 * the simulator, reached through its API by the CLI in other child processes ("another
 * terminal"): positions, pnl, halt, flatten, resume; /metrics parsed with a Prometheus text
 * parser and its counters matched against the database; token checks and the failed-attempt
 * limit; a non-loopback address without a token refused at start; secrets (Binance keys, the
 * API token, the Slack token) in no response, log, page or database row; a finished run's
 * database browsed read-only.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { API_KEY, API_SECRET, SLACK_TOKEN, api, freePort, startPaperBot, until, untilPosition, type PaperBot } from './helpers/paper-bot.ts';

let bot: PaperBot;
const seen: string[] = []; // every response body, for the secrets check

beforeAll(async () => {
  bot = await startPaperBot();
}, 240_000);
afterAll(async () => {
  await bot?.stop();
});

/** Run the CLI in a child process; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string>, whileRunning?: () => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [projectPath('bin/perpbot.js'), ...args], { env, cwd: bot.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = whileRunning ? setInterval(whileRunning, 100) : null;
    p.on('exit', (code) => {
      if (t) clearInterval(t);
      seen.push(stdout, stderr);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function get(path: string): Promise<Record<string, unknown>> {
  const r = await api(bot, path);
  seen.push(JSON.stringify(r));
  return r;
}

describe('operating a running paper bot from another terminal', () => {
  it('perpbot positions / pnl / halt / flatten --yes / resume go through the running bot', async () => {
    await untilPosition(bot);
    const pos = await cli(['positions', '--json'], bot.cliEnv);
    expect(pos.code).toBe(0);
    const p = JSON.parse(pos.stdout).positions as Array<{ symbol: string; unrealizedPnl: string; markPrice: string }>;
    expect(p[0]!.symbol).toBe('BTCUSDT');
    expect(p[0]!.unrealizedPnl).toMatch(/^-?\d+(\.\d+)?$/);
    const table = await cli(['positions'], bot.cliEnv);
    expect(table.stdout).toMatch(/^symbol\s+side\s+size\s+entry\s+mark\s+uPnL USDT/m);
    expect(table.stdout).toMatch(/^BTCUSDT\s+(LONG|SHORT)\s+0\.\d+/m);
    const orders = await cli(['orders', '--json'], bot.cliEnv);
    expect(orders.code).toBe(0);
    expect(JSON.parse(orders.stdout)).toEqual({ orders: [] });
    expect((await get('/api/status')).status).toBe('ok');
    const pnl = await cli(['pnl'], bot.cliEnv);
    expect(pnl.code).toBe(0);
    expect(pnl.stdout).toMatch(/^equity\s+\d+/m);

    const halt = await cli(['halt', '--reason', 'cli test halt'], bot.cliEnv);
    expect(halt.code, halt.stderr).toBe(0);
    expect(halt.stdout).toMatch(/^halt: trading state HALTED/);
    expect(bot.heartbeat().risk.state === 'HALTED' || (await until('heartbeat HALTED', () => bot.heartbeat().risk.state === 'HALTED', 3_000), true)).toBe(true);
    expect(bot.heartbeat().risk.reason).toBe('operator halt: cli test halt');

    // flatten --yes: the bot answers, so it goes through the bot's executor (not standalone).
    const flat = await cli(['flatten', '--yes', '--reason', 'cli test flatten'], bot.cliEnv, () => bot.sim.step(1));
    expect(flat.code, flat.stderr).toBe(0);
    expect(flat.stdout).toMatch(/flatten sent to the running bot at http:\/\/127\.0\.0\.1:\d+ \(command \d+\)\nall positions are flat/);
    expect((await get('/api/positions')).positions).toEqual([]);

    const resume = await cli(['resume'], bot.cliEnv);
    expect(resume.code).toBe(0);
    await until('heartbeat ACTIVE', () => bot.heartbeat().risk.state === 'ACTIVE', 3_000);
    const cmds = (await get('/api/commands')).commands as Array<{ command: string; who: string }>;
    expect(cmds.map((c) => c.command)).toEqual(['resume', 'flatten', 'halt']);
    expect(cmds[0]!.who).toMatch(/^[\w.-]+@[\w.-]+ via 127\.0\.0\.1$/);
  }, 240_000);

  it('/metrics parses as Prometheus text and its counters match the database', async () => {
    bot.sim.advance(3);
    bot.sim.step(2);
    const db = new Database(bot.db, { readonly: true });
    try {
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      let families: Array<{ name: string; type: string; metrics: Array<{ value: string; labels?: Record<string, string> }> }> = [];
      const sum = (name: string, filter: (l: Record<string, string>) => boolean = () => true) =>
        (families.find((f) => f.name === name)?.metrics ?? []).filter((m) => filter(m.labels ?? {})).reduce((a, m) => a + Number(m.value), 0);
      // Metrics and database side by side; a timeout names what differed.
      let pairs: Record<string, [number, number]> = {};
      await until('metrics equal to the database', async () => {
        const res = await fetch(`${bot.url}/metrics`, { headers: { Authorization: `Bearer ${bot.token()}` } });
        const text = await res.text();
        seen.push(text);
        families = parsePrometheusTextFormat(text) as typeof families;
        pairs = {
          fills: [sum('perpbot_fills_total'), count('SELECT count(*) n FROM fills')],
          signals: [sum('perpbot_signals_total'), count('SELECT count(*) n FROM signals')],
          denied: [sum('perpbot_orders_total', (l) => l.outcome === 'denied'), count("SELECT count(*) n FROM orders WHERE status = 'DENIED'")],
          submitted: [sum('perpbot_orders_total', (l) => l.outcome === 'submitted'), count("SELECT count(*) n FROM orders WHERE status <> 'DENIED'")],
        };
        return Object.values(pairs).every(([m, d]) => m === d);
      }).catch((err: Error) => {
        throw new Error(`${err.message}: [metric, database] ${JSON.stringify(pairs)}`);
      });
      expect(sum('perpbot_fills_total')).toBeGreaterThan(0);
      expect(sum('perpbot_klines_received_total', (l) => l.symbol === 'BTCUSDT')).toBeGreaterThan(100);
      expect(families.find((f) => f.name === 'perpbot_order_fill_latency_seconds')?.type).toBe('HISTOGRAM');
      expect(sum('perpbot_trading_state', (l) => l.state === 'ACTIVE')).toBe(1);
      expect(families.find((f) => f.name === 'perpbot_equity_usdt')?.metrics[0]?.value).toMatch(/^\d/);
      expect(families.find((f) => f.name === 'process_cpu_user_seconds_total')).toBeDefined();
      expect(families.some((f) => f.name === 'perpbot_bus_queue_depth' && f.metrics.some((m) => m.labels?.subscriber === 'executor'))).toBe(true);
      // Naming conventions: counters end in _total; no metric carries an unbounded label.
      for (const f of families.filter((x) => x.name.startsWith('perpbot_'))) {
        if (f.type === 'COUNTER') expect(f.name).toMatch(/_total$/);
        for (const m of f.metrics) for (const k of Object.keys(m.labels ?? {})) expect(['symbol', 'strategy', 'target', 'outcome', 'reason', 'state', 'source', 'subscriber', 'status', 'le']).toContain(k);
      }
    } finally {
      db.close();
    }
  }, 240_000);

  it('reads check their query with the field named; commands check their body', async () => {
    const bad = await fetch(`${bot.url}/api/fills?limit=5000&symbol=btc`, { headers: { Authorization: `Bearer ${bot.token()}` } });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { issues: Array<{ field: string }> };
    expect(body.issues.map((i) => i.field).sort()).toEqual(['limit', 'symbol']);
    const badCmd = await fetch(`${bot.url}/api/commands/flatten`, { method: 'POST', headers: { Authorization: `Bearer ${bot.token()}`, 'content-type': 'application/json' }, body: JSON.stringify({ symbol: 'DOGEUSDT' }) });
    expect(badCmd.status).toBe(400);
    expect(await badCmd.text()).toMatch(/"field":"symbol"/);
    const candles = await get('/api/candles?symbol=BTCUSDT&interval=15m&limit=10');
    const cs = candles.candles as Array<{ time: number; vwap: number | null; upper: number | null; lower: number | null }>;
    expect(cs.length).toBeGreaterThan(0);
    for (const c of cs) expect(c.time % 900_000).toBe(0);
    const last = cs[cs.length - 1]!;
    expect(last.upper! > last.vwap! && last.vwap! > last.lower!).toBe(true);
    // The event stream delivers bus events.
    const ctl = new AbortController();
    const res = await fetch(`${bot.url}/api/events`, { headers: { Authorization: `Bearer ${bot.token()}` }, signal: ctl.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    bot.sim.advance(1);
    while (!text.includes('event: KlineClosed')) text += (await reader.read()).value ?? '';
    ctl.abort();
    seen.push(text);
    expect(text).toMatch(/^event: hello/);
  });

  it('without a valid token: 401, logged without the header; repeated failures are limited with 429; /healthz stays open', async () => {
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${bot.url}/api/status`)).status).toBe(401);
    expect((await fetch(`${bot.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${bot.url}/api/commands/halt`, { method: 'POST', headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
    expect(bot.heartbeat().risk.state).toBe('ACTIVE');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await fetch(`${bot.url}/api/status`, { headers: { Authorization: `Bearer wrong-${i}` } })).status);
    expect(statuses).toContain(429);
    // Blocked address: even the right token waits until the window ends.
    const blocked = await fetch(`${bot.url}/api/status`, { headers: { Authorization: `Bearer ${bot.token()}` } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    await until('the refusals logged', () => /request without a valid token refused/.test(bot.logs()));
    expect(bot.logs()).not.toMatch(/wrong-\d/);
  });

  it('the Binance keys, the API token and the Slack token appear in no response, log, page or database row', async () => {
    const page = await (await fetch(`${bot.url}/`)).text();
    const js = await (await fetch(`${bot.url}/app.js`)).text();
    const token = bot.token();
    // The generated token file is private.
    expect(readFileSync(bot.tokenFile, 'utf8').trim()).toBe(token);
    const { statSync } = await import('node:fs');
    expect(statSync(bot.tokenFile).mode & 0o777).toBe(0o600);
    expect(bot.output()).toContain(bot.tokenFile); // the log says where the token is
    const dbText = readFileSync(bot.db).toString('latin1') + (() => {
      try {
        return readFileSync(`${bot.db}-wal`).toString('latin1');
      } catch {
        return '';
      }
    })();
    const haystacks = { responses: seen.join('\n'), page: page + js, stdout: bot.output(), logs: bot.logs(), database: dbText, slack: bot.slack.bodies.join('\n') };
    expect(seen.length).toBeGreaterThan(5);
    for (const [where, text] of Object.entries(haystacks)) {
      for (const secret of [API_KEY, API_SECRET, SLACK_TOKEN, token]) expect(text.includes(secret), `${where} holds a secret`).toBe(false);
    }
  });
});

describe('start-up refusals and finished runs', () => {
  it('a non-loopback api.host without PERPBOT_API_TOKEN: the bot refuses to start (exit 2) and nothing listens', async () => {
    const port = await freePort();
    const r = await cli(['run', '--mode', 'paper'], { ...bot.cliEnv, PERPBOT_API_HOST: '0.0.0.0', PERPBOT_API_PORT: String(port), BINANCE_BASE_URL: 'http://127.0.0.1:9', BINANCE_WS_URL: 'ws://127.0.0.1:9', PERPBOT_HEARTBEAT_FILE: join(bot.dir, 'other-hb.json'), PERPBOT_DB: join(bot.dir, 'other.sqlite') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/api\.host: got "0\.0\.0\.0", a non-loopback address; set PERPBOT_API_TOKEN/);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 240_000);

  it('perpbot dashboard --db browses a run read-only: reads answer, commands are refused', async () => {
    const port = await freePort();
    const p = spawn(process.execPath, [projectPath('bin/perpbot.js'), 'dashboard', '--db', bot.db, '--port', String(port)], { env: { ...bot.cliEnv, PERPBOT_API_TOKEN: 'finished-run-token-0123456789' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = `http://127.0.0.1:${port}`;
      const h = { Authorization: 'Bearer finished-run-token-0123456789' };
      await until('the read-only API', async () => {
        try {
          return (await fetch(`${url}/healthz`)).ok;
        } catch {
          return false;
        }
      }, 30_000);
      const fills = (await (await fetch(`${url}/api/fills`, { headers: h })).json()) as { total: number };
      expect(fills.total).toBeGreaterThan(0);
      const status = (await (await fetch(`${url}/api/status`, { headers: h })).json()) as { readOnly: boolean; mode: string };
      expect(status).toMatchObject({ readOnly: true, mode: 'paper' });
      const halt = await fetch(`${url}/api/commands/halt`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{}' });
      expect(halt.status).toBe(409);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  }, 240_000);
});
