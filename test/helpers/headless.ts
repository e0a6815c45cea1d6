// Each real client asked one thing without its TUI, as its own docs say to,
// and what it needs to run in a test's sandbox.
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Copilot unpacks 235 MB on its first run in a cache dir: one shared between tests, outside every home. */
export const COPILOT_CACHE = join(tmpdir(), 'mrs-test-copilot-cache')

export interface Headless {
  /** The client's arguments for a one-shot prompt. */
  ask: (prompt: string) => string[]
  env?: Record<string, string>
}

export const HEADLESS: Record<'claude' | 'codex' | 'opencode' | 'copilot' | 'pi' | 'qwen', Headless> = {
  claude: { ask: (prompt) => ['-p', prompt] },
  codex: { ask: (prompt) => ['--disable', 'plugins', 'exec', '--skip-git-repo-check', prompt] },
  opencode: { ask: (prompt) => ['run', prompt] },
  copilot: { ask: (prompt) => ['-p', prompt, '-s', '--allow-all-tools', '--no-ask-user'], env: { COPILOT_CACHE_HOME: COPILOT_CACHE } },
  pi: { ask: (prompt) => ['-p', prompt] },
  qwen: { ask: (prompt) => [prompt, '--approval-mode', 'yolo'] },
}
