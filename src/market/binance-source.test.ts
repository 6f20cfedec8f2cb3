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
import { BinanceMarketSource, type MarkPriceStreams } from './binance-source.ts';
import type { MarketFeed } from './source.ts';

const rows = (file: string, n: number) =>
  readFileSync(projectPath(`data/klines/${file}`), 'utf8')
    .trim()
    .split('\n')
    .slice(1, n + 1)
    .map((l) => l.split(','));
const BTC = rows('BTCUSDT-1m-2025-07-06_2025-07-17.csv', 10);
const ETH = rows('ETHUSDT-1m-2025-07-06_2025-07-17.csv', 10);

/** A Binance markPriceUpdate event of `symbol` at `price`. */
function markEvent(symbol: string, price: string) {
  return { e: 'markPriceUpdate', E: 1751760061000, s: symbol, p: price, i: price, P: price, r: '0.00010000', T: 1751788800000 };
}

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
  /** Send on the newest connection. */
  send(stream: string, data: unknown): void;
  /** Send on the newest connection subscribed to `stream`. */
  sendOn(stream: string, data: unknown): void;
  close(): Promise<void>;
}

async function fakeBinance(): Promise<FakeBinance> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const topicsOf = new Map<WebSocket, string[]>();
  const f: FakeBinance = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    sockets: [],
    subscribed: [],
    send(stream, data) {
      const ws = f.sockets[f.sockets.length - 1]!;
      ws.send(JSON.stringify({ stream, data }));
    },
    sendOn(stream, data) {
      const ws = f.sockets.filter((w) => topicsOf.get(w)?.includes(stream)).at(-1);
      if (!ws) throw new Error(`no connection is subscribed to ${stream}`);
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
        topicsOf.set(ws, [...(topicsOf.get(ws) ?? []), ...m.params]);
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

async function setup(opts: { silenceMs?: number; fetched?: Kline[]; fetchFailures?: number; feedThrowsAt?: number; onWarmedUp?: () => void; markPriceStreams?: MarkPriceStreams; streamsPerConnection?: number } = {}) {
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
    ...(opts.markPriceStreams ? { markPriceStreams: opts.markPriceStreams } : {}),
    ...(opts.streamsPerConnection ? { streamsPerConnection: opts.streamsPerConnection } : {}),
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

  it('allMarket: one !markPrice@arr@1s instead of a stream per symbol; only its own symbols are mapped from the all-market frame', async () => {
    const t = await setup({ markPriceStreams: 'allMarket' });
    expect(t.server.subscribed[0]!.sort()).toEqual(['!markPrice@arr@1s', 'btcusdt@kline_1m', 'ethusdt@kline_1m']);
    // Binance's frame carries every symbol of the exchange; XRPUSDT's entry is not ours (its
    // malformed price is never looked at).
    t.server.send('!markPrice@arr@1s', [markEvent('BTCUSDT', '108160.10000000'), markEvent('XRPUSDT', 'abc'), markEvent('ETHUSDT', '2515.26000000')]);
    await until(() => t.marks.length === 2);
    expect(t.marks.map((m) => `${m.symbol}:${m.markPrice}`)).toEqual(['BTCUSDT:108160.10000000', 'ETHUSDT:2515.26000000']);
    expect(t.source.stats).toMatchObject({ frames: 1, malformed: 0 });
    expect(t.source.health().ETHUSDT).toMatchObject({ state: 'connected', messages: 1 });
    // A malformed entry of ours is counted on its symbol; the other entries still go out.
    t.server.send('!markPrice@arr@1s', [markEvent('BTCUSDT', 'abc'), markEvent('ETHUSDT', '2516.00000000')]);
    await until(() => t.marks.length === 3);
    expect(t.marks[2]).toMatchObject({ symbol: 'ETHUSDT', markPrice: '2516.00000000' });
    expect(t.source.stats.malformed).toBe(1);
    expect(t.source.health().BTCUSDT!.errors).toBe(1);
    // Klines still come per symbol.
    t.server.send('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, true));
    await until(() => t.klines.length === 1);
  });

  it('allMarket: a silent all-market stream replaces the connection that carries it, not the one whose klines still flow', async () => {
    // 2 streams per connection: BTC's klines and the all-market stream on the first, ETH's klines on the second.
    const t = await setup({ markPriceStreams: 'allMarket', streamsPerConnection: 2, silenceMs: 400 });
    await until(() => t.server.subscribed.length === 2);
    expect(t.source.connectionCount).toBe(2);
    expect(t.server.subscribed.map((p) => [...p].sort())).toEqual(expect.arrayContaining([['!markPrice@arr@1s', 'btcusdt@kline_1m'], ['ethusdt@kline_1m']]));
    let marks = true;
    const tick = setInterval(() => {
      t.server.sendOn('btcusdt@kline_1m', klineEvent('BTCUSDT', BTC[0]!, false));
      t.server.sendOn('ethusdt@kline_1m', klineEvent('ETHUSDT', ETH[0]!, false));
      if (marks) t.server.sendOn('!markPrice@arr@1s', [markEvent('BTCUSDT', '108160.1'), markEvent('ETHUSDT', '2515.26')]);
    }, 100);
    cleanup.push(() => clearInterval(tick));
    // Everything flowing: nothing is replaced.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(t.source.stats.reconnects).toBe(0);
    expect(t.server.subscribed).toHaveLength(2);
    // The all-market stream stops; both kline streams go on.
    marks = false;
    await until(() => t.server.subscribed.length >= 3, 5_000);
    // ETH's mark prices went silent too (they come on the first connection): stale, but its own connection stays.
    expect(t.source.stats.staleStreams).toBeGreaterThanOrEqual(2);
    expect(t.server.subscribed.slice(2).every((p) => p.includes('!markPrice@arr@1s'))).toBe(true);
  });
});
