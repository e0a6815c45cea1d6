/**
 * The one table of mrs settings. Each setting can come from the config file
 * (`toml` key), an environment variable (`env`) and a flag (`flag`); the
 * same parser validates all three so an error always names where the bad
 * value came from. Defaults live in DEFAULTS below and nowhere else.
 */
import { parseDuration } from '../duration.js'

export type Command = 'serve' | 'claude' | 'codex'
export type ClientName = 'claude' | 'codex'

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
}

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
}

type Kind = 'string' | 'bool' | 'int' | 'port' | 'duration' | 'strings' | 'url' | 'envName'

export interface SettingDef {
  key: keyof Settings
  toml: string
  env?: string
  kind: Kind
  /** cac raw name, e.g. `-m, --model <id>`; absent for config-only settings. */
  flag?: string
  commands: readonly Command[]
  help: string
}

const RUN: readonly Command[] = ['serve', 'claude', 'codex']
const CLIENTS: readonly Command[] = ['claude', 'codex']

export const SETTINGS: readonly SettingDef[] = [
  { key: 'model', toml: 'model', env: 'MRS_MODEL', kind: 'string', flag: '-m, --model <id>', commands: RUN, help: 'Model to serve: a Hugging Face id or a local directory' },
  { key: 'smallModel', toml: 'small_model', env: 'MRS_SMALL_MODEL', kind: 'string', flag: '--small-model <id>', commands: ['serve', 'claude'], help: "Serve a second, small model beside the main one (Claude's haiku tier and background work)" },
  { key: 'port', toml: 'port', env: 'MRS_PORT', kind: 'port', flag: '--port <n>', commands: RUN, help: 'Port for mistral.rs (default: a free port)' },
  { key: 'host', toml: 'host', env: 'MRS_HOST', kind: 'string', flag: '--host <addr>', commands: RUN, help: `Address to bind (default: ${DEFAULTS.host}; anything else is reachable without authentication)` },
  { key: 'webSearch', toml: 'web_search', kind: 'bool', flag: '--web-search', commands: RUN, help: 'Server-side web search (mistralrs --enable-search)' },
  { key: 'codeExecution', toml: 'code_execution', kind: 'bool', flag: '--code-execution', commands: RUN, help: 'Server-side Python execution (mistralrs --enable-code-execution)' },
  { key: 'shell', toml: 'shell', kind: 'bool', flag: '--shell', commands: RUN, help: 'Server-side shell tool (mistralrs --enable-shell)' },
  { key: 'agent', toml: 'agent', kind: 'bool', flag: '--agent', commands: RUN, help: 'All server-side agent tools (mistralrs --agent)' },
  { key: 'allowRemoteTools', toml: 'allow_remote_tools', kind: 'bool', flag: '--allow-remote-tools', commands: RUN, help: 'Allow code execution or shell tools on a non-loopback --host' },
  { key: 'serverArgs', toml: 'server_args', kind: 'strings', flag: '--server-arg <arg>', commands: RUN, help: 'Pass one argument to mistralrs serve (repeatable: --server-arg=--isq --server-arg=4)' },
  { key: 'mistralrs', toml: 'mistralrs', env: 'MRS_MISTRALRS', kind: 'string', flag: '--mistralrs <path>', commands: RUN, help: 'The mistralrs binary (default: found on PATH)' },
  { key: 'timeoutMs', toml: 'timeout', env: 'MRS_TIMEOUT', kind: 'duration', flag: '--timeout <duration>', commands: RUN, help: 'Give up if the server is not ready in time, e.g. 90s, 10m (default: wait while it is alive)' },
  { key: 'graceMs', toml: 'grace', env: 'MRS_GRACE', kind: 'duration', flag: '--grace <duration>', commands: RUN, help: `Time the server gets to exit after SIGTERM before SIGKILL (default: ${DEFAULTS.graceMs / 1000}s)` },
  { key: 'context', toml: 'context', env: 'MRS_CONTEXT', kind: 'int', flag: '--context <tokens>', commands: CLIENTS, help: "The model's context window, told to the client (default: from the model's config.json when cached locally)" },
  { key: 'restarts', toml: 'restarts', env: 'MRS_RESTARTS', kind: 'int', flag: '--restarts <n>', commands: RUN, help: `Restart a server that dies mid-session up to n times (default: ${DEFAULTS.restarts})` },
  { key: 'keepAliveMs', toml: 'keep_alive', env: 'MRS_KEEP_ALIVE', kind: 'duration', flag: '--keep-alive <duration>', commands: RUN, help: `Keep a shared server up this long after the last session ends (default: ${DEFAULTS.keepAliveMs / 1000}s)` },
  { key: 'share', toml: 'share', env: 'MRS_SHARE', kind: 'bool', flag: '--no-share', commands: RUN, help: 'Start a private server instead of sharing one with other mrs sessions' },
  { key: 'url', toml: 'url', env: 'MRS_URL', kind: 'url', flag: '--url <url>', commands: CLIENTS, help: 'Use a mistral.rs server that is already running somewhere; start nothing' },
  { key: 'apiKeyEnv', toml: 'api_key_env', env: 'MRS_API_KEY_ENV', kind: 'envName', flag: '--api-key-env <var>', commands: CLIENTS, help: 'Send $VAR as the bearer token (for a server behind an authenticating proxy)' },
]

/** Keys a preset may hold beyond the settings themselves. */
export const PRESET_EXTRA_KEYS = ['client', 'description'] as const

export const SETTING_BY_TOML = new Map(SETTINGS.map((d) => [d.toml, d]))

/** Parses one raw value for a setting; throws a message (without the source) on bad input. */
export function parseSettingValue(def: SettingDef, raw: unknown): unknown {
  switch (def.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw new Error('must be a non-empty string')
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
      return ms
    }
    case 'strings':
      if (typeof raw === 'string') return [raw]
      if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return [...raw]
      throw new Error('must be a list of strings')
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
    case 'envName':
      if (typeof raw !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw)) throw new Error('must be an environment variable name such as MISTRALRS_API_KEY')
      return raw
  }
}

/** Describes a setting's value for messages: `--port`, `MRS_PORT`, `port`. */
export function flagName(def: SettingDef): string | undefined {
  return def.flag?.match(/--[\w-]+/)?.[0]
}
