/**
 * Small, dependency-free questions about processes: is it alive, what is its
 * command line. Used to verify state files instead of trusting them.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  // an exited process whose parent never reaps it (PID 1 in many containers) is gone for our purposes
  return !isZombie(pid)
}

/**
 * True while any live process of the group exists (POSIX only). On Linux
 * zombies are skipped: orphans that a non-reaping PID 1 never collects would
 * otherwise keep a dead group "alive" forever.
 */
export function groupAlive(pgid: number): boolean {
  if (process.platform === 'win32') return isAlive(pgid)
  try {
    process.kill(-pgid, 0)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  if (process.platform !== 'linux') return true
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue // not a PID
    const stat = procStat(Number(name))
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') return true
  }
  return false
}

/** State, process group and start time (clock ticks since boot) from /proc/<pid>/stat (Linux). */
function procStat(pid: number): { state: string; pgrp: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name, which may itself hold spaces and parentheses; field 3 (state) is index 0
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state: fields[0]!, pgrp: Number(fields[2]), start: fields[19]! }
  } catch {
    return undefined
  }
}

/**
 * When the process started, as an opaque string that stays the same for the
 * life of the process and differs for a later process that reuses its PID
 * (Linux: clock ticks since boot; elsewhere: `ps -o lstart`). Undefined when
 * it cannot be read (gone, or no `ps`, as on Windows).
 */
export function startTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  if (process.platform === 'linux') return procStat(pid)?.start
  if (process.platform === 'win32') return undefined
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return out || undefined
  } catch {
    return undefined
  }
}

/** True when the process is stopped (SIGSTOP, Ctrl-Z): alive, but it will answer nothing until continued. */
export function isStopped(pid: number): boolean {
  if (process.platform === 'linux') {
    const state = procStat(pid)?.state
    return state === 'T' || state === 't'
  }
  if (process.platform === 'win32') return false
  try {
    return execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().startsWith('T')
  } catch {
    return false
  }
}

/** The process's argv, or undefined if it is gone or cannot be read. */
export function commandLine(pid: number): string[] | undefined {
  if (!isAlive(pid)) return undefined
  try {
    if (process.platform === 'linux') {
      const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      return raw.split('\0').filter((s, i, a) => s !== '' || i < a.length - 1)
    }
    if (process.platform === 'win32') return undefined
    const out = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    return out.trim().split(/\s+/)
  } catch {
    return undefined
  }
}

/** Parent of every process, read once: /proc on Linux, `ps` elsewhere. */
function parentTable(): Map<number, number> {
  const table = new Map<number, number>()
  if (process.platform === 'linux') {
    for (const name of readdirSync('/proc')) {
      if (name.charCodeAt(0) > 57) continue
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
        table.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
      } catch {
        // exited meanwhile
      }
    }
    return table
  }
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    for (const line of out.trim().split('\n')) {
      const [pid, ppid] = line.trim().split(/\s+/).map(Number)
      if (pid && ppid !== undefined) table.set(pid, ppid)
    }
  } catch {
    // no ps: only the process itself is known
  }
  return table
}

/** All descendants of `pid` (children, grandchildren, ...), as of now. */
export function descendants(pid: number): number[] {
  const parents = parentTable()
  const found: number[] = []
  const queue = [pid]
  while (queue.length) {
    const parent = queue.shift()!
    for (const [child, ppid] of parents) if (ppid === parent && !found.includes(child)) (found.push(child), queue.push(child))
  }
  return found
}

/** A zombie has exited but was not reaped. */
export function isZombie(pid: number): boolean {
  return process.platform === 'linux' && procStat(pid)?.state === 'Z'
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
