// Registry entries are verified, never trusted blindly: a live PID could be
// anyone's after a reboot or PID reuse. Where the command line can be read
// (Linux, macOS) it must name the keeper and the server id; where it cannot
// (Windows), the keeper must answer on its socket with that id and PID.
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readMessages, writeMessage, type ServerInfo, type SessionMessage } from '../../src/keeper/protocol.js'
import { isKeeper, isServerProcess, KEEPER_MARKER, listServers, validateEntry, WATCHDOG_NAME, withLock } from '../../src/server/registry.js'
import { getPaths } from '../../src/paths.js'
import { commandLine, startTime } from '../../src/process/proc.js'
import { waitFor } from '../helpers/sandbox.js'
import { tempDir } from '../helpers/tmp.js'

const noCommandLine = () => undefined

function entry(overrides: Partial<ServerInfo> = {}): ServerInfo {
  return {
    id: 'a1b2c3d4',
    key: 'k',
    shared: true,
    keeperPid: process.pid,
    place: { kind: 'local' },
    serverPid: process.pid,
    port: 1234,
    host: '127.0.0.1',
    url: 'http://127.0.0.1:1234',
    models: ['m'],
    binary: 'mistralrs',
    argv: ['serve'],
    logPath: null,
    socketPath: join(tempDir('mrs-registry-'), 'keeper.sock'),
    tmpDir: '/tmp/mrs-0/server-a1b2c3d4',
    family: null,
    startedAt: Date.now(),
    state: 'ready',
    restarts: 0,
    sessions: 1,
    ...overrides,
  }
}

/** A stand-in keeper socket that answers `status` with `answer`. */
const servers: Server[] = []
function answerStatus(socketPath: string, answer: ServerInfo): Promise<void> {
  const server = createServer((conn) => {
    readMessages<SessionMessage>(conn, (m) => {
      if (m.t === 'status') writeMessage(conn, { t: 'status', info: answer })
    })
  })
  servers.push(server)
  return new Promise((resolve) => server.listen(socketPath, resolve))
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

describe('isKeeper', () => {
  it('trusts a command line only when it names the keeper marker and this server id', async () => {
    const info = entry()
    expect(await isKeeper(info, () => ['node', 'keeper.cjs', KEEPER_MARKER, info.id])).toBe(true)
    expect(await isKeeper(info, () => ['node', 'keeper.cjs', KEEPER_MARKER, 'ffffffff'])).toBe(false)
    expect(await isKeeper(info, () => ['vim', info.id])).toBe(false)
  })

  it('never takes a dead PID for a keeper', async () => {
    const info = entry({ keeperPid: 2 ** 22 + 1 })
    expect(await isKeeper(info, () => ['node', KEEPER_MARKER, info.id])).toBe(false)
  })

  it('without a readable command line, accepts a keeper that answers on its socket with the same id and PID', async () => {
    const info = entry()
    await answerStatus(info.socketPath, info)
    expect(await isKeeper(info, noCommandLine)).toBe(true)
  })

  it('without a readable command line, rejects a socket that answers for another server or another PID', async () => {
    const info = entry()
    await answerStatus(info.socketPath, { ...info, id: 'ffffffff' })
    expect(await isKeeper(info, noCommandLine)).toBe(false)
    const other = entry()
    await answerStatus(other.socketPath, { ...other, keeperPid: process.pid + 1 })
    expect(await isKeeper(other, noCommandLine)).toBe(false)
  })

  it('without a readable command line, rejects a PID whose socket is gone', async () => {
    expect(await isKeeper(entry(), noCommandLine)).toBe(false)
  })
})

// A registry entry is data anyone with a bug or a grudge could have written:
// each field is checked, and nothing is killed or deleted on its word alone.
describe('validateEntry', () => {
  const paths = getPaths({ HOME: '/home/u', XDG_STATE_HOME: '/home/u/.local/state', TMPDIR: '/tmp' })
  const good = () => ({
    ...entry(),
    id: 'bbbb2222',
    key: 'ab'.repeat(8),
    socketPath: join(paths.serversDir, 'bbbb2222.sock'),
    tmpDir: join(paths.tmpRoot, 'server-bbbb2222'),
    logPath: join(paths.logDir, 'x.log'),
    serverStart: '123',
  })

  it('accepts an entry mrs writes', () => {
    expect(typeof validateEntry(good(), paths, 'bbbb2222')).toBe('object')
  })

  it.each([
    ['a missing field', { argv: undefined }, /missing argv/],
    ['an empty argv (which would match any process)', { argv: [] }, /bad argv/],
    ['a socket outside mrs\'s dirs (a user file to delete)', { socketPath: '/home/u/notes.txt' }, /bad socketPath/],
    ['a log path outside the log dir', { logPath: '/etc/passwd' }, /bad logPath/],
    ['a temp dir outside the temp root', { tmpDir: '/home/u' }, /bad tmpDir/],
    ['a PID that is not a positive integer', { keeperPid: -1 }, /bad keeperPid/],
    ['an id that is not the file name', { id: 'cccc3333' }, /bad id/],
  ])('rejects %s', (_, change, problem) => {
    expect(validateEntry({ ...good(), ...change }, paths, 'bbbb2222')).toMatch(problem)
  })
})

describe('isServerProcess', () => {
  it('never matches on an empty or different command line, nor without a start time', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      await waitFor(() => commandLine(child.pid!)?.[0] === 'sleep', 5000, 'sleep to start')
      const start = startTime(child.pid!)
      expect(isServerProcess(child.pid!, { binary: 'sleep', argv: ['30'], serverStart: start })).toBe(true)
      expect(isServerProcess(child.pid!, { binary: 'sleep', argv: [], serverStart: start })).toBe(false)
      expect(isServerProcess(child.pid!, { binary: 'sleep', argv: ['31'], serverStart: start })).toBe(false)
      expect(isServerProcess(child.pid!, { binary: 'sleep', argv: ['30'], serverStart: undefined })).toBe(false)
      // the same command line in a process started at another time (a reused PID) is not ours
      expect(isServerProcess(child.pid!, { binary: 'sleep', argv: ['30'], serverStart: `${start}0` })).toBe(false)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('recognises the watchdog wrapper before it execs the server', () => {
    const wrapper = () => ['/bin/sh', '-c', 'script', WATCHDOG_NAME, '/bin/mistralrs', 'serve', '-p', '1']
    expect(isServerProcess(process.pid, { binary: '/bin/mistralrs', argv: ['serve', '-p', '1'], serverStart: startTime(process.pid) }, wrapper)).toBe(true)
    expect(isServerProcess(process.pid, { binary: '/bin/mistralrs', argv: ['serve', '-p', '2'], serverStart: startTime(process.pid) }, wrapper)).toBe(false)
  })
})

describe('listServers', () => {
  it('sets aside invalid entries (even a directory named *.json) with a warning, and goes on', async () => {
    const root = tempDir('mrs-list-')
    const paths = getPaths({ HOME: root, XDG_STATE_HOME: join(root, 'state'), TMPDIR: join(root, 'tmp') })
    mkdirSync(join(paths.serversDir, 'dir0000a.json'), { recursive: true })
    writeFileSync(join(paths.serversDir, 'aaaa1111.json'), JSON.stringify({ id: 'aaaa1111' }))
    const warnings: string[] = []
    expect(await listServers(paths, (m) => warnings.push(m))).toEqual([])
    expect(readdirSync(paths.serversDir).sort()).toEqual(['aaaa1111.json.bad', 'dir0000a.json.bad'])
    expect(warnings).toHaveLength(2)
    expect(warnings.join('\n')).toMatch(/ignored an invalid server entry \(missing key.*\); moved it to .*aaaa1111\.json\.bad/)
  })
})

describe('withLock', () => {
  const lockIn = () => join(tempDir('mrs-lock-'), 'servers', 'k.lock')

  it('breaks a lock left empty by a crash, once it is older than a moment', async () => {
    const lock = lockIn()
    mkdirSync(join(lock, '..'), { recursive: true })
    writeFileSync(lock, '')
    const past = new Date(Date.now() - 5000)
    utimesSync(lock, past, past)
    expect(await withLock(lock, async () => 'taken', { timeoutMs: 500 })).toBe('taken')
  })

  it('breaks a lock naming a live process that is not mrs', async () => {
    const lock = lockIn()
    mkdirSync(join(lock, '..'), { recursive: true })
    const other = spawn('sleep', ['30'], { stdio: 'ignore' })
    try {
      writeFileSync(lock, String(other.pid))
      const started = Date.now()
      expect(await withLock(lock, async () => 'taken', { timeoutMs: 5000 })).toBe('taken')
      expect(Date.now() - started).toBeLessThan(1000)
    } finally {
      other.kill('SIGKILL')
    }
  })

  it('waits for a live mrs holder, and says so after the notice delay', async () => {
    const lock = lockIn()
    mkdirSync(join(lock, '..'), { recursive: true })
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', KEEPER_MARKER], { stdio: 'ignore' })
    try {
      await waitFor(() => commandLine(holder.pid!)?.includes(KEEPER_MARKER), 5000, 'the holder to start')
      writeFileSync(lock, `${holder.pid} ${startTime(holder.pid!)}`)
      const waited: (number | undefined)[] = []
      setTimeout(() => rmSync(lock), 400)
      expect(await withLock(lock, async () => 'taken', { timeoutMs: 5000, waitNoticeMs: 100, onWait: (pid) => waited.push(pid) })).toBe('taken')
      expect(waited).toEqual([holder.pid])
    } finally {
      holder.kill('SIGKILL')
    }
  })
})
