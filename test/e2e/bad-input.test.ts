// Every bad input gets one clear line that says what to do, a distinct
// exit code, and nothing is started or left behind.
import { createServer } from 'node:net'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, isAlive, withSandbox } from '../helpers/sandbox.js'
import { BAD_INPUT } from './bad-input.cases.js'

/** Every file (not directory) under `dir`. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)) : [join(dir, n)]))
}

/** A port that is taken for the duration of a case. */
async function takenPort(): Promise<{ port: number; close: () => void }> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return { port: (server.address() as { port: number }).port, close: () => server.close() }
}

describe('bad input', () => {
  it.each(BAD_INPUT.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    await withSandbox(c.options ?? {}, async (sb) => {
      if (c.config) sb.writeConfig(c.config)
      c.setup?.(sb)
      const taken = await takenPort()
      try {
        const args = typeof c.args === 'function' ? c.args(sb, taken.port) : c.args
        const result = await sb.run(args, { env: c.env, timeoutMs: 20_000 })
        expect(result.code).toBe(c.code)
        const lines = result.stderr.trimEnd().split('\n')
        const errors = lines.filter((l) => l.startsWith('mrs: error: '))
        expect(errors).toHaveLength(1)
        expect(errors[0]).toMatch(c.message)
        expect(result.stdout).toBe('')
        if (c.serverRuns) {
          // mistral.rs was started and failed (past its command line, or refused by it): it is gone again, its log kept
          const ran = sb.records().filter((r) => r.event === 'start' || r.event === 'refused').map((r) => r.pid as number)
          expect(ran.length).toBeGreaterThan(0)
          for (const pid of ran) expect(isAlive(pid), `mistralrs ${pid}`).toBe(false)
          expect(readdirSync(sb.logDir)).toHaveLength(1)
        } else {
          expect(lines).toEqual(errors)
          expect(sb.serverPids()).toEqual([])
          expect(filesUnder(sb.stateDir)).toEqual([])
        }
        expect(existsSync(sb.serversDir) ? readdirSync(sb.serversDir) : []).toEqual([])
        expect(sb.clientPids()).toEqual([])
        await expectNoLeftovers(sb)
        expect(sb.tempLeftovers()).toEqual([])
      } finally {
        taken.close()
      }
    })
  })
})
