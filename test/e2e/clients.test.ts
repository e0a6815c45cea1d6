// End to end with the real opencode, Copilot CLI, pi and Qwen Code (pinned
// devDependencies), headless, through mrs against the fake mistralrs (which
// refuses what mistral.rs's request types refuse). Protects
// each client's launch: its requests reach the local server with the served
// model id and the context and output it was told, the answer reaches stdout,
// a tool call runs, exit codes pass through, the user's own config files are
// byte-for-byte what they were, and nothing is left running.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { expectMinContextCovers } from '../helpers/tokens.js'
import { HEADLESS } from '../helpers/headless.js'

const MODEL = 'Qwen/Qwen3-4B'
/** The server's KV cache: 65536 tokens, so each client is told a 65536 window and an 8192 max output. */
const SIZED = { FAKE_MISTRALRS_PA_TOKENS: '65536' }

interface ClientCase {
  name: string
  /** Arguments for a one-shot prompt. */
  ask: (prompt: string) => string[]
  /** A user's own config files, which must still apply and stay unchanged. */
  userFiles: (sb: Sandbox) => Record<string, string>
  /** Proof that the user's own config applied: their instructions reached the model. */
  marker?: string
  /** What the client sends as its max output, found in a request body. */
  maxOutput: (body: Record<string, any>) => unknown
  /** The route it asks on (the API mrs gives it). */
  path: string
  /** A tool's result, as the next request carries it back (undefined: this request carries none). */
  toolResult: (body: Record<string, any>) => unknown
  /** Arguments the client rejects, and its exit code for them. */
  bad: { args: string[]; code: number }
  env?: Record<string, string>
}

/** Chat completions: a tool's result comes back as the last message, of role `tool`. */
const CHAT = { path: '/v1/chat/completions', toolResult: (body: Record<string, any>) => (body.messages.at(-1)?.role === 'tool' ? body.messages.at(-1).content : undefined) }

const CASES: ClientCase[] = [
  {
    name: 'opencode',
    ask: HEADLESS.opencode.ask,
    userFiles: (sb) => ({
      [join(sb.root, 'config', 'opencode', 'opencode.json')]: JSON.stringify({ $schema: 'https://opencode.ai/config.json', model: 'anthropic/claude-sonnet-4', instructions: [join(sb.work, 'RULES.md')] }, null, 2),
      [join(sb.work, 'RULES.md')]: 'USER-RULES-MARKER: answer briefly.\n',
    }),
    marker: 'USER-RULES-MARKER',
    maxOutput: (body) => body.max_tokens,
    ...CHAT,
    bad: { args: ['--no-such-opencode-flag'], code: 1 },
  },
  {
    name: 'copilot',
    ask: HEADLESS.copilot.ask,
    // settings.json: Copilot 1.0 moves user settings it finds in config.json there itself, on every run
    userFiles: (sb) => ({ [join(sb.home, '.copilot', 'settings.json')]: JSON.stringify({ banner: 'never' }, null, 2) }),
    maxOutput: (body) => body.max_tokens,
    ...CHAT,
    bad: { args: ['--no-such-copilot-flag'], code: 1 },
    env: HEADLESS.copilot.env,
  },
  {
    name: 'pi',
    ask: HEADLESS.pi.ask,
    userFiles: (sb) => ({
      [join(sb.home, '.pi', 'agent', 'settings.json')]: JSON.stringify({ theme: 'light', defaultProvider: 'openai', defaultModel: 'gpt-4o' }, null, 2),
      [join(sb.home, '.pi', 'agent', 'models.json')]: JSON.stringify({ providers: { theirs: { baseUrl: 'http://127.0.0.1:9/v1', api: 'openai-completions', apiKey: 'x', models: [{ id: 'their-model' }] } } }, null, 2),
      [join(sb.home, '.pi', 'agent', 'auth.json')]: '{}',
      [join(sb.home, '.pi', 'agent', 'AGENTS.md')]: 'USER-AGENTS-MARKER: answer briefly.\n',
    }),
    marker: 'USER-AGENTS-MARKER',
    maxOutput: (body) => body.max_tokens,
    ...CHAT,
    bad: { args: ['--no-such-pi-flag'], code: 1 },
  },
  {
    name: 'qwen',
    ask: HEADLESS.qwen.ask,
    userFiles: (sb) => ({ [join(sb.home, '.qwen', 'settings.json')]: JSON.stringify({ $version: 4, security: { auth: { selectedType: 'qwen-oauth' } }, ui: { theme: 'GitHub' } }, null, 2) }),
    maxOutput: (body) => body.max_tokens,
    // Anthropic Messages: mistral.rs's chat API refuses the tool results Qwen Code sends there
    path: '/v1/messages',
    toolResult: (body) => {
      const last = body.messages.at(-1)
      return Array.isArray(last?.content) ? last.content.find((b: { type: string }) => b.type === 'tool_result')?.content : undefined
    },
    bad: { args: ['--no-such-qwen-flag'], code: 1 },
  },
]

/** What the client asked the model, each request taken by the server (none refused, as the real one would). */
function asked(sb: Sandbox, c: ClientCase): Record<string, any>[] {
  const sent = sb.requests().filter((r) => r.path === c.path)
  expect(sent.filter((r) => r.rejected).map((r) => r.rejected)).toEqual([])
  return sent
}
/** The agent loop's first request: the one with the tools (a title or summary request carries none). */
const agentRequest = (sent: Record<string, any>[]) => sent.find((r) => Array.isArray(r.body.tools) && r.body.tools.length > 0)!

function seed(files: Record<string, string>): () => void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, text)
  }
  return () => {
    for (const [path, text] of Object.entries(files)) expect(readFileSync(path, 'utf8'), path).toBe(text)
  }
}

describe.each(CASES)('mrs $name with the real client', (c) => {
  it('answers from the local model, told its window and output, and leaves the user\'s files alone', async () => {
    await withSandbox({ clients: 'real', env: { ...SIZED, ...c.env } }, async (sb) => {
      const unchanged = seed(c.userFiles(sb))
      const result = await sb.run([c.name, '-m', MODEL, '--', ...c.ask('say hi')], { timeoutMs: 120_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('Hello from fake mistral.rs')
      const sent = asked(sb, c)
      expect(sent.length).toBeGreaterThan(0)
      // every request names the served model by its real id; the answer's max output is the one mrs sized for the window
      for (const r of sent) expect(r.body.model).toBe(MODEL)
      // the agent's request (it carries the tools), wherever it came among the others (a title, say)
      if (c.marker) expect(JSON.stringify(agentRequest(sent).body)).toContain(c.marker)
      expect(sent.some((r) => c.maxOutput(r.body) === 8192)).toBe(true)
      // below its minContext mrs warns before the start: that threshold must cover this real first request
      expectMinContextCovers(c.name, sent.map((r) => r.body))
      unchanged()
      await expectNoLeftovers(sb, 5000)
    })
  })

  it('runs a tool the model calls and answers with its output', async () => {
    await withSandbox({ clients: 'real', env: { ...SIZED, ...c.env } }, async (sb) => {
      const result = await sb.run([c.name, '-m', MODEL, '--', ...c.ask('RUN `echo mrs-tool-ok`')], { timeoutMs: 120_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/tool said: [\s\S]*mrs-tool-ok/)
      // the tool's output went back to the model in the next request (found by content: a title request may come last)
      const withResult = asked(sb, c).filter((r) => c.toolResult(r.body) !== undefined)
      expect(withResult.map((r) => JSON.stringify(c.toolResult(r.body)))).toEqual([expect.stringContaining('mrs-tool-ok')])
      await expectNoLeftovers(sb, 5000)
    })
  })

  it('passes the client\'s exit code through', async () => {
    await withSandbox({ clients: 'real', env: c.env ?? {} }, async (sb) => {
      const result = await sb.run([c.name, '-m', MODEL, '--', ...c.bad.args], { timeoutMs: 120_000 })
      expect(result.code).toBe(c.bad.code)
      await expectNoLeftovers(sb, 5000)
    })
  })

  it('prints its own help at once, with no model and no server', async () => {
    await withSandbox({ clients: 'real', env: c.env ?? {} }, async (sb) => {
      const result = await sb.run([c.name, '--', '--help'], { timeoutMs: 60_000 })
      expect(result.code).toBe(0)
      expect(`${result.stdout}${result.stderr}`).toMatch(/usage|Usage|USAGE/)
      expect(sb.serverPids()).toEqual([])
    })
  })
})
