import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{src,strategies,executor,database,dashboard,test}/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Builds dist/ from the current sources first: spawned CLIs never run a stale build.
    globalSetup: ['test/global-setup.ts'],
  },
});
