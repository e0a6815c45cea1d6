/**
 * The registry of servers mrs started: one JSON file per server, written by
 * its keeper. A file is never trusted blindly: `verify` checks that the
 * keeper PID is alive and really is that server's keeper, and repairs what a
 * crash (or SIGKILL) left behind.
 */
import { openSync, closeSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { basename, join } from 'node:path'
import { readMessages, writeMessage, type KeeperEvent, type ServerInfo, type SessionMessage } from '../keeper/protocol.js'
import { type Paths, privateDir } from '../paths.js'
import { commandLine, isAlive, sleep } from '../process/proc.js'
import { stopGroup } from '../process/kill.js'

export const KEEPER_MARKER = 'mrs-keeper'

export const registryPath = (paths: Paths, id: string) => join(paths.serversDir, `${id}.json`)

export function writeRegistry(path: string, info: ServerInfo): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(info, null, 2), { mode: 0o600 })
  renameSync(tmp, path)
}

export function readRegistryFile(path: string): ServerInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as ServerInfo
    return typeof info.id === 'string' && Number.isInteger(info.keeperPid) && Number.isInteger(info.serverPid) ? info : undefined
  } catch {
    return undefined
  }
}

/**
 * Is the registered keeper alive and really that server's keeper? PIDs are
 * reused, so a live PID proves nothing alone: its command line must name the
 * server id. Where no command line can be read (Windows), the keeper must
 * answer on its socket with that id and PID instead.
 */
export async function isKeeper(info: ServerInfo, readCommandLine: (pid: number) => string[] | undefined = commandLine): Promise<boolean> {
  if (!isAlive(info.keeperPid)) return false
  const argv = readCommandLine(info.keeperPid)
  if (argv) return argv.includes(KEEPER_MARKER) && argv.includes(info.id)
  const answer = await askKeeper(info, { t: 'status' }, 1000)
  return answer?.t === 'status' && answer.info.id === info.id && answer.info.keeperPid === info.keeperPid
}

/** Is `pid` a mistral.rs server started by a keeper of ours on `port`? */
export function isServerProcess(pid: number, info: Pick<ServerInfo, 'binary' | 'port' | 'argv'>): boolean {
  const argv = commandLine(pid)
  if (!argv?.length) return false
  return basename(argv[0]!) === basename(info.binary) || argv.join(' ').includes(info.argv.join(' '))
}

export interface RegistryEntry {
  path: string
  info: ServerInfo
}

/**
 * Live servers, after repairing the registry: files of dead keepers are
 * removed (and their orphaned servers stopped), corrupt files are removed.
 */
export async function listServers(paths: Paths): Promise<RegistryEntry[]> {
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
    const info = readRegistryFile(path)
    if (!info) {
      // unreadable: perhaps being written this instant; remove only if it stays bad
      await sleep(20)
      if (!readRegistryFile(path)) rmSync(path, { force: true })
      continue
    }
    if (await isKeeper(info)) {
      live.push({ path, info })
      continue
    }
    await repairStale(info, path)
  }
  return live.sort((a, b) => a.info.startedAt - b.info.startedAt)
}

/** A keeper died without cleaning up (SIGKILL, OOM): stop its server if it is still ours, remove its files. */
export async function repairStale(info: ServerInfo, path: string): Promise<void> {
  if (isAlive(info.serverPid) && isServerProcess(info.serverPid, info)) await stopGroup(info.serverPid, 2000)
  rmSync(path, { force: true })
  rmSync(info.socketPath, { force: true })
}

/**
 * An exclusive lock file holding the owner's PID. A lock whose owner is dead
 * is broken; waiting is bounded because the holder only keeps it while a
 * keeper starts (well under a second).
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  privateDir(join(path, '..'))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch {
        continue // released meanwhile
      }
      const owner = Number(text)
      // an empty file is a lock being taken this instant, not a broken one
      const broken = text !== '' && (!Number.isInteger(owner) || owner <= 0 || !isAlive(owner))
      if (broken || Date.now() > deadline) {
        rmSync(path, { force: true })
        continue
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
export function askKeeper(info: ServerInfo, message: SessionMessage, timeoutMs = 2000): Promise<KeeperEvent | undefined> {
  return new Promise((resolve) => {
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
