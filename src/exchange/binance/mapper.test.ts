import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../core/errors.ts';
import type { OrderFilled } from '../../core/types.ts';
import { hasDigitRun, parseBinanceJson, parseMarketFrame, quoteUnsafeIntegers, transformBinanceResponse } from './json.ts';
import {
  mapAccount,
  mapAccountUpdate,
  mapBalances,
  mapKlineFrame,
  mapListenKeyExpired,
  mapMarkPriceFrame,
  mapMarkPriceFrames,
  mapOrderTradeUpdate,
  mapPositionRisk,
  mapPositionRisks,
  mapPremiumIndex,
  mapRestKline,
  mapRestKlines,
  mapRestOpenOrders,
  mapRestOrder,
  mapServerTime,
  mapUserDataFrame,
  mapUserTrade,
  mapUserTrades,
} from './mapper.ts';

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');
const dataFile = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../../data/ws/${name}`, import.meta.url)), 'utf8');
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

const KLINE_LINES = lines(dataFile('kline_1m-combined-2021-07-22.jsonl'));
const PUBLIC_LINES = lines(dataFile('usdm-public-frames.jsonl'));
const publicFrame = (stream: string): string => {
  const l = PUBLIC_LINES.find((x) => x.startsWith(`{"stream":"${stream}"`));
  if (!l) throw new Error(`no ${stream} frame`);
  return l;
};

/** Run `fn`, expect a DataError, return its message. */
function dataErrorOf(fn: () => unknown): DataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('DATA_MALFORMED');
    return err as DataError;
  }
  throw new Error('expected a DataError');
}

/** Replace one `"key": value` (first occurrence after `after`) in JSON text. */
function setField(text: string, key: string, valueJson: string, after = ''): string {
  const start = after ? text.indexOf(after) : 0;
  const re = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"|-?[\\d.eE+-]+|true|false|null)`);
  const head = text.slice(0, start);
  const tail = text.slice(start);
  if (!re.test(tail)) throw new Error(`no ${key}`);
  return head + tail.replace(re, `"${key}": ${valueJson}`);
}

/** Remove one `"key": value,` from JSON text (first occurrence after `after`). */
function dropField(text: string, key: string, after = ''): string {
  const start = after ? text.indexOf(after) : 0;
  const re = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*"|-?[\\d.eE+-]+|true|false|null)\\s*,`);
  return text.slice(0, start) + text.slice(start).replace(re, '');
}

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

describe('mapKlineFrame', () => {
  it('maps every recorded combined kline frame (67), 4 of them closed', () => {
    expect(KLINE_LINES).toHaveLength(67);
    const ks = KLINE_LINES.map((l) => mapKlineFrame(l));
    expect(ks.filter((k) => k.closed)).toHaveLength(4);
    for (const k of ks) {
      expect(k.interval).toBe('1m');
      expect(k.closeTime - k.openTime).toBe(59_999);
    }
  });

  it('keeps the exact decimal text of the first frame', () => {
    expect(mapKlineFrame(KLINE_LINES[0])).toEqual({
      symbol: 'CTKUSDT',
      interval: '1m',
      openTime: 1626992700000,
      closeTime: 1626992759999,
      open: '1.01000',
      high: '1.01100',
      low: '1.01000',
      close: '1.01100',
      volume: '3917',
      quoteVolume: '3957.89900',
      trades: 48,
      closed: false,
    });
  });

  it('maps a bare event (no combined wrapper) the same, and a parsed value the same', () => {
    const data = JSON.stringify((JSON.parse(KLINE_LINES[0]!) as { data: unknown }).data);
    expect(mapKlineFrame(data)).toEqual(mapKlineFrame(KLINE_LINES[0]));
    expect(mapKlineFrame(JSON.parse(KLINE_LINES[0]!))).toEqual(mapKlineFrame(KLINE_LINES[0]));
  });

  it('maps the 1M kline of the public frames', () => {
    const k = mapKlineFrame(publicFrame('btcusdt@kline_1M'));
    expect(k).toMatchObject({ symbol: 'BTCUSDT', interval: '1M', open: '37614.40', close: '29075.50', quoteVolume: '423075730671.12853', trades: 129025447 });
  });

  it('names the stream and the field on bad input', () => {
    const line = KLINE_LINES[0]!;
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 'c', '"abc"'))).message).toBe('ctkusdt@kline_1m k.c: "abc" is not a decimal number');
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 'c', '1.011'))).message).toBe('ctkusdt@kline_1m k.c: 1.011 is not a decimal number');
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 'x', '"true"'))).message).toBe('ctkusdt@kline_1m k.x: "true" is not a boolean');
    expect(dataErrorOf(() => mapKlineFrame(dropField(line, 'v'))).message).toBe('ctkusdt@kline_1m k.v: missing, expected a decimal number');
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 't', '-5'))).message).toBe('ctkusdt@kline_1m k.t: -5 is not a time in epoch milliseconds');
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 'e', '"trade"'))).message).toBe('ctkusdt@kline_1m e: "trade" is not "kline"');
    const nullK = JSON.parse(line) as { data: { k: unknown } };
    nullK.data.k = null;
    const e = dataErrorOf(() => mapKlineFrame(JSON.stringify(nullK)));
    expect(e.message).toBe('ctkusdt@kline_1m k: null is not an object');
    expect(e.location).toEqual({ stream: 'ctkusdt@kline_1m', field: 'k' });
    expect(dataErrorOf(() => mapKlineFrame('{"stream":')).message).toMatch(/^kline: not JSON/);
    expect(dataErrorOf(() => mapKlineFrame(line.replace('"stream":"ctkusdt@kline_1m"', '"stream":"btcusdt@kline_1m"'))).message).toBe(
      'btcusdt@kline_1m s: "CTKUSDT" does not match the stream name',
    );
    expect(dataErrorOf(() => mapKlineFrame(setField(line, 's', '"AKROUSDT"', '"k"'))).message).toBe('ctkusdt@kline_1m k.s: "AKROUSDT" differs from s "CTKUSDT"');
  });
});

describe('mapMarkPriceFrame', () => {
  it('maps the recorded btcusdt@markPrice frame', () => {
    expect(mapMarkPriceFrame(publicFrame('btcusdt@markPrice'))).toEqual({
      type: 'MarkPriceUpdated',
      ts: 1617308820003,
      symbol: 'BTCUSDT',
      markPrice: '58940.14924532',
      indexPrice: '58857.26693664',
      fundingRate: '0.00058455',
      nextFundingTime: 1617321600000,
    });
  });

  it('agrees with the schema (mapMarkPriceFrames) on good and bad values of every field', () => {
    const f = publicFrame('btcusdt@markPrice');
    const outcome = (fn: () => unknown) => {
      try {
        return fn();
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    const values = ['"58940.1"', '"-1"', '"1e-8"', '""', '"x"', '" 1"', '1', '-1', '1.5', '9007199254740993', 'null', 'true', '[]', '{}', '"markPriceUpdate"'];
    let compared = 0;
    for (const key of ['e', 'E', 's', 'p', 'P', 'i', 'r', 'T']) {
      for (const v of values) {
        const frame = setField(f, key, v);
        const one = outcome(() => mapMarkPriceFrame(frame));
        expect(one, `${key}: ${v}`).toEqual(outcome(() => mapMarkPriceFrames(frame)[0]));
        compared++;
      }
      const without = dropField(f, key);
      if (without !== f) expect(outcome(() => mapMarkPriceFrame(without)), `${key} absent`).toEqual(outcome(() => mapMarkPriceFrames(without)[0]));
    }
    expect(outcome(() => mapMarkPriceFrame(JSON.parse(f).data))).toEqual(mapMarkPriceFrame(f));
    expect(compared).toBe(120);
  });

  it('maps the !markPrice@arr frame to one event per symbol', () => {
    const evs = mapMarkPriceFrames(publicFrame('!markPrice@arr'));
    expect(evs.map((e) => [e.symbol, e.markPrice, e.fundingRate])).toEqual([
      ['BTCUSDT', '59022.53514719', '0.00058959'],
      ['ETHUSDT', '1981.15704420', '0.00059142'],
    ]);
    expect(mapMarkPriceFrames(publicFrame('btcusdt@markPrice'))).toHaveLength(1);
  });

  it('names the field; an array element by its index', () => {
    const f = publicFrame('btcusdt@markPrice');
    expect(dataErrorOf(() => mapMarkPriceFrame(setField(f, 'p', '"58,940.1"'))).message).toBe('btcusdt@markPrice p: "58,940.1" is not a decimal number');
    expect(dataErrorOf(() => mapMarkPriceFrames(setField(publicFrame('!markPrice@arr'), 'p', '""', '"ETHUSDT"'))).message).toBe(
      '!markPrice@arr 1.p: "" is not a decimal number',
    );
    expect(dataErrorOf(() => mapMarkPriceFrame(publicFrame('btcusdt@aggTrade'))).message).toBe('btcusdt@aggTrade e: "aggTrade" is not "markPriceUpdate"');
  });
});

describe('mapOrderTradeUpdate', () => {
  const SUSHI = fixture('ws-order-trade-update-sushiusdt-trade.json');

  it('maps a TRADE to OrderFilled with the fill (real SUSHIUSDT reduce-only MARKET fill)', () => {
    expect(mapOrderTradeUpdate(SUSHI)).toEqual([
      {
        type: 'OrderFilled',
        ts: 1719512105354,
        cumulativeQuantity: '139',
        status: 'FILLED',
        fill: {
          tradeId: '444925760',
          orderId: '22254789833',
          clientOrderId: 'x-wPAX3YpD-240627181505-aG-243914',
          symbol: 'SUSHIUSDT',
          side: 'SELL',
          price: '0.8464',
          quantity: '31',
          commission: '0.00787152',
          commissionAsset: 'USDT',
          realizedPnl: '0.18290000',
          maker: false,
          time: 1719512105353,
        },
      },
    ]);
  });

  it('a fill without commission fields (Binance omits n/N when there is none) has commission "0" in the quote asset', () => {
    const [ev] = mapOrderTradeUpdate(dropField(dropField(SUSHI, 'n'), 'N'));
    expect((ev as OrderFilled).fill).toMatchObject({ commission: '0', commissionAsset: 'USDT', price: '0.8464' });
  });

  it('maps PARTIALLY_FILLED too', () => {
    const [ev] = mapOrderTradeUpdate(setField(SUSHI, 'X', '"PARTIALLY_FILLED"'));
    expect((ev as OrderFilled).status).toBe('PARTIALLY_FILLED');
  });

  it('maps NEW to OrderAccepted (real BNBUSDT LIMIT)', () => {
    expect(mapOrderTradeUpdate(fixture('ws-order-trade-update-bnbusdt-new.json'))).toEqual([
      { type: 'OrderAccepted', ts: 1713667415298, clientOrderId: 'web_3c5dm4etfEvSlDpirssF', orderId: '55370877878', symbol: 'BNBUSDT' },
    ]);
  });

  it('maps CANCELED, EXPIRED and REJECTED; AMENDMENT yields nothing', () => {
    const bnb = fixture('ws-order-trade-update-bnbusdt-new.json');
    const canceled = setField(setField(bnb, 'x', '"CANCELED"'), 'X', '"CANCELED"');
    expect(mapOrderTradeUpdate(canceled)).toEqual([
      { type: 'OrderCanceled', ts: 1713667415298, clientOrderId: 'web_3c5dm4etfEvSlDpirssF', orderId: '55370877878', symbol: 'BNBUSDT', reason: 'canceled' },
    ]);
    const expired = setField(setField(setField(bnb, 'x', '"EXPIRED"'), 'X', '"EXPIRED"'), 'f', '"GTX"');
    expect(mapOrderTradeUpdate(expired)).toEqual([
      { type: 'OrderExpired', ts: 1713667415298, clientOrderId: 'web_3c5dm4etfEvSlDpirssF', orderId: '55370877878', symbol: 'BNBUSDT', reason: 'expired: LIMIT GTX' },
    ]);
    const rejected = setField(setField(bnb, 'x', '"REJECTED"'), 'X', '"REJECTED"');
    expect(mapOrderTradeUpdate(rejected)).toEqual([
      { type: 'OrderRejected', ts: 1713667415298, clientOrderId: 'web_3c5dm4etfEvSlDpirssF', symbol: 'BNBUSDT', code: null, reason: 'rejected by the venue' },
    ]);
    expect(mapOrderTradeUpdate(fixture('ws-order-trade-update-btcusdt-amendment.json'))).toEqual([]);
  });

  it('keeps an order id above 2^53 exact when given the raw text', () => {
    // The note's text carries the id already rounded by its recorder (see fixtures/README.md);
    // the real id survives in the ALGO_UPDATE's `ai`. Put the real id back, as the server sent it.
    const algo = JSON.parse(fixture('ws-algo-update-finished.json')) as { o: { ai: string } };
    expect(algo.o.ai).toBe('8389766049535966587');
    const noted = fixture('ws-order-trade-update-ethusdt-triggered-filled.json');
    expect(noted).toContain('"i": 8389766049535966000,');
    const raw = noted.replace('"i": 8389766049535966000,', `"i": ${algo.o.ai},`);
    const [ev] = mapOrderTradeUpdate(raw);
    expect(ev).toMatchObject({ type: 'OrderFilled', status: 'FILLED', cumulativeQuantity: '0.05' });
    const fill = (ev as OrderFilled).fill;
    expect(fill.orderId).toBe('8389766049535966587');
    expect(fill).toMatchObject({ tradeId: '7043103089', price: '3113.87', quantity: '0.05', commission: '0.07784675', clientOrderId: 'testtest0843', side: 'BUY' });
    const [acc] = mapOrderTradeUpdate(fixture('ws-order-trade-update-ethusdt-triggered-new.json').replace('"i": 8389766049535966000,', `"i": ${algo.o.ai},`));
    expect(acc).toMatchObject({ type: 'OrderAccepted', orderId: '8389766049535966587' });
  });

  it('keeps the verbatim (already rounded) text as text, and refuses an id JSON.parse has rounded', () => {
    const noted = fixture('ws-order-trade-update-ethusdt-triggered-filled.json');
    expect((mapOrderTradeUpdate(noted)[0] as OrderFilled).fill.orderId).toBe('8389766049535966000');
    const e = dataErrorOf(() => mapOrderTradeUpdate(JSON.parse(noted)));
    expect(e.message).toBe('ORDER_TRADE_UPDATE o.i: 8389766049535966000 is not an int64 id (integer number below 2^53, or integer text)');
  });

  it('names the field on bad input', () => {
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'L', '"abc"'))).message).toBe('ORDER_TRADE_UPDATE o.L: "abc" is not a decimal number');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'l', 'null'))).message).toBe('ORDER_TRADE_UPDATE o.l: null is not a decimal number');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'n', '"1,5"'))).message).toBe('ORDER_TRADE_UPDATE o.n: "1,5" is not a decimal number');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'rp', '0.1829'))).message).toBe('ORDER_TRADE_UPDATE o.rp: 0.1829 is not a decimal number');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'm', '0'))).message).toBe('ORDER_TRADE_UPDATE o.m: 0 is not a boolean');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 't', '"44492x"'))).message).toBe(
      'ORDER_TRADE_UPDATE o.t: "44492x" is not an int64 id (integer number below 2^53, or integer text)',
    );
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'S', '"sell"'))).message).toBe('ORDER_TRADE_UPDATE o.S: "sell" is not one of BUY, SELL');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'x', '"FILL"'))).message).toBe(
      'ORDER_TRADE_UPDATE o.x: "FILL" is not one of NEW, CANCELED, CALCULATED, EXPIRED, TRADE, AMENDMENT, REJECTED',
    );
    expect(dataErrorOf(() => mapOrderTradeUpdate(dropField(SUSHI, 'T', '"o"'))).message).toBe('ORDER_TRADE_UPDATE o.T: missing, expected a time in epoch milliseconds');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'n', '""'))).message).toBe('ORDER_TRADE_UPDATE o.n: "" is not a decimal number');
    expect(dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'X', '"NEW"'))).message).toBe('ORDER_TRADE_UPDATE o.X: "NEW" is not PARTIALLY_FILLED or FILLED for a TRADE');
    const e = dataErrorOf(() => mapOrderTradeUpdate(setField(SUSHI, 'L', '"abc"')));
    expect(e.location).toEqual({ stream: 'ORDER_TRADE_UPDATE', field: 'o.L' });
  });
});

describe('mapAccountUpdate', () => {
  it('maps the INJUSDT position (one-way, ps BOTH)', () => {
    expect(mapAccountUpdate(fixture('ws-account-update-injusdt.json'))).toEqual([
      {
        type: 'PositionChanged',
        ts: 1719513970135,
        position: { symbol: 'INJUSDT', quantity: '2.1', entryPrice: '23.364', realizedPnl: '-242.96000203', fees: '0', updatedAt: 1719513970134 },
      },
    ]);
  });

  it('maps shorts, flat positions and balance-only updates; fees come from the caller', () => {
    const feesOf = (s: string): string => (s === 'XEMUSDT' ? '1.25' : '0');
    expect(mapAccountUpdate(fixture('ws-account-update-xemusdt-short.json'), { feesOf })[0]!.position).toEqual({
      symbol: 'XEMUSDT',
      quantity: '-3367',
      entryPrice: '0.02970000',
      realizedPnl: '25.39540000',
      fees: '1.25',
      updatedAt: 1688396049601,
    });
    expect(mapAccountUpdate(fixture('ws-account-update-btcusdt-short.json'))[0]!.position).toMatchObject({ quantity: '-0.001', entryPrice: '30566.30000000', realizedPnl: '-0.01240001' });
    expect(mapAccountUpdate(fixture('ws-account-update-xemusdt-flat.json'))[0]!.position).toMatchObject({ quantity: '0', entryPrice: '0.00000000', realizedPnl: '20.40630000' });
    expect(mapAccountUpdate(fixture('ws-account-update-linausdt-flat.json'))[0]!.position).toMatchObject({ symbol: 'LINAUSDT', quantity: '0', realizedPnl: '-8.83035000' });
    expect(mapAccountUpdate(fixture('ws-account-update-admin-deposit.json'))).toEqual([]);
  });

  it('names the field on bad input; refuses hedge-mode positions', () => {
    const inj = fixture('ws-account-update-injusdt.json');
    expect(dataErrorOf(() => mapAccountUpdate(setField(inj, 'pa', '"2.1.0"'))).message).toBe('ACCOUNT_UPDATE a.P.0.pa: "2.1.0" is not a decimal number');
    expect(dataErrorOf(() => mapAccountUpdate(setField(inj, 'wb', '19063.47'))).message).toBe('ACCOUNT_UPDATE a.B.0.wb: 19063.47 is not a decimal number');
    expect(dataErrorOf(() => mapAccountUpdate(setField(inj, 'ps', '"LONG"'))).message).toBe(
      'ACCOUNT_UPDATE a.P.0.ps: "LONG" is not BOTH (perpbot needs one-way position mode)',
    );
    const objP = JSON.parse(inj) as { a: { P: unknown } };
    objP.a.P = {};
    expect(dataErrorOf(() => mapAccountUpdate(objP)).message).toBe('ACCOUNT_UPDATE a.P: an object is not an array');
  });
});

describe('mapUserDataFrame', () => {
  it('routes by event type and ignores the rest', () => {
    expect(mapUserDataFrame(fixture('ws-order-trade-update-sushiusdt-trade.json'))).toMatchObject({ kind: 'order', events: [{ type: 'OrderFilled' }] });
    expect(mapUserDataFrame(fixture('ws-account-update-injusdt.json'))).toMatchObject({ kind: 'account', positions: [{ type: 'PositionChanged' }] });
    expect(mapUserDataFrame(fixture('ws-algo-update-new.json'))).toEqual({ kind: 'ignored', event: 'ALGO_UPDATE' });
    // Documented shape (no recorded frame available); the key is a placeholder.
    const expired = '{"e":"listenKeyExpired","E":1736996475556,"listenKey":"placeholder-not-a-key"}';
    expect(mapUserDataFrame(expired)).toEqual({ kind: 'listenKeyExpired', ts: 1736996475556 });
    expect(mapListenKeyExpired('{"e":"listenKeyExpired","E":"1736996475556","listenKey":"x"}')).toBe(1736996475556);
    expect(dataErrorOf(() => mapUserDataFrame('{"E":1}')).message).toBe('userData e: missing, expected an event type');
  });

  it('never echoes a listen key', () => {
    const e = dataErrorOf(() => mapListenKeyExpired('{"e":"listenKeyExpired","E":"soon","listenKey":"SECRETKEY123"}'));
    expect(e.message).not.toContain('SECRETKEY123');
    expect(e.message).toBe('listenKeyExpired E: "soon" is not a time in epoch milliseconds');
  });
});

describe('REST mappers', () => {
  it('mapRestOrder maps a real order response; ids stay exact as text', () => {
    const text = fixture('rest-order-put-btcusdt.json');
    expect(mapRestOrder(text)).toEqual({
      orderId: '198570880253',
      clientOrderId: '12345678911xxx',
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'LIMIT',
      status: 'NEW',
      venueStatus: 'NEW',
      timeInForce: 'GTC',
      price: '27300.00',
      avgPrice: '0.00',
      quantity: '0.010',
      executedQuantity: '0.000',
      cumQuote: '0.00000',
      reduceOnly: false,
      updatedAt: 1697299690473,
    });
    const big = text.replace('"orderId": 198570880253', '"orderId": 8389766049535966587');
    expect(mapRestOrder(big).orderId).toBe('8389766049535966587');
    expect(mapRestOpenOrders(`[${text},${big}]`).map((o) => o.orderId)).toEqual(['198570880253', '8389766049535966587']);
    expect(mapRestOrder(setField(text, 'status', '"EXPIRED_IN_MATCH"'))).toMatchObject({ status: 'EXPIRED', venueStatus: 'EXPIRED_IN_MATCH' });
  });

  it('mapRestOrder names the field', () => {
    const text = fixture('rest-order-put-btcusdt.json');
    expect(dataErrorOf(() => mapRestOrder(setField(text, 'executedQty', '"0.0.0"'))).message).toBe('REST /fapi/v1/order executedQty: "0.0.0" is not a decimal number');
    expect(dataErrorOf(() => mapRestOrder(setField(text, 'orderId', '1.5'))).message).toBe(
      'REST /fapi/v1/order orderId: 1.5 is not an int64 id (integer number below 2^53, or integer text)',
    );
    expect(dataErrorOf(() => mapRestOpenOrders(`[${setField(text, 'price', 'null')}]`)).message).toBe('REST /fapi/v1/openOrders 0.price: null is not a decimal number');
  });

  it('mapUserTrade maps a trade row to a Fill, the client order id from the caller', () => {
    const text = fixture('rest-user-trade-sushiusdt.json');
    const fill = mapUserTrade(text, (id) => (id === '22254789833' ? 'x-wPAX3YpD-240627181505-aG-243914' : undefined));
    // Same fill as the ORDER_TRADE_UPDATE it came from.
    const ws = (mapOrderTradeUpdate(fixture('ws-order-trade-update-sushiusdt-trade.json'))[0] as OrderFilled).fill;
    expect(fill).toEqual(ws);
    expect(mapUserTrade(text).clientOrderId).toBe('');
    expect(mapUserTrades(`[${text}]`)).toHaveLength(1);
    expect(dataErrorOf(() => mapUserTrade(setField(text, 'commission', '"-"'))).message).toBe('REST /fapi/v1/userTrades commission: "-" is not a decimal number');
  });

  it('mapPositionRisk maps a real position row', () => {
    const text = fixture('rest-position-risk-v2-xemusdt.json');
    expect(mapPositionRisks(text, { realizedPnlOf: () => '3.5' })).toEqual([
      { symbol: 'XEMUSDT', quantity: '67797', entryPrice: '0.0295', realizedPnl: '3.5', fees: '0', updatedAt: 1689944645278 },
    ]);
    const row = JSON.stringify((JSON.parse(text) as unknown[])[0]);
    expect(mapPositionRisk(row)).toMatchObject({ symbol: 'XEMUSDT', quantity: '67797' });
    expect(dataErrorOf(() => mapPositionRisks(setField(text, 'positionAmt', '67797'))).message).toBe('REST /fapi/v3/positionRisk 0.positionAmt: 67797 is not a decimal number');
    expect(dataErrorOf(() => mapPositionRisks(setField(text, 'positionSide', '"SHORT"'))).message).toBe(
      'REST /fapi/v3/positionRisk 0.positionSide: "SHORT" is not BOTH (perpbot needs one-way position mode)',
    );
  });

  it('mapAccount maps the real account responses', () => {
    const a = mapAccount(fixture('rest-account-v2-a.json'));
    expect(a).toMatchObject({
      walletBalance: '5301.64961823',
      unrealizedPnl: '-33.72197206',
      marginBalance: '5267.92764617',
      initialMargin: '1930.96577111',
      maintenanceMargin: '70.36650902',
      availableBalance: '3333.20649844',
      maxWithdrawAmount: '3333.20649844',
      openPositions: [{ symbol: 'XEMUSDT', quantity: '-66890', unrealizedPnl: '3.53714320', updatedAt: 1689994833385 }],
    });
    expect(a.assets.map((x) => [x.asset, x.walletBalance])).toEqual([
      ['BTC', '0.00000000'],
      ['USDT', '5302.06572435'],
    ]);
    const b = mapAccount(fixture('rest-account-v2-b.json'));
    expect(b.openPositions).toEqual([]); // SNTUSDT positionAmt "0"
    expect(b.walletBalance).toBe('237465.30997796');
    expect(dataErrorOf(() => mapAccount(setField(fixture('rest-account-v2-b.json'), 'walletBalance', '10.1', '"USDT"'))).message).toBe(
      'REST /fapi/v3/account assets.1.walletBalance: 10.1 is not a decimal number',
    );
  });

  it('mapBalances maps the balance rows', () => {
    expect(mapBalances(fixture('rest-balance-v3-usdt.json'))).toEqual([
      {
        asset: 'USDT',
        walletBalance: '5302.06572435',
        unrealizedPnl: '-33.72461877',
        marginBalance: '5302.06572435',
        availableBalance: '3332.80146307',
        maxWithdrawAmount: '3332.80146307',
        updatedAt: 1689994833385,
      },
    ]);
    expect(dataErrorOf(() => mapBalances('{"asset":"USDT"}')).message).toBe('REST /fapi/v3/balance: an object is not an array');
  });

  it('mapRestKline maps archive-valued rows exactly; the forming kline is open given now', () => {
    const rows = JSON.parse(fixture('rest-klines-avaxusdt.json')) as unknown[];
    expect(mapRestKline(rows[0], 'AVAXUSDT')).toEqual({
      symbol: 'AVAXUSDT',
      interval: '1m',
      openTime: 1738368000000,
      closeTime: 1738368059999,
      open: '34.4220',
      high: '34.4260',
      low: '34.3600',
      close: '34.3600',
      volume: '9896',
      quoteVolume: '340376.0940',
      trades: 1391,
      closed: true,
    });
    const ks = mapRestKlines(fixture('rest-klines-avaxusdt.json'), 'AVAXUSDT', { now: 1738368150000 });
    expect(ks.map((k) => k.closed)).toEqual([true, true, false]);
    expect(dataErrorOf(() => mapRestKline([1738368000000, '34.4220', 'x'], 'AVAXUSDT')).message).toBe('REST /fapi/v1/klines 2: "x" is not a decimal number');
    expect(dataErrorOf(() => mapRestKline([1738368000000, '34.4220'], 'AVAXUSDT')).message).toBe('REST /fapi/v1/klines 2: missing, expected a decimal number');
    expect(dataErrorOf(() => mapRestKline(rows[0], 'AVAXUSDT', { interval: '5m' })).message).toBe(
      'REST /fapi/v1/klines 6: closeTime 1738368059999 is not openTime 1738368000000 + 5m − 1',
    );
  });

  it('mapPremiumIndex and mapServerTime', () => {
    expect(mapPremiumIndex(fixture('rest-premium-index-btcusdt.json'))).toEqual([mapMarkPriceFrame(publicFrame('btcusdt@markPrice'))]);
    expect(mapPremiumIndex(`[${fixture('rest-premium-index-btcusdt.json')}]`)).toHaveLength(1);
    expect(dataErrorOf(() => mapPremiumIndex('{"symbol":"BTCUSDT","time":1}')).message).toBe('REST /fapi/v1/premiumIndex markPrice: missing, expected a decimal number');
    expect(mapServerTime(fixture('rest-time.json'))).toBe(1727892008657);
    expect(dataErrorOf(() => mapServerTime('{"serverTime":"now"}')).message).toBe('REST /fapi/v1/time serverTime: "now" is not a time in epoch milliseconds');
  });
});

describe('robustness: any damaged field gives a DataError naming it, never a crash', () => {
  const BAD: unknown[] = [null, 'abc', '', -1, 1.5, true, {}, [], '9'.repeat(30)];

  /** Every leaf path of a JSON value. */
  function leaves(v: unknown, path: (string | number)[] = []): (string | number)[][] {
    if (v !== null && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v);
      return entries.flatMap(([k, x]) => leaves(x, [...path, k]));
    }
    return [path];
  }
  function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
    const copy = structuredClone(root) as Record<string | number, unknown>;
    let cur = copy;
    for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
    cur[path[path.length - 1]!] = value;
    return copy;
  }

  const cases: [string, string, (raw: unknown) => unknown, string][] = [
    ['kline', KLINE_LINES[0]!, mapKlineFrame, 'ctkusdt@kline_1m'],
    ['ORDER_TRADE_UPDATE', fixture('ws-order-trade-update-sushiusdt-trade.json'), mapOrderTradeUpdate, 'ORDER_TRADE_UPDATE'],
    ['ACCOUNT_UPDATE', fixture('ws-account-update-injusdt.json'), (r) => mapAccountUpdate(r), 'ACCOUNT_UPDATE'],
    ['markPrice', publicFrame('btcusdt@markPrice'), mapMarkPriceFrame, 'btcusdt@markPrice'],
    ['order', fixture('rest-order-put-btcusdt.json'), mapRestOrder, 'REST /fapi/v1/order'],
    ['account', fixture('rest-account-v2-a.json'), mapAccount, 'REST /fapi/v3/account'],
  ];

  it.each(cases)('%s', (_name, text, map, stream) => {
    const root = parseBinanceJson(text);
    let refused = 0;
    for (const path of leaves(root)) {
      for (const bad of BAD) {
        const damaged = setAt(root, path, bad);
        try {
          map(damaged);
        } catch (err) {
          expect(err).toBeInstanceOf(DataError);
          const msg = (err as DataError).message;
          refused++;
          if (path[0] === 'stream') continue; // a damaged stream name is what the message names
          expect(msg.startsWith(`${stream} `) || msg.startsWith(`${stream}:`)).toBe(true);
          // The wrapper of a combined frame is not part of the field path.
          const field = (path[0] === 'data' ? path.slice(1) : path).join('.');
          expect(field.startsWith((err as DataError).location.field ?? '') || msg.includes(field)).toBe(true);
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});
