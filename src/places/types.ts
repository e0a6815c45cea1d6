/**
 * Where a server runs: this machine, an SSH host, a Slurm job. One module per
 * place in this directory says everything about running mistral.rs there;
 * `registry.ts` lists them, and the keeper, readiness, the context window,
 * sharing and `mrs ps` are one code path for all of them. A place is plain
 * data in the plan (`PlaceSpec`); its module turns it into processes.
 */
import type { EventEmitter } from 'node:events'
import type { Backend } from '../keeper/front.js'
import type { Ownership } from '../server/owner.js'
import type { RunChoices, ServerSpec } from '../server/spec.js'
import type { QuantChoice } from '../server/quant.js'
import type { Env, Paths } from '../paths.js'
import type { CachedModel } from '../hf.js'
import type { Accelerator } from '../models/accelerator.js'
import type { PlaceSpec } from './kinds.js'

export type { Backend } from '../keeper/front.js'

export type { LocalPlace, PlaceSpec, SlurmPlace, SshPlace } from './kinds.js'

/** How one run of mistral.rs ended. */
export interface ServerExit {
  code: number | null
  signal: string | null
  /** Set when the place lost the server without learning how it ended (a dropped connection, a job that ended): why, for people. */
  lost?: string
  /** The place knows what went wrong before mistral.rs could run (no mistralrs there, no free port, a refused job): said as is, with this exit code. */
  failure?: { message: string; exitCode: number }
  /** Nothing can be started again there (a Slurm job that ended): no restart. */
  final?: boolean
}

export interface ServerProcessEvents {
  /** A whole line of the server's output (ANSI removed). */
  line: [string]
  /** The latest state of a line being redrawn (a progress bar). */
  progress: [string]
  exit: [ServerExit]
}

/** One run of mistral.rs, as the keeper sees it wherever it runs. */
export interface ServerProcess extends EventEmitter<ServerProcessEvents> {
  /** The local process that stands for the server (mistral.rs itself here; an ssh or srun client for a remote one): its process group is stopped with it. */
  readonly pid: number
  /** Its start time: with the PID, what proves a process is this one before anything kills it. */
  readonly start?: string
  /** mistralrs and its arguments, as they run. */
  readonly binary: string
  readonly argv: string[]
  /** The local process's own command line when it is not mistralrs (an ssh or srun client). */
  readonly localArgv?: string[]
  /** Where the keeper reaches mistral.rs. */
  readonly backend: Backend
  /** The port mistral.rs is told to bind where it runs, once the place has chosen it. */
  readonly serverPort?: number
  /** The quantization mrs chose where it runs (absent: the user's own, or not chosen yet). */
  readonly quant?: QuantChoice
  /** mistralrs's version there, when the place learned it (the program on a host or node says it). */
  readonly version?: string
  /** Who listens on the backend now: this server, nobody yet, or someone else. Nothing is sent to the backend before it is this server. */
  owner(): Promise<Ownership>
  /** After a failed start: was the backend port taken by someone else? */
  portTaken(): Promise<boolean>
  /** Bytes in the Hugging Face cache (where the server runs) of these repositories: the download's progress. */
  cachedBytes(repos: readonly string[]): Promise<number>
  /** The context length in a model's config.json where the server runs. */
  modelContext(model: string): Promise<{ tokens?: number; problem?: string }>
  /** SIGTERM to its whole process group, SIGKILL after the grace period; resolves once it is gone. Safe to call twice. */
  stop(graceMs: number): Promise<{ forced: boolean }>
}

/** What the keeper asks a place to start. */
export interface ServerRun {
  spec: ServerSpec
  /** The keeper's private dir for this server (on this machine). */
  tmpDir: string
  /** Try this backend port first (a restart keeps its port when it can). */
  preferPort?: number
  graceMs: number
  env: Env
  /** The keeper is shutting down: a start still waiting (a job in the queue) gives up. */
  signal: AbortSignal
  /** Something to say while the start waits (a job in the queue for so long): the live status line. */
  progress(line: string): void
  /** A change worth a line of its own, also off a terminal (a job queued, and why; a job started). */
  note(line: string): void
}

/** Keeper side: the place for one server's whole life, across its runs (a Slurm job outlives a crash of the server). */
export interface PlaceHost {
  /** Starts one run of mistral.rs there. */
  spawn(run: ServerRun): Promise<ServerProcess>
  /** The server is stopped for good: let go of the place (an ssh master nobody else uses, a Slurm job). */
  close(): Promise<void>
  /** What `mrs ps` shows of the place now (a job, its node, its time left). */
  status?(): string | undefined
}

/** The models downloaded where the server runs, and the memory they can use there (for the picker and `mrs models`). */
export interface Inventory {
  models: CachedModel[]
  problem?: string
  accelerator: Accelerator
  /** Free space where the weights go, when known. */
  disk?: { bytes: number; path: string }
  /** mistralrs there, as a survey of a remote place found it (this machine's is checked on its own). */
  mistralrs?: { binary?: string; version?: string }
}

/** Session side: the place made ready for a launch. */
export interface PreparedPlace {
  /** mistralrs there: a path, or the name its run will find (a host's is found there when the server starts). */
  binary: string
  /** Where mistralrs is there, asked now (`--dry-run` shows it); throws MrsError (127) when it is not there. */
  locate?(): Promise<string>
  /**
   * Makes the place reachable for a server to start there (ssh: the master
   * connection, where a password or 2FA may be asked on this terminal): called
   * only when this launch starts one, not when it attaches to a running one.
   */
  reach?(): Promise<void>
  /** mistralrs's version there (asked only once every other check passed: it may cost a process start). */
  version(): Promise<string | undefined>
  inventory(): Promise<Inventory>
  /** The session no longer needs the place held open (the keeper holds it from now on). */
  release(): void
}

export interface PrepareContext {
  env: Env
  paths: Paths
  /** The user can answer a prompt (a password, 2FA, an unknown host key). */
  interactive: boolean
  /** mistralrs where the server runs, as the user named it (else found there). */
  mistralrs?: string
}

export interface DryRunContext {
  spec: ServerSpec
  env: Env
  serve(port: string, dir: string, choices: RunChoices): string
  word(w: string): string
}

/** What a place says of the quantization when it cannot choose before the start: it is chosen there, so. */
export const QUANT_THERE = (where: string) =>
  `chosen on ${where} when it starts: full precision where the model fits its memory, else the largest of q6k, q5k, q4k, q3k (Metal: afq6, afq4, afq3) that does, else --quant auto`

/** The placeholder choices of a run whose facts are known only there. */
export const CHOSEN_THERE: RunChoices = { quant: { args: ['<quantization chosen there>'], label: '', why: '' }, hub: '<its Hugging Face cache>' }

export interface PlaceModule<P extends PlaceSpec = PlaceSpec> {
  kind: P['kind']
  /** Where the server runs, for people (`this machine`, `gpu-box`). */
  describe(place: P): string
  /** The machine whose other users can reach the server's loopback port, for people (`gpu-box`, `the Slurm job's node`). */
  machine(place: P): string
  /** Session side: reach the place and find mistralrs there; throws MrsError (127 when it is missing). */
  prepare(place: P, ctx: PrepareContext): Promise<PreparedPlace>
  /** Session side: what is downloaded there, and its memory (`mrs models`, `mrs doctor`), mistralrs or not. */
  inventory(place: P, ctx: PrepareContext): Promise<Inventory>
  /** Keeper side: the place for one server's life. */
  host(place: P, env: Env): PlaceHost
  /**
   * `--dry-run`: how the server would run there, one `label:   text` line each.
   * `serve` renders mistralrs's command line for a port, a private dir
   * (placeholders) and what the run adds there (the quantization and hub
   * cache, as chosen here or as placeholders); `word` quotes one word for a
   * shell unless it is one.
   */
  dryRun(place: P, ctx: DryRunContext): Promise<string[]>
  /** mrs's flags that put a server there (`--on gpu-box`), for a command to suggest. */
  flags(place: P): string[]
  /** A command to run there (installing mistral.rs, say), as the user would type it here. */
  runThere(place: P, command: string): string
}
