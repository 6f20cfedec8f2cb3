/**
 * A client nobody here wrote: ccxt's `binanceusdm`, pointed at the simulator on 127.0.0.1 (its
 * `urls.api` fapi entries overridden), must get from each call what Binance would answer. The
 * data clock is paused and driven by hand; nothing leaves the machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ccxt from 'ccxt';
import { projectPath } from '../src/core/paths.ts';
import { readKlineCsv } from '../src/market/kline-csv.ts';
import { startSimulator, type Simulator } from '../src/exchange/simulator/server.ts';

const BTC = projectPath('data', 'klines', 'BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const ROWS = readKlineCsv(BTC, 'BTCUSDT').klines;
const HISTORY = 60;
const SYMBOL = 'BTC/USDT:USDT';

let sim: Simulator;

/** A binanceusdm instance whose fapi URLs point at the simulator. */
function client(secret = sim.apiSecret): InstanceType<typeof ccxt.binanceusdm> {
  const ex = new ccxt.binanceusdm({ apiKey: sim.apiKey, secret, enableRateLimit: false, timeout: 10_000, options: { fetchCurrencies: false } });
  const api = ex.urls['api'] as Record<string, string>;
  for (const k of Object.keys(api)) {
    if (k.startsWith('fapi')) api[k] = api[k]!.replace(/^https:\/\/fapi\.binance\.com/, sim.url);
  }
  return ex;
}

beforeAll(async () => {
  sim = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: HISTORY, fundingDir: null });
});
afterAll(async () => {
  await sim.close();
});

describe('ccxt binanceusdm against the simulator', () => {
  it('loads markets with the exchangeInfo filters, candles equal to the data file, and the balance', async () => {
    const ex = client();
    const markets = await ex.loadMarkets();
    const m = markets[SYMBOL]!;
    expect(m).toMatchObject({ id: 'BTCUSDT', linear: true, swap: true, settle: 'USDT' });
    expect(m.precision.price).toBe(0.1);
    expect(m.precision.amount).toBe(0.001);
    expect(m.limits.cost?.min).toBe(100);

    const candles = await ex.fetchOHLCV(SYMBOL, '1m', undefined, 5);
    expect(candles).toHaveLength(5);
    // the last closed klines of the history, price for price
    const want = ROWS.slice(HISTORY - 5, HISTORY);
    expect(candles.map((c) => [c[1], c[2], c[3], c[4], c[5]])).toEqual(want.map((k) => [Number(k.open), Number(k.high), Number(k.low), Number(k.close), Number(k.volume)]));
    expect(candles[4]![0]! - candles[0]![0]!).toBe(4 * 60_000);

    const bal = await ex.fetchBalance();
    // ccxt skips an asset whose updateTime is 0 (uninitialized): the simulator's is its start
    expect(bal.total?.['USDT' as never]).toBe(10000);
    expect(bal.free?.['USDT' as never]).toBe(10000);
  });

  it('market and limit orders, positions, trades, order history, cancel, a reduce-only close and its refusal', async () => {
    const ex = client();
    await ex.loadMarkets();
    const buy = await ex.createOrder(SYMBOL, 'market', 'buy', 0.01);
    expect(buy).toMatchObject({ symbol: SYMBOL, type: 'market', side: 'buy', amount: 0.01, status: 'open' });
    sim.advance(1); // MARKET orders fill at the next kline's open
    const fill = sim.state().fills[0]!;

    const limit = await ex.createOrder(SYMBOL, 'limit', 'sell', 0.01, 200000);
    expect(limit).toMatchObject({ type: 'limit', side: 'sell', price: 200000, status: 'open' });

    const positions = await ex.fetchPositions([SYMBOL]);
    expect(positions).toHaveLength(1);
    expect(positions[0]).toMatchObject({ symbol: SYMBOL, side: 'long', contracts: 0.01, entryPrice: Number(fill.price) });
    // from the leverage brackets: 0.4 % on the first bracket
    expect(positions[0]!.maintenanceMarginPercentage).toBe(0.004);

    const trades = await ex.fetchMyTrades(SYMBOL);
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ id: fill.tradeId, order: buy.id as string, side: 'buy', amount: 0.01, price: Number(fill.price), takerOrMaker: 'taker' });
    expect(trades[0]!.fee).toMatchObject({ currency: 'USDT', cost: Number(fill.commission) });

    const orders = await ex.fetchOrders(SYMBOL);
    expect(orders.map((o) => [o.id, o.status, o.type])).toEqual([
      [buy.id, 'closed', 'market'],
      [limit.id, 'open', 'limit'],
    ]);
    expect(orders[0]!.average).toBe(Number(fill.price));

    const canceled = await ex.cancelOrder(limit.id!, SYMBOL);
    expect(canceled).toMatchObject({ id: limit.id, status: 'canceled' });
    expect(await ex.fetchOpenOrders(SYMBOL)).toEqual([]);

    const close = await ex.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined, { reduceOnly: true });
    expect(close.reduceOnly).toBe(true);
    sim.advance(1);
    expect((await ex.fetchPositions([SYMBOL])).filter((p) => (p.contracts ?? 0) !== 0)).toEqual([]);
    expect((await ex.fetchOrder(close.id!, SYMBOL)).status).toBe('closed');

    // flat: a reduce-only order has nothing to reduce → Binance {"code":-2022,"msg":"ReduceOnly Order is rejected."}
    const refused = await ex.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined, { reduceOnly: true }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ccxt.ExchangeError);
    const body = String((refused as Error).message).replace(/^binanceusdm /, '');
    expect(JSON.parse(body)).toEqual({ code: -2022, msg: 'ReduceOnly Order is rejected.' });
    // ccxt picks its USDⓈ-M error table by the host name (fapi.binance.com); for that host this
    // very answer is an InvalidOrder:
    const mapped = (() => {
      try {
        ex.handleErrors(400, 'Bad Request', 'https://fapi.binance.com/fapi/v1/order', 'POST', {}, body, JSON.parse(body), {}, '');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(mapped).toBeInstanceOf(ccxt.InvalidOrder);
  });

  it('ticker, order book, funding rates and leverage tiers parse', async () => {
    const ex = client();
    await ex.loadMarkets();
    const t = await ex.fetchTicker(SYMBOL);
    expect(t.last).toBe(Number(sim.markPrice('BTCUSDT')));
    expect(t.high!).toBeGreaterThanOrEqual(t.low!);
    const book = await ex.fetchOrderBook(SYMBOL, 5);
    expect(book.bids).toHaveLength(5);
    expect(book.asks).toHaveLength(5);
    expect(book.bids[0]![0]!).toBeLessThan(book.asks[0]![0]!);
    const fr = await ex.fetchFundingRate(SYMBOL);
    expect(fr.fundingRate).toBe(0.0001);
    const tiers = await ex.fetchLeverageTiers([SYMBOL]);
    expect(tiers[SYMBOL]![0]).toMatchObject({ tier: 1, minNotional: 0, maxNotional: 50000, maxLeverage: 125, maintenanceMarginRate: 0.004 });
  });

  it('a wrong secret is an AuthenticationError (Binance -1022)', async () => {
    const ex = client('not-the-secret');
    await ex.loadMarkets();
    const e = await ex.fetchBalance().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ccxt.AuthenticationError);
    expect(String((e as Error).message)).toContain('-1022');
  });
});
