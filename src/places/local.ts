/**
 * This machine. The keeper starts mistral.rs in its own process group under a
 * POSIX watchdog, on a free loopback port (the backend; clients use the
 * keeper's front door), and proves the listener is that process before
 * anything is sent to it.
 */
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'smol-toml'
import { cachedModel, cachedModels, directoryWeightBytes, hubCacheDir, isLocalModel, localContextWindow } from '../hf.js'
import { modelWeight, totalWeight } from '../models/downloaded.js'
import { chooseQuant } from '../server/quant.js'
import type { Env } from '../paths.js'
import { detectAccelerator } from '../models/accelerator.js'
import { locateMistralrs } from '../server/mistralrs.js'
import { mistralrsVersion } from '../server/version.js'
import { privateDir } from '../paths.js'
import { stopGroup } from '../process/kill.js'
import { startTime } from '../process/proc.js'
import { cachedBytes } from '../server/download.js'
import { listenerOwner, realOwnerDeps, type Ownership } from '../server/owner.js'
import { freePort, portIsFree } from '../server/ports.js'
import { BACKEND_HOST, MULTI_MODEL_FILE, multiModelConfig, serverArgv, userHfCache, type RunChoices, type ServerSpec } from '../server/spec.js'
import type { QuantChoice } from '../server/quant.js'
import { splitLines } from './output.js'
import type { Backend, PlaceModule, ServerProcess, ServerProcessEvents, ServerRun, ServerExit } from './types.js'
import type { LocalPlace } from './kinds.js'
import { WATCHDOG_NAME } from '../server/keeper-process.js'

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

/**
 * What a run here adds to the spec: the hub cache mistral.rs is told (where
 * mrs looks), and the quantization mrs chooses from the model's weights and
 * this machine's accelerator (unless the user quantizes).
 */
export async function localChoices(spec: ServerSpec, env: Env): Promise<RunChoices> {
  const hub = userHfCache(spec.serverArgs) ?? hubCacheDir(env)
  if (!spec.fitQuant) return { hub }
  const weights = spec.models.map((id) => {
    if (!isLocalModel(id)) return modelWeight(id, cachedModel(id, env))
    const bytes = directoryWeightBytes(id)
    return bytes ? { downloadGB: bytes / 1e9 } : undefined
  })
  return { hub, quant: chooseQuant({ model: totalWeight(weights), accelerator: await detectAccelerator(env), version: spec.version }) }
}

export const local: PlaceModule<LocalPlace> = {
  kind: 'local',
  describe: () => 'this machine',
  machine: () => 'this machine',
  async dryRun(_place, { spec, env, serve }) {
    const choices = await localChoices(spec, env)
    return [
      `server:   ${serve('<free port>', '<server temp dir>', choices)}`,
      `quant:    ${choices.quant ? `${choices.quant.label}: ${choices.quant.why}` : 'yours (--server-arg)'}`,
      `cache:    ${choices.hub} (--hf-cache: where mrs looks for the download and the model's config.json)`,
    ]
  },
  runThere: (_place, command) => command,
  flags: () => [],
  async prepare(_place, ctx) {
    const binary = locateMistralrs({ mistralrs: ctx.mistralrs }, ctx.env)
    return {
      binary,
      version: () => mistralrsVersion(binary, ctx.paths.cacheDir, ctx.env),
      inventory: () => local.inventory(_place, ctx),
      release() {},
    }
  },
  async inventory(_place, ctx) {
    const accelerator = await detectAccelerator(ctx.env)
    return { ...cachedModels(ctx.env), accelerator }
  },
  host: () => ({
    async spawn(run) {
      // a restart keeps its port when it is still free (its log reads naturally); the clients' port is the front door's either way
      const port = run.preferPort && (await portIsFree(run.preferPort, BACKEND_HOST)) ? run.preferPort : await freePort(BACKEND_HOST)
      return new LocalServer(run, port, await localChoices(run.spec, run.env))
    },
    async close() {},
  }),
}

class LocalServer extends EventEmitter<ServerProcessEvents> implements ServerProcess {
  readonly pid: number
  readonly start?: string
  readonly binary: string
  readonly argv: string[]
  readonly backend: Backend & { port: number }
  get serverPort(): number {
    return this.backend.port
  }
  readonly quant?: QuantChoice
  /** The server's environment: its hub cache is where mrs looks for the download and the model's config.json. */
  private readonly env: NodeJS.ProcessEnv
  private exited = false
  private stopping?: Promise<{ forced: boolean }>

  constructor(
    run: ServerRun,
    port: number,
    choices: RunChoices,
  ) {
    super()
    const { spec, tmpDir } = run
    const configPath = join(tmpDir, MULTI_MODEL_FILE)
    const multi = multiModelConfig(spec, port, choices)
    if (multi) {
      privateDir(tmpDir)
      writeFileSync(configPath, stringify(multi), { mode: 0o600 })
    }
    this.binary = spec.binary
    this.argv = serverArgv(spec, port, configPath, choices)
    this.quant = choices.quant
    this.backend = { host: BACKEND_HOST, port }
    // 0.8.4–0.9.0 download where HF_HUB_CACHE says (and override --hf-cache): the same cache either way
    const env = { ...run.env, ...(choices.hub ? { HF_HUB_CACHE: choices.hub } : {}) } as NodeJS.ProcessEnv
    this.env = env
    // detached: its own process group, so the whole group can be stopped and no terminal signal reaches it
    const child =
      process.platform === 'win32'
        ? spawn(spec.binary, this.argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env })
        : spawn('/bin/sh', ['-c', WATCHDOG, WATCHDOG_NAME, spec.binary, ...this.argv], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env })
    // the watchdog's pipe: written never, closed only by the keeper's death
    child.stdin?.on('error', () => {})
    this.pid = child.pid ?? 0
    this.start = this.pid ? startTime(this.pid) : undefined
    for (const stream of [child.stdout!, child.stderr!]) splitLines(stream, (l) => this.emit('line', l), (p) => this.emit('progress', p))
    child.on('error', (e) => {
      this.emit('line', `[mrs] could not start ${spec.binary}: ${e.message}`)
      this.end({ code: 127, signal: null })
    })
    child.on('exit', (code, signal) => this.end({ code, signal }))
  }

  private end(exit: ServerExit): void {
    if (this.exited) return
    this.exited = true
    // after the current tick, so a listener attached right after spawn() hears it
    setImmediate(() => this.emit('exit', exit))
  }

  async owner(): Promise<Ownership> {
    // readiness asks every 10 ms through a load: a refused connection (no byte is sent either way) says "nobody
    // yet" for a syscall, where the kernel's socket tables cost ~1 ms each to read; they prove whoever is there
    if (!(await realOwnerDeps.accepts(BACKEND_HOST, this.backend.port))) return { owner: 'none' }
    return listenerOwner(BACKEND_HOST, this.backend.port, this.pid)
  }

  async portTaken(): Promise<boolean> {
    return !(await portIsFree(this.backend.port, BACKEND_HOST))
  }

  async cachedBytes(repos: readonly string[]): Promise<number> {
    return repos.reduce((n, repo) => n + cachedBytes(repo, this.env), 0)
  }

  async modelContext(model: string) {
    return localContextWindow(model, this.env)
  }

  stop(graceMs: number): Promise<{ forced: boolean }> {
    this.stopping ??= this.pid ? stopGroup(this.pid, graceMs) : Promise.resolve({ forced: false })
    return this.stopping
  }
}
