// The fake mistralrs refuses what the real server refuses, and the six pinned
// clients send only what it takes. Each real client asks for a tool through
// mrs; every request it sends must pass the real server's request types and
// handler checks (test/fixtures/mistralrs/requests.mjs, read from
// mistralrs-server-core at v0.9.2). And the controls: what the real server
// is known to refuse — Codex's own catalog entry (a `custom` apply_patch tool,
// `tool_search`), Qwen Code's chat tool results — is refused here too, so
// these tests can fail.
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { HEADLESS } from '../helpers/headless.js'
import { waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'
const CLIENTS = ['claude', 'codex', 'opencode', 'copilot', 'pi', 'qwen'] as const
const ASKING = new Set(['/v1/messages', '/v1/responses', '/v1/chat/completions'])

/** The requests that asked the model something. */
const asked = (sb: Sandbox) => sb.requests().filter((r) => ASKING.has(r.path))

describe.each(CLIENTS)('mrs %s: every request the real client sends is one mistral.rs takes', (client) => {
  it('a prompt that calls a tool, then the answer to its result', async () => {
    await withSandbox({ clients: 'real', env: HEADLESS[client].env ?? {} }, async (sb) => {
      const result = await sb.run([client, '-m', MODEL, '--', ...HEADLESS[client].ask('RUN `echo mrs-fidelity-ok`')], { timeoutMs: 120_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/tool said: [\s\S]*mrs-fidelity-ok/)
      const sent = asked(sb)
      // the first request, the one with the tool's result, and whatever the client adds (a title)
      expect(sent.length).toBeGreaterThanOrEqual(2)
      expect(sent.map((r) => r.rejected).filter(Boolean)).toEqual([])
    })
  })
})

/**
 * Runs a real client directly (not through mrs) against a fake server mrs serves, until the server refuses a
 * request or the client ends (its own retries of a refused request are not waited for), and returns the refusals.
 */
async function direct(sb: Sandbox, argv: string[], env: Record<string, string>): Promise<Record<string, any>[]> {
  const serve = sb.start(['serve', '-m', MODEL, '-p', '45177'])
  await serve.waitForStderr(/Press Ctrl-C to stop/)
  try {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...sb.env, ...env }, cwd: sb.work, stdio: 'ignore', detached: true })
    const ended = new Promise<void>((resolve) => child.on('close', () => resolve()))
    await Promise.race([ended, waitFor(() => asked(sb).some((r) => r.rejected), 50_000, 'a refused request')])
    // the client and whatever it started (Codex's native binary) go with its process group
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // ended already
    }
    await ended
  } finally {
    serve.kill('SIGINT')
    await serve.done()
  }
  return asked(sb).filter((r) => r.rejected)
}

describe('the fake refuses what the real server refuses', () => {
  it("Codex with its own catalog entry (gpt-5.5): its custom apply_patch tool fails the request with 422 at tools[3]", async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const refused = await direct(
        sb,
        [join(sb.root, 'bin', 'codex'), '-c', 'model_provider="m"', '-c', 'model="gpt-5.5"', '-c', 'model_providers.m.name="m"', '-c', 'model_providers.m.base_url="http://127.0.0.1:45177/v1"', '-c', 'model_providers.m.wire_api="responses"', '-c', 'model_providers.m.request_max_retries=0', '-c', 'model_providers.m.stream_max_retries=0', '-c', 'web_search="disabled"', '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi'],
        {},
      )
      expect(refused[0]!.rejected).toMatchObject({ status: 422, stage: 'deserialize' })
      expect(refused[0]!.rejected.message).toMatch(/^Failed to deserialize the JSON body into the target type: tools\[3\]: data did not match any variant of untagged enum OpenAiTool at line 1 column \d+$/)
      expect(refused[0]!.body.tools[3]).toMatchObject({ type: 'custom', name: 'apply_patch' })
    })
  })

  it("Qwen Code over chat completions: its tool result (content parts on a tool message) fails with 500", async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const settings = join(sb.root, 'qwen-openai.json')
      writeFileSync(settings, JSON.stringify({ $version: 4, security: { auth: { selectedType: 'openai' } }, model: { name: MODEL }, privacy: { usageStatisticsEnabled: false }, general: { enableAutoUpdate: false } }))
      const refused = await direct(sb, [join(sb.root, 'bin', 'qwen'), 'RUN `echo x`', '--approval-mode', 'yolo'], {
        QWEN_CODE_SYSTEM_SETTINGS_PATH: settings,
        OPENAI_BASE_URL: 'http://127.0.0.1:45177/v1',
        OPENAI_API_KEY: 'x',
        OPENAI_MODEL: MODEL,
      })
      expect(refused.length).toBeGreaterThan(0)
      expect(refused[0]!.rejected).toEqual({ status: 500, stage: 'handler', message: 'Role for an image message must be `user`, but it is tool' })
    })
  })
})
