/** Many symbols from one folder or one symbols file, each distinct file read once (issue #9). */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PerpbotError } from '../../core/errors.ts';
import { projectPath } from '../../core/paths.ts';
import { readKlineCsv } from '../../market/kline-csv.ts';
import { collectSpecs, loadSpecs } from './data-specs.ts';
import { simulatorOptionsFromFlags } from './cli.ts';
import { startSimulator, type Simulator } from './server.ts';

const AVAX = projectPath('src', 'market', 'fixtures', 'AVAXUSDT-1m-2025-02-head.csv');
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sim-specs-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('simulator data from a folder or a symbols file', () => {
  it('a symbols file maps several symbols to one file, read once and shared, each symbol trading on its own', async () => {
    const dir = tempDir();
    copyFileSync(AVAX, join(dir, 'prices.csv'));
    writeFileSync(join(dir, 'symbols.txt'), '# three symbols, one file\nAVAXUSDT=prices.csv\nXRPUSDT = prices.csv\n\nDOGEUSDT=prices.csv\n');
    const specs = collectSpecs([], undefined, join(dir, 'symbols.txt'));
    expect(specs.map((s) => s.symbol)).toEqual(['AVAXUSDT', 'XRPUSDT', 'DOGEUSDT']);
    const loaded = loadSpecs(specs);
    expect(loaded.get('XRPUSDT')).toBe(loaded.get('AVAXUSDT')); // one array, not three copies

    const sim: Simulator = await startSimulator({ data: [], symbolsFile: join(dir, 'symbols.txt'), paused: true, history: 10, fundingDir: null });
    cleanup.push(() => sim.close());
    expect(sim.symbols).toEqual(['AVAXUSDT', 'XRPUSDT', 'DOGEUSDT']);
    const rows = await (await fetch(`${sim.url}/fapi/v1/klines?symbol=XRPUSDT&interval=1m&limit=3`)).json();
    const avaxRows = await (await fetch(`${sim.url}/fapi/v1/klines?symbol=AVAXUSDT&interval=1m&limit=3`)).json();
    expect(rows).toEqual(avaxRows);
    // kline frames carry each symbol's own name
    const ws = new WebSocket(`${sim.wsUrl}/stream?streams=xrpusdt@kline_1m/dogeusdt@kline_1m`);
    cleanup.push(() => ws.terminate());
    const frames: { stream: string; data: { s: string; k: { s: string; o: string } } }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as (typeof frames)[number]));
    await new Promise((r) => ws.once('open', r));
    sim.step(1);
    const end = Date.now() + 10_000;
    while (frames.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(frames.map((f) => [f.stream, f.data.s, f.data.k.s]).sort()).toEqual([
      ['dogeusdt@kline_1m', 'DOGEUSDT', 'DOGEUSDT'],
      ['xrpusdt@kline_1m', 'XRPUSDT', 'XRPUSDT'],
    ]);
    expect(frames[0]!.data.k.o).toBe(readKlineCsv(AVAX, 'AVAXUSDT').klines[10]!.open);
    // positions are per symbol even though the prices are shared
    sim.engine.submit({ clientOrderId: 'x1', symbol: 'XRPUSDT', side: 'BUY', type: 'MARKET', quantity: '1', reduceOnly: false, strategyId: 't', refPrice: '34', createdAt: sim.dataTime() }, sim.dataTime() + 1);
    sim.advance(1);
    expect(sim.state().positions.map((p) => [p.symbol, p.positionAmt])).toEqual([['XRPUSDT', '1']]);
  });

  it('a data folder gives one symbol per Binance-named file; unknown symbols and bad lines are refused', async () => {
    const dir = tempDir();
    copyFileSync(AVAX, join(dir, 'AVAXUSDT-1m-2025-02.csv'));
    copyFileSync(AVAX, join(dir, 'ETHUSDT-1m-2025-02.csv'));
    writeFileSync(join(dir, 'notes.txt'), 'not data');
    expect(collectSpecs([], dir).map((s) => s.symbol)).toEqual(['AVAXUSDT', 'ETHUSDT']);
    expect(simulatorOptionsFromFlags({ dataDir: dir })).toMatchObject({ data: [], dataDir: dir });

    const bad = join(dir, 'symbols.txt');
    writeFileSync(bad, 'NOTASYMBOLUSDT=AVAXUSDT-1m-2025-02.csv\n');
    const e = await startSimulator({ data: [], symbolsFile: bad, paused: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PerpbotError);
    expect((e as PerpbotError).code).toBe('SYMBOL_UNKNOWN');
    writeFileSync(bad, 'AVAXUSDT AVAXUSDT-1m-2025-02.csv\n');
    expect(() => collectSpecs([], undefined, bad)).toThrow(/line 1: expected SYMBOL=PATH/);
  });
});
