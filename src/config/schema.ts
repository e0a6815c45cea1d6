/**
 * The one table of mrs settings. Each setting can come from the config file
 * (`toml` key), an environment variable (`env`) and a flag (`flags`); the
 * same parser validates all three so an error always names where the bad
 * value came from. Defaults live in DEFAULTS below and nowhere else.
 *
 * Flag spellings: the first long one collides with no client's own option
 * (`--agent-tools`, `--server-port`, ...); the older, shorter ones stay where
 * a client has no option of that name (a client module lists its
 * collisions, and mrs gives way to the client on those).
 */
import { parseDuration } from '../duration.js'
import { shellQuote } from '../text.js'

/** Where a setting's flag is taken: `mrs serve`, the client commands, `mrs check`, `mrs env`/`setup`. */
export type Scope = 'serve' | 'client' | 'check' | 'env'

export interface Settings {
  model?: string
  smallModel?: string
  port?: number
  host: string
  webSearch: boolean
  codeExecution: boolean
  shell: boolean
  agent: boolean
  allowRemoteTools: boolean
  serverArgs: string[]
  mistralrs?: string
  /** No deadline when undefined: a first run may download tens of GB. */
  timeoutMs?: number
  graceMs: number
  context?: number
  restarts: number
  keepAliveMs: number
  share: boolean
  url?: string
  apiKeyEnv?: string
  /** Run the server on this SSH host (`--on`). */
  on?: string
  /** Run the server in a Slurm job (`--slurm`, `use_slurm = true`, MRS_SLURM=1). */
  useSlurm?: boolean
  /** The job's options: `[slurm]` in the config and its presets. */
  slurm?: SlurmTable
  /** More sbatch options (`--slurm-arg`, repeatable), after the table's `args`. */
  slurmArgs: string[]
  /** Nodes for multi-node tensor parallelism (`--slurm-nodes`). */
  slurmNodes?: number
  /** mistralrs on the --on host, when a login shell there does not find it. */
  remoteMistralrs?: string
  /** The host or port came from --server-arg (said so in messages). */
  serverArgsAddress?: boolean
}

/** `[slurm]`: the user's own choices for the job. */
export interface SlurmTable {
  partition?: string
  account?: string
  qos?: string
  time?: string
  gpus?: string
  cpus?: string
  mem?: string
  constraint?: string
  args?: string[]
  nodes?: number
  /** Shell lines run in the server's step before mistralrs, in a login shell (`module load cuda/12.4`): what they export, the server gets. */
  setup?: string[]
  /** How mrs reaches the server on the node: ssh to it, a Slurm step carrying the bytes, or ssh and else the step (auto). */
  tunnel?: 'auto' | 'ssh' | 'srun'
}

const SLURM_KEYS = ['partition', 'account', 'qos', 'time', 'gpus', 'cpus', 'mem', 'constraint', 'args', 'nodes', 'setup', 'tunnel']

export const DEFAULTS: Settings = {
  host: '127.0.0.1',
  webSearch: false,
  codeExecution: false,
  shell: false,
  agent: false,
  allowRemoteTools: false,
  serverArgs: [],
  graceMs: 5000,
  restarts: 2,
  keepAliveMs: 2000,
  share: true,
  slurmArgs: [],
}

/** Node's timers fire at once above 2³¹−1 ms (~596 h), so no duration may go past it. */
export const MAX_DURATION_MS = 2 ** 31 - 1

type Kind = 'string' | 'model' | 'bool' | 'int' | 'port' | 'duration' | 'strings' | 'url' | 'envName' | 'sshHost' | 'slurmTable'

export interface SettingDef {
  key: keyof Settings
  toml: string
  env?: string
  kind: Kind
  /** Spellings on the command line, the canonical (collision-free) one first among the long ones; none for config-only settings. */
  flags?: readonly string[]
  /** The value's name in help, for flags that take one. */
  value?: string
  scopes: readonly Scope[]
  /** What it does for a client command; `helpIn` says it for another command where that differs. */
  help: string
  helpIn?: Partial<Record<HelpCommand, string>>
}

/** The commands whose help may say a setting another way: `env` and `setup` point a client at a server the user runs. */
export type HelpCommand = 'serve' | 'check' | 'env' | 'setup'

const RUN: readonly Scope[] = ['serve', 'client', 'check']
/** The same words for `mrs env` and `mrs setup`. */
const POINT = (text: string): Partial<Record<HelpCommand, string>> => ({ env: text, setup: text })
const LOCAL: readonly Scope[] = ['serve', 'client', 'check']

export const SETTINGS: readonly SettingDef[] = [
  { key: 'model', toml: 'model', env: 'MRS_MODEL', kind: 'model', flags: ['-m', '--model'], value: 'id', scopes: [...RUN, 'env'], help: 'Model: a Hugging Face id or a local directory (default: a running server, the config file, or a picker)', helpIn: { serve: "Model: a Hugging Face id or a local directory (default: the config file's, or a picker)", ...POINT("The model the client asks for (default: the running mrs server's, else the server's default)") } },
  { key: 'smallModel', toml: 'small_model', env: 'MRS_SMALL_MODEL', kind: 'model', flags: ['--small-model'], value: 'id', scopes: ['serve', 'client', 'env'], help: "Serve a second, small model beside it for the client's background work (where the client has a slot for one)", helpIn: { serve: 'Serve a second, small model beside it, for the background work of the clients that have a slot for one', ...POINT("The client's small model for its background work, where it has a slot for one (default: the running mrs server's second)") } },
  { key: 'port', toml: 'port', env: 'MRS_PORT', kind: 'port', flags: ['--server-port', '--port'], value: 'n', scopes: [...LOCAL, 'env'], help: 'The port clients reach the server on (default: a free one)', helpIn: POINT('The port of a server on this machine (default: the running mrs server, else port 1234)') },
  { key: 'host', toml: 'host', env: 'MRS_HOST', kind: 'string', flags: ['--server-host', '--host'], value: 'addr', scopes: LOCAL, help: `Address to bind (default: ${DEFAULTS.host}; anything else is reachable without authentication)` },
  { key: 'webSearch', toml: 'web_search', kind: 'bool', flags: ['--web-search'], scopes: [...RUN, 'env'], help: 'Server-side web search (mistralrs --enable-search)', helpIn: POINT("The server runs web search: the client offers its web-search tool") },
  { key: 'codeExecution', toml: 'code_execution', kind: 'bool', flags: ['--code-execution'], scopes: LOCAL, help: 'Server-side Python execution (mistralrs --enable-code-execution)' },
  { key: 'shell', toml: 'shell', kind: 'bool', flags: ['--shell-tool', '--shell'], scopes: LOCAL, help: 'Server-side shell tool (mistralrs --enable-shell)' },
  { key: 'agent', toml: 'agent', kind: 'bool', flags: ['--agent-tools', '--agent'], scopes: [...RUN, 'env'], help: 'All server-side agent tools: search, code, shell (mistralrs --agent)', helpIn: POINT("The server runs mistral.rs's agent tools (--agent): the client offers its web-search tool") },
  { key: 'allowRemoteTools', toml: 'allow_remote_tools', kind: 'bool', flags: ['--allow-remote-tools'], scopes: LOCAL, help: 'Allow code execution or shell tools on a non-loopback host' },
  { key: 'serverArgs', toml: 'server_args', kind: 'strings', flags: ['--server-arg'], value: 'arg', scopes: LOCAL, help: 'Pass one argument to mistralrs serve (repeatable: --server-arg=--isq --server-arg=4)' },
  { key: 'mistralrs', toml: 'mistralrs', env: 'MRS_MISTRALRS', kind: 'string', flags: ['--mistralrs'], value: 'path', scopes: LOCAL, help: 'The mistralrs binary (default: found on PATH)' },
  { key: 'timeoutMs', toml: 'timeout', env: 'MRS_TIMEOUT', kind: 'duration', flags: ['--timeout'], value: 'duration', scopes: LOCAL, help: 'Give up if the server is not ready in time, e.g. 90s, 10m; 0 means no limit (default: wait while it lives; with --url, do not wait)', helpIn: { serve: 'Give up if the server is not ready in time, e.g. 90s, 10m; 0 means no limit (default: wait while it lives)' } },
  { key: 'graceMs', toml: 'grace', env: 'MRS_GRACE', kind: 'duration', flags: ['--grace'], value: 'duration', scopes: LOCAL, help: `Time the server gets to exit after SIGTERM before SIGKILL (default: ${DEFAULTS.graceMs / 1000}s)` },
  { key: 'context', toml: 'context', env: 'MRS_CONTEXT', kind: 'int', flags: ['--context-window', '--context'], value: 'tokens', scopes: [...RUN, 'env'], help: 'The context window: the server is sized for it and the client told it (default: what the server holds and the model takes)', helpIn: { serve: 'The context window the server is sized for; the clients that use it are told it (default: what the server holds and the model takes)', check: 'The context window the server is sized for (default: what the server holds and the model takes)', ...POINT("The context window the client is told (default: the running mrs server's, else the model's config.json)") } },
  { key: 'restarts', toml: 'restarts', env: 'MRS_RESTARTS', kind: 'int', flags: ['--restarts'], value: 'n', scopes: LOCAL, help: `Restart a server that dies mid-session up to n times (default: ${DEFAULTS.restarts})` },
  { key: 'keepAliveMs', toml: 'keep_alive', env: 'MRS_KEEP_ALIVE', kind: 'duration', flags: ['--keep-alive'], value: 'duration', scopes: LOCAL, help: `Keep a shared server up this long after the last session ends (default: ${DEFAULTS.keepAliveMs / 1000}s)` },
  { key: 'share', toml: 'share', env: 'MRS_SHARE', kind: 'bool', flags: ['--no-share'], scopes: LOCAL, help: 'Start a private server (by default one is shared with other mrs sessions)' },
  { key: 'on', toml: 'on', env: 'MRS_ON', kind: 'sshHost', flags: ['--on'], value: 'host', scopes: RUN, help: 'Run the server on another machine over your ssh: an alias from ~/.ssh/config, user@host or ssh://user@host:port' },
  { key: 'remoteMistralrs', toml: 'remote_mistralrs', env: 'MRS_REMOTE_MISTRALRS', kind: 'string', scopes: RUN, help: 'The mistralrs binary on the --on host (default: where a login shell there finds it, or ~/.cargo/bin)' },
  { key: 'useSlurm', toml: 'use_slurm', env: 'MRS_SLURM', kind: 'bool', flags: ['--slurm'], scopes: RUN, help: "Run the server in a job of the cluster's Slurm (on its login node, or with --on LOGIN); the job ends with the session" },
  { key: 'slurmArgs', toml: 'slurm_args', kind: 'strings', flags: ['--slurm-arg'], value: 'arg', scopes: RUN, help: 'One more sbatch option for the job, repeatable: --slurm-arg=--gpus=4 (after [slurm] in the config)' },
  { key: 'slurmNodes', toml: 'slurm_nodes', kind: 'int', flags: ['--slurm-nodes'], value: 'n', scopes: RUN, help: "Spread the model over n nodes (mistral.rs's multi-node tensor parallelism)" },
  { key: 'slurm', toml: 'slurm', kind: 'slurmTable', scopes: RUN, help: 'The job: partition, account, qos, time, gpus, cpus, mem, constraint, args, nodes, setup, tunnel' },
  { key: 'url', toml: 'url', env: 'MRS_URL', kind: 'url', flags: ['--url'], value: 'url', scopes: ['client', 'check', 'env'], help: 'Use a mistral.rs server that already runs somewhere; start nothing', helpIn: POINT("The server's URL (default: the running mrs server's, else http://127.0.0.1:1234)") },
  { key: 'apiKeyEnv', toml: 'api_key_env', env: 'MRS_API_KEY_ENV', kind: 'envName', flags: ['--api-key-env'], value: 'var', scopes: ['client', 'check', 'env'], help: 'With --url: send $VAR as the bearer token (for a server behind an authenticating proxy)', helpIn: POINT('With --url: the client sends $VAR as the bearer token (for a server behind an authenticating proxy)') },
]

/** Keys a preset may hold beyond the settings themselves. */
export const PRESET_EXTRA_KEYS = ['client', 'description'] as const

export const SETTING_BY_TOML = new Map(SETTINGS.map((d) => [d.toml, d]))
export const SETTING_BY_KEY = new Map(SETTINGS.map((d) => [d.key, d]))

/** Where a raw value came from: a config file's TOML values are typed, flags and variables are text. */
export type Source = 'toml' | 'text'

/** Parses one raw value for a setting; throws a message (without the source) on bad input. */
export function parseSettingValue(def: SettingDef, raw: unknown, source: Source = 'text'): unknown {
  switch (def.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw new Error('must be a non-empty string')
      return raw
    case 'model':
      if (typeof raw !== 'string' || raw.trim() === '') throw new Error('must be a model id such as Qwen/Qwen3-Coder-Next')
      // mistralrs would read it as an option (`-m --help`); a local directory can be written ./-dir
      if (raw.startsWith('-')) throw new Error('a model id cannot start with "-" (for a local directory, write ./' + raw + ')')
      return raw
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return true
      if (typeof raw === 'string' && /^(0|false|no|off)$/i.test(raw)) return false
      throw new Error('must be true or false')
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
      if (!Number.isSafeInteger(n) || n < 0) throw new Error('must be a whole number')
      return n
    }
    case 'port': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error('must be a port number from 1 to 65535')
      return n
    }
    case 'duration': {
      const ms = typeof raw === 'number' ? raw * 1000 : typeof raw === 'string' ? parseDuration(raw) : undefined
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) throw new Error('must be a duration such as 90s, 10m or 1h')
      if (ms > MAX_DURATION_MS) throw new Error('must be at most 596h (about 24 days)')
      return ms
    }
    case 'strings':
      // in a config file, "--isq 4" would reach mistralrs as one argument: it must be a list
      if (typeof raw === 'string' && source === 'text') return [raw]
      if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return [...raw]
      throw new Error(`must be a list of strings, e.g. ${def.toml} = ["--isq", "4"]`)
    case 'url': {
      if (typeof raw !== 'string') throw new Error('must be a URL such as http://gpu-box:1234')
      let u: URL
      try {
        u = new URL(raw)
      } catch {
        throw new Error('must be a URL such as http://gpu-box:1234')
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('must be an http:// or https:// URL')
      return raw.replace(/\/+$/, '').replace(/\/v1$/, '')
    }
    case 'sshHost':
      // never an ssh option (`-oProxyCommand=…` would run a command), a space or a control character, nor what OpenSSH
      // itself refuses in a host name (misc.c valid_hostname: shell metacharacters, which a ProxyCommand's %h would carry)
      if (typeof raw !== 'string' || !raw || raw.startsWith('-') || /[\s\x00-\x1f\x7f'`"$\\;&<>|(){}]/.test(raw) || (raw.includes('/') && !/^ssh:\/\/[^/]+\/?$/.test(raw)))
        throw new Error('must be a host as ssh takes it: an alias from ~/.ssh/config, user@host, or ssh://user@host:port')
      return raw.replace(/\/$/, '')
    case 'slurmTable': {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('must be a table: [slurm] with partition = "gpu", time = "4:00:00", …')
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (!SLURM_KEYS.includes(k)) throw new Error(`has an unknown key "${k}" (it takes ${SLURM_KEYS.join(', ')})`)
        if (k === 'args') {
          if (!Array.isArray(v) || !v.every((a) => typeof a === 'string')) throw new Error('"args" must be a list of sbatch options, e.g. args = ["--gres=gpu:a100:1"]')
        } else if (k === 'setup') {
          if (!Array.isArray(v) || !v.every((a) => typeof a === 'string' && a.trim() && !/[\x00\n\r]/.test(a)))
            throw new Error('"setup" must be a list of shell lines, one command each, e.g. setup = ["module load cuda/12.4"]')
        } else if (k === 'tunnel') {
          if (!['auto', 'ssh', 'srun'].includes(v as string)) throw new Error('"tunnel" must be "auto", "ssh" or "srun"')
        } else if (k === 'nodes') {
          if (!Number.isInteger(v) || (v as number) < 1) throw new Error('"nodes" must be a whole number from 1')
        } else if (typeof v === 'number') out[k] = String(v)
        else if (typeof v !== 'string' || !v || v.startsWith('-') || /[\s\x00-\x1f]/.test(v)) throw new Error(`"${k}" must be a value as sbatch takes it, e.g. ${k} = "…"`)
        out[k] ??= v
      }
      return out
    }
    case 'envName':
      if (typeof raw !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw)) throw new Error('must be an environment variable name such as MISTRALRS_API_KEY')
      return raw
  }
}

/** The canonical flag of a setting, for messages: `--server-port`. */
export function flagName(def: SettingDef): string | undefined {
  return def.flags?.find((f) => f.startsWith('--'))
}

/**
 * How the user gave a setting, so that a message names it as they wrote it:
 * the flag as typed (`--host`, not `--server-host`), the variable, or the
 * config key and where it is.
 */
export interface Origin {
  kind: 'flag' | 'env' | 'config' | 'preset'
  /** `--host`, `MRS_HOST`, `host in /home/me/.config/mrs/config.toml`, `host in [presets.gpu]` */
  name: string
  /** With its value: `--host 0.0.0.0`, `MRS_HOST=0.0.0.0`, `host = "0.0.0.0" in …` */
  said: string
}

/** The origin of each setting a layer gave (the one that won the merge). */
export type Origins = Partial<Record<keyof Settings, Origin>>

export function flagOrigin(spelling: string, raw: unknown): Origin {
  const values = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : []
  // a value that looks like an option is written the way it must be typed: --server-arg=--isq
  const said = values.length ? values.map((v) => (v.startsWith('-') ? `${spelling}=${shellQuote(v)}` : `${spelling} ${shellQuote(v)}`)).join(' ') : spelling
  return { kind: 'flag', name: spelling, said }
}

export function envOrigin(variable: string, raw: string): Origin {
  return { kind: 'env', name: variable, said: `${variable}=${shellQuote(raw)}` }
}

/** A key of the config file's top level (`where` is its path), or of a preset (`where` is `[presets.NAME]`). */
export function tomlOrigin(kind: 'config' | 'preset', key: string, raw: unknown, where: string): Origin {
  const value = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? '{ … }' : JSON.stringify(raw)
  return { kind, name: `${key} in ${where}`, said: `${key} = ${value} in ${where}` }
}

/** A setting as a message names it: as the user gave it, else by its canonical flag (or config key). */
export function nameOf(origins: Origins | undefined, key: keyof Settings): string {
  const def = SETTING_BY_KEY.get(key)!
  return origins?.[key]?.name ?? flagName(def) ?? def.toml
}

/** A setting with its value, as the user gave it: `--host 0.0.0.0`, `MRS_SLURM=1`, `host = "0.0.0.0" in …` (a switch without one). */
export function saidOf(origins: Origins | undefined, key: keyof Settings, value?: string | number): string {
  return origins?.[key]?.said ?? (value === undefined ? nameOf(undefined, key) : `${nameOf(undefined, key)} ${value}`)
}
