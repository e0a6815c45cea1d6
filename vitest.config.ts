import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // end-to-end tests spawn servers and real clients: two cores, so not too many at once
    maxWorkers: 2,
    env: {
      // never read the developer's real config
      MRS_CONFIG: '/nonexistent/mrs-test-config.toml',
    },
  },
})
