/** Wire helpers: int64 ids as bare JSON numbers, partial klines, Binance error texts. */
import { describe, expect, it } from 'vitest';
import type { Kline } from '../../core/types.ts';
import { apiError, klineEvent, partialKline, raw, toJson } from './wire.ts';

describe('toJson', () => {
  it('writes int64 ids as bare numbers digit for digit, even above 2^53', () => {
    // a real orderId from /work/shared/data/ws/user-data-annotated-1.md (8389766049535966587)
    const text = toJson({ orderId: raw('8389766049535966587'), clientOrderId: 'a\u0001b', n: [raw('-1'), 2] });
    expect(text).toBe('{"orderId":8389766049535966587,"clientOrderId":"a\\u0001b","n":[-1,2]}');
    expect(() => raw('1.5')).toThrow(TypeError);
  });
});

describe('partialKline', () => {
  const k: Kline = { symbol: 'BTCUSDT', interval: '1m', openTime: 0, closeTime: 59_999, open: '100.0', high: '103.5', low: '99.1', close: '102.0', volume: '12.345', quoteVolume: '1250.50', trades: 30, closed: true };
  it('walks open → low → high → close for an up bar, volumes growing', () => {
    expect(partialKline(k, 0, 6)).toMatchObject({ close: '100.0', high: '100.0', low: '100.0', volume: '0.000', trades: 0, closed: false });
    expect(partialKline(k, 2, 6)).toMatchObject({ close: '99.1', high: '100.0', low: '99.1', volume: '4.115', quoteVolume: '416.83', trades: 10 });
    expect(partialKline(k, 5, 6)).toMatchObject({ close: '103.5', high: '103.5', low: '99.1', volume: '10.287', closed: false });
    expect(partialKline(k, 6, 6)).toBe(k);
  });
  it('goes to the high first on a down bar', () => {
    const down = { ...k, close: '99.5' };
    expect(partialKline(down, 1, 3)).toMatchObject({ close: '103.5', high: '103.5', low: '100.0' });
  });
  it('builds the kline event with Binance field names', () => {
    const e = klineEvent(k, 60_000, 500) as { k: Record<string, unknown> };
    expect(e).toMatchObject({ e: 'kline', E: 60_000, s: 'BTCUSDT' });
    expect(e.k).toEqual({ t: 0, T: 59_999, s: 'BTCUSDT', i: '1m', f: 500, L: 529, o: '100.0', c: '102.0', h: '103.5', l: '99.1', v: '12.345', n: 30, x: true, q: '1250.50', V: '0', Q: '0', B: '0' });
  });
});

describe('apiError', () => {
  it('carries Binance texts with their arguments', () => {
    expect(apiError(-1102, ['timestamp'])).toMatchObject({ status: 400, code: -1102, msg: "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed." });
    expect(apiError(-2015, [], 401).status).toBe(401);
  });
});
