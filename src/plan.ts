/**
 * Resolved settings → a Plan: plain data saying which server to start (or
 * which remote one to use) and which client to run. Building it checks
 * everything that can be checked without starting anything, so a bad input
 * fails here, before a process exists. `--dry-run` prints it.
 */
import { ExitCode, MrsError, usageError } from './errors.js'
import type { ClientName, Command, Settings } from './config/schema.js'
import { findExecutable } from './process/which.js'
import { LOOPBACK_HOSTS, remoteExecutionOn, type ServerSpec } from './server/spec.js'

export interface LocalServerPlan {
  kind: 'local'
  spec: ServerSpec
  /** Explicit port, or undefined for a free one. */
  port?: number
  share: boolean
  timeoutMs?: number
  graceMs: number
  restarts: number
  keepAliveMs: number
  /** The ids the client sends: `default` for one model, else the model ids. */
  ids: { main: string; small?: string }
}

export interface RemoteServerPlan {
  kind: 'remote'
  url: string
  /** Model to select among the server's ids; undefined takes its default. */
  model?: string
  apiKeyEnv?: string
  /** The user says the remote server runs web search (--web-search / --agent). */
  webSearch: boolean
}

export interface ClientPlan {
  name: ClientName
  binary: string
  /** Arguments for the client as the user gave them. */
  userArgs: string[]
  contextWindow?: number
  apiKeyEnv?: string
}

export interface Plan {
  command: Command
  server: LocalServerPlan | RemoteServerPlan
  client?: ClientPlan
  warnings: string[]
}

export const INSTALL_HINTS: Record<'mistralrs' | ClientName, string> = {
  mistralrs: "install mistral.rs: curl --proto '=https' --tlsv1.2 -sSf https://raw.githubusercontent.com/EricLBuehler/mistral.rs/master/install.sh | sh (or pass --mistralrs PATH / set MRS_MISTRALRS)",
  claude: 'install Claude Code: npm install -g @anthropic-ai/claude-code',
  codex: 'install the Codex CLI: npm install -g @openai/codex',
}

export function notFound(what: 'mistralrs' | ClientName, detail = `not found on PATH`): MrsError {
  return new MrsError(`${what} ${detail}; ${INSTALL_HINTS[what]}`, ExitCode.NotFound)
}

export interface PlanInput {
  command: Command
  settings: Settings
  passthrough: string[]
  env: Record<string, string | undefined>
  /** The context window found in the local Hugging Face cache, if any. */
  cachedContext?: number
}

export function buildPlan(input: PlanInput): Plan {
  const { command, settings: s, env } = input
  const warnings: string[] = []
  const client = command === 'serve' ? undefined : command

  // The client is checked first: a missing client must not cost a model load.
  let clientPlan: ClientPlan | undefined
  if (client) {
    const binary = findExecutable(client, env)
    if (!binary) throw notFound(client)
    if (s.apiKeyEnv && !s.url) throw usageError('--api-key-env is for a server behind an authenticating proxy: use it with --url')
    if (s.apiKeyEnv && !env[s.apiKeyEnv]) throw usageError(`--api-key-env ${s.apiKeyEnv}: that variable is not set; export it first`)
    clientPlan = { name: client, binary, userArgs: input.passthrough, contextWindow: s.context ?? input.cachedContext, apiKeyEnv: s.apiKeyEnv }
  }

  if (s.url) {
    if (command === 'serve') throw usageError('mrs serve starts a server; --url is for mrs claude / mrs codex')
    return { command, server: { kind: 'remote', url: s.url, model: s.model, apiKeyEnv: s.apiKeyEnv, webSearch: s.webSearch || s.agent }, client: clientPlan, warnings }
  }

  if (!s.model) throw usageError(`no model: pass -m MODEL (e.g. mrs ${command} -m Qwen/Qwen3-Coder-Next) or set model in the config file`)
  if (s.smallModel && s.smallModel === s.model) throw usageError('--small-model must differ from -m')
  if (s.smallModel && client === 'codex') throw usageError('--small-model is for mrs claude (Codex uses one model)')
  const models = s.smallModel ? [s.model, s.smallModel] : [s.model]
  if (models.length > 1) {
    const bad = s.serverArgs.find((a) => a.startsWith('-') && !MULTI_MODEL_ARGS.has(a.split('=')[0]!))
    if (bad)
      throw usageError(
        `--server-arg ${bad} cannot be combined with --small-model: two models are served with \`mistralrs from-config\`, which takes only ${[...MULTI_MODEL_ARGS].join(', ')}`,
      )
  }

  const binary = s.mistralrs ? findExecutable(s.mistralrs, env) : findExecutable('mistralrs', env)
  if (!binary) throw s.mistralrs ? notFound('mistralrs', `not found at ${s.mistralrs}`) : notFound('mistralrs')

  const tools = { webSearch: s.webSearch, codeExecution: s.codeExecution, shell: s.shell, agent: s.agent }
  if (!LOOPBACK_HOSTS.has(s.host)) {
    if (remoteExecutionOn(tools) && !s.allowRemoteTools)
      throw usageError(
        `--host ${s.host} with ${tools.agent ? '--agent' : tools.codeExecution ? '--code-execution' : '--shell'} would let anyone who can reach this machine run code on it; add --allow-remote-tools if you really mean it`,
      )
    warnings.push(
      `binding ${s.host}: the server has no authentication, anyone who can reach this port can use it${remoteExecutionOn(tools) ? ' and run code on this machine' : ''}`,
    )
  }

  return {
    command,
    server: {
      kind: 'local',
      spec: { binary, models, host: s.host, tools, serverArgs: s.serverArgs },
      port: s.port,
      share: s.share,
      timeoutMs: s.timeoutMs,
      graceMs: s.graceMs,
      restarts: s.restarts,
      keepAliveMs: s.keepAliveMs,
      ids: models.length > 1 ? { main: models[0]!, small: models[1]! } : { main: 'default' },
    },
    client: clientPlan,
    warnings,
  }
}

/** Global mistralrs flags, the only ones `from-config` accepts besides -f. */
const MULTI_MODEL_ARGS = new Set(['--seed', '-l', '--log', '--token-source', '-v', '-vv', '--verbose'])
