/**
 * What `perpbot optimize` prints and writes: the ranked table with the overfitting guards, and
 * every trial as CSV or JSON (`--out FILE`, by extension). Rows carry the strategy, objective,
 * method, seed, data hash, setup hash (fees, slippage, sizing, risk, sessions, funding, exchange
 * filters, code version) and perpbot version, so files from different runs can be compared; no
 * wall time, so the same seed gives a byte-identical file.
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { perpbotVersion } from '../core/paths.ts';
import type { OptimizeResult, TrialRow } from './optimize.ts';
import type { DataFileHash } from './data-hash.ts';

/** Metric columns of the CSV, in order. */
export const METRIC_COLUMNS = ['sharpe', 'sortino', 'calmar', 'net', 'totalReturn', 'annualReturn', 'maxDrawdownPct', 'roundTrips', 'winRate', 'profitFactor', 'endingEquity'] as const;

const num = (x: number | null | undefined, d = 4): string => (x === null || x === undefined ? '' : Number.isFinite(x) ? String(Number(x.toFixed(d))) : String(x));

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The result as CSV: one row per trial, in trial order (full float precision). */
export function optimizeCsv(r: OptimizeResult, data: { hash: string; setup?: string | undefined }): string {
  const names = r.dims.map((d) => d.name);
  const head = ['trial', 'source', 'rank', 'valid', 'error', ...names.map((n) => `param.${n}`), 'objective', ...METRIC_COLUMNS, 'days', 'strategy', 'objective_name', 'method', 'seed', 'window_from', 'window_to', 'data_sha256', 'setup_sha256', 'perpbot_version'];
  const rankOf = new Map(r.ranked.map((row, i) => [row.trial, i + 1]));
  const version = perpbotVersion();
  const lines = [head.join(',')];
  for (const t of r.trials) {
    const m = t.metrics;
    lines.push(
      [
        t.trial,
        t.source,
        rankOf.get(t.trial) ?? '',
        t.valid,
        t.error ?? '',
        ...names.map((n) => t.params[n]),
        t.objective ?? '',
        ...METRIC_COLUMNS.map((c) => (m ? (m[c] ?? '') : '')),
        m ? m.dailyReturns.length : '',
        r.strategy,
        r.objective,
        r.method,
        r.seed,
        r.window ? new Date(r.window.from).toISOString() : '',
        r.window ? new Date(r.window.to).toISOString() : '',
        data.hash,
        data.setup ?? '',
        version,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The result as one JSON document (trials in trial order, daily returns included). */
export function optimizeJson(r: OptimizeResult, data: { hash: string; files: DataFileHash[]; setup?: string | undefined }): string {
  return `${JSON.stringify({ ...r, ranked: r.ranked.map((t) => t.trial), best: r.best?.trial ?? null, data, perpbotVersion: perpbotVersion() }, null, 2)}\n`;
}

/**
 * Write `--out FILE`: `.csv` or `.json`.
 * @throws Error when the extension is neither (checked before the run by the CLI)
 */
export function writeOptimizeOutput(file: string, r: OptimizeResult, data: { hash: string; files: DataFileHash[]; setup?: string | undefined }): void {
  const ext = extname(file).toLowerCase();
  writeFileSync(file, ext === '.json' ? optimizeJson(r, data) : optimizeCsv(r, data));
}

/** A parameter set as `a=1 b=2`. */
export function paramsText(p: Record<string, unknown>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/** The ranked table (top `limit`) and the overfitting guards, as printed on stdout. */
export function formatOptimize(r: OptimizeResult, limit = 10): string {
  const out: string[] = [];
  const c = r.counts;
  out.push(`optimize ${r.strategy}: ${r.method} search, objective ${r.objective}${r.method === 'random' ? `, seed ${r.seed}` : ''}`);
  out.push(`  trials ${c.trials} (valid ${c.valid}, invalid params ${c.invalid}, failed ${c.failed})`);
  const pad = (s: string, n: number) => s.padStart(n);
  out.push(`  ${'rank'.padEnd(4)} ${pad('trial', 5)} ${pad(`*${r.objective}`, 9)} ${pad('sharpe', 8)} ${pad('net', 10)} ${pad('return', 8)} ${pad('maxDD', 7)} ${pad('trips', 5)}  params`);
  r.ranked.slice(0, limit).forEach((t: TrialRow, i) => {
    const m = t.metrics;
    out.push(
      `  ${String(i + 1).padEnd(4)} ${pad(String(t.trial), 5)} ${pad(num(t.objective), 9)} ${pad(num(m?.sharpe, 3), 8)} ${pad(num(m?.net, 2), 10)} ${pad(m ? `${(m.totalReturn * 100).toFixed(2)}%` : '', 8)} ${pad(m ? `${(m.maxDrawdownPct * 100).toFixed(2)}%` : '', 7)} ${pad(String(m?.roundTrips ?? ''), 5)}  ${paramsText(t.params)}${t.source === 'neighbour' ? ' (neighbour)' : ''}`,
    );
  });
  const invalid = r.trials.filter((t) => !t.valid);
  if (invalid.length > 0) out.push(`  invalid: ${invalid.slice(0, 3).map((t) => `#${t.trial} ${paramsText(t.params)} (${t.error})`).join('; ')}${invalid.length > 3 ? `; … ${invalid.length - 3} more` : ''}`);
  const d = r.deflatedSharpe;
  out.push(
    `  deflated Sharpe ratio ${d.dsr === null ? 'n/a' : d.dsr.toFixed(3)} (best daily Sharpe ${num(d.sharpe, 4)} vs ${num(d.expectedMaxSharpe, 4)} expected from the best of ${d.trials} unskilled trials; T=${d.observations} days${d.note ? `; ${d.note}` : ''})`,
  );
  const nb = r.neighbourhood;
  out.push(
    `  neighbourhood of the best: ${nb.verdict}${nb.drop === null ? '' : ` (neighbours fall ${(nb.drop * 100).toFixed(0)}% of the way from the best to the median trial)`}: ${nb.neighbours.map((n) => `${paramsText(Object.fromEntries(Object.entries(n.params).filter(([k, v]) => r.best?.params[k] !== v)))} → ${n.objective === null ? 'n/a' : num(n.objective)}`).join(', ') || 'none'}`,
  );
  // A random search samples the lattice: a neighbour run for the check may beat its best.
  const top = r.ranked[0];
  if (top && r.best && top.trial !== r.best.trial && top.source !== 'search') {
    out.push(`  note: neighbour trial #${top.trial} (${paramsText(top.params)}) beats the search's best #${r.best.trial}: the search did not reach the top of this area; sample more (--trials) or search a grid around it`);
  }
  return out.join('\n');
}
