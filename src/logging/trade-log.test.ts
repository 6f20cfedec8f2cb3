/**
 * The trade log: one readable info line per signal, order event, fill and position change, each
 * naming the symbol and the client order id; debug (and not subscribed) in replay; readable text
 * on a terminal, JSON otherwise.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../bus/bus.ts';
import { projectPath } from '../core/paths.ts';
import type { OrderIntent, Symbol } from '../core/types.ts';
import { startTradeLog } from './trade-log.ts';

const BTC = 'BTCUSDT' as Symbol;
const CID = 'pb-vwap-adx-BTCUSDT-1';

function capture(level = 'info') {
  const recs: Array<Record<string, unknown> & { level: number; msg: string }> = [];
  const log = pino({ level }, new Writable({ write: (c: Buffer, _e, cb) => (recs.push(JSON.parse(c.toString()) as (typeof recs)[number]), cb()) }));
  return { log, recs };
}

const intent: OrderIntent = { clientOrderId: CID, symbol: BTC, side: 'BUY', type: 'MARKET', quantity: '0.015', reduceOnly: false, strategyId: 'vwap-adx', signalId: 'vwap-adx:BTCUSDT:1:0', refPrice: '65000', createdAt: 1 };

async function session(bus: EventBus) {
  await bus.publish('signal.vwap-adx', { type: 'SignalEmitted', ts: 1, signalId: 'vwap-adx:BTCUSDT:1:0', strategyId: 'vwap-adx', symbol: BTC, target: 'LONG', reason: 'entry', refPrice: '65000.1', indicators: {} });
  await bus.publish('order.update', { type: 'OrderSubmitted', ts: 2, intent });
  await bus.publish('order.update', { type: 'OrderAccepted', ts: 3, clientOrderId: CID, orderId: '700000000001', symbol: BTC });
  await bus.publish('order.update', {
    type: 'OrderFilled',
    ts: 4,
    status: 'FILLED',
    cumulativeQuantity: '0.015',
    fill: { tradeId: '5000000001', orderId: '700000000001', clientOrderId: CID, symbol: BTC, side: 'BUY', price: '65010.2', quantity: '0.015', commission: '0.48757650', commissionAsset: 'USDT', realizedPnl: '0', maker: false, time: 4 },
  });
  await bus.publish('account.update', { type: 'PositionChanged', ts: 4, position: { symbol: BTC, quantity: '0.015', entryPrice: '65010.2', realizedPnl: '0', fees: '0.4875765', updatedAt: 4 } });
  await bus.publish('order.update', { type: 'OrderRejected', ts: 5, clientOrderId: 'pb-2', symbol: BTC, code: -2019, reason: 'Margin is insufficient.' });
  await bus.publish('order.update', { type: 'OrderDenied', ts: 6, intent: { ...intent, clientOrderId: 'pb-3' }, check: 'maxOpenPositions', reason: '2 positions open (limit 2)' });
  await bus.drain();
}

describe('trade log', () => {
  it('one info line per signal, order submitted/accepted/rejected/denied, fill and position change, with symbol and client order id', async () => {
    const { log, recs } = capture();
    const bus = new EventBus();
    expect(startTradeLog(bus, log, 'info')).toBe(true);
    await session(bus);
    expect(recs.map((r) => r.level)).toEqual([30, 30, 30, 30, 30, 30, 30]);
    expect(recs.map((r) => r.msg)).toEqual([
      'signal BTCUSDT vwap-adx: target LONG (entry) at 65000.1 [signal vwap-adx:BTCUSDT:1:0]',
      `order submitted BTCUSDT BUY 0.015 MARKET [${CID}] from signal vwap-adx:BTCUSDT:1:0`,
      `order accepted BTCUSDT [${CID}] exchange order 700000000001`,
      `fill BTCUSDT BUY 0.015 @ 65010.2, fee 0.48757650 USDT, realized PnL 0 [${CID}] trade 5000000001 (FILLED 0.015)`,
      `position BTCUSDT 0.015 @ 65010.2, realized PnL 0, fees 0.4875765 [${CID}]`,
      'order rejected BTCUSDT [pb-2] code -2019: Margin is insufficient.',
      'order denied BTCUSDT BUY 0.015 [pb-3] by maxOpenPositions: 2 positions open (limit 2)',
    ]);
    for (const r of recs) expect(r.symbol).toBe('BTCUSDT');
    expect(recs.slice(1).map((r) => r.clientOrderId)).toEqual([CID, CID, CID, CID, 'pb-2', 'pb-3']);
    expect(recs[3]).toMatchObject({ trade: 'fill', price: '65010.2', quantity: '0.015', fee: '0.48757650', realizedPnl: '0' });
    bus.close();
  });

  it('replay: debug lines, and no subscriber at all unless debug is on', async () => {
    const info = capture('info');
    const bus = new EventBus();
    expect(startTradeLog(bus, info.log, 'debug')).toBe(false);
    await session(bus);
    expect(info.recs).toEqual([]);
    expect(bus.stats()).toMatchObject({ handlerErrors: 0 });
    bus.close();
    const dbg = capture('debug');
    const bus2 = new EventBus();
    expect(startTradeLog(bus2, dbg.log, 'debug')).toBe(true);
    await session(bus2);
    expect(dbg.recs).toHaveLength(7);
    expect(dbg.recs.every((r) => r.level === 20)).toBe(true);
    bus2.close();
  });
});

describe('console output', () => {
  const script = (dir: string) => {
    const f = join(dir, 'log.mts');
    writeFileSync(
      f,
      `import { createLogger } from ${JSON.stringify(projectPath('src/logging/logger.ts'))};\n` +
        `const h = await createLogger({ level: 'info', console: 'stdout', dir: null });\n` +
        `h.logger.child({ component: 'trades' }).info({ trade: 'fill', symbol: 'BTCUSDT' }, 'fill BTCUSDT BUY 0.015 @ 65010.2');\n` +
        `await h.close();\n`,
    );
    return f;
  };
  const run = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', cwd: projectPath(), timeout: 60_000 });

  it('JSON lines when stdout is not a terminal', () => {
    const f = script(mkdtempSync(join(tmpdir(), 'perpbot-tl-')));
    const r = run([process.execPath, '--import', 'tsx', f]);
    const rec = JSON.parse(r.stdout.trim()) as { msg: string; component: string };
    expect(rec).toMatchObject({ msg: 'fill BTCUSDT BUY 0.015 @ 65010.2', component: 'trades' });
  });

  it('readable text (pino-pretty) when stdout is a terminal', () => {
    const f = script(mkdtempSync(join(tmpdir(), 'perpbot-tl-')));
    // script(1) gives the child a pseudo-terminal.
    const r = run(['script', '-qec', `${process.execPath} --import tsx ${f}`, '/dev/null']);
    const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(out).toMatch(/\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[trades\] fill BTCUSDT BUY 0\.015 @ 65010\.2/);
    expect(out).not.toContain('{"level"');
  });
});
