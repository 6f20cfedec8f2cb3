/**
 * A V8 heap snapshot (`.heapsnapshot`, as written by `--heapsnapshot-signal` or
 * `v8.writeHeapSnapshot`) summed by constructor, as Chrome DevTools' "Summary" view groups it,
 * and two such summaries compared: what grew between them.
 */
import { readFileSync, statSync } from 'node:fs';

/** Objects of one constructor (or one kind: `(string)`, `(array)`, …) in a snapshot. */
export interface HeapGroup {
  count: number;
  /** Sum of the objects' own sizes, bytes. */
  selfBytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Node types grouped by their name (a constructor, a function); the others by their type. */
const BY_NAME = new Set(['object', 'closure', 'native', 'regexp']);

/**
 * Sum a heap snapshot file by constructor: objects by constructor name, closures by function
 * name, everything else by node type in parentheses (`(string)`, `(array)`, `(code)`, …).
 * @throws Error when the file is too large to read as one string (over 500 MB)
 */
export function summarizeHeapSnapshot(file: string): Map<string, HeapGroup> {
  const size = statSync(file).size;
  if (size > 500 * 2 ** 20) throw new Error(`${file}: ${(size / 2 ** 20).toFixed(0)} MB, too large to summarise here`);
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, HeapGroup>();
  const { nodes, strings } = snap;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const key = BY_NAME.has(type) ? `${type === 'closure' ? 'closure ' : ''}${strings[nodes[i + nameAt]!]}` : `(${type})`;
    const g = out.get(key) ?? { count: 0, selfBytes: 0 };
    g.count++;
    g.selfBytes += nodes[i + sizeAt]!;
    out.set(key, g);
  }
  return out;
}

/** One constructor's change between two summaries. */
export interface HeapDelta {
  name: string;
  countBefore: number;
  countAfter: number;
  /** Own sizes before and after, MB (2^20 bytes). */
  mbBefore: number;
  mbAfter: number;
}

/**
 * The constructors whose own size grew most from `before` to `after`, largest growth first.
 * @param top how many to return
 */
export function heapGrowth(before: Map<string, HeapGroup>, after: Map<string, HeapGroup>, top = 15): HeapDelta[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  const mb = (b: number) => b / 2 ** 20;
  return [...names]
    .map((name) => {
      const a = before.get(name) ?? { count: 0, selfBytes: 0 };
      const b = after.get(name) ?? { count: 0, selfBytes: 0 };
      return { name, countBefore: a.count, countAfter: b.count, mbBefore: mb(a.selfBytes), mbAfter: mb(b.selfBytes) };
    })
    .sort((x, y) => y.mbAfter - y.mbBefore - (x.mbAfter - x.mbBefore))
    .slice(0, top);
}

/** Total own size of a summary, MB (2^20 bytes). */
export function heapTotalMb(summary: Map<string, HeapGroup>): number {
  let s = 0;
  for (const g of summary.values()) s += g.selfBytes;
  return s / 2 ** 20;
}
