/**
 * The Binance websocket mappers (kline, mark price, ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, user-data
 * routing) on recorded payloads, and the robustness of every mapper against damaged fields.
 * The REST mappers are in mapper-rest.test.ts, the lossless JSON parsing in mapper-json.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DataError } from '../../core/errors.ts';
import type { OrderFilled } from '../../core/types.ts';
import { parseBinanceJson } from './json.ts';
import {
  mapAccount,
  mapAccountUpdate,
  mapKlineFrame,
  mapListenKeyExpired,
  mapMarkPriceFrame,
  mapMarkPriceFrames,
  mapOrderTradeUpdate,
  mapRestOrder,
  mapUserDataFrame,
} from './mapper.ts';
import { KLINE_LINES, dataErrorOf, dropField, fixture, publicFrame, setField } from './mapper-test-support.ts';

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
