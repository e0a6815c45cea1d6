/**
 * What a server is (model(s), tools, extra args, binary) and the mistralrs
 * command line that starts it. Pure functions: the plan, `--dry-run` and the
 * keeper all build the command here.
 */
import { createHash } from 'node:crypto'

export interface AgentTools {
  webSearch: boolean
  codeExecution: boolean
  shell: boolean
  agent: boolean
}

export interface ServerSpec {
  binary: string
  /** The main model first; a second one means multi-model serving. */
  models: string[]
  host: string
  tools: AgentTools
  serverArgs: string[]
}

export const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1'])

export function toolFlags(tools: AgentTools): string[] {
  if (tools.agent) return ['--agent']
  return [
    ...(tools.webSearch ? ['--enable-search'] : []),
    ...(tools.codeExecution ? ['--enable-code-execution'] : []),
    ...(tools.shell ? ['--enable-shell'] : []),
  ]
}

export const webSearchOn = (tools: AgentTools) => tools.webSearch || tools.agent
export const remoteExecutionOn = (tools: AgentTools) => tools.codeExecution || tools.shell || tools.agent

/** The TOML file name a multi-model server reads, inside its private dir. */
export const MULTI_MODEL_FILE = 'models.toml'

/** `port` may be a placeholder string for `--dry-run`. */
export function serverArgv(spec: ServerSpec, port: number | string, configPath: string): string[] {
  if (spec.models.length > 1) return ['from-config', '-f', configPath, ...spec.serverArgs]
  return ['serve', '-p', String(port), '--host', spec.host, '-m', spec.models[0]!, ...toolFlags(spec.tools), ...spec.serverArgs]
}

/** The `mistralrs from-config` document for several models (null for one model). */
export function multiModelConfig(spec: ServerSpec, port: number | string): Record<string, unknown> | null {
  if (spec.models.length < 2) return null
  const runtime: Record<string, boolean> = {}
  if (spec.tools.agent) runtime.agent = true
  else {
    if (spec.tools.webSearch) runtime.enable_search = true
    if (spec.tools.codeExecution) runtime.enable_code_execution = true
    if (spec.tools.shell) runtime.enable_shell = true
  }
  return {
    command: 'serve',
    default_model_id: spec.models[0],
    server: { host: spec.host, port },
    ...(Object.keys(runtime).length ? { runtime } : {}),
    models: spec.models.map((model_id) => ({ model_id })),
  }
}

/**
 * Two requests with the same key can share one server: same binary, models,
 * host, tools and extra arguments. The port is not part of it (a request
 * without --port takes any port; one with --port only that port).
 */
export function shareKey(spec: ServerSpec): string {
  const identity = JSON.stringify([spec.binary, spec.models, spec.host, toolFlags(spec.tools), spec.serverArgs])
  return createHash('sha256').update(identity).digest('hex').slice(0, 16)
}

export const baseUrl = (host: string, port: number | string) => {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`
}
