// What the model is doing, end to end against the fake mistralrs: `mrs check`
// (each outcome, in text and --json, with its exit code), `--check` refusing a
// launch, the load and speed in `mrs ps` (human, --json, -w on a real
// terminal, `-` without /metrics), and Claude Code's status line command
// (its line for a known server, a dead server, a hung one).
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, expectNoLeftovers, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { terminal } from '../helpers/terminal.js'

const MODEL = 'Qwen/Qwen3-4B'
const started = (sb: Sandbox) => sb.clientLines().filter((l) => l.startsWith('start ')).length

describe('mrs check', () => {
  it('passes when every API returns a well-formed tool call: exit 0, the context, the server stopped after', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '65536', FAKE_MISTRALRS_PACE_MS: '20' } }, async (sb) => {
      const result = await sb.run(['check', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      const lines = result.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(/^model Qwen\/Qwen3-4B at http:\/\/127\.0\.0\.1:\d+; context 64k tokens \(65536\)$/)
      expect(lines[1]).toMatch(/^Anthropic Messages \(claude, qwen\): ok: called read_file\(\{"path":"README\.md"\}\) \(first token \d+ ms, [\d.]+ tok\/s\)$/)
      expect(lines[2]).toMatch(/^Responses \(codex\): ok: called read_file/)
      expect(lines[3]).toMatch(/^chat completions \(opencode, copilot, pi\): ok: called read_file/)
      expect(lines[4]).toBe('every API returned a well-formed tool call: this model works for agents')
      // the requests were streamed with one tool asked for, and the other tool types each API's clients send (Codex's namespace)
      const posts = sb.requests().filter((r) => r.method === 'POST')
      expect(posts.map((r) => r.path)).toEqual(['/v1/messages', '/v1/responses', '/v1/chat/completions'])
      expect(posts.map((r) => [r.body.stream, r.body.tools.map((t: { type?: string }) => t.type ?? 'custom')])).toEqual([
        [true, ['custom']],
        [true, ['function', 'namespace']],
        [true, ['function']],
      ])
      await expectNoLeftovers(sb)
    })
  })

  it('--json: the outcome, the call, the timings and the speed as numbers', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PACE_MS: '20' } }, async (sb) => {
      const result = await sb.run(['check', '-m', MODEL, '--json'])
      expect(result.code, result.stderr).toBe(0)
      const report = JSON.parse(result.stdout)
      expect(report).toMatchObject({ ok: true, model: MODEL, contextWindow: null })
      for (const r of report.results) {
        expect(r).toMatchObject({ ok: true, outcome: 'tool-call', toolCall: { name: 'read_file', arguments: { path: 'README.md' } } })
        // paced at 20 ms a token: the call arrives after its 10 tokens; chat completions carry mistral.rs's own figure (50)
        expect(r.ttftMs).toBeGreaterThanOrEqual(150)
        expect(r.tokensPerSecond).toBeGreaterThan(5)
        expect(r.tokensPerSecond).toBeLessThanOrEqual(70)
      }
    })
  })

  it('a tool call written as text: exit 76, what came back, and the chat-template fix', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_TOOL_MODE: 'text' } }, async (sb) => {
      const result = await sb.run(['check', '-m', MODEL])
      expect(result.code).toBe(76)
      expect(result.stdout).toMatch(/^Anthropic Messages \(claude, qwen\): FAILED: a tool call as plain text: "<tool_call>\{\\"name\\": \\"read_file\\"/m)
      expect(result.stdout).toMatch(/^ {2}fix: the model wrote its tool call as text: the chat template does not parse tool calls; start mistral\.rs with the model's own template \(--server-arg=--jinja-explicit --server-arg=TEMPLATE\.jinja\)/m)
      expect(result.stdout).toMatch(/^some APIs failed: clients on them will not work well with this model$/m)
      await expectNoLeftovers(sb)
    })
  })

  it('an answer without a tool call: exit 76, the answer, and the fix', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_TOOL_MODE: 'none' } }, async (sb) => {
      const result = await sb.run(['check', '-m', MODEL, '--json'])
      expect(result.code).toBe(76)
      const report = JSON.parse(result.stdout)
      expect(report.ok).toBe(false)
      for (const r of report.results) {
        expect(r).toMatchObject({ ok: false, outcome: 'no-tool-call', text: 'I can answer without tools: the file probably describes the project.' })
        expect(r.fix).toMatch(/agents need a model that calls tools/)
      }
    })
  })

  it('one API failing: that one fails with its HTTP status and body, the others pass, exit 76', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAIL_API: 'responses' } }, async (sb) => {
      const result = await sb.run(['check', '-m', MODEL])
      expect(result.code).toBe(76)
      expect(result.stdout).toMatch(/^Anthropic Messages \(claude, qwen\): ok/m)
      expect(result.stdout).toMatch(/^Responses \(codex\): FAILED: HTTP 500: \{"message":"fake failure of the responses API"\}$/m)
      expect(result.stdout).toMatch(/^ {2}fix: the server failed on this request: see its log \(mrs logs\) for why$/m)
      expect(result.stdout).toMatch(/^chat completions \(opencode, copilot, pi\): ok/m)
    })
  })

  it('checks a remote server with --url, starting nothing', async () => {
    await withSandbox({}, async (sb) => {
      const { url, child } = await sb.startServer(['serve', '-p', '0', '-m', MODEL])
      try {
        const result = await sb.run(['check', '--url', url])
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toContain(`model ${MODEL} at ${url}`)
        expect(sb.serverPids()).toEqual([child.pid])
      } finally {
        child.kill('SIGTERM')
      }
    })
  })

  it("offers the tool types the clients of each API send (Codex's namespace): a server whose types refuse one fails the check (422, mistral.rs 0.9.1)", async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_VERSION: '0.9.1' } }, async (sb) => {
      const { url, child } = await sb.startServer(['serve', '-p', '0', '-m', MODEL])
      try {
        // a --url server's version is not known here: the probe sends what Codex sends to one it does not know
        const result = await sb.run(['check', '--url', url])
        expect(result.code).toBe(76)
        expect(result.stdout).toMatch(/^Responses \(codex\): FAILED: HTTP 422: Failed to deserialize the JSON body into the target type: tools\[1\]: data did not match any variant of untagged enum OpenAiTool/m)
        expect(result.stdout).toMatch(/fix: the server's types refuse a tool the clients of this API send .*namespace tools from 0\.9\.2\): upgrade mistral\.rs/)
        expect(result.stdout).toMatch(/^Anthropic Messages \(claude, qwen\): ok/m)
        const probe = sb.requests().find((r) => r.path === '/v1/responses')!
        expect(probe.body.tools.map((t: { type: string }) => t.type)).toEqual(['function', 'namespace'])
      } finally {
        child.kill('SIGTERM')
      }
    })
  })

  it('mrs codex --check on a server mrs runs knows its version: Codex goes without sub-agents there, and the check sends what Codex will', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_VERSION: '0.9.1' } }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--check', '--', 'exec', '--skip-git-repo-check', 'hi'])
      expect(result.code, result.stderr).toBe(0)
      expect(sb.requests().filter((r) => r.rejected)).toEqual([])
      expect(sb.clientLines()).toContain('arg features.multi_agent=false')
    })
  })
})

describe('mrs NAME --check', () => {
  it('refuses to start the client when the model fails its API: exit 76, no client, no server left', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_TOOL_MODE: 'text' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--check'])
      expect(result.code).toBe(76)
      expect(result.stderr).toMatch(/^mrs: checking that Qwen\/Qwen3-4B calls tools through the anthropic API \(--check\)…$/m)
      expect(result.stderr).toMatch(/^mrs: error: Claude Code was not started: the model failed the tool-call check/m)
      expect(started(sb)).toBe(0)
      // only the client's own API was asked
      expect(sb.requests().filter((r) => r.method === 'POST').map((r) => r.path)).toEqual(['/v1/messages'])
      await expectNoLeftovers(sb)
    })
  })

  it('starts the client when the model passes', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--check'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/^mrs: Responses \(codex\): ok: called read_file/m)
      expect(started(sb)).toBe(1)
    })
  })
})

/** A streaming chat request that stays open PACE × 4 pieces; resolves when it is done. */
function slowRequest(url: string): Promise<string> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'say hi' }] }),
  }).then(
    (r) => r.text(),
    (e: Error) => `failed: ${e.message}`,
  )
}

describe('mrs ps: load and speed from /metrics', () => {
  it('shows requests running and waiting, tokens per second, time to first token and KV-cache use (human and --json)', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30', FAKE_MISTRALRS_PA_TOKENS: '65536', FAKE_MISTRALRS_PACE_MS: '500' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      const url = JSON.parse((await sb.run(['ps', '--json'])).stdout)[0].url as string
      await slowRequest(url) // done: it counts in the time to first token and the speed
      const inFlight = slowRequest(url) // running while ps looks
      await waitFor(() => sb.requests().filter((r) => r.method === 'POST').length === 2, 5000, 'the second request')
      const [row] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      // the fake's /metrics: 120 ms to first token, 25 ms between tokens, a quarter of the KV blocks used
      expect(row.metrics).toMatchObject({ running: 1, waiting: 0, ttftMs: 120, decodeTokensPerSecond: 40, kvCacheUse: 0.25 })
      expect(row.metrics.tokensPerSecond).toBeGreaterThan(0)
      const human = (await sb.run(['ps'])).stdout
      // CONTEXT, RUN/WAIT, TOK/S, TTFT, KV, PREFIX (requests that reused a cached prefix / looked up)
      expect(human).toMatch(/ {2}64k +1\/0 +\d+\.\d +120ms +25% +\d+\/\d+ +\//)
      await inFlight
      session.kill('SIGTERM')
      await session.done()
      await expectNoLeftovers(sb)
    })
  })

  it('samples /metrics over one kept-alive connection for as long as the server runs (through a tunnel each new one costs: a Slurm step with tunnel = "srun")', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      // the keeper's own samples, 5 s apart: longer than Node's default agent keeps an idle connection
      await waitFor(() => sb.records().filter((r) => r.event === 'metrics').length >= 3, 20_000, 'three periodic samples')
      // and ps asks for a fresh one
      expect((await sb.run(['ps', '--json'])).code).toBe(0)
      const samples = sb.records().filter((r) => r.event === 'metrics')
      expect(samples.length).toBeGreaterThanOrEqual(4)
      expect(new Set(samples.map((r) => r.conn)).size).toBe(1)
      session.kill('SIGTERM')
      await session.done()
      await expectNoLeftovers(sb)
    })
  })

  it('shows the prefix cache at work: requests that began with a cached prefix, of those looked up', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      const url = JSON.parse((await sb.run(['ps', '--json'])).stdout)[0].url as string
      // two sessions' first requests: the same long system prompt, different questions
      const system = 'You are a careful coding agent. '.repeat(64)
      for (const question of ['hello there', 'what is 2+2'])
        await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: [{ role: 'system', content: system }, { role: 'user', content: question }] }) }).then((r) => r.text())
      const [row] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      expect(row.metrics).toMatchObject({ prefixCacheHits: 1, prefixCacheLookups: 2 })
      expect((await sb.run(['ps'])).stdout.split('\n')[1]).toMatch(/ 1\/2 +\//)
      session.kill('SIGTERM')
      await session.done()
    })
  })

  it('shows - for a server without /metrics (--disable-metrics), null in --json', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL, '--server-arg=--disable-metrics'])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      const [row] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      expect(row.metrics).toEqual({ running: null, waiting: null, tokensPerSecond: null, decodeTokensPerSecond: null, ttftMs: null, kvCacheUse: null, prefixCacheHits: null, prefixCacheLookups: null })
      const human = (await sb.run(['ps'])).stdout.split('\n')
      // CONTEXT, RUN/WAIT, TOK/S, TTFT, KV, PREFIX
      expect(human[1]).toMatch(/ready +- +- +- +- +- +- +\//)
      // and why, under the table
      expect(human[2]).toMatch(/^\S+: RUN\/WAIT, TOK\/S, TTFT, KV and PREFIX are empty: the server runs with --disable-metrics$/)
      expect(row.metricsNote).toBe('the server runs with --disable-metrics')
      session.kill('SIGTERM')
      await session.done()
    })
  })

  it('says why the columns are empty for a mistral.rs before 0.9.2 (HTTP counters only on its /metrics), here and in mrs doctor', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30', FAKE_MISTRALRS_VERSION: '0.9.1' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      const human = (await sb.run(['ps'])).stdout.split('\n')
      expect(human[1]).toMatch(/ready +\S+ +- +- +- +- +- +\//)
      expect(human[2]).toMatch(/^\S+: RUN\/WAIT, TOK\/S, TTFT, KV and PREFIX are empty: mistral\.rs 0\.9\.1 reports only HTTP counters on \/metrics; its engine's \(requests running, tokens, time to first token, prefix cache\) arrived in 0\.9\.2$/)
      const [row] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      expect(row).toMatchObject({ version: '0.9.1', metrics: { running: null } })
      expect((await sb.run(['doctor'])).stdout).toMatch(/mistralrs +0\.9\.1 at .*mrs ps shows no load or speed before 0\.9\.2/)
      session.kill('SIGTERM')
      await session.done()
    })
  })

  requires('tmux')('-w refreshes in place once a second on a terminal, until Ctrl-C', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', FAKE_MISTRALRS_PACE_MS: '1000' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL])
      await waitFor(() => started(sb) === 1, 15_000, 'the client')
      const url = JSON.parse((await sb.run(['ps', '--json'])).stdout)[0].url as string
      const term = terminal(sb, ['ps', '-w'])
      try {
        await waitFor(() => / 0\/0 /.test(term.screen()), 10_000, `the table; screen:\n${term.screen()}`)
        const inFlight = slowRequest(url)
        // the same table, redrawn: the running request appears, and the header is still there once
        await waitFor(() => / 1\/0 /.test(term.screen()), 5000, `the running request; screen:\n${term.screen()}`)
        expect(term.screen().match(/^ID +MODEL/gm)).toHaveLength(1)
        await inFlight
        await waitFor(() => / 0\/0 /.test(term.screen()), 5000, `the request done; screen:\n${term.screen()}`)
        term.keys('C-c')
        await waitFor(() => term.exitCode() !== undefined, 5000, 'mrs ps -w to end')
        expect(term.exitCode()).toBe(0)
      } finally {
        term.close()
      }
      session.kill('SIGTERM')
      await session.done()
      await expectNoLeftovers(sb)
    })
  })
})

describe('Claude Code\'s status line command', () => {
  const STATUSLINE = join(ROOT, 'dist', 'statusline.cjs')
  const claudeStatus = JSON.stringify({ model: { id: MODEL }, context_window: { context_window_size: 65536, current_usage: { input_tokens: 20000, cache_read_input_tokens: 3000, cache_creation_input_tokens: 0, output_tokens: 552 } } })
  /** Runs the command as Claude does: status JSON on stdin, one line on stdout (async: the test's server must answer meanwhile). */
  // a loaded test machine can take longer than the 200 ms cap to answer even from a healthy server; the hung-server case keeps the cap
  const PATIENT = { MRS_STATUSLINE_TIMEOUT_MS: '10000' }
  const run = (url: string, stdin = claudeStatus, env: Record<string, string> = PATIENT) =>
    new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      const child = spawn(process.execPath, [STATUSLINE, url, 'Qwen3-4B', '65536', ''], { stdio: ['pipe', 'pipe', 'ignore'], timeout: 15_000, env: { ...process.env, ...env } })
      let stdout = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
      child.on('error', reject)
      child.on('close', (code) => resolve({ stdout, code }))
      child.stdin.end(stdin)
    })
  /** A /metrics server in a process of its own (a busy test worker must not be what delays the answer). */
  async function metricsServer(body: string | null): Promise<{ url: string; stop: () => void }> {
    const script = `const body = ${JSON.stringify(body)}; require('node:http').createServer((_, res) => { if (body !== null) res.end(body) }).listen(0, '127.0.0.1', function () { console.log(this.address().port) })`
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const port = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d).trim())))
    return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
  }

  it('prints the name, the context used of the server\'s, and the speed, for a known server', async () => {
    const server = await metricsServer('mistralrs_inter_token_latency_seconds_sum{model="m"} 2.5\nmistralrs_inter_token_latency_seconds_count{model="m"} 100\n')
    try {
      // 23552 tokens in use = 23k; 25 ms a token = 40 tok/s
      expect(await run(server.url)).toEqual({ stdout: 'Qwen3-4B · 23k/64k · 40 tok/s\n', code: 0 })
    } finally {
      server.stop()
    }
  })

  it('leaves the speed out for a dead server, and prints the name alone for a hung one, at once and with exit 0', async () => {
    const dead = await metricsServer('')
    dead.stop()
    await new Promise((r) => setTimeout(r, 100))
    expect(await run(dead.url, '')).toMatchObject({ stdout: 'Qwen3-4B · -/64k\n', code: 0 })
    // accepts the connection and never answers: the command answers within its budget, not Claude's timeout
    const hung = await metricsServer(null)
    try {
      const t = Date.now()
      const r = await run(hung.url, 'not json', {})
      expect(r).toMatchObject({ stdout: 'Qwen3-4B\n', code: 0 })
      expect(Date.now() - t).toBeLessThan(3000)
    } finally {
      hung.stop()
    }
  })

  it('leaves the speed out when the server\'s /metrics is garbage', async () => {
    const server = await metricsServer('<html>not metrics</html>')
    try {
      expect(await run(server.url, '{}')).toMatchObject({ stdout: 'Qwen3-4B · -/64k\n', code: 0 })
    } finally {
      server.stop()
    }
  })
})
