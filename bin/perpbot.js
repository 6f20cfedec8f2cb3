#!/usr/bin/env node
// perpbot's command line. Runs the compiled bundle dist/perpbot.js (built by `npm ci` through
// `prepare`, or `npm run build`) when it exists; otherwise, or with PERPBOT_FROM_SOURCE=1, the
// TypeScript sources through tsx (slower to start: ~1 s more).
import { existsSync } from 'node:fs';

const dist = new URL('../dist/perpbot.js', import.meta.url);
if (process.env.PERPBOT_FROM_SOURCE !== '1' && existsSync(dist)) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
