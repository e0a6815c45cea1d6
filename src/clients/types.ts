/**
 * What a client module says about its client. One module per client in this
 * directory tells everything about it (binary, install, versions, the API it
 * speaks, its own options, its launch as a pure function of the server, what
 * `mrs env` prints); `registry.ts` lists the modules, and nothing outside this
 * directory names a client.
 */
import type { Env } from '../paths.js'
import { shellQuote } from '../text.js'

/** The API a client speaks to mistral.rs. */
export type ClientApi = 'anthropic' | 'responses' | 'chat'

export interface ModelRef {
  /** The id sent in requests: a served id mistral.rs accepts. */
  id: string
  /** A short name for people (the last part of a Hugging Face id). */
  name: string
}

/** Everything a launch depends on: data in, data out, no I/O. */
export interface ClientContext {
  /** The server's root URL, without /v1. */
  url: string
  model: ModelRef
  /** The model for background work, where the client has a slot for it. */
  smallModel?: ModelRef
  /** The context window the server holds for a sequence, when known. */
  contextWindow?: number
  /** A sane max output for that window (see `maxOutputFor`). */
  maxOutput?: number
  /** The server runs web search (`--web-search` / `--agent-tools`). */
  webSearch: boolean
  /** mistral.rs's version, when known (a server mrs runs): what its API takes depends on it. */
  serverVersion?: string
  /** Remote server behind a proxy: the variable holding the bearer token. */
  apiKeyEnv?: string
  /**
   * The Basic `Authorization` value of a --url that carries credentials
   * (`user:password@`): a client that takes the URL on its command line gets
   * it without them, and sends this header from `AUTHORIZATION_ENV` instead.
   */
  authorization?: string
  /** The client's arguments as the user gave them. */
  userArgs: string[]
  /** mrs's own environment; the child's is derived from it. */
  env: Env
  /** The session's private temp dir (0700), where `files` are written. */
  tmpDir: string
  /**
   * A private dir that lives as long as the server and is shared by its
   * sessions (undefined for a --url server): what a client shows the model
   * by its path goes there (`shared`), so every session's prompt is the same
   * and the server's prefix cache serves the next one.
   */
  sharedDir?: string
  /** What `prepare` found (the user's settings, a catalog entry, ...). */
  prepared?: unknown
  /** A status-line command for clients that show one. */
  statusLine?: string
}

export interface ClientLaunch {
  command: string
  args: string[]
  /** The child's complete environment. */
  env: Record<string, string>
  /** Files to write into the session's private temp dir first (name → content; written 0600). */
  files: Record<string, string>
  /** Symlinks to create in the temp dir first (name → target), for overlays of a user's dir. */
  links?: Record<string, string>
  /** Files and symlinks in `sharedDir/name`, made once (its name says its content) and then used as they are. */
  shared?: { name: string; files: Record<string, string>; links: Record<string, string> }
  /** Values to show masked in `--dry-run` (secrets or the user's own settings). */
  masked?: string[]
}

/** I/O a client needs before launch, done while the server loads (reading the user's files, probing the binary). */
export interface PrepareContext {
  binary: string
  userArgs: string[]
  env: Env
  cwd: string
  cacheDir: string
  /** mrs's durable state dir (for what a client keeps between sessions, e.g. pi's sessions). */
  stateDir: string
  tmpRoot: string
}

/** What `mrs env` and `mrs setup` know: the server and its model, what `prepare` found (when the client is installed), and mrs's cache dir. */
export type EnvContext = Omit<ClientContext, 'userArgs' | 'tmpDir'> & { cacheDir: string }

/** `mrs env NAME`: what to print for a server the user runs. */
export interface EnvOutput {
  /** The formats besides the default (e.g. `json`, `toml`), each a flag of `mrs env`. */
  formats: Record<string, string>
  text(ctx: EnvContext, format?: string): string
  /** A line for stderr beside the output (what the output leaves for the user to do). */
  note?(ctx: EnvContext, format?: string): string | undefined
  /** Files the output names (absolute path → content), written (0600) before it is printed. */
  files?(ctx: EnvContext, format?: string): Record<string, string>
}

export interface ClientModule {
  name: string
  /** The product's name, for people. */
  title: string
  /** The executable on PATH. */
  binary: string
  /** The command that installs it. */
  install: string
  /** The npm package (pinned in devDependencies for the tests). */
  npmPackage: string
  minVersion: string
  /** Why mrs needs that version. */
  versionWhy: string
  /** A note on versions that do or do not run on this Node (doctor). */
  compatibility?(installedVersion: string | undefined, nodeVersion: string): string | undefined
  api: ClientApi
  /** The environment variables that point it at its own config dir (unset when mrs only asks its version). */
  configEnv: readonly string[]
  /** The client has a slot for a second, small model (`--small-model`). */
  smallModelSlot: boolean
  /** The client's own options that spell like mrs options: mrs gives way on them. */
  collisions: readonly string[]
  /** Every option the pinned client knows (for the typo guard: never guess at a client's own option). */
  options: readonly string[]
  /** Arguments that need no model (the client's help, version, or a subcommand that manages the client itself): run it at once, with no server. */
  needsNoServer(args: readonly string[]): boolean
  /** Checks that need no server and would make the client refuse after the load; throws MrsError. */
  preflight?(args: readonly string[], ctx: { env: Env; cwd: string }): void
  prepare?(ctx: PrepareContext): Promise<unknown>
  /** `prepare` only reads the user's own files and fails on their content: run it before the server starts, not during the load. */
  prepareFirst?: boolean
  launch(binary: string, ctx: ClientContext): ClientLaunch
  env: EnvOutput
  /** `mrs setup NAME`: a config file of the client's own that points it at a server the user runs. */
  setup?: {
    path(env: Env): string
    content(ctx: EnvContext, port: string): string
    /** Files beside it (absolute path → content), written with it. */
    files?(ctx: EnvContext): Record<string, string>
    /** Problems in the user's existing config, which mrs never changes. */
    warnings?(env: Env): string[]
    /** How to run the client with it. */
    usage: string
  }
  /** The mrs command that resumes the last session, given the mrs command that ran it (without client args). */
  resumeArgs?(userArgs: readonly string[]): string[] | undefined
  /** Help examples (after `mrs NAME -m MODEL`). */
  examples: string[]
  /** The first request's size in tokens (measured with the pinned client): below it the client cannot work. */
  minContext: number
  /**
   * The tools it sends besides its own function tools, as it sends them (a
   * namespace of deferred tools, a hosted web search): `mrs check` and
   * `--check` offer them too, so a server that refuses a tool type the client
   * sends fails the check, not the session.
   */
  otherTools?(server: { webSearch: boolean; serverVersion?: string }): unknown[]
}

/** The variable that carries a --url's credentials to a client (and to the status line) as an `Authorization` header. */
export const AUTHORIZATION_ENV = 'MRS_URL_AUTHORIZATION'

/**
 * `export K=V` lines for `mrs env`. With --api-key-env the variable `keyVar`
 * is a reference to the user's variable (`"$VAR"`), never its value.
 */
export function exportLines(vars: Record<string, string>, keyVar: string | readonly string[], apiKeyEnv: string | undefined): string {
  const keys = typeof keyVar === 'string' ? [keyVar] : keyVar
  const lines = Object.entries(vars).map(([k, v]) => (keys.includes(k) && apiKeyEnv ? `export ${k}="$${apiKeyEnv}"` : `export ${k}=${shellQuote(v)}`))
  return `${lines.join('\n')}\n`
}

/** Copies an environment, dropping unset values and the given keys. */
export function childEnv(env: Env, drop: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !drop.includes(k)) out[k] = v
  return out
}

/** A sane max output for a context window: an eighth of it, within [1024, 32768] (clients default to 32k, which leaves no room for the prompt in a small window). */
export function maxOutputFor(contextWindow: number | undefined): number | undefined {
  if (!contextWindow) return undefined
  return Math.min(32768, Math.max(1024, 2 ** Math.floor(Math.log2(contextWindow / 8))))
}

/** `Qwen/Qwen3-Coder-Next` → `Qwen3-Coder-Next`; a local path → its last part. */
export function shortName(id: string): string {
  return id.replace(/\/+$/, '').split('/').at(-1) || id
}

/** True when `args` (before any `--` of the client's own) hold one of `flags`. */
export function hasFlag(args: readonly string[], flags: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false
    if (flags.includes(a.split('=')[0]!)) return true
  }
  return false
}
