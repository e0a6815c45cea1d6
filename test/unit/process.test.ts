// Protects stopping processes: a whole group on POSIX (TERM, then KILL after
// the grace period), taskkill /T via tree-kill on Windows, and signal routing.
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { signalGroup, signalTree, stopGroup, stopTree, type KillDeps } from '../../src/process/kill.js'
import { SignalHub } from '../../src/process/signals.js'
import { commandLine, groupAlive, isAlive } from '../../src/process/proc.js'
import { signalExitCode } from '../../src/errors.js'
import { isAlive as reallyAlive, waitFor } from '../helpers/sandbox.js'

/**
 * A process group: a leader that starts a child, both running until killed;
 * optionally ignoring SIGTERM. Resolves once the child says `armed`: its
 * handler is in place (it shares the leader's stdout).
 */
async function group(ignoreTerm = false): Promise<{ leader: number; child: number }> {
  const trap = ignoreTerm ? "process.on('SIGTERM', () => {});" : ''
  const code = `${trap} const c = require('child_process').spawn(process.execPath, ['-e', "${trap.replace(/'/g, "\\'")} console.log('armed'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'inherit', 'ignore'] }); console.log('child ' + c.pid); setInterval(() => {}, 1000)`
  const leader = spawn(process.execPath, ['-e', code], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
  leader.unref()
  let output = ''
  leader.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d))
  const child = await waitFor(() => output.includes('armed') && Number(output.match(/child (\d+)/)?.[1]), 10_000, 'the group to start')
  return { leader: leader.pid!, child }
}

describe('stopGroup (POSIX)', () => {
  it('stops the leader and its children with SIGTERM', async () => {
    const { leader, child } = await group()
    const t0 = Date.now()
    expect(await stopGroup(leader, 5000)).toEqual({ forced: false })
    expect(Date.now() - t0).toBeLessThan(2000)
    await waitFor(() => !reallyAlive(leader) && !reallyAlive(child), 3000, 'group gone')
  })
  it('sends SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const { leader, child } = await group(true)
    const t0 = Date.now()
    expect(await stopGroup(leader, 300)).toEqual({ forced: true })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300)
    await waitFor(() => !reallyAlive(leader) && !reallyAlive(child), 3000, 'group gone')
  })
  it('is harmless on a group that is already gone, and twice', async () => {
    const { leader } = await group()
    await stopGroup(leader, 1000)
    expect(await stopGroup(leader, 1000)).toEqual({ forced: false })
    expect(groupAlive(leader)).toBe(false)
  })
})

describe('stopTree', () => {
  it('kills a child that ignores SIGTERM even after its parent died of it and it was re-parented', async () => {
    // the parent obeys SIGTERM, its child traps it
    // the child shares the parent's stdout and says `armed` once its handler is in place
    const code = `const c = require('child_process').spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('armed'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'inherit', 'ignore'] }); console.log('child ' + c.pid); setInterval(() => {}, 1000)`
    const parent = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] })
    let output = ''
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d))
    const child = await waitFor(() => output.includes('armed') && Number(output.match(/child (\d+)/)?.[1]), 10_000, 'the child to arm its handler')
    const result = await stopTree(parent.pid!, 300)
    expect(result.forced).toBe(true)
    await waitFor(() => !reallyAlive(parent.pid!) && !reallyAlive(child), 3000, 'tree gone')
  })
  it('is done at once for a process that is already gone', async () => {
    expect(await stopTree(2 ** 22 + 12345, 1000)).toEqual({ forced: false })
  })
})

describe('Windows path (tree-kill → taskkill /T)', () => {
  const fakeWindows = () => {
    const calls: [number, string][] = []
    const deps: KillDeps = {
      platform: 'win32',
      kill: () => {
        throw new Error('process.kill(-pgid) must not be used on Windows')
      },
      treeKill: (pid, signal, cb) => {
        calls.push([pid, signal])
        cb()
      },
    }
    return { calls, deps }
  }
  it('signals the tree instead of a group', async () => {
    const { calls, deps } = fakeWindows()
    await signalGroup(1234, 'SIGTERM', deps)
    await signalTree(99, 'SIGKILL', deps)
    expect(calls).toEqual([
      [1234, 'SIGTERM'],
      [99, 'SIGKILL'],
    ])
  })
  it('treats "already gone" as success', async () => {
    const deps: KillDeps = { platform: 'win32', kill: () => 0, treeKill: (_p, _s, cb) => cb(new Error('The process "1" not found.')) }
    await expect(signalTree(1, 'SIGTERM', deps)).resolves.toBeUndefined()
  })
  it('uses process.kill(-pgid) on POSIX and ignores ESRCH', async () => {
    const seen: number[] = []
    const deps: KillDeps = {
      platform: 'linux',
      kill: (pid) => {
        seen.push(pid)
        throw Object.assign(new Error('gone'), { code: 'ESRCH' })
      },
      treeKill: () => {
        throw new Error('tree-kill is the Windows path')
      },
    }
    await signalGroup(4321, 'SIGTERM', deps)
    expect(seen).toEqual([-4321])
  })
})

describe('process questions', () => {
  it('reads a command line and tells alive from gone', async () => {
    const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'marker-arg'], { stdio: 'ignore' })
    await waitFor(() => commandLine(p.pid!)?.includes('marker-arg'), 3000, 'cmdline')
    expect(isAlive(p.pid!)).toBe(true)
    p.kill('SIGKILL')
    await waitFor(() => !reallyAlive(p.pid!), 3000, 'exit')
    expect(isAlive(-1)).toBe(false)
  })
})

describe('SignalHub', () => {
  it('hands each signal to the current handler and records the first', () => {
    const source = new EventEmitter()
    const hub = new SignalHub(source as never)
    const seen: string[] = []
    hub.set((s) => seen.push(`a:${s}`))
    source.emit('SIGTERM')
    hub.set((s) => seen.push(`b:${s}`))
    source.emit('SIGINT')
    expect(seen).toEqual(['a:SIGTERM', 'b:SIGINT'])
    expect(hub.received).toBe('SIGTERM')
    hub.dispose()
    expect(source.listenerCount('SIGINT')).toBe(0)
    expect(source.listenerCount('SIGHUP')).toBe(0)
  })
  it('maps signals to 128+N exit codes', () => {
    expect([signalExitCode('SIGHUP'), signalExitCode('SIGINT'), signalExitCode('SIGTERM')]).toEqual([129, 130, 143])
  })
})
