/**
 * The keeper owns one mistral.rs process: it starts it in its own process
 * group, writes its output to the log, decides when it is ready, restarts it
 * on the same port when it dies mid-session, and stops the whole group when
 * the last lease ends. It is detached from the terminal and from mrs, and
 * holds every session by a pipe or socket, so that:
 *   - a session that dies, even by SIGKILL, closes its connection and the
 *     keeper stops the server (and that session's client) itself;
 *   - a second session can attach to a server that is already loaded.
 */
import { spawn } from 'node:child_process'
import { stringify } from 'smol-toml'
import { rmSync, writeFileSync, writeSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { privateDir } from '../paths.js'
import { stopGroup, stopTree } from '../process/kill.js'
import { isAlive, startTime } from '../process/proc.js'
import { Readiness } from '../server/readiness.js'
import { mark } from '../trace.js'
import { WATCHDOG_NAME, writeRegistry } from '../server/registry.js'
import { MULTI_MODEL_FILE, baseUrl, multiModelConfig, serverArgv, type ServerSpec } from '../server/spec.js'
import { localContextWindow } from '../hf.js'
import { getText } from '../http.js'
import { sampleOf, summarize, type MetricsSample } from '../server/metrics.js'
import { stripAnsi } from '../text.js'
import { freePort, portIsFree } from '../server/ports.js'
import { readMessages, writeMessage, type KeeperEvent, type KeeperStart, type ServerInfo, type ServerState, type SessionMessage, type StopReason } from './protocol.js'

const TAIL_LINES = 40
const METRICS_EVERY_MS = 5000
const MAX_PORT_RETRIES = 3
/** The line of a failure that says why (its `Error:` line, else the last one). */
const failureLine = (tail: string[]) => (tail.findLast((l) => /^Error: /.test(l)) ?? tail.at(-1) ?? '').replace(/^Error: /, '').trim()

/** Restart back-off: 0.5 s, 1 s, 2 s, ... capped at 8 s. */
export const restartDelay = (attempt: number) => Math.min(500 * 2 ** (attempt - 1), 8000)
/** Phrases with which mistral.rs (and the OS) report a port conflict. */
const PORT_IN_USE = /address already in use|os error 98|os error 48|EADDRINUSE|10048/i
/** mistral.rs's line after a successful bind. */
const LISTENING = /Server listening on http/

/**
 * The server's watchdog (POSIX): `sh -c WATCHDOG mrs-watchdog BINARY ARGS...`.
 * The shell keeps the read end of a pipe whose write end only the keeper
 * holds, leaves a small subshell waiting on it, and then execs the server
 * (same PID, same process group, so the keeper sees the server's own exit
 * status). When the keeper dies, by any means, the kernel closes the pipe:
 * the subshell's `cat` ends and it stops the whole group (the server and its
 * tool children): SIGTERM, then SIGKILL a second later for a server that
 * ignores SIGTERM. While the keeper lives, the subshell is an idle member of
 * the group and goes with it whenever the keeper stops the group itself.
 */
export const WATCHDOG = [
  'exec 3<&0',
  "( cat <&3 >/dev/null 2>&1; trap '' TERM; kill -TERM 0 2>/dev/null; sleep 1; kill -KILL 0 2>/dev/null ) &",
  'exec "$@" 3<&- </dev/null',
].join('\n')

interface Lease {
  id: number
  send: (event: KeeperEvent) => void
  end: () => void
  pid: number
  clientPid?: number
  keepAliveMs: number
  /** The session said goodbye; it is no longer counted but still hears events. */
  released: boolean
}

export class Keeper {
  private state: ServerState = 'loading'
  private serverPid = 0
  /** Start time of the current server process: with the PID, what proves it is ours. */
  private serverStart?: string
  private readonly keeperStart = startTime(process.pid)
  /** The current server command line. */
  private argv: string[] = []
  /** `--quant auto` is still on (dropped after it failed once). */
  private quantAuto: boolean
  private quant?: string
  private weightsRepo?: string
  private kvCacheTokens?: number
  private modelContext?: number
  private contextWindow?: number
  private readonly metricsSamples: MetricsSample[] = []
  private metricsTimer?: NodeJS.Timeout
  private metricsMissing = false
  private generation = 0
  private restartsUsed = 0
  private portRetries = 0
  private port: number
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

  constructor(private readonly start: KeeperStart) {
    this.port = start.port
    this.quantAuto = Boolean(start.spec.quantAuto)
    this.contextWindow = start.spec.context
  }

  /** The server as it starts now: `--quant auto` dropped once it failed. */
  private get spec(): ServerSpec {
    return { ...this.start.spec, quantAuto: this.quantAuto }
  }

  run(): void {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void this.shutdown('signal'))
    process.on('uncaughtException', (e) => {
      this.log(`[mrs] keeper error: ${e.stack ?? e.message}`)
      void this.shutdown('failed')
    })
    // Write errors on a pipe whose reader is gone must not kill the keeper.
    process.stdout.on('error', () => {})
    this.spawnServer()
    const creator = this.addCreatorLease()
    // The registry entry and the creator's hello wait until the socket listens: the
    // creator holds the start lock until hello, so no one finds an entry it cannot attach to.
    this.listen(() => {
      this.listening = true
      this.writeRegistry()
      creator.send({ t: 'hello', info: this.info() })
      // a log that failed before anyone was listening is reported now
      if (this.logProblem) creator.send({ t: 'warning', message: this.logProblem })
    })
  }

  // ---- the server process -------------------------------------------------

  private spawnServer(): void {
    if (this.shuttingDown) return
    const { tmpDir } = this.start
    const spec = this.spec
    const generation = ++this.generation
    const configPath = join(tmpDir, MULTI_MODEL_FILE)
    const multi = multiModelConfig(spec, this.port)
    if (multi) {
      privateDir(tmpDir)
      writeFileSync(configPath, stringify(multi), { mode: 0o600 })
    }
    const argv = serverArgv(spec, this.port, configPath)
    this.argv = argv
    this.log(`[mrs] starting: ${spec.binary} ${argv.join(' ')}`)
    // detached: its own process group, so the whole group can be stopped and no terminal signal reaches it
    mark('keeper spawning the server')
    const child =
      process.platform === 'win32'
        ? spawn(spec.binary, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('/bin/sh', ['-c', WATCHDOG, WATCHDOG_NAME, spec.binary, ...argv], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    // the watchdog's pipe: written never, closed only by the keeper's death
    child.stdin?.on('error', () => {})
    this.serverPid = child.pid ?? 0
    this.serverStart = this.serverPid ? startTime(this.serverPid) : undefined
    this.pipeOutput(child.stdout!)
    this.pipeOutput(child.stderr!)
    child.on('error', (e) => {
      this.recordLine(`[mrs] could not start ${spec.binary}: ${e.message}`)
      this.onServerExit(generation, 127, null)
    })
    child.on('exit', (code, signal) => this.onServerExit(generation, code, signal))
    this.writeRegistry()
    void this.awaitReady(generation)
  }

  private async awaitReady(generation: number): Promise<void> {
    this.readinessAbort?.abort()
    const abort = new AbortController()
    this.readinessAbort = abort
    this.readiness = new Readiness(baseUrl(this.start.spec.host, this.port), abort.signal)
    const ids = await this.readiness.result
    if (!ids || generation !== this.generation || this.shuttingDown) return
    const restarted = this.state === 'restarting'
    this.state = 'ready'
    this.servedIds = ids
    if (!restarted) this.resolveContext()
    this.log(`[mrs] ready on ${baseUrl(this.start.spec.host, this.port)}${restarted ? ' (restarted)' : ''}${this.contextWindow ? `; context window ${this.contextWindow} tokens` : ''}`)
    this.sampleMetrics()
    this.writeRegistry()
    this.broadcast({ t: 'ready', info: this.info(), restarted })
  }

  private async onServerExit(generation: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (generation !== this.generation || this.shuttingDown) return
    this.generation++ // later events of this process are stale
    this.readinessAbort?.abort()
    const how = signal ? `signal ${signal}` : `code ${code}`
    this.log(`[mrs] mistral.rs (pid ${this.serverPid}) exited with ${how}`)
    // a tool the server started may still hold the group: clear it before going on
    await stopGroup(this.serverPid, 500)
    const tail = this.tail.slice(-15)

    if (this.state === 'loading') {
      // `--quant auto` can fail for a model it does not understand: a model that loads without it must not fail because of it
      const quantFailure = this.quantAuto && tail.some((l) => /^(Error|error): .*--quant/.test(l))
      if (quantFailure && code !== 0) {
        this.quantAuto = false
        const reason = failureLine(tail)
        this.quant = `--quant auto failed (${reason}); started without it`
        this.log(`[mrs] ${this.quant}`)
        this.broadcast({ t: 'quant-retry', reason })
        this.spawnServer()
        return
      }
      const portInUse = tail.some((l) => PORT_IN_USE.test(l)) || (code !== 0 && !(await portIsFree(this.port, this.start.spec.host)))
      if (portInUse && !this.start.portExplicit && this.portRetries < MAX_PORT_RETRIES) {
        this.portRetries++
        const to = await freePort(this.start.spec.host)
        this.log(`[mrs] port ${this.port} was taken before mistral.rs could bind it; retrying on ${to}`)
        this.broadcast({ t: 'port-retry', from: this.port, to })
        this.port = to
        this.spawnServer()
        return
      }
      this.broadcast({ t: 'exited', code, signal, tail, during: 'load', portInUse })
      return this.shutdown('failed')
    }

    // ready or restarting: it died mid-session
    if (this.restartsUsed < this.start.restarts && this.activeLeases() > 0) {
      const attempt = ++this.restartsUsed
      const delayMs = restartDelay(attempt)
      this.state = 'restarting'
      this.broadcast({ t: 'exited', code, signal, tail, during: 'session', portInUse: false, restart: { attempt, max: this.start.restarts, delayMs } })
      this.writeRegistry()
      setTimeout(() => {
        if (!this.shuttingDown) this.spawnServer()
      }, delayMs)
      return
    }
    this.broadcast({ t: 'exited', code, signal, tail, during: 'session', portInUse: false })
    return this.shutdown('gave-up')
  }

  private pipeOutput(stream: NodeJS.ReadableStream): void {
    let pending = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split(/\r?\n/)
      pending = lines.pop()!
      // a progress bar redraws itself with \r: keep the last state of each line
      for (const line of lines) this.recordLine(stripAnsi(line.split('\r').filter(Boolean).at(-1) ?? ''))
      const progress = stripAnsi(pending.split('\r').filter((s) => s.trim()).at(-1) ?? '').trim()
      if (progress) this.broadcast({ t: 'line', line: progress })
    })
  }

  private recordLine(line: string): void {
    if (!line.trim()) return
    this.noteLoadLine(line)
    // mistral.rs says so right after it binds: ask at once instead of at the next poll
    if (this.state !== 'ready' && LISTENING.test(line)) this.readiness?.checkNow()
    this.tail.push(line)
    if (this.tail.length > TAIL_LINES) this.tail.shift()
    this.log(line)
    this.broadcast({ t: 'line', line })
  }

  /** What the load log says that matters later: the quantization chosen, other weights, the KV cache size. */
  private noteLoadLine(line: string): void {
    if (this.state === 'ready') return
    // the choice (`--quant auto -> q4k (backend=cuda, vram=24.0 GB)`), not the ISQ/UQFF detail after it
    const quant = /quant: (--quant auto -> .*\(.*)$/.exec(line)
    if (quant) {
      this.quant = quant[1]!.trim()
      this.broadcast({ t: 'note', message: `mistral.rs: ${this.quant}` })
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
   * the model takes (its config.json, read now: on a first run it was
   * downloaded during the load); either alone when the other is unknown.
   */
  private resolveContext(): void {
    const model = this.start.spec.models[0]!
    const found = localContextWindow(model, process.env)
    const fromWeights = !found.tokens && this.weightsRepo ? localContextWindow(this.weightsRepo, process.env) : undefined
    this.modelContext = found.tokens ?? fromWeights?.tokens
    if (found.problem) this.broadcast({ t: 'warning', message: `${found.problem}; the client is not told the model's context window` })
    if (this.start.spec.context) return
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
    if (this.state !== 'ready') return
    try {
      const { status, text } = await getText(`${baseUrl(this.start.spec.host, this.port)}/metrics`, timeoutMs)
      const sample = status === 200 ? sampleOf(text) : undefined
      this.metricsMissing = !sample
      if (!sample) return
      this.metricsSamples.push(sample)
      while (this.metricsSamples.length > 1 && sample.at - this.metricsSamples[0]!.at > 65_000) this.metricsSamples.shift()
    } catch {
      // a busy or restarting server: the next sample will tell
    }
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
        lease = this.addLease((e) => void writeMessage(conn, e), () => conn.end(), m.pid, m.keepAliveMs)
        lease.send({ t: 'hello', info: this.info() })
        // a late joiner of a loading server sees the latest line at once
        const last = this.tail.at(-1)
        if (this.state !== 'ready' && last) lease.send({ t: 'line', line: last })
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

  private addLease(send: Lease['send'], end: Lease['end'], pid: number, keepAliveMs: number): Lease {
    clearTimeout(this.keepAliveTimer)
    const lease: Lease = { id: this.nextLeaseId++, send, end, pid, keepAliveMs, released: false }
    this.leases.set(lease.id, lease)
    this.writeRegistry()
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
        lease.send({ t: 'released', stopping, sessions: remaining })
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

  private info(): ServerInfo {
    const { id, key, family, spec, logPath, socketPath } = this.start
    return {
      id,
      key,
      family,
      shared: key !== null,
      keeperPid: process.pid,
      keeperStart: this.keeperStart,
      serverPid: this.serverPid,
      serverStart: this.serverStart,
      port: this.port,
      host: spec.host,
      url: baseUrl(spec.host, this.port),
      models: spec.models,
      binary: spec.binary,
      argv: this.argv,
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
      quant: this.quant,
      weightsRepo: this.weightsRepo,
      metrics: this.metricsMissing || !this.metricsSamples.length ? undefined : summarize(this.metricsSamples),
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
    this.readinessAbort?.abort()
    // first make the server undiscoverable, so no new session attaches to it
    rmSync(this.start.registryPath, { force: true })
    this.socketServer?.close()
    rmSync(this.start.socketPath, { force: true })
    let forced = false
    if (this.serverPid) {
      const result = await stopGroup(this.serverPid, this.start.graceMs)
      forced = result.forced
      if (forced) this.log(`[mrs] mistral.rs ignored SIGTERM for ${this.start.graceMs} ms; sent SIGKILL`)
    }
    rmSync(this.start.tmpDir, { recursive: true, force: true })
    await Promise.all(this.clientStops)
    this.log(`[mrs] stopped (${reason})`)
    this.broadcast({ t: 'stopped', reason, forced })
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
