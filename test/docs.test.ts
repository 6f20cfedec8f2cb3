/**
 * The documentation matches the code: every variable the configuration loader knows is in the
 * README's configuration table and in .env.example, and .env.example, uncommented, loads.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ENV_KEYS, loadConfig } from '../src/config/load.ts';
import { projectPath } from '../src/core/paths.ts';

const readme = readFileSync(projectPath('README.md'), 'utf8');
const example = readFileSync(projectPath('.env.example'), 'utf8');

describe('documentation', () => {
  it('the README configuration table names every variable and key', () => {
    const missing = Object.entries(ENV_KEYS).filter(([env, spec]) => !readme.includes(`\`${env}\``) || !readme.includes(spec.key));
    expect(missing.map(([env]) => env)).toEqual([]);
  });

  it('.env.example lists every variable, and uncommented it is a valid configuration', () => {
    const missing = Object.keys(ENV_KEYS).filter((env) => !example.includes(`${env}=`));
    expect(missing).toEqual([]);
    const uncommented = example
      .split('\n')
      .filter((l) => /^# [A-Z_]+=./.test(l))
      .map((l) => l.slice(2))
      .join('\n');
    const env = parseEnv(uncommented) as Record<string, string>;
    expect(Object.keys(env).length).toBeGreaterThan(30);
    expect(() => loadConfig({ env, dotenvFile: null })).not.toThrow();
  });
});
