/**
 * A trial worker thread: builds its {@link TrialContext} once from `workerData` (parses the kline
 * files once, keeps them for all its trials), then runs one trial per `run` message, one at a
 * time, and answers `{ id, ok, outcome }` or `{ id, ok: false, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../core/errors.ts';
import { loadTrialContext, runTrial, type TrialContextSpec, type TrialSpec } from './trial.ts';
import { loadStrategyModules } from '../../strategies/loader.ts';

const spec = workerData as TrialContextSpec;
await loadStrategyModules(spec.config.strategies);
const ctx = loadTrialContext(spec);
const port = parentPort;
if (!port) throw new Error('trial-thread.ts runs as a worker thread');
port.on('message', (m: { id: number; spec: TrialSpec }) => {
  runTrial(ctx, m.spec).then(
    (outcome) => port.postMessage({ id: m.id, ok: true, outcome }),
    (err: unknown) => port.postMessage({ id: m.id, ok: false, error: errorMessage(err) }),
  );
});
port.postMessage({ ready: true });
