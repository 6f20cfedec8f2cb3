/**
 * End-to-end: `perpbot backtest --json --report FILE --trades FILE` on the bundled real BTC/ETH
 * klines and funding rates (the real CLI in a child process), then the HTML report opened in real
 * Chromium, offline: it renders the equity, drawdown and price charts with the trades' markers,
 * asks for nothing over the network, and every figure of its summary table equals the JSON
 * report's. The trades CSV adds up to the report. Funding off vs on differs by exactly the
 * funding net.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import { Decimal } from '../src/core/decimal.ts';
import type { BacktestReport } from '../src/backtest/report.ts';

const BIN = projectPath('bin/perpbot.js');
const CHROMIUM = '/usr/bin/chromium';
/** Where the screenshot is kept for a human to look at (ignored by git). */
const SHOT = projectPath('status/backtest-report.png');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-report-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function perpbot(args: string[], sub: string) {
  const base = join(dir, sub);
  mkdirSync(base, { recursive: true });
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: projectPath('.'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, PERPBOT_DB: join(base, 'perpbot.sqlite'), PERPBOT_LOG_DIR: join(base, 'logs'), PERPBOT_LOG_FILE: 'false' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, base };
}

/** A value of the report by a dotted path (`metrics.all.profitFactor`). */
function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | null)?.[k], obj);
}

describe('backtest --report / --trades / funding', () => {
  let report: BacktestReport;
  let html: string;
  let csv: string;
  let dbFile: string;

  beforeAll(() => {
    const r = perpbot(['backtest', '--json', '--report', 'REPORT', '--trades', 'TRADES'].map((a) => (a === 'REPORT' ? join(dir, 'report.html') : a === 'TRADES' ? join(dir, 'trades.csv') : a)), 'on');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout) as BacktestReport;
    dbFile = join(r.base, 'perpbot.sqlite');
    html = join(dir, 'report.html');
    csv = readFileSync(join(dir, 'trades.csv'), 'utf8');
  });

  it('funding comes from the bundled real rates and reaches the report, the trades and equity', () => {
    expect(report.funding.enabled).toBe(true);
    expect(report.funding.uncoveredSymbols).toEqual([]);
    // 11.5 days × 3 funding times × 2 symbols fall in the span.
    expect(report.funding.fundingTimes).toBeGreaterThanOrEqual(66);
    expect(report.funding.payments).toBe(report.fundingPayments.length);
    expect(report.funding.payments).toBeGreaterThan(0);
    let paid = new Decimal(0);
    let received = new Decimal(0);
    for (const p of report.fundingPayments) {
      // −qty × price × rate, recomputed here from the payment's own fields.
      expect(new Decimal(p.positionQty).neg().times(p.markPrice).times(p.rate).eq(p.amount)).toBe(true);
      if (new Decimal(p.amount).isNegative()) paid = paid.minus(p.amount);
      else received = received.plus(p.amount);
    }
    expect(paid.eq(report.funding.paid)).toBe(true);
    expect(received.eq(report.funding.received)).toBe(true);
    expect(new Decimal(report.netPnl).plus(report.funding.net).eq(report.netPnlAfterFunding)).toBe(true);
    // Funding of the closed trips, summed per trip, equals the run's (every payment fell inside a trip here).
    expect(new Decimal(report.metrics.all.funding).eq(report.funding.net)).toBe(true);
    // The database's run row carries the same funding and every payment.
    const db = new Database(dbFile, { readonly: true });
    try {
      const row = db.prepare('SELECT status, summary_json FROM runs WHERE id = ?').get(report.runId) as { status: string; summary_json: string };
      expect(row.status).toBe('completed');
      const summary = JSON.parse(row.summary_json) as BacktestReport;
      expect(summary.funding).toEqual(report.funding);
      expect(summary.fundingPayments).toEqual(report.fundingPayments);
      expect(summary.netPnlAfterFunding).toBe(report.netPnlAfterFunding);
    } finally {
      db.close();
    }
  });

  it('with --funding none the same run differs by exactly the funding net', () => {
    const off = perpbot(['backtest', '--json', '--funding', 'none'], 'off');
    expect(off.code).toBe(0);
    const r0 = JSON.parse(off.stdout) as BacktestReport;
    expect(r0.funding.enabled).toBe(false);
    expect(r0.netPnl).toBe(report.netPnl); // the same trades: funding is too small to change a decision here
    expect(new Decimal(r0.metrics.all.netPnl).plus(report.funding.net).eq(report.metrics.all.netPnl)).toBe(true);
    expect(report.endingEquity - r0.endingEquity).toBeCloseTo(Number(report.funding.net), 3);
  });

  it('a missing --funding file is bad input (exit 2) naming it', () => {
    const r = perpbot(['backtest', '--funding', join(dir, 'BTCUSDT-nope.csv')], 'bad');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('BTCUSDT-nope.csv');
    expect(existsSync(join(r.base, 'perpbot.sqlite'))).toBe(false);
  });

  it('the trades CSV has a header and one row per round trip, decimal strings that add up to the report', () => {
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('symbol,strategy_id,side,entry_time,entry_time_utc,exit_time,exit_time_utc,quantity,entry_price,exit_price,gross_pnl,fees,funding,net_pnl');
    const rows = lines.slice(1).map((l) => l.split(','));
    expect(rows.length).toBe(report.roundTrips);
    let net = new Decimal(0);
    let fees = new Decimal(0);
    for (const r of rows) {
      expect(r[12]).toMatch(/^-?\d+(\.\d+)?$/);
      expect(new Decimal(r[10] as string).minus(r[11] as string).plus(r[12] as string).eq(r[13] as string)).toBe(true);
      net = net.plus(r[13] as string);
      fees = fees.plus(r[11] as string);
    }
    expect(net.eq(report.metrics.all.netPnl)).toBe(true);
    expect(fees.eq(report.fees)).toBe(true);
  });

  it.skipIf(!existsSync(CHROMIUM))('the HTML report renders offline in Chromium and its numbers are the JSON report\'s', async () => {
    let ctx: BrowserContext | undefined;
    try {
      ctx = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-')), {
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1400, height: 1000 },
      });
      const page = await ctx.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('request', (r) => {
        if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`network: ${r.url()}`);
      });
      await page.goto(`file://${html}`);
      // (Browser-side code as strings: this project's TypeScript has no DOM types.)
      await page.waitForFunction('window.__reportReady === true', null, { timeout: 20_000 });
      expect(problems).toEqual([]);

      // The three charts drew on their canvases (lightweight-charts paints into <canvas>).
      for (const id of ['equity', 'drawdown', 'price']) {
        const painted = await page.evaluate(`[...document.querySelectorAll('#${id} canvas')].some((c) => {
          const g = c.getContext('2d');
          if (!g || c.width === 0) return false;
          const d = g.getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4 * 97) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
          return false;
        })`);
        expect(painted, `#${id} painted`).toBe(true);
      }

      // Entry and exit markers of the first symbol's trades.
      const first = report.symbols.find((s) => report.metrics.bySymbol[s]) as string;
      // The price chart opens on the whole span: its first and last bars and every trade in view.
      const shown = (await page.evaluate('window.__priceVisibleRange()')) as { from: number; to: number } | null;
      const span = report.data.find((d) => d.symbol === first) as { from: number; to: number };
      expect(shown).not.toBeNull();
      expect(shown?.from).toBeLessThanOrEqual(span.from / 1000);
      const barSeconds = 60 * Number(/(\d+)-minute bars/.exec((await page.textContent('#bar-size')) ?? '')?.[1]);
      expect(shown?.to).toBeGreaterThanOrEqual(Math.floor(span.to / 1000 / barSeconds) * barSeconds);
      const trips = report.metrics.bySymbol[first]?.trades ?? 0;
      expect(await page.evaluate('window.__markerCount')).toBe(2 * trips);
      // The other symbol's tab shows its own candles and trades.
      const other = report.symbols.find((s) => s !== first) as string;
      await page.click(`#symbol-tabs button:text-is("${other}")`);
      expect(await page.evaluate('window.__markerCount')).toBe(2 * (report.metrics.bySymbol[other]?.trades ?? 0));
      expect(await page.textContent('#bar-size')).toContain(other);
      await page.click(`#symbol-tabs button:text-is("${first}")`);

      // Every summary cell equals the JSON report's value (decimal strings exactly; floats as printed).
      const cells = (await page.evaluate(`[...document.querySelectorAll('td[data-key]')].map((td) => ({ key: td.getAttribute('data-key'), text: td.textContent }))`)) as Array<{ key: string; text: string }>;
      expect(cells.length).toBeGreaterThan(20);
      const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
      const percentKeys = new Set(['metrics.totalReturn', 'maxDrawdownPct', 'winRate', 'metrics.exposure', 'metrics.benchmark.return']);
      for (const { key, text } of cells) {
        const v = at(report, key);
        if (key === 'ordersSubmitted') expect(text).toBe(`${report.ordersSubmitted} / ${report.ordersDenied}`);
        else if (percentKeys.has(key)) expect(text, key).toBe(pct(v as number));
        else if (typeof v === 'string') expect(text, key).toBe(v);
        else if (key === 'sharpe') expect(text).toBe((v as number).toFixed(4));
        else if (typeof v === 'number') expect(text, key).toBe(['endingEquity', 'maxDrawdown', 'metrics.benchmark.endingEquity'].includes(key) ? v.toFixed(2) : String(v));
        else throw new Error(`unexpected value at ${key}: ${JSON.stringify(v)}`);
      }
      for (const k of ['netPnlAfterFunding', 'funding.paid', 'funding.received', 'metrics.all.profitFactor', 'endingEquity']) expect(cells.map((c) => c.key)).toContain(k);

      // The monthly heatmap cell and the trade rows.
      for (const m of report.metrics.monthlyReturns) expect(await page.textContent(`td[data-month="${m.month}"]`)).toBe(pct(m.return));
      expect(await page.evaluate(`document.querySelectorAll('#trades tr').length`)).toBe(report.roundTrips + 1);

      mkdirSync(projectPath('status'), { recursive: true });
      await page.screenshot({ path: SHOT, fullPage: true });
    } finally {
      await ctx?.close();
    }
  });
});
