// Every new session reuses the server's prefix cache: with the pinned real
// clients, headless, on one shared server (the fake mistral.rs, which renders
// each prompt through a chat template and keeps a prefix cache like
// mistral.rs's). Protects, per client: that two sessions in the same project —
// with an edit and a commit between them — send the same bytes before the
// first user message (the figure the README states; Copilot CLI names a
// per-session directory in its system prompt, so a new Copilot version that
// changes its share shows here), that the server's cache then serves the
// second one, and that within a session each request extends the one before.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { HEADLESS } from '../helpers/headless.js'
import { project, session, sharedBeforeUser, work } from '../helpers/prefix.js'

const MODEL = 'Qwen/Qwen3-4B'

/** The user's own pi files that pi names by path in its prompt: a global AGENTS.md and a skill. */
function piUserFiles(sb: Sandbox): void {
  const dir = join(sb.home, '.pi', 'agent')
  mkdirSync(join(dir, 'skills', 'demo'), { recursive: true })
  writeFileSync(join(dir, 'AGENTS.md'), 'Always answer in English.\n')
  writeFileSync(join(dir, 'skills', 'demo', 'SKILL.md'), '---\nname: demo\ndescription: A demo skill that says hello.\n---\n\nSay hello.\n')
}

const CASES: { client: keyof typeof HEADLESS; shared: number; setup?: (sb: Sandbox) => void }[] = [
  { client: 'claude', shared: 100 },
  { client: 'codex', shared: 100 },
  { client: 'opencode', shared: 100 },
  // its system prompt names ~/.copilot/session-state/<a new uuid>: what comes before it is shared
  { client: 'copilot', shared: 42.2 },
  { client: 'pi', shared: 100, setup: piUserFiles },
  { client: 'qwen', shared: 100 },
]

describe.each(CASES)('mrs $client: the server\'s prefix cache', ({ client, shared, setup }) => {
  it(`two sessions share ${shared} % of what comes before the first user message; the second is served from the cache; a session's requests extend each other`, { timeout: 240_000 }, async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_RECORD_PROMPT: '1', ...HEADLESS[client].env } }, async (sb) => {
      project(sb)
      setup?.(sb)
      const serve = sb.start(['serve', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/, 30_000)
      // the first session of a fresh home sets things up (state files, caches): the next ones are the everyday case
      await session(sb, client, 'hello')
      const [a] = await session(sb, client, 'hello there')
      work(sb, 1)
      const [b] = await session(sb, client, 'what is 2+2')
      expect(a && b, 'each session sends a request with its tools').toBeTruthy()
      const figure = sharedBeforeUser(a!, b!)
      if (shared === 100) expect(figure).toBe(100)
      else expect(figure).toBeCloseTo(shared, 0)
      // the server reused what the two share, in whole 32-token blocks
      expect(b!.cachedTokens).toBeGreaterThanOrEqual(Math.floor((a!.preUser * figure) / 100 / 4) - 32)

      // a session with a tool call: each request is the one before it, and more
      const turns = await session(sb, client, 'RUN `echo mrs-prefix-ok`')
      expect(turns.length).toBeGreaterThanOrEqual(2)
      for (let i = 1; i < turns.length; i++) expect(turns[i]!.text.startsWith(turns[i - 1]!.text), `request ${i} extends request ${i - 1}`).toBe(true)
      expect(turns.at(-1)!.cachedTokens).toBeGreaterThanOrEqual(Math.floor(turns.at(-2)!.tokens / 32) * 32 - 32)

      serve.kill('SIGTERM')
      await serve.done(20_000)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
