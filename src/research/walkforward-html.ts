/**
 * `perpbot walkforward --report FILE`: one self-contained HTML page, the same kind as the
 * backtest's `--report` (it inlines the same lightweight-charts build and embeds the data as JSON
 * with the backtest report's helpers; nothing is fetched). It shows the summary (windows, trials,
 * stitched OOS return, walk-forward efficiency), the stitched out-of-sample equity curve with the
 * window boundaries, IS vs OOS annualised return per window, each window's chosen parameters and
 * the stability of each parameter across windows.
 *
 * Summary cells carry `data-key="<field of WalkForwardResult>"` (checked by the Chromium test).
 */
import { embed, lightweightCharts } from '../backtest/html-report.ts';
import type { DataFileHash } from './data-hash.ts';
import type { WalkForwardResult } from './walkforward.ts';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/**
 * Build the HTML text.
 * @param r the analysis
 * @param data the data files' hashes (shown in the header)
 * @returns a complete HTML document
 */
export function renderWalkForwardHtml(r: WalkForwardResult, data: { hash: string; files: DataFileHash[] }): string {
  const payload = {
    r: { ...r, equity: undefined },
    curve: r.equity.map((p) => ({ time: Math.floor(p.t / 1000), value: p.equity })),
    data,
  };
  const lib = lightweightCharts().replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>perpbot walk-forward ${esc(r.strategy)}</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d2330; background: #fafbfc; }
 h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 22px 0 8px; }
 .muted { color: #6b7280; }
 table { border-collapse: collapse; background: #fff; }
 td, th { border: 1px solid #e2e5ea; padding: 3px 8px; text-align: right; font-variant-numeric: tabular-nums; }
 th { background: #f1f3f6; } td.l, th.l { text-align: left; }
 .grid { display: grid; grid-template-columns: minmax(360px, 460px) 1fr; gap: 18px; align-items: start; }
 .chart { height: 300px; background: #fff; border: 1px solid #e2e5ea; }
 .chart.small { height: 200px; }
 .pos { color: #0a7d32; } .neg { color: #b42318; }
</style>
</head>
<body>
<h1>perpbot walk-forward <span class="muted" id="strategy"></span></h1>
<div class="muted" id="subtitle"></div>
<div class="grid">
 <div>
  <h2>Summary</h2>
  <table id="summary"><tbody></tbody></table>
 </div>
 <div>
  <h2>Stitched out-of-sample equity (USDT)</h2>
  <div id="equity" class="chart"></div>
  <h2>Annualised return per window: in-sample (grey) vs out-of-sample (blue), %</h2>
  <div id="returns" class="chart small"></div>
 </div>
</div>
<h2>Windows and chosen parameters</h2>
<table id="windows"></table>
<h2>Parameter stability</h2>
<table id="stability"></table>
<script>${lib}</script>
<script id="report-data" type="application/json">${embed(payload)}</script>
<script>
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var R = D.r, LC = window.LightweightCharts, DAY = 86400000;
  function pct(x) { return x === null || x === undefined ? 'n/a' : (x * 100).toFixed(2) + '%'; }
  function num(x, dp) { return x === null || x === undefined ? 'n/a' : Number(x).toFixed(dp); }
  function el(tag, attrs, text) { var e = document.createElement(tag); for (var k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
  function sign(x) { return x > 0 ? 'pos' : x < 0 ? 'neg' : ''; }
  function iso(ms) { return new Date(ms).toISOString().replace('T', ' ').slice(0, 16); }
  function params(p) { return p ? Object.keys(p).map(function (k) { return k + '=' + p[k]; }).join(' ') : 'none'; }
  document.getElementById('strategy').textContent = R.strategy;
  document.getElementById('subtitle').textContent = R.windows.length + ' windows · train ' + R.train / DAY + 'd, test ' + R.test / DAY + 'd, step ' + R.step / DAY + 'd' + (R.anchored ? ', anchored' : ', rolling') + ', warm-up ' + R.warmup / DAY + 'd · ' + R.method + ' search on ' + R.objective + ' · data ' + D.data.files.map(function (f) { return f.file; }).join(', ') + ' (sha256 ' + D.data.hash.slice(0, 12) + '…)';
  var rows = [
    ['Windows', 'windows.length', String(R.windows.length)],
    ['Trials (all windows)', 'totalTrials', String(R.totalTrials)],
    ['Starting equity (USDT)', 'startingEquity', num(R.startingEquity, 2)],
    ['Stitched OOS return', 'oosReturn', pct(R.oosReturn)],
    ['Stitched OOS return / yr (linear)', 'oosAnnualised', pct(R.oosAnnualised)],
    ['Mean IS return / yr (linear)', 'isAnnualisedMean', pct(R.isAnnualisedMean)],
    ['Walk-forward efficiency', 'wfe', R.wfe === null ? 'n/a' : num(R.wfe, 2)]
  ];
  var tb = document.querySelector('#summary tbody');
  rows.forEach(function (r) { var tr = el('tr'); tr.appendChild(el('th', { 'class': 'l' }, r[0])); tr.appendChild(el('td', { 'data-key': r[1] }, r[2])); tb.appendChild(tr); });

  function chart(id) {
    return LC.createChart(document.getElementById(id), { autoSize: true, layout: { background: { color: '#ffffff' }, textColor: '#1d2330' }, grid: { vertLines: { color: '#f0f2f5' }, horzLines: { color: '#f0f2f5' } }, timeScale: { timeVisible: true, secondsVisible: false }, localization: { timeFormatter: function (t) { return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16); } } });
  }
  var eq = chart('equity');
  var s = eq.addSeries(LC.LineSeries, { color: '#2962ff', lineWidth: 2, priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
  s.setData(D.curve);
  LC.createSeriesMarkers(s, R.windows.map(function (w) { return { time: Math.floor(w.oosFrom / 1000), position: 'aboveBar', color: '#6b7280', shape: 'arrowDown', text: 'W' + w.index }; }));
  eq.timeScale().fitContent();
  var rc = chart('returns');
  var isS = rc.addSeries(LC.HistogramSeries, { color: 'rgba(107,114,128,0.6)', priceFormat: { type: 'price', precision: 1, minMove: 0.1 } });
  var oosS = rc.addSeries(LC.HistogramSeries, { color: 'rgba(41,98,255,0.8)', priceFormat: { type: 'price', precision: 1, minMove: 0.1 } });
  isS.setData(R.windows.map(function (w) { return { time: Math.floor(w.oosFrom / 1000) - 6 * 3600, value: (w.isAnnualised || 0) * 100 }; }));
  oosS.setData(R.windows.map(function (w) { return { time: Math.floor(w.oosFrom / 1000) + 6 * 3600, value: (w.oosAnnualised || 0) * 100 }; }));
  rc.timeScale().fitContent();

  var wt = document.getElementById('windows');
  var h = el('tr'); ['#', 'in-sample (UTC)', 'out-of-sample (UTC)', 'parameters', 'IS ' + R.objective, 'OOS ' + R.objective, 'IS ret/yr', 'OOS ret/yr', 'WFE', 'OOS return', 'OOS trips', 'IS trials'].forEach(function (x) { h.appendChild(el('th', { 'class': 'l' }, x)); }); wt.appendChild(h);
  R.windows.forEach(function (w) {
    var tr = el('tr', { 'data-window': String(w.index) });
    [String(w.index), iso(w.isFrom) + ' → ' + iso(w.isTo), iso(w.oosFrom) + ' → ' + iso(w.oosTo), params(w.params)].forEach(function (x) { tr.appendChild(el('td', { 'class': 'l' }, x)); });
    [num(w.isObjective, 3), num(w.oosObjective, 3), pct(w.isAnnualised), pct(w.oosAnnualised), num(w.wfe, 2), pct(w.oosMetrics && w.oosMetrics.totalReturn), w.oosMetrics ? String(w.oosMetrics.roundTrips) : '-', String(w.isTrials)].forEach(function (x, j) { tr.appendChild(el('td', j === 5 && w.oosMetrics ? { 'class': sign(w.oosMetrics.totalReturn) } : {}, x)); });
    wt.appendChild(tr);
  });
  var st = document.getElementById('stability');
  var sh = el('tr'); ['parameter', 'chosen per window', 'mode', 'mode share', 'spread / range'].forEach(function (x) { sh.appendChild(el('th', { 'class': 'l' }, x)); }); st.appendChild(sh);
  R.stability.forEach(function (p) { var tr = el('tr'); [p.name, p.values.map(function (v) { return v === null ? '-' : String(v); }).join(', '), String(p.mode)].forEach(function (x) { tr.appendChild(el('td', { 'class': 'l' }, x)); }); [pct(p.modeShare), pct(p.spread)].forEach(function (x) { tr.appendChild(el('td', {}, x)); }); st.appendChild(tr); });
  window.__reportReady = true;
})();
</script>
</body>
</html>
`;
}
