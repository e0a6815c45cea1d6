/**
 * An SSH host (`--on HOST`). The engine is the user's own OpenSSH — the `ssh`
 * found on PATH, never a library of mrs's — so their config, keys, agent,
 * ProxyJump, known_hosts and FIDO/2FA all apply as they do for `ssh` itself,
 * and host-key checking is never weakened.
 *
 * One master connection per host (ControlMaster, its socket in mrs's private
 * temp dir) carries everything: the probes, each run of the server, its log,
 * the port forward. It is opened by the session, on its terminal, so a
 * password or 2FA prompt is asked there once, before any load; without a
 * terminal BatchMode turns a prompt into an error. It lives while a channel
 * uses it (ControlPersist), and a few seconds more, never longer: the session
 * holds a channel while it plans, the keeper one while the server runs.
 *
 * On the host runs remote-program.ts: mistral.rs on the host's loopback, in
 * the run's own process group, stopped when the channel closes or the
 * heartbeat stops. The keeper reaches it through a forward from a Unix socket
 * in its private dir (no other local user can connect to it) to the host's
 * loopback port, once the program has proved that port's listener is the
 * server; the clients use the keeper's front door.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { ExitCode, MrsError } from '../errors.js'
import { contextFromConfig } from '../hf.js'
import { digest } from '../hash.js'
import { getPaths, privateDir, type Env, type Paths } from '../paths.js'
import { startTime } from '../process/proc.js'
import type { Ownership } from '../server/owner.js'
import { MULTI_MODEL_FILE, multiModelConfig, serverArgv } from '../server/spec.js'
import { stringify } from 'smol-toml'
import { BOOTSTRAP, fileLine, fromHex, programLine, remoteEvent, requestLine } from './remote-program.js'
import { splitLines } from './output.js'
import type { Backend, Inventory, PlaceModule, ServerExit, ServerProcess, ServerProcessEvents, ServerRun } from './types.js'
import type { CachedModel } from '../hf.js'
import { parseNvidiaSmi, type Accelerator } from '../models/accelerator.js'
import { MISTRALRS_INSTALL } from '../plan.js'
import { versionIn } from '../version.js'

export interface SshPlace {
  kind: 'ssh'
  /** What `ssh` takes: an alias of ~/.ssh/config, user@host, ssh://user@host:port. */
  host: string
  /** mistralrs on the host, when not found the way a login shell there finds it. */
  mistralrs?: string
}

/** A dead network ends the master after this × 3 (ServerAliveInterval); the host stops the server after the same without a heartbeat. */
export const KEEPALIVE_SECONDS = 5
const MISSES = 3
/** After its last channel, the master stays this long (a later command within it reuses it). */
const LINGER_SECONDS = 3

/** The master's socket: short (ssh adds 17 characters, and a socket path holds ~104 bytes), in a private dir. */
export function controlPath(paths: Paths, host: string): string {
  const name = `cm-${digest(host).slice(0, 12)}`
  const preferred = join(paths.tmpRoot, 'ssh')
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user'
  const dir = Buffer.byteLength(join(preferred, name)) + 17 <= 100 ? preferred : `/tmp/mrs-${uid}-ssh`
  return join(dir, name)
}

/** Options every ssh of mrs's gets: the master's socket, and no prompts (only the master, on a terminal, may ask). */
const viaMaster = (ctl: string) => ['-o', `ControlPath=${ctl}`, '-o', 'ControlMaster=no', '-o', 'BatchMode=yes']

const sshBinary = (env: Env) => env.MRS_SSH || 'ssh'

/** What ssh said on a failure, as one line for mrs's error and an exit code: unreachable (69) or refused (77). */
export function sshFailure(host: string, stderr: string, what = 'connect to'): MrsError {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Warning: Permanently added|^Pseudo-terminal/.test(l))
  // a host key ssh does not know, or one that changed: ssh's own message, whole, below one line of mrs's
  if (lines.some((l) => /HOST IDENTIFICATION HAS CHANGED|has changed and you have requested strict checking/.test(l)))
    return new MrsError(`ssh refused to connect to ${host}: its host key has changed (ssh's message below); check why before you trust it, mrs never skips that check`, ExitCode.Refused, lines)
  if (lines.some((l) => /Host key verification failed|host key is known/.test(l)))
    return new MrsError(`ssh refused to connect to ${host}: it does not know ${host}'s host key (ssh's message below); run \`ssh ${host}\` once to check and accept it, mrs never skips that check`, ExitCode.Refused, lines)
  const said = lines.filter((l) => !/^@+$/.test(l))
  const refused = said.find((l) => /Permission denied|Too many authentication failures|Authentication failed/.test(l))
  if (refused) return new MrsError(`ssh could not ${what} ${host}: ${refused}; check that \`ssh ${host}\` logs in (your key, agent or ~/.ssh/config)`, ExitCode.Refused)
  return new MrsError(`ssh could not ${what} ${host}: ${said.at(-1) ?? 'ssh failed'}`, ExitCode.Unreachable)
}

/** ssh's own messages (not the server's log, which shares the channel's stderr). */
const SSH_SAID = /^(ssh: |mux_|muxclient|Connection |Control socket|Timeout, server|client_loop|Read from remote|Write failed|packet_write|kex_exchange|Broken pipe|channel \d+:)/

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs ssh with `args` (stdin: `input`, then closed), bounded. */
function runSsh(env: Env, args: string[], input?: string, timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(sshBinary(env), args, { stdio: ['pipe', 'pipe', 'pipe'], env: env as NodeJS.ProcessEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d.length + stdout.length < 8 * 1024 * 1024 ? d : ''))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += stderr.length < 64 * 1024 ? d : ''))
    child.stdin.on('error', () => {})
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input)
  })
}

export interface ConnectOptions {
  env: Env
  paths: Paths
  /** On a terminal ssh may prompt (a password, 2FA, an unknown host key); else BatchMode. */
  interactive: boolean
}

/**
 * Makes sure a master connection to the host is up: reuses one, or opens one
 * (in the foreground, where ssh may prompt, until it has authenticated and
 * backgrounds itself). Throws ssh's own reason as one line.
 */
export async function connect(place: SshPlace, opts: ConnectOptions): Promise<string> {
  const ctl = controlPath(opts.paths, place.host)
  privateDir(join(ctl, '..'))
  const check = await runSsh(opts.env, ['-o', `ControlPath=${ctl}`, '-O', 'check', '--', place.host], undefined, 10_000)
  if (check.code === 0) return ctl
  if (check.code === 127 && /ENOENT/.test(check.stderr)) throw new MrsError(`ssh not found on PATH; install OpenSSH's client to use --on`, ExitCode.NotFound)
  const args = [
    '-o', 'ControlMaster=auto', '-o', `ControlPath=${ctl}`, '-o', `ControlPersist=${LINGER_SECONDS}s`,
    '-o', `ServerAliveInterval=${keepAlive(opts.env)}`, '-o', `ServerAliveCountMax=${MISSES}`,
    // a stale forward socket of a crashed keeper never blocks a new one
    '-o', 'StreamLocalBindUnlink=yes',
    ...(opts.interactive ? [] : ['-o', 'BatchMode=yes']),
    '-N', '--', place.host,
  ]
  const master = await new Promise<Ran>((resolve) => {
    // stdin and the prompts: the terminal's (ssh asks on /dev/tty); its own messages are kept for the error
    const child = spawn(sshBinary(opts.env), args, { stdio: [opts.interactive ? 'inherit' : 'ignore', 'ignore', 'pipe'], env: opts.env as NodeJS.ProcessEnv })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += stderr.length < 64 * 1024 ? d : ''))
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: e.message }))
    child.on('close', (code) => resolve({ code, stdout: '', stderr }))
  })
  if (master.code === 127 && /ENOENT/.test(master.stderr)) throw new MrsError(`ssh not found on PATH; install OpenSSH's client to use --on`, ExitCode.NotFound)
  if (master.code !== 0) throw sshFailure(place.host, master.stderr)
  return ctl
}

/** Seconds between keep-alives (MRS_SSH_KEEPALIVE, for a flaky network or a quick test). */
export const keepAlive = (env: Env) => (Number(env.MRS_SSH_KEEPALIVE) > 0 ? Math.round(Number(env.MRS_SSH_KEEPALIVE)) : KEEPALIVE_SECONDS)

/**
 * Holds the master while the session plans (a picker may take longer than
 * its linger): a channel reading stdin until the session lets go or dies.
 * Letting go also ends the master once its channels close, unless a server
 * mrs runs there still uses it: it lives as long as its users, never longer.
 */
export function hold(place: SshPlace, ctl: string, env: Env, paths: Paths): () => void {
  const child = spawn(sshBinary(env), [...viaMaster(ctl), '-T', '--', place.host, 'exec cat >/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'], env: env as NodeJS.ProcessEnv })
  child.on('error', () => {})
  child.stdin!.on('error', () => {})
  child.unref()
  let released = false
  return () => {
    if (released) return
    released = true
    child.stdin!.end()
    void letGo(place, env, paths)
  }
}

/**
 * The master stops taking channels and exits when its open ones close
 * (`ssh -O stop`) — unless a server mrs runs on that host still uses it.
 * Without this it would linger ControlPersist's seconds after its last use.
 */
export async function letGo(place: SshPlace, env: Env, paths: Paths): Promise<void> {
  const { listServers } = await import('../server/registry.js')
  const inUse = (await listServers(paths)).some((e) => e.info.place?.kind === 'ssh' && e.info.place.host === place.host && e.info.state !== 'stopping')
  if (inUse) return
  const child = spawn(sshBinary(env), ['-o', `ControlPath=${controlPath(paths, place.host)}`, '-O', 'stop', '--', place.host], { stdio: 'ignore', detached: true, env: env as NodeJS.ProcessEnv })
  child.on('error', () => {})
  child.unref()
}

/** What a probe of the host found. */
export interface HostFacts {
  os: string
  arch: string
  binary?: string
  version?: string
  /** The mistralrs path searched, when none was found. */
  missing?: string
  gpus: string[]
  memory?: number
  available?: number
  unified: boolean
  disk?: { bytes: number; path: string }
  hub?: string
  models: { dir: string; bytes: number; partial: boolean; largest: number; lastUsed: number }[]
}

/** Runs the remote program's probe through the master: where mistralrs is and its version (and with `full`, the cache, GPUs, memory, disk). */
export async function probe(place: SshPlace, ctl: string, env: Env, full: boolean): Promise<HostFacts> {
  const ran = await runSsh(env, [...viaMaster(ctl), '-T', '--', place.host, BOOTSTRAP], programLine('probe', [place.mistralrs ?? '', full ? 'full' : '']))
  const facts: HostFacts = { os: '', arch: '', gpus: [], unified: false, models: [] }
  let ended = false
  for (const line of ran.stdout.split('\n')) {
    const e = remoteEvent(line)
    if (!e) continue
    const f = e.rest.split(' ')
    switch (e.key) {
      case 'hello':
        facts.os = f[0] ?? ''
        facts.arch = f[1] ?? ''
        break
      case 'binary':
        facts.binary = e.rest
        break
      case 'version':
        facts.version = e.rest || undefined
        break
      case 'missing':
        facts.missing = e.rest
        break
      case 'gpu':
        facts.gpus.push(e.rest)
        break
      case 'memory':
        facts.memory = Number(f[0]) || undefined
        facts.available = Number(f[1]) || undefined
        break
      case 'unified':
        facts.unified = e.rest === 'yes'
        break
      case 'disk':
        facts.disk = { bytes: Number(f[0]) || 0, path: f.slice(1).join(' ') }
        break
      case 'hub':
        facts.hub = e.rest
        break
      case 'model':
        facts.models.push({ dir: f[0]!, bytes: Number(f[1]) || 0, partial: f[2] === '1', largest: Number(f[3]) || 0, lastUsed: (Number(f[4]) || 0) * 1000 })
        break
      case 'end':
        ended = true
        break
    }
  }
  if (!ended) throw ran.code === 255 ? sshFailure(place.host, ran.stderr, 'run a command on') : new MrsError(`the probe of ${place.host} failed (exit ${ran.code}): ${ran.stderr.trim().split('\n').at(-1) ?? ''}`, ExitCode.Unreachable)
  return facts
}

/** What to run there to install mistral.rs, for the message when it is missing. */
export const installOn = (host: string, install: string) => `ssh ${host} "${install.replace(/"/g, '\\"')}"`

// ---- the keeper's side: one run of mistral.rs on the host ------------------------------------------

type Pending<T> = ((value: T) => void)[]

class SshServer extends EventEmitter<ServerProcessEvents> implements ServerProcess {
  readonly pid: number
  readonly start?: string
  readonly localArgv: string[]
  binary: string
  argv: string[] = []
  readonly backend: Backend & { socketPath: string }
  private readonly child: ChildProcess
  private readonly ctl: string
  private remotePort?: number
  private remoteDir?: string
  private forwarded = false
  private exitCode?: number
  private exited = false
  private readonly stderrTail: string[] = []
  private readonly owners: Pending<Ownership> = []
  private readonly bytes: Pending<number> = []
  private readonly configs: Pending<{ tokens?: number; problem?: string }> = []
  private lastOwner?: { at: number; owner: Ownership }
  private listeningSeen = false
  private readonly heartbeat: NodeJS.Timeout
  private stopping?: Promise<{ forced: boolean }>

  constructor(
    private readonly place: SshPlace,
    private readonly run: ServerRun,
  ) {
    super()
    this.ctl = controlPath(getPaths(run.env), place.host)
    this.binary = run.spec.binary
    privateDir(run.tmpDir)
    this.backend = { socketPath: join(run.tmpDir, `tunnel-${Date.now().toString(36)}.sock`) }
    this.localArgv = [sshBinary(run.env), ...viaMaster(this.ctl), '-T', '--', place.host, BOOTSTRAP]
    // detached: its own process group, so no terminal signal reaches it; the keeper decides when it ends
    this.child = spawn(this.localArgv[0]!, this.localArgv.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: run.env as NodeJS.ProcessEnv })
    this.child.stdin!.on('error', () => {})
    this.pid = this.child.pid ?? 0
    this.start = this.pid ? startTime(this.pid) : undefined
    const beat = keepAlive(run.env)
    const grace = Math.max(1, Math.ceil(run.graceMs / 1000))
    this.send(programLine('serve', [idOf(run.tmpDir), String(run.preferPort ?? 0), String(grace), String(beat), String(MISSES), place.mistralrs ?? '']))
    this.heartbeat = setInterval(() => this.send('.\n'), beat * 1000)
    this.heartbeat.unref()
    splitLines(this.child.stdout!, (l) => this.onProtocol(l), () => {})
    splitLines(
      this.child.stderr!,
      (l) => {
        this.stderrTail.push(l)
        if (this.stderrTail.length > 5) this.stderrTail.shift()
        if (/Server listening on http/.test(l)) this.listeningSeen = true
        this.emit('line', l)
      },
      (p) => this.emit('progress', p),
    )
    this.child.on('error', (e) => {
      this.emit('line', `Error: could not run ssh: ${e.message}`)
      this.end({ code: 127, signal: null })
    })
    this.child.on('close', (code, signal) => this.onClose(code, signal))
  }

  private send(text: string): void {
    const stdin = this.child.stdin!
    if (!stdin.destroyed && !stdin.writableEnded) stdin.write(text)
  }

  private onProtocol(line: string): void {
    const e = remoteEvent(line)
    if (!e) return
    const [first = '', ...more] = e.rest.split(' ')
    switch (e.key) {
      case 'binary':
        this.binary = e.rest
        return
      case 'missing':
        return void this.emit('line', `Error: mistralrs not found on ${this.place.host} (${e.rest ? `not at ${e.rest}; ` : ''}searched the login shell's PATH and ~/.cargo/bin); install it there, or pass --mistralrs PATH`)
      case 'noport':
        return void this.emit('line', `Error: no free port on ${this.place.host}'s loopback (in ${e.rest}; MRS_PORT_RANGE there sets the range)`)
      case 'fail':
        return void this.emit('line', `Error: ${e.rest}`)
      case 'dir':
        this.remoteDir = e.rest
        return
      case 'port':
        return this.begin(Number(first))
      case 'started':
        this.emit('line', `[mrs] mistral.rs runs on ${this.place.host} as pid ${first}; its log there: ${more.join(' ')}`)
        return
      case 'owner': {
        const owner: Ownership =
          first === 'process' || first === 'unknown' ? { owner: 'process' } : first === 'other' ? { owner: 'other', who: `${more.join(' ')} on ${this.place.host}` } : { owner: 'none' }
        return this.owners.shift()?.(owner)
      }
      case 'bytes':
        return this.bytes.shift()?.(Number(first) || 0)
      case 'config':
        if (first === 'none') return this.configs.shift()?.({})
        return this.configs.shift()?.(configContext(first, more.join('')))
      case 'config-problem':
        return this.configs.shift()?.({ problem: e.rest })
      case 'exit':
        this.exitCode = Number(first)
        return
    }
  }

  /** The host chose the port: send the server's files and arguments, and forward to it. */
  private begin(port: number): void {
    this.remotePort = port
    const dir = this.remoteDir ?? '.'
    const configPath = `${dir}/${MULTI_MODEL_FILE}`
    const multi = multiModelConfig(this.run.spec, port)
    if (multi) this.send(fileLine(MULTI_MODEL_FILE, stringify(multi)))
    this.argv = serverArgv(this.run.spec, port, configPath)
    this.send(requestLine('start', this.argv))
    void runSsh(this.run.env, ['-o', `ControlPath=${this.ctl}`, '-O', 'forward', '-L', `${this.backend.socketPath}:127.0.0.1:${port}`, '--', this.place.host], undefined, 30_000).then((r) => {
      if (r.code === 0) this.forwarded = true
      else this.emit('line', `[mrs] the forward to ${this.place.host}:${port} failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`)
    })
  }

  /**
   * Who listens on the host's port: the program there proves it (the same
   * inode check as here). Asked at most once a second while loading, and at
   * once after the server said it listens.
   */
  owner(): Promise<Ownership> {
    if (!this.forwarded || this.exited) return Promise.resolve({ owner: 'none' })
    const recent = this.lastOwner && Date.now() - this.lastOwner.at < 1000 && !this.listeningSeen
    if (recent) return Promise.resolve(this.lastOwner!.owner)
    this.listeningSeen = false
    return this.ask(this.owners, 'prove\n', { owner: 'none' } as Ownership).then((owner) => {
      this.lastOwner = { at: Date.now(), owner }
      return owner
    })
  }

  private ask<T>(queue: Pending<T>, line: string, fallback: T, timeoutMs = 10_000): Promise<T> {
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
    return false // the host's own message says so, in the log
  }

  cachedBytes(repos: readonly string[]): Promise<number> {
    if (this.remotePort === undefined) return Promise.resolve(0)
    return this.ask(this.bytes, requestLine('du', repos), 0)
  }

  modelContext(model: string): Promise<{ tokens?: number; problem?: string }> {
    return this.ask(this.configs, requestLine('config', [model]), {})
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitCode !== undefined) {
      const n = this.exitCode
      return this.end(n > 128 && n < 160 ? { code: null, signal: signalName(n - 128) } : { code: n, signal: null })
    }
    // the remote program exits 127 (no mistralrs), 66 (no port), 73 (no private dir) itself; anything else is the connection
    if (code === 127 || code === 66 || code === 73) return this.end({ code, signal: null })
    if (this.stopping) return this.end({ code, signal })
    const why = this.stderrTail.filter((l) => SSH_SAID.test(l)).at(-1)
    this.end({ code: null, signal: null, lost: `the connection to ${this.place.host} was lost${signal ? ` (ssh got ${signal})` : why ? ` (${why})` : ''}` })
  }

  private end(exit: ServerExit): void {
    if (this.exited) return
    this.exited = true
    clearInterval(this.heartbeat)
    for (const r of this.owners.splice(0)) r({ owner: 'none' })
    for (const r of this.bytes.splice(0)) r(0)
    for (const r of this.configs.splice(0)) r({})
    this.cancelForward()
    setImmediate(() => this.emit('exit', exit))
  }

  private cancelForward(): void {
    if (this.remotePort === undefined) return
    void runSsh(this.run.env, ['-o', `ControlPath=${this.ctl}`, '-O', 'cancel', '-L', `${this.backend.socketPath}:127.0.0.1:${this.remotePort}`, '--', this.place.host], undefined, 10_000).finally(() =>
      rmSync(this.backend.socketPath, { force: true }),
    )
  }

  /** Closing the channel's stdin is the host's signal: it stops the server (TERM, KILL after the grace period) and the channel ends. */
  stop(graceMs: number): Promise<{ forced: boolean }> {
    this.stopping ??= new Promise((resolve) => {
      if (this.exited) return resolve({ forced: false })
      clearInterval(this.heartbeat)
      this.child.stdin!.end()
      const timer = setTimeout(() => {
        // the host did not let go in time: drop the connection (the host sees the channel close and stops it)
        try {
          process.kill(this.pid, 'SIGKILL')
        } catch {
          // gone
        }
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

const SIGNALS: Record<number, NodeJS.Signals> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' }
const signalName = (n: number): NodeJS.Signals => SIGNALS[n] ?? 'SIGKILL'

/** The server's id from its private dir's name (`server-<id>`), for the host's log dir. */
const idOf = (tmpDir: string) => tmpDir.split('-').at(-1) ?? 'server'

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

/** The probe's findings as the picker and `mrs models` take them. */
export function inventoryOf(facts: HostFacts): Inventory {
  const models: CachedModel[] = facts.models.map((m) => ({
    id: m.dir.slice('models--'.length).replace(/--/g, '/'),
    bytes: m.bytes,
    lastUsed: m.lastUsed,
    // no weights yet (only a config) counts as unfinished, as on this machine
    partial: m.partial || m.largest < 10 * 1024 * 1024,
  }))
  const gpu = facts.gpus.length ? parseNvidiaSmi(facts.gpus.join('\n')) : undefined
  const memory = facts.memory ?? 0
  const accelerator: Accelerator = gpu ?? (facts.unified ? { kind: 'metal', name: 'Apple silicon (unified memory)', totalBytes: memory } : { kind: 'cpu', name: 'CPU', totalBytes: memory, freeBytes: facts.available })
  return { models: models.sort((a, b) => b.lastUsed - a.lastUsed), accelerator, disk: facts.disk, mistralrs: { binary: facts.binary, version: facts.version } }
}

export const ssh: PlaceModule<SshPlace> = {
  kind: 'ssh',
  describe: (place) => place.host,
  async prepare(place, ctx) {
    const ctl = await connect(place, ctx)
    const release = hold(place, ctl, ctx.env, ctx.paths)
    try {
      const facts = await probe(place, ctl, ctx.env, false)
      if (!facts.binary)
        throw new MrsError(
          `mistralrs not found on ${place.host}${place.mistralrs ? ` at ${place.mistralrs}` : " (searched a login shell's PATH there and ~/.cargo/bin)"}; install it there: ${installOn(place.host, MISTRALRS_INSTALL)}, or pass --mistralrs PATH (its path there)`,
          ExitCode.NotFound,
        )
      return {
        binary: facts.binary,
        version: async () => (facts.version ? versionIn(facts.version) : undefined),
        inventory: async () => inventoryOf(await probe(place, ctl, ctx.env, true)),
        release,
      }
    } catch (e) {
      release()
      throw e
    }
  },
  async inventory(place, ctx) {
    const ctl = await connect(place, ctx)
    const release = hold(place, ctl, ctx.env, ctx.paths)
    try {
      return inventoryOf(await probe(place, ctl, ctx.env, true))
    } finally {
      release()
    }
  },
  async spawn(place, run) {
    return new SshServer(place, run)
  },
  release: (place, env) => letGo(place, env, getPaths(env)),
}
