#!/usr/bin/env node
// perpbot's command line. Runs the compiled bundle dist/perpbot.js (built by `npm ci` through
// `prepare`, or `npm run build`) when it exists; otherwise, or with PERPBOT_FROM_SOURCE=1, the
// TypeScript sources through tsx (slower to start: ~1 s more).
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node ≥ 22.1 caches compiled code between runs (faster `perpbot status`); a no-op on Node 20.
module.enableCompileCache?.();

const dist = new URL('../dist/perpbot.js', import.meta.url);
const fromDist = process.env.PERPBOT_FROM_SOURCE !== '1' && existsSync(dist);
// `perpbot status` (polled by monitors and the Docker HEALTHCHECK) runs without loading the CLI
// when its arguments are only its own; anything else (--help…) goes to the CLI below.
let code = null;
if (fromDist && process.argv[2] === 'status') {
  const { fastStatus } = await import(new URL('../dist/status.js', import.meta.url).href);
  code = fastStatus(process.argv.slice(3));
}
if (code !== null) {
  process.exitCode = code;
} else if (fromDist) {
  await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
