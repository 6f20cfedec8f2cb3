/**
 * The dashboard in real Chromium (playwright-core, Debian's chromium) against a paper bot in a
 * child process trading on the simulator: with the token the page shows candles, bands, signal
 * and fill markers, the position with its unrealized PnL and equity; the Halt button halts the
 * bot (heartbeat HALTED) and no new position opens; Flatten closes the position; Resume.
 * Without the token (or with a wrong one) the page refuses. Screenshots under test-output/.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPath } from '../src/core/paths.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BTC, SCREENSHOT_DIR, api, freePort, launchChromium, startPaperBot, until, untilPosition, type PaperBot } from './helpers/paper-bot.ts';

let bot: PaperBot;
let chrome: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  bot = await startPaperBot();
  chrome = await launchChromium();
}, 240_000);

afterAll(async () => {
  await chrome?.close();
  await bot?.stop();
});

describe('dashboard in Chromium, paper bot on the simulator', () => {
  it('without the token, or with a wrong one, the page refuses and shows no data', async () => {
    const page = await chrome.browser.newPage();
    await page.goto(`${bot.url}/`);
    await page.waitForSelector('#login:not([hidden])');
    expect(await page.isHidden('#main')).toBe(true);
    await page.goto(`${bot.url}/#token=wrong-token-0123456789`);
    await page.waitForSelector('#login-message.refused');
    expect(await page.textContent('#login-message')).toMatch(/Refused: a valid token is required/);
    expect(await page.isHidden('#main')).toBe(true);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-refused.png') });
    await page.close();
  }, 240_000);

  it('with the token: candles, bands, signals and fills arrive; position with unrealized PnL; halt, flatten and resume from buttons', async () => {
    const positions = await untilPosition(bot);
    expect(positions[0]!.symbol).toBe('BTCUSDT');
    const page = await chrome.browser.newPage({ viewport: { width: 1400, height: 1800 } });
    await page.goto(`${bot.url}/#token=${encodeURIComponent(bot.token())}`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 20_000 });
    // The token left the address bar (it lives in sessionStorage only).
    expect(page.url()).not.toContain('token');
    expect(Number(await page.getAttribute('body', 'data-candles'))).toBeGreaterThan(100);
    expect(Number(await page.getAttribute('body', 'data-markers'))).toBeGreaterThan(0);
    // Position row with side, entry, mark and an unrealized PnL number.
    await page.locator('#positions tbody tr:first-child td').nth(8).waitFor();
    const row = await page.$$eval('#positions tbody tr:first-child td', (tds) => tds.map((t) => t.textContent ?? ''));
    expect(row[0]).toBe('BTCUSDT');
    expect(row[1]).toMatch(/^(LONG|SHORT)$/);
    expect(row[5]).toMatch(/^-?[\d,]+\.\d\d$/);
    expect(await page.textContent('#account')).toMatch(/equity[\d,.]+/);
    // Fills and signals tables show the run.
    expect(await page.$$eval('#fills tbody tr', (r) => r.length)).toBeGreaterThan(0);
    expect(await page.textContent('#signals tbody')).toMatch(/vwap/);
    // Live updates: a new kline arrives over the event stream and the chart grows.
    const before = Number(await page.getAttribute('body', 'data-candles'));
    bot.sim.advance(1);
    await until('a new candle on the chart', async () => Number(await page.getAttribute('body', 'data-candles')) > before, 15_000);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-paper.png'), fullPage: true });

    // Halt from the button, with confirmation.
    await page.click('#commands button[data-command="halt"]');
    await page.fill('#confirm-reason', 'browser test halt');
    await page.click('#confirm-ok');
    await page.locator('#state', { hasText: /^HALTED$/ }).waitFor({ timeout: 5_000 });
    await until('heartbeat HALTED', () => bot.heartbeat().risk.state === 'HALTED', 5_000);
    expect(bot.heartbeat().risk.reason).toMatch(/operator halt: browser test halt/);
    // Halted: klines keep coming, no order leaves (signals are denied by the trading state).
    const submitted = bot.heartbeat().counters.ordersSubmitted!;
    for (let i = 0; i < 5; i++) {
      bot.sim.advance(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    await until('heartbeat after the klines', () => bot.heartbeat().counters.klines! > 0);
    expect(bot.heartbeat().counters.ordersSubmitted).toBe(submitted);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-halted.png'), fullPage: true });

    // Flatten everything from the button: closes while HALTED (reduce-only through the executor).
    await page.click('#commands button[data-command="flatten"]');
    await page.click('#confirm-ok');
    await until('flat', async () => {
      bot.sim.step(1);
      return ((await api(bot, '/api/positions')).positions as unknown[]).length === 0;
    });
    await page.locator('#positions tbody', { hasText: 'no open positions' }).waitFor({ timeout: 10_000 });
    // The order's row comes through the writer thread, possibly a moment after the position.
    type OrderItem = { clientOrderId: string; reduceOnly: boolean; status: string; strategyId: string };
    const flatOrder = async () => ((await api(bot, '/api/orders?limit=50')).items as OrderItem[]).find((o) => o.clientOrderId.startsWith('pb-flat-') && o.status === 'FILLED');
    await until('the flatten order recorded as filled', async () => (await flatOrder()) !== undefined, 10_000);
    expect(await flatOrder()).toMatchObject({ reduceOnly: true, status: 'FILLED', strategyId: 'operator' });

    // Resume.
    await page.click('#commands button[data-command="resume"]');
    await page.click('#confirm-ok');
    await until('heartbeat ACTIVE', () => bot.heartbeat().risk.state === 'ACTIVE', 5_000);
    await page.locator('#state', { hasText: /^ACTIVE$/ }).waitFor({ timeout: 5_000 });
    // Every command is recorded with who, when and why, and was alerted.
    const cmds = (await api(bot, '/api/commands')).commands as Array<{ command: string; who: string; reason: string; outcome: string }>;
    expect(cmds.map((c) => c.command)).toEqual(['resume', 'flatten', 'halt']);
    expect(cmds[2]).toMatchObject({ who: expect.stringMatching(/^dashboard via 127\.0\.0\.1$/), reason: 'browser test halt', outcome: 'trading state HALTED' });
    await until('alerts on Slack', () => bot.slack.bodies.some((b) => b.includes('operator command halt')) && bot.slack.bodies.some((b) => b.includes('operator command resume')));
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-resumed.png'), fullPage: true });
    await page.close();
  }, 240_000);
});

describe('dashboard of a finished run', () => {
  it('perpbot backtest --serve: the page shows the run read-only, its chart with candles, bands and markers, its fills', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-serve-'));
    const port = await freePort();
    const token = 'finished-run-browser-token-0123456789';
    const p = spawn(process.execPath, [projectPath('bin/perpbot.js'), 'backtest', '--data', BTC, '--db', join(dir, 'bt.sqlite'), '--serve', '--log-level', 'warn'], {
      env: { PATH: process.env.PATH ?? '', PERPBOT_API_PORT: String(port), PERPBOT_API_TOKEN: token, PERPBOT_LOG_FILE: 'false', PERPBOT_API_TOKEN_FILE: join(dir, 'api-token') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await until('the served run', async () => {
        if (p.exitCode !== null) throw new Error(`backtest exited ${p.exitCode}: ${out}`);
        try {
          return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
        } catch {
          return false;
        }
      }, 240_000);
      expect(out).toMatch(/net PnL/i); // the report was printed first
      const page = await chrome.browser.newPage({ viewport: { width: 1400, height: 1600 } });
      await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 20_000 });
      expect(await page.textContent('#mode')).toBe('replay (finished run, read-only)');
      expect(Number(await page.getAttribute('body', 'data-candles'))).toBeGreaterThan(100);
      await page.selectOption('#interval', '15m');
      await until('markers on the chart', async () => Number(await page.getAttribute('body', 'data-markers')) > 0, 10_000);
      expect(await page.$$eval('#fills tbody tr', (r) => r.length)).toBeGreaterThan(1);
      expect(await page.isHidden('#commands')).toBe(true); // read-only: no command buttons
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-finished-run.png'), fullPage: true });
      await page.close();
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
