// End to end: the built mrs against the fake mistralrs. Protects the
// supervisor's promises: ready detection, early-exit detection with the log
// tail, --timeout, port handling, signals during startup, teardown by PID,
// logs, and that nothing is left behind.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FAKE_BIN, expectGone, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { listenerOwner } from '../../src/server/owner.js'

const MODEL = 'Qwen/Qwen3-4B'

/** A port free at this moment. */
function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1')
  return new Promise((resolve) => probe.once('listening', () => {
    const { port } = probe.address() as { port: number }
    probe.close(() => resolve(port))
  }))
}

/** Serves until ready, returns the running mrs and its URL. */
async function serveReady(sb: Sandbox, args: string[] = [], env: Record<string, string> = {}) {
  const mrs = sb.start(['serve', '-m', MODEL, ...args], { env })
  const [, url] = await mrs.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/)
  return { mrs, url: url! }
}

async function models(url: string) {
  const res = await fetch(`${url}/v1/models`)
  return (await res.json()) as { data: { id: string }[] }
}

describe('mrs serve', () => {
  it('starts mistral.rs on a free loopback port, prints the URLs on stderr, stops on Ctrl-C', async () => {
    await withSandbox({}, async (sb) => {
      const { mrs, url } = await serveReady(sb)
      expect((await models(url)).data.map((m) => m.id)).toEqual(['default', MODEL])
      // mistral.rs listens on a private loopback port of its own; the clients' port is the keeper's, held from the start
      const [start] = sb.records().filter((r) => r.event === 'start')
      const backend = start!.argv[2]
      // at full precision (it fits this machine), told the Hugging Face cache mrs reads
      expect(start!.argv).toEqual(['serve', '-p', backend, '--host', '127.0.0.1', '-m', MODEL, '--hf-cache', join(sb.env.HF_HOME!, 'hub')])
      expect(backend).not.toBe(url.split(':')[2])
      const [entry] = readdirSync(sb.serversDir).filter((n) => n.endsWith('.json'))
      const info = JSON.parse(readFileSync(join(sb.serversDir, entry!), 'utf8'))
      expect(await listenerOwner('127.0.0.1', Number(url.split(':')[2]), info.keeperPid)).toEqual({ owner: 'process' })
      expect(mrs.stderr).toContain(`OpenAI / Responses API  ${url}/v1`)
      expect(mrs.stderr).toContain(`Anthropic API           ${url}`)
      mrs.kill('SIGINT')
      const result = await mrs.done()
      expect(result.code).toBe(130)
      expect(result.stdout).toBe('')
      await expectGone(sb.serverPids(), 3000)
      expect(readdirSync(sb.serversDir)).toEqual([])
      expect(sb.tempLeftovers()).toEqual([])
    })
  })

  it.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
    ['SIGINT', 130],
  ] as const)('aborts cleanly on %s during the load: server stopped, exit %d', async (signal, code) => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '20000' } }, async (sb) => {
      const mrs = sb.start(['serve', '-m', MODEL])
      await waitFor(() => sb.serverPids().length > 0, 10_000, 'the server to start')
      await mrs.waitForStderr(/Loading/)
      mrs.kill(signal)
      const result = await mrs.done(10_000)
      expect(result.code).toBe(code)
      await expectGone(sb.serverPids(), 3000)
      await expectNoLeftovers(sb)
    })
  })

  it('fails at once when mistral.rs dies while loading, with its error and the log tail', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'crash-load', FAKE_MISTRALRS_LOAD_MS: '200' } }, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL])
      expect(result.code).toBe(67)
      expect(result.stderr).toMatch(/mistral\.rs exited with code 101 before it was ready: .*CUDA error: out of memory; log: \S+\.log/)
      expect(result.stderr).toContain("panicked at mistralrs-core/src/pipeline/loaders/mod.rs")
      expect(result.ms).toBeLessThan(10_000)
    })
  })

  it('says in one line that Hugging Face refused a model that does not exist, with mistral.rs\'s own message below (exit 68)', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['serve', '-m', 'org/does-not-exist'])
      expect(result.code).toBe(68)
      expect(result.stderr).toMatch(/^mrs: error: Hugging Face refused org\/does-not-exist \(HTTP 401\): there is no such model, or it is private or gated/m)
      expect(result.stderr).toMatch(/Could not access `org\/does-not-exist`/)
    })
  })

  it('shows mistral.rs\'s usage error for a bad --server-arg', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL, '--server-arg=--bogus'])
      expect(result.code).toBe(67)
      expect(result.stderr).toMatch(/exited with code 2 before it was ready/)
      expect(result.stderr).toContain("error: unexpected argument '--bogus' found")
    })
  })

  it('passes agent tools and extra args through', async () => {
    await withSandbox({}, async (sb) => {
      const { mrs } = await serveReady(sb, ['--web-search', '--shell', '--server-arg=--isq', '--server-arg=4'])
      expect(sb.records().find((r) => r.event === 'start')!.argv.slice(7)).toEqual(['--enable-search', '--enable-shell', '--hf-cache', join(sb.env.HF_HOME!, 'hub'), '--isq', '4'])
      mrs.kill('SIGTERM')
      expect((await mrs.done()).code).toBe(143)
    })
  })

  it('gives up after --timeout when the server never becomes ready, and stops it', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'never-ready' } }, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL, '--timeout', '1s'])
      expect(result.code).toBe(124)
      expect(result.stderr).toMatch(/mistral\.rs was not ready within 1\.0s \(--timeout\); log: /)
      await expectGone(sb.serverPids(), 3000)
    })
  })

  it('refuses an explicit port that is taken, before mistral.rs starts', async () => {
    await withSandbox({}, async (sb) => {
      const blocker = createServer().listen(0, '127.0.0.1')
      await new Promise((r) => blocker.once('listening', r))
      const port = (blocker.address() as { port: number }).port
      try {
        const result = await sb.run(['serve', '-m', MODEL, '--port', String(port)])
        expect(result.code).toBe(66)
        expect(result.stderr).toMatch(new RegExp(`port ${port} is already in use; pick another --port or leave it out for a free one`))
        expect(sb.serverPids()).toEqual([])
      } finally {
        blocker.close()
      }
    })
  })

  it('starts again on another port when mistral.rs\'s port is taken before it binds it; the clients\' port stays', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'port-race' } }, async (sb) => {
      const { mrs, url } = await serveReady(sb)
      const [, from, clients] = mrs.stderr.match(/port (\d+) was taken by another process \(uid \d+\) before mistral\.rs could bind it; starting it again on another port \(the clients' port stays (\d+)\)/)!
      expect(url).toBe(`http://127.0.0.1:${clients}`)
      const ports = sb.records().filter((r) => r.event === 'start').map((r) => r.argv[2])
      expect(ports).toHaveLength(2)
      expect(ports[0]).toBe(from)
      expect(ports[1]).not.toBe(from)
      expect((await models(url)).data.map((m) => m.id)).toEqual(['default', MODEL])
      mrs.kill('SIGINT')
      await mrs.done()
      // the fake's squatter holds the port for 3 s, then leaves
      await expectGone(sb.records().filter((r) => r.event === 'squatter').map((r) => r.squatterPid), 6000)
    })
  })

  it('with --server-port, a race for mistral.rs\'s own port is retried too: the port given is the clients\', held by mrs', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'port-race' } }, async (sb) => {
      const port = await freePort()
      const mrs = sb.start(['serve', '-m', MODEL, '--port', String(port)])
      await mrs.waitForStderr(/Press Ctrl-C to stop/)
      // seen listening (someone else's listener) or refused the bind (mistral.rs's own error): either way, another port
      expect(mrs.stderr).toMatch(/port \d+ was taken (by another process \(uid \d+\) )?before mistral\.rs could bind it; starting it again on another port \(the clients' port stays \d+\)/)
      expect((await models(`http://127.0.0.1:${port}`)).data.map((m) => m.id)).toEqual(['default', MODEL])
      mrs.kill('SIGINT')
      expect((await mrs.done()).code).toBe(130)
      await expectGone(sb.records().filter((r) => r.event === 'squatter').map((r) => r.squatterPid), 6000)
    })
  })

  it('fails clearly when mistral.rs\'s port is taken at every try', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'port-race-always' } }, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL])
      expect(result.code).toBe(66)
      expect(result.stderr).toMatch(/mistral\.rs could not bind port \d+: it is already in use/)
      expect(sb.serverPids()).toHaveLength(4)
      await expectGone(sb.serverPids(), 3000)
      await expectGone(sb.records().filter((r) => r.event === 'squatter').map((r) => r.squatterPid), 6000)
    })
  })

  it('says how to install mistral.rs when it is missing (exit 127)', async () => {
    await withSandbox({ mistralrs: false }, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL])
      expect(result.code).toBe(127)
      expect(result.stderr).toMatch(/mistralrs not found on PATH; install it: curl .*install\.sh \| sh/)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    })
  })

  it('uses --mistralrs or MRS_MISTRALRS to find the binary', async () => {
    await withSandbox({ mistralrs: false }, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL, '--dry-run'], { env: { MRS_MISTRALRS: join(FAKE_BIN, 'mistralrs') } })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`${join(FAKE_BIN, 'mistralrs')} serve -p <free port>`)
    })
  })

  it('--dry-run prints the plan and starts nothing', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL, '--port', '4321', '--agent', '--dry-run'])
      expect(result.code).toBe(0)
      // --port is the clients' port, mrs's own; mistral.rs gets a private one behind it
      expect(result.stdout).toMatch(/^server: +\S+mistralrs serve -p <free port> --host 127\.0\.0\.1 -m Qwen\/Qwen3-4B --agent --hf-cache \S+\/hf\/hub$/m)
      expect(result.stdout).toMatch(/^clients: +http:\/\/127\.0\.0\.1:4321 \(the port mrs holds for the server's whole life\)$/m)
      expect(result.stdout).toMatch(/^quant: +full precision: 7\.5 GB of weights fit the \d+ GB RAM$/m)
      expect(result.stdout).toMatch(/^urls: +OpenAI\/Responses http:\/\/127\.0\.0\.1:4321\/v1/m)
      // mistralrs was asked its version (--quant or --isq), nothing was started
      expect(sb.records().map((r) => r.event)).toEqual(['version'])
      expect(existsSync(sb.stateDir)).toBe(false)
    })
  })

  it('-q prints nothing but errors; -v streams the server output', async () => {
    await withSandbox({}, async (sb) => {
      const quiet = sb.start(['serve', '-m', MODEL, '-q'])
      await waitFor(() => sb.requests().length > 0 || sb.records().some((r) => r.event === 'listening'), 10_000, 'listening')
      await new Promise((r) => setTimeout(r, 300))
      quiet.kill('SIGINT')
      expect((await quiet.done()).stderr).toBe('')
      const { mrs } = await serveReady(sb, ['-v', '--no-share'])
      expect(mrs.stderr).toMatch(/│ .*Server listening on http:\/\/127\.0\.0\.1:\d+/)
      mrs.kill('SIGINT')
      await mrs.done()
    })
  })

  it('writes the server log under $XDG_STATE_HOME/mrs/logs and keeps the newest 20', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(sb.logDir, { recursive: true })
      for (let i = 0; i < 25; i++) {
        const p = join(sb.logDir, `old-${String(i).padStart(2, '0')}.log`)
        writeFileSync(p, 'old\n')
        utimesSync(p, new Date(2020, 0, 1, 0, i), new Date(2020, 0, 1, 0, i))
      }
      const { mrs } = await serveReady(sb)
      mrs.kill('SIGINT')
      await mrs.done()
      const logs = readdirSync(sb.logDir)
      expect(logs).toHaveLength(20)
      expect(logs).not.toContain('old-00.log')
      const mine = logs.find((n) => !n.startsWith('old-'))!
      expect(readFileSync(join(sb.logDir, mine), 'utf8')).toMatch(/Server listening on http:\/\/127\.0\.0\.1:\d+/)
    })
  })

  it('still runs when the log directory is not writable, and warns once', async () => {
    await withSandbox({}, async (sb) => {
      // a file where the directory should be: works even for root, unlike chmod
      mkdirSync(join(sb.stateDir), { recursive: true })
      writeFileSync(sb.logDir, 'not a directory')
      const { mrs } = await serveReady(sb)
      expect(mrs.stderr.match(/warning: cannot write server logs/g)).toHaveLength(1)
      mrs.kill('SIGINT')
      expect((await mrs.done()).code).toBe(130)
      chmodSync(sb.logDir, 0o644)
    })
  })

  // mounting a small tmpfs needs root, which CI has; elsewhere this one case cannot be set up
  requires('root')('still runs when the disk is full, and warns once', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      mkdirSync(sb.logDir, { recursive: true })
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', sb.logDir])
      try {
        // fill it: creating the log still works, writing to it fails with ENOSPC
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${join(sb.logDir, 'filler.bin')}`, 'bs=4k', 'count=64'], { stdio: 'ignore' })
        } catch {
          // dd stops with "no space left": that is the point
        }
        const result = await sb.run(['claude', '-m', MODEL])
        expect(result.code).toBe(0)
        expect(result.stderr.match(/warning: cannot write the server log .* \(ENOSPC\); the server keeps running/g), result.stderr).toHaveLength(1)
      } finally {
        execFileSync('umount', [sb.logDir])
      }
    })
  })

  it('stops a server that ignores SIGTERM with SIGKILL after the grace period', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'ignore-term,child' } }, async (sb) => {
      const { mrs } = await serveReady(sb, ['--grace', '1s', '--no-share'])
      const child = sb.records().find((r) => r.event === 'child')!.childPid
      expect(isAlive(child)).toBe(true)
      const t0 = Date.now()
      mrs.kill('SIGTERM')
      expect((await mrs.done()).code).toBe(143)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000)
      await expectGone([...sb.serverPids(), child], 1000)
      expect(sb.records().some((r) => r.event === 'ignored-sigterm')).toBe(true)
    })
  })
})
