// End to end with the real Claude Code (pinned devDependency) through mrs
// against the fake mistralrs. Protects the routing: what Claude sends, to
// where, with which credentials, whatever the user's own settings say.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { expectMinContextCovers } from '../helpers/tokens.js'

const MODEL = 'Qwen/Qwen3-4B'
const OUTER = { ANTHROPIC_API_KEY: 'sk-ant-outer-key-must-not-leak', CLAUDE_CODE_USE_BEDROCK: '1' }

const messages = (sb: Sandbox) => sb.requests().filter((r) => r.path === '/v1/messages')

describe('mrs claude with the real Claude Code', () => {
  it('prints the local model\'s answer on stdout and routes every request to it', async () => {
    await withSandbox({ clients: 'real', env: OUTER }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--', '-p', 'say hi'])
      expect(result.code).toBe(0)
      // stdout is claude's alone: `> out.txt` captures just the answer
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      expect(result.stderr).toMatch(/mrs: mistral\.rs is ready at http:\/\/127\.0\.0\.1:\d+/)
      const sent = messages(sb)
      expect(sent.length).toBeGreaterThan(0)
      for (const r of sent) {
        // the model's real id, which mistral.rs serves under its own name too
        expect(r.body.model).toBe(MODEL)
        expect(r.headers.authorization).toBe('Bearer mrs-local')
        expect(r.headers['x-api-key']).toBeUndefined()
        expect(JSON.stringify(r)).not.toContain(OUTER.ANTHROPIC_API_KEY)
      }
      // WebSearch runs on the server; this one was started without it
      expect(sent[0]!.body.tools.map((t: { name: string }) => t.name)).not.toContain('WebSearch')
      await expectNoLeftovers(sb)
    })
  })

  it('leaves stdin to claude: a piped prompt reaches it', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL, '--', '-p'], { stdin: 'pipe' })
      mrs.child.stdin!.end('RUN `echo from-stdin`')
      const result = await mrs.done()
      expect(result.code).toBe(0)
      // the fake answered the piped prompt with a tool call; claude, not allowed to run it, answered on
      const user = messages(sb)[0]!.body.messages.find((m: { role: string }) => m.role === 'user')
      expect(JSON.stringify(user.content)).toContain('RUN `echo from-stdin`')
    })
  })

  it('completes a tool round trip: Bash tool_use, then the tool_result in the next request', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--', '--allowedTools', 'Bash', '-p', 'RUN `echo mrs-tool-ok`'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('tool said: mrs-tool-ok\n')
      // the request that carries the result, found by content (a title or summary request may come after it)
      const results = messages(sb).flatMap((r) => r.body.messages.flatMap((m: { content: unknown }) => (Array.isArray(m.content) ? m.content : [])).filter((b: { type: string }) => b.type === 'tool_result'))
      expect(results.length).toBeGreaterThan(0)
      expect(JSON.stringify(results.at(-1).content)).toContain('mrs-tool-ok')
    })
  })

  it('keeps routing when the user\'s settings.json points Claude elsewhere, and leaves the file alone', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const userSettings = JSON.stringify({ env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_MODEL: 'claude-opus-4' } }, null, 2)
      const file = join(sb.claudeDir, 'settings.json')
      writeFileSync(file, userSettings)
      const result = await sb.run(['claude', '-m', MODEL, '--', '-p', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      expect(messages(sb)[0]!.body.model).toBe(MODEL)
      expect(readFileSync(file, 'utf8')).toBe(userSettings)
    })
  })

  it('tells Claude the window the server holds and a max output to match (CLAUDE_CODE_MAX_CONTEXT_TOKENS, _MAX_OUTPUT_TOKENS)', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_PA_TOKENS: '65536' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--', '-p', 'say hi', '--output-format', 'json'])
      expect(result.code).toBe(0)
      // Claude reports the window it works with; it sent the max output it was given
      expect(JSON.parse(result.stdout).modelUsage[MODEL].contextWindow).toBe(65536)
      expect(messages(sb)[0]!.body.max_tokens).toBe(8192)
      // below its minContext mrs warns before the start: that threshold must cover this real first request
      expectMinContextCovers('claude', messages(sb).map((r) => r.body))
    })
  })

  it('merges the user\'s own --settings file instead of dropping it, and keeps its contents out of every command line', async () => {
    await withSandbox({ clients: 'fake', env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const file = join(sb.work, 'secret-settings.json')
      writeFileSync(file, JSON.stringify({ env: { MY_SERVICE_TOKEN: 'tok-9f8e7d6c5b' } }), { mode: 0o600 })
      const mrs = sb.start(['claude', '-m', MODEL, '--settings', file])
      await waitFor(() => sb.clientPids().length > 0, 15_000, 'the client to start')
      // every process of the session: mrs, its keeper, the server, the client
      for (const pid of sb.leftovers()) {
        let cmdline = ''
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        } catch {
          continue
        }
        expect(cmdline, `pid ${pid}`).not.toContain('tok-9f8e7d6c5b')
      }
      const settingsArg = sb.clientLines().filter((l) => l.startsWith('arg '))[1]!.slice(4)
      expect(readFileSync(settingsArg, 'utf8')).toContain('tok-9f8e7d6c5b')
      expect(statSync(settingsArg).mode & 0o777).toBe(0o600)
      mrs.kill('SIGTERM')
      await mrs.done()
    })
  })

  it('merges the user\'s own --settings file instead of dropping it', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const file = join(sb.work, 'my-settings.json')
      writeFileSync(file, JSON.stringify({ env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' }, permissions: { deny: ['WebFetch'] } }))
      const result = await sb.run(['claude', '-m', MODEL, '--settings', file, '-p', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      const tools = messages(sb)[0]!.body.tools.map((t: { name: string }) => t.name)
      // the user's deny and ours both hold
      expect(tools).not.toContain('WebFetch')
      expect(tools).not.toContain('WebSearch')
    })
  })

  it('offers WebSearch when the server runs web search', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--web-search', '--', '-p', 'say hi'])
      expect(result.code).toBe(0)
      expect(sb.records().find((r) => r.event === 'start')!.argv).toContain('--enable-search')
      expect(messages(sb)[0]!.body.tools.map((t: { name: string }) => t.name)).toContain('WebSearch')
    })
  })

  it('passes claude\'s exit code through', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--', '--no-such-claude-flag'])
      expect(result.stderr).toMatch(/unknown option '--no-such-claude-flag'/)
      expect(result.code).toBe(1)
      await expectNoLeftovers(sb)
    })
  })

  it('serves a --small-model beside the main one and maps Claude\'s haiku tier to it', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--small-model', 'Qwen/Qwen3-0.6B', '--', '-p', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      const start = sb.records().find((r) => r.event === 'start')!
      expect(start.argv.slice(0, 2)).toEqual(['from-config', '-f'])
      // the generated TOML lived in a private temp dir, removed with the server
      await expectNoLeftovers(sb)
      expect(existsSync(start.argv[2])).toBe(false)
      expect(messages(sb).every((r) => [MODEL, 'Qwen/Qwen3-0.6B'].includes(r.body.model))).toBe(true)
      expect(messages(sb).some((r) => r.body.model === MODEL)).toBe(true)
    })
  })

  it('says how to install claude when it is missing, and starts no server (exit 127)', async () => {
    await withSandbox({ clients: 'none' }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(127)
      expect(result.stderr).toMatch(/claude not found on PATH; install it: npm install -g @anthropic-ai\/claude-code/)
      expect(sb.serverPids()).toEqual([])
    })
  })
})

describe('mrs env claude', () => {
  it('prints export lines for a server the user runs', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['env', 'claude', '--url', 'http://gpu-box:1234'])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain('export ANTHROPIC_BASE_URL=http://gpu-box:1234\n')
      expect(result.stdout).toContain("export ANTHROPIC_API_KEY=''\n")
      expect(result.stdout).toContain('export ANTHROPIC_MODEL=default\n')
      expect(result.stdout).toContain('unset CLAUDE_CODE_USE_BEDROCK CLAUDE_CODE_USE_VERTEX CLAUDE_CODE_USE_FOUNDRY CLAUDE_CODE_USE_ANTHROPIC_AWS CLAUDE_CODE_USE_MANTLE CLAUDE_CODE_USE_GATEWAY\n')
    })
  })
  it('prints a settings.json snippet with --json, and refers to a key by name only', async () => {
    await withSandbox({ env: { MY_KEY: 'sekret' } }, async (sb) => {
      const json = await sb.run(['env', 'claude', '--url', 'http://gpu:1', '--json'])
      expect(JSON.parse(json.stdout)).toMatchObject({ env: { ANTHROPIC_BASE_URL: 'http://gpu:1', ANTHROPIC_AUTH_TOKEN: 'mrs-local' }, permissions: { deny: ['WebSearch'] } })
      const keyed = await sb.run(['env', 'claude', '--url', 'http://gpu:1', '--api-key-env', 'MY_KEY'])
      expect(keyed.stdout).toContain('export ANTHROPIC_AUTH_TOKEN="$MY_KEY"')
      expect(keyed.stdout).not.toContain('sekret')
    })
  })
})
