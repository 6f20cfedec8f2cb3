/**
 * End-to-end: the real CLI in a child process, the bundled real Binance data, a real SQLite file
 * in a temp folder. Checks what a user sees: exit codes, the report, the database and the
 * heartbeat — and that every recorded order satisfies the exchange filters it was given.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { Decimal } from '../src/core/decimal.ts';
import { loadExchangeInfo } from '../executor/exchange-info.ts';
import { lotSizeFor, validateOrder } from '../executor/filters.ts';
import type { Heartbeat } from '../src/health/heartbeat.ts';

const BIN = projectPath('bin/perpbot.js');
const BTC = projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const ETH = projectPath('data/klines/ETHUSDT-1m-2025-07-06_2025-07-17.csv');
const AVAX_HEAD = projectPath('src/market/fixtures/AVAXUSDT-1m-2025-02-head.csv');
const RULES = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Run the CLI with a clean environment pointing every output into `sub`. */
function perpbot(args: string[], sub: string, env: Record<string, string> = {}) {
  const base = join(dir, sub);
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      PERPBOT_DB: join(base, 'perpbot.sqlite'),
      PERPBOT_HEARTBEAT_FILE: join(base, 'status', 'heartbeat.json'),
      PERPBOT_LOG_DIR: join(base, 'logs'),
      ...env,
    },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, base };
}

interface OrderRow {
  client_order_id: string;
  symbol: string;
  side: 'BUY' | 'SELL';
  type: 'MARKET' | 'LIMIT';
  quantity: string;
  reduce_only: number;
  status: string;
  executed_qty: string;
  avg_price: string | null;
  ref_price: string;
}

describe('perpbot run (the main job) on the bundled real data', () => {
  let res: ReturnType<typeof perpbot>;
  beforeAll(() => {
    res = perpbot(['run'], 'run');
  });

  it('exits 0 and prints the summary', () => {
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/candles 33134, signals \d+, orders submitted \d+/);
  });

  it('writes signals, orders and fills to the database, consistently', () => {
    const db = new Database(join(res.base, 'perpbot.sqlite'), { readonly: true });
    try {
      const run = db.prepare('select * from runs').all() as Array<{ id: string; status: string; summary_json: string }>;
      expect(run).toHaveLength(1);
      expect(run[0]!.status).toBe('completed');
      const summary = JSON.parse(run[0]!.summary_json) as { signals: number; ordersSubmitted: number; fills: number };
      const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      expect(count('select count(*) n from candles_1m')).toBe(33134);
      expect(count('select count(*) n from signals')).toBe(summary.signals);
      expect(summary.signals).toBeGreaterThan(10);
      // protective stops (risk.exchangeStop, on by default) are orders too, counted apart
      expect(count("select count(*) n from orders where status != 'DENIED' and type != 'STOP_MARKET'")).toBe(summary.ordersSubmitted);
      expect(count("select count(*) n from orders where type = 'STOP_MARKET'")).toBeGreaterThan(0);
      expect(count('select count(*) n from fills')).toBe(summary.fills);
      expect(summary.fills).toBeGreaterThan(10);
      // every signal row carries the indicator values its decision used
      const sig = db.prepare('select indicators from signals limit 1').get() as { indicators: string };
      const ind = JSON.parse(sig.indicators) as Record<string, number>;
      for (const k of ['vwap', 'upper', 'lower', 'adx']) expect(typeof ind[k]).toBe('number');
      // no money column is REAL
      for (const t of ['orders', 'fills', 'positions', 'signals', 'candles_1m']) {
        const cols = db.prepare(`pragma table_info(${t})`).all() as Array<{ type: string; name: string }>;
        expect(cols.filter((c) => c.type.toUpperCase() === 'REAL').map((c) => c.name)).toEqual([]);
      }
    } finally {
      db.close();
    }
  });

  it('records only orders that satisfy the exchangeInfo filters', () => {
    const db = new Database(join(res.base, 'perpbot.sqlite'), { readonly: true });
    try {
      const orders = db.prepare("select * from orders where status != 'DENIED' and type != 'STOP_MARKET'").all() as OrderRow[];
      expect(orders.length).toBeGreaterThan(10);
      // protective stops: their trigger price on the tick, triggered (filled whole) or canceled
      const stops = db.prepare("select * from orders where type = 'STOP_MARKET'").all() as Array<OrderRow & { stop_price: string }>;
      for (const o of stops) {
        const rules = RULES.get(o.symbol);
        expect(validateOrder(rules, { side: o.side, type: o.type, quantity: o.quantity, stopPrice: o.stop_price, closePosition: true, reduceOnly: true, refPrice: o.ref_price })).toBeNull();
        expect(['FILLED', 'CANCELED', 'NEW', 'REJECTED']).toContain(o.status);
      }
      for (const o of orders) {
        const rules = RULES.get(o.symbol);
        expect(validateOrder(rules, { side: o.side, type: o.type, quantity: o.quantity, reduceOnly: o.reduce_only === 1, refPrice: o.ref_price })).toBeNull();
        const step = lotSizeFor(rules, o.type).stepSize;
        expect(new Decimal(o.quantity).mod(step).isZero()).toBe(true);
        expect(o.status).toBe('FILLED');
        expect(o.executed_qty).toBe(o.quantity);
        // the fill price is on the tick
        expect(new Decimal(o.avg_price!).mod(rules.priceFilter.tickSize).isZero()).toBe(true);
        if (o.reduce_only === 0) {
          expect(new Decimal(o.quantity).times(o.avg_price!).gte(rules.minNotional.notional)).toBe(true);
        }
      }
    } finally {
      db.close();
    }
  });

  it('leaves a complete heartbeat saying stopped', () => {
    const hb = JSON.parse(readFileSync(join(res.base, 'status', 'heartbeat.json'), 'utf8')) as Heartbeat;
    expect(hb.status).toBe('stopped');
    expect(hb.mode).toBe('replay');
    for (const k of ['time', 'pid', 'uptimeMs', 'sources', 'database', 'risk', 'positions', 'openOrders', 'lastError']) {
      expect(hb).toHaveProperty(k);
    }
    expect(Object.keys(hb.sources).sort()).toEqual(['BTCUSDT', 'ETHUSDT']);
    expect(hb.sources.BTCUSDT!.messages).toBe(16567);
    expect(hb.database.ok).toBe(true);
    expect(readdirSync(join(res.base, 'status')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // status: a stopped bot is critical for monitoring
    const st = perpbot(['status', '--file', join(res.base, 'status', 'heartbeat.json')], 'run');
    expect(st.code).toBe(2);
    expect(st.stdout).toMatch(/^STOPPED/);
  });

  it('writes JSON log files with the run', () => {
    const logs = readdirSync(join(res.base, 'logs'));
    expect(logs.some((f) => /^perpbot\.\d+\.log$/.test(f))).toBe(true);
    const first = readFileSync(join(res.base, 'logs', logs[0]!), 'utf8').split('\n')[0]!;
    expect(JSON.parse(first)).toHaveProperty('msg');
  });
});

describe('perpbot backtest --json', () => {
  it('prints the report object alone, deterministic across runs', () => {
    const a = perpbot(['backtest', '--json', '--data', BTC, ETH], 'bt-a');
    const b = perpbot(['backtest', '--json', '--data', BTC, ETH], 'bt-b');
    expect(a.code).toBe(0);
    const ra = JSON.parse(a.stdout) as Record<string, unknown>;
    const rb = JSON.parse(b.stdout) as Record<string, unknown>;
    for (const k of ['candles', 'signals', 'ordersSubmitted', 'ordersDenied', 'fills', 'roundTrips', 'netPnl', 'fees', 'maxDrawdown', 'winRate', 'sharpe', 'elapsedMs', 'candlesPerSecond']) {
      expect(ra).toHaveProperty(k);
    }
    const stable = (r: Record<string, unknown>) => ({ ...r, runId: 0, elapsedMs: 0, candlesPerSecond: 0, database: 0 });
    expect(stable(ra)).toEqual(stable(rb));
    expect(ra.candles).toBe(33134);
  });

  it('reads the 12-column archive format and a SYMBOL=path spec', () => {
    const r = perpbot(['backtest', '--json', '--data', `AVAXUSDT=${AVAX_HEAD}`], 'bt-avax');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as { candles: number; symbols: string[] };
    expect(rep.candles).toBe(199);
    expect(rep.symbols).toEqual(['AVAXUSDT']);
  });
});

describe('bad input: clear error, exit 2, nothing written', () => {
  it('a malformed data row names file, line and field', () => {
    const bad = join(dir, 'BTCUSDT-1m-bad.csv');
    const lines = readFileSync(BTC, 'utf8').split('\n');
    lines[99] = lines[99]!.replace(/^(\d+),([^,]+),/, '$1,$2x,');
    writeFileSync(bad, lines.join('\n'));
    const r = perpbot(['run', '--data', bad], 'bad-row');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BTCUSDT-1m-bad\.csv line 100: field "open": "[0-9.]+x" is not a decimal number/);
    expect(existsSync(join(r.base, 'perpbot.sqlite'))).toBe(false);
    expect(existsSync(join(r.base, 'status', 'heartbeat.json'))).toBe(false);
  });

  it('an unknown variable and a bad value are both named', () => {
    const r = perpbot(['run'], 'bad-cfg', { PERPBOT_SIZING_NOTIONL: '5', PERPBOT_RISK_MAX_OPEN_POSITIONS: 'two' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PERPBOT_SIZING_NOTIONL: unknown variable \(did you mean PERPBOT_SIZING_NOTIONAL\?\)/);
    expect(r.stderr).toMatch(/risk\.maxOpenPositions \(from PERPBOT_RISK_MAX_OPEN_POSITIONS\): got "two"/);
    expect(existsSync(join(r.base, 'perpbot.sqlite'))).toBe(false);
  });

  it('an unknown key in the config file is named with the file', () => {
    const cfg = join(dir, 'typo.json');
    writeFileSync(cfg, JSON.stringify({ risk: { maxOpenPosition: 3 } }));
    const r = perpbot(['backtest', '--config', cfg, '--data', BTC], 'bad-file');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('risk.maxOpenPosition');
    expect(r.stderr).toContain('unknown key');
  });

  it('a symbol missing from exchangeInfo is refused before anything is written', () => {
    const f = join(dir, 'NOPEUSDT-1m-x.csv');
    copyFileSync(BTC, f);
    const r = perpbot(['backtest', '--data', f], 'bad-sym');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NOPEUSDT/);
    expect(existsSync(join(r.base, 'perpbot.sqlite'))).toBe(false);
  });

  it('live mode without keys is refused, naming the variables, before anything is written', () => {
    const r = perpbot(['run', '--mode', 'live'], 'no-keys');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/live mode needs the environment variables BINANCE_API_KEY and BINANCE_API_SECRET/);
    expect(existsSync(join(r.base, 'perpbot.sqlite'))).toBe(false);
  });

  it('mainnet without the opt-in is refused', () => {
    const r = perpbot(['run', '--mode', 'live'], 'mainnet', { BINANCE_ENV: 'mainnet', BINANCE_API_KEY: 'k', BINANCE_API_SECRET: 's' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/binance\.env: got "mainnet", expected "testnet" unless binance\.allowMainnet is true/);
  });
});

describe('perpbot status', () => {
  const write = (file: string, patch: Partial<Heartbeat>) => {
    const hb: Partial<Heartbeat> = {
      status: 'ok',
      statusReason: null,
      time: new Date().toISOString(),
      timeMs: Date.now(),
      pid: 1,
      mode: 'replay',
      runId: 'r',
      startedAt: Date.now(),
      uptimeMs: 0,
      sources: {},
      database: { ok: true, detail: 'ok', file: 'x' },
      risk: { state: 'ACTIVE', reason: null, consecutiveLosses: 0 },
      positions: {},
      openOrders: [],
      lastError: null,
      ...patch,
    };
    writeFileSync(file, JSON.stringify(hb));
  };

  it('exits 0 when fresh and ok, 1 when halted, 2 when stale, 3 when missing', () => {
    const f = join(dir, 'hb.json');
    write(f, {});
    expect(perpbot(['status', '--file', f], 'st').code).toBe(0);
    write(f, { status: 'halted', statusReason: 'trading REDUCING' });
    expect(perpbot(['status', '--file', f], 'st').code).toBe(1);
    write(f, { timeMs: Date.now() - 120_000 });
    const stale = perpbot(['status', '--file', f], 'st');
    expect(stale.code).toBe(2);
    expect(stale.stdout).toMatch(/^STALE/);
    const missing = perpbot(['status', '--file', join(dir, 'nope.json')], 'st');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/missing/);
  });
});

describe('perpbot db migrate', () => {
  it('creates the database with every table, and is idempotent', () => {
    const a = perpbot(['db', 'migrate'], 'migrate');
    expect(a.code).toBe(0);
    const b = perpbot(['db', 'migrate'], 'migrate');
    expect(b.code).toBe(0);
    const db = new Database(join(a.base, 'perpbot.sqlite'), { readonly: true });
    const tables = (db.prepare("select name from sqlite_master where type='table'").all() as Array<{ name: string }>).map((t) => t.name);
    const views = (db.prepare("select name from sqlite_master where type='view'").all() as Array<{ name: string }>).map((t) => t.name);
    db.close();
    for (const t of ['runs', 'candle_blocks', 'signals', 'orders', 'fills', 'positions', 'risk_events']) expect(tables).toContain(t);
    expect(views).toEqual(['candles_1m']);
  });
});
