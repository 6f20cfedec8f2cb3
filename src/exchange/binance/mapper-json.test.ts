/**
 * Lossless JSON for Binance payloads (json.ts): int64 ids above 2^53 kept exact, and the market
 * connection's fast path for forming kline frames, on the recorded frames of data/ws/.
 */
import { describe, expect, it } from 'vitest';
import { hasDigitRun, parseBinanceJson, parseMarketFrame, quoteUnsafeIntegers, transformBinanceResponse } from './json.ts';
import { KLINE_LINES, publicFrame } from './mapper-test-support.ts';

describe('parseBinanceJson (int64 ids)', () => {
  it('keeps an id above 2^53 exact, leaves safe numbers and strings alone', () => {
    const text = '{"i":8389766049535966587,"t":7043103089,"T":1765638258183,"c":"12345678901234567890","L":"3113.87","x":[9007199254740993]}';
    expect(JSON.parse(text).i).toBe(8389766049535966000); // what JSON.parse does
    const v = parseBinanceJson(text) as Record<string, unknown>;
    expect(v.i).toBe('8389766049535966587');
    expect(v.t).toBe(7043103089);
    expect(v.T).toBe(1765638258183);
    expect(v.c).toBe('12345678901234567890');
    expect(v.x).toEqual(['9007199254740993']);
  });

  it('keeps 2^53 − 1 a number and quotes 2^53 + 1; never touches decimals or exponents', () => {
    expect(quoteUnsafeIntegers('[9007199254740991, 9007199254740993]')).toBe('[9007199254740991, "9007199254740993"]');
    const t = '{"a":1.12345678901234567890,"b":12345678901234567e3,"c":-12345678901234567890}';
    expect(quoteUnsafeIntegers(t)).toBe('{"a":1.12345678901234567890,"b":12345678901234567e3,"c":"-12345678901234567890"}');
  });

  it('does not quote digits inside strings, even with escaped quotes', () => {
    const t = '{"m":"x\\",\\"i\\":12345678901234567890,","i":12345678901234567890}';
    expect(parseBinanceJson(t)).toEqual({ m: 'x","i":12345678901234567890,', i: '12345678901234567890' });
  });

  it('hasDigitRun answers as /\\d{n}/ does, on 20,000 random texts of digits and separators', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < 20_000; k++) {
      let t = '';
      const len = Math.floor(rnd() * 70);
      for (let j = 0; j < len; j++) t += rnd() < 0.8 ? String(Math.floor(rnd() * 10)) : ',":'[Math.floor(rnd() * 3)];
      for (const n of [1, 5, 16]) expect(hasDigitRun(t, n), `${n} in ${t}`).toBe(new RegExp(`\\d{${n}}`).test(t));
    }
  });

  it('transformBinanceResponse parses JSON bodies and passes others through', () => {
    expect(transformBinanceResponse('{"orderId":8389766049535966587}')).toEqual({ orderId: '8389766049535966587' });
    expect(transformBinanceResponse('<html>502 Bad Gateway</html>')).toBe('<html>502 Bad Gateway</html>');
    expect(transformBinanceResponse('')).toBe('');
    expect(transformBinanceResponse({ a: 1 })).toEqual({ a: 1 });
  });
});

describe('parseMarketFrame (market connections)', () => {
  it('a forming kline frame: stream, E, s and x only, the same as parsed whole; a closed one parsed whole', () => {
    let forming = 0;
    for (const l of KLINE_LINES) {
      const whole = JSON.parse(l) as { stream: string; data: { E: number; s: string; k: { x: boolean } } };
      if (whole.data.k.x) {
        expect(parseMarketFrame(l)).toEqual(whole);
        continue;
      }
      forming++;
      expect(parseMarketFrame(l)).toEqual({ stream: whole.stream, data: { e: 'kline', E: whole.data.E, s: whole.data.s, k: { x: false } } });
    }
    expect(forming).toBe(63);
  });

  it('anything else is parsed whole and losslessly: mark prices, another field order, an int64', () => {
    const mark = publicFrame('btcusdt@markPrice');
    expect(parseMarketFrame(mark)).toEqual(JSON.parse(mark));
    const forming = KLINE_LINES.find((l) => l.includes('"x":false'))!;
    const reordered = forming.replace('"e":"kline","E":', '"E":').replace(/,"s":"CTKUSDT","k"/, ',"e":"kline","s":"CTKUSDT","k"');
    expect(parseMarketFrame(reordered)).toEqual(JSON.parse(forming));
    const closed = KLINE_LINES.find((l) => l.includes('"x":true'))!;
    expect(parseMarketFrame(closed.replace(/"f":\d+/, '"f":8389766049535966587'))).toMatchObject({ data: { k: { f: '8389766049535966587', x: true } } });
  });

  it('a broken forming kline frame is not taken for one: it throws as JSON.parse', () => {
    const forming = KLINE_LINES.find((l) => l.includes('"x":false'))!;
    expect(() => parseMarketFrame(forming.slice(0, -1))).toThrow(SyntaxError);
    expect(() => parseMarketFrame(forming.replace('"o":"1.01000"', '"o":1.01.0'))).toThrow(SyntaxError);
  });
});
