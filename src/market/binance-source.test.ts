/**
 * The Binance market source with the real `binance` WebsocketClient against a local websocket
 * server on 127.0.0.1 that speaks Binance's /market/stream protocol (SUBSCRIBE, combined frames).
 * Frames are built from real rows of the bundled BTCUSDT/ETHUSDT files.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebsocketClient } from 'binance';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { WallClock } from '../core/clock.ts';
import { projectPath } from '../core/paths.ts';
import type { Kline, MarkPriceUpdated } from '../core/types.ts';
import { silentLogger } from '../logging/logger.ts';
import { mapKlineFrame, mapMarkPriceFrame } from '../exchange/binance/mapper.ts';
import { parseBinanceJson } from '../exchange/binance/json.ts';
import { BinanceMarketSource } from './binance-source.ts';
import type { MarketFeed } from './source.ts';

const rows = (file: string, n: number) =>
  readFileSync(projectPath(`data/klines/${file}`), 'utf8')
    .trim()
    .split('\n')
    .slice(1, n + 1)
    .map((l) => l.split(','));
const BTC = rows('BTCUSDT-1m-2025-07-06_2025-07-17.csv', 10);
const ETH = rows('ETHUSDT-1m-2025-07-06_2025-07-17.csv', 10);

/** A Binance kline event for CSV row `r` (open_time,open,high,low,close,volume). */
function klineEvent(symbol: string, r: string[], closed: boolean) {
  const t = Number(r[0]);
  return { e: 'kline', E: t + 60_000, s: symbol, k: { t, T: t + 59_999, s: symbol, i: '1m', f: 1, L: 2, o: r[1], c: r[4], h: r[2], l: r[3], v: r[5], n: 10, x: closed, q: '0', V: '0', Q: '0', B: '0' } };
}
function asKline(symbol: string, r: string[]): Kline {
  const t = Number(r[0]);
  return { symbol, interval: '1m', openTime: t, closeTime: t + 59_999, open: r[1]!, high: r[2]!, low: r[3]!, close: r[4]!, volume: r[5]!, quoteVolume: '0', trades: 10, closed: true };
}

interface FakeBinance {
  url: string;
  sockets: WebSocket[];
  subscribed: string[][];
  send(stream: string, data: unknown): void;
  close(): Promise<void>;
}

async function fakeBinance(): Promise<FakeBinance> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const f: FakeBinance = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    sockets: [],
    subscribed: [],
    send(stream, data) {
      const ws = f.sockets[f.sockets.length - 1]!;
      ws.send(JSON.stringify({ stream, data }));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of f.sockets) s.terminate();
        wss.close(() => r());
      }),
  };
  wss.on('connection', (ws, req) => {
    expect(req.url).toBe('/market/stream');
    f.sockets.push(ws);
    ws.on('message', (buf) => {
      const m = JSON.parse(buf.toString()) as { method: string; params: string[]; id: number };
      if (m.method === 'SUBSCRIBE') {
        f.subscribed.push(m.params);
        ws.send(JSON.stringify({ result: null, id: m.id }));
      }
    });
  });
  return f;
}

function collectingFeed() {
  const klines: string[] = [];
  const marks: MarkPriceUpdated[] = [];
  const feed: MarketFeed = {
    klines: async (g) => {
      for (const k of g) klines.push(`${k.symbol}@${k.openTime}:${k.close}`);
    },
    markPrice: (m) => marks.push(m),
    healthChanged: () => {},
  };
  return { feed, klines, marks };
}

const until = async (cond: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(opts: { silenceMs?: number; fetched?: Kline[]; fetchFailures?: number; feedThrowsAt?: number; onWarmedUp?: () => void } = {}) {
  let failuresLeft = opts.fetchFailures ?? 0;
  const server = await fakeBinance();
  const fetchCalls: Array<[string, number, number]> = [];
  const clients: WebsocketClient[] = [];
  const source = new BinanceMarketSource({
    symbols: ['BTCUSDT', 'ETHUSDT'],
    wsKey: 'usdmMarket',
    newClient: () => {
      const c = new WebsocketClient({ wsUrl: server.url, beautify: false, customParseJSONFn: (t: string) => parseBinanceJson(t) as object }, { trace() {}, info() {}, error() {} });
      clients.push(c);
      return c as never;
    },
    fetchKlines: async (symbol, from, to) => {
      fetchCalls.push([symbol, from, to]);
      if (failuresLeft-- > 0) throw new Error('HTTP 503 Service Unavailable');
      return (opts.fetched ?? []).filter((k) => k.symbol === symbol && k.openTime >= from && k.openTime <= to);
    },
    mapKline: mapKlineFrame,
    mapMarkPrice: mapMarkPriceFrame,
    clock: new WallClock(),
    silenceMs: opts.silenceMs ?? 60_000,
    rotateAfterMs: 23 * 3_600_000,
    log: silentLogger(),
    sleep: () => new Promise((r) => setTimeout(r, 5)),
    ...(opts.onWarmedUp ? { onWarmedUp: opts.onWarmedUp } : {}),
  });
  const c = collectingFeed();
  if (opts.feedThrowsAt !== undefined) {
    const inner = c.feed.klines;
    let calls = 0;
    c.feed.klines = async (g) => {
      if (calls++ === opts.feedThrowsAt) throw new Error('writer backlog failed');
      await inner(g);
    };
  }
  const done = source.run(c.feed);
  cleanup.push(async () => {
    source.stop();
    await done;
    await server.close();
  });
  await until(() => server.subscribed.length > 0);
  return { server, source, fetchCalls, clients, ...c };
}

describe('BinanceMarketSource (real binance WebsocketClient, local server)', () => {
  it('subscribes kline_1m and markPrice@1s for every symbol; feeds closed klines and mark prices', async () => {
    const t = await setup();
    expect(t.server.subscribed[0]!.sort()).toEqual(['btcusdt@kline_1m', 'btcusdt@markPrice@1s', 'ethusdt@kline_1m', 'ethusdt@markPrice@1s']);
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, false)); // still forming: not fed
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    t.server.send('ethusdt@kline_1m', klineEvent('ETHUSDT', ETH[0]!, true));
    t.server.send('btcusdt@markPrice@1s', { e: 'markPriceUpdate', E: 1751760061000, s: 'BTCUSDT', p: '108160.10000000', i: '108170.02', P: '108100.5', r: '0.00010000', T: 1751788800000 });
    await until(() => t.klines.length === 2 && t.marks.length === 1);
    expect(t.klines).toEqual(['BTCUSDT@1751760000000:108167.0', 'ETHUSDT@1751760000000:2515.26']);
    expect(t.marks[0]).toMatchObject({ symbol: 'BTCUSDT', markPrice: '108160.10000000', fundingRate: '0.00010000', ts: 1751760061000 });
    expect(t.source.health().BTCUSDT).toMatchObject({ state: 'connected', messages: 3, lastEventTime: 1751760059999 });
  });

  it('back-fills missing minutes from REST before a later kline, and drops a kline already fed', async () => {
    const t = await setup({ fetched: BTC.slice(1, 3).map((r) => asKline('BTCUSDT', r)) });
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[3]!, true)); // minutes 1 and 2 missing
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[2]!, true)); // late duplicate
    await until(() => t.klines.length === 4 && t.source.stats.duplicates === 1);
    expect(t.klines.map((k) => k.split(':')[0])).toEqual(BTC.slice(0, 4).map((r) => `BTCUSDT@${r[0]}`));
    expect(t.fetchCalls).toEqual([['BTCUSDT', Number(BTC[1]![0]), Number(BTC[2]![0])]]);
    expect(t.source.stats.backfilled).toBe(2);
  });

  it('says once that the warm-up is over: when every symbol had its first closed kline fed, back-fill included', async () => {
    const warm: string[][] = [];
    const t = await setup({ fetched: ETH.slice(0, 2).map((r) => asKline('ETHUSDT', r)), onWarmedUp: () => warm.push(t.klines.map((k) => k.split(':')[0]!)) });
    t.source.resumeFrom({ BTCUSDT: Number(BTC[0]![0]) - 60_000, ETHUSDT: Number(ETH[0]![0]) - 60_000 });
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    await until(() => t.klines.length === 1);
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[1]!, true));
    await until(() => t.klines.length === 2);
    expect(warm).toEqual([]); // ETHUSDT has had no kline yet
    t.server.send('ethusdt@kline_1m', klineEvent('ETHUSDT', ETH[2]!, true)); // after back-filling ETH[0..1]
    t.server.send('ethusdt@kline_1m', klineEvent('ETHUSDT', ETH[3]!, true));
    await until(() => t.klines.length === 6);
    // Once only, right after ETH's first live kline, back-fill included.
    expect(warm).toEqual([[`BTCUSDT@${BTC[0]![0]}`, `BTCUSDT@${BTC[1]![0]}`, ...ETH.slice(0, 3).map((r) => `ETHUSDT@${r[0]}`)]]);
  });

  it('counts and skips a malformed frame, and keeps going', async () => {
    const t = await setup();
    const bad = klineEvent('BTCUSDT', BTC[0]!, true);
    bad.k.c = 'abc';
    t.server.send('btcusdt@kline_1m', bad);
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[1]!, true));
    await until(() => t.klines.length === 1);
    expect(t.klines).toEqual([`BTCUSDT@${BTC[1]![0]}:${BTC[1]![4]}`]);
    expect(t.source.stats.malformed).toBe(1);
    expect(t.source.health().BTCUSDT!.errors).toBe(1);
  });

  it('counts an update of the forming kline (x false) as a message and maps it no further', async () => {
    const t = await setup();
    const partial = klineEvent('BTCUSDT', BTC[0]!, false);
    partial.k.c = 'abc'; // would be malformed if it were mapped
    t.server.send('btcusdt@kline_1m', partial);
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    await until(() => t.klines.length === 1);
    expect(t.source.stats.frames).toBe(2);
    expect(t.source.stats.malformed).toBe(0);
    expect(t.source.health().BTCUSDT!.messages).toBe(2);
  });

  it('replaces a silent connection and back-fills what it missed', async () => {
    const t = await setup({ silenceMs: 300, fetched: BTC.slice(1, 10).map((r) => asKline('BTCUSDT', r)) });
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    await until(() => t.klines.length === 1);
    // silence: the source marks the streams stale and opens a new connection, which subscribes again
    await until(() => t.server.sockets.length >= 2 && t.server.subscribed.length >= 2, 5_000);
    expect(t.source.stats.reconnects).toBeGreaterThanOrEqual(1);
    // after reconnecting it back-filled from the last closed kline up to the last closed minute of now
    await until(() => t.fetchCalls.length >= 1);
    expect(t.fetchCalls[0]![0]).toBe('BTCUSDT');
    expect(t.fetchCalls[0]![1]).toBe(Number(BTC[1]![0]));
    await until(() => t.klines.length === 10);
    expect(t.klines.map((k) => Number(k.split('@')[1]!.split(':')[0]))).toEqual(BTC.map((r) => Number(r[0])));
  });

  it('retries a failed back-fill until it succeeds; the later kline waits, so no minute is skipped', async () => {
    const t = await setup({ fetched: BTC.slice(1, 3).map((r) => asKline('BTCUSDT', r)), fetchFailures: 3 });
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[3]!, true)); // minutes 1 and 2 missing
    await until(() => t.klines.length === 4);
    expect(t.klines.map((k) => k.split(':')[0])).toEqual(BTC.slice(0, 4).map((r) => `BTCUSDT@${r[0]}`));
    expect(t.source.stats.backfillFailures).toBe(3);
    expect(t.fetchCalls).toHaveLength(4);
    expect(new Set(t.fetchCalls.map((c) => c.join()))).toEqual(new Set([['BTCUSDT', Number(BTC[1]![0]), Number(BTC[2]![0])].join()]));
  });

  it('a feed call that throws is counted; the klines after it still go out and stop() still resolves', async () => {
    const t = await setup({ feedThrowsAt: 0 });
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true)); // the feed throws on this one
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[1]!, true));
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[2]!, true));
    await until(() => t.klines.length === 2);
    expect(t.klines.map((k) => k.split(':')[0])).toEqual(BTC.slice(1, 3).map((r) => `BTCUSDT@${r[0]}`));
    expect(t.source.stats.feedErrors).toBe(1);
  });
});
