// Every way a session can end, end to end: the exit code is right, the
// server and its children, the client and its children are gone by PID
// within a bound, temp files are removed, and the user's files are
// byte-for-byte what they were. Fake clients (sh scripts) play the client;
// the restart test at the end uses the real ones.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectGone, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'

/** Everything the sandbox saw start: servers, their tool children, clients and grandchildren. */
const everyPid = (sb: Sandbox) => [...sb.serverPids(), ...sb.records().filter((r) => r.event === 'child').map((r) => r.childPid), ...sb.clientPids()]

async function ended(sb: Sandbox, unchanged: () => void, withinMs = 3000) {
  await expectGone(everyPid(sb), withinMs)
  await expectNoLeftovers(sb, withinMs)
  expect(sb.tempLeftovers()).toEqual([])
  expect(readdirSync(sb.serversDir)).toEqual([])
  unchanged()
}

const clientStarted = (sb: Sandbox) => waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 15_000, 'the client to start')

describe('exit paths', () => {
  it.each([
    ['exits 0', 'exit:0', 0],
    ['exits non-zero', 'exit:3', 3],
    ['is killed by a signal', 'signal:SEGV', 139],
  ])('client %s → mrs exits with its code', async (_, mode, code) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: mode } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const result = await sb.run(['claude', '-m', MODEL, '--', '-p', 'hi'])
      expect(result.code).toBe(code)
      await ended(sb, unchanged)
    })
  })

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s to mrs during the load → server stopped, exit %d, client never started', async (signal, code) => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '30000' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['codex', '-m', MODEL])
      await waitFor(() => sb.serverPids().length > 0, 10_000, 'the server to start')
      mrs.kill(signal)
      expect((await mrs.done(10_000)).code).toBe(code)
      expect(sb.clientPids()).toEqual([])
      await ended(sb, unchanged)
    })
  })

  it('Ctrl-C in the terminal while the client runs belongs to the client', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['claude', '-m', MODEL])
      await clientStarted(sb)
      // Wait until the fake has exec'd `sleep`: a SIGINT that lands while dash is
      // forking is caught by dash's handler and lost (a shell race, not mrs's).
      const client = sb.clientPids()[0]!
      await waitFor(() => readFileSync(`/proc/${client}/comm`, 'utf8').trim() === 'sleep', 5000, 'the client to exec sleep')
      // the terminal signals the whole foreground group: mrs ignores it, the client (sleep) dies of it
      mrs.killGroup('SIGINT')
      expect((await mrs.done(10_000)).code).toBe(130)
      await ended(sb, unchanged)
    })
  })

  it.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s to mrs while the client runs → forwarded; a client that ignores it is killed after the grace period', async (signal, code) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'ignore-term:30' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['codex', '-m', MODEL, '--grace', '1s'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('ready ')), 15_000, 'the client to be ready')
      const t0 = Date.now()
      mrs.kill(signal)
      expect((await mrs.done(10_000)).code).toBe(code)
      const took = Date.now() - t0
      // SIGHUP is not ignored by the fake: it exits at once; SIGTERM is, so the grace period runs out
      if (signal === 'SIGTERM') expect(took).toBeGreaterThanOrEqual(1000)
      expect(took).toBeLessThan(5000)
      await ended(sb, unchanged)
    })
  })

  it('stops the client\'s whole tree when mrs must stop it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'child:30' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['claude', '-m', MODEL, '--grace', '1s'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('grandchild ')), 15_000, 'the grandchild')
      const grandchild = Number(sb.clientLines().find((l) => l.startsWith('grandchild '))!.split(' ')[1])
      expect(isAlive(grandchild)).toBe(true)
      mrs.kill('SIGTERM')
      expect((await mrs.done(10_000)).code).toBe(143)
      await expectGone([grandchild], 3000)
      await ended(sb, unchanged)
    })
  })

  it('SIGKILL to mrs during the load: the keeper still stops the server', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '30000', FAKE_MISTRALRS_FAULT: 'child' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['claude', '-m', MODEL])
      await waitFor(() => sb.records().some((r) => r.event === 'child'), 10_000, 'the server and its child')
      mrs.kill('SIGKILL')
      expect((await mrs.processExited).signal).toBe('SIGKILL')
      await expectGone(everyPid(sb), 3000)
      await expectNoLeftovers(sb, 3000)
      unchanged()
    })
  })

  it('SIGKILL to mrs while the client runs: server, client and its children are all stopped', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'child:30' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['codex', '-m', MODEL, '--grace', '1s'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('grandchild ')), 15_000, 'the client and its child')
      mrs.kill('SIGKILL')
      expect((await mrs.processExited).signal).toBe('SIGKILL')
      await expectGone(everyPid(sb), 4000)
      await expectNoLeftovers(sb, 4000)
      unchanged()
      // the SIGKILLed run could not remove its private temp dir; the next run does
      const stale = sb.tempLeftovers()
      expect(stale.some((n) => n.startsWith(`session-${mrs.pid}-`))).toBe(true)
      expect((await sb.run(['codex', '-m', MODEL], { env: { FAKE_CLIENT_MODE: 'exit:0' } })).code).toBe(0)
      expect(sb.tempLeftovers()).toEqual([])
    })
  })

  it('server crashes during the load → exit 67 at once, client never started', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'crash-load' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(67)
      expect(sb.clientPids()).toEqual([])
      await ended(sb, unchanged)
    })
  })

  it('server keeps crashing while the client runs → restarted on the same port, then the client is stopped, exit 70', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', FAKE_MISTRALRS_FAULT: 'crash-on-usr1' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const mrs = sb.start(['claude', '-m', MODEL, '--restarts', '2', '--grace', '1s'])
      await clientStarted(sb)
      // crash each server once the keeper has it serving (its model list asked): the first and two restarts
      // (one killed between its listen and the keeper's look is a crash in the load, which is another path)
      for (let n = 1; n <= 3; n++) {
        const listening = await waitFor(() => sb.records().filter((r) => r.event === 'listening')[n - 1], 15_000, `server ${n} to listen`)
        await waitFor(() => sb.requests().some((r) => r.pid === listening.pid && r.path === '/v1/models'), 15_000, `server ${n} to serve`)
        process.kill(listening.pid, 'SIGUSR1')
      }
      const result = await mrs.done(30_000)
      expect(result.code).toBe(70)
      // the end of the session is said at once, one line for the event; the restarts before it once the client is gone
      expect(result.stderr).toMatch(/^mrs: error: mistral\.rs was killed by SIGABRT \(CUDA error: an illegal memory access was encountered\); gave up after 2 restarts; log: \S+$/m)
      expect(result.stderr.match(/mrs: error:/g)).toHaveLength(1)
      const crashes = result.stderr.match(/mistral\.rs was killed by SIGABRT \(CUDA error: an illegal memory access was encountered\); restarted it on the same port \((\d)\/2\)/g)
      expect(crashes).toHaveLength(2)
      // three server processes, all on one port
      const ports = new Set(sb.records().filter((r) => r.event === 'listening').map((r) => r.port))
      expect(sb.serverPids()).toHaveLength(3)
      expect(ports.size).toBe(1)
      await ended(sb, unchanged)
    })
  })

  it('server ignores SIGTERM → SIGKILL after the grace period, when the session ends', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'ignore-term,child' } }, async (sb) => {
      const unchanged = sb.seedUserFiles()
      const result = await sb.run(['claude', '-m', MODEL, '--grace', '1s'])
      expect(result.code).toBe(0)
      expect(result.ms).toBeGreaterThanOrEqual(1000)
      await ended(sb, unchanged, 1000)
    })
  })
})

describe('temp files', () => {
  it('keeps session files private (dir 0700, files 0600) and removes them', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const mrs = sb.start(['codex', '-m', MODEL])
      await clientStarted(sb)
      const [dir] = sb.tempLeftovers().filter((n) => n.startsWith('session-'))
      const full = join(sb.tmp, `mrs-${process.getuid!()}`, dir!)
      expect(statSync(full).mode & 0o777).toBe(0o700)
      const files = readdirSync(full)
      expect(files).toEqual(['codex-models.json'])
      for (const f of files) expect(statSync(join(full, f)).mode & 0o777).toBe(0o600)
      mrs.kill('SIGTERM')
      await mrs.done()
      expect(sb.tempLeftovers()).toEqual([])
    })
  })
})

describe('the server dies between two turns (real clients)', () => {
  // The fake answers the first request with a tool call and then crashes; the
  // client runs the tool and sends the result while the server is down. mrs
  // restarts it on the same port and the client's retry gets the answer.
  const env = { FAKE_MISTRALRS_FAULT: 'crash-after=1' }

  it('Codex gets its answer after mrs restarts the server', async () => {
    await withSandbox({ clients: 'real', env }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--', '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'RUN `echo survived`'], { timeoutMs: 60_000 })
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^tool said: [\s\S]*survived/)
      // said once Codex had exited, not drawn over it while it ran
      expect(result.stderr).toMatch(/^mrs: while codex ran: mistral\.rs was killed by SIGABRT \(cuBLAS error: CUBLAS_STATUS_EXECUTION_FAILED\); restarted it on the same port \(1\/2\); log: \S+$/m)
      expect(result.stderr).not.toMatch(/^mrs: error:/m)
      expect(sb.serverPids()).toHaveLength(2)
      await expectNoLeftovers(sb)
    })
  })

  it('Claude Code gets its answer after mrs restarts the server', async () => {
    await withSandbox({ clients: 'real', env }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--', '--allowedTools', 'Bash', '-p', 'RUN `echo survived`'], { timeoutMs: 60_000 })
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('tool said: survived\n')
      expect(result.stderr).toMatch(/^mrs: while claude ran: mistral\.rs was killed by SIGABRT .*; restarted it on the same port \(1\/2\)/m)
      expect(sb.serverPids()).toHaveLength(2)
      await expectNoLeftovers(sb)
    })
  })
})

describe('the spare keeper (started while mrs loads, to save a Node start-up)', () => {
  /** The keepers that ran, from the keeper's argv in each registry entry and each log's name. */
  const logs = (sb: Sandbox) => readdirSync(sb.logDir)

  it('is the keeper of the server a launch starts, and its log is named for the model', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL])
      await clientStarted(sb)
      const [entry] = readdirSync(sb.serversDir).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(join(sb.serversDir, n), 'utf8')))
      // one keeper, whose argv names the server it keeps
      expect(readFileSync(`/proc/${entry.keeperPid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['mrs-keeper', entry.id]))
      expect(logs(sb)).toEqual([expect.stringMatching(new RegExp(`-Qwen_Qwen3-4B-${entry.id}\\.log$`))])
      mrs.kill('SIGTERM')
      await mrs.done()
      await expectNoLeftovers(sb)
    })
  })

  it.each([
    ['bad input', ['claude', '-m', ''], 64, true],
    ['a client that is not installed', ['claude', '-m', MODEL], 127, true],
    // the command line says no server will be needed: none is started
    ['the client\'s help', ['claude', '--', '--help'], 0, false],
    ['--dry-run', ['claude', '-m', MODEL, '--dry-run'], 0, false],
  ])('one that is not needed (%s) exits with mrs and leaves no log behind', async (_, args, code, spared) => {
    await withSandbox({ clients: code === 127 ? 'none' : 'fake' }, async (sb) => {
      const result = await sb.run(args)
      expect(result.code).toBe(code)
      await expectNoLeftovers(sb, 3000)
      // a spare opens its log at once (so the log dir exists); unused, the log is removed
      expect(existsSync(sb.logDir)).toBe(spared)
      if (spared) expect(logs(sb)).toEqual([])
      expect(sb.serverPids()).toEqual([])
    })
  })
})
