/**
 * Simulator fidelity (issue #7 item 6, issue #9): partial fills, funding payments, user-data
 * events out of order and twice, event times bounded by the server clock, mark prices at
 * Binance's rates, and the endpoints ccxt and bots call (leverageBracket, allOrders, ticker/24hr,
 * depth, fundingRate). Real `binance` library for signed calls, plain `ws` sockets for streams.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { USDMClient } from 'binance';
import { WebSocket } from 'ws';
import { Decimal } from '../../core/decimal.ts';
import { projectPath } from '../../core/paths.ts';
import { readKlineCsv } from '../../market/kline-csv.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from './server.ts';

const AVAX = projectPath('src', 'market', 'fixtures', 'AVAXUSDT-1m-2025-02-head.csv');
const BTC = projectPath('data', 'klines', 'BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const BTC_FUNDING = projectPath('data', 'funding', 'BTCUSDT-funding-2025-06_2025-07.csv');
const HISTORY = 10;

const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  while (open.length > 0) await open.pop()!.close();
});

async function sim(extra: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ data: [`AVAXUSDT=${AVAX}`], paused: true, history: HISTORY, fundingDir: null, ...extra });
  open.push(s);
  return s;
}

function rest(s: Simulator): USDMClient {
  return new USDMClient({ api_key: s.apiKey, api_secret: s.apiSecret, baseUrl: s.url }, { proxy: false });
}

async function adminPost(s: Simulator, path: string, body: unknown = {}): Promise<void> {
  const r = await fetch(`${s.url}/admin/${path}`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(200);
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Frame = Record<string, unknown> & { receivedAt: number };

/** Open a socket and collect its parsed frames, each stamped with the wall time it arrived. */
async function connect(url: string): Promise<{ ws: WebSocket; frames: Frame[] }> {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push({ ...(JSON.parse(d.toString()) as Record<string, unknown>), receivedAt: Date.now() }));
  open.push({ close: () => ws.terminate() });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames };
}

async function userStream(s: Simulator): Promise<Frame[]> {
  const { listenKey } = await rest(s).getFuturesUserDataListenKey();
  return (await connect(`${s.wsUrl}/ws/${listenKey}`)).frames;
}

const trades = (frames: Frame[]) => frames.filter((f) => f.e === 'ORDER_TRADE_UPDATE' && (f.o as { x: string }).x === 'TRADE').map((f) => f.o as Record<string, string>);
const accounts = (frames: Frame[]) => frames.filter((f) => f.e === 'ACCOUNT_UPDATE').map((f) => f.a as { m: string; B: { wb: string; bc: string }[]; P: { pa: string }[] });

describe('partial fills (POST /admin/partial-fills)', () => {
  it('fills a MARKET order in pieces over sub-steps: PARTIALLY_FILLED then FILLED, positions following each piece', async () => {
    const s = await sim({ stepsPerKline: 12 });
    const user = await userStream(s);
    await adminPost(s, 'partial-fills', { pieces: 3 });
    const c = rest(s);
    const o = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 10 });
    s.step(6);
    await waitFor(() => trades(user).length === 3, 'three fills');
    const t = trades(user);
    expect(t.map((x) => [x.X, x.l, x.z])).toEqual([
      ['PARTIALLY_FILLED', '3', '3'],
      ['PARTIALLY_FILLED', '3', '6'],
      ['FILLED', '4', '10'],
    ]);
    expect(new Set(t.map((x) => String(x.i)))).toEqual(new Set([String(o.orderId)]));
    expect(new Set(t.map((x) => String(x.t))).size).toBe(3); // three trades
    await waitFor(() => accounts(user).length === 3, 'three position updates');
    expect(accounts(user).map((a) => a.P[0]!.pa)).toEqual(['3', '6', '10']);
    const pos = await c.getPositionsV3({ symbol: 'AVAXUSDT' });
    expect(pos[0]!.positionAmt).toBe('10');
    const q = await c.getOrder({ symbol: 'AVAXUSDT', orderId: o.orderId });
    expect(q).toMatchObject({ status: 'FILLED', executedQty: '10' });
    // the average over the pieces, exactly
    const fills = s.state().fills;
    const cum = fills.reduce((a, f) => a.plus(new Decimal(f.price).times(f.quantity)), new Decimal(0));
    expect(q.avgPrice).toBe(cum.div(10).toFixed());
  });

  it('fills a marketable LIMIT order in pieces too, and whole again after clear-faults', async () => {
    const s = await sim({ stepsPerKline: 12 });
    const user = await userStream(s);
    await adminPost(s, 'partial-fills', { pieces: 2 });
    const c = rest(s);
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 4, price: 36, timeInForce: 'GTC' });
    s.step(4);
    await waitFor(() => trades(user).length === 2, 'two fills');
    expect(trades(user).map((x) => [x.X, x.l])).toEqual([
      ['PARTIALLY_FILLED', '2'],
      ['FILLED', '2'],
    ]);
    await adminPost(s, 'clear-faults');
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'SELL', type: 'MARKET', quantity: 4, reduceOnly: 'true' });
    s.advance(1);
    await waitFor(() => trades(user).length === 3, 'one whole fill');
    expect(trades(user)[2]).toMatchObject({ X: 'FILLED', l: '4' });
  });
});

describe('user-data events out of order and twice (POST /admin/user-events)', () => {
  it('sends ACCOUNT_UPDATE before the ORDER_TRADE_UPDATE of its fill, and each event twice', async () => {
    const s = await sim();
    const user = await userStream(s);
    await adminPost(s, 'user-events', { reorder: true, duplicate: true });
    await rest(s).submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 1 });
    s.advance(1);
    await waitFor(() => user.length >= 6, 'NEW, fill and position, each twice');
    const kinds = user.map((f) => (f.e === 'ORDER_TRADE_UPDATE' ? `order:${(f.o as { x: string }).x}` : String(f.e)));
    expect(kinds).toEqual(['order:NEW', 'order:NEW', 'ACCOUNT_UPDATE', 'ACCOUNT_UPDATE', 'order:TRADE', 'order:TRADE']);
    // The same event twice (receivedAt is this test's own arrival stamp, not part of the frame).
    const { receivedAt: _r2, ...first } = user[2]!;
    const { receivedAt: _r3, ...second } = user[3]!;
    expect(first).toEqual(second);
    expect(user[4]!.o).toEqual(user[5]!.o);
  });
});

describe('funding', () => {
  it('pays funding at the funding time from the recorded rate: FUNDING_FEE ACCOUNT_UPDATE, wallet −= qty × mark × rate; premiumIndex and the mark stream show that rate', async () => {
    // alignToNow off: the data clock is the data's own time, so the recorded funding times apply as they are
    const s = await sim({ data: [`BTCUSDT=${BTC}`], alignToNow: false, fundingDir: projectPath('data', 'funding') });
    const c = rest(s);
    const user = await userStream(s);
    const marks = await connect(`${s.wsUrl}/ws/btcusdt@markPrice@1s`);
    await c.submitNewOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: 0.05 });
    s.advance(1);
    const fundingAt = Math.ceil(s.dataTime() / (8 * 3_600_000)) * 8 * 3_600_000;
    // the recorded rate nearest to that funding time
    const rows = readKlineCsvFunding(BTC_FUNDING);
    const near = rows.reduce((a, b) => (Math.abs(b.t - fundingAt) < Math.abs(a.t - fundingAt) ? b : a));
    expect(Math.abs(near.t - fundingAt)).toBeLessThan(1000);
    const rate = new Decimal(near.r).toFixed(8);
    expect(rate).not.toBe('0.00010000'); // a real, non-default rate

    const prem = (await c.getMarkPrice({ symbol: 'BTCUSDT' })) as { lastFundingRate: string; nextFundingTime: number };
    expect(prem).toMatchObject({ lastFundingRate: rate, nextFundingTime: fundingAt });
    s.step(1);
    await waitFor(() => marks.frames.length > 0, 'a mark price');
    expect(marks.frames.at(-1)).toMatchObject({ r: rate, T: fundingAt });

    const before = new Decimal((await c.getBalanceV3())[0]!.balance);
    const minutes = (fundingAt - s.dataTime()) / 60_000;
    s.advance(Math.ceil(minutes));
    const mark = readKlineCsv(BTC, 'BTCUSDT').klines.find((k) => k.openTime === fundingAt)!.open;
    const paid = new Decimal('0.05').times(mark).times(rate).neg().toDecimalPlaces(8);
    await waitFor(() => accounts(user).some((a) => a.m === 'FUNDING_FEE'), 'FUNDING_FEE');
    const fee = accounts(user).find((a) => a.m === 'FUNDING_FEE')!;
    expect(fee.B[0]!.bc).toBe(paid.toFixed());
    expect(fee.P).toEqual([]); // cross margin: balance only
    const after = new Decimal((await c.getBalanceV3())[0]!.balance);
    expect(after.minus(before).toFixed()).toBe(paid.toFixed());
    expect(fee.B[0]!.wb).toBe(after.toFixed());
    expect(s.state().funding).toEqual([expect.objectContaining({ symbol: 'BTCUSDT', fundingTime: fundingAt, rate, markPrice: mark, positionAmt: '0.05', amount: paid.toFixed() })]);
    const hist = (await (await fetch(`${s.url}/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1`)).json()) as { fundingTime: number; fundingRate: string; markPrice: string }[];
    expect(hist).toEqual([{ symbol: 'BTCUSDT', fundingTime: fundingAt, fundingRate: rate, markPrice: mark }]);
  });

  it('uses the configured rate where no recorded file covers the data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-funding-'));
    open.push({ close: () => rmSync(dir, { recursive: true, force: true }) });
    writeFileSync(join(dir, 'AVAXUSDT-funding-2020.csv'), 'funding_time,funding_rate\n1577836800000,0.0005\n');
    const s = await sim({ fundingDir: dir, fundingRate: '-0.0003' });
    const prem = (await (await fetch(`${s.url}/fapi/v1/premiumIndex?symbol=AVAXUSDT`)).json()) as { lastFundingRate: string };
    expect(prem.lastFundingRate).toBe('-0.00030000');
  });
});

function readKlineCsvFunding(path: string): { t: number; r: string }[] {
  // funding_time,funding_rate (Binance's times, rates as recorded)
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','))
    .map(([t, r]) => ({ t: Number(t), r: r! }));
}

describe('event times on the server clock', () => {
  it('with the data clock far ahead of real time, E, T, order and trade times never run ahead of GET /fapi/v1/time', async () => {
    // 600× real time: ten klines a second
    const s = await sim({ speed: 600, paused: false, stepsPerKline: 12 });
    const c = rest(s);
    const user = await userStream(s);
    const market = await connect(`${s.wsUrl}/stream?streams=avaxusdt@kline_1m/avaxusdt@markPrice@1s`);
    const o = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 30, timeInForce: 'GTC' });
    await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 1 });
    await waitFor(() => trades(user).length >= 1 && market.frames.length >= 5, 'a fill and market frames');
    await new Promise((r) => setTimeout(r, 1200));
    const serverNow = ((await (await fetch(`${s.url}/fapi/v1/time`)).json()) as { serverTime: number }).serverTime;
    // the data clock really is ahead: minutes of data in about a second
    expect(s.dataTime()).toBeGreaterThan(serverNow + 60_000);
    for (const f of user) {
      expect(f.E as number).toBeLessThanOrEqual(f.receivedAt + 5); // same host clock; 5 ms slack for rounding
      expect(f.T as number).toBeLessThanOrEqual(f.receivedAt + 5);
      const oo = f.o as { T?: number } | undefined;
      if (oo?.T !== undefined) expect(oo.T).toBeLessThanOrEqual(f.receivedAt + 5);
    }
    for (const f of market.frames) {
      const d = f.data as { E: number };
      expect(d.E).toBeLessThanOrEqual(f.receivedAt + 5);
    }
    const q = await c.getOrder({ symbol: 'AVAXUSDT', orderId: o.orderId });
    const t1 = Number((await (await fetch(`${s.url}/fapi/v1/time`)).json() as { serverTime: number }).serverTime);
    expect(q.time).toBeLessThanOrEqual(t1);
    expect(q.updateTime).toBeLessThanOrEqual(t1);
    for (const t of await c.getAccountTrades({ symbol: 'AVAXUSDT' })) expect(t.time).toBeLessThanOrEqual(t1);
    expect(user.length).toBeGreaterThan(0);
  });
});

describe('mark price rate', () => {
  it('sends @markPrice@1s once a second and @markPrice every 3 s, whatever the sub-steps (240 per kline here)', async () => {
    const s = await sim({ paused: false, stepsPerKline: 240 });
    const one = await connect(`${s.wsUrl}/ws/avaxusdt@markPrice@1s`);
    const three = await connect(`${s.wsUrl}/ws/avaxusdt@markPrice`);
    const klines = await connect(`${s.wsUrl}/ws/avaxusdt@kline_1m`);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 3500));
    const elapsed = Date.now() - t0;
    // kline frames follow the sub-steps (4 a second); mark prices do not
    expect(klines.frames.length).toBeGreaterThan(one.frames.length + 2);
    expect(one.frames.length).toBeGreaterThanOrEqual(1);
    expect(one.frames.length).toBeLessThanOrEqual(Math.floor(elapsed / 1000) + 1);
    expect(three.frames.length).toBeLessThanOrEqual(Math.floor(elapsed / 3000) + 1);
    // a second apart on the server's event times (arrival times may bunch under load); sub-steps are 250 ms
    for (let i = 1; i < one.frames.length; i++) expect((one.frames[i]!.E as number) - (one.frames[i - 1]!.E as number)).toBeGreaterThan(500);
  });
});

describe('more endpoints, with Binance field sets', () => {
  it('leverageBracket, allOrders, ticker/24hr, depth, fundingRate', async () => {
    const s = await sim();
    const c = rest(s);
    const br = (await c.getNotionalAndLeverageBrackets({ symbol: 'AVAXUSDT' })) as unknown as { symbol: string; brackets: Record<string, number>[] };
    expect(br.symbol).toBe('AVAXUSDT');
    expect(Object.keys(br.brackets[0]!).sort()).toEqual(['bracket', 'cum', 'initialLeverage', 'maintMarginRatio', 'notionalCap', 'notionalFloor']);
    // cum: the maintenance amount is continuous across brackets
    for (let i = 1; i < br.brackets.length; i++) {
      const [a, b] = [br.brackets[i - 1]!, br.brackets[i]!];
      expect(b.notionalFloor).toBe(a.notionalCap);
      expect(new Decimal(b.notionalFloor!).times(b.maintMarginRatio!).minus(b.cum!).toNumber()).toBeCloseTo(new Decimal(a.notionalCap!).times(a.maintMarginRatio!).minus(a.cum!).toNumber(), 6);
    }
    const all = await c.getNotionalAndLeverageBrackets();
    expect(Array.isArray(all)).toBe(true);

    const a = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'LIMIT', quantity: 1, price: 20, timeInForce: 'GTC' });
    const b = await c.submitNewOrder({ symbol: 'AVAXUSDT', side: 'BUY', type: 'MARKET', quantity: 1 });
    await c.cancelOrder({ symbol: 'AVAXUSDT', orderId: a.orderId });
    s.advance(1);
    const orders = await c.getAllOrders({ symbol: 'AVAXUSDT' });
    expect(orders.map((o) => [o.orderId, o.status])).toEqual([
      [a.orderId, 'CANCELED'],
      [b.orderId, 'FILLED'],
    ]);
    expect((await c.getAllOrders({ symbol: 'AVAXUSDT', orderId: b.orderId })).map((o) => o.orderId)).toEqual([b.orderId]);

    const fixture = readKlineCsv(AVAX, 'AVAXUSDT').klines;
    const t = (await (await fetch(`${s.url}/fapi/v1/ticker/24hr?symbol=AVAXUSDT`)).json()) as Record<string, unknown>;
    expect(Object.keys(t).sort()).toEqual(['closeTime', 'count', 'firstId', 'highPrice', 'lastId', 'lastPrice', 'lastQty', 'lowPrice', 'openPrice', 'openTime', 'priceChange', 'priceChangePercent', 'quoteVolume', 'symbol', 'volume', 'weightedAvgPrice'].sort());
    expect(t.openPrice).toBe(fixture[0]!.open);
    expect(t.lastPrice).toBe(s.markPrice('AVAXUSDT'));

    const d = (await (await fetch(`${s.url}/fapi/v1/depth?symbol=AVAXUSDT&limit=10`)).json()) as { bids: string[][]; asks: string[][]; lastUpdateId: number };
    expect(d.bids).toHaveLength(10);
    expect(new Decimal(d.bids[0]![0]!).lt(d.asks[0]![0]!)).toBe(true);
    expect(new Decimal(d.bids[0]![0]!).lte(s.markPrice('AVAXUSDT'))).toBe(true);
    expect(new Decimal(d.asks[0]![0]!).gte(s.markPrice('AVAXUSDT'))).toBe(true);
    const bad = await fetch(`${s.url}/fapi/v1/depth?symbol=AVAXUSDT&limit=7`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: number }).code).toBe(-1130);
  });
});
