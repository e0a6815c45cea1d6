// What the `--on HOST` tests check around a session on the test's sshd host.
import { readFileSync, writeFileSync } from 'node:fs'
import { expect } from 'vitest'
import { expectNoLeftovers, isAlive, waitFor, type Sandbox } from './sandbox.js'
import { impostor } from './impostor.js'
import type { SshHost } from './sshd.js'

/** The servers the fake mistralrs started on the host. */
export const remoteStarts = (host: SshHost) => host.records().filter((r) => r.event === 'start')

/** Nothing of the test is left, on the host (the remote fake, its shell, tail) or here; ms until the host's server was gone. */
export async function nothingLeft(sb: Sandbox, host: SshHost, withinMs = 5000): Promise<number> {
  const since = Date.now()
  await waitFor(() => remoteStarts(host).every((r) => !isAlive(r.pid)), withinMs, `the server on the host to be gone (pids ${remoteStarts(host).map((r) => r.pid).join(', ')})`)
  const gone = Date.now() - since
  await expectNoLeftovers(sb, withinMs)
  return gone
}

/**
 * Another user of the host binds mistral.rs's port there during the load: mrs says so (`who` is how it names
 * them), never talks to it, and serves from another port; Ctrl-C ends it.
 */
export async function impostorOnHost(sb: Sandbox, host: SshHost, model: string, who: string): Promise<void> {
  const evil = await impostor(sb, model)
  try {
    const serve = sb.start(['serve', '--on', host.alias, '-m', model])
    const [, url] = await serve.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/, 30_000)
    const said = `was taken by another process (${who}) before mistral.rs could bind it; starting it again on another port`
    expect(serve.stderr).toMatch(new RegExp(`port \\d+ ${said.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    expect(evil.lines()).toContainEqual(expect.stringMatching(/^bound \d+$/))
    const ids = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id)
    expect(ids).toEqual(['default', model])
    expect(evil.lines().filter((l) => l.startsWith('request'))).toEqual([])
    serve.kill('SIGINT')
    expect((await serve.done(15_000)).code).toBe(130)
  } finally {
    evil.stop()
  }
}

/** The user's own ssh config makes every connection a master kept for 10 minutes (as many have it), its sockets in `dir`. */
export function userControlPersist(host: SshHost, dir: string): void {
  writeFileSync(host.configPath, `${readFileSync(host.configPath, 'utf8')}\nHost *\n  ControlMaster auto\n  ControlPath ${dir}/%C\n  ControlPersist 10m\n`)
}
