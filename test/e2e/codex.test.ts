// End to end with the real Codex CLI (pinned devDependency) through mrs
// against the fake mistralrs. Protects the injection (-c overrides and a
// catalog entry) and the promise that the user's CODEX_HOME is used but
// never changed.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { expectMinContextCovers } from '../helpers/tokens.js'

const MODEL = 'Qwen/Qwen3-4B'
/** Keeps Codex's traffic on loopback (plugins would `git ls-remote` a public host). */
const EXEC = ['--disable', 'plugins', 'exec', '--skip-git-repo-check']

const responses = (sb: Sandbox) => sb.requests().filter((r) => r.path === '/v1/responses')
/** A shell command that adds FILE with one line, in apply_patch's own format. */
const PATCH = (file: string, line: string) => `apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: ${file}\n+${line}\n*** End Patch\nEOF\n`
const developerText = (body: { input: { role?: string; content?: { text?: string }[] }[] }) =>
  body.input
    .filter((i) => i.role === 'developer')
    .flatMap((i) => i.content ?? [])
    .map((c) => c.text ?? '')
    .join('\n')

describe('mrs codex with the real Codex CLI', () => {
  it('answers from the local model, with Codex\'s own prompt and no metadata warning', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--', ...EXEC, '--ephemeral', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      expect(result.stderr).not.toMatch(/Model metadata for `default` not found/)
      expect(result.stderr).toMatch(/provider: mrs/)
      const [req] = responses(sb)
      // the model's real id: what Codex shows, and what mistral.rs serves
      expect(req!.body.model).toBe(MODEL)
      expect(req!.body.stream).toBe(true)
      // Codex's system prompt reached the model (a catalog entry with empty base_instructions would drop it)
      expect(developerText(req!.body)).toMatch(/^You are Codex/)
      expect(developerText(req!.body).length).toBeGreaterThan(10_000)
      expect(req!.body.tools.map((t: { name?: string; type: string }) => t.name ?? t.type)).not.toContain('web_search')
      expect(req!.headers.authorization).toBeUndefined()
      // below its minContext mrs warns before the start: that threshold must cover this real first request
      expectMinContextCovers('codex', [req!.body])
      await expectNoLeftovers(sb)
    })
  })

  it('offers the hosted web_search tool only when the server runs web search', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--web-search', '--', ...EXEC, '--ephemeral', 'say hi'])
      expect(result.code).toBe(0)
      // live: mistral.rs ignores a web_search tool with external_web_access=false (Codex's default, "cached"),
      // and refuses one that asks for image search (500)
      expect(responses(sb)[0]!.body.tools.find((t: { type: string }) => t.type === 'web_search')).toEqual({ type: 'web_search', external_web_access: true })
      expect(responses(sb)[0]!.rejected).toBeUndefined()
    })
  })

  it('edits a file through apply_patch (run by Codex itself from exec_command), every request one the real server takes', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--', ...EXEC, '--ephemeral', '--sandbox', 'workspace-write', `RUN \`${PATCH('hello.txt', 'hi from apply_patch')}\``])
      expect(result.code, result.stderr).toBe(0)
      expect(readFileSync(join(sb.work, 'hello.txt'), 'utf8')).toBe('hi from apply_patch\n')
      // Codex's patch engine applied it, and said so in the tool's output
      expect(result.stdout).toMatch(/^tool said: [\s\S]*Success\. Updated the following files:\s+A hello\.txt/)
      const sent = responses(sb)
      expect(sent).toHaveLength(2)
      expect(sent.filter((r) => r.rejected)).toEqual([])
      // only tool types mistral.rs's Responses API reads (function, namespace; no custom apply_patch, no tool_search)
      for (const r of sent) expect(new Set(r.body.tools.map((t: { type: string }) => t.type))).toEqual(new Set(['function', 'namespace']))
    })
  })

  it('completes a tool round trip: exec_command, then its output in the next request', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--', ...EXEC, '--ephemeral', 'RUN `echo mrs-tool-ok`'])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^tool said: [\s\S]*mrs-tool-ok/)
      const sent = responses(sb)
      expect(sent).toHaveLength(2)
      const call = sent[1]!.body.input.find((i: { type: string }) => i.type === 'function_call')
      const output = sent[1]!.body.input.find((i: { type: string }) => i.type === 'function_call_output')
      expect(call).toMatchObject({ name: 'exec_command' })
      expect(output.call_id).toBe(call.call_id)
      expect(output.output).toContain('mrs-tool-ok')
    })
  })

  it('uses the user\'s config.toml (MCP servers included) without changing a byte, and keeps sessions resumable', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const mcpMarker = join(sb.root, 'mcp-started')
      const config = [
        '# my Codex config',
        'model = "gpt-5.5"',
        'approval_policy = "never"',
        '',
        '[mcp_servers.demo]',
        'command = "/bin/sh"',
        `args = ["-c", "echo started >> ${mcpMarker}"]`,
        '',
      ].join('\n')
      writeFileSync(join(sb.codexHome, 'config.toml'), config)
      const first = await sb.run(['codex', '-m', MODEL, '--', ...EXEC, 'say hi'])
      expect(first.code).toBe(0)
      // the user's MCP server was started: their config applies
      await waitFor(() => existsSync(mcpMarker), 5000, 'the MCP server to start')
      // the session landed in the user's CODEX_HOME ...
      expect(readdirSync(join(sb.codexHome, 'sessions'))).not.toEqual([])
      const sessionId = first.stderr.match(/session id: (\S+)/)![1]
      // ... and a later `mrs codex resume` continues it
      const again = await sb.run(['codex', '-m', MODEL, '--', ...EXEC, 'resume', '--last', 'and again'])
      expect(again.code).toBe(0)
      expect(again.stderr).toContain(`session id: ${sessionId}`)
      // some request of the resumed session carries both sessions' user turns (found by content, not position)
      const turns = responses(sb).map((r) => (Array.isArray(r.body.input) ? r.body.input.filter((i: { role?: string }) => i.role === 'user').length : 0))
      expect(Math.max(...turns)).toBeGreaterThanOrEqual(2)
      expect(readFileSync(join(sb.codexHome, 'config.toml'), 'utf8')).toBe(config)
      expect(readdirSync(sb.codexHome).filter((n) => n.endsWith('.config.toml'))).toEqual([])
      expect(sb.tempLeftovers()).toEqual([])
    })
  })

  it('lets the user\'s own profile apply beside the injected provider', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      writeFileSync(join(sb.codexHome, 'work.config.toml'), 'model_reasoning_effort = "high"\n')
      const result = await sb.run(['codex', '-m', MODEL, '--profile', 'work', '--', ...EXEC, '--ephemeral', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stderr).toMatch(/provider: mrs/)
      expect(responses(sb)[0]!.body.reasoning).toMatchObject({ effort: 'high' })
    })
  })

  it('runs two sessions at once without collisions: each its own catalog, both recorded in CODEX_HOME', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      writeFileSync(join(sb.codexHome, 'config.toml'), 'model = "gpt-5.5"\n')
      const runs = [sb.start(['codex', '-m', MODEL, '--', ...EXEC, 'first']), sb.start(['codex', '-m', MODEL, '--no-share', '--', ...EXEC, 'second'])]
      const results = await Promise.all(runs.map((r) => r.done()))
      expect(results.map((r) => [r.code, r.stdout])).toEqual([
        [0, 'Hello from fake mistral.rs\n'],
        [0, 'Hello from fake mistral.rs\n'],
      ])
      const sessionIds = new Set(results.map((r) => r.stderr.match(/session id: (\S+)/)![1]))
      expect(sessionIds.size).toBe(2)
      expect(readFileSync(join(sb.codexHome, 'config.toml'), 'utf8')).toBe('model = "gpt-5.5"\n')
      expect(sb.tempLeftovers()).toEqual([])
      await expectNoLeftovers(sb)
    })
  })

  it('passes codex\'s exit code through', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--', 'exec', '--skip-git-repo-check', '--no-such-codex-flag'])
      expect(result.stderr).toMatch(/unexpected argument '--no-such-codex-flag'/)
      expect(result.code).toBe(2)
      await expectNoLeftovers(sb)
    })
  })

  it.each([
    [['--', '--help'], /Codex CLI/],
    [['--', '--version'], /^codex-cli 0\.169\.0$/m],
    [['exec', '--help'], /Run Codex non-interactively/],
    [['help', 'exec'], /Run Codex non-interactively/],
  ])('runs codex %j at once: no model, no server', async (args, out) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', ...args])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(out)
      expect(sb.serverPids()).toEqual([])
      expect(result.stderr).toBe('')
    })
  })

  it('says how to install codex when it is missing, and starts no server (exit 127)', async () => {
    await withSandbox({ clients: 'none' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL])
      expect(result.code).toBe(127)
      expect(result.stderr).toMatch(/codex not found on PATH; install it: npm install -g @openai\/codex/)
      expect(sb.serverPids()).toEqual([])
    })
  })
})

describe('mrs setup codex and mrs env codex', () => {
  const profile = (sb: Sandbox) => join(sb.codexHome, 'mistralrs.config.toml')

  it('writes a current-format profile that `codex --profile mistralrs` uses against mrs serve', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      writeFileSync(join(sb.codexHome, 'config.toml'), 'model = "gpt-5.5"\n')
      const setup = await sb.run(['setup', 'codex', '--port', '45123'])
      expect(setup.code).toBe(0)
      expect(setup.stderr).toMatch(/wrote .*mistralrs\.config\.toml; run: codex --profile mistralrs/)
      const text = readFileSync(profile(sb), 'utf8')
      expect(text).toContain('base_url = "http://127.0.0.1:45123/v1"')
      expect(text).not.toMatch(/^\[profiles\./m)
      expect(readFileSync(join(sb.codexHome, 'config.toml'), 'utf8')).toBe('model = "gpt-5.5"\n')

      const serve = sb.start(['serve', '-m', MODEL, '-p', '45123'])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const { execFileSync } = await import('node:child_process')
      const codex = (prompt: string) =>
        String(execFileSync(join(sb.root, 'bin', 'codex'), ['--profile', 'mistralrs', ...EXEC, '--ephemeral', '--sandbox', 'workspace-write', prompt], { env: sb.env, cwd: sb.work, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }))
      // text, a tool round trip and an edit through apply_patch, every request one the real server takes
      expect(codex('say hi')).toBe('Hello from fake mistral.rs\n')
      expect(codex('RUN `echo mrs-profile-tool-ok`')).toMatch(/^tool said: [\s\S]*mrs-profile-tool-ok/)
      codex(`RUN \`${PATCH('via-profile.txt', 'written through the profile')}\``)
      expect(readFileSync(join(sb.work, 'via-profile.txt'), 'utf8')).toBe('written through the profile\n')
      expect(responses(sb).length).toBeGreaterThanOrEqual(5)
      expect(responses(sb).filter((r) => r.rejected)).toEqual([])
      serve.kill('SIGINT')
      expect((await serve.done()).code).toBe(130)
    })
  })

  it('backs up an existing profile before replacing it, and leaves an identical one alone', async () => {
    await withSandbox({}, async (sb) => {
      writeFileSync(profile(sb), 'model = "mine"\n')
      expect((await sb.run(['setup', 'codex', '--port', '1234'])).code).toBe(0)
      const backups = readdirSync(sb.codexHome).filter((n) => n.startsWith('mistralrs.config.toml.bak'))
      expect(backups).toEqual(['mistralrs.config.toml.bak'])
      expect(readFileSync(join(sb.codexHome, backups[0]!), 'utf8')).toBe('model = "mine"\n')
      const again = await sb.run(['setup', 'codex', '--port', '1234'])
      expect(again.stderr).toMatch(/already up to date/)
      expect(readdirSync(sb.codexHome).filter((n) => n.startsWith('mistralrs.config.toml.bak'))).toHaveLength(1)
    })
  })

  it('warns about a legacy [profiles.*] table in config.toml, and does not touch it', async () => {
    await withSandbox({}, async (sb) => {
      const legacy = '[profiles.mistralrs]\nmodel = "default"\n'
      writeFileSync(join(sb.codexHome, 'config.toml'), legacy)
      const result = await sb.run(['setup', 'codex'])
      expect(result.stderr).toMatch(/legacy \[profiles\.\*\] table .* current Codex refuses to start/)
      expect(readFileSync(join(sb.codexHome, 'config.toml'), 'utf8')).toBe(legacy)
    })
  })

  it('prints the -c flags, or the profile TOML', async () => {
    await withSandbox({}, async (sb) => {
      const flags = await sb.run(['env', 'codex', '--url', 'http://gpu:1234', '--context', '32768'])
      // plain words: `codex $(mrs env codex ...)` needs no eval (the README's line runs in readme-lines.test.ts)
      expect(flags.stdout.trim().replace(/codex-catalog-[0-9a-f]{16}\.json/, 'codex-catalog-<hash>.json')).toBe(
        [
          `-c model_provider="mrs"`,
          `-c model="default"`,
          `-c model_providers.mrs.name="mistral.rs"`,
          `-c model_providers.mrs.base_url="http://gpu:1234/v1"`,
          `-c model_providers.mrs.wire_api="responses"`,
          `-c model_providers.mrs.request_max_retries=4`,
          `-c model_providers.mrs.stream_max_retries=3`,
          `-c model_providers.mrs.stream_idle_timeout_ms=600000`,
          `-c model_reasoning_summary="none"`,
          `-c model_context_window=32768`,
          // Codex's own description of the model (the fake codex answers `codex debug models --bundled`), in mrs's cache
          `-c model_catalog_json="${join(sb.root, 'cache', 'mrs')}/codex-catalog-<hash>.json"`,
          `-c web_search="disabled"`,
        ].join(' '),
      )
      const toml = await sb.run(['env', 'codex', '--url', 'http://gpu:1234', '--toml'])
      expect(toml.stdout).toMatch(/^model_provider = "mrs"$/m)
      expect(toml.stdout).toMatch(/^model_reasoning_summary = "none"$/m)
      expect(toml.stdout).toMatch(/^\[model_providers\.mrs\]$/m)
    })
  })
})
