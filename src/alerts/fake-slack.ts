/**
 * Test support: a fake Slack Web API on 127.0.0.1 that records every `chat.postMessage` (no
 * test ever reaches Slack). `failNext` makes the next n calls answer `ok: false`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received. */
export interface SeenRequest {
  path: string;
  auth: string | undefined;
  /** The form-encoded body. */
  body: string;
  /** The `text` field of the body. */
  text: string;
  /** The `channel` field of the body. */
  channel: string;
}

/** A running fake Slack. */
export interface FakeSlack {
  /** Base URL for `alerts.slackApiUrl` (ends with `/api/`). */
  url: string;
  seen: SeenRequest[];
  failNext: number;
  close(): Promise<void>;
}

/** Start a fake Slack Web API on a free port of 127.0.0.1. */
export async function startFakeSlack(): Promise<FakeSlack> {
  const fake: FakeSlack = { url: '', seen: [], failNext: 0, close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      fake.seen.push({ path: req.url ?? '', auth: req.headers.authorization, body, text: form.get('text') ?? '', channel: form.get('channel') ?? '' });
      res.setHeader('content-type', 'application/json');
      if (fake.failNext > 0) {
        fake.failNext--;
        res.end(JSON.stringify({ ok: false, error: 'channel_not_found' }));
      } else res.end(JSON.stringify({ ok: true, channel: 'C1', ts: '1.1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
  fake.close = () => new Promise<void>((r) => server.close(() => r()));
  return fake;
}
