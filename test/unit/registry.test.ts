// Registry entries are verified, never trusted blindly: a live PID could be
// anyone's after a reboot or PID reuse. Where the command line can be read
// (Linux, macOS) it must name the keeper and the server id; where it cannot
// (Windows), the keeper must answer on its socket with that id and PID.
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readMessages, writeMessage, type ServerInfo, type SessionMessage } from '../../src/keeper/protocol.js'
import { isKeeper, KEEPER_MARKER } from '../../src/server/registry.js'
import { tempDir } from '../helpers/tmp.js'

const noCommandLine = () => undefined

function entry(overrides: Partial<ServerInfo> = {}): ServerInfo {
  return {
    id: 'a1b2c3d4',
    key: 'k',
    shared: true,
    keeperPid: process.pid,
    serverPid: process.pid,
    port: 1234,
    host: '127.0.0.1',
    url: 'http://127.0.0.1:1234',
    models: ['m'],
    binary: 'mistralrs',
    argv: ['serve'],
    logPath: null,
    socketPath: join(tempDir('mrs-registry-'), 'keeper.sock'),
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
