// Many launches at once: private servers get distinct ports and all succeed;
// shared ones start exactly one server. Nothing is left behind either way.
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, withSandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'
const N = 20

describe('load', () => {
  it(`${N} private launches at once: distinct ports, all succeed, nothing left`, async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const runs = Array.from({ length: N }, () => sb.start(['claude', '-m', MODEL, '--no-share', '-q']))
      const results = await Promise.all(runs.map((r) => r.done(120_000)))
      expect(results.map((r) => r.code)).toEqual(Array(N).fill(0))
      const ports = sb.records().filter((r) => r.event === 'listening').map((r) => r.port)
      expect(ports).toHaveLength(N)
      expect(new Set(ports).size).toBe(N)
      expect(sb.clientPids()).toHaveLength(N)
      await expectNoLeftovers(sb, 5000)
      expect(sb.tempLeftovers()).toEqual([])
    })
  }, 180_000)

  // the clients run long enough for every launch to overlap (a launch after the last session ended would rightly start anew)
  it(`${N} shared launches of the same model at once start one server`, async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:5', FAKE_MISTRALRS_LOAD_MS: '500' } }, async (sb) => {
      const runs = Array.from({ length: N }, () => sb.start(['claude', '-m', MODEL, '-q']))
      const results = await Promise.all(runs.map((r) => r.done(120_000)))
      expect(results.map((r) => r.code)).toEqual(Array(N).fill(0))
      expect(sb.serverPids()).toHaveLength(1)
      expect(sb.clientPids()).toHaveLength(N)
      await expectNoLeftovers(sb, 5000)
    })
  }, 180_000)
})
