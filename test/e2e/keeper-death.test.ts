// The double fault: the keeper that owns the server dies (kill -9, the OOM
// killer), alone or together with mrs. The server holds the GPU, so it must
// go within a bound on its own — no later mrs command needed — also when it
// ignores SIGTERM and when a tool left a child behind. A surviving mrs says
// what happened and exits 70, never "internal error".
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectGone, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'
/** The watchdog stops the server within about a second; this bound also holds on a loaded CI machine. */
const BOUND_MS = 5000

/** The registry entry of the one server, once its keeper has written it. */
function readEntry(sb: Sandbox): { keeperPid: number; serverPid: number } | undefined {
  try {
    const name = readdirSync(sb.serversDir).find((n) => n.endsWith('.json'))
    return name ? JSON.parse(readFileSync(join(sb.serversDir, name), 'utf8')) : undefined
  } catch {
    return undefined // not written yet, or being replaced
  }
}
const registry = (sb: Sandbox) => waitFor(() => readEntry(sb), 15_000, 'the registry entry')

const serverChildren = (sb: Sandbox) => sb.records().filter((r) => r.event === 'child').map((r) => r.childPid as number)

describe('the keeper dies with mrs (kill -9 of both at once)', () => {
  it.each([
    ['a normal server', ''],
    ['a server that ignores SIGTERM', 'ignore-term'],
    ['a server with a tool grandchild', 'child'],
  ])('%s is gone within the bound, with no further mrs command', async (_, fault) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', FAKE_MISTRALRS_FAULT: fault } }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL])
      await waitFor(() => sb.clientPids().length > 0, 15_000, 'the client to start')
      const { keeperPid, serverPid } = await registry(sb)
      process.kill(mrs.pid, 'SIGKILL')
      process.kill(keeperPid, 'SIGKILL')
      await expectGone([serverPid, ...serverChildren(sb)], BOUND_MS)
      // the orphaned client is not the server's to stop; the test ends it
      for (const pid of sb.clientPids()) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
      await expectNoLeftovers(sb, 3000)
    })
  })
})

describe('the keeper alone dies', () => {
  it('during the load: the server is stopped, mrs says so and exits 70', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '30000', FAKE_MISTRALRS_FAULT: 'ignore-term' } }, async (sb) => {
      const mrs = sb.start(['codex', '-m', MODEL])
      const { keeperPid } = await registry(sb)
      await waitFor(() => sb.serverPids().length > 0, 10_000, 'the server to start')
      process.kill(keeperPid, 'SIGKILL')
      const result = await mrs.done(15_000)
      expect(result.code).toBe(70)
      expect(result.stderr).toMatch(/mrs: error: mrs's server keeper died while mistral\.rs was loading, so the server was stopped; log: /)
      expect(result.stderr).not.toMatch(/internal error/)
      await expectGone(sb.serverPids(), BOUND_MS)
      expect(sb.clientPids()).toEqual([])
      await expectNoLeftovers(sb, 3000)
    })
  })

  it('mid-session, with a server that ignores SIGTERM: server and client stopped, exit 70', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', FAKE_MISTRALRS_FAULT: 'ignore-term,child' } }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL, '--grace', '1s'])
      await waitFor(() => sb.clientPids().length > 0, 15_000, 'the client to start')
      const { keeperPid, serverPid } = await registry(sb)
      process.kill(keeperPid, 'SIGKILL')
      const result = await mrs.done(15_000)
      expect(result.code).toBe(70)
      expect(result.stderr).toMatch(/mrs's server keeper died; stopping its server/)
      await expectGone([serverPid, ...serverChildren(sb), ...sb.clientPids()], BOUND_MS)
      await expectNoLeftovers(sb, 3000)
    })
  })

  it('while it waits to restart a crashed server: nothing is restarted, exit 70', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', FAKE_MISTRALRS_FAULT: 'crash-on-usr1' } }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL, '--restarts', '3'])
      await waitFor(() => sb.clientPids().length > 0, 15_000, 'the client to start')
      const { keeperPid, serverPid } = await registry(sb)
      process.kill(serverPid, 'SIGUSR1')
      // the first restart waits 0.5 s: kill the keeper inside that wait (its registry says `restarting`)
      await waitFor(() => (readEntry(sb) as { state?: string } | undefined)?.state === 'restarting', 10_000, 'the keeper to wait for a restart')
      process.kill(keeperPid, 'SIGKILL')
      const result = await mrs.done(15_000)
      expect(result.code).toBe(70)
      await expectGone([...sb.serverPids(), ...sb.clientPids()], BOUND_MS)
      expect(sb.serverPids()).toHaveLength(1)
      await expectNoLeftovers(sb, 3000)
    })
  })
})
