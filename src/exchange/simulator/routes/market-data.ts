/**
 * Market-data REST routes (public): ping, time, exchangeInfo, klines, premiumIndex, ticker price,
 * with Binance's field sets and weights
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api).
 */
import type { Symbol } from '../../../core/types.ts';
import { FUNDING_RATE, MINUTE, intParam, nextFundingTime, strParam, type Route, type SimContext } from '../context.ts';
import { apiError, klineRow } from '../wire.ts';

/** The market-data route family. */
export function marketDataRoutes(ctx: SimContext): Record<string, Route> {
  const { bars, symbols, t0, limits, infoDoc } = ctx;
  const markPrice = ctx.markPrice;
  const dataTime = ctx.dataTime;
  const serverTime = ctx.serverTime;
  const symbolParam = ctx.symbolParam;
  const w = (n: number) => () => n;

  function klines(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const interval = strParam(p, 'interval');
    if (interval !== '1m') throw apiError(-1120);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (limit < 1 || limit > 1500) throw apiError(-1130, ['limit']);
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    const arr = bars.get(symbol)!;
    const closed = ctx.ended ? ctx.timelineLen : ctx.index; // klines [0, closed) are closed
    const idx = (t: number): number => Math.ceil((t - t0) / MINUTE); // first index with openTime >= t
    let lo = 0;
    let hi = closed; // exclusive
    if (end !== undefined) hi = Math.min(hi, Math.max(0, Math.floor((end - t0) / MINUTE) + 1));
    if (start !== undefined) lo = Math.max(0, idx(start));
    const out: unknown[] = [];
    if (start !== undefined) {
      for (let i = lo; i < hi && out.length < limit; i++) if (arr[i] !== undefined) out.push(klineRow(arr[i]!));
    } else {
      for (let i = hi - 1; i >= lo && out.length < limit; i--) if (arr[i] !== undefined) out.push(klineRow(arr[i]!));
      out.reverse();
    }
    return out;
  }

  function premiumIndex(p: URLSearchParams): unknown {
    const one = (s: Symbol) => {
      const m = markPrice(s);
      const t = dataTime();
      return { symbol: s, markPrice: m, indexPrice: m, estimatedSettlePrice: m, lastFundingRate: FUNDING_RATE, interestRate: '0.00010000', nextFundingTime: nextFundingTime(t), time: t };
    };
    const s = p.get('symbol');
    if (s !== null && s !== '') return one(symbolParam(p));
    return symbols.map(one);
  }


  const servedRateLimits = [
    { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: limits.weightPerMinute },
    { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: limits.ordersPerMinute },
    { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: limits.ordersPer10s },
  ];
  return {
    'GET /fapi/v1/ping': { weight: w(1), auth: 'none', handler: () => ({}) },
    'GET /fapi/v1/time': { weight: w(1), auth: 'none', handler: () => ({ serverTime: serverTime() }) },
    'GET /fapi/v1/exchangeInfo': { weight: w(1), auth: 'none', handler: () => ({ ...infoDoc, serverTime: serverTime(), rateLimits: servedRateLimits }) },
    'GET /fapi/v1/klines': {
      weight: (p) => {
        const l = Number(p.get('limit') ?? 500);
        return l < 100 ? 1 : l < 500 ? 2 : l <= 1000 ? 5 : 10;
      },
      auth: 'none',
      handler: klines,
    },
    'GET /fapi/v1/premiumIndex': { weight: (p) => (p.get('symbol') ? 1 : 10), auth: 'none', handler: premiumIndex },
    'GET /fapi/v1/ticker/price': { weight: (p) => (p.get('symbol') ? 1 : 2), auth: 'none', handler: (p) => {
      const one = (s: Symbol) => ({ symbol: s, price: markPrice(s), time: dataTime() });
      const s = p.get('symbol');
      return s !== null && s !== '' ? one(symbolParam(p)) : symbols.map(one);
    } },
  };
}
