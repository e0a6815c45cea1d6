/**
 * Resolved settings → a Plan: plain data saying which server to start (or
 * which remote one to use) and which client to run. Building it checks
 * everything that can be checked without starting anything, so a bad input
 * fails here, before a process exists. `--dry-run` prints it.
 */
import { ExitCode, MrsError, usageError } from './errors.js'
import { nameOf, saidOf, type Origins, type Settings } from './config/schema.js'
import type { ClientModule } from './clients/types.js'
import { findExecutable } from './process/which.js'
import { LOOPBACK_HOSTS, codeTool, userQuantization, webSearchOn, type AgentTools, type ServerSpec } from './server/spec.js'
import type { Env } from './paths.js'
import type { PlaceSpec } from './places/kinds.js'
import { placeModule } from './places/registry.js'
import { compareVersions, npmPackageVersion } from './version.js'
import { locateMistralrs, notFound } from './server/mistralrs.js'
export { MISTRALRS_INSTALL, QUANT_AUTO_SINCE, locateMistralrs, notFound } from './server/mistralrs.js'

/** A server mrs starts and owns, wherever it runs (`spec.place`: this machine, an SSH host, a Slurm job). */
export interface ManagedServerPlan {
  kind: 'managed'
  spec: ServerSpec
  /** Explicit port, or undefined for a free one. */
  port?: number
  share: boolean
  /** Attach to exactly this running server (the model was chosen by its being there). */
  attachTo?: string
  timeoutMs?: number
  graceMs: number
  restarts: number
  keepAliveMs: number
}

/** `--url`: a server someone else runs; nothing is started. */
export interface ExternalServerPlan {
  kind: 'external'
  url: string
  /** Model to select among the server's ids; undefined takes its default. */
  model?: string
  apiKeyEnv?: string
  /** The user says the remote server runs web search (--web-search / --agent-tools). */
  webSearch: boolean
  /** `--context` for a server that mrs cannot ask. */
  context?: number
  /** Wait this long for a server that is still starting (it refuses connections until loaded). */
  timeoutMs?: number
}

export interface ClientPlan {
  module: ClientModule
  binary: string
  /** Arguments for the client as the user gave them. */
  userArgs: string[]
  apiKeyEnv?: string
  /** The model for its small-model slot (`--small-model`), served beside the main one. */
  smallModel?: string
}

export interface Plan {
  /** `serve`, `check` or the client's name. */
  command: string
  server: ManagedServerPlan | ExternalServerPlan
  client?: ClientPlan
  warnings: string[]
  /** How the user gave each setting, for the messages of the session. */
  origins?: Origins
}


/** The client's binary, or exit 127 with its install command. */
export function locateClient(client: ClientModule, env: Env): string {
  const binary = findExecutable(client.binary, env)
  if (!binary) throw notFound(client.binary, client.install)
  return binary
}

/**
 * An npm-installed client older than mrs supports fails now, with how to update
 * it, not after a model load. (Read from its package.json: no process is
 * started; a client installed otherwise is checked by mrs doctor.)
 */
export function checkClientVersion(client: ClientModule, binary: string): void {
  const version = client.npmPackage ? npmPackageVersion(binary, client.npmPackage) : undefined
  if (version && compareVersions(version, client.minVersion) < 0)
    throw new MrsError(`${client.binary} ${version} is older than mrs supports (needs ≥ ${client.minVersion}: ${client.versionWhy}); update it: ${client.install}`, ExitCode.NotFound)
}


export interface PlanInput {
  /** `serve`, `check`, or a client command. */
  command: string
  client?: ClientModule
  settings: Settings
  passthrough: string[]
  env: Env
  /** The model chosen (by -m, a running server, the config file, the picker). */
  model?: string
  smallModel?: string
  attachTo?: string
  /** The mistralrs binary (where the server runs) and its version, when mrs is to start the server. */
  mistralrs?: { binary: string; version?: string }
  /** Where the server runs (this machine when absent). */
  place?: PlaceSpec
  /** The client's binary, when the caller located it already. */
  clientBinary?: string
  platform?: NodeJS.Platform
  /** The flags the user gave on the command line (for the --url warning). */
  flagsGiven?: readonly string[]
  /** How the user gave each setting: messages name it so. */
  origins?: Origins
}


export function buildPlan(input: PlanInput): Plan {
  const { command, client, settings: s, env, origins } = input
  const warnings: string[] = []
  const name = (key: keyof Settings) => nameOf(origins, key)

  // The client is checked first: a missing client must not cost a model load.
  let clientPlan: ClientPlan | undefined
  if (client) {
    const binary = input.clientBinary ?? locateClient(client, env)
    if (s.apiKeyEnv && !s.url) throw usageError(`${name('apiKeyEnv')} is for a server behind an authenticating proxy: use it with --url`)
    if (s.apiKeyEnv && !env[s.apiKeyEnv]) throw usageError(`${saidOf(origins, 'apiKeyEnv', s.apiKeyEnv)}: that variable is not set; export it first`)
    const smallModel = input.smallModel ?? s.smallModel
    if (smallModel && !client.smallModelSlot)
      throw usageError(
        s.smallModel
          ? `${name('smallModel')}: ${client.title} has no slot for a second model; leave it out`
          : `the running server serves a second model (${smallModel}), and ${client.title} has no slot for one; pass -m MODEL to start a server of its own`,
      )
    clientPlan = { module: client, binary, userArgs: input.passthrough, apiKeyEnv: s.apiKeyEnv, smallModel }
  }

  if (s.url) {
    if (command === 'serve') throw usageError(`mrs serve starts a server; ${name('url')} is for the client commands and mrs check`)
    const ignored = (input.flagsGiven ?? []).filter((f) => REMOTE_IGNORES.includes(f))
    if (ignored.length) warnings.push(`with ${name('url')} nothing is started here, so ${ignored.join(', ')} ${ignored.length === 1 ? 'has' : 'have'} no effect`)
    return {
      command,
      server: { kind: 'external', url: s.url, model: input.model, apiKeyEnv: s.apiKeyEnv, webSearch: s.webSearch || s.agent, context: s.context, timeoutMs: s.timeoutMs || undefined },
      client: clientPlan,
      warnings,
      origins,
    }
  }

  const model = input.model
  if (!model) throw usageError(`no model: pass -m MODEL (e.g. mrs ${command} -m Qwen/Qwen3-Coder-Next) or set model in the config file`)
  const small = clientPlan ? clientPlan.smallModel : (input.smallModel ?? s.smallModel)
  if (small && small === model) throw usageError(`${name('smallModel')} must differ from ${origins?.model ? name('model') : 'the model'}`)
  const models = small ? [model, small] : [model]
  if (models.length > 1) {
    const bad = s.serverArgs.find((a) => a.startsWith('-') && !MULTI_MODEL_ARGS.has(a.split('=')[0]!))
    if (bad)
      throw usageError(
        `${origins?.serverArgs && origins.serverArgs.kind !== 'flag' ? `${bad} in ${name('serverArgs')}` : `--server-arg ${bad}`} cannot be combined with ${s.smallModel ? name('smallModel') : 'a second model'}: two models are served with \`mistralrs from-config\`, which takes only ${[...MULTI_MODEL_ARGS].join(', ')}`,
      )
  }

  const binary = input.mistralrs?.binary ?? locateMistralrs(s, env)
  const tools = toolsOf(s)
  // the guard reads the server's effective command line: mrs's flags, --server-arg and the config alike
  const runsCode = codeToolNamed(tools, s.serverArgs, origins)
  // a server elsewhere (an --on host, a Slurm node, shared by other users) listens on that machine's loopback, which
  // every user of it can reach: code tools there run code as you for any of them
  const elsewhere = input.place && input.place.kind !== 'local' ? placeModule(input.place).machine(input.place) : undefined
  if (!LOOPBACK_HOSTS.has(s.host)) {
    if (runsCode && !s.allowRemoteTools)
      throw usageError(`${saidOf(origins, 'host', s.host)} with ${runsCode} would let anyone who can reach this machine run code on it; add --allow-remote-tools if you really mean it`)
    warnings.push(`binding ${s.host}: the server has no authentication, anyone who can reach this port can use it${runsCode ? ' and run code on this machine' : ''}`)
  } else if (runsCode && elsewhere && !s.allowRemoteTools) {
    throw usageError(`${runsCode} on ${elsewhere} would run code as you there for any request that reaches the server, and every user of ${elsewhere} can reach its loopback port (mistral.rs has no authentication); add --allow-remote-tools if you mean it`)
  } else if (runsCode) {
    warnings.push(
      `${runsCode} runs code as you for any request that reaches the server, and other users of ${elsewhere ? `${elsewhere} can reach its` : 'this machine can reach'} 127.0.0.1 too (mistral.rs has no authentication); see docs/reliability.md`,
    )
  }
  // the user's own quantization is theirs; else mrs chooses where the server starts (server/quant.ts)
  const fitQuant = !userQuantization(s.serverArgs)
  const version = input.mistralrs?.version

  return {
    command,
    server: {
      kind: 'managed',
      spec: { ...(input.place && input.place.kind !== 'local' ? { place: input.place } : {}), binary, models, host: s.host, tools, serverArgs: s.serverArgs, fitQuant, ...(version ? { version } : {}), context: s.context, platform: input.platform ?? process.platform },
      port: s.port,
      share: s.share,
      attachTo: input.attachTo,
      timeoutMs: s.timeoutMs || undefined,
      graceMs: s.graceMs,
      restarts: s.restarts,
      keepAliveMs: s.keepAliveMs,
    },
    client: clientPlan,
    warnings,
    origins,
  }
}

/** The tool that makes the server run code, as the user asked for it: `--shell`, `shell = true in …`, `--enable-shell` (a --server-arg). */
function codeToolNamed(tools: AgentTools, serverArgs: readonly string[], origins: Origins | undefined): string | undefined {
  const tool = codeTool(tools, serverArgs)
  const key = tool === '--agent-tools' ? 'agent' : tool === '--code-execution' ? 'codeExecution' : tool === '--shell-tool' ? 'shell' : undefined
  if (key) return origins?.[key]?.said ?? tool
  if (!tool) return undefined
  const given = origins?.serverArgs
  return given && given.kind !== 'flag' ? `${tool} in ${given.name}` : tool
}

/** The server-side agent tools the settings ask for. */
export const toolsOf = (s: Pick<Settings, 'webSearch' | 'codeExecution' | 'shell' | 'agent'>): AgentTools => ({ webSearch: s.webSearch, codeExecution: s.codeExecution, shell: s.shell, agent: s.agent })

/** The plan once the installed mistral.rs's version is known (asked only after every other check passed): `--quant` or `--isq`. */
export function withVersion(plan: Plan, version: string | undefined): Plan {
  if (plan.server.kind !== 'managed' || !version) return plan
  return { ...plan, server: { ...plan.server, spec: { ...plan.server.spec, version } } }
}

/** What a launch with --url does not use, by the spellings a user types. */
const REMOTE_IGNORES = ['--server-port', '--port', '-p', '--server-arg', '--small-model', '--keep-alive', '--no-share', '--server-host', '--host', '--code-execution', '--shell-tool', '--shell', '--allow-remote-tools', '--mistralrs', '--grace', '--restarts']

/** Global mistralrs flags, the only ones `from-config` accepts besides -f. */
const MULTI_MODEL_ARGS = new Set(['--seed', '-l', '--log', '--token-source', '-v', '-vv', '--verbose'])

/** Does the plan's server run web search (so clients may offer their web search tool)? */
export const webSearchOf = (plan: Plan) => (plan.server.kind === 'managed' ? webSearchOn(plan.server.spec.tools, plan.server.spec.serverArgs) : plan.server.webSearch)
