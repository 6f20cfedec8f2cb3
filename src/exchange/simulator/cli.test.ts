/** `perpbot simulator` through commander, as main.ts will wire it. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { USDMClient } from 'binance';
import { ConfigError } from '../../core/errors.ts';
import { projectPath } from '../../core/paths.ts';
import { simulatorCommand, simulatorOptionsFromFlags } from './cli.ts';
import type { Simulator } from './server.ts';

const AVAX = projectPath('src', 'market', 'fixtures', 'AVAXUSDT-1m-2025-02-head.csv');

describe('perpbot simulator', () => {
  it('starts, prints the URL, key pair and admin endpoints, serves the library, and stops on abort', async () => {
    const program = new Command().exitOverride();
    const stop = new AbortController();
    let out = '';
    let sim: Simulator | undefined;
    const started = new Promise<void>((resolve) => {
      simulatorCommand(program, {
        stop: stop.signal,
        out: (t) => (out += t),
        onStarted: (s) => {
          sim = s;
          resolve();
        },
      });
    });
    const run = program.parseAsync(['node', 'perpbot', 'simulator', '--port', '0', '--data', AVAX, '--paused', '--history', '20', '--api-key', 'k1', '--api-secret', 's1']);
    await started;
    expect(out).toContain(sim!.url);
    expect(out).toContain('api key    k1');
    expect(out).toContain('api secret s1');
    expect(out).toContain('POST /admin/drop-websockets');
    const c = new USDMClient({ api_key: 'k1', api_secret: 's1', baseUrl: sim!.url }, { proxy: false });
    expect((await c.getBalanceV3())[0]!.balance).toBe('10000');
    stop.abort();
    await run;
    await expect(fetch(`${sim!.url}/fapi/v1/ping`)).rejects.toThrow();
  });

  it('refuses bad flags with a ConfigError naming each one', () => {
    let e: unknown;
    try {
      simulatorOptionsFromFlags({ port: 'x', speed: '0', data: [], apiKey: 'k' });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    const issues = (e as ConfigError).issues.join('\n');
    for (const flag of ['--port', '--speed', '--data', '--api-key']) expect(issues).toContain(flag);
  });

  it('exits non-zero with a clear message when its port is taken (the real CLI in a child process)', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, [projectPath('bin', 'perpbot.js'), 'simulator', '--port', String(port), '--data', AVAX, '--paused', '--history', '20'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.stdout.resume();
      const code = await new Promise<number | null>((resolve) => {
        // generous: a loaded machine takes seconds to compile and start the CLI; a hang never ends
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 60_000);
        child.on('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
      });
      expect(code).toBe(2);
      expect(err).toContain(`port ${port}`);
      expect(err).toContain('already in use');
    } finally {
      blocker.close();
    }
  }, 70_000);
});
