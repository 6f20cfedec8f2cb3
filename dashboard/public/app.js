// perpbot dashboard: plain ES module, no build. Every request carries the token in the
// Authorization header; the token comes from the URL fragment (#token=…, never sent to the
// server) or the login form, and is kept in this tab's sessionStorage only (no cookies).
const LC = window.LightweightCharts;
const TOKEN_KEY = 'perpbot.token';
const $ = (id) => document.getElementById(id);

// ---- token -------------------------------------------------------------------------------
function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return false;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search);
  return true;
}
takeTokenFromFragment();
// A token pasted into the address bar of an open page (#token=…) is taken too.
window.addEventListener('hashchange', () => {
  if (takeTokenFromFragment()) start().catch(() => {});
});
const token = () => sessionStorage.getItem(TOKEN_KEY);

class Refused extends Error {}

async function api(path, opts = {}) {
  const t = token();
  if (!t) throw new Refused('no token');
  const res = await fetch(path, {
    ...opts,
    headers: { Authorization: `Bearer ${t}`, ...(opts.body ? { 'Content-Type': 'application/json' } : {}) },
    cache: 'no-store',
    credentials: 'omit',
  });
  if (res.status === 401 || res.status === 429) {
    const body = await res.json().catch(() => ({}));
    throw new Refused(body.error || `refused (${res.status})`);
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function showLogin(message) {
  $('main').hidden = true;
  $('login').hidden = false;
  if (message) {
    $('login-message').textContent = `Refused: ${message}. Paste the bot's API token (or open the page as /#token=…).`;
    $('login-message').classList.add('refused');
  }
  document.body.dataset.state = 'refused';
  $('live').textContent = 'no token';
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const v = $('token-input').value.trim();
  if (!v) return;
  sessionStorage.setItem(TOKEN_KEY, v);
  $('token-input').value = '';
  start();
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

// ---- formatting ----------------------------------------------------------------------------
const time = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const age = (ms) => (ms === null || ms === undefined ? '-' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
const num = (s, dp = 2) => (s === null || s === undefined ? '-' : Number(s).toLocaleString('en-US', { minimumFractionDigits: dp, maximumFractionDigits: dp }));
const signCls = (s) => (s === null || s === undefined ? '' : Number(s) > 0 ? 'pos' : Number(s) < 0 ? 'neg' : '');
function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text ?? '-';
  if (cls) td.className = cls;
  return td;
}
function fillTable(id, rows, empty) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(empty, 'muted');
    td.colSpan = $(id).querySelectorAll('th').length;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const c of r) tr.append(c instanceof HTMLElement ? c : cell(c));
    body.append(tr);
  }
}
function fillDl(id, pairs) {
  const dl = $(id);
  dl.replaceChildren();
  for (const [k, v, cls] of pairs) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    if (cls) dd.className = cls;
    dl.append(dt, dd);
  }
}

// ---- state ---------------------------------------------------------------------------------
let readOnly = true;
let symbols = [];
let chart, candles, vwap, up, lo, stopUp, stopLo, markers;
let equityChart, equitySeries, ddSeries;

async function refreshOverview() {
  const [st, acct, pos, oo, risk, cmds] = await Promise.all([api('/api/status'), api('/api/account'), api('/api/positions'), api('/api/orders/open'), api('/api/risk'), api('/api/commands')]);
  readOnly = st.readOnly;
  document.body.dataset.readOnly = String(readOnly);
  $('mode').textContent = `${st.mode ?? '?'}${readOnly ? ' (finished run, read-only)' : ''}`;
  const state = readOnly ? risk.history[0]?.state ?? 'ACTIVE' : st.risk.state;
  $('state').textContent = state;
  $('state').className = `pill ${state}`;
  $('state-reason').textContent = readOnly ? `run ${st.runId}` : st.risk.reason ?? '';
  fillDl('account', [
    ['wallet balance', num(acct.walletBalance)],
    ['equity', num(acct.equity)],
    ['unrealized PnL', num(acct.unrealizedPnl), signCls(acct.unrealizedPnl)],
    ['margin', num(acct.margin)],
    ['PnL today (net)', num(acct.netPnlToday), signCls(acct.netPnlToday)],
    ['fees today', num(acct.feesToday, 4)],
    ['PnL all time (net)', num(acct.netPnlAllTime), signCls(acct.netPnlAllTime)],
    ['funding', acct.fundingTracked ? num(acct.funding) : 'not tracked'],
  ]);
  if (!readOnly) {
    fillDl('health', [
      ['run', st.runId],
      ['uptime', age(st.uptimeMs)],
      ['database', st.database.ok ? 'ok' : st.database.detail],
      ['clock offset', st.clockOffsetMs === null ? '-' : `${st.clockOffsetMs} ms`],
      ['REST weight used (1m)', st.counters.rateLimitWeight1m ?? '-'],
      ['klines / signals / fills', `${st.counters.klines} / ${st.counters.signals} / ${st.counters.fills}`],
    ]);
    fillTable('streams', Object.entries(st.sources).map(([s, h]) => [s, h.state, age(h.lastMessageAt ? Date.now() - h.lastMessageAt : null), h.messages]), 'no streams');
    $('last-error').textContent = st.lastError ? `${time(st.lastError.at)} ${st.lastError.message}` : 'none';
  } else {
    fillDl('health', [['run', st.runId], ['status', st.run?.status ?? '-'], ['started', time(st.run?.startedAt)], ['ended', time(st.run?.endedAt)]]);
    fillTable('streams', [], 'finished run');
  }
  fillTable(
    'positions',
    pos.positions.map((p) => {
      const b = document.createElement('button');
      b.textContent = 'flatten';
      b.className = 'danger';
      b.dataset.command = 'flatten';
      b.dataset.symbol = p.symbol;
      b.disabled = readOnly;
      const td = document.createElement('td');
      td.append(b);
      return [p.symbol, cell(p.side, p.side === 'LONG' ? 'pos' : 'neg'), p.size, num(p.entryPrice), num(p.markPrice), cell(num(p.unrealizedPnl), signCls(p.unrealizedPnl)), num(p.notional), `${p.leverage}x`, time(p.since), td];
    }),
    'no open positions',
  );
  fillTable('open-orders', oo.orders.map((o) => [o.clientOrderId, o.symbol, o.side, o.type, o.quantity, o.price ?? '-', o.reduceOnly ? 'yes' : 'no', time(o.createdAt)]), 'no open orders');
  const li = (text) => {
    const e = document.createElement('li');
    e.textContent = text;
    return e;
  };
  $('risk').replaceChildren(...(risk.history.length ? risk.history.map((r) => li(`${time(r.ts)} ${r.previous} → ${r.state}: ${r.reason}`)) : [li('no trading-state changes')]));
  $('operator').replaceChildren(...(cmds.commands.length ? cmds.commands.map((c) => li(`${time(c.ts)} ${c.command}${c.args.symbol ? ` ${c.args.symbol}` : ''} by ${c.who}: ${c.reason} → ${c.outcome}`)) : [li('no operator commands')]));
  for (const b of document.querySelectorAll('#commands button')) b.disabled = readOnly;
  $('commands').hidden = readOnly;
  document.body.dataset.state = readOnly ? 'readonly' : st.risk.state;
}

async function refreshHistory() {
  const [fills, signals, eq] = await Promise.all([api('/api/fills?limit=50'), api('/api/signals?limit=50'), api('/api/equity')]);
  fillTable('fills', fills.items.map((f) => [time(f.time), f.symbol, f.side, f.quantity, num(f.price), num(f.commission, 4), cell(num(f.realizedPnl, 4), signCls(f.realizedPnl)), f.clientOrderId]), 'no fills');
  const ind = (o) => Object.entries(o || {}).map(([k, v]) => `${k} ${v === null ? '-' : Number(v).toFixed(k === 'adx' ? 1 : 2)}`).join(' · ');
  fillTable('signals', signals.items.map((s) => [time(s.ts), s.symbol, s.strategyId, s.target, s.reason, num(s.refPrice), ind(s.indicators)]), 'no signals');
  const pts = dedupe(eq.points.map((p) => ({ time: Math.floor(p.time / 1000), value: Number(p.equity) })));
  const start = { time: pts.length ? pts[0].time - 60 : Math.floor(Date.now() / 1000), value: Number(eq.startingBalance) };
  equitySeries.setData(pts.length ? [start, ...pts] : [start]);
  ddSeries.setData(dedupe(eq.points.map((p) => ({ time: Math.floor(p.time / 1000), value: -100 * p.drawdown }))));
  equityChart.timeScale().fitContent();
}

// lightweight-charts wants strictly increasing times: keep the last value per second.
function dedupe(points) {
  const out = [];
  for (const p of points) {
    if (out.length && out[out.length - 1].time === p.time) out[out.length - 1] = p;
    else if (!out.length || out[out.length - 1].time < p.time) out.push(p);
  }
  return out;
}

function setupCharts() {
  const opts = (height) => ({
    height,
    layout: { background: { color: '#171d24' }, textColor: '#d8dee6' },
    grid: { vertLines: { color: '#222a33' }, horzLines: { color: '#222a33' } },
    timeScale: { timeVisible: true, secondsVisible: false },
    autoSize: true,
  });
  chart = LC.createChart($('chart'), opts(420));
  candles = chart.addSeries(LC.CandlestickSeries, { upColor: '#26a69a', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a', wickDownColor: '#ef5350' });
  const line = (color, style) => chart.addSeries(LC.LineSeries, { color, lineWidth: 1, lineStyle: style, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false });
  vwap = line('#f5c542', 0);
  up = line('#5c9ded', 2);
  lo = line('#5c9ded', 2);
  stopUp = line('#b36ae2', 1);
  stopLo = line('#b36ae2', 1);
  markers = LC.createSeriesMarkers(candles, []);
  equityChart = LC.createChart($('equity'), { ...opts(260), leftPriceScale: { visible: true } });
  equitySeries = equityChart.addSeries(LC.LineSeries, { color: '#26a69a', lineWidth: 2, priceScaleId: 'right' });
  ddSeries = equityChart.addSeries(LC.HistogramSeries, { color: 'rgba(239,83,80,0.6)', priceScaleId: 'left', priceFormat: { type: 'percent', precision: 2, minMove: 0.01 } });
}

const BUCKET = { '1m': 60, '5m': 300, '15m': 900, '1h': 3600 };
async function refreshChart() {
  const symbol = $('symbol').value;
  const interval = $('interval').value;
  if (!symbol) return;
  const [c, sig, fl] = await Promise.all([
    api(`/api/candles?symbol=${symbol}&interval=${interval}&limit=500`),
    api(`/api/signals?symbol=${symbol}&limit=500`),
    api(`/api/fills?symbol=${symbol}&limit=500`),
  ]);
  const t = (ms) => Math.floor(ms / 1000);
  candles.setData(c.candles.map((k) => ({ time: t(k.time), open: Number(k.open), high: Number(k.high), low: Number(k.low), close: Number(k.close) })));
  const series = (key) => c.candles.filter((k) => k[key] !== null).map((k) => ({ time: t(k.time), value: k[key] }));
  vwap.setData(series('vwap'));
  up.setData(series('upper'));
  lo.setData(series('lower'));
  stopUp.setData(series('stopUpper'));
  stopLo.setData(series('stopLower'));
  const first = c.candles.length ? t(c.candles[0].time) : 0;
  const b = BUCKET[interval];
  // A signal is decided on a kline's close; a fill lands in the bar it happened in.
  const ms = [];
  for (const s of sig.items) {
    const at = Math.floor(t(s.ts) / b) * b - (interval === '1m' ? 60 : 0);
    const time = Math.floor(Math.max(at, 0) / b) * b;
    if (time < first) continue;
    const long = s.target === 'LONG';
    const flat = s.target === 'FLAT';
    ms.push({ time, position: long ? 'belowBar' : 'aboveBar', color: flat ? '#f5c542' : long ? '#26a69a' : '#ef5350', shape: flat ? 'circle' : long ? 'arrowUp' : 'arrowDown', text: `${s.target.toLowerCase()} (${s.reason})` });
  }
  for (const f of fl.items) {
    const time = Math.floor(t(f.time) / b) * b;
    if (time < first) continue;
    ms.push({ time, position: f.side === 'BUY' ? 'belowBar' : 'aboveBar', color: f.side === 'BUY' ? '#4fc3f7' : '#ff8a65', shape: 'square', text: `${f.side === 'BUY' ? 'B' : 'S'} ${f.quantity} @ ${Number(f.price).toFixed(1)}` });
  }
  ms.sort((a, b2) => a.time - b2.time);
  markers.setMarkers(ms);
  document.body.dataset.candles = String(c.candles.length);
  document.body.dataset.markers = String(ms.length);
}

// ---- commands ------------------------------------------------------------------------------
const WHAT = {
  pause: 'Pause entries: only orders that shrink a position leave (REDUCING).',
  halt: 'Halt: no order leaves (HALTED).',
  resume: 'Resume trading (ACTIVE).',
  'cancel-orders': "Cancel perpbot's open orders.",
  flatten: 'Flatten: cancel open orders, then close with reduce-only MARKET orders.',
  kill: 'Kill switch: halt, then flatten every position.',
};
async function runCommand(command, symbol) {
  const dlg = $('confirm');
  $('confirm-title').textContent = `Confirm ${command}${symbol ? ` ${symbol}` : ''}`;
  $('confirm-text').textContent = WHAT[command] + (symbol ? ` Symbol ${symbol} only.` : '');
  $('confirm-reason').value = '';
  dlg.returnValue = '';
  dlg.showModal();
  const answer = await new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue), { once: true }));
  if (answer !== 'ok') return;
  $('command-result').textContent = `${command}: sending…`;
  try {
    const r = await api(`/api/commands/${command}`, { method: 'POST', body: JSON.stringify({ reason: $('confirm-reason').value || `dashboard ${command}`, by: 'dashboard', ...(symbol ? { symbol } : {}) }) });
    $('command-result').textContent = `${command}: ${r.outcome} (command ${r.commandId})`;
  } catch (err) {
    $('command-result').textContent = `${command} failed: ${err.message}`;
  }
  await refreshOverview().catch(() => {});
}
document.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-command]');
  if (b && !b.disabled) runCommand(b.dataset.command, b.dataset.symbol);
});

// ---- live events (server-sent events read through fetch: EventSource cannot send a header) --
let chartTimer = null;
let overviewTimer = null;
const soon = (fn, ms) => {
  return () => {
    if (fn.t) return;
    fn.t = setTimeout(() => {
      fn.t = null;
      fn().catch(() => {});
    }, ms);
  };
};
async function listen() {
  for (;;) {
    try {
      const res = await fetch('/api/events', { headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store', credentials: 'omit' });
      if (!res.ok) throw new Error(`events: HTTP ${res.status}`);
      $('live').textContent = 'live';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch {
      // reconnect below
    }
    $('live').textContent = 'reconnecting…';
    await new Promise((r) => setTimeout(r, 2000));
  }
}
const chartSoon = soon(refreshChart, 300);
const overviewSoon = soon(refreshOverview, 300);
const historySoon = soon(() => refreshHistory(), 500);
function onEvent(m) {
  const symbol = $('symbol').value;
  switch (m.type) {
    case 'KlineClosed':
      if (m.kline.symbol === symbol) chartSoon();
      break;
    case 'MarkPriceUpdated':
      overviewSoon();
      break;
    case 'SignalEmitted':
      if (m.symbol === symbol) chartSoon();
      historySoon();
      break;
    case 'OrderFilled':
      chartSoon();
      historySoon();
      overviewSoon();
      break;
    default:
      overviewSoon();
  }
}

// ---- start ---------------------------------------------------------------------------------
async function start() {
  if (!token()) return showLogin();
  try {
    const s = await api('/api/symbols');
    symbols = s.symbols;
  } catch (err) {
    if (err instanceof Refused) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(err.message);
    }
    throw err;
  }
  $('login').hidden = true;
  $('main').hidden = false;
  if (!chart) setupCharts();
  $('symbol').replaceChildren(...symbols.map((s) => Object.assign(document.createElement('option'), { value: s, textContent: s })));
  $('symbol').onchange = () => refreshChart();
  $('interval').onchange = () => refreshChart();
  await refreshOverview();
  await Promise.all([refreshChart(), refreshHistory()]);
  document.body.dataset.loaded = 'true';
  if (!readOnly) {
    listen();
    clearInterval(overviewTimer);
    overviewTimer = setInterval(() => refreshOverview().catch(() => {}), 2000);
  } else {
    $('live').textContent = 'finished run';
  }
  void chartTimer;
}
start().catch((err) => {
  $('live').textContent = `error: ${err.message}`;
});
