/**
 * Where mrs keeps things, all derived from the environment so tests can
 * point every one of them into a temp dir.
 */
import { mkdirSync, chmodSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'

export type Env = Record<string, string | undefined>

export interface Paths {
  /** Durable state: logs. */
  stateDir: string
  logDir: string
  /** Registry of running servers: one JSON file, lock and socket per server. */
  serversDir: string
  /** Private temp dirs of sessions and servers; a stale one is removed by the next run. */
  tmpRoot: string
  cacheDir: string
}

/** An XDG base directory: `$XDG_CACHE_HOME`, else `~/.cache` (for `xdgDir(env, 'XDG_CACHE_HOME', '.cache')`). */
export function xdgDir(env: Env, variable: 'XDG_CONFIG_HOME' | 'XDG_STATE_HOME' | 'XDG_CACHE_HOME', underHome: string): string {
  return env[variable] || join(env.HOME || homedir(), underHome)
}

export function getPaths(env: Env): Paths {
  const stateDir = join(xdgDir(env, 'XDG_STATE_HOME', join('.local', 'state')), 'mrs')
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user'
  return {
    stateDir,
    logDir: join(stateDir, 'logs'),
    serversDir: env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'mrs', 'servers') : join(stateDir, 'servers'),
    tmpRoot: join(env.TMPDIR || tmpdir(), `mrs-${uid}`),
    cacheDir: join(xdgDir(env, 'XDG_CACHE_HOME', '.cache'), 'mrs'),
  }
}

/** Creates a directory only the user can enter (0700), whatever the umask. */
export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 })
  chmodSync(path, 0o700)
  return path
}

/** Unix socket paths are limited to ~104 bytes (macOS); fall back to the temp root. Windows uses a named pipe. */
export function socketPath(paths: Paths, id: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return `\\\\.\\pipe\\mrs-${id}`
  const preferred = join(paths.serversDir, `${id}.sock`)
  return Buffer.byteLength(preferred) <= 100 ? preferred : join(paths.tmpRoot, `${id}.sock`)
}
