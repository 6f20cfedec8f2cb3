import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { collectGarbage } from './heap.ts';

describe('collectGarbage', () => {
  it('runs a full collection through the in-process inspector: the garbage goes, the live data stays; one info line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
    const kept = new Array(1000).fill(0).map((_, i) => ({ i }));
    let garbage: unknown[] | null = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
    expect(garbage.length).toBe(300_000);
    garbage = null;
    await collectGarbage(log, 'the test');
    expect(kept[999]!.i).toBe(999);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line.msg).toBe('garbage collected after the test');
    const [before, after] = line.heapUsedMb as [number, number];
    expect(before - after).toBeGreaterThan(10); // ~20 MB of garbage objects were given back
    expect(line.level).toBe(30);
  });
});
