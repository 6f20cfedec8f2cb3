/**
 * The simulator's Algo Order API through the real `binance` library (USDMClient) on 127.0.0.1,
 * over the real BTCUSDT klines of data/klines: placement and its refusals, the open list, the
 * query, the cancel, and a stop triggered by the mark price while nobody listens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { USDMClient } from 'binance';
import { Decimal } from '../../core/decimal.ts';
import { projectPath } from '../../core/paths.ts';
import { startSimulator, type Simulator } from './server.ts';

const BTC = projectPath('data', 'klines', 'BTCUSDT-1m-2025-07-06_2025-07-17.csv');
const open: Simulator[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function sim(): Promise<{ s: Simulator; rest: USDMClient }> {
  const s = await startSimulator({ data: [`BTCUSDT=${BTC}`], paused: true, history: 30 });
  open.push(s);
  return { s, rest: new USDMClient({ api_key: s.apiKey, api_secret: s.apiSecret, baseUrl: s.url }, { proxy: false }) };
}
const codeOf = async (p: Promise<unknown>): Promise<number | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: number; body?: { code?: number } }) => e.body?.code ?? e.code,
  );
const stopParams = (side: 'BUY' | 'SELL', triggerPrice: string, clientAlgoId: string) => ({
  algoType: 'CONDITIONAL',
  symbol: 'BTCUSDT',
  side,
  type: 'STOP_MARKET',
  triggerPrice,
  closePosition: 'true',
  workingType: 'MARK_PRICE',
  clientAlgoId,
});

describe('simulator: Algo Order API (protective stops)', () => {
  it('places, lists, queries and cancels a closePosition STOP_MARKET, with Binance\'s refusals', async () => {
    const { s, rest } = await sim();
    const mark = new Decimal(s.markPrice('BTCUSDT'));
    const below = mark.minus(500).toFixed(1);
    const placed = (await rest.postPrivate('fapi/v1/algoOrder', stopParams('SELL', below, 'pb-stop-test1'))) as Record<string, unknown>;
    expect(placed).toMatchObject({ clientAlgoId: 'pb-stop-test1', algoType: 'CONDITIONAL', orderType: 'STOP_MARKET', algoStatus: 'NEW', triggerPrice: below, closePosition: true, workingType: 'MARK_PRICE', symbol: 'BTCUSDT', side: 'SELL' });
    expect(typeof placed.algoId).toBe('number');
    // one closePosition stop per direction; a stop at or beyond the mark would trigger at once
    expect(await codeOf(rest.postPrivate('fapi/v1/algoOrder', stopParams('SELL', mark.minus(600).toFixed(1), 'pb-stop-test2')))).toBe(-4130);
    expect(await codeOf(rest.postPrivate('fapi/v1/algoOrder', stopParams('BUY', mark.minus(1).toFixed(1), 'pb-stop-test3')))).toBe(-2021);
    expect(await codeOf(rest.postPrivate('fapi/v1/algoOrder', stopParams('BUY', mark.plus(500).toFixed(1) + '5', 'pb-stop-test4')))).toBe(-4014); // off the tick
    expect(await codeOf(rest.postPrivate('fapi/v1/algoOrder', { ...stopParams('BUY', mark.plus(500).toFixed(1), 'pb-stop-test5'), reduceOnly: 'true' }))).toBe(-1106);
    expect(await codeOf(rest.postPrivate('fapi/v1/algoOrder', { ...stopParams('BUY', mark.plus(500).toFixed(1), 'pb-stop-test6'), algoType: 'VP' }))).toBe(-1130);
    const list = (await rest.getOpenAlgoOrders()) as unknown as Array<Record<string, unknown>>;
    expect(list.map((o) => o.clientAlgoId)).toEqual(['pb-stop-test1']);
    expect(s.state().openOrders).toEqual([]); // algo orders are listed apart
    expect(await rest.getAlgoOrder({ clientAlgoId: 'pb-stop-test1' })).toMatchObject({ algoStatus: 'NEW', actualOrderId: '' });
    expect(await rest.cancelAlgoOrder({ clientAlgoId: 'pb-stop-test1' })).toMatchObject({ clientAlgoId: 'pb-stop-test1', code: '200' });
    expect(await codeOf(rest.cancelAlgoOrder({ clientAlgoId: 'pb-stop-test1' }))).toBe(-2011);
    expect(await rest.getAlgoOrder({ clientAlgoId: 'pb-stop-test1' })).toMatchObject({ algoStatus: 'CANCELED' });
    expect(await codeOf(rest.getAlgoOrder({ clientAlgoId: 'nope' }))).toBe(-2013);
  });

  it('a stop of a held position triggers on the mark price and closes it as a MARKET order at the stop price', async () => {
    const { s, rest } = await sim();
    await rest.submitNewOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: 0.01 });
    s.advance(1); // filled at the next kline's open
    const pos = s.state().positions.find((p) => p.symbol === 'BTCUSDT')!;
    expect(pos.positionAmt).toBe('0.01');
    // a stop just below the current mark: the data's later klines go below it
    const trigger = new Decimal(s.markPrice('BTCUSDT')).minus(0.1).toFixed(1);
    await rest.postPrivate('fapi/v1/algoOrder', stopParams('SELL', trigger, 'pb-stop-held'));
    for (let i = 0; i < 500 && s.state().openAlgoOrders.length > 0; i++) s.step(1);
    expect(s.state().openAlgoOrders).toEqual([]);
    expect(s.state().positions.find((p) => p.symbol === 'BTCUSDT')?.positionAmt ?? '0').toBe('0');
    const fill = s.state().fills.find((f) => f.clientOrderId === 'pb-stop-held')!;
    expect(fill).toMatchObject({ side: 'SELL', quantity: '0.01' });
    // at the stop price (or, when the first price once armed was already below it, at that price),
    // 1 bps of slippage against the seller, floored to the 0.1 tick: never better than the stop
    expect(new Decimal(fill.price).lte(new Decimal(trigger).times('0.9999').toNearest('0.1', Decimal.ROUND_FLOOR))).toBe(true);
    expect(await rest.getAlgoOrder({ clientAlgoId: 'pb-stop-held' })).toMatchObject({ algoStatus: 'FINISHED', actualPrice: fill.price });
    // the triggered order is an order like any other, under the algo's client id
    expect(await rest.getOrder({ symbol: 'BTCUSDT', origClientOrderId: 'pb-stop-held' })).toMatchObject({ status: 'FILLED', executedQty: '0.01' });
  });
});
