/**
 * The session side of a server: start one (through a keeper) or attach to a
 * running one that matches, and hold a lease on it until `release()`.
 */
import type { ChildProcess } from 'node:child_process'
import { closeSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { ExitCode, MrsError } from '../errors.js'
import { listServers, registryPath, withLock, isServerProcess } from './registry.js'
import { type Paths, privateDir, socketPath } from '../paths.js'
import { logWarning as logWarningFor, nameSpareLog, spawnKeeper, takeSpareKeeper } from './keeper-process.js'
import { readMessages, writeMessage, type KeeperEvent, type KeeperStart, type ServerInfo, type SessionMessage } from '../keeper/protocol.js'
import { openServerLog } from './logs.js'
import { portIsFree } from './ports.js'
import { listenerOwner } from './owner.js'
import { familyKey, shareKey, type ServerSpec } from './spec.js'
import { stopGroup } from '../process/kill.js'
import { mark } from '../trace.js'
import { isAlive, isStopped, sleep } from '../process/proc.js'
import { randomHex } from '../hash.js'

export interface ServerRequest {
  spec: ServerSpec
  /** Explicit --port; undefined picks a free one. */
  port?: number
  /** How the user gave that port (`--port`, `MRS_PORT`, `port in …`), for the message when it is taken. */
  portName?: string
  share: boolean
  /** Attach to exactly this server (its model was chosen because it runs). */
  attachTo?: string
  graceMs: number
  restarts: number
  keepAliveMs: number
  /** Makes the server's place reachable (an ssh master, which may prompt): only when this launch starts the server, never to attach. */
  beforeStart?: () => Promise<void>
}

export interface Acquired {
  handle: ServerHandle
  /** True when an already running server was joined. */
  attached: boolean
  /** Set when the log file could not be created (the server runs anyway). */
  logWarning?: string
}

/** What ending a lease told: the server stopped, the sessions still on it, the requests for an answer while it was held (unknown from a keeper that does not count them). */
export interface Released {
  stopped: boolean
  sessions: number
  asked?: number
}

/**
 * A lease on a server. Emits 'event' for each keeper message and 'lost' when
 * the keeper vanished without saying it stopped.
 */
export class ServerHandle extends EventEmitter<{ event: [KeeperEvent]; lost: [] }> {
  info!: ServerInfo
  private stopped = false
  private askedWhenStopped?: number
  private closed = false
  private readonly closeWaiters: (() => void)[] = []
  /** Warnings the keeper sent before the session listened for events. */
  readonly earlyWarnings: string[] = []

  private constructor(
    private readonly output: Writable,
    input: Readable,
    private readonly graceMs: number,
    private readonly dispose: () => void,
  ) {
    super()
    readMessages<KeeperEvent>(input, (e) => {
      // a warning that arrives before anyone listens (right after hello) is kept for the session
      if (e.t === 'warning' && this.listenerCount('event') === 0) this.earlyWarnings.push(e.message)
      if (e.t === 'hello' || e.t === 'ready' || e.t === 'status') this.info = e.info
      if (e.t === 'stopped') {
        this.stopped = true
        this.askedWhenStopped = e.asked
      }
      this.emit('event', e)
    })
    input.on('close', () => this.onClose())
    input.on('end', () => this.onClose())
    input.on('error', () => this.onClose())
  }

  /**
   * A lease over a keeper's channel, once the keeper says hello. Rejects if it
   * refuses, goes away, or says nothing within `timeoutMs`.
   */
  static open(output: Writable, input: Readable, graceMs: number, dispose: () => void, timeoutMs: number): Promise<ServerHandle> {
    const handle = new ServerHandle(output, input, graceMs, dispose)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('no answer')), timeoutMs)
      const fail = (e: Error) => {
        done()
        dispose()
        reject(e)
      }
      const onEvent = (e: KeeperEvent) => {
        if (e.t === 'hello') {
          done()
          resolve(handle)
        } else if (e.t === 'refused') fail(e.exitCode ? new MrsError(e.reason, e.exitCode as ExitCode) : new Error(e.reason))
      }
      const onLost = () => fail(new Error('the keeper went away'))
      const done = () => {
        clearTimeout(timer)
        handle.off('event', onEvent)
        handle.off('lost', onLost)
      }
      handle.on('event', onEvent)
      handle.on('lost', onLost)
    })
  }

  private onClose(): void {
    if (this.closed) return
    this.closed = true
    for (const waiter of this.closeWaiters.splice(0)) waiter()
    if (!this.stopped) this.emit('lost')
  }

  get isClosed(): boolean {
    return this.closed
  }

  send(message: SessionMessage): void {
    writeMessage(this.output, message)
  }

  /** Tells the keeper which process is our client, so it can stop it if we die. */
  setClient(pid: number): void {
    this.send({ t: 'client', pid })
  }

  /**
   * Ends the lease. When it was the last one (and nothing keeps the server
   * alive), waits until the server is gone, so the caller exits with the GPU
   * free. `keepAliveMs` overrides this lease's keep-alive (0 for `mrs serve`).
   */
  async release(keepAliveMs?: number): Promise<Released> {
    // the server is already gone (mrs stop, gave up): nothing to release, nobody to answer
    if (this.closed || this.stopped) {
      this.dispose()
      return { stopped: this.stopped, sessions: 0, asked: this.askedWhenStopped }
    }
    const bound = this.graceMs + 3000
    const result = await new Promise<Released>((resolve) => {
      let stopping = false
      let sessions = 0
      let asked: number | undefined
      const timer = setTimeout(() => done(stopping && this.stopped), bound)
      const done = (stopped: boolean) => {
        clearTimeout(timer)
        this.off('event', onEvent)
        this.off('lost', onLost)
        resolve({ stopped, sessions, asked })
      }
      const onEvent = (e: KeeperEvent) => {
        if (e.t === 'released') {
          stopping = e.stopping
          sessions = e.sessions
          asked = e.asked
          if (!stopping) done(false)
        }
        // the keeper exits right after saying so; wait for that too, so nothing of ours outlives the caller
        if (e.t === 'stopped') this.whenClosed(1000).then(() => done(true))
      }
      const onLost = () => done(stopping)
      this.on('event', onEvent)
      this.on('lost', onLost)
      this.send({ t: 'release', keepAliveMs })
    })
    this.dispose()
    return result
  }

  /** Resolves when the keeper's end of the channel has closed (or after `timeoutMs`). */
  private whenClosed(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      this.closeWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Drops the lease without a word (a server that failed a check before it was used). */
  abandon(): void {
    this.dispose()
  }

  /** The keeper is gone: make sure its server is too. */
  async killOrphanedServer(): Promise<void> {
    const { serverPid } = this.info
    if (serverPid && isServerProcess(serverPid, this.info)) await stopGroup(serverPid, this.graceMs)
  }
}

/** What acquiring a server says while it works (waiting for a lock or a keeper, repaired state). */
export interface AcquireReporter {
  info(message: string): void
  warn(message: string): void
}

export async function acquireServer(req: ServerRequest, paths: Paths, env: NodeJS.ProcessEnv, report: AcquireReporter = { info() {}, warn() {} }): Promise<Acquired> {
  privateDir(paths.tmpRoot)
  if (!req.share) {
    privateDir(paths.serversDir)
    return startServer(req, paths, env, null, null)
  }
  const key = shareKey(req.spec)
  if (req.attachTo) {
    const target = (await listServers(paths, report.warn)).find((s) => s.info.id === req.attachTo && s.info.state !== 'stopping')
    const handle = target && (await attachWithRetry(target.info, req, report))
    if (handle) return { handle, attached: true }
    // it stopped meanwhile: start one for the same model, as a launch with -m would
  }
  const attachToMatching = async (onlyReady: boolean): Promise<Acquired | undefined> => {
    for (const { info } of await listServers(paths, report.warn)) {
      if (info.key !== key || info.state === 'stopping' || (onlyReady && info.state !== 'ready')) continue
      if (req.port !== undefined && info.port !== req.port) continue
      // a server sized for another context is another server; a request that names none takes any
      if (req.spec.context !== undefined && info.requestedContext !== req.spec.context) continue
      const handle = await attachWithRetry(info, req, report)
      if (handle) return { handle, attached: true }
    }
    return undefined
  }
  // a ready server needs no lock to attach to (the lock orders those who would start one); this is the common case
  const ready = await attachToMatching(true)
  if (ready) return ready
  const onWait = (pid: number | undefined) => report.info(`waiting for another mrs${pid ? ` (pid ${pid})` : ''} that is starting the same server…`)
  return withLock(join(paths.serversDir, `${key}.lock`), async () => (await attachToMatching(false)) ?? startServer(req, paths, env, key, familyKey(req.spec)), { onWait })
}

async function startServer(req: ServerRequest, paths: Paths, env: NodeJS.ProcessEnv, key: string | null, family: string | null): Promise<Acquired> {
  await req.beforeStart?.()
  const host = req.spec.host
  const port = req.port
  if (port !== undefined && !(await portIsFree(port, host))) {
    // said here with who holds it, when mrs can tell; the keeper's own bind is what makes it atomic
    const owner = (await listServers(paths)).find((s) => s.info.port === port)
    const by = owner ? ` by mrs server ${owner.info.id} (${owner.info.models.join(', ')}); stop it with: mrs stop ${owner.info.id}` : `; pick another ${req.portName ?? '--server-port'} or leave it out for a free one`
    throw new MrsError(`port ${port} is already in use${by}`, ExitCode.PortInUse)
  }

  // a keeper started while mrs loaded (see keeper-process.ts) saves one Node start-up
  const spare = takeSpareKeeper(env)
  const id = spare?.id ?? randomHex(4)
  let logPath: string | null = null
  let logFd: number | undefined
  let logWarning: string | undefined
  if (spare) {
    logPath = nameSpareLog(spare, req.spec.models.join('+')) ?? null
    logWarning = spare.logProblem
  } else {
    try {
      const log = openServerLog(paths.logDir, id, req.spec.models.join('+'))
      logPath = log.path
      logFd = log.fd
    } catch (e) {
      logWarning = logWarningFor(paths.logDir, e)
    }
  }

  const start: KeeperStart = {
    t: 'start',
    id,
    key,
    family,
    spec: req.spec,
    port: port ?? 0,
    portExplicit: port !== undefined,
    logPath,
    registryPath: registryPath(paths, id),
    socketPath: socketPath(paths, id),
    tmpDir: join(paths.tmpRoot, `server-${id}`),
    graceMs: req.graceMs,
    restarts: req.restarts,
    keepAliveMs: req.keepAliveMs,
  }
  mark(spare ? 'using the spare keeper' : 'spawning the keeper')
  const keeper: ChildProcess = spare?.child ?? spawnKeeper(id, logFd, env)
  if (logFd !== undefined) closeSync(logFd)
  keeper.stdin!.on('error', () => {})
  writeMessage(keeper.stdin!, start)

  const dispose = () => {
    keeper.stdin!.end()
    keeper.stdout!.destroy()
  }
  let exitCode: number | null = null
  keeper.once('exit', (code) => (exitCode = code))
  const handle = await ServerHandle.open(keeper.stdin!, keeper.stdout!, req.graceMs, dispose, 30_000).catch((e: Error) => {
    if (e instanceof MrsError) throw e
    const why = exitCode !== null ? `exit ${exitCode}` : e.message
    throw new MrsError(`mrs could not start its server keeper (${why})${logPath ? `; see ${logPath}` : ''}`, ExitCode.Internal)
  })
  keeper.unref()
  return { handle, attached: false, logWarning }
}

/**
 * Attaches; a live keeper that does not answer at once (a loaded machine)
 * gets a few more tries. A keeper that is stopped (SIGSTOP, Ctrl-Z) or never
 * answers is not passed over silently: starting a second server beside it
 * could exhaust the GPU, so that is the user's call.
 */
async function attachWithRetry(info: ServerInfo, req: ServerRequest, report: AcquireReporter): Promise<ServerHandle | undefined> {
  const started = Date.now()
  let told = false
  for (let attempt = 0; attempt < 5; attempt++) {
    if (isStopped(info.keeperPid)) throw unresponsive(info, 'is stopped (SIGSTOP or Ctrl-Z)')
    let handle: ServerHandle
    try {
      handle = await attach(info, req)
      mark('the keeper answered')
    } catch (e) {
      if ((e as Error).message === 'the server is stopping' || !isAlive(info.keeperPid)) return undefined
      if (!told && Date.now() - started >= 1000) {
        told = true
        report.info(`waiting for the keeper of server ${info.id} (pid ${info.keeperPid}) to answer…`)
      }
      await sleep(100 * (attempt + 1))
      continue
    }
    // the clients will be sent to its port: it must be the keeper's own listener, as readiness proved mistral.rs's
    const owner = await listenerOwner(info.host === 'localhost' ? '127.0.0.1' : info.host, handle.info.port, handle.info.keeperPid)
    mark('its port proved')
    if (owner.owner === 'process') return handle
    handle.abandon()
    report.warn(`not using the running server ${info.id}: its port ${handle.info.port} is ${owner.owner === 'other' ? `held by another process (${owner.who})` : 'not open'}, not by its keeper (pid ${info.keeperPid}); stop it with mrs stop ${info.id}`)
    return undefined
  }
  if (!isAlive(info.keeperPid)) return undefined
  throw unresponsive(info, isStopped(info.keeperPid) ? 'is stopped (SIGSTOP or Ctrl-Z)' : 'does not answer')
}

function unresponsive(info: ServerInfo, what: string): MrsError {
  return new MrsError(
    `the keeper (pid ${info.keeperPid}) of the running server ${info.id} (${info.models.join(' + ')}) ${what}; resume it with kill -CONT ${info.keeperPid}, stop it with mrs stop ${info.id}, or add --no-share to load a second copy`,
    ExitCode.KeeperUnresponsive,
  )
}

function attach(info: ServerInfo, req: ServerRequest): Promise<ServerHandle> {
  const socket: Socket = connect(info.socketPath)
  socket.on('error', () => {})
  socket.once('connect', () => writeMessage(socket, { t: 'attach', pid: process.pid, keepAliveMs: req.keepAliveMs }))
  return ServerHandle.open(socket, socket, req.graceMs, () => socket.end(), 2000)
}
