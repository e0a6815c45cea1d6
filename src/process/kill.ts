/**
 * Stopping processes. On POSIX a server runs in its own process group and is
 * stopped as a group (its code-execution and shell tools may leave children);
 * a client shares mrs's terminal group, so it is stopped as a tree. Windows
 * has neither signals nor groups: both paths become `taskkill /T` via
 * tree-kill. Dependencies are parameters so the Windows path is unit-tested
 * on Linux.
 */
import treeKillModule from 'tree-kill'
import { descendants, groupAlive, isAlive, sleep } from './proc.js'

export interface KillDeps {
  platform: NodeJS.Platform
  kill: (pid: number, signal: NodeJS.Signals | 0) => unknown
  treeKill: (pid: number, signal: string, callback: (error?: Error) => void) => void
}

export const realKillDeps: KillDeps = {
  platform: process.platform,
  kill: (pid, signal) => process.kill(pid, signal),
  treeKill: treeKillModule,
}

const ignoreGone = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code
  if (code !== 'ESRCH') throw e
}

/** Sends a signal to every process of a group; a gone group is not an error. */
export async function signalGroup(pgid: number, signal: NodeJS.Signals, deps: KillDeps = realKillDeps): Promise<void> {
  if (deps.platform === 'win32') return signalTree(pgid, signal, deps)
  try {
    deps.kill(-pgid, signal)
  } catch (e) {
    ignoreGone(e)
  }
}

/** Sends a signal to a process and all its descendants (POSIX: a snapshot of the tree; Windows: taskkill /T). */
export function signalTree(pid: number, signal: NodeJS.Signals, deps: KillDeps = realKillDeps): Promise<void> {
  if (deps.platform === 'win32')
    return new Promise((resolve) => {
      // tree-kill reports an error when the process is already gone: that is success here.
      deps.treeKill(pid, signal, () => resolve())
    })
  signalEach([pid, ...descendants(pid)], signal, deps)
  return Promise.resolve()
}

function signalEach(pids: number[], signal: NodeJS.Signals, deps: KillDeps): void {
  for (const p of pids) {
    try {
      deps.kill(p, signal)
    } catch (e) {
      ignoreGone(e)
    }
  }
}

/**
 * Stops a process and its descendants: SIGTERM (or `first`) to the whole tree, SIGKILL to
 * whatever of it is left after `graceMs`. The tree is taken before the
 * first signal, because a child whose parent died is re-parented and can no
 * longer be found from it.
 */
export async function stopTree(pid: number, graceMs: number, deps: KillDeps = realKillDeps, first: NodeJS.Signals = 'SIGTERM'): Promise<StopResult> {
  if (deps.platform === 'win32') {
    await signalTree(pid, 'SIGKILL', deps)
    return { forced: true }
  }
  const tree = [pid, ...descendants(pid)]
  const alive = () => tree.filter(isAlive)
  if (!alive().length) return { forced: false }
  signalEach(tree, first, deps)
  if (await waitUntil(() => alive().length === 0, graceMs)) return { forced: false }
  const left = alive()
  signalEach([...left, ...left.flatMap(descendants)], 'SIGKILL', deps)
  await waitUntil(() => alive().length === 0, 2000)
  return { forced: true }
}

export interface StopResult {
  /** SIGKILL was needed because the grace period ran out. */
  forced: boolean
}

/**
 * SIGTERM to the group, then SIGKILL once `graceMs` has passed, then wait
 * (bounded) until the group is gone. Safe to call when it is already gone.
 */
export async function stopGroup(pgid: number, graceMs: number, deps: KillDeps = realKillDeps): Promise<StopResult> {
  const gone = () => (deps.platform === 'win32' ? !isAlive(pgid) : !groupAlive(pgid))
  if (gone()) return { forced: false }
  await signalGroup(pgid, 'SIGTERM', deps)
  if (await waitUntil(gone, graceMs)) return { forced: false }
  await signalGroup(pgid, 'SIGKILL', deps)
  await waitUntil(gone, 2000)
  return { forced: true }
}

export async function waitUntil(check: () => boolean, timeoutMs: number, intervalMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() >= deadline) return false
    await sleep(intervalMs)
  }
  return true
}
