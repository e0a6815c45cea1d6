/**
 * One function per command: parsed flags → settings → a plan or an answer.
 * Everything is one bundle (--help and --version never load it); only execa
 * is loaded lazily, while the server starts.
 */
import { ExitCode, usageError } from '../errors.js'
import type { ParsedArgs } from './parse.js'
import { settingsFromFlags } from './parse.js'
import { Output } from './output.js'
import { loadConfig, resolveSettings } from '../config/resolve.js'
import type { ClientName, Command, Settings } from '../config/schema.js'
import { getPaths } from '../paths.js'
import { buildPlan, type Plan } from '../plan.js'
import { localContextWindow } from '../hf.js'
import { shellQuote } from '../text.js'
import { mark } from '../trace.js'
import { envCommand, setupCommand } from './commands/env.js'
import { logsCommand, psCommand, stopCommand } from './commands/manage.js'
import { doctorCommand } from './commands/doctor.js'
import { aliasCommand, completionCommand } from './commands/shell.js'
import { stringify } from 'smol-toml'
import { runPlan } from '../session.js'
import { SignalHub } from '../process/signals.js'
import { MULTI_MODEL_FILE, baseUrl, multiModelConfig, serverArgv, webSearchOn } from '../server/spec.js'
import { claudeLaunch } from '../clients/claude.js'
import { CATALOG_FILE, codexLaunch } from '../clients/codex.js'

type Parsed = ParsedArgs & { command: string }

export async function dispatch(parsed: Parsed): Promise<number> {
  switch (parsed.command) {
    case 'serve':
    case 'claude':
    case 'codex':
      return runCommand(parsed, parsed.command)
    case 'env':
      return envCommand(parsed)
    case 'setup':
      return setupCommand(parsed)
    case 'ps':
      return psCommand(parsed)
    case 'stop':
      return stopCommand(parsed)
    case 'logs':
      return logsCommand(parsed)
    case 'doctor':
      return doctorCommand(parsed)
    case 'alias':
      return aliasCommand(parsed)
    case 'completion':
      return completionCommand(parsed)
  }
  throw usageError(`unknown command ${parsed.command}`)
}

/** Flags + config file + environment → settings, for a command that takes settings. */
export async function resolveFor(parsed: Parsed, command: Command): Promise<Settings> {
  const env = process.env
  const config = await loadConfig(parsed.options.config as string | undefined, env)
  const flags = settingsFromFlags(parsed.options, command)
  const preset = parsed.options.preset as string | undefined
  return resolveSettings({ config, preset, env, flags, command }).settings
}

async function runCommand(parsed: Parsed, command: Command): Promise<number> {
  const env = process.env
  const out = new Output({ quiet: Boolean(parsed.options.quiet), verbose: Boolean(parsed.options.verbose) })
  const settings = await resolveFor(parsed, command)
  mark('settings resolved')
  const cachedContext = command !== 'serve' && !settings.context && settings.model && !settings.url ? localContextWindow(settings.model, env)?.tokens : undefined
  const plan = buildPlan({ command, settings, passthrough: parsed.passthrough, env, cachedContext })
  mark('plan built')
  if (parsed.options.dryRun) {
    process.stdout.write(await describePlan(plan))
    return ExitCode.Ok
  }
  const signals = new SignalHub()
  try {
    return await runPlan(plan, { env, paths: getPaths(env), out, signals, cwd: process.cwd() })
  } finally {
    signals.dispose()
  }
}

/** The plan as a human reads it: what would run, with which environment, and which files. */
export async function describePlan(plan: Plan): Promise<string> {
  const lines: string[] = []
  const port = plan.server.kind === 'local' ? (plan.server.port ?? '<free port>') : undefined
  let url: string
  if (plan.server.kind === 'local') {
    const s = plan.server
    const configPath = `<server temp dir>/${MULTI_MODEL_FILE}`
    url = baseUrl(s.spec.host, port!)
    lines.push(`server:   ${[s.spec.binary, ...serverArgv(s.spec, port!, configPath)].map(shellQuote).join(' ')}`)
    const multi = multiModelConfig(s.spec, port!)
    if (multi) {
      lines.push(`file:     ${configPath}`, ...stringify(multi).trim().split('\n').map((l) => `            ${l}`))
    }
    lines.push(
      `sharing:  ${s.share ? 'shared with other mrs sessions that ask for the same server' : 'private (--no-share)'}; keep-alive ${s.keepAliveMs / 1000}s; restarts ${s.restarts}; grace ${s.graceMs / 1000}s; timeout ${s.timeoutMs === undefined ? 'none' : `${s.timeoutMs / 1000}s`}`,
    )
  } else {
    url = plan.server.url
    lines.push(`server:   ${url} (already running; nothing is started)`)
  }
  lines.push(`urls:     OpenAI/Responses ${url}/v1 · Anthropic ${url}`)
  if (plan.client) {
    const c = plan.client
    const ids = plan.server.kind === 'local' ? plan.server.ids : { main: plan.server.model ?? 'default' }
    const webSearch = plan.server.kind === 'local' ? webSearchOn(plan.server.spec.tools) : plan.server.webSearch
    const ctx = { url, ids, contextWindow: c.contextWindow, webSearch, apiKeyEnv: c.apiKeyEnv, userArgs: c.userArgs, env: process.env }
    let launch
    if (c.name === 'claude') {
      launch = claudeLaunch(ctx, c.binary)
    } else {
      launch = codexLaunch(ctx, c.binary, { path: `<session temp dir>/${CATALOG_FILE}`, base: { slug: '(the entry of Codex\'s bundled catalog)' } })
    }
    lines.push(`client:   ${[launch.command, ...launch.args].map(shellQuote).join(' ')}`)
    const before = process.env
    const secret = c.apiKeyEnv ? before[c.apiKeyEnv] : undefined
    for (const [k, v] of Object.entries(launch.env))
      if (before[k] !== v) lines.push(`env:      ${k}=${secret && v === secret ? `"$${c.apiKeyEnv}"` : shellQuote(v)}`)
    for (const k of Object.keys(before)) if (!(k in launch.env)) lines.push(`env:      unset ${k}`)
    for (const name of Object.keys(launch.files)) lines.push(`file:     <session temp dir>/${name} (removed on exit)`)
  }
  for (const w of plan.warnings) lines.push(`warning:  ${w}`)
  return `${lines.join('\n')}\n`
}

export function clientArg(parsed: Parsed): ClientName {
  const client = parsed.args[0]
  if (client !== 'claude' && client !== 'codex') throw usageError(`mrs ${parsed.command} takes claude or codex, not "${client}"`)
  return client
}
