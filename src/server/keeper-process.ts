/**
 * The keeper's process, and the spare one.
 *
 * A launch that loads a model waits for two Node start-ups in a row: mrs's
 * own, then its keeper's (~30 ms each on a small machine) before mistral.rs
 * even starts. So when a launch will most likely start a server (a launch
 * command, no --url, no server running), dist/boot.cjs starts a keeper at
 * once, before it loads mrs, and the keeper waits for its configuration on
 * stdin while mrs plans. If mrs ends up not needing it (it attaches, or the
 * input is bad), the spare reads end-of-file when mrs exits and exits too,
 * and its log file is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { randomHex } from '../hash.js'
import { getPaths, type Env } from '../paths.js'
import { keeperScript } from '../runtime.js'
import { logSlug, openServerLog } from './logs.js'

/** In a keeper's argv, with its server id: how `mrs ps` tells a live keeper from a reused PID. */
export const KEEPER_MARKER = 'mrs-keeper'
/** The server's watchdog in the process table (`sh -c WATCHDOG mrs-watchdog BINARY ARGS`, places/local.ts): how the registry tells it from the server. */
export const WATCHDOG_NAME = 'mrs-watchdog'

/** Starts a keeper process; its log (stderr) is `logFd`, its configuration comes later on stdin. */
export function spawnKeeper(id: string, logFd: number | undefined, env: Env): ChildProcess {
  return spawn(process.execPath, [keeperScript(), KEEPER_MARKER, id], { detached: true, stdio: ['pipe', 'pipe', logFd ?? 'ignore'], env: env as NodeJS.ProcessEnv })
}

export interface SpareKeeper {
  id: string
  child: ChildProcess
  /** Its log, named for no model yet: renamed when the keeper is used. */
  logPath?: string
  /** Why it has no log (the log dir cannot be written), to be said when it is used. */
  logProblem?: string
  env: Env
  used: boolean
}

/** Handles of a spare's pipes: unreferenced while it waits, so they never keep mrs alive. */
type Refable = { ref?: () => void; unref?: () => void }

let spare: SpareKeeper | undefined

/** Hands mrs the spare that dist/boot.cjs started (they are separate bundles). */
export function adoptSpareKeeper(keeper: SpareKeeper | undefined): void {
  spare = keeper
}

/** Takes the spare keeper, if one was started for this environment. */
export function takeSpareKeeper(env: Env): SpareKeeper | undefined {
  if (!spare || spare.used || spare.env !== env || spare.child.exitCode !== null) return undefined
  spare.used = true
  for (const pipe of [spare.child.stdin, spare.child.stdout] as unknown as Refable[]) pipe?.ref?.()
  return spare
}

/** The log of a spare keeper taken for `model`: renamed to name it (the keeper's open file follows the rename). */
export function nameSpareLog(keeper: SpareKeeper, model: string): string | undefined {
  if (!keeper.logPath) return undefined
  const named = keeper.logPath.replace(/-starting-/, `-${logSlug(model)}-`)
  try {
    renameSync(keeper.logPath, named)
    return named
  } catch {
    return keeper.logPath
  }
}

/**
 * Whether this command line will most likely start a server: a command that
 * launches one, nothing that makes it run without one (help, a version, a
 * dry run, --url), and no server running that it might attach to.
 */
export function likelyToStartServer(argv: readonly string[], env: Env, launchCommands: readonly string[]): boolean {
  if (!launchCommands.includes(argv[0] ?? '') || env.MRS_URL) return false
  const dash = argv.indexOf('--')
  const own = dash < 0 ? argv : argv.slice(0, dash)
  const theirs = dash < 0 ? [] : argv.slice(dash + 1)
  if (own.some((a) => ['--url', '--dry-run', '-h', '--help', '--version', '-V'].includes(a.split('=')[0]!))) return false
  if (theirs.some((a) => ['-h', '--help', '-V', '-v', '--version'].includes(a))) return false
  try {
    return !readdirSync(getPaths(env).serversDir).some((n) => n.endsWith('.json'))
  } catch {
    return true // no registry yet: nothing runs
  }
}

/** What is said when the server log cannot be written: the server runs without one. */
export const logWarning = (logDir: string, e: unknown) => `cannot write server logs in ${logDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); running without a log`

/** Starts the spare keeper (see above); any problem means no spare, never a failed start. */
export function startSpareKeeper(env: Env): SpareKeeper | undefined {
  try {
    const id = randomHex(4)
    let logPath: string | undefined
    let logProblem: string | undefined
    let fd: number | undefined
    const { logDir } = getPaths(env)
    try {
      ;({ path: logPath, fd } = openServerLog(logDir, id, 'starting'))
    } catch (e) {
      logProblem = logWarning(logDir, e)
    }
    const child = spawnKeeper(id, fd, env)
    if (fd !== undefined) closeSync(fd)
    child.stdin!.on('error', () => {})
    for (const pipe of [child.stdin, child.stdout] as unknown as Refable[]) pipe?.unref?.()
    child.unref()
    const started: SpareKeeper = { id, child, logPath, logProblem, env, used: false }
    process.once('exit', () => {
      if (!started.used && logPath) rmSync(logPath, { force: true })
    })
    return started
  } catch {
    return undefined
  }
}
