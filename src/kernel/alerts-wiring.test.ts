/**
 * The kernel's alerts, end to end against a fake Slack Web API on 127.0.0.1: a paper-like kernel
 * (wall clock, simulated venue, a fake market source) raises `botStarted`, `streamStale` for a
 * stream stale past `alerts.streamStaleSeconds` and "resolved" when data flows again,
 * `orderOutcomeUnknown` for an order unknown past `alerts.orderUnknownSeconds` (then resolved),
 * and `botStopped` at close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { WallClock } from '../core/clock.ts';
import { projectPath } from '../core/paths.ts';
import type { Symbol } from '../core/types.ts';
import type { SourceHealth } from '../health/heartbeat.ts';
import { silentLogger } from '../logging/logger.ts';
import type { MarketDataSource } from '../market/source.ts';
import { startFakeSlack, type FakeSlack } from '../alerts/fake-slack.ts';
import { Kernel, simulatedVenue } from './kernel.ts';
import { loadExchangeInfo } from '../../executor/exchange-info.ts';

let slack: FakeSlack;
let dir: string;
beforeAll(async () => {
  slack = await startFakeSlack();
  dir = mkdtempSync(join(tmpdir(), 'perpbot-alerts-'));
});
afterAll(async () => {
  await slack.close();
  rmSync(dir, { recursive: true, force: true });
});

const BTC = 'BTCUSDT' as Symbol;

class FakeSource implements MarketDataSource {
  readonly name = 'fake';
  readonly symbols = [BTC];
  h: SourceHealth = { state: 'connected', lastMessageAt: Date.now(), ageMs: 0, lastEventTime: null, messages: 1, errors: 0 };
  private done: () => void = () => {};
  run(): Promise<void> {
    return new Promise((r) => (this.done = r));
  }
  stop(): void {
    this.done();
  }
  health(): Record<Symbol, SourceHealth> {
    return { [BTC]: this.h };
  }
}

describe('kernel alerts', () => {
  it('start, a stale stream and its end, an unknown order outcome and its end, stop', async () => {
    const config = loadConfig({
      env: {},
      dotenvFile: null,
      overrides: {
        db: join(dir, 'k.sqlite'),
        'heartbeat.file': join(dir, 'hb.json'),
        'alerts.slackToken': 'xoxb-1-kernel-test',
        'alerts.slackChannel': '#ops',
        'alerts.slackApiUrl': slack.url,
        'alerts.streamStaleSeconds': 60,
        'alerts.orderUnknownSeconds': 30,
        'alerts.dailySummaryCron': '',
      },
    });
    const clock = new WallClock(0);
    const rules = loadExchangeInfo(projectPath('data/exchange-info/fapi-exchangeInfo-2024-10-02.json'));
    const sim = simulatedVenue(config, rules, clock);
    const source = new FakeSource();
    const k = Kernel.forSource({ config, mode: 'paper', rules, symbols: [BTC], log: silentLogger(), heartbeat: false, runId: 'paper-test' }, { clock, venue: sim, sim, source });
    const run = k.run();
    source.h = { ...source.h, state: 'stale', ageMs: 30_000 };
    k.checkIncidents(); // stale, but not for long enough
    source.h = { ...source.h, state: 'stale', ageMs: 61_000 };
    k.checkIncidents();
    k.checkIncidents(); // a repeat: deduplicated
    source.h = { ...source.h, state: 'connected', ageMs: 0 };
    k.checkIncidents();
    let unknown = [{ clientOrderId: 'pb-unknown-1', symbol: 'BTCUSDT', since: Date.now() - 31_000 }];
    k.setUnknownOrderSource(() => unknown);
    k.checkIncidents();
    unknown = [];
    k.checkIncidents();
    k.requestStop();
    await run;
    await k.close(null, 'stopped');
    const texts = slack.seen.map((s) => s.text.replace(/^\[(\w+)\] perpbot paper paper-test: /, '$1 '));
    expect(texts).toEqual([
      'info started (paper, run paper-test)',
      'warning market stream BTCUSDT silent for 61s (reconnecting)',
      expect.stringMatching(/^resolved resolved: data flows again: market stream BTCUSDT silent for 61s \(reconnecting\) \(happened 2 times/),
      'critical order pb-unknown-1 on BTCUSDT: outcome unknown for 31s (sent, no answer); perpbot keeps asking Binance — check the account',
      expect.stringMatching(/^resolved resolved: the outcome is known: order pb-unknown-1/),
      'info stopped (paper, run paper-test): stopped',
    ]);
  });
});
