/**
 * The alert policy over the real Slack transport and a fake Slack Web API on 127.0.0.1: dedup,
 * cooldown reminders, "resolved" follow-ups, the per-channel rate limit, the bus subscriptions,
 * and one test per catalogue entry.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../bus/bus.ts';
import type { Symbol } from '../core/types.ts';
import { Alerts } from './alerts.ts';
import { CATALOGUE, type AlertDetails, type AlertName } from './catalogue.ts';
import { Alerter } from './slack.ts';
import { startFakeSlack, type FakeSlack } from './fake-slack.ts';

let slack: FakeSlack;
beforeAll(async () => {
  slack = await startFakeSlack();
});
afterAll(() => slack.close());
beforeEach(() => {
  slack.seen.length = 0;
});

const TOKEN = 'xoxb-99-policy-token';
const T0 = Date.UTC(2026, 11, 3, 17, 0, 0);

function setup(opts: { maxPerMinute?: number } = {}) {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const clock = { t: T0 };
  const alerter = new Alerter({ slackToken: TOKEN, slackChannel: '#ops', slackApiUrl: slack.url }, log, { retries: 0 });
  const alerts = new Alerts({ sink: alerter, log, who: 'perpbot live r1', now: () => clock.t, ...opts });
  const texts = async () => {
    await alerter.flush();
    return slack.seen.map((s) => s.text);
  };
  return { alerts, alerter, clock, lines, texts };
}

describe('Alerts: dedup, cooldown, resolved, rate limit', () => {
  it('an incident repeated 1,000 times sends one message, then one "resolved" after a quiet period', async () => {
    const { alerts, clock, texts } = setup();
    for (let i = 0; i < 1000; i++) {
      alerts.raise('databaseWrite', { message: `SQLITE_FULL: database or disk is full (batch ${i})` });
      clock.t += 100; // 100 s in all: inside the 15 min cooldown
    }
    expect(await texts()).toEqual(['[critical] perpbot live r1: database write failed (trading HALTED; records incomplete until fixed): SQLITE_FULL: database or disk is full (batch 0)']);
    alerts.sweep(); // not quiet long enough yet
    expect(await texts()).toHaveLength(1);
    clock.t += 5 * 60_000;
    alerts.sweep();
    const all = await texts();
    expect(all).toHaveLength(2);
    expect(all[1]).toMatch(/^\[resolved\] perpbot live r1: resolved \(no repeat for 300s\): database write failed .*batch 999\) \(happened 1000 times, 2026-12-03T17:00:00Z – 2026-12-03T17:01:39\.900Z\)$/);
    expect(alerts.stats()).toMatchObject({ raised: 1000, sent: 2, suppressed: 999, resolved: 1, rateLimited: 0 });
  });

  it('a repeat after the cooldown sends one reminder with the count of silent repeats', async () => {
    const { alerts, clock, texts } = setup();
    alerts.raise('streamStale', { stream: 'BTCUSDT', ageSeconds: 60 });
    clock.t += 60_000;
    alerts.raise('streamStale', { stream: 'BTCUSDT', ageSeconds: 120 });
    alerts.raise('streamStale', { stream: 'ETHUSDT', ageSeconds: 61 }); // another key: another incident
    clock.t += 15 * 60_000;
    alerts.raise('streamStale', { stream: 'BTCUSDT', ageSeconds: 1020 });
    expect(await texts()).toEqual([
      '[warning] perpbot live r1: market stream BTCUSDT silent for 60s (reconnecting)',
      '[warning] perpbot live r1: market stream ETHUSDT silent for 61s (reconnecting)',
      '[warning] perpbot live r1: still happening (1 more since 2026-12-03T17:00:00Z): market stream BTCUSDT silent for 1020s (reconnecting)',
    ]);
  });

  it('resolving what was never raised sends nothing; resolving twice sends one "resolved"', async () => {
    const { alerts, texts } = setup();
    expect(alerts.resolve('streamStale', 'BTCUSDT')).toBe(false);
    alerts.raise('orderOutcomeUnknown', { clientOrderId: 'pb-x-1', symbol: 'BTCUSDT', ageSeconds: 31 });
    expect(alerts.resolve('orderOutcomeUnknown', 'pb-x-1')).toBe(true);
    expect(alerts.resolve('orderOutcomeUnknown', 'pb-x-1')).toBe(false);
    expect(await texts()).toHaveLength(2);
  });

  it('at most maxPerMinute messages per channel in any 60 s; the rest are dropped, counted and logged', async () => {
    const { alerts, clock, lines, texts } = setup({ maxPerMinute: 3 });
    for (let i = 0; i < 5; i++) alerts.raise('operatorCommand', { command: `cmd${i}`, by: 'api' });
    expect(await texts()).toHaveLength(3);
    expect(alerts.stats().rateLimited).toBe(2);
    expect(lines.join('')).toContain('alert not sent (over 3 a minute): operator command cmd4 by api');
    clock.t += 60_001;
    alerts.raise('operatorCommand', { command: 'resume', by: 'cli' });
    expect((await texts()).at(-1)).toBe('[info] perpbot live r1: operator command resume by cli');
  });

  it('without a sink, alerts go to the log only', () => {
    const lines: string[] = [];
    const log = pino(new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const alerts = new Alerts({ sink: null, log, who: 'perpbot' });
    alerts.raise('ipBanned', { retryAfterSeconds: 120, message: 'Way too many requests' });
    expect(slack.seen).toHaveLength(0);
    const rec = JSON.parse(lines[0]!) as { level: number; alert: string; msg: string };
    expect(rec).toMatchObject({ level: 50, alert: 'ipBanned' });
    expect(rec.msg).toContain('Binance banned this IP (418) for 120s');
  });

  it('secrets in details never reach Slack', async () => {
    const { alerts, texts } = setup();
    alerts.raise('databaseWrite', { message: `failed with token=${TOKEN} and xoxb-123-abc` });
    const [t] = await texts();
    expect(t).not.toContain(TOKEN);
    expect(t).not.toContain('xoxb-123-abc');
  });
});

describe('Alerts.watch (the bus)', () => {
  it('trading-state changes: the routine start-up halt is not sent; REDUCING, then HALTED, then ACTIVE resolves', async () => {
    const { alerts, texts } = setup();
    const bus = new EventBus();
    alerts.watch(bus);
    const st = (state: 'ACTIVE' | 'REDUCING' | 'HALTED', previous: 'ACTIVE' | 'REDUCING' | 'HALTED', reason: string) =>
      bus.publish('risk.state', { type: 'TradingStateChanged', ts: 1, state, previous, reason });
    st('HALTED', 'ACTIVE', 'starting: waiting for the exchange');
    st('ACTIVE', 'HALTED', 'start-up complete');
    st('REDUCING', 'ACTIVE', '4 losing round trips in a row (limit 4)');
    st('HALTED', 'REDUCING', 'database: disk full');
    st('ACTIVE', 'HALTED', 'operator resume');
    await bus.drain();
    expect(await texts()).toEqual([
      '[warning] perpbot live r1: trading ACTIVE → REDUCING: 4 losing round trips in a row (limit 4)',
      '[resolved] perpbot live r1: now HALTED: trading ACTIVE → REDUCING: 4 losing round trips in a row (limit 4) (happened once, 2026-12-03T17:00:00Z – 2026-12-03T17:00:00Z)',
      '[critical] perpbot live r1: trading REDUCING → HALTED: database: disk full',
      '[resolved] perpbot live r1: resolved: trading HALTED → ACTIVE: operator resume: trading REDUCING → HALTED: database: disk full (happened once, 2026-12-03T17:00:00Z – 2026-12-03T17:00:00Z)',
    ]);
    bus.close();
  });

  it('a fill losing at least alerts.largeLoss USDT net of its fee raises largeLoss; smaller losses do not', async () => {
    const { alerts, texts } = setup();
    const bus = new EventBus();
    alerts.watch(bus, '200');
    const fill = (cid: string, rp: string, fee: string) =>
      bus.publish('order.update', {
        type: 'OrderFilled',
        ts: 1,
        status: 'FILLED',
        cumulativeQuantity: '0.1',
        fill: { tradeId: '1', orderId: '2', clientOrderId: cid, symbol: 'BTCUSDT' as Symbol, side: 'SELL', price: '100000', quantity: '0.1', commission: fee, commissionAsset: 'USDT', realizedPnl: rp, maker: false, time: 1 },
      });
    fill('pb-small', '-199.5', '0.4'); // −199.9: under the limit
    fill('pb-big', '-199.5', '0.5'); // −200.0: at the limit
    fill('pb-win', '500', '0.5');
    await bus.drain();
    expect(await texts()).toEqual(['[warning] perpbot live r1: large loss on BTCUSDT: -200 USDT net of fee (order pb-big; alert at -200)']);
    bus.close();
  });
});

describe('Alerts: external activity', () => {
  it("an order perpbot did not place is alerted once (warning), perpbot's own events never", async () => {
    const { alerts, texts } = setup();
    const bus = new EventBus();
    alerts.watch(bus);
    const external = { side: 'SELL' as const, type: 'MARKET', quantity: '0.001', price: '0', reduceOnly: false };
    bus.publish('order.update', { type: 'OrderAccepted', ts: 1, clientOrderId: 'pb-AAAAAAAAAAAAAAAAAAAAAA', orderId: '1', symbol: 'BTCUSDT' as Symbol });
    bus.publish('order.update', { type: 'OrderAccepted', ts: 2, clientOrderId: 'web_1', orderId: '2', symbol: 'BTCUSDT' as Symbol, external });
    bus.publish('order.update', {
      type: 'OrderFilled',
      ts: 3,
      cumulativeQuantity: '0.001',
      status: 'FILLED',
      external,
      fill: { tradeId: '9', orderId: '2', clientOrderId: 'web_1', symbol: 'BTCUSDT' as Symbol, side: 'SELL', price: '108167.0', quantity: '0.001', commission: '0.05', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: 3 },
    });
    await bus.drain();
    expect(await texts()).toEqual(["[warning] perpbot live r1: external order web_1 on BTCUSDT (not placed by perpbot): SELL MARKET 0.001; recorded as external, in no strategy's PnL or limits"]);
    bus.close();
  });
});

describe('Alerts: protective stops', () => {
  it('a refused stop raises positionUnprotected (critical) for its symbol; a stop accepted later, or the position going flat, resolves it', async () => {
    const { alerts, texts } = setup();
    const bus = new EventBus();
    alerts.watch(bus, '0', { isProtectiveStop: (id) => id.startsWith('pb-stop-') });
    const S = 'BTCUSDT' as Symbol;
    const E = 'ETHUSDT' as Symbol;
    bus.publish('order.update', { type: 'OrderRejected', ts: 1, clientOrderId: 'pb-entry', symbol: S, code: -2019, reason: 'Margin is insufficient.' }); // not a stop
    bus.publish('order.update', { type: 'OrderRejected', ts: 2, clientOrderId: 'pb-stop-a', symbol: S, code: -2021, reason: 'Order would immediately trigger.' });
    bus.publish('order.update', { type: 'OrderRejected', ts: 3, clientOrderId: 'pb-stop-b', symbol: E, code: -2021, reason: 'Order would immediately trigger.' });
    bus.publish('order.update', { type: 'OrderAccepted', ts: 4, clientOrderId: 'pb-stop-a1', orderId: '9', symbol: S });
    bus.publish('account.update', { type: 'PositionChanged', ts: 5, position: { symbol: E, quantity: '0', entryPrice: '0', realizedPnl: '0', fees: '0', updatedAt: 5 } as never });
    await bus.drain();
    const sent = await texts();
    expect(sent).toHaveLength(4);
    expect(sent[0]).toMatch(/^\[critical\] perpbot live r1: BTCUSDT: position without a protective stop on the exchange \(stop pb-stop-a refused \(-2021\): Order would immediately trigger\.\)/);
    expect(sent[1]).toMatch(/^\[critical\] perpbot live r1: ETHUSDT: position without a protective stop/);
    expect(sent[2]).toMatch(/^\[resolved\] perpbot live r1: resolved: a protective stop is in place: BTCUSDT/);
    expect(sent[3]).toMatch(/^\[resolved\] perpbot live r1: resolved: the position is flat: ETHUSDT/);
    bus.close();
  });
});

/** One sample per catalogue entry (the type makes a new entry without a sample a compile error). */
const SAMPLES: { [N in AlertName]: { details: AlertDetails[N]; severity: string; text: RegExp; resolveKey?: string } } = {
  tradingState: { details: { state: 'HALTED', previous: 'ACTIVE', reason: 'IP banned by Binance (418)' }, severity: 'critical', text: /trading ACTIVE → HALTED: IP banned/, resolveKey: 'HALTED' },
  orderOutcomeUnknown: { details: { clientOrderId: 'pb-v-BTC-1', symbol: 'BTCUSDT', ageSeconds: 45 }, severity: 'critical', text: /order pb-v-BTC-1 on BTCUSDT: outcome unknown for 45s/, resolveKey: 'pb-v-BTC-1' },
  streamStale: { details: { stream: 'ETHUSDT', ageSeconds: 90 }, severity: 'warning', text: /market stream ETHUSDT silent for 90s/, resolveKey: 'ETHUSDT' },
  reconciliationDiff: { details: { count: 2, summary: 'adopt pb-1\ninsert fill 77' }, severity: 'warning', text: /reconciliation at start: 2 difference\(s\)[^]*adopt pb-1\ninsert fill 77/ },
  rateLimited: { details: { retryAfterSeconds: 30, message: 'Too many requests' }, severity: 'warning', text: /Binance rate limit \(429\): REST calls wait 30s/, resolveKey: 'rest' },
  ipBanned: { details: { retryAfterSeconds: null, message: 'banned' }, severity: 'critical', text: /Binance banned this IP \(418\); trading HALTED/, resolveKey: 'ip' },
  databaseWrite: { details: { message: 'SQLITE_IOERR' }, severity: 'critical', text: /database write failed .*SQLITE_IOERR/, resolveKey: 'write' },
  largeLoss: { details: { symbol: 'ETHUSDT', clientOrderId: 'pb-9', netPnl: '-350.5', limit: '-200' }, severity: 'warning', text: /large loss on ETHUSDT: -350\.5 USDT/ },
  positionUnprotected: { details: { symbol: 'ETHUSDT', why: 'stop pb-stop-x refused (-2021)' }, severity: 'critical', text: /ETHUSDT: position without a protective stop on the exchange \(stop pb-stop-x refused \(-2021\)\)/, resolveKey: 'ETHUSDT' },
  externalOrder: { details: { clientOrderId: 'manual-1', symbol: 'BTCUSDT', what: 'BUY MARKET 0.01' }, severity: 'warning', text: /external order manual-1 on BTCUSDT \(not placed by perpbot\): BUY MARKET 0\.01/ },
  operatorCommand: { details: { command: 'halt', by: 'api', detail: 'maintenance' }, severity: 'info', text: /operator command halt by api: maintenance/ },
  botStarted: { details: { mode: 'live', runId: 'live-a', version: '0.1.0' }, severity: 'info', text: /started \(live, run live-a, perpbot 0\.1\.0\)/ },
  botStopped: { details: { mode: 'live', runId: 'live-a', status: 'failed' }, severity: 'critical', text: /stopped \(live, run live-a\): failed/ },
  dailySummary: { details: { text: '2026-12-02 (UTC): 8 fills, net PnL 12.5 USDT' }, severity: 'info', text: /daily summary 2026-12-02 \(UTC\): 8 fills/ },
};

describe('every catalogue entry', () => {
  it('has a sample here', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(CATALOGUE).sort());
  });
  for (const name of Object.keys(SAMPLES) as AlertName[]) {
    it(`${name}: sent with its severity and text${SAMPLES[name].resolveKey ? ', then "resolved"' : ''}`, async () => {
      const { alerts, texts } = setup();
      const s = SAMPLES[name];
      expect(alerts.raise(name, s.details as never)).toBe(true);
      const [first] = await texts();
      expect(first!.startsWith(`[${s.severity}] perpbot live r1: `)).toBe(true);
      expect(first).toMatch(s.text);
      if (s.resolveKey !== undefined) {
        expect(alerts.resolve(name, s.resolveKey)).toBe(true);
        expect((await texts())[1]).toMatch(/^\[resolved\] perpbot live r1: resolved: /);
      } else {
        expect(alerts.resolve(name, 'anything')).toBe(false);
        expect(await texts()).toHaveLength(1);
      }
    });
  }
});
