/**
 * The Binance-compatible simulator in its own process, for benches that measure the bot alone:
 * with the simulator on the bot's event loop, its own work (frames, matching, REST answers)
 * would be counted as the bot's latency. Binance is another machine; here it is another
 * process, driven over IPC (the same calls as the in-process `Simulator`, made asynchronous).
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { projectPath } from '../../src/core/paths.ts';
import type { SimulatorOptions, SimulatorState } from '../../src/exchange/simulator/types.ts';

/** A simulator child process. */
export interface SimulatorProcess {
  readonly url: string;
  readonly wsUrl: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  /** Play until `n` more klines have closed. @returns how many closed */
  advance(n: number): Promise<number>;
  /** Play `n` sub-steps. @returns how many were played */
  step(n: number): Promise<number>;
  /** Snapshot (GET /admin/state). */
  state(): Promise<SimulatorState>;
  /** Close the simulator and end the process. */
  close(): Promise<void>;
}

/** How the simulator's process runs (not the simulator's own options). */
export interface SimulatorProcessOptions {
  /**
   * Scheduling priority of the child (`os.setPriority`, -20..19; default 0, as the bench's own
   * process). A positive value lets the bot's threads run first when both want a core, as when
   * the exchange is another machine.
   */
  nice?: number;
}

/**
 * Fork `bench/helpers/sim-child.ts` and start a simulator there with `options` (JSON-serialisable).
 * @throws Error when the simulator cannot start (the child's message)
 */
export async function startSimulatorProcess(options: SimulatorOptions, processOptions: SimulatorProcessOptions = {}): Promise<SimulatorProcess> {
  const child = fork(projectPath('bin/run-ts.js'), [projectPath('bench/helpers/sim-child.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (processOptions.nice !== undefined && child.pid !== undefined) setPriority(child.pid, processOptions.nice);
  let seq = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: { id: number; value?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(`simulator process: ${m.error}`));
    else w?.resolve(m.value);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`simulator process exited (${code})`));
    waiting.clear();
  });
  const call = <T>(msg: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...msg, id });
    });
  const info = await call<{ url: string; wsUrl: string; apiKey: string; apiSecret: string }>({ op: 'start', options });
  return {
    ...info,
    advance: (n) => call<number>({ op: 'advance', n }),
    step: (n) => call<number>({ op: 'step', n }),
    state: () => call<SimulatorState>({ op: 'state' }),
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await call({ op: 'close' }).catch(() => undefined);
      await exited;
    },
  };
}
