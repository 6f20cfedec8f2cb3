/**
 * `npm run bench:cli`: start-up cost of the CLI, the command monitors call most —
 * `perpbot status` — and `perpbot --version`, from the compiled build (dist/, what `npm ci`
 * leaves) and from the TypeScript sources (PERPBOT_FROM_SOURCE=1, what it was before the build).
 * Each case: one warm-up, then N runs; prints the median and best wall time (spawn to exit) and
 * the median peak RSS (the child's own `process.resourceUsage().maxRSS`, printed at exit).
 * Figures are printed, never asserted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPath } from '../src/core/paths.ts';

const N = Number(process.env.BENCH_RUNS ?? 15);
const BIN = projectPath('bin/perpbot.js');
const REPORT_RSS = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nMAXRSS "+process.resourceUsage().maxRSS+"\\n"))';

const dir = mkdtempSync(join(tmpdir(), 'perpbot-bench-cli-'));
const hb = join(dir, 'heartbeat.json');
writeFileSync(hb, JSON.stringify({ status: 'ok', statusReason: null, time: new Date().toISOString(), timeMs: Date.now(), pid: 1, mode: 'live', runId: 'bench', startedAt: Date.now(), uptimeMs: 0, sources: {}, database: { ok: true, detail: 'ok', file: 'x' }, risk: { state: 'ACTIVE', reason: null, consecutiveLosses: 0 }, positions: {}, openOrders: [], lastError: null }));

function once(args: string[], env: Record<string, string>): { ms: number; rssMb: number } {
  const t0 = performance.now();
  const argv = args.length === 0 ? ['--import', REPORT_RSS, '-e', '0'] : ['--import', REPORT_RSS, BIN, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', cwd: dir, env: { PATH: process.env.PATH ?? '', PERPBOT_HEARTBEAT_STALE_AFTER_MS: '3600000', ...env } });
  const ms = performance.now() - t0;
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no RSS figure: exit ${r.status} ${r.stderr}`);
  return { ms, rssMb: Number(m[1]) / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function bench(name: string, args: string[], env: Record<string, string> = {}): void {
  once(args, env);
  const runs = Array.from({ length: N }, () => once(args, env));
  const ms = runs.map((r) => r.ms);
  console.log(`${name.padEnd(44)} median ${median(ms).toFixed(0).padStart(5)} ms, best ${Math.min(...ms).toFixed(0).padStart(5)} ms, peak RSS ${median(runs.map((r) => r.rssMb)).toFixed(1)} MB`);
}

console.log(`CLI start-up, ${N} runs each (Node ${process.version})`);
bench('node -e 0 (Node itself, for reference)', [], {});
if (!existsSync(projectPath('dist/perpbot.js'))) console.log('dist/ missing: run `npm run build` first');
else {
  bench('perpbot status (dist/)', ['status', '--file', hb]);
  bench('perpbot --version (dist/)', ['--version']);
}
bench('perpbot status (sources, tsx)', ['status', '--file', hb], { PERPBOT_FROM_SOURCE: '1' });
rmSync(dir, { recursive: true, force: true });
