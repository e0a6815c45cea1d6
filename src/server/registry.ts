/**
 * The registry of servers mrs started: one JSON file per server, written by
 * its keeper. A file is never trusted: anyone who can write the directory
 * (or a bug, or a crash) could have put anything there. So:
 *   - every field is validated (types, ids, and paths inside mrs's own
 *     dirs); an invalid entry is set aside as `*.bad`, with a warning;
 *   - a keeper is believed only when its PID is alive with the keeper's
 *     command line for that id and the recorded start time;
 *   - a process is killed only when mrs can prove it started it: its command
 *     line is exactly the recorded server command and its start time matches;
 *   - only files inside mrs's own state and temp dirs are ever removed.
 */
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { basename, join } from 'node:path'
import { readMessages, writeMessage, type KeeperEvent, type ServerInfo, type SessionMessage } from '../keeper/protocol.js'
import { type Paths, isInside, privateDir } from '../paths.js'
import { commandLine, isAlive, sleep, startTime } from '../process/proc.js'
import { stopGroup } from '../process/kill.js'

export { KEEPER_MARKER } from './keeper-process.js'
import { KEEPER_MARKER } from './keeper-process.js'
/** The name the server's watchdog wrapper runs under (`sh -c SCRIPT mrs-watchdog BINARY ARGS...`). */
export { WATCHDOG_NAME } from './keeper-process.js'
import { WATCHDOG_NAME } from './keeper-process.js'

export const registryPath = (paths: Paths, id: string) => join(paths.serversDir, `${id}.json`)

export function writeRegistry(path: string, info: ServerInfo): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(info, null, 2), { mode: 0o600 })
  renameSync(tmp, path)
}

const ID = /^[0-9a-f]{8}$/
const KEY = /^[0-9a-f]{16}$/
const STATES = new Set(['loading', 'ready', 'restarting', 'stopping'])
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string')

/**
 * Checks every field of a registry entry; returns the entry, or what is wrong
 * with it. Paths must lie inside mrs's own dirs, so that acting on an entry
 * (removing its socket, its temp dir) can never touch anything else.
 */
export function validateEntry(raw: unknown, paths: Paths, fileId?: string): ServerInfo | string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'not a JSON object'
  const e = raw as Record<string, unknown>
  const checks: [string, boolean][] = [
    ['id', typeof e.id === 'string' && ID.test(e.id) && (fileId === undefined || e.id === fileId)],
    ['key', e.key === null || (typeof e.key === 'string' && KEY.test(e.key))],
    ['family', e.family === null || (typeof e.family === 'string' && KEY.test(e.family))],
    ['shared', typeof e.shared === 'boolean'],
    ['keeperPid', isPid(e.keeperPid)],
    ['keeperStart', e.keeperStart === undefined || typeof e.keeperStart === 'string'],
    ['serverPid', e.serverPid === 0 || isPid(e.serverPid)],
    ['serverStart', e.serverStart === undefined || typeof e.serverStart === 'string'],
    ['place', isPlace(e.place)],
    ['localArgv', e.localArgv === undefined || (isStrings(e.localArgv) && e.localArgv.length > 0)],
    ['backend', e.backend === undefined || typeof e.backend === 'string'],
    ['placeStatus', e.placeStatus === undefined || typeof e.placeStatus === 'string'],
    ['port', Number.isInteger(e.port) && (e.port as number) >= 1 && (e.port as number) <= 65535],
    ['host', typeof e.host === 'string' && e.host.length > 0],
    ['url', typeof e.url === 'string' && /^http:\/\//.test(e.url)],
    ['models', isStrings(e.models) && e.models.length > 0],
    ['binary', typeof e.binary === 'string' && e.binary.length > 0],
    ['argv', isStrings(e.argv) && e.argv.length > 0],
    ['logPath', e.logPath === null || (typeof e.logPath === 'string' && isInside(e.logPath, paths.logDir))],
    ['socketPath', typeof e.socketPath === 'string' && ownSocketPath(e.socketPath, paths, e.id)],
    ['tmpDir', typeof e.tmpDir === 'string' && isInside(e.tmpDir, paths.tmpRoot)],
    ['startedAt', typeof e.startedAt === 'number' && Number.isFinite(e.startedAt)],
    ['state', typeof e.state === 'string' && STATES.has(e.state)],
    ['servedIds', e.servedIds === undefined || isStrings(e.servedIds)],
    ['restarts', Number.isInteger(e.restarts) && (e.restarts as number) >= 0],
    ['sessions', Number.isInteger(e.sessions) && (e.sessions as number) >= 0],
    ...(['requestedContext', 'contextWindow', 'kvCacheTokens', 'modelContext'] as const).map(
      (k): [string, boolean] => [k, e[k] === undefined || (Number.isSafeInteger(e[k]) && (e[k] as number) > 0)],
    ),
    ['quant', e.quant === undefined || typeof e.quant === 'string'],
    ['version', e.version === undefined || typeof e.version === 'string'],
    ['metricsNote', e.metricsNote === undefined || typeof e.metricsNote === 'string'],
    ['weightsRepo', e.weightsRepo === undefined || typeof e.weightsRepo === 'string'],
    ['metrics', e.metrics === undefined || (typeof e.metrics === 'object' && e.metrics !== null && !Array.isArray(e.metrics))],
  ]
  const bad = checks.filter(([, ok]) => !ok).map(([name]) => name)
  if (bad.length) return `${bad.map((b) => (e[b] === undefined ? `missing ${b}` : `bad ${b}`)).join(', ')}`
  return raw as ServerInfo
}

/** A place the keeper could have written (its fields are checked where they are used). */
const isPlace = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v) && PLACE_KINDS.includes((v as { kind?: unknown }).kind as string)
const PLACE_KINDS = ['local', 'ssh', 'slurm']

/** Where a keeper's socket may be: the servers dir, or the temp root (for long paths). */
const inSocketDirs = (path: string, paths: Paths) => isInside(path, paths.serversDir) || isInside(path, paths.tmpRoot)

/** A keeper's socket lives in the servers dir, in the temp root, or is its Windows pipe. */
function ownSocketPath(path: string, paths: Paths, id: unknown): boolean {
  if (path === `\\\\.\\pipe\\mrs-${String(id)}`) return true
  return inSocketDirs(path, paths) && basename(path) === `${String(id)}.sock`
}

/** Reads and validates one entry: the entry, or why it is invalid (`undefined` when it vanished meanwhile). */
export function readEntry(path: string, paths: Paths): ServerInfo | string | undefined {
  let text: string
  try {
    if (!statSync(path).isFile()) return 'not a file'
    text = readFileSync(path, 'utf8')
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : `unreadable (${(e as NodeJS.ErrnoException).code})`
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return 'not valid JSON'
  }
  return validateEntry(raw, paths, basename(path, '.json'))
}

/**
 * Is the registered keeper alive and really that server's keeper? PIDs are
 * reused, so a live PID proves nothing alone: its command line must name the
 * server id and its start time must be the recorded one. Where no command
 * line can be read (Windows), the keeper must answer on its socket with that
 * id and PID instead.
 */
export async function isKeeper(info: ServerInfo, readCommandLine: (pid: number) => string[] | undefined = commandLine): Promise<boolean> {
  if (!isAlive(info.keeperPid)) return false
  const argv = readCommandLine(info.keeperPid)
  if (argv) {
    if (!argv.includes(KEEPER_MARKER) || !argv.includes(info.id)) return false
    const started = startTime(info.keeperPid)
    return info.keeperStart === undefined || started === undefined || started === info.keeperStart
  }
  const answer = await askKeeper(info, { t: 'status' }, 1000)
  return answer?.t === 'status' && answer.info.id === info.id && answer.info.keeperPid === info.keeperPid
}

/**
 * Can mrs prove that `pid` is the server its keeper started? Its command line
 * must be exactly the recorded one (or the watchdog wrapper that becomes it
 * with `exec`), and its start time the recorded one: an entry without a
 * start time, or a process that cannot be examined, proves nothing, and
 * nothing is killed on its word.
 */
export function isServerProcess(pid: number, info: Pick<ServerInfo, 'binary' | 'argv' | 'serverStart' | 'localArgv'>, readCommandLine: (pid: number) => string[] | undefined = commandLine): boolean {
  if (!isPid(pid) || info.serverStart === undefined) return false
  const argv = readCommandLine(pid)
  if (!argv) return false
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i])
  // a remote server's local process is its ssh or srun client, recorded as it was started
  if (info.localArgv) return same(argv, info.localArgv) && startTime(pid) === info.serverStart
  const expected = [info.binary, ...info.argv]
  // `sh -c SCRIPT mrs-watchdog BINARY ARGS...` until the shell execs the server
  const wrapped = argv.indexOf(WATCHDOG_NAME)
  const matches = same(argv, expected) || (wrapped > 0 && same(argv.slice(wrapped + 1), expected))
  return matches && startTime(pid) === info.serverStart
}

export interface RegistryEntry {
  path: string
  info: ServerInfo
}

/**
 * Live servers, after repairing the registry: entries of dead keepers are
 * removed (and their servers stopped, when provably theirs); invalid entries
 * are set aside as `*.bad` and reported through `warn`, never fatal.
 */
export async function listServers(paths: Paths, warn: (message: string) => void = () => {}): Promise<RegistryEntry[]> {
  let names: string[]
  try {
    names = readdirSync(paths.serversDir)
  } catch {
    return []
  }
  const live: RegistryEntry[] = []
  for (const name of names) {
    if (!name.endsWith('.json')) continue
    const path = join(paths.serversDir, name)
    const entry = readEntry(path, paths)
    if (entry === undefined) continue // removed meanwhile
    if (typeof entry === 'string') {
      setAside(path, entry, warn)
      continue
    }
    if (await isKeeper(entry)) {
      live.push({ path, info: entry })
      continue
    }
    await repairStale(entry, path, paths)
  }
  return live.sort((a, b) => a.info.startedAt - b.info.startedAt)
}

/** Renames an invalid entry to `*.bad` (entries are written by rename, so a half-written one never exists). */
function setAside(path: string, problem: string, warn: (message: string) => void): void {
  const bad = `${path}.bad`
  try {
    rmSync(bad, { recursive: true, force: true })
    renameSync(path, bad)
    warn(`ignored an invalid server entry (${problem}); moved it to ${bad}`)
  } catch (e) {
    warn(`ignored an invalid server entry ${path} (${problem}); could not move it aside (${(e as NodeJS.ErrnoException).code})`)
  }
}

/** A keeper died without cleaning up (SIGKILL, OOM): stop its server if it is provably ours, remove its files. */
export async function repairStale(info: ServerInfo, path: string, paths: Paths): Promise<void> {
  if (isServerProcess(info.serverPid, info)) await stopGroup(info.serverPid, 2000)
  rmSync(path, { force: true })
  removeOwnSocket(info.socketPath, paths)
  if (isInside(info.tmpDir, paths.tmpRoot)) rmSync(info.tmpDir, { recursive: true, force: true })
}

/** Removes a keeper's socket file, but only a socket inside mrs's own dirs. */
export function removeOwnSocket(path: string, paths: Paths): void {
  if (!inSocketDirs(path, paths)) return
  try {
    if (lstatSync(path).isSocket()) rmSync(path, { force: true })
  } catch {
    // already gone
  }
}

/** What a lock file says: the holder's PID and its start time. */
function lockHolder(text: string): { pid: number; start?: string } | undefined {
  const [pid, start] = text.trim().split(/\s+/)
  const n = Number(pid)
  return Number.isSafeInteger(n) && n > 0 ? { pid: n, start } : undefined
}

/** Is the lock's holder a live mrs process (and the same one that wrote it)? */
function holderAlive(holder: { pid: number; start?: string }): boolean {
  if (!isAlive(holder.pid)) return false
  const started = startTime(holder.pid)
  if (holder.start && started && holder.start !== started) return false
  const argv = commandLine(holder.pid)
  // a PID reused by something else is not a holder; where argv cannot be read, a live PID must do
  return !argv || argv.some((a) => /^mrs(\.c?js)?$/.test(basename(a)) || a === KEEPER_MARKER)
}

export interface LockOptions {
  timeoutMs?: number
  /** Called once, after `waitNoticeMs`, with the PID being waited for. */
  onWait?: (holderPid: number | undefined) => void
  waitNoticeMs?: number
}

/**
 * An exclusive lock file holding the owner's PID and start time. A lock whose
 * owner is dead, is not an mrs process, or left the file empty for more than
 * a moment is broken; waiting is bounded because the holder only keeps it
 * while a keeper starts (well under a second).
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const { timeoutMs = 15_000, onWait, waitNoticeMs = 1000 } = opts
  privateDir(join(path, '..'))
  const started = Date.now()
  const deadline = started + timeoutMs
  let noticed = false
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, `${process.pid} ${startTime(process.pid) ?? ''}`)
      closeSync(fd)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let text: string
      let age: number
      try {
        text = readFileSync(path, 'utf8')
        age = Date.now() - statSync(path).mtimeMs
      } catch {
        continue // released meanwhile
      }
      const holder = lockHolder(text)
      // an empty file is a lock being written this instant; one that stays empty was left by a crash
      const broken = holder ? !holderAlive(holder) : text.trim() !== '' || age > 1000
      if (broken || Date.now() > deadline) {
        rmSync(path, { force: true })
        continue
      }
      if (!noticed && Date.now() - started >= waitNoticeMs) {
        noticed = true
        onWait?.(holder?.pid)
      }
      await sleep(10)
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(path, { force: true })
  }
}

/** One request to a keeper's socket (status or stop) for `mrs ps` / `mrs stop`. */
export function askKeeper(info: Pick<ServerInfo, 'socketPath'>, message: SessionMessage, timeoutMs = 2000): Promise<KeeperEvent | undefined> {
  return new Promise((resolve) => {
    if (!info.socketPath.startsWith('\\\\') && !existsSync(info.socketPath)) return resolve(undefined)
    const socket = connect(info.socketPath)
    const timer = setTimeout(() => done(undefined), timeoutMs)
    const done = (e: KeeperEvent | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(e)
    }
    socket.on('error', () => done(undefined))
    socket.on('connect', () => {
      writeMessage(socket, message)
      if (message.t === 'stop') socket.end()
    })
    readMessages<KeeperEvent>(socket, (e) => done(e))
    socket.on('close', () => done(undefined))
  })
}
