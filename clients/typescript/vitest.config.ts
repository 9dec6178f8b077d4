import { defineConfig } from 'vitest/config';

// `npm test -w @nksip/sipapp` (or `npx vitest run --root clients/typescript` from the repo root).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
