// `--on HOST`: the server on another machine over the user's own OpenSSH,
// owned like a local one. The host is this machine as a second local user
// (mrs-remote) behind a real sshd on loopback (test/helpers/sshd.ts), with the
// fake mistralrs only on its login PATH (~/.profile → ~/.cargo/bin). Every
// exit path must leave nothing running on either side: the remote fake's
// processes carry the test's tag, so the leftover scan sees them too.
import { readFileSync } from 'node:fs'
import { describe, expect } from 'vitest'
import { expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { startSshd, type SshHost } from '../helpers/sshd.js'

const MODEL = 'Qwen/Qwen3-4B'
const on = requires('sshd')

const remoteStarts = (host: SshHost) => host.records().filter((r) => r.event === 'start')

/** Nothing of the test is left, on the host (the remote fake, its shell, tail) or here. */
async function nothingLeft(sb: Sandbox, host: SshHost, withinMs = 5000): Promise<number> {
  const since = Date.now()
  await waitFor(() => remoteStarts(host).every((r) => !isAlive(r.pid)), withinMs, `the server on the host to be gone (pids ${remoteStarts(host).map((r) => r.pid).join(', ')})`)
  const gone = Date.now() - since
  await expectNoLeftovers(sb, withinMs)
  return gone
}

/** The test's own ssh files, which mrs must never change. */
function sshFiles(host: SshHost): () => void {
  const before = [host.configPath, host.knownHosts].map((p) => readFileSync(p, 'utf8'))
  return () => expect([host.configPath, host.knownHosts].map((p) => readFileSync(p, 'utf8'))).toEqual(before)
}

/** The sshd processes serving connections (not the listener): what a dropped network or a rebooting host takes away. */
const connections = (host: SshHost) => host.pids().filter((p) => p !== host.pid)

describe('mrs --on HOST: the server over ssh', () => {
  on('runs the server on the host and the client here against it, through mrs\'s port; nothing is left on either side', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await startSshd(sb)
      const unchanged = sshFiles(host)
      const result = await sb.run(['claude', '--on', host.alias, '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      const [start] = remoteStarts(host)
      // on the host's loopback, on a port of its own; quantized to fit by the host's mistral.rs
      expect(start!.argv).toEqual(['serve', '-p', expect.stringMatching(/^\d+$/), '--host', '127.0.0.1', '-m', MODEL, '--quant', 'auto'])
      expect(sb.serverPids()).toEqual([])
      await nothingLeft(sb, host)
      unchanged()
    })
  })

  on.each([
    ['claude', ['-p', 'say hi']],
    ['codex', ['--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi']],
  ] as const)('the real %s answers from the model on the host', async (client, args) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_CONFIG_CONTEXT: '40960', FAKE_MISTRALRS_PA_TOKENS: '32768' } })
      const result = await sb.run([client, '--on', host.alias, '-m', MODEL, '--', ...args])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      // the window from the host's load log and the host's config.json
      expect(result.stderr).toMatch(/context 32768 tokens, from its KV cache/)
      expect(host.records().filter((r) => r.event === 'request').length).toBeGreaterThan(0)
      await nothingLeft(sb, host)
    })
  })

  on('--quant auto by the host\'s mistral.rs: an older one gets none', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_VERSION: '0.8.0' } })
      expect((await sb.run(['codex', '--on', host.alias, '-m', MODEL])).code).toBe(0)
      expect(remoteStarts(host)[0]!.argv).not.toContain('--quant')
      await nothingLeft(sb, host)
    })
  })
})

describe('mrs --on HOST: every exit path leaves nothing on the host', () => {
  on.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during the load: exit %d, the server on the host gone', async (signal, code) => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_LOAD_MS: '30000' } })
      const mrs = sb.start(['codex', '--on', host.alias, '-m', MODEL])
      await waitFor(() => remoteStarts(host).length > 0, 15_000, 'the server to start on the host')
      mrs.kill(signal)
      expect((await mrs.done(15_000)).code).toBe(code)
      expect(sb.clientPids()).toEqual([])
      await nothingLeft(sb, host)
    })
  })

  on('a closed terminal (SIGHUP) while the client runs: 129, the server on the host gone', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      mrs.kill('SIGHUP')
      expect((await mrs.done(20_000)).code).toBe(129)
      await nothingLeft(sb, host)
    })
  })

  on('SIGKILL of mrs while the client runs: its keeper stops the server on the host', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      mrs.kill('SIGKILL')
      await nothingLeft(sb, host, 15_000)
    })
  })

  on('SIGKILL of mrs and all of its local processes (keeper, ssh): the host stops the server when the channel closes', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      // everything of the test's on this side: mrs, its keeper, the ssh clients and master, the client
      const local = sb.leftovers().filter((pid) => !remoteStarts(host).some((r) => r.pid === pid) && readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+0\s/m))
      for (const pid of local) process.kill(pid, 'SIGKILL')
      const ms = await nothingLeft(sb, host, 10_000)
      expect(ms).toBeLessThan(5000)
    })
  })

  on('a dropped network (the connection frozen): the session ends with one line, and the host stops the server by its heartbeat', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', MRS_SSH_KEEPALIVE: '1' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL, '--restarts', '0'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      const frozen = connections(host)
      for (const pid of frozen) process.kill(pid, 'SIGSTOP')
      try {
        const result = await mrs.done(30_000)
        expect(result.code).toBe(70)
        expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toEqual([expect.stringMatching(/^mrs: error: the connection to gpu-box was lost.*; not restarted \(--restarts 0\); log: /)])
        // the host stops it by itself, with the network still down
        await waitFor(() => remoteStarts(host).every((r) => !isAlive(r.pid)), 15_000, 'the host to stop the server on its own')
      } finally {
        for (const pid of frozen) process.kill(pid, 'SIGCONT')
      }
      await nothingLeft(sb, host)
    })
  })

  on('the host going down (its processes killed, sshd gone): the session ends with one clear line', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      // a reboot: every process of the host's user, then sshd itself
      for (const r of remoteStarts(host)) process.kill(r.pid, 'SIGKILL')
      await host.stop()
      const result = await mrs.done(60_000)
      expect(result.code).toBe(70)
      expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toHaveLength(1)
      expect(result.stderr).toMatch(/^mrs: error: the connection to gpu-box was lost.*gave up after 2 restarts; log: /m)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
