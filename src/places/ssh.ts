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
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ExitCode, MrsError } from '../errors.js'
import { digest } from '../hash.js'
import { getPaths, privateDir, type Env, type Paths } from '../paths.js'
import { mark } from '../trace.js'
import { isAlive, startTime } from '../process/proc.js'
import { listServers, withLock } from '../server/registry.js'
import { BOOTSTRAP, programLine, remoteEvent } from './remote-program.js'
import { RemoteRun, idOf, mistralrsMissing } from './remote-run.js'
import { CHOSEN_THERE, QUANT_THERE, type Inventory, type PlaceModule, type ServerProcess, type ServerRun } from './types.js'
import type { SshPlace } from './kinds.js'
import type { CachedModel } from '../hf.js'
import { acceleratorOf } from '../models/accelerator.js'
import { MISTRALRS_INSTALL } from '../server/mistralrs.js'

export type { SshPlace } from './kinds.js'

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

/**
 * The master's dir, made or checked as every private dir of mrs's: the temp
 * root above it too (a dir made inside another user's `$TMPDIR/mrs-UID` could
 * be swapped under mrs by its owner).
 */
export function controlDir(paths: Paths, host: string): string {
  const dir = dirname(controlPath(paths, host))
  if (dir.startsWith(`${paths.tmpRoot}/`)) privateDir(paths.tmpRoot)
  return privateDir(dir)
}

/** A word as ssh takes it where it expands %-tokens (ControlPath, ProxyCommand, a forward's socket path): every % literal. */
export const sshLiteral = (word: string) => word.replace(/%/g, '%%')

/** `-o ControlPath=…` for a path: ssh expands %-tokens there, so a `%` of the path's own is doubled. */
export const controlOption = (ctl: string) => `ControlPath=${sshLiteral(ctl)}`

/** `-L` to a Unix socket here from a port on the far side's loopback: ssh expands %-tokens in the socket's path too. */
export const forwardSpec = (socketPath: string, port: number) => `${sshLiteral(socketPath)}:127.0.0.1:${port}`

/** Options every ssh of mrs's gets: the master's socket, and no prompts (only the master, on a terminal, may ask). */
export const viaMaster = (ctl: string) => ['-o', controlOption(ctl), '-o', 'ControlMaster=no', '-o', 'BatchMode=yes']

export const sshBinary = (env: Env) => env.MRS_SSH || 'ssh'

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
 * Makes sure a master connection to the host is up, and counts this process
 * as one of its users until `hold`'s release: reuses a master, or opens one
 * (in the foreground, where ssh may prompt, until it has authenticated and
 * backgrounds itself). Throws ssh's own reason as one line.
 *
 * Under a lock per host, with the master's users counted in files beside its
 * socket: two launches at once would otherwise race — one's master starting
 * between the other's check and its own start makes the latter's `ssh -N` a
 * client of the first, which never exits; and a session letting go of the
 * master (`ssh -O stop`) while another is just connecting would stop it
 * under that one.
 */
export async function connect(place: SshPlace, opts: ConnectOptions): Promise<string> {
  const ctl = controlPath(opts.paths, place.host)
  controlDir(opts.paths, place.host)
  // a start may wait for a password or a 2FA prompt on this terminal: the others wait that long, no longer
  await withLock(`${ctl}.lock`, () => startMaster(place, ctl, opts), { timeoutMs: opts.interactive ? 600_000 : 60_000 })
  mark(`ssh master to ${place.host}`)
  return ctl
}

/** The users of a master: one file per process holding it (its PID and start time), beside the socket. */
const usersDir = (ctl: string) => `${ctl}.users`
let holds = 0

/** Counts this process as a user of the master (under its lock); the returned function takes that back. */
function addUser(ctl: string): () => void {
  privateDir(usersDir(ctl))
  const file = join(usersDir(ctl), `${process.pid}-${++holds}`)
  writeFileSync(file, startTime(process.pid) ?? '', { mode: 0o600 })
  return () => rmSync(file, { force: true })
}

/** Other live processes counted as users of the master (a crashed one's file is stale: its PID is gone or reused). */
function otherUsers(ctl: string): number {
  let names: string[]
  try {
    names = readdirSync(usersDir(ctl))
  } catch {
    return 0
  }
  return names.filter((name) => {
    const pid = Number(name.split('-')[0])
    if (pid === process.pid) return false
    let start = ''
    try {
      start = readFileSync(join(usersDir(ctl), name), 'utf8')
    } catch {
      return false
    }
    const live = isAlive(pid) && (!start || startTime(pid) === start)
    if (!live) rmSync(join(usersDir(ctl), name), { force: true })
    return live
  }).length
}

async function startMaster(place: SshPlace, ctl: string, opts: ConnectOptions): Promise<void> {
  // no socket, no master: a cold start spares the check's process start
  const check = existsSync(ctl) ? await runSsh(opts.env, ['-o', controlOption(ctl), '-O', 'check', '--', place.host], undefined, 10_000) : { code: 255, stdout: '', stderr: '' }
  if (check.code === 0) return void pendingUsers.set(ctl, addUser(ctl))
  if (check.code === 127 && /ENOENT/.test(check.stderr)) throw new MrsError(`ssh not found on PATH; install OpenSSH's client to use --on`, ExitCode.NotFound)
  const args = [
    '-o', 'ControlMaster=auto', '-o', controlOption(ctl), '-o', `ControlPersist=${LINGER_SECONDS}s`,
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
  pendingUsers.set(ctl, addUser(ctl))
}

/** The user count `connect` just took for a master, handed to the `hold` that follows it. */
const pendingUsers = new Map<string, () => void>()

/** Seconds between keep-alives (MRS_SSH_KEEPALIVE, for a flaky network or a quick test). */
export const keepAlive = (env: Env) => (Number(env.MRS_SSH_KEEPALIVE) > 0 ? Math.round(Number(env.MRS_SSH_KEEPALIVE)) : KEEPALIVE_SECONDS)

/**
 * Holds the master while the session plans (a picker may take longer than
 * its linger): a channel reading stdin until the session lets go or dies.
 * Letting go also ends the master once its channels close, unless a server
 * mrs runs there still uses it: it lives as long as its users, never longer.
 */
export function hold(place: SshPlace, ctl: string, env: Env, paths: Paths): () => void {
  const user = pendingUsers.get(ctl) ?? addUser(ctl)
  pendingUsers.delete(ctl)
  const child = spawn(sshBinary(env), [...viaMaster(ctl), '-T', '--', place.host, 'exec cat >/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'], env: env as NodeJS.ProcessEnv })
  child.on('error', () => {})
  child.stdin!.on('error', () => {})
  child.unref()
  let released = false
  return () => {
    if (released) return
    released = true
    child.stdin!.end()
    user()
    void letGo(place, env, paths)
  }
}

/**
 * The master stops taking channels and exits when its open ones close
 * (`ssh -O stop`) — unless a server mrs runs on that host still uses it.
 * Without this it would linger ControlPersist's seconds after its last use.
 */
export async function letGo(place: SshPlace, env: Env, paths: Paths): Promise<void> {
  const ctl = controlPath(paths, place.host)
  controlDir(paths, place.host)
  await withLock(`${ctl}.lock`, async () => {
    if (otherUsers(ctl) > 0) return
    const inUse = (await listServers(paths)).some((e) => e.info.place?.kind === 'ssh' && e.info.place.host === place.host && e.info.state !== 'stopping')
    if (inUse) return
    // under the lock: nobody connects between this look and the stop; `-O stop` returns at once
    await runSsh(env, ['-o', controlOption(ctl), '-O', 'stop', '--', place.host], undefined, 10_000)
  }).catch(() => {})
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
  /** Python's hub cache there, when it is not mistral.rs's (XDG_CACHE_HOME). */
  pyhub?: string
  models: { dir: string; bytes: number; partial: boolean; largest: number; lastUsed: number; elsewhere: boolean }[]
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
      case 'pyhub':
        facts.pyhub = e.rest
        break
      case 'model':
        facts.models.push({ dir: f[0]!, bytes: Number(f[1]) || 0, partial: f[2] === '1', largest: Number(f[3]) || 0, lastUsed: (Number(f[4]) || 0) * 1000, elsewhere: f[5] === '1' })
        break
      case 'end':
        ended = true
        break
    }
  }
  if (!ended) throw ran.code === 255 ? sshFailure(place.host, ran.stderr, 'run a command on') : new MrsError(`the probe of ${place.host} failed (exit ${ran.code}): ${ran.stderr.trim().split('\n').at(-1) ?? ''}`, ExitCode.Unreachable)
  return facts
}

/** mistralrs is not on the host: one line, with how to install it there. */
const missingOn = (place: SshPlace) => new MrsError(mistralrsMissing(place.host, place.mistralrs, installThere(place)), ExitCode.NotFound)
const installThere = (place: SshPlace) => `install it there: ${installOn(place.host, MISTRALRS_INSTALL)}`

/** What to run there to install mistral.rs, for the message when it is missing. */
export const installOn = (host: string, install: string) => `ssh ${host} "${install.replace(/"/g, '\\"')}"`

// ---- the keeper's side: one run of mistral.rs on the host ------------------------------------------

/** A forward from a Unix socket here to a port on the host's loopback, through the master. */
export async function forwardVia(host: string, ctl: string, env: Env, port: number, socketPath: string): Promise<{ close(): void }> {
  const spec = forwardSpec(socketPath, port)
  const r = await runSsh(env, ['-o', controlOption(ctl), '-O', 'forward', '-L', spec, '--', host], undefined, 30_000)
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').at(-1) ?? `ssh exited with ${r.code}`)
  return {
    close: () => {
      void runSsh(env, ['-o', controlOption(ctl), '-O', 'cancel', '-L', spec, '--', host], undefined, 10_000).finally(() => rmSync(socketPath, { force: true }))
    },
  }
}

/** One run on the host: the program through the master's channel, the forward through the same master. */
function runOnHost(place: SshPlace, run: ServerRun): ServerProcess {
  const ctl = controlPath(getPaths(run.env), place.host)
  const grace = Math.max(1, Math.ceil(run.graceMs / 1000))
  const beat = keepAlive(run.env)
  return new RemoteRun(run, {
    where: place.host,
    command: [sshBinary(run.env), ...viaMaster(ctl), '-T', '--', place.host, BOOTSTRAP],
    firstLine: programLine('serve', [idOf(run.tmpDir), String(run.preferPort ?? 0), String(grace), String(beat), String(MISSES), place.mistralrs ?? '']),
    install: installThere(place),
    beatSeconds: beat,
    env: run.env as NodeJS.ProcessEnv,
    tunnel: (port, socketPath) => forwardVia(place.host, ctl, run.env, port, socketPath),
    // the program there exits with a code of its own (127, 66, 73) when it says why; anything else is the connection
    explainLoss: async (_code, signal, said) => ({ code: null, signal: null, lost: `the connection to ${place.host} was lost${signal ? ` (ssh got ${signal})` : said ? ` (${said})` : ''}` }),
  })
}

/** The probe's findings as the picker and `mrs models` take them. */
export function inventoryOf(facts: HostFacts): Inventory {
  const here = new Set(facts.models.filter((m) => !m.elsewhere).map((m) => m.dir))
  const models: CachedModel[] = facts.models
    // a model in both caches is mistral.rs's
    .filter((m) => !m.elsewhere || !here.has(m.dir))
    .map((m) => ({
      id: m.dir.slice('models--'.length).replace(/--/g, '/'),
      bytes: m.bytes,
      lastUsed: m.lastUsed,
      // no weights yet (only a config) counts as unfinished, as on this machine
      partial: m.partial || m.largest < 10 * 1024 * 1024,
      ...(m.elsewhere && facts.pyhub ? { elsewhere: facts.pyhub } : {}),
    }))
  const accelerator = acceleratorOf(facts)
  return { models: models.sort((a, b) => Number(Boolean(a.elsewhere)) - Number(Boolean(b.elsewhere)) || b.lastUsed - a.lastUsed), accelerator, disk: facts.disk, mistralrs: { binary: facts.binary, version: facts.version } }
}

export const ssh: PlaceModule<SshPlace> = {
  kind: 'ssh',
  describe: (place) => place.host,
  machine: (place) => place.host,
  dryRun: async (place, { spec, serve }) => [
    `where:    ${place.host}, through your ssh: one master connection (its socket in mrs's private temp dir) carries the server, its log and a forward from a private socket here to its port on ${place.host}'s loopback`,
    `server:   ${serve(`<free port on ${place.host}>`, '<its private dir there>', spec.fitQuant ? CHOSEN_THERE : { hub: CHOSEN_THERE.hub })}`,
    `quant:    ${spec.fitQuant ? QUANT_THERE(place.host) : 'yours (--server-arg)'}`,
  ],
  runThere: (place, command) => installOn(place.host, command),
  flags: (place) => ['--on', place.host],
  /**
   * Nothing is asked of the host before it is needed: a launch that attaches
   * to a running server there needs no connection of its own (its keeper holds
   * one), and one that starts a server opens the master just before (`reach`);
   * mistralrs and its version are found by the server's own run there, which
   * says both (a missing one is the same one line, 127). Only the picker
   * (`inventory`) and `--dry-run` (`locate`) ask the host first.
   */
  async prepare(place, ctx) {
    let release = () => {}
    let reached: Promise<string> | undefined
    const reach = () =>
      (reached ??= connect(place, ctx).then((ctl) => {
        release = hold(place, ctl, ctx.env, ctx.paths)
        return ctl
      }))
    return {
      binary: place.mistralrs ?? 'mistralrs',
      version: async () => undefined,
      async locate() {
        const facts = await probe(place, await reach(), ctx.env, false)
        if (!facts.binary) throw missingOn(place)
        return facts.binary
      },
      reach: async () => void (await reach()),
      inventory: async () => inventoryOf(await probe(place, await reach(), ctx.env, true)),
      release: () => release(),
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
  host: (place, env) => ({
    spawn: async (run) => runOnHost(place, run),
    // the master ends with its last user: this server was one
    close: () => letGo(place, env, getPaths(env)),
  }),
}
