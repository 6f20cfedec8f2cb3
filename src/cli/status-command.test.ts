import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStatusArgs, runStatus } from './status-command.ts';

describe('perpbot status (the command without the CLI)', () => {
  it('takes only its own options; anything else is left to the full CLI', () => {
    expect(parseStatusArgs([])).toEqual({});
    expect(parseStatusArgs(['--json', '--file', 'h.json', '--config=c.json'])).toEqual({ json: true, file: 'h.json', config: 'c.json' });
    expect(parseStatusArgs(['--help'])).toBeNull();
    expect(parseStatusArgs(['--file'])).toBeNull();
    expect(parseStatusArgs(['--file', '--json'])).toBeNull();
    expect(parseStatusArgs(['--file='])).toBeNull();
    expect(parseStatusArgs(['extra'])).toBeNull();
  });

  it('a config file that is not JSON is bad input (exit 2, the file named); a missing heartbeat is exit 3', () => {
    const dir = mkdtempSync(join(tmpdir(), 'perpbot-status-'));
    try {
      writeFileSync(join(dir, 'bad.json'), '{ not json');
      const err: string[] = [];
      expect(runStatus({ config: join(dir, 'bad.json') }, () => {}, (s) => err.push(s))).toBe(2);
      expect(err.join('')).toMatch(/bad\.json: not valid JSON/);
      err.length = 0;
      expect(runStatus({ file: join(dir, 'none.json') }, () => {}, (s) => err.push(s))).toBe(3);
      expect(err.join('')).toMatch(/^perpbot status: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
