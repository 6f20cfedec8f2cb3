/**
 * vitest global setup: compile dist/ from the current sources before any test runs, so the tests
 * that spawn the CLI (`node bin/perpbot.js`, which runs dist/perpbot.js) never test a stale build.
 */
// @ts-expect-error -- a plain ES module script without type declarations
import { buildDist } from '../scripts/build.mjs';

/** Build dist/ (≈1 s). */
export default async function setup(): Promise<void> {
  await (buildDist as () => Promise<void>)();
}
