import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PerpbotError } from '../src/core/errors.ts';
import type { OrderIntent } from '../src/core/types.ts';
import { silentLogger } from '../src/logging/logger.ts';
import { openDatabase, type Db } from './client.ts';
import { IntentJournal, intentJournalFile, replayIntentJournal } from './intent-journal.ts';
import { RecordWriter } from './writer.ts';

const RUN = 'live-test';
const T = Date.UTC(2026, 11, 3, 12);
const intent = (id: string, over: Partial<OrderIntent> = {}): OrderIntent => ({
  clientOrderId: id,
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'MARKET',
  quantity: '0.002',
  reduceOnly: false,
  strategyId: 'vwap',
  signalId: `sig-${id}`,
  refPrice: '107000.1',
  createdAt: T,
  ...over,
});

let dir: string;
let file: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-journal-'));
  file = join(dir, 'bot.sqlite');
  db = openDatabase(file);
  new RecordWriter(db, RUN).ensureRun({ id: RUN, mode: 'live', startedAt: T, configJson: '{}' });
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const orderRows = (d: Db) => d.sqlite.prepare('SELECT client_order_id id, status, quantity, strategy_id s FROM orders ORDER BY client_order_id').all() as Array<{ id: string; status: string; quantity: string; s: string }>;

describe('intent journal', () => {
  it('append writes the line before it returns; the same client order id is refused the second time', () => {
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T });
    expect(j.append(intent('pb-a'))).toBe(true);
    const lines = readFileSync(intentJournalFile(file), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ runId: RUN, intent: intent('pb-a') });
    expect(j.append(intent('pb-a'))).toBe(false);
    expect(j.stats).toMatchObject({ appended: 1, duplicates: 1 });
    j.close();
  });

  it('an id the database already holds from an earlier process is refused (a signal replayed after a restart)', () => {
    new RecordWriter(db, RUN).writeIntentNow(intent('pb-old', { createdAt: T - 3_600_000 }));
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T });
    expect(j.append(intent('pb-old'))).toBe(false);
    expect(j.append(intent('pb-new'))).toBe(true);
    j.close();
  });

  it('after a crash (the database never heard of the intents) the next start records them, skips a torn last line, and empties the journal', () => {
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T });
    j.append(intent('pb-1'));
    j.append(intent('pb-2', { side: 'SELL', reduceOnly: true }));
    j.close(); // the process dies here: no OrderSubmitted was recorded
    appendFileSync(intentJournalFile(file), '{"runId":"live-test","intent":{"clientOr'); // torn by the crash
    expect(orderRows(db)).toEqual([]);

    const warnings: string[] = [];
    const log = silentLogger();
    const spy = new Proxy(log, { get: (t, k) => (k === 'warn' ? (_o: unknown, m?: string) => warnings.push(String(m ?? _o)) : Reflect.get(t, k)) });
    expect(replayIntentJournal(file, db, spy)).toBe(2);
    expect(orderRows(db)).toEqual([
      { id: 'pb-1', status: 'PENDING_NEW', quantity: '0.002', s: 'vwap' },
      { id: 'pb-2', status: 'PENDING_NEW', quantity: '0.002', s: 'vwap' },
    ]);
    expect(warnings.some((w) => /unreadable line skipped/.test(w))).toBe(true);
    expect(existsSync(intentJournalFile(file))).toBe(false);
    // idempotent: nothing to do the second time, and a row already recorded is left as it is
    expect(replayIntentJournal(file, db, silentLogger())).toBe(0);
  });

  it('replay leaves rows the recorder already wrote untouched (their later status is kept)', () => {
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T });
    j.append(intent('pb-1'));
    j.close();
    const w = new RecordWriter(db, RUN);
    w.orderEvent({ type: 'OrderSubmitted', ts: T, intent: intent('pb-1') });
    w.orderEvent({ type: 'OrderAccepted', ts: T + 5, symbol: 'BTCUSDT', clientOrderId: 'pb-1', orderId: '77' });
    w.flush();
    expect(replayIntentJournal(file, db, silentLogger())).toBe(0);
    expect(orderRows(db)[0]!.status).toBe('NEW');
  });

  it('rotates past its size and deletes the rotated file only once the database holds every intent in it', () => {
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T, rotateBytes: 400 });
    j.append(intent('pb-1'));
    j.append(intent('pb-2'));
    expect(statSync(intentJournalFile(file)).size).toBeGreaterThan(400);
    j.maintain(silentLogger());
    expect(existsSync(`${intentJournalFile(file)}.1`)).toBe(true);
    expect(statSync(intentJournalFile(file)).size).toBe(0);
    j.append(intent('pb-3')); // goes to the new file
    const w = new RecordWriter(db, RUN);
    w.writeIntentNow(intent('pb-1'));
    j.maintain(silentLogger());
    expect(existsSync(`${intentJournalFile(file)}.1`)).toBe(true); // pb-2 is not in the database yet
    w.writeIntentNow(intent('pb-2'));
    j.maintain(silentLogger());
    expect(existsSync(`${intentJournalFile(file)}.1`)).toBe(false);
    j.close();
    // a start replays what is left: pb-3
    expect(replayIntentJournal(file, db, silentLogger())).toBe(1);
  });

  it('a write that fails is a DATABASE error naming the order (the order must not be sent)', () => {
    const j = IntentJournal.open(file, { runId: RUN, db, now: () => T, fsync: true });
    expect(j.append(intent('pb-1'))).toBe(true); // fdatasync on a regular file works
    j.close(); // the descriptor is gone: the next write fails
    expect(() => j.append(intent('pb-2'))).toThrow(PerpbotError);
    expect(() => j.append(intent('pb-3'))).toThrow(/pb-3/);
  });
});
