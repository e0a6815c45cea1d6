// --url: a mistral.rs server somewhere else (here: the fake, started by the
// test, behind a bearer check like an authenticating proxy). mrs starts
// nothing, checks the server first, and passes the key only through the
// client's environment: never in argv, never in a file.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const SECRET = 'sekret-token-6f1e'

/**
 * Every file under `dir` whose content contains `needle`, except the fakes'
 * own logs of what they received and Codex's shell snapshots: Codex dumps the
 * exported environment of the shell it runs commands in (every variable, so
 * the key variable too) to $CODEX_HOME/shell_snapshots, with or without mrs.
 */
function filesContaining(sb: Sandbox, needle: string, dir = sb.root): string[] {
  const hits: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (path === sb.record || path === sb.clientRecord || path === join(sb.codexHome, 'shell_snapshots')) continue
    let st
    try {
      st = statSync(path)
    } catch {
      continue
    }
    if (st.isDirectory()) hits.push(...filesContaining(sb, needle, path))
    else if (st.isFile() && st.size < 50_000_000 && readFileSync(path).includes(needle)) hits.push(path)
  }
  return hits
}

describe('--url with real clients', () => {
  it.each(['claude', 'codex'] as const)('%s sends $VAR as the bearer token to the remote server, and starts nothing', async (client) => {
    await withSandbox({ clients: 'real', env: { MY_KEY: SECRET } }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'], { FAKE_MISTRALRS_REQUIRE_KEY: SECRET })
      const clientArgs = client === 'claude' ? ['-p', 'say hi'] : ['--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
      const result = await sb.run([client, '--url', url, '--api-key-env', 'MY_KEY', '--', ...clientArgs])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      const sent = sb.requests().filter((r) => r.path !== '/v1/models')
      expect(sent.length).toBeGreaterThan(0)
      for (const r of sent) expect(r.headers.authorization).toBe(`Bearer ${SECRET}`)
      expect(sb.serverPids()).toHaveLength(1) // only the one the test started
      expect(filesContaining(sb, SECRET)).toEqual([])
    })
  })

  it('selects a model among the server\'s ids with -m', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'])
      const result = await sb.run(['claude', '--url', url, '-m', 'Qwen/Remote', '--', '-p', 'say hi'])
      expect(result.code).toBe(0)
      expect(sb.requests().filter((r) => r.path === '/v1/messages').every((r) => r.body.model === 'Qwen/Remote')).toBe(true)
    })
  })
})

describe('--url errors', () => {
  it('refuses to start the client when the server does not serve the model (exit 68)', async () => {
    await withSandbox({}, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'])
      const result = await sb.run(['claude', '--url', url, '-m', 'Qwen/Other'])
      expect(result.code).toBe(68)
      expect(result.stderr).toMatch(/does not serve "Qwen\/Other"; it serves: default, Qwen\/Remote/)
      expect(sb.clientPids()).toEqual([])
    })
  })

  it.each([
    ['no key', {}, [], /refused the request \(no key sent; pass --api-key-env VAR\) with HTTP 401/],
    ['a wrong key', { MY_KEY: 'wrong' }, ['--api-key-env', 'MY_KEY'], /refused the key in \$MY_KEY with HTTP 401/],
  ])('reports a proxy that refuses %s (exit 69)', async (_, env, args, message) => {
    await withSandbox({ env }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'], { FAKE_MISTRALRS_REQUIRE_KEY: SECRET })
      const result = await sb.run(['codex', '--url', url, ...args])
      expect(result.code).toBe(69)
      expect(result.stderr).toMatch(message)
      expect(sb.clientPids()).toEqual([])
    })
  })
})

describe('secrets', () => {
  it.each([
    ['claude', 'ANTHROPIC_AUTH_TOKEN'],
    ['codex', 'MY_KEY'],
  ] as const)('%s gets the key in its environment only: not in its argv, not in mrs\'s, not in a file', async (client, variable) => {
    await withSandbox({ env: { MY_KEY: SECRET, FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'], { FAKE_MISTRALRS_REQUIRE_KEY: SECRET })
      const mrs = sb.start([client, '--url', url, '--api-key-env', 'MY_KEY'])
      const pid = await waitFor(() => sb.clientPids()[0], 15_000, 'the client')
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      // the fake client records its start, then execs sleep: read in the middle of that exec, environ is empty
      const environOf = () => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
      const environ = await waitFor(() => environOf().length > 0 && environOf(), 5000, 'the client\'s environment')
      expect(cmdline).not.toContain(SECRET)
      expect(readFileSync(`/proc/${mrs.pid}/cmdline`, 'utf8')).not.toContain(SECRET)
      expect(environ).toContain(`${variable}=${SECRET}`)
      expect(filesContaining(sb, SECRET)).toEqual([])
      mrs.kill('SIGTERM')
      expect((await mrs.done()).code).toBe(143)
      expect(filesContaining(sb, SECRET)).toEqual([])
    })
  })
})
