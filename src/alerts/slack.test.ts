import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../bus/bus.ts';
import { Alerter } from './slack.ts';

interface Seen {
  path: string;
  auth: string | undefined;
  body: string;
}

let server: Server;
let url: string;
const seen: Seen[] = [];
let failNext = 0;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', auth: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json');
      if (failNext > 0) {
        failNext--;
        res.end(JSON.stringify({ ok: false, error: 'channel_not_found' }));
      } else res.end(JSON.stringify({ ok: true, channel: 'C1', ts: '1.1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino(
    { redact: { paths: ['slackToken', '*.slackToken'], censor: '***' } },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
  );
  return { log, lines };
}

const TOKEN = 'xoxb-1234-test-token';

describe('Alerter', () => {
  it('posts trading-state changes to chat.postMessage on the configured API, with the token only in the header', async () => {
    seen.length = 0;
    const { log, lines } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: '#perpbot', slackApiUrl: url }, log, 'perpbot replay r1', { retries: 0 });
    const bus = new EventBus();
    a.watch(bus);
    bus.publish('risk.state', { type: 'TradingStateChanged', ts: 1, state: 'REDUCING', previous: 'ACTIVE', reason: '4 losing round trips in a row (limit 4)' });
    await bus.drain();
    await a.flush();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe('/api/chat.postMessage');
    expect(seen[0]!.auth).toBe(`Bearer ${TOKEN}`);
    const body = new URLSearchParams(seen[0]!.body);
    expect(body.get('channel')).toBe('#perpbot');
    expect(body.get('text')).toBe('[warn] perpbot replay r1: trading ACTIVE → REDUCING: 4 losing round trips in a row (limit 4)');
    expect(a.stats()).toEqual({ sent: 1, failed: 0 });
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('counts a failed send, logs it without the token, and never throws', async () => {
    seen.length = 0;
    failNext = 1;
    const { log, lines } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: 'C1', slackApiUrl: url }, log, 'perpbot', { retries: 0 });
    a.send('error', 'database write failed');
    await a.flush();
    expect(a.stats()).toEqual({ sent: 0, failed: 1 });
    const all = lines.join('');
    expect(all).toContain('slack alert failed');
    expect(all).toContain('channel_not_found');
    expect(all).not.toContain(TOKEN);
  });

  it('without a token only logs', async () => {
    seen.length = 0;
    const { log, lines } = capture();
    const a = new Alerter({ slackToken: '', slackChannel: '', slackApiUrl: url }, log, 'perpbot');
    a.send('warn', 'hello');
    await a.flush();
    expect(seen).toHaveLength(0);
    expect(lines.join('')).toContain('hello');
  });

  it('the halt every live start-up begins with is sent as info, a real halt as error', async () => {
    seen.length = 0;
    const { log } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: 'C1', slackApiUrl: url }, log, 'perpbot live', { retries: 0 });
    const bus = new EventBus();
    a.watch(bus);
    bus.publish('risk.state', { type: 'TradingStateChanged', ts: 1, state: 'HALTED', previous: 'ACTIVE', reason: 'starting: waiting for the exchange' });
    bus.publish('risk.state', { type: 'TradingStateChanged', ts: 2, state: 'HALTED', previous: 'ACTIVE', reason: 'IP banned by Binance (418)' });
    await bus.drain();
    await a.flush();
    expect(seen.map((x) => new URLSearchParams(x.body).get('text')!.split(']')[0])).toEqual(['[info', '[error']);
  });

  it("an order perpbot did not place is alerted once (warn), perpbot's own events never", async () => {
    seen.length = 0;
    const { log } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: 'C1', slackApiUrl: url }, log, 'perpbot live', { retries: 0 });
    const bus = new EventBus();
    a.watch(bus);
    const external = { side: 'SELL' as const, type: 'MARKET', quantity: '0.001', price: '0', reduceOnly: false };
    bus.publish('order.update', { type: 'OrderAccepted', ts: 1, clientOrderId: 'pb-AAAAAAAAAAAAAAAAAAAAAA', orderId: '1', symbol: 'BTCUSDT' });
    bus.publish('order.update', { type: 'OrderAccepted', ts: 2, clientOrderId: 'web_1', orderId: '2', symbol: 'BTCUSDT', external });
    bus.publish('order.update', {
      type: 'OrderFilled',
      ts: 3,
      cumulativeQuantity: '0.001',
      status: 'FILLED',
      external,
      fill: { tradeId: '9', orderId: '2', clientOrderId: 'web_1', symbol: 'BTCUSDT', side: 'SELL', price: '108167.0', quantity: '0.001', commission: '0.05', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: 3 },
    });
    await bus.drain();
    await a.flush();
    const texts = seen.map((x) => new URLSearchParams(x.body).get('text')!);
    expect(texts).toEqual(["[warn] perpbot live: external order web_1 on BTCUSDT (not placed by perpbot): SELL MARKET 0.001; recorded as external, in no strategy's PnL or limits"]);
  });
});

