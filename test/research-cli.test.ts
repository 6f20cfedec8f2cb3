/**
 * End-to-end: `perpbot optimize` and `perpbot walkforward` as child processes of the real CLI on
 * the bundled real klines (funding off to keep it short): bad flags exit 2 naming the flag; a
 * seeded random search writes a byte-identical file twice; the walk-forward JSON is consistent
 * (stitched equity = compounded window returns, WFE = OOS / IS annualised) and its HTML report
 * renders offline in Chromium with the summary equal to the JSON.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';
import type { WalkForwardResult } from '../src/research/walkforward.ts';

const BIN = projectPath('bin/perpbot.js');
const CHROMIUM = '/usr/bin/chromium';
const SHOT = projectPath('status/walkforward-report.png');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-research-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function perpbot(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: projectPath('.'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, PERPBOT_LOG_FILE: 'false' },
    timeout: 400_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('perpbot optimize', () => {
  it('bad flags exit 2 and name the flag', () => {
    const a = perpbot(['optimize', '--strategy', 'vwap-adx', '--param', 'bandK=2,3', '--objective', 'profit']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--objective: expected one of sharpe, net, calmar, sortino/);
    const b = perpbot(['optimize', '--strategy', 'vwap-adx', '--param', 'bandK=3:1:0.5']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--param bandK=3:1:0.5/);
    const c = perpbot(['optimize', '--strategy', 'nope', '--param', 'bandK=2']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/unknown strategy "nope"/);
  }, 120_000);

  it('a seeded random search prints a ranked table and writes a byte-identical JSON file twice', () => {
    const args = (out: string) => ['optimize', '--strategy', 'vwap-adx', '--param', 'bandK=1.5:3:0.5', '--param', 'adxMax=15,20,25', '--method', 'random', '--trials', '3', '--seed', '42', '--objective', 'net', '--funding', 'none', '--workers', '2', '--out', join(dir, out)];
    const a = perpbot(args('a.json'));
    expect(a.stderr).toMatch(/optimize: 3\/\d+ trials/); // progress on stderr
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/random search, objective net, seed 42/);
    expect(a.stdout).toMatch(/deflated Sharpe ratio/);
    expect(a.stdout).toMatch(/neighbourhood of the best/);
    const b = perpbot(args('b.json'));
    expect(b.code).toBe(0);
    const ja = readFileSync(join(dir, 'a.json'), 'utf8');
    expect(readFileSync(join(dir, 'b.json'), 'utf8')).toBe(ja);
    const j = JSON.parse(ja) as { trials: Array<{ source: string; params: Record<string, number> }>; seed: number };
    expect(j.seed).toBe(42);
    expect(j.trials.filter((t) => t.source === 'search')).toHaveLength(3);
  }, 400_000);
});

describe('perpbot walkforward', () => {
  let wf: WalkForwardResult;
  const html = () => join(dir, 'wf.html');
  beforeAll(() => {
    const r = perpbot(['walkforward', '--strategy', 'vwap-adx', '--param', 'bandK=2,2.5', '--param', 'adxMax=20,25', '--train', '3d', '--test', '2d', '--step', '3d', '--objective', 'net', '--funding', 'none', '--workers', '2', '--out', join(dir, 'wf.json'), '--report', html()]);
    expect(r.stderr).not.toMatch(/perpbot:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/walk-forward efficiency/);
    wf = JSON.parse(readFileSync(join(dir, 'wf.json'), 'utf8')) as WalkForwardResult;
  }, 400_000);

  it('plans rolling windows, OOS right after IS, and stitches the OOS equity by compounding', () => {
    expect(wf.windows).toHaveLength(3);
    for (const w of wf.windows) {
      expect(w.oosFrom).toBe(w.isTo);
      expect(w.oosTo - w.oosFrom).toBe(2 * 86_400_000);
      expect(w.isTo - w.isFrom).toBe(3 * 86_400_000);
      expect(w.isTrials).toBe(4);
    }
    expect(wf.windows[1]!.isFrom - wf.windows[0]!.isFrom).toBe(3 * 86_400_000);
    const compounded = wf.windows.reduce((a, w) => a * (1 + (w.oosMetrics?.totalReturn ?? 0)), 1) - 1;
    expect(wf.oosReturn).toBeCloseTo(compounded, 12);
    const last = wf.equity[wf.equity.length - 1]!;
    expect(last.equity).toBeCloseTo(wf.startingEquity * (1 + wf.oosReturn), 6);
    expect(wf.equity.every((p) => p.t > wf.windows[0]!.oosFrom - 1 && p.t <= wf.windows[2]!.oosTo)).toBe(true);
    if (wf.wfe !== null) expect(wf.wfe).toBeCloseTo(wf.oosAnnualised / (wf.isAnnualisedMean as number), 12);
    for (const s of wf.stability) expect(s.values).toEqual(wf.windows.map((w) => w.params?.[s.name] ?? null));
  });

  it.skipIf(!existsSync(CHROMIUM))('the HTML report renders offline in Chromium; its summary is the JSON', async () => {
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
      await page.goto(`file://${html()}`);
      await page.waitForFunction('window.__reportReady === true', null, { timeout: 20_000 });
      expect(problems).toEqual([]);
      for (const id of ['equity', 'returns']) {
        const painted = await page.evaluate(`[...document.querySelectorAll('#${id} canvas')].some((c) => {
          const g = c.getContext('2d');
          if (!g || c.width === 0) return false;
          const d = g.getImageData(0, 0, c.width, c.height).data;
          for (let i = 0; i < d.length; i += 4 * 97) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true;
          return false;
        })`);
        expect(painted, `#${id} painted`).toBe(true);
      }
      const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);
      expect(await page.textContent('td[data-key="oosReturn"]')).toBe(pct(wf.oosReturn));
      expect(await page.textContent('td[data-key="totalTrials"]')).toBe(String(wf.totalTrials));
      expect(await page.textContent('td[data-key="wfe"]')).toBe(wf.wfe === null ? 'n/a' : wf.wfe.toFixed(2));
      expect(await page.evaluate(`document.querySelectorAll('#windows tr[data-window]').length`)).toBe(wf.windows.length);
      const firstParams = Object.entries(wf.windows[0]!.params ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
      expect(await page.textContent('#windows tr[data-window="1"]')).toContain(firstParams);
      mkdirSync(projectPath('status'), { recursive: true });
      await page.screenshot({ path: SHOT, fullPage: true });
    } finally {
      await ctx?.close();
    }
  }, 60_000);
});
