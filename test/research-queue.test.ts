/**
 * BullMQ end-to-end with real processes: a real redis-server on a free 127.0.0.1 port, two
 * `perpbot worker` child processes of the real CLI, `perpbot optimize --queue`; one worker is
 * SIGKILLed while it runs a trial. Its job's lock expires, BullMQ's stalled check gives the job to
 * the other worker, and the output file equals the local (worker-thread) run's byte for byte.
 * A worker whose data files differ refuses the job with an error naming the hash and exits 2.
 * `walkforward --queue` equals the local walk-forward too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './helpers/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../src/core/paths.ts';

const BIN = projectPath('bin/perpbot.js');
const env = () => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PERPBOT_LOG_FILE: 'false' });
const children: ChildProcess[] = [];
let dir: string;
let url: string;

/** A child process with its stderr collected; `exited` resolves with the exit code. */
function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: projectPath('.'), env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out, exited };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'perpbot-queue-'));
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.push(redis);
  await until(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 10_000, 'redis-server');
});

afterAll(async () => {
  for (const c of children.reverse()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const search = ['optimize', '--strategy', 'vwap-adx', '--param', 'bandK=1.5,2,2.5', '--param', 'adxMax=20,25', '--objective', 'net', '--funding', 'none'];

describe('optimize --queue (BullMQ) with a worker killed mid-trial', () => {
  it('equals the local run byte for byte', async () => {
    const local = start([...search, '--workers', '2', '--out', join(dir, 'local.csv')]);
    expect(await local.exited, local.out.stderr).toBe(0);

    const a = start(['worker', '--queue', url, '--funding', 'none', '--lock-duration', '2000']);
    const b = start(['worker', '--queue', url, '--funding', 'none', '--lock-duration', '2000']);
    await until(() => a.out.stderr.includes('ready on') && b.out.stderr.includes('ready on'), 60_000, 'both workers ready');
    // Kill A the moment it says it started a trial (a trial takes ~0.1–0.5 s: a poll could miss it).
    a.child.stderr?.on('data', () => {
      if (a.out.stderr.includes('started') && a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    });
    const q = start([...search, '--queue', url, '--out', join(dir, 'queue.csv')]);
    await until(() => a.out.stderr.includes('started'), 60_000, 'worker A to start a trial');
    expect(await a.exited).toBe(null); // killed by the signal
    expect(await q.exited, q.out.stderr).toBe(0);
    // The trial A was running stalled and was run again by B.
    expect(b.out.stderr).toMatch(/stalled [1-9]/);
    expect(readFileSync(join(dir, 'queue.csv'), 'utf8')).toBe(readFileSync(join(dir, 'local.csv'), 'utf8'));
    expect(q.out.stdout).toBe(local.out.stdout);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 400_000);

  it('walkforward --queue equals the local walk-forward (CSV and printed table)', async () => {
    const wf = ['walkforward', '--strategy', 'vwap-adx', '--param', 'bandK=2,2.5', '--param', 'adxMax=20,25', '--train', '3d', '--test', '2d', '--objective', 'net', '--funding', 'none'];
    const local = start([...wf, '--workers', '2', '--out', join(dir, 'wf-local.csv')]);
    expect(await local.exited, local.out.stderr).toBe(0);
    const w = start(['worker', '--queue', url, '--funding', 'none', '--concurrency', '2']);
    await until(() => w.out.stderr.includes('ready on'), 60_000, 'the worker');
    const q = start([...wf, '--queue', url, '--out', join(dir, 'wf-queue.csv')]);
    expect(await q.exited, q.out.stderr).toBe(0);
    expect(w.out.stderr).toMatch(/trial job \S+ started/);
    expect(readFileSync(join(dir, 'wf-queue.csv'), 'utf8')).toBe(readFileSync(join(dir, 'wf-local.csv'), 'utf8'));
    expect(q.out.stdout).toBe(local.out.stdout);
    expect(q.out.stdout).toMatch(/walkforward vwap-adx: \d+ windows/);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  }, 300_000);

  it('a worker whose data differ refuses the job, names the hashes and exits 2; a good worker then runs it', async () => {
    const bad = start(['worker', '--queue', url, '--funding', 'none', '--data', projectPath('data/klines/BTCUSDT-1m-2025-07-06_2025-07-17.csv')]);
    await until(() => bad.out.stderr.includes('ready on'), 60_000, 'the worker with other data');
    const q = start(['optimize', '--strategy', 'vwap-adx', '--param', 'bandK=2', '--funding', 'none', '--queue', url]);
    expect(await bad.exited).toBe(2);
    expect(bad.out.stderr).toMatch(/refusing trial job \S+: its data hash [0-9a-f]{16}… differs from this worker's [0-9a-f]{16}…/);
    const good = start(['worker', '--queue', url, '--funding', 'none']);
    expect(await q.exited, q.out.stderr).toBe(0);
    expect(q.out.stdout).toMatch(/trials 1 \(valid 1/);
    good.child.kill('SIGTERM');
    await good.exited;
  }, 300_000);
});
