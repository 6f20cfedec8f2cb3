import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alerter } from './slack.ts';
import { startFakeSlack, type FakeSlack } from './fake-slack.ts';

let slack: FakeSlack;
beforeAll(async () => {
  slack = await startFakeSlack();
});
afterAll(() => slack.close());

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

describe('Alerter (the Slack transport)', () => {
  it('posts to chat.postMessage on the configured API, with the token only in the header', async () => {
    slack.seen.length = 0;
    const { log, lines } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: '#perpbot', slackApiUrl: slack.url }, log, { retries: 0 });
    expect(a.enabled).toBe(true);
    expect(a.channel).toBe('#perpbot');
    a.post('[warning] perpbot replay r1: hello');
    await a.flush();
    expect(slack.seen).toHaveLength(1);
    expect(slack.seen[0]!.path).toBe('/api/chat.postMessage');
    expect(slack.seen[0]!.auth).toBe(`Bearer ${TOKEN}`);
    expect(slack.seen[0]!.channel).toBe('#perpbot');
    expect(slack.seen[0]!.text).toBe('[warning] perpbot replay r1: hello');
    expect(slack.seen[0]!.body).not.toContain(TOKEN);
    expect(a.stats()).toEqual({ sent: 1, failed: 0 });
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('counts a failed post, logs it without the token, and never throws', async () => {
    slack.seen.length = 0;
    slack.failNext = 1;
    const { log, lines } = capture();
    const a = new Alerter({ slackToken: TOKEN, slackChannel: 'C1', slackApiUrl: slack.url }, log, { retries: 0 });
    a.post('database write failed');
    await a.flush();
    expect(a.stats()).toEqual({ sent: 0, failed: 1 });
    const all = lines.join('');
    expect(all).toContain('slack alert failed');
    expect(all).toContain('channel_not_found');
    expect(all).not.toContain(TOKEN);
  });

  it('without a token posts nothing', async () => {
    slack.seen.length = 0;
    const { log } = capture();
    const a = new Alerter({ slackToken: '', slackChannel: '', slackApiUrl: slack.url }, log);
    expect(a.enabled).toBe(false);
    a.post('hello');
    await a.flush();
    expect(slack.seen).toHaveLength(0);
  });
});
