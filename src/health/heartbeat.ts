/**
 * `status/heartbeat.json`: the one file monitoring reads. Written atomically (temp file in the
 * same folder, then rename) on a fixed interval and on every state change, so a reader never
 * sees half a file, and it says `stopping` / `stopped` when the process goes down.
 *
 * Times: `time` is ISO-8601 UTC, every `…At` field UTC epoch ms, ages in ms. Nothing secret is
 * ever written here.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Mode, TradingState } from '../core/types.ts';

/** Overall status, worst first: stopped > stopping > halted > degraded > ok. */
export type HeartbeatStatus = 'ok' | 'degraded' | 'halted' | 'stopping' | 'stopped';

/** Health of one market-data source (a stream in live, a file in replay). */
export interface SourceHealth {
  /** `connected`/`replaying` while data flows; `done` when a replay file ended; `stale` when silent past its limit. */
  state: 'connecting' | 'connected' | 'replaying' | 'done' | 'stale' | 'disconnected';
  /** Wall-clock time the last message arrived, UTC epoch ms, or null. */
  lastMessageAt: number | null;
  /** `now − lastMessageAt`, ms, or null. */
  ageMs: number | null;
  /** Event time of the last message (the data's own time), UTC epoch ms, or null. */
  lastEventTime: number | null;
  messages: number;
  /** Malformed messages counted and skipped. */
  errors: number;
}

/** The heartbeat document. */
export interface Heartbeat {
  status: HeartbeatStatus;
  /** Why the status is not ok, when it is not. */
  statusReason: string | null;
  /** Wall-clock time of this write, ISO-8601 UTC. */
  time: string;
  /** Same, UTC epoch ms. */
  timeMs: number;
  pid: number;
  mode: Mode;
  runId: string;
  startedAt: number;
  uptimeMs: number;
  sources: Record<string, SourceHealth>;
  database: { ok: boolean; detail: string; file: string };
  risk: { state: TradingState; reason: string | null; consecutiveLosses: number };
  /** Non-zero positions: symbol → signed base-asset quantity. */
  positions: Record<string, string>;
  openOrders: Array<{ clientOrderId: string; symbol: string; side: string; type: string; quantity: string; price: string | null }>;
  lastError: { message: string; at: number } | null;
  /** Exchange time − local time, ms; null when there is no exchange (replay). */
  clockOffsetMs: number | null;
  /** Event-time clock of the run (replay: the data's time), UTC epoch ms. */
  dataTime: number | null;
  counters: Record<string, number>;
}

/**
 * Write `doc` to `file` atomically: a temp file beside it, then rename (atomic on POSIX).
 * @throws the fs error when the folder cannot be created or written
 */
export function writeHeartbeatFile(file: string, doc: Heartbeat): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(tmp, file);
}

/**
 * Read a heartbeat file.
 * @throws Error naming the file when it is missing or not a heartbeat
 */
export function readHeartbeatFile(file: string): Heartbeat {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable'}`);
  }
  let doc: Heartbeat;
  try {
    doc = JSON.parse(text) as Heartbeat;
  } catch {
    throw new Error(`${file}: not JSON (a heartbeat is written atomically, so this file was not written by perpbot)`);
  }
  if (typeof doc !== 'object' || doc === null || typeof doc.timeMs !== 'number' || typeof doc.status !== 'string') {
    throw new Error(`${file}: not a heartbeat document`);
  }
  return doc;
}

/**
 * Writes the heartbeat on an interval and on demand. The snapshot function builds the document
 * from the live components; `status` and `time` are filled in here.
 */
export class HeartbeatWriter {
  private timer: NodeJS.Timeout | null = null;
  private final: 'stopping' | 'stopped' | null = null;
  private writeErrors = 0;

  /**
   * @param file path of heartbeat.json
   * @param intervalMs write interval, ms
   * @param snapshot builds the document (without status/time); must not throw
   * @param onError called when a write fails (the bot keeps running)
   */
  constructor(
    readonly file: string,
    private readonly intervalMs: number,
    private readonly snapshot: () => Omit<Heartbeat, 'status' | 'statusReason' | 'time' | 'timeMs' | 'uptimeMs'>,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Write now and then every interval. */
  start(): void {
    this.write();
    this.timer = setInterval(() => this.write(), this.intervalMs);
  }

  /** Write now (state changes). */
  write(): void {
    try {
      const s = this.snapshot();
      const now = Date.now();
      const { status, reason } = this.final ? { status: this.final, reason: this.final === 'stopped' ? 'process ended' : 'shutting down' } : deriveStatus(s);
      writeHeartbeatFile(this.file, { status, statusReason: reason, time: new Date(now).toISOString(), timeMs: now, uptimeMs: now - s.startedAt, ...s });
    } catch (err) {
      this.writeErrors++;
      this.onError(err);
    }
  }

  /** Failed writes so far. */
  get errors(): number {
    return this.writeErrors;
  }

  /** Mark the process as going down (`stopping`) or gone (`stopped`) and write at once. */
  finish(state: 'stopping' | 'stopped'): void {
    this.final = state;
    if (state === 'stopped' && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.write();
  }
}

/**
 * The status a snapshot implies: halted when trading is not ACTIVE; degraded when the database is
 * unhealthy or a source is not delivering (connecting, stale, disconnected); else ok.
 */
export function deriveStatus(s: Pick<Heartbeat, 'risk' | 'sources' | 'database'>): { status: HeartbeatStatus; reason: string | null } {
  if (s.risk.state !== 'ACTIVE') return { status: 'halted', reason: `trading ${s.risk.state}: ${s.risk.reason ?? ''}`.trim() };
  if (!s.database.ok) return { status: 'degraded', reason: `database: ${s.database.detail}` };
  const bad = Object.entries(s.sources).filter(([, h]) => h.state === 'stale' || h.state === 'disconnected' || h.state === 'connecting');
  if (bad.length > 0) return { status: 'degraded', reason: `sources ${bad.map(([n, h]) => `${n} ${h.state}`).join(', ')}` };
  return { status: 'ok', reason: null };
}
