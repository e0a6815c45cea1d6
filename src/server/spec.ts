/**
 * What a server is (model(s), tools, extra args, binary, how it is sized) and
 * the mistralrs command line that starts it. Pure functions: the plan,
 * `--dry-run` and the keeper all build the command here.
 */
import { digest } from '../hash.js'
import type { PlaceSpec } from '../places/kinds.js'
import type { QuantChoice } from './quant.js'

export interface AgentTools {
  webSearch: boolean
  codeExecution: boolean
  shell: boolean
  agent: boolean
}

export interface ServerSpec {
  /** Where it runs (this machine when absent). */
  place?: PlaceSpec
  binary: string
  /** The main model first; a second one means multi-model serving. */
  models: string[]
  /** The address clients reach it on (the keeper's front door binds it; mistral.rs itself always listens on loopback). */
  host: string
  tools: AgentTools
  serverArgs: string[]
  /**
   * mrs chooses the quantization where the server starts (server/quant.ts):
   * the user gave none of their own. The choice's arguments are passed to
   * `serverArgv` by the place that knows the facts.
   */
  fitQuant?: boolean
  /** mistralrs's version, when known before the start (`--quant` or `--isq`). */
  version?: string
  /** `--context N`: size the server for N tokens, so client and server agree by construction. */
  context?: number
  /** The platform the server runs on (PagedAttention is off on Metal and the CPU). */
  platform?: NodeJS.Platform
}

export const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1'])

/**
 * mistral.rs listens here, wherever it runs: clients reach it only through the
 * keeper's front door (or a tunnel), so its own port is never on the network,
 * whatever --server-host says.
 */
export const BACKEND_HOST = '127.0.0.1'

export function toolFlags(tools: AgentTools): string[] {
  if (tools.agent) return ['--agent']
  return [
    ...(tools.webSearch ? ['--enable-search'] : []),
    ...(tools.codeExecution ? ['--enable-code-execution'] : []),
    ...(tools.shell ? ['--enable-shell'] : []),
  ]
}

/** The name of each option in `args` (`--isq=4` → `--isq`). */
const optionNames = (args: readonly string[]) => args.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]!)
const hasOption = (args: readonly string[], names: readonly string[]) => optionNames(args).some((n) => names.includes(n))

/** Server-side tools that run code, whether asked for with mrs's flags or passed through `--server-arg`. */
const CODE_TOOLS = ['--enable-code-execution', '--enable-shell', '--agent', '--agentic']

export const webSearchOn = (tools: AgentTools, serverArgs: readonly string[] = []) =>
  tools.webSearch || tools.agent || hasOption(serverArgs, ['--enable-search', '--agent', '--agentic'])
/** The tool that makes this server run code for anyone who reaches it, if any: from the flags or the server args. */
export function codeTool(tools: AgentTools, serverArgs: readonly string[] = []): string | undefined {
  if (tools.agent) return '--agent-tools'
  if (tools.codeExecution) return '--code-execution'
  if (tools.shell) return '--shell-tool'
  return optionNames(serverArgs).find((n) => CODE_TOOLS.includes(n))
}

/** Quantization the user chose: then `--quant auto` stays out. */
export function userQuantization(serverArgs: readonly string[]): boolean {
  if (hasOption(serverArgs, ['--isq', '--quant', '--from-uqff', '-f', '--quantized-file'])) return true
  const i = serverArgs.findIndex((a) => a === '--format' || a.startsWith('--format='))
  const format = i < 0 ? undefined : serverArgs[i]!.includes('=') ? serverArgs[i]!.split('=')[1] : serverArgs[i + 1]
  return format !== undefined && /gguf|ggml/i.test(format)
}

/**
 * The flags that size the server for `context` tokens: `--max-seq-len` for
 * the device mapping, and `--pa-context-len` for PagedAttention's KV cache,
 * except where PagedAttention is off (Metal and the CPU) or the user sized it
 * otherwise (`--pa-memory-mb`/`-fraction` clash with it in clap).
 */
export function contextFlags(spec: Pick<ServerSpec, 'context' | 'serverArgs' | 'platform'>): string[] {
  if (!spec.context) return []
  const args = spec.serverArgs
  const flags: string[] = []
  if (!hasOption(args, ['--max-seq-len'])) flags.push('--max-seq-len', String(spec.context))
  const paOff = spec.platform === 'darwin' || hasOption(args, ['--cpu']) || args.some((a, i) => (a === '--paged-attn' && args[i + 1] === 'off') || a === '--paged-attn=off')
  if (!paOff && !hasOption(args, ['--pa-context-len', '--pa-memory-mb', '--pa-memory-fraction'])) flags.push('--pa-context-len', String(spec.context))
  return flags
}

/** The TOML file name a multi-model server reads, inside its private dir. */
export const MULTI_MODEL_FILE = 'models.toml'

/** The hub cache the user gave mistral.rs (`--server-arg=--hf-cache DIR`), if any. */
export function userHfCache(serverArgs: readonly string[]): string | undefined {
  const i = serverArgs.findIndex((a) => a === '--hf-cache' || a.startsWith('--hf-cache='))
  return i < 0 ? undefined : serverArgs[i]!.includes('=') ? serverArgs[i]!.slice(serverArgs[i]!.indexOf('=') + 1) : serverArgs[i + 1]
}

/** What a run adds to the spec where it starts: the quantization chosen there, and the hub cache there. */
export interface RunChoices {
  quant?: QuantChoice
  /**
   * The Hugging Face hub cache where the server runs, passed as `--hf-cache`:
   * mistral.rs 0.9.1+ downloads to ~/.cache/huggingface/hub whatever HF_HOME
   * or HF_HUB_CACHE say, unless it is given one (mistralrs-core
   * pipeline/normal.rs: `Cache::default()`), so mrs names the cache it
   * looks in itself. (0.8.4–0.9.0 take HF_HUB_CACHE instead: the places set
   * that too.)
   */
  hub?: string
}

/** The global options `from-config` ignores on its command line (its TOML's `[global]` takes them): `--seed`, `--log`, `--token-source`. */
const FROM_CONFIG_GLOBALS: Record<string, string> = { '--seed': 'seed', '-l': 'log', '--log': 'log', '--token-source': 'token_source' }

/** The server args split for `from-config`: the globals it would ignore (as `[global]` keys), and the rest (`-v`, which it honours). */
function splitFromConfigArgs(serverArgs: readonly string[]): { global: Record<string, string | number>; rest: string[] } {
  const global: Record<string, string | number> = {}
  const rest: string[] = []
  for (let i = 0; i < serverArgs.length; i++) {
    const a = serverArgs[i]!
    const name = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a
    const key = FROM_CONFIG_GLOBALS[name]
    if (!key) {
      rest.push(a)
      continue
    }
    const value = a === name ? serverArgs[++i] : a.slice(a.indexOf('=') + 1)
    if (value === undefined) continue
    global[key] = key === 'seed' && /^\d+$/.test(value) ? Number(value) : value
  }
  return { global, rest }
}

/** `port` may be a placeholder string for `--dry-run`. */
export function serverArgv(spec: ServerSpec, port: number | string, configPath: string, run: RunChoices = {}): string[] {
  if (spec.models.length > 1) return ['from-config', '-f', configPath, ...splitFromConfigArgs(spec.serverArgs).rest]
  const hub = run.hub && !userHfCache(spec.serverArgs) ? ['--hf-cache', run.hub] : []
  return [
    'serve',
    '-p',
    String(port),
    '--host',
    BACKEND_HOST,
    '-m',
    spec.models[0]!,
    ...toolFlags(spec.tools),
    ...(run.quant?.args ?? []),
    ...hub,
    ...contextFlags(spec),
    ...spec.serverArgs,
  ]
}

/**
 * The `mistralrs from-config` document for several models (null for one
 * model). The command line's `--seed`, `--log` and `--token-source` are
 * ignored by from-config (mistralrs-cli/src/main.rs passes it only the
 * file): they go in `[global]`.
 */
export function multiModelConfig(spec: ServerSpec, port: number | string, run: RunChoices = {}): Record<string, unknown> | null {
  if (spec.models.length < 2) return null
  const { global } = splitFromConfigArgs(spec.serverArgs)
  const quant = run.quant?.args
  const quantization = quant?.length ? { quantization: { [quant[0] === '--isq' ? 'isq' : 'quant']: quant[1] } } : {}
  const hub = run.hub && !userHfCache(spec.serverArgs) ? { hf_cache: run.hub } : {}
  const runtime: Record<string, boolean> = {}
  if (spec.tools.agent) runtime.agent = true
  else {
    if (spec.tools.webSearch) runtime.enable_search = true
    if (spec.tools.codeExecution) runtime.enable_code_execution = true
    if (spec.tools.shell) runtime.enable_shell = true
  }
  const paOn = spec.context && spec.platform !== 'darwin'
  return {
    command: 'serve',
    default_model_id: spec.models[0],
    ...(Object.keys(global).length ? { global } : {}),
    server: { host: BACKEND_HOST, port },
    ...(Object.keys(runtime).length ? { runtime } : {}),
    ...(paOn ? { paged_attn: { context_len: spec.context } } : {}),
    models: spec.models.map((model_id) => {
      const device = { ...hub, ...(spec.context ? { max_seq_len: spec.context } : {}) }
      return { model_id, ...quantization, ...(Object.keys(device).length ? { device } : {}) }
    }),
  }
}

const hash = (value: unknown) => digest(JSON.stringify(value))
const LOCAL: PlaceSpec = { kind: 'local' }

/**
 * Servers of one family could serve this launch with another model: same
 * binary, host, tools and extra arguments (rule 2 of choosing a model).
 */
export const familyKey = (spec: ServerSpec) => hash([spec.place ?? LOCAL, spec.binary, spec.host, toolFlags(spec.tools), spec.serverArgs])

/**
 * Two requests with the same key can share one server: the same family and
 * models. The port is not part of it (a request without --port takes any
 * port; one with --port only that port), nor is the context (a request
 * without --context takes the server's), nor the quantization, which mrs
 * chooses from the rest where the server starts.
 */
export const shareKey = (spec: ServerSpec) => hash([familyKey(spec), spec.models])

export const baseUrl = (host: string, port: number | string) => {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`
}
