/**
 * Market-data REST routes (public): ping, time, exchangeInfo, klines, premiumIndex, ticker price,
 * 24 h ticker, depth (synthetic), funding rate history, with Binance's field sets and weights
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api).
 */
import { Decimal, ZERO, dec, str } from '../../../core/decimal.ts';
import type { Symbol } from '../../../core/types.ts';
import { MINUTE, intParam, nextFundingTime, strParam, type Route, type SimContext } from '../context.ts';
import { FUNDING_INTERVAL_MS } from '../funding.ts';
import { apiError, klineRow, quoteVolumeOf } from '../wire.ts';

/** The market-data route family. */
export function marketDataRoutes(ctx: SimContext): Record<string, Route> {
  const { bars, symbols, t0, limits, infoDoc, rules } = ctx;
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

  /** The rate of the next funding (Binance's `lastFundingRate`/`r`: the current estimate, paid at `nextFundingTime`). */
  function premiumIndex(p: URLSearchParams): unknown {
    const one = (s: Symbol) => {
      const m = markPrice(s);
      const t = dataTime();
      const next = nextFundingTime(t);
      return { symbol: s, markPrice: m, indexPrice: m, estimatedSettlePrice: m, lastFundingRate: ctx.funding.rateAt(s, next), interestRate: '0.00010000', nextFundingTime: next, time: ctx.wireTime(t) };
    };
    const s = p.get('symbol');
    if (s !== null && s !== '') return one(symbolParam(p));
    return symbols.map(one);
  }

  /**
   * GET /fapi/v1/ticker/24hr: the rolling 24 h window of the replayed klines up to the data clock
   * (closed klines of the last 1439 minutes and the forming one so far). `lastQty` is not known
   * from klines ("0"); trade ids follow the klines' trade counts.
   */
  function ticker24hr(p: URLSearchParams): unknown {
    const one = (s: Symbol) => {
      const arr = bars.get(s)!;
      const last = ctx.ended ? ctx.timelineLen - 1 : ctx.index;
      let open: string | null = null;
      let high = ZERO;
      let low: Decimal | null = null;
      let vol = ZERO;
      let quote = ZERO;
      let count = 0;
      let openTime = 0;
      for (let i = Math.max(0, last - 1439); i <= last; i++) {
        let k = arr[i];
        if (k === undefined) continue;
        if (i === last && !ctx.ended) k = ctx.currentBar(s) ?? k;
        if (open === null) {
          open = k.open;
          openTime = k.openTime;
        }
        const h = dec(k.high);
        const l = dec(k.low);
        if (h.gt(high)) high = h;
        if (low === null || l.lt(low)) low = l;
        vol = vol.plus(dec(k.volume));
        quote = quote.plus(dec(quoteVolumeOf(k)));
        count += k.trades ?? 0;
      }
      const lastPrice = markPrice(s);
      const o = dec(open ?? lastPrice);
      const change = dec(lastPrice).minus(o);
      const closeTime = ctx.wireTime(dataTime());
      const firstId = ctx.firstTradeIds.get(s)! - count;
      return {
        symbol: s,
        priceChange: str(change),
        priceChangePercent: o.isZero() ? '0.000' : change.div(o).times(100).toFixed(3),
        weightedAvgPrice: vol.isZero() ? lastPrice : str(quote.div(vol).toSignificantDigits(12)),
        lastPrice,
        lastQty: '0',
        openPrice: open ?? lastPrice,
        highPrice: str(high),
        lowPrice: str(low ?? ZERO),
        volume: str(vol),
        quoteVolume: str(quote),
        openTime: Math.min(openTime, closeTime),
        closeTime,
        firstId: count > 0 ? firstId : 0,
        lastId: count > 0 ? firstId + count - 1 : 0,
        count,
      };
    };
    const s = p.get('symbol');
    if (s !== null && s !== '') return one(symbolParam(p));
    return symbols.map(one);
  }

  /**
   * GET /fapi/v1/depth: a synthetic book around the mark price (the data has no order book):
   * `limit` levels each side one tick apart, starting one tick from the mark, quantities growing
   * with distance. limit ∈ {5, 10, 20, 50, 100, 500, 1000}, default 500 (Binance's set; else -1130).
   */
  function depth(p: URLSearchParams): unknown {
    const symbol = symbolParam(p);
    const limit = intParam(p, 'limit', false) ?? 500;
    if (![5, 10, 20, 50, 100, 500, 1000].includes(limit)) throw apiError(-1130, ['limit']);
    const r = rules.get(symbol);
    const tick = dec(r.priceFilter.tickSize);
    const step = dec(r.lotSize.stepSize);
    const mark = dec(markPrice(symbol));
    const mid = mark.toNearest(tick, Decimal.ROUND_HALF_UP);
    const qtyAt = (i: number): string => str(Decimal.max(step, dec(r.lotSize.minQty)).times(10 + (i * 7) % 23));
    const bids: [string, string][] = [];
    const asks: [string, string][] = [];
    for (let i = 1; i <= limit; i++) {
      const b = mid.minus(tick.times(i));
      if (b.gt(0)) bids.push([b.toFixed(tick.decimalPlaces()), qtyAt(i)]);
      asks.push([mid.plus(tick.times(i)).toFixed(tick.decimalPlaces()), qtyAt(i + 3)]);
    }
    const t = ctx.wireTime(dataTime());
    return { lastUpdateId: ctx.index * ctx.steps + ctx.phase + 1, E: t, T: t, bids, asks };
  }

  /**
   * GET /fapi/v1/fundingRate: settled fundings (8-hourly on the data clock) up to now, oldest
   * first, `{symbol, fundingRate, fundingTime, markPrice}`; startTime/endTime/limit (default 100,
   * max 1000); without a symbol, every served symbol's. Without times: the most recent `limit`.
   */
  function fundingRateHistory(p: URLSearchParams): unknown {
    const sym = p.get('symbol');
    const list = sym !== null && sym !== '' ? [symbolParam(p)] : symbols;
    const limit = intParam(p, 'limit', false) ?? 100;
    if (limit < 1 || limit > 1000) throw apiError(-1130, ['limit']);
    const start = intParam(p, 'startTime', false);
    const end = intParam(p, 'endTime', false);
    const now = dataTime();
    const first = Math.ceil(t0 / FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
    const times: number[] = [];
    for (let f = first; f <= now && f < ctx.nextFunding; f += FUNDING_INTERVAL_MS) {
      if (start !== undefined && f < start) continue;
      if (end !== undefined && f > end) break;
      times.push(f);
    }
    const rows: unknown[] = [];
    const picked = start !== undefined ? times.slice(0, limit) : times.slice(-limit);
    for (const f of picked) {
      for (const s of list) {
        const k = bars.get(s)![Math.floor((f - t0) / MINUTE)];
        rows.push({ symbol: s, fundingRate: ctx.funding.rateAt(s, f), fundingTime: f, markPrice: k?.open ?? ctx.lastClose.get(s) ?? '0' });
      }
    }
    return rows.slice(start !== undefined ? 0 : Math.max(0, rows.length - limit), start !== undefined ? limit : undefined);
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
    'GET /fapi/v1/ticker/24hr': { weight: (p) => (p.get('symbol') ? 1 : 40), auth: 'none', handler: ticker24hr },
    'GET /fapi/v1/depth': {
      weight: (p) => {
        const l = Number(p.get('limit') ?? 500);
        return l <= 50 ? 2 : l <= 100 ? 5 : l <= 500 ? 10 : 20;
      },
      auth: 'none',
      handler: depth,
    },
    'GET /fapi/v1/fundingRate': { weight: w(1), auth: 'none', handler: fundingRateHistory },
    'GET /fapi/v1/premiumIndex': { weight: (p) => (p.get('symbol') ? 1 : 10), auth: 'none', handler: premiumIndex },
    'GET /fapi/v1/ticker/price': { weight: (p) => (p.get('symbol') ? 1 : 2), auth: 'none', handler: (p) => {
      const one = (s: Symbol) => ({ symbol: s, price: markPrice(s), time: ctx.wireTime(dataTime()) });
      const s = p.get('symbol');
      return s !== null && s !== '' ? one(symbolParam(p)) : symbols.map(one);
    } },
  };
}
