/**
 * The simulator in a child process of a bench (see ./sim-process.ts): started with the options
 * of the first IPC message, then answers `advance`, `step`, `state` and `close` requests.
 */
import { startSimulator, type Simulator } from '../../src/exchange/simulator/server.ts';
import type { SimulatorOptions } from '../../src/exchange/simulator/types.ts';

type Request = { id: number; op: 'start'; options: SimulatorOptions } | { id: number; op: 'advance' | 'step'; n: number } | { id: number; op: 'state' | 'close' };

let sim: Simulator | null = null;
process.on('message', (m: Request) => {
  void (async () => {
    try {
      let value: unknown = null;
      if (m.op === 'start') {
        sim = await startSimulator(m.options);
        value = { url: sim.url, wsUrl: sim.wsUrl, apiKey: sim.apiKey, apiSecret: sim.apiSecret };
      } else if (m.op === 'advance') value = sim!.advance(m.n);
      else if (m.op === 'step') value = sim!.step(m.n);
      else if (m.op === 'state') value = sim!.state();
      else {
        await sim?.close();
        process.send!({ id: m.id, value: null }, () => process.exit(0));
        return;
      }
      process.send!({ id: m.id, value });
    } catch (err) {
      process.send!({ id: m.id, error: err instanceof Error ? err.message : String(err) });
    }
  })();
});
