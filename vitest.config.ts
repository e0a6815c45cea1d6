import { defineConfig } from 'vitest/config'

/** Where a test that forgets to make its own HOME would look: nothing there, and nothing can be written. */
const NO_HOME = '/nonexistent/mrs-test-home'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // end-to-end tests spawn servers and real clients: two cores, so not too many at once
    maxWorkers: 2,
    env: {
      // never read or write the developer's real config, caches or clients' homes: each sandbox makes its own
      MRS_CONFIG: '/nonexistent/mrs-test-config.toml',
      HOME: NO_HOME,
      XDG_CONFIG_HOME: `${NO_HOME}/.config`,
      XDG_CACHE_HOME: `${NO_HOME}/.cache`,
      XDG_STATE_HOME: `${NO_HOME}/.local/state`,
      XDG_DATA_HOME: `${NO_HOME}/.local/share`,
      CODEX_HOME: `${NO_HOME}/.codex`,
      CLAUDE_CONFIG_DIR: `${NO_HOME}/.claude`,
      HF_HOME: `${NO_HOME}/.cache/huggingface`,
    },
  },
})
