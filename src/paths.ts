/**
 * Where mrs keeps things, all derived from the environment so tests can
 * point every one of them into a temp dir.
 */
import { accessSync, chmodSync, constants, lstatSync, mkdirSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { ExitCode, MrsError } from './errors.js'

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

/**
 * Creates (or checks) a directory only the user can enter (0700), whatever
 * the umask. A path that is a symlink, not a directory, or another user's
 * (a shared sticky $TMPDIR lets anyone pre-create `mrs-<uid>`) is never
 * used: that is an MrsError naming the path and what is wrong with it.
 */
export function privateDir(path: string): string {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw dirError(path, code === 'EEXIST' || code === 'ENOTDIR' ? 'it (or a directory above it) is a file' : `it cannot be created (${code ?? (e as Error).message})`)
  }
  const st = lstatSync(path)
  if (st.isSymbolicLink()) throw dirError(path, 'it is a symbolic link, which anyone who made it could point elsewhere')
  if (!st.isDirectory()) throw dirError(path, 'it is not a directory')
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
  if (uid !== undefined && st.uid !== uid) throw dirError(path, `it belongs to another user (uid ${st.uid}), not to you (uid ${uid})`)
  // ours but open to others (an old umask): close it before anything private goes in
  if (uid !== undefined && (st.mode & 0o077) !== 0) chmodSync(path, 0o700)
  try {
    accessSync(path, constants.W_OK | constants.X_OK)
  } catch {
    throw dirError(path, 'it is not writable')
  }
  return path
}

function dirError(path: string, problem: string): MrsError {
  return new MrsError(`mrs cannot use ${path}: ${problem}; remove or fix it (mrs recreates it), or point TMPDIR / XDG_STATE_HOME / XDG_RUNTIME_DIR elsewhere`, ExitCode.StateDir)
}

/** True when `path` is inside `dir` (after normalising both). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path))
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
}

/** Unix socket paths are limited to ~104 bytes (macOS); fall back to the temp root. Windows uses a named pipe. */
export function socketPath(paths: Paths, id: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return `\\\\.\\pipe\\mrs-${id}`
  const preferred = join(paths.serversDir, `${id}.sock`)
  return Buffer.byteLength(preferred) <= 100 ? preferred : join(paths.tmpRoot, `${id}.sock`)
}
