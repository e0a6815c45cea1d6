/**
 * One run of mistral.rs somewhere else, as the keeper sees it: the program of
 * remote-program.ts, carried by a local process (ssh to a host, or srun into a
 * Slurm job, itself maybe through ssh to the login node). The protocol is the
 * same wherever it runs: the program reports mistralrs, its private dir and a
 * free loopback port; the keeper answers with the server's arguments, makes
 * the port reachable here through a tunnel to a Unix socket in its private
 * dir, asks who listens there before anything is sent, follows the download
 * and reads the model's config.json, and sends a heartbeat; closing the
 * program's stdin stops the run there.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'smol-toml'
import { contextFromConfig } from '../hf.js'
import { privateDir } from '../paths.js'
import { startTime } from '../process/proc.js'
import type { Ownership } from '../server/owner.js'
import { MULTI_MODEL_FILE, multiModelConfig, serverArgv, userHfCache } from '../server/spec.js'
import { chooseQuant, type QuantChoice } from '../server/quant.js'
import { acceleratorOf } from '../models/accelerator.js'
import { modelWeight, totalWeight } from '../models/downloaded.js'
import type { ModelWeight } from '../models/fit.js'
import { versionIn } from '../version.js'
import { fileLine, fromHex, remoteEvent, requestLine } from './remote-program.js'
import { splitLines } from './output.js'
import type { Backend, ServerExit, ServerProcess, ServerProcessEvents, ServerRun } from './types.js'

/** mistralrs is not there: one line, with where it was looked for and how to get it there. */
export const mistralrsMissing = (where: string, path: string | undefined, install: string) =>
  `mistralrs not found on ${where}${path ? ` at ${path}` : " (searched its PATH, a login shell's, ~/.local/bin, ~/.mistralrs and ~/.cargo/bin there)"}; ${install}, or pass --mistralrs PATH (its path there)`

export interface RemoteLaunch {
  /** Where the server runs, for messages (`gpu-box`, `node07`). */
  where: string
  /** The local command that carries the program (its stdin, stdout and stderr). */
  command: string[]
  /** A first line to write to it (the program for a bootstrap), when the command does not carry the program itself. */
  firstLine?: string
  /** How to get mistralrs there, for the message when it is missing. */
  install: string
  /** Seconds between heartbeats (the program stops the run after 3 missed). */
  beatSeconds: number
  /** Makes the program's loopback port reachable at `socketPath` here; resolves once it is. */
  tunnel(port: number, socketPath: string): Promise<{ close(): void }>
  /** Why a run ended without its program saying so (a lost connection, an ended job); `undefined`: it just ended. */
  explainLoss(code: number | null, signal: NodeJS.Signals | null, sshSaid: string | undefined): Promise<ServerExit | undefined>
  env: NodeJS.ProcessEnv
}

type Pending<T> = ((value: T) => void)[]

/** ssh's and srun's own messages (not the server's log, which shares the channel's stderr). */
const CARRIER_SAID = /^(ssh: |mux_|muxclient|Connection |Control socket|Timeout, server|client_loop|Read from remote|Write failed|packet_write|kex_exchange|Broken pipe|channel \d+:|srun: |slurmstepd)/

const SIGNALS: Record<number, NodeJS.Signals> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' }

export class RemoteRun extends EventEmitter<ServerProcessEvents> implements ServerProcess {
  readonly pid: number
  readonly start?: string
  readonly localArgv: string[]
  binary: string
  argv: string[] = []
  readonly backend: Backend & { socketPath: string }
  quant?: QuantChoice
  private readonly child: ChildProcess
  /** The hub cache there, and mistralrs's version there, as the program says them. */
  private remoteHub?: string
  version?: string
  /** A config.json arriving in chunks (any size: a multimodal one is tens of KB). */
  private configText?: { path: string; hex: string[] }
  /** What a `facts` request is gathering, and who waits for it. */
  private facts = newFacts()
  private readonly factWaiters: Pending<Facts> = []
  /** What the program said of the host for choosing the quantization (asked with the program). */
  private factsAnswer?: Promise<Facts | undefined>
  /** The hub cache the user named mistral.rs (--hf-cache): the program looks there too (downloads, config.json). */
  private readonly userHub?: string
  private remotePort?: number
  get serverPort(): number | undefined {
    return this.remotePort
  }
  private remoteDir?: string
  private tunnel?: { close(): void }
  private exitCode?: number
  private failure?: ServerExit['failure']
  private exited = false
  private readonly stderrTail: string[] = []
  private readonly owners: Pending<Ownership> = []
  private readonly bytes: Pending<number> = []
  private readonly configs: Pending<{ tokens?: number; problem?: string }> = []
  private earlyConfig?: { model: string; answer: Promise<{ tokens?: number; problem?: string }> }
  private lastOwner?: { at: number; owner: Ownership }
  private listeningSeen = false
  private readonly heartbeat: NodeJS.Timeout
  private stopping?: Promise<{ forced: boolean }>

  constructor(
    private readonly run: ServerRun,
    private readonly launch: RemoteLaunch,
  ) {
    super()
    this.binary = run.spec.binary
    privateDir(run.tmpDir)
    this.backend = { socketPath: join(run.tmpDir, `tunnel-${Date.now().toString(36)}.sock`) }
    this.localArgv = launch.command
    // detached: its own process group, so no terminal signal reaches it; the keeper decides when it ends
    this.child = spawn(launch.command[0]!, launch.command.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: launch.env })
    this.child.stdin!.on('error', () => {})
    this.pid = this.child.pid ?? 0
    this.start = this.pid ? startTime(this.pid) : undefined
    if (launch.firstLine) this.send(launch.firstLine)
    // asked with the program, answered as soon as it has chosen the port: no round trip of its own before the start
    this.userHub = userHfCache(run.spec.serverArgs)
    if (this.userHub) this.send(requestLine('hub', [this.userHub]))
    if (run.spec.fitQuant) this.factsAnswer = this.ask(this.factWaiters, requestLine('facts', run.spec.models), undefined, 600_000)
    this.heartbeat = setInterval(() => this.send('.\n'), launch.beatSeconds * 1000)
    this.heartbeat.unref()
    splitLines(this.child.stdout!, (l) => this.onProtocol(l), () => {})
    splitLines(
      this.child.stderr!,
      (l) => {
        this.stderrTail.push(l)
        if (this.stderrTail.length > 8) this.stderrTail.shift()
        if (/Server listening on http/.test(l)) this.listeningSeen = true
        this.emit('line', l)
      },
      (p) => this.emit('progress', p),
    )
    this.child.on('error', (e) => {
      this.fail(`could not run ${launch.command[0]}: ${e.message}`, 127)
      void this.end({ code: 127, signal: null })
    })
    this.child.on('close', (code, signal) => void this.onClose(code, signal))
  }

  private send(text: string): void {
    const stdin = this.child.stdin!
    if (!stdin.destroyed && !stdin.writableEnded) stdin.write(text)
  }

  /** What went wrong, said once: a line of the log, and the message and exit code the session ends with. */
  private fail(message: string, exitCode: number): void {
    this.failure ??= { message, exitCode }
    this.emit('line', `Error: ${message}`)
  }

  private onProtocol(line: string): void {
    const e = remoteEvent(line)
    if (!e) return
    const [first = '', ...more] = e.rest.split(' ')
    const where = this.launch.where
    switch (e.key) {
      case 'binary':
        this.binary = e.rest
        return
      case 'version':
        this.version = versionIn(e.rest)
        return
      case 'hub':
        this.remoteHub = e.rest
        return
      case 'gpu':
        this.facts.gpus.push(e.rest)
        return
      case 'memory':
        this.facts.memory = Number(first) || undefined
        this.facts.available = Number(more[0]) || undefined
        return
      case 'unified':
        this.facts.unified = first === 'yes'
        return
      case 'weights':
        this.facts.weights.push({ bytes: Number(first) || 0, partial: more[0] === '1', largest: Number(more[1]) || 0, index: Number(more[2]) || 0 })
        return
      case 'facts-end': {
        const facts = this.facts
        this.facts = newFacts()
        return this.factWaiters.shift()?.(facts)
      }
      case 'missing':
        return this.fail(mistralrsMissing(where, e.rest && e.rest !== 'mistralrs' ? e.rest : undefined, this.launch.install), 127)
      case 'noport':
        return this.fail(`no free port on ${where}'s loopback (in ${e.rest}; MRS_PORT_RANGE there sets the range)`, 66)
      case 'fail':
        return this.fail(e.rest, 73)
      case 'setupfail':
        return this.fail(e.rest, 67)
      case 'workerfail':
        // a multi-node worker that could not start (srun merges its stdout with the head's): the step ends with it
        return this.fail(more.join(' '), Number(first) || 69)
      case 'dir':
        this.remoteDir = e.rest
        return
      case 'port':
        return void this.begin(Number(first))
      case 'started':
        return void this.emit('line', `[mrs] mistral.rs (${this.binary}) runs on ${where} as pid ${first}; its log there: ${more.join(' ')}`)
      case 'owner': {
        if (first === 'unknown') {
          // no way to tell who listens there is no proof: nothing is sent to the port, and the run ends
          this.fail(`cannot prove who listens on mistral.rs's port on ${where}: ${more.join(' ')}; install lsof there`, 127)
          void this.stop(this.run.graceMs)
          return this.owners.shift()?.({ owner: 'none' })
        }
        const owner: Ownership = first === 'process' ? { owner: 'process' } : first === 'other' ? { owner: 'other', who: `${more.join(' ')} on ${where}` } : { owner: 'none' }
        return this.owners.shift()?.(owner)
      }
      case 'bytes':
        return this.bytes.shift()?.(Number(first) || 0)
      case 'config':
        // `config none`: the model has no config.json there
        return this.configs.shift()?.({})
      case 'config-begin':
        this.configText = { path: e.rest, hex: [] }
        return
      case 'config-chunk':
        this.configText?.hex.push(e.rest)
        return
      case 'config-end': {
        const text = this.configText
        this.configText = undefined
        return this.configs.shift()?.(text ? configContext(text.path, text.hex.join('')) : {})
      }
      case 'config-problem':
        return this.configs.shift()?.({ problem: e.rest })
      case 'exit':
        this.exitCode = Number(first)
        return
    }
  }

  /**
   * The program chose the port: choose the quantization from what it says
   * of the host (its GPUs, the model's weights there), send the server's
   * files and arguments, and tunnel to it.
   */
  private async begin(port: number): Promise<void> {
    this.remotePort = port
    const { spec } = this.run
    if (this.factsAnswer) {
      const facts = await this.factsAnswer
      if (this.exited) return
      this.quant = chooseQuant({ model: facts && weightOfFacts(spec.models, facts), accelerator: facts && acceleratorOf(facts), version: spec.version ?? this.version })
    }
    const choices = { quant: this.quant, hub: this.userHub ?? this.remoteHub }
    const configPath = `${this.remoteDir ?? '.'}/${MULTI_MODEL_FILE}`
    const multi = multiModelConfig(spec, port, choices)
    if (multi) this.send(fileLine(MULTI_MODEL_FILE, stringify(multi)))
    this.argv = serverArgv(spec, port, configPath, choices)
    this.send(requestLine('start', this.argv))
    // a cached model's config.json is read while the server loads (a round trip fewer once it is ready)
    this.earlyConfig = { model: spec.models[0]!, answer: this.ask(this.configs, requestLine('config', [spec.models[0]!]), {}) }
    this.launch.tunnel(port, this.backend.socketPath).then(
      (tunnel) => {
        if (this.exited) return tunnel.close()
        this.tunnel = tunnel
      },
      (e: Error) => {
        if (this.exited) return
        // no way to the port: this run can never serve, so it ends now, saying why (unreachable, 69)
        this.fail(`the tunnel to ${this.launch.where}:${port} failed: ${e.message}`, 69)
        void this.stop(this.run.graceMs)
      },
    )
  }

  /**
   * Who listens on the port there: the program proves it (the same inode
   * check as here). Asked at most once a second while loading, and at once
   * after the server said it listens.
   */
  owner(): Promise<Ownership> {
    if (!this.tunnel || this.exited) return Promise.resolve({ owner: 'none' })
    const recent = this.lastOwner && Date.now() - this.lastOwner.at < 1000 && !this.listeningSeen
    if (recent) return Promise.resolve(this.lastOwner!.owner)
    this.listeningSeen = false
    return this.ask(this.owners, 'prove\n', { owner: 'none' } as Ownership).then((owner) => {
      this.lastOwner = { at: Date.now(), owner }
      return owner
    })
  }

  private ask<T, F = T>(queue: Pending<T>, line: string, fallback: F, timeoutMs = 10_000): Promise<T | F> {
    if (this.exited) return Promise.resolve(fallback)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = queue.indexOf(answer)
        if (i >= 0) queue.splice(i, 1)
        resolve(fallback)
      }, timeoutMs)
      const answer = (v: T) => {
        clearTimeout(timer)
        resolve(v)
      }
      queue.push(answer)
      this.send(line)
    })
  }

  async portTaken(): Promise<boolean> {
    return false // the program's own message says so, in the log
  }

  cachedBytes(repos: readonly string[]): Promise<number> {
    if (this.remotePort === undefined) return Promise.resolve(0)
    return this.ask(this.bytes, requestLine('du', repos), 0)
  }

  async modelContext(model: string): Promise<{ tokens?: number; problem?: string }> {
    const early = this.earlyConfig?.model === model ? await this.earlyConfig.answer : undefined
    // none yet when the load began: it is downloaded by now
    if (early && (early.tokens || early.problem)) return early
    return this.ask(this.configs, requestLine('config', [model]), {})
  }

  private async onClose(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.exitCode !== undefined) {
      const n = this.exitCode
      return this.end(n > 128 && n < 160 ? { code: null, signal: SIGNALS[n - 128] ?? 'SIGKILL' } : { code: n, signal: null })
    }
    if (this.failure) return this.end({ code, signal: null, failure: this.failure })
    if (this.stopping) return this.end({ code, signal })
    const said = this.stderrTail.filter((l) => CARRIER_SAID.test(l)).at(-1)
    const explained = await this.launch.explainLoss(code, signal, said).catch(() => undefined)
    this.end(explained ?? { code, signal })
  }

  private end(exit: ServerExit): void {
    if (this.exited) return
    this.exited = true
    clearInterval(this.heartbeat)
    for (const r of this.owners.splice(0)) r({ owner: 'none' })
    for (const r of this.bytes.splice(0)) r(0)
    for (const r of this.configs.splice(0)) r({})
    for (const r of this.factWaiters.splice(0)) r(newFacts())
    this.tunnel?.close()
    rmSync(this.backend.socketPath, { force: true })
    setImmediate(() => this.emit('exit', exit))
  }

  /** Closing the program's stdin is its signal: it stops the server (TERM, KILL after the grace period) and ends. */
  stop(graceMs: number): Promise<{ forced: boolean }> {
    this.stopping ??= new Promise((resolve) => {
      if (this.exited) return resolve({ forced: false })
      clearInterval(this.heartbeat)
      this.child.stdin!.end()
      const timer = setTimeout(() => {
        // it did not let go in time: drop the carrier (the program sees its stdin close and stops the run), and the
        // tunnel now, as the keeper may exit before the carrier's close is seen
        try {
          process.kill(this.pid, 'SIGKILL')
        } catch {
          // gone
        }
        this.tunnel?.close()
        resolve({ forced: true })
      }, graceMs + 5000)
      this.child.once('close', () => {
        clearTimeout(timer)
        resolve({ forced: false })
      })
    })
    return this.stopping
  }
}

interface Facts {
  gpus: string[]
  memory?: number
  available?: number
  unified: boolean
  weights: { bytes: number; partial: boolean; largest: number; index: number }[]
}

const newFacts = (): Facts => ({ gpus: [], unified: false, weights: [] })

/** The models' weights as the host's cache holds them (each as `mrs models` would judge it). */
function weightOfFacts(models: readonly string[], facts: Facts): ModelWeight | undefined {
  return totalWeight(
    models.map((id, i) => {
      const w = facts.weights[i]
      if (!w) return undefined
      // a local directory there: its bytes are its weights
      if (/^(\/|\.\/|\.\.\/)/.test(id)) return w.bytes ? { downloadGB: w.bytes / 1e9 } : undefined
      const cached = w.bytes ? { id, bytes: w.bytes, lastUsed: 0, partial: w.partial || w.largest < 10 * 1024 * 1024, fullBytes: w.index || undefined } : undefined
      return modelWeight(id, cached)
    }),
  )
}

/** A config.json in hex → its context length, or why there is none. */
function configContext(path: string, hex: string): { tokens?: number; problem?: string } {
  let config: unknown
  try {
    config = JSON.parse(fromHex(hex))
  } catch (e) {
    return { problem: `${path} is not valid JSON (${(e as Error).message.split('\n')[0]})` }
  }
  const tokens = contextFromConfig(config)
  return tokens ? { tokens } : { problem: `${path} names no context length` }
}

/** The server's id, from its private dir's name (`server-<id>`): its dir there is named the same. */
export const idOf = (tmpDir: string) => tmpDir.split('-').at(-1) ?? 'server'
