/**
 * `perpbot backtest --report FILE`: ONE self-contained HTML file that opens offline. It inlines
 * TradingView's lightweight-charts (v5, Apache-2.0, its standalone build from node_modules) and
 * the run's data as JSON; nothing is fetched. It shows the summary table, the equity curve and
 * the drawdown, a heatmap of monthly returns, per-symbol/per-strategy breakdowns, candles of each
 * symbol with the trades' entry and exit markers, and the trade list.
 *
 * Every figure in the summary table is printed from the same {@link BacktestReport} object that
 * `--json` prints (cells carry `data-key="<path in the report>"`, which the Chromium test checks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Kline, Symbol } from '../core/types.ts';
import type { BacktestReport } from './report.ts';
import type { TradeRecord } from './trades.ts';

/** What the page is built from. */
export interface HtmlReportInputs {
  report: BacktestReport;
  /** Equity curve points, `t` UTC epoch ms, `equity` USDT (PerformanceSummary.curve). */
  curve: ReadonlyArray<{ t: number; equity: number }>;
  trades: readonly TradeRecord[];
  /** Replayed 1-minute klines per symbol (resampled for the chart). */
  klines: ReadonlyMap<Symbol, readonly Kline[]>;
  /** Most candles drawn per symbol; the bar size grows (1, 5, 15, 60, 240 min, 1 day) to stay under it. Default 4000. */
  maxBars?: number;
}

/** A candle for the chart: `time` UTC epoch seconds, prices as numbers (display only). */
interface Bar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

const BAR_MINUTES = [1, 5, 15, 60, 240, 1440];

/**
 * Resample 1-minute klines into bars of `minutes` (UTC-aligned buckets: open of the first,
 * max high, min low, close of the last).
 */
export function resample(klines: readonly Kline[], minutes: number): Bar[] {
  const size = minutes * 60_000;
  const out: Bar[] = [];
  let cur: Bar | null = null;
  for (const k of klines) {
    const b = Math.floor(k.openTime / size) * size;
    if (cur === null || cur.time !== b / 1000) {
      cur = { time: b / 1000, open: +k.open, high: +k.high, low: +k.low, close: +k.close };
      out.push(cur);
    } else {
      if (+k.high > cur.high) cur.high = +k.high;
      if (+k.low < cur.low) cur.low = +k.low;
      cur.close = +k.close;
    }
  }
  return out;
}

/** The bar size in minutes that keeps `count` 1-minute klines under `maxBars`. */
export function barMinutesFor(count: number, maxBars: number): number {
  for (const m of BAR_MINUTES) if (count / m <= maxBars) return m;
  return BAR_MINUTES[BAR_MINUTES.length - 1] as number;
}

let chartLib: string | null = null;
/**
 * The text of lightweight-charts' standalone build (read once from node_modules), for inlining in
 * a self-contained page (also used by the walk-forward report).
 * @throws Error when the package is not installed
 */
export function lightweightCharts(): string {
  if (chartLib === null) {
    // The package's exports map hides dist/ from require.resolve: look along node's search paths.
    const file = join('lightweight-charts', 'dist', 'lightweight-charts.standalone.production.js');
    const dirs = createRequire(import.meta.url).resolve.paths('lightweight-charts') ?? [];
    const path = dirs.map((d) => join(d, file)).find((p) => existsSync(p));
    if (path === undefined) throw new Error(`${file} not found in node_modules (npm ci)`);
    chartLib = readFileSync(path, 'utf8');
  }
  return chartLib;
}

/** JSON safe to embed inside a <script> element (no `</script>` break-out). */
export function embed(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/**
 * Build the HTML text.
 * @returns a complete HTML document (≈ 200 kB of library + the data)
 */
export function renderHtmlReport(i: HtmlReportInputs): string {
  const maxBars = i.maxBars ?? 4000;
  const candles: Record<string, { minutes: number; bars: Bar[] }> = {};
  for (const [s, ks] of i.klines) {
    const minutes = barMinutesFor(ks.length, maxBars);
    candles[s] = { minutes, bars: resample(ks, minutes) };
  }
  const r = i.report;
  const data = {
    report: { ...r, fundingPayments: undefined },
    curve: i.curve.map((p) => ({ time: Math.floor(p.t / 1000), value: p.equity })),
    trades: i.trades,
    candles,
  };
  const lib = lightweightCharts().replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>perpbot backtest ${esc(r.runId)}</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1d2330; background: #fafbfc; }
 h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 22px 0 8px; }
 .muted { color: #6b7280; }
 table { border-collapse: collapse; background: #fff; }
 td, th { border: 1px solid #e2e5ea; padding: 3px 8px; text-align: right; font-variant-numeric: tabular-nums; }
 th { background: #f1f3f6; } td.l, th.l { text-align: left; }
 .grid { display: grid; grid-template-columns: minmax(360px, 480px) 1fr; gap: 18px; align-items: start; }
 .chart { height: 280px; background: #fff; border: 1px solid #e2e5ea; }
 .chart.small { height: 160px; } .chart.price { height: 420px; }
 .tabs button { margin-right: 6px; padding: 3px 10px; border: 1px solid #c4c9d2; background: #fff; cursor: pointer; }
 .tabs button.on { background: #1d2330; color: #fff; }
 .pos { color: #0a7d32; } .neg { color: #b42318; }
 .scroll { max-height: 360px; overflow: auto; display: inline-block; }
</style>
</head>
<body>
<h1>perpbot backtest <span class="muted" id="run-id"></span></h1>
<div class="muted" id="subtitle"></div>
<div class="grid">
 <div>
  <h2>Summary</h2>
  <table id="summary"><tbody></tbody></table>
 </div>
 <div>
  <h2>Equity (USDT)</h2>
  <div id="equity" class="chart"></div>
  <h2>Drawdown (%)</h2>
  <div id="drawdown" class="chart small"></div>
 </div>
</div>
<h2>Monthly returns</h2>
<table id="heatmap"></table>
<h2>Breakdown</h2>
<table id="breakdown"></table>
<h2>Trades on the price chart <span class="muted" id="bar-size"></span></h2>
<div class="tabs" id="symbol-tabs"></div>
<div id="price" class="chart price"></div>
<h2>Round trips</h2>
<div class="scroll"><table id="trades"></table></div>
<script>${lib}</script>
<script id="report-data" type="application/json">${embed(data)}</script>
<script>
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var R = D.report, M = R.metrics, LC = window.LightweightCharts;
  function pct(x) { return x === null || x === undefined ? 'n/a' : (x * 100).toFixed(2) + '%'; }
  function num(x, dp) { return x === null || x === undefined ? 'n/a' : Number(x).toFixed(dp); }
  function txt(x) { return x === null || x === undefined ? 'n/a' : String(x); }
  function el(tag, attrs, text) { var e = document.createElement(tag); for (var k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
  function sign(x) { return x > 0 ? 'pos' : x < 0 ? 'neg' : ''; }
  function iso(ms) { return ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16); }
  document.getElementById('run-id').textContent = R.runId;
  document.getElementById('subtitle').textContent = R.symbols.join(', ') + ' · ' + R.data.map(function (d) { return d.symbol + ' ' + iso(d.from) + ' → ' + iso(d.to); }).join(' · ') + ' UTC';
  // [label, key in the report (data-key), shown text]
  var rows = [
    ['Starting balance (USDT)', 'startingBalance', txt(R.startingBalance)],
    ['Ending equity (USDT)', 'endingEquity', num(R.endingEquity, 2)],
    ['Return', 'metrics.totalReturn', pct(M.totalReturn)],
    ['Net PnL, trading (USDT)', 'netPnl', txt(R.netPnl)],
    ['Gross PnL (USDT)', 'grossPnl', txt(R.grossPnl)],
    ['Fees (USDT)', 'fees', txt(R.fees)],
    ['Funding paid (USDT)', 'funding.paid', R.funding.enabled ? txt(R.funding.paid) : 'off'],
    ['Funding received (USDT)', 'funding.received', R.funding.enabled ? txt(R.funding.received) : 'off'],
    ['Funding net (USDT)', 'funding.net', R.funding.enabled ? txt(R.funding.net) : 'off'],
    ['Net PnL after funding (USDT)', 'netPnlAfterFunding', txt(R.netPnlAfterFunding)],
    ['Max drawdown (USDT)', 'maxDrawdown', num(R.maxDrawdown, 2)],
    ['Max drawdown', 'maxDrawdownPct', pct(R.maxDrawdownPct)],
    ['Sharpe (daily, √365)', 'sharpe', R.sharpe === null ? 'n/a' : num(R.sharpe, 4)],
    ['Round trips', 'roundTrips', txt(R.roundTrips)],
    ['Win rate', 'winRate', pct(R.winRate)],
    ['Average trade (USDT)', 'metrics.all.averageTrade', txt(M.all.averageTrade)],
    ['Profit factor', 'metrics.all.profitFactor', txt(M.all.profitFactor)],
    ['Expectancy (USDT)', 'metrics.all.expectancy', txt(M.all.expectancy)],
    ['Expectancy (R)', 'metrics.all.expectancyR', txt(M.all.expectancyR)],
    ['Exposure time', 'metrics.exposure', pct(M.exposure)],
    ['Buy-and-hold return', 'metrics.benchmark.return', M.benchmark ? pct(M.benchmark.return) : 'n/a'],
    ['Buy-and-hold ending equity (USDT)', 'metrics.benchmark.endingEquity', M.benchmark ? num(M.benchmark.endingEquity, 2) : 'n/a'],
    ['Candles', 'candles', txt(R.candles)],
    ['Signals', 'signals', txt(R.signals)],
    ['Orders submitted / denied', 'ordersSubmitted', R.ordersSubmitted + ' / ' + R.ordersDenied],
    ['Fills', 'fills', txt(R.fills)]
  ];
  var tb = document.querySelector('#summary tbody');
  rows.forEach(function (r) { var tr = el('tr'); tr.appendChild(el('th', { 'class': 'l' }, r[0])); tr.appendChild(el('td', { 'data-key': r[1] }, r[2])); tb.appendChild(tr); });

  function chart(id, opts) {
    var c = document.getElementById(id);
    return LC.createChart(c, Object.assign({ autoSize: true, layout: { background: { color: '#ffffff' }, textColor: '#1d2330' }, grid: { vertLines: { color: '#f0f2f5' }, horzLines: { color: '#f0f2f5' } }, timeScale: { timeVisible: true, secondsVisible: false }, localization: { timeFormatter: function (t) { return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16); } } }, opts || {}));
  }
  // Equity and drawdown (from the same curve; the report's max drawdown is computed on every sample).
  var eq = chart('equity');
  var eqS = eq.addSeries(LC.LineSeries, { color: '#2962ff', lineWidth: 2, priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
  eqS.setData(D.curve);
  eq.timeScale().fitContent();
  var peak = -Infinity, dd = D.curve.map(function (p) { peak = Math.max(peak, p.value); return { time: p.time, value: peak > 0 ? (p.value / peak - 1) * 100 : 0 }; });
  var ddc = chart('drawdown');
  var ddS = ddc.addSeries(LC.AreaSeries, { lineColor: '#b42318', topColor: 'rgba(180,35,24,0.05)', bottomColor: 'rgba(180,35,24,0.35)', invertFilledArea: false, priceFormat: { type: 'price', precision: 2, minMove: 0.01 } });
  ddS.setData(dd);
  ddc.timeScale().fitContent();

  // Monthly heatmap: one row per year, one column per month, colour by return.
  var hm = document.getElementById('heatmap');
  var months = ['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'];
  var hr = el('tr'); hr.appendChild(el('th', {}, 'year')); months.forEach(function (m) { hr.appendChild(el('th', {}, m)); }); hm.appendChild(hr);
  var years = {}; M.monthlyReturns.forEach(function (m) { (years[m.month.slice(0, 4)] = years[m.month.slice(0, 4)] || {})[Number(m.month.slice(5, 7)) - 1] = m.return; });
  var maxAbs = M.monthlyReturns.reduce(function (a, m) { return Math.max(a, Math.abs(m.return)); }, 0) || 1;
  Object.keys(years).sort().forEach(function (y) {
    var tr = el('tr'); tr.appendChild(el('th', {}, y));
    for (var i = 0; i < 12; i++) {
      var v = years[y][i];
      var td = el('td', v === undefined ? {} : { 'data-month': y + '-' + String(i + 1).padStart(2, '0') }, v === undefined ? '' : pct(v));
      if (v !== undefined) { var a = 0.15 + 0.6 * Math.abs(v) / maxAbs; td.style.background = v >= 0 ? 'rgba(10,125,50,' + a + ')' : 'rgba(180,35,24,' + a + ')'; }
      tr.appendChild(td);
    }
    hm.appendChild(tr);
  });

  // Breakdown per symbol and per strategy.
  var bd = document.getElementById('breakdown');
  var bh2 = el('tr'); ['by', 'name', 'trades', 'win rate', 'net', 'gross', 'fees', 'funding', 'avg trade', 'profit factor', 'exposure'].forEach(function (h) { bh2.appendChild(el('th', { 'class': 'l' }, h)); }); bd.appendChild(bh2);
  function bdRows(kind, g) { Object.keys(g).forEach(function (k) { var t = g[k]; var tr = el('tr'); [kind, k].forEach(function (x) { tr.appendChild(el('td', { 'class': 'l' }, x)); }); [txt(t.trades), pct(t.winRate), t.netPnl, t.grossPnl, t.fees, t.funding, txt(t.averageTrade), txt(t.profitFactor), kind === 'symbol' ? pct(M.exposureBySymbol[k]) : ''].forEach(function (x, j) { var td = el('td', j === 2 ? { 'data-key': 'metrics.by' + (kind === 'symbol' ? 'Symbol' : 'Strategy') + '.' + k + '.netPnl', 'class': sign(Number(x)) } : {}, x); tr.appendChild(td); }); bd.appendChild(tr); }); }
  bdRows('symbol', M.bySymbol); bdRows('strategy', M.byStrategy);

  // Candles with entry/exit markers, one symbol at a time.
  var pc = chart('price'), cs = pc.addSeries(LC.CandlestickSeries, { upColor: '#26a69a', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a', wickDownColor: '#ef5350' });
  var markers = LC.createSeriesMarkers(cs, []);
  // fitContent() stops at minBarSpacing (0.5 px by default): a few thousand bars in a ~1,300 px
  // chart would open on the last days only. Let bars go thinner so the whole span shows at open,
  // and keep that span when the chart is resized (autoSize: the page's scrollbar appears after
  // the tables fill in, which would otherwise push the first bars off the left edge).
  pc.timeScale().applyOptions({ minBarSpacing: 0.01, lockVisibleTimeRangeOnResize: true });
  // The price chart's visible time range, UTC epoch seconds (the report test reads it).
  window.__priceVisibleRange = function () { return pc.timeScale().getVisibleRange(); };
  function show(sym) {
    var c = D.candles[sym]; if (!c) return;
    document.getElementById('bar-size').textContent = '(' + sym + ', ' + c.minutes + '-minute bars)';
    cs.setData(c.bars);
    var size = c.minutes * 60, ms = [];
    D.trades.filter(function (t) { return t.symbol === sym; }).forEach(function (t) {
      var long = t.side === 'LONG';
      ms.push({ time: Math.floor(t.entryTime / 1000 / size) * size, position: long ? 'belowBar' : 'aboveBar', color: long ? '#0a7d32' : '#b42318', shape: long ? 'arrowUp' : 'arrowDown', text: (long ? 'L ' : 'S ') + t.entryPrice });
      if (t.exitTime !== null) ms.push({ time: Math.floor(t.exitTime / 1000 / size) * size, position: long ? 'aboveBar' : 'belowBar', color: Number(t.netPnl) >= 0 ? '#2962ff' : '#6b7280', shape: 'circle', text: 'x ' + Number(t.netPnl).toFixed(2) });
    });
    ms.sort(function (a, b) { return a.time - b.time; });
    markers.setMarkers(ms);
    window.__markerCount = ms.length;
    pc.timeScale().fitContent();
    Array.prototype.forEach.call(document.querySelectorAll('#symbol-tabs button'), function (b) { b.className = b.textContent === sym ? 'on' : ''; });
  }
  Object.keys(D.candles).forEach(function (s) { var b = el('button', { type: 'button' }, s); b.addEventListener('click', function () { show(s); }); document.getElementById('symbol-tabs').appendChild(b); });
  show(Object.keys(D.candles)[0]);

  // Round trips.
  var tt = document.getElementById('trades');
  var th = el('tr'); ['symbol', 'strategy', 'side', 'entry (UTC)', 'exit (UTC)', 'qty', 'entry', 'exit', 'gross', 'fees', 'funding', 'net'].forEach(function (h) { th.appendChild(el('th', { 'class': 'l' }, h)); }); tt.appendChild(th);
  D.trades.forEach(function (t) { var tr = el('tr'); [t.symbol, t.strategyId, t.side, iso(t.entryTime), iso(t.exitTime), t.quantity, t.entryPrice, t.exitPrice, t.grossPnl, t.fees, t.funding, t.netPnl].forEach(function (x, j) { tr.appendChild(el('td', j < 5 ? { 'class': 'l' } : j === 11 ? { 'class': sign(Number(x)) } : {}, x)); }); tt.appendChild(tr); });
  window.__reportReady = true;
})();
</script>
</body>
</html>
`;
}
