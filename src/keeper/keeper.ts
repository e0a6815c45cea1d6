/**
 * The keeper owns one mistral.rs server, wherever it runs (a place: this
 * machine, an SSH host, a Slurm job): it holds the clients' port (the front
 * door) from the start, starts mistral.rs through the place, writes its output
 * to the log, proves the listener is its server and decides when it is ready,
 * restarts it when it dies mid-session (the clients keep their port), and
 * stops it when the last lease ends. It is detached from the terminal and from mrs, and
 * holds every session by a pipe or socket, so that:
 *   - a session that dies, even by SIGKILL, closes its connection and the
 *     keeper stops the server (and that session's client) itself;
 *   - a second session can attach to a server that is already loaded.
 */
import { rmSync, writeSync } from 'node:fs'
import { Agent } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { privateDir } from '../paths.js'
import { stopTree } from '../process/kill.js'
import { isAlive, startTime } from '../process/proc.js'
import { Readiness, type Look } from '../server/readiness.js'
import { mark } from '../trace.js'
import { writeRegistry } from '../server/registry.js'
import { baseUrl, type ServerSpec } from '../server/spec.js'
import { getJson, getText, modelIds, MODEL_LIST_MAX_BYTES, warmUpClient } from '../http.js'
import { metricsAbsence, sampleOf, summarize, type MetricsSample } from '../server/metrics.js'
import { readMessages, writeMessage, type KeeperEvent, type KeeperStart, type ServerInfo, type ServerState, type SessionMessage, type StopReason } from './protocol.js'
import { FrontDoor, type Backend } from './front.js'
import { LOCAL_PLACE, placeModule } from '../places/registry.js'
import type { PlaceHost, ServerExit, ServerProcess } from '../places/types.js'
import { modelAccessFailure } from '../server/access.js'
import { ExitCode } from '../errors.js'

const TAIL_LINES = 40
const METRICS_EVERY_MS = 5000
const DOWNLOAD_EVERY_MS = 1000
const MAX_PORT_RETRIES = 3
/** The line of a failure that says why (its `Error:` line, else the last one). */
const failureLine = (tail: string[]) => (tail.findLast((l) => /^Error: /.test(l)) ?? tail.at(-1) ?? '').replace(/^Error: /, '').trim()

/** Restart back-off: 0.5 s, 1 s, 2 s, ... capped at 8 s. */
export const restartDelay = (attempt: number) => Math.min(500 * 2 ** (attempt - 1), 8000)
/** Phrases with which mistral.rs (and the OS) report a port conflict. */
const PORT_IN_USE = /address already in use|os error 98|os error 48|EADDRINUSE|10048/i
/** mistral.rs's line after a successful bind. */
const LISTENING = /Server listening on http/

/** How the keeper talks HTTP to a backend: its URL, and the Unix socket that carries it when it is a tunnel. */
export function backendTarget(backend: Backend): { url: string; socketPath?: string } {
  return 'socketPath' in backend ? { url: 'http://mistralrs', socketPath: backend.socketPath } : { url: baseUrl(backend.host, backend.port) }
}

const describeBackend = (b: Backend) => ('socketPath' in b ? `a tunnel (${b.socketPath})` : `${b.host}:${b.port}`)

interface Lease {
  id: number
  send: (event: KeeperEvent) => void
  end: () => void
  pid: number
  clientPid?: number
  keepAliveMs: number
  /** The session said goodbye; it is no longer counted but still hears events. */
  released: boolean
  /** Requests for an answer the server had had when the lease began. */
  askedBefore: number
}

export class Keeper {
  private state: ServerState = 'loading'
  /** The current run of mistral.rs, wherever it runs. */
  private proc?: ServerProcess
  /** A run being started (shutdown waits for it, so nothing starts after the keeper is gone). */
  private spawning?: Promise<void>
  private readonly keeperStart = startTime(process.pid)
  /** The quantization mrs chose failed once: the server starts at full precision from then on. */
  private quantDropped?: string
  /** What mistral.rs's own `--quant auto` picked, as it said it. */
  private quantPick?: string
  private weightsRepo?: string
  private kvCacheTokens?: number
  private modelContext?: number
  private contextWindow?: number
  private readonly metricsSamples: MetricsSample[] = []
  private metricsConnection?: { proc: ServerProcess; agent: Agent }
  private metricsTimer?: NodeJS.Timeout
  private metricsMissing = false
  private metricsNote?: string
  private downloadTimer?: NodeJS.Timeout
  private generation = 0
  private restartsUsed = 0
  private portRetries = 0
  private front?: FrontDoor
  private readonly tail: string[] = []
  private readonly leases = new Map<number, Lease>()
  private nextLeaseId = 1
  private socketServer?: Server
  private readonly sockets = new Set<Socket>()
  /** Clients of sessions that died, being stopped; the keeper does not exit before they are gone. */
  private readonly clientStops: Promise<unknown>[] = []
  private keepAliveTimer?: NodeJS.Timeout
  private readinessAbort?: AbortController
  private readiness?: Readiness
  private servedIds?: string[]
  /** Set when the log could not be written (a full disk): logging stops, the server does not. */
  private logProblem?: string
  private readonly startedAt = Date.now()
  private shuttingDown = false
  private listening = false
  /** The place for the server's whole life (a Slurm job outlives each run); a start still waiting gives up when this aborts. */
  private readonly placeHost: PlaceHost
  private readonly spawnAbort = new AbortController()
  private lastProgress = ''

  constructor(private readonly start: KeeperStart) {
    this.contextWindow = start.spec.context
    this.placeHost = placeModule(start.spec.place ?? LOCAL_PLACE).host(start.spec.place ?? LOCAL_PLACE, process.env)
  }

  /** The server as it starts now: the quantization mrs chose is dropped once it failed. */
  private get spec(): ServerSpec {
    return { ...this.start.spec, fitQuant: Boolean(this.start.spec.fitQuant) && !this.quantDropped }
  }

  /** mistralrs's version where it runs: known to the plan, or said by the place when it started. */
  private version(): string | undefined {
    return this.start.spec.version ?? this.proc?.version
  }

  /** The quantization the server runs with, and why, for people (undefined: the user's own). */
  private quantText(): string | undefined {
    if (this.quantDropped) return this.quantDropped
    const choice = this.proc?.quant
    if (!choice) return undefined
    return this.quantPick ? `${this.quantPick}: ${choice.why}` : `${choice.label}: ${choice.why}`
  }

  private get place() {
    return this.start.spec.place ?? LOCAL_PLACE
  }

  run(): void {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void this.shutdown('signal'))
    process.on('uncaughtException', (e) => {
      this.log(`[mrs] keeper error: ${e.stack ?? e.message}`)
      void this.shutdown('failed')
    })
    // Write errors on a pipe whose reader is gone must not kill the keeper.
    process.stdout.on('error', () => {})
    const creator = this.addCreatorLease()
    // the clients' port first: bound now, it is the keeper's until the server stops, so no one else can take it
    FrontDoor.open(this.start.spec.host, this.start.port).then(
      (front) => {
        this.front = front
        this.spawnServer()
        // The registry entry and the creator's hello wait until the socket listens: the
        // creator holds the start lock until hello, so no one finds an entry it cannot attach to.
        this.listen(() => {
          this.listening = true
          this.writeRegistry()
          creator.send({ t: 'hello', info: this.info() })
          // a log that failed before anyone was listening is reported now
          if (this.logProblem) creator.send({ t: 'warning', message: this.logProblem })
        })
      },
      (e: NodeJS.ErrnoException) => {
        const taken = e.code === 'EADDRINUSE' || e.code === 'EACCES'
        const reason = taken ? `port ${this.start.port} is already in use` : `cannot listen on ${this.start.spec.host}:${this.start.port} (${e.code ?? e.message})`
        this.log(`[mrs] ${reason}`)
        creator.send({ t: 'refused', reason, exitCode: taken ? 66 : 71 })
        process.stdout.end(() => process.exit(0))
      },
    )
  }

  // ---- the server process -------------------------------------------------

  private spawnServer(): void {
    if (this.shuttingDown) return
    const generation = ++this.generation
    const previous = this.proc
    this.front?.setBackend(undefined)
    mark('keeper spawning the server')
    const preferPort = previous && 'port' in previous.backend ? previous.backend.port : undefined
    const note = (message: string) => {
      this.log(`[mrs] ${message}`)
      this.broadcast({ t: 'note', message })
    }
    const progress = (line: string) => {
      // a wait said again and again (a job in the queue) is logged when it changes
      if (line.replace(/\d+/g, '') !== this.lastProgress) this.log(`[mrs] ${line}`)
      this.lastProgress = line.replace(/\d+/g, '')
      this.broadcast({ t: 'line', line })
    }
    this.spawning = this.placeHost
      .spawn({ spec: this.spec, tmpDir: this.start.tmpDir, preferPort, graceMs: this.start.graceMs, env: process.env, signal: this.spawnAbort.signal, progress, note })
      .then(
        (proc) => {
          if (generation !== this.generation || this.shuttingDown) return void proc.stop(this.start.graceMs)
          this.proc = proc
          this.log(`[mrs] starting: ${proc.binary} ${proc.argv.join(' ')}`)
          proc.on('line', (line) => this.recordLine(line))
          proc.on('progress', (line) => this.broadcast({ t: 'line', line }))
          proc.on('exit', (exit) => void this.onServerExit(generation, exit))
          this.writeRegistry()
          this.watchDownload(proc, generation)
          void this.awaitReady(proc, generation)
          // while it loads (after the spawn, which it would delay): the first look at a ready server then costs no compile
          if (generation === 1) void warmUpClient()
        },
        (e: Error & { failure?: ServerExit['failure'] }) => {
          if (this.shuttingDown) return
          // a place that could not start a run says why (a refused job, no Slurm there)
          const failure = e.failure ?? { message: `could not start mistral.rs: ${e.message}`, exitCode: 71 }
          this.recordLine(`Error: ${failure.message}`)
          void this.onServerExit(generation, { code: null, signal: null, failure, final: true })
        },
      )
  }

  private async awaitReady(proc: ServerProcess, generation: number): Promise<void> {
    this.readinessAbort?.abort()
    const abort = new AbortController()
    this.readinessAbort = abort
    const target = backendTarget(proc.backend)
    const look = async (): Promise<Look> => {
      // nothing is sent before the listener is proved to be this server
      const owner = await proc.owner()
      mark(`keeper asked who listens: ${owner.owner}`)
      if (owner.owner === 'none') return 'wait'
      if (owner.owner === 'other') return { impostor: owner.who }
      const res = await getJson(`${target.url}/v1/models`, { socketPath: target.socketPath, timeoutMs: 5000, maxBytes: MODEL_LIST_MAX_BYTES, signal: abort.signal })
      mark('keeper got the model list')
      const ids = modelIds(res.body)
      return res.status === 200 && ids ? { ids } : 'wait'
    }
    this.readiness = new Readiness(look, abort.signal)
    const found = await this.readiness.result
    if (!found || generation !== this.generation || this.shuttingDown) return
    if ('impostor' in found) return this.onImpostor(proc, found.impostor)
    const restarted = this.state === 'restarting'
    this.state = 'ready'
    this.servedIds = found.ids
    clearTimeout(this.downloadTimer)
    if (!restarted) await this.resolveContext(proc)
    mark('keeper resolved the context')
    if (generation !== this.generation || this.shuttingDown) return
    this.front?.setBackend(proc.backend)
    mark('keeper ready')
    this.log(`[mrs] ready on ${this.url()} (mistral.rs on ${describeBackend(proc.backend)})${restarted ? ' (restarted)' : ''}${this.contextWindow ? `; context window ${this.contextWindow} tokens` : ''}`)
    this.sampleMetrics()
    this.writeRegistry()
    this.broadcast({ t: 'ready', info: this.info(), restarted })
  }

  /**
   * Someone else listens where mistral.rs is to bind (another local user who
   * saw the port in `ps`): this run can never serve, and nothing is ever sent
   * there. Start again on another port now, rather than after the load.
   */
  private async onImpostor(proc: ServerProcess, who: string): Promise<void> {
    this.generation++ // its exit is not a crash
    const from = proc.serverPort
    this.log(`[mrs] port ${from ?? '?'} was taken by another process (${who}) before mistral.rs could bind it`)
    await proc.stop(500)
    if (this.shuttingDown) return
    if (this.portRetries >= MAX_PORT_RETRIES) {
      this.broadcast({ t: 'exited', code: null, signal: null, tail: [...this.tail.slice(-3), `[mrs] port ${from ?? '?'} was taken by another process (${who})`], during: 'load', portInUse: true })
      return void this.shutdown('failed')
    }
    this.portRetries++
    this.broadcast({ t: 'port-retry', from, by: who })
    this.spawnServer()
  }

  private async onServerExit(generation: number, exit: ServerExit): Promise<void> {
    if (generation !== this.generation || this.shuttingDown) return
    this.generation++ // later events of this process are stale
    this.readinessAbort?.abort()
    clearTimeout(this.downloadTimer)
    this.front?.setBackend(undefined)
    const { code, signal } = exit
    const proc = this.proc
    const how = exit.lost ? exit.lost : signal ? `signal ${signal}` : `code ${code}`
    this.log(`[mrs] mistral.rs (pid ${proc?.pid ?? '?'}) exited with ${how}`)
    if (exit.lost) this.recordLine(`[mrs] ${exit.lost}`)
    // a tool the server started may still hold the group: clear it before going on
    await proc?.stop(500)
    const tail = this.tail.slice(-15)

    if (this.state === 'loading') {
      // a model mistral.rs cannot get is said once, naming it: starting again would fail the same way
      const access = code !== 0 && !exit.failure ? modelAccessFailure(tail, this.start.spec.models) : undefined
      if (access) {
        this.broadcast({ t: 'exited', code, signal, tail, during: 'load', portInUse: false, failure: { message: access, exitCode: ExitCode.ModelNotServed } })
        return this.shutdown('failed')
      }
      // the quantization mrs chose can fail for a model mistral.rs does not understand: a model that loads without it must not fail because of it
      const choice = proc?.quant
      const quantFailure = Boolean(choice?.args.length) && tail.some((l) => /^(Error|error): .*(--quant|--isq|ISQ|quant)/.test(l))
      if (quantFailure && code !== 0) {
        const reason = failureLine(tail)
        this.quantDropped = `${choice!.args.join(' ')} failed (${reason}); started at full precision`
        this.log(`[mrs] ${this.quantDropped}`)
        this.broadcast({ t: 'quant-retry', tried: choice!.args.join(' '), reason })
        this.spawnServer()
        return
      }
      const portInUse = tail.some((l) => PORT_IN_USE.test(l)) || (code !== 0 && !exit.lost && Boolean(await proc?.portTaken().catch(() => false)))
      // the backend port is always mrs's choice (the clients' port is the front door's), so another one does as well
      if (portInUse && this.portRetries < MAX_PORT_RETRIES) {
        this.portRetries++
        const from = proc?.serverPort
        this.log(`[mrs] port ${from ?? '?'} was taken before mistral.rs could bind it; retrying on another`)
        this.broadcast({ t: 'port-retry', from })
        this.spawnServer()
        return
      }
      this.broadcast({ t: 'exited', code, signal, tail, during: 'load', portInUse, lost: exit.lost, failure: exit.failure })
      return this.shutdown('failed')
    }

    // ready or restarting: it died mid-session (and there is still somewhere to start it again)
    if (!exit.final && this.restartsUsed < this.start.restarts && this.activeLeases() > 0) {
      const attempt = ++this.restartsUsed
      const delayMs = restartDelay(attempt)
      this.state = 'restarting'
      this.broadcast({ t: 'exited', code, signal, tail, during: 'session', portInUse: false, lost: exit.lost, restart: { attempt, max: this.start.restarts, delayMs } })
      this.writeRegistry()
      setTimeout(() => {
        if (!this.shuttingDown) this.spawnServer()
      }, delayMs)
      return
    }
    this.broadcast({ t: 'exited', code, signal, tail, during: 'session', portInUse: false, lost: exit.lost, final: exit.final })
    return this.shutdown('gave-up')
  }

  /** While it loads, what the download has brought so far (where the server runs), for the sessions' progress line. */
  private watchDownload(proc: ServerProcess, generation: number): void {
    if (this.state === 'ready') return
    const repos = () => [...this.start.spec.models, ...(this.weightsRepo ? [this.weightsRepo] : [])]
    const baseline = new Map<string, number>()
    const tick = async () => {
      if (generation !== this.generation || this.state === 'ready' || this.shuttingDown) return
      let grown = 0
      for (const repo of repos()) {
        const now = await proc.cachedBytes([repo]).catch(() => 0)
        if (!baseline.has(repo)) baseline.set(repo, now)
        grown += now - baseline.get(repo)!
      }
      if (grown > 0) this.broadcast({ t: 'download', bytes: grown })
      this.downloadTimer = setTimeout(() => void tick(), DOWNLOAD_EVERY_MS)
      this.downloadTimer.unref()
    }
    void tick()
  }

  private recordLine(line: string): void {
    if (!line.trim()) return
    this.noteLoadLine(line)
    // mistral.rs says so right after it binds: look at once instead of at the next poll
    if (this.state !== 'ready' && LISTENING.test(line)) {
      mark('keeper saw the server listen')
      this.readiness?.checkNow()
    }
    this.tail.push(line)
    if (this.tail.length > TAIL_LINES) this.tail.shift()
    this.log(line)
    this.broadcast({ t: 'line', line })
  }

  /** What the load log says that matters later: the quantization chosen, other weights, the KV cache size. */
  private noteLoadLine(line: string): void {
    if (this.state === 'ready') return
    // mistral.rs's own pick (`--quant auto -> q6k (backend=cuda, vram=24.0 GB)`), not the ISQ/UQFF detail after it
    const quant = /quant: (--quant auto -> .*\(.*)$/.exec(line)
    if (quant) {
      this.quantPick = quant[1]!.trim()
      this.broadcast({ t: 'note', message: `mistral.rs: ${this.quantPick}` })
    }
    const uqff = /-> UQFF \S+ from `([^`]+)`/.exec(line)
    if (uqff) {
      this.weightsRepo = uqff[1]
      this.broadcast({ t: 'note', message: `loading the pre-quantized weights of ${this.weightsRepo}` })
    }
    const kv = /available context length is (\d+) tokens/.exec(line)
    if (kv) this.kvCacheTokens = Number(kv[1])
  }

  /**
   * The context window a client is told: `--context` if given (the server was
   * sized for it), else the smaller of what the KV cache holds (from the load
   * log; the whole pool, which can exceed the model's own maximum) and what
   * the model takes (its config.json where the server runs, read now: on a
   * first run it was downloaded during the load); either alone when the other
   * is unknown.
   */
  private async resolveContext(proc: ServerProcess): Promise<void> {
    const model = this.start.spec.models[0]!
    const found = await proc.modelContext(model).catch((e: Error) => ({ tokens: undefined, problem: e.message }))
    const fromWeights = !found.tokens && this.weightsRepo ? await proc.modelContext(this.weightsRepo).catch(() => undefined) : undefined
    this.modelContext = found.tokens ?? fromWeights?.tokens
    if (found.problem) this.broadcast({ t: 'warning', message: `${found.problem}; the client is not told the model's context window` })
    const asked = this.start.spec.context
    if (asked && this.modelContext && asked > this.modelContext)
      this.broadcast({ t: 'warning', message: `--context-window ${asked} is more than ${model} takes (${this.modelContext} tokens, max_position_embeddings in its config.json): past that its answers degrade; ask for ${this.modelContext} or less` })
    if (asked) return
    const known = [this.kvCacheTokens, this.modelContext].filter((n): n is number => n !== undefined)
    this.contextWindow = known.length ? Math.min(...known) : undefined
  }

  /** Samples /metrics every few seconds while the server is ready, for `mrs ps` and the status line. */
  private sampleMetrics(): void {
    clearTimeout(this.metricsTimer)
    if (this.shuttingDown || this.state !== 'ready') return
    void this.takeMetricsSample(2000)
    this.metricsTimer = setTimeout(() => this.sampleMetrics(), METRICS_EVERY_MS)
    this.metricsTimer.unref()
  }

  private async takeMetricsSample(timeoutMs: number): Promise<void> {
    if (this.state !== 'ready' || !this.proc) return
    try {
      const target = backendTarget(this.proc.backend)
      const { status, text } = await getText(`${target.url}/metrics`, { socketPath: target.socketPath, timeoutMs, maxBytes: METRICS_MAX_BYTES, agent: this.metricsAgent(this.proc) })
      const sample = status === 200 ? sampleOf(text) : undefined
      this.metricsMissing = !sample
      this.metricsNote = sample ? undefined : metricsAbsence(status, text, this.version())
      if (!sample) return
      this.metricsSamples.push(sample)
      while (this.metricsSamples.length > 1 && sample.at - this.metricsSamples[0]!.at > 65_000) this.metricsSamples.shift()
    } catch {
      // a busy or restarting server (or a metrics page past its cap): the next sample will tell
    }
  }

  /**
   * One kept-alive connection for the samples of a server run: through a
   * tunnel a new connection costs more than a request (a Slurm step each with
   * `tunnel = "srun"`: hundreds an hour in the accounting otherwise).
   */
  private metricsAgent(proc: ServerProcess): Agent {
    if (this.metricsConnection?.proc !== proc) {
      this.metricsConnection?.agent.destroy()
      this.metricsConnection = { proc, agent: new Agent({ keepAlive: true, maxSockets: 1 }) }
    }
    return this.metricsConnection.agent
  }

  /** `mrs ps` asks with `metrics`: a fresh sample first (briefly: ps waits 1 s for every keeper). */
  private async statusFor(m: { metrics?: boolean }): Promise<KeeperEvent> {
    if (m.metrics) await this.takeMetricsSample(300)
    return { t: 'status', info: this.info() }
  }

  /** The log file is the keeper's stderr (set up by mrs). A full disk stops logging, not the server. */
  private log(line: string): void {
    if (this.logProblem || this.start.logPath === null) return
    try {
      writeSync(2, `${line}\n`)
    } catch (e) {
      this.logProblem = `cannot write the server log ${this.start.logPath} (${(e as NodeJS.ErrnoException).code}); the server keeps running`
      this.broadcast({ t: 'warning', message: this.logProblem })
    }
  }

  // ---- leases ---------------------------------------------------------------

  private addCreatorLease(): Lease {
    const lease = this.addLease(
      (e) => void writeMessage(process.stdout, e),
      () => process.stdout.end(),
      process.ppid,
      this.start.keepAliveMs,
    )
    readMessages<SessionMessage>(process.stdin, (m) => this.onMessage(lease, m))
    process.stdin.on('end', () => this.onLeaseClosed(lease))
    process.stdin.on('error', () => this.onLeaseClosed(lease))
    return lease
  }

  private listen(onListening: () => void): void {
    const { socketPath } = this.start
    rmSync(socketPath, { force: true })
    privateDir(join(socketPath, '..'))
    this.socketServer = createServer((conn) => this.onConnection(conn))
    this.socketServer.listen(socketPath, () => {
      // shut down before the bind finished: the socket file appeared after it was removed
      if (this.shuttingDown) rmSync(socketPath, { force: true })
      else onListening()
    })
  }

  private onConnection(conn: Socket): void {
    this.sockets.add(conn)
    conn.on('close', () => this.sockets.delete(conn))
    conn.on('error', () => {})
    let lease: Lease | undefined
    readMessages<SessionMessage>(conn, (m) => {
      if (m.t === 'attach' && !lease) {
        if (this.state === 'stopping' || this.shuttingDown) {
          writeMessage(conn, { t: 'refused', reason: 'the server is stopping' })
          conn.end()
          return
        }
        lease = this.addLease((e) => void writeMessage(conn, e), () => conn.end(), m.pid, m.keepAliveMs, false)
        lease.send({ t: 'hello', info: this.info() })
        // a late joiner of a loading server sees the latest line at once
        const last = this.tail.at(-1)
        if (this.state !== 'ready' && last) lease.send({ t: 'line', line: last })
        // the session waits for its hello, not for the registry (only mrs ps reads its sessions)
        setImmediate(() => this.writeRegistry())
        return
      }
      if (lease) return this.onMessage(lease, m)
      if (m.t === 'status') void this.statusFor(m).then((answer) => writeMessage(conn, answer))
      if (m.t === 'stop') void this.shutdown('stop-command')
    })
    conn.on('close', () => {
      if (lease) this.onLeaseClosed(lease)
    })
  }

  private addLease(send: Lease['send'], end: Lease['end'], pid: number, keepAliveMs: number, record = true): Lease {
    clearTimeout(this.keepAliveTimer)
    const lease: Lease = { id: this.nextLeaseId++, send, end, pid, keepAliveMs, released: false, askedBefore: this.front?.asked ?? 0 }
    this.leases.set(lease.id, lease)
    if (record) this.writeRegistry()
    return lease
  }

  private onMessage(lease: Lease, m: SessionMessage): void {
    switch (m.t) {
      case 'client':
        lease.clientPid = m.pid
        return
      case 'status':
        return void this.statusFor(m).then((answer) => lease.send(answer))
      case 'stop':
        return void this.shutdown('stop-command')
      case 'release': {
        lease.released = true
        if (m.keepAliveMs !== undefined) lease.keepAliveMs = m.keepAliveMs
        const remaining = this.activeLeases()
        const stopping = remaining === 0 && (this.state !== 'ready' || lease.keepAliveMs === 0)
        lease.send({ t: 'released', stopping, sessions: remaining, asked: (this.front?.asked ?? 0) - lease.askedBefore })
        this.writeRegistry()
        if (remaining === 0) this.lastLeaseEnded(lease.keepAliveMs)
        return
      }
    }
  }

  /** A connection closed: after a release that is the normal end; without one, the session died. */
  private onLeaseClosed(lease: Lease): void {
    if (!this.leases.has(lease.id)) return
    this.leases.delete(lease.id)
    if (!lease.released) {
      this.log(`[mrs] session ${lease.pid} went away without releasing the server`)
      // its client (in the terminal it left) would otherwise run on against a dying server
      if (lease.clientPid && isAlive(lease.clientPid)) this.clientStops.push(stopTree(lease.clientPid, this.start.graceMs))
      if (this.activeLeases() === 0) this.lastLeaseEnded(lease.keepAliveMs)
    }
    this.writeRegistry()
  }

  private activeLeases(): number {
    return [...this.leases.values()].filter((l) => !l.released).length
  }

  private lastLeaseEnded(keepAliveMs: number): void {
    if (this.state !== 'ready' || keepAliveMs === 0) return void this.shutdown('released')
    clearTimeout(this.keepAliveTimer)
    this.log(`[mrs] no sessions left; stopping in ${keepAliveMs} ms unless one attaches`)
    this.keepAliveTimer = setTimeout(() => {
      if (this.activeLeases() === 0) void this.shutdown('released')
    }, keepAliveMs)
  }

  private broadcast(event: KeeperEvent): void {
    for (const lease of this.leases.values()) lease.send(event)
  }

  // ---- state and shutdown ---------------------------------------------------

  private url(): string {
    return baseUrl(this.start.spec.host, this.front?.port ?? this.start.port)
  }

  private info(): ServerInfo {
    const { id, key, family, spec, logPath, socketPath } = this.start
    const proc = this.proc
    return {
      id,
      key,
      family,
      shared: key !== null,
      keeperPid: process.pid,
      keeperStart: this.keeperStart,
      place: this.place,
      serverPid: proc?.pid ?? 0,
      serverStart: proc?.start,
      ...(proc?.localArgv ? { localArgv: proc.localArgv } : {}),
      port: this.front?.port ?? this.start.port,
      host: spec.host,
      url: this.url(),
      backend: proc ? describeBackend(proc.backend) : undefined,
      placeStatus: this.placeHost.status?.(),
      models: spec.models,
      binary: proc?.binary ?? spec.binary,
      argv: proc?.argv.length ? proc.argv : ['serve'],
      logPath,
      socketPath,
      tmpDir: this.start.tmpDir,
      startedAt: this.startedAt,
      state: this.state,
      servedIds: this.servedIds,
      requestedContext: spec.context,
      contextWindow: this.contextWindow,
      kvCacheTokens: this.kvCacheTokens,
      modelContext: this.modelContext,
      quant: this.quantText(),
      weightsRepo: this.weightsRepo,
      metrics: this.metricsMissing || !this.metricsSamples.length ? undefined : summarize(this.metricsSamples),
      ...(this.metricsMissing && this.metricsNote ? { metricsNote: this.metricsNote } : {}),
      ...(this.version() ? { version: this.version() } : {}),
      restarts: this.restartsUsed,
      sessions: this.activeLeases(),
    }
  }

  private writeRegistry(): void {
    if (this.shuttingDown || !this.listening) return
    try {
      writeRegistry(this.start.registryPath, this.info())
    } catch (e) {
      this.log(`[mrs] cannot write ${this.start.registryPath}: ${(e as Error).message}`)
    }
  }

  private async shutdown(reason: StopReason): Promise<void> {
    if (this.shuttingDown) return
    this.shuttingDown = true
    this.state = 'stopping'
    clearTimeout(this.keepAliveTimer)
    clearTimeout(this.metricsTimer)
    this.metricsConnection?.agent.destroy()
    clearTimeout(this.downloadTimer)
    this.readinessAbort?.abort()
    this.spawnAbort.abort()
    // first make the server undiscoverable, so no new session attaches to it
    rmSync(this.start.registryPath, { force: true })
    this.socketServer?.close()
    rmSync(this.start.socketPath, { force: true })
    this.front?.close()
    // a run still being started is stopped too, once it exists
    await this.spawning?.catch(() => {})
    let forced = false
    if (this.proc) {
      const result = await this.proc.stop(this.start.graceMs)
      forced = result.forced
      if (forced) this.log(`[mrs] mistral.rs ignored SIGTERM for ${this.start.graceMs} ms; sent SIGKILL`)
    }
    rmSync(this.start.tmpDir, { recursive: true, force: true })
    // the place itself goes last: the ssh master once its channel is closed, the Slurm job once its step is
    await this.placeHost.close().catch(() => {})
    await Promise.all(this.clientStops)
    this.log(`[mrs] stopped (${reason})`)
    // each session hears how many answers were asked for while it held its lease (no conversation: nothing to continue)
    for (const lease of this.leases.values()) lease.send({ t: 'stopped', reason, forced, asked: (this.front?.asked ?? 0) - lease.askedBefore })
    for (const lease of this.leases.values()) lease.end()
    this.exitWhenFlushed(Date.now() + 200)
  }

  /** Exits once the last messages have left (bounded), so sessions read them before the channel closes. */
  private exitWhenFlushed(deadline: number): void {
    const pending = process.stdout.writableLength > 0 || [...this.sockets].some((s) => s.writableLength > 0)
    if (!pending || Date.now() > deadline) process.exit(0)
    setTimeout(() => this.exitWhenFlushed(deadline), 2)
  }
}

/** A metrics page is tens of KB; past this it is not one. */
const METRICS_MAX_BYTES = 2 * 1024 * 1024
