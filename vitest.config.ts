import { defineConfig } from 'vitest/config';

/**
 * The harness's own tests. Unit tests sit beside the code (src/**\/*.test.ts);
 * end-to-end tests (test/e2e) drive the real CLI with real CRIU as root.
 * The conformance suites in suites/ are not run from here: `criu-compat run`
 * runs them with a plan of pools (see src/runner/run.ts).
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          pool: 'threads',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          setupFiles: ['test/e2e/setup.ts'],
          pool: 'forks',
          // One CLI run at a time: they share the machine's two cores and the image cache.
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
      {
        // Real runs whose ground is covered in CI by shorter ones (TCG VMs, minutes each): `npm run test:slow`.
        test: {
          name: 'e2e-slow',
          include: ['test/e2e-slow/**/*.test.ts'],
          setupFiles: ['test/e2e/setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 1_800_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
