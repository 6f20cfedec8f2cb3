#!/usr/bin/env node
// Compile perpbot to dist/ with esbuild (run by `npm ci`/`npm install` through `prepare`, and by
// the test suite's global setup, so tests never run a stale build).
//
// Why esbuild and not tsc: the sources import each other with `.ts` extensions and are checked
// by `tsc --noEmit` (npm test); esbuild bundles them in ~1 s into a few ES module files, so
// `perpbot status` loads 3 files instead of resolving hundreds, and code splitting keeps the
// heavy parts (the kernel, the Binance connector, the simulator, SQLite) out of the commands
// that do not need them. A few pure-JavaScript packages every command loads are bundled too
// (BUNDLED below); every other package stays in node_modules: native better-sqlite3 and pino's
// worker-thread transports load from there as they do from source.
//
// Layout: dist/perpbot.js (the CLI), dist/status.js (`perpbot status` without the CLI, run by
// bin/perpbot.js), dist/writer-worker.js (the database writer thread, found by
// database/writer-thread.ts beside the bundle), dist/trial-thread.js (an optimiser trial thread,
// found by src/research/pool.ts the same way), dist/chunk-*.js (shared code, loaded on demand).
// Paths to project files (database/migrations, data/, status/, logs/) are found from the
// nearest package.json above the running file (src/core/paths.ts), so they are the same from
// the sources and from dist/.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Pure-JavaScript packages every command loads, bundled into dist/ rather than loaded from
 * node_modules: Node's ES module loader resolves, stats, reads and compiles each of their files
 * one by one (zod and drizzle-orm alone are dozens), which was about a third of `perpbot run`'s
 * start-up. Every other package stays in node_modules (native better-sqlite3; pino, whose
 * transports run in worker threads that load pino-pretty and pino-roll by name; and the packages
 * only some commands load).
 */
const BUNDLED = new Set(['zod', 'drizzle-orm', 'commander', 'decimal.js', 'csv-parse', 'trading-signals']);

/** esbuild plugin: bare imports are external unless their package is in {@link BUNDLED}. */
const externalExceptBundled = {
  name: 'external-except-bundled',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const parts = args.path.split('/');
      const pkg = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return BUNDLED.has(pkg) ? undefined : { path: args.path, external: true };
    });
  },
};

/**
 * Build dist/ (or `outdir`) afresh.
 * @param {string} [outdir] absolute output folder, default <project>/dist
 * @returns {Promise<void>}
 * @throws esbuild's error when a source does not compile
 */
export async function buildDist(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
  absWorkingDir: root,
  entryPoints: { perpbot: 'src/cli/main.ts', status: 'src/cli/status-main.ts', 'writer-worker': 'database/writer-worker.ts', 'trial-thread': 'src/research/trial-thread.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  plugins: [externalExceptBundled],
  sourcemap: 'linked',
  logLevel: 'warning',
  // Some dependencies are CommonJS and use require(): give the ES module bundle one.
  banner: { js: "import { createRequire as __perpbotCreateRequire } from 'node:module'; const require = __perpbotCreateRequire(import.meta.url);" },
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildDist();
