import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Property tests run many cases; keep a generous per-test budget.
    testTimeout: 60_000,
    pool: 'threads',
  },
});
