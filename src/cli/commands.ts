/**
 * One function per command: parsed flags → settings → a model → a plan → a
 * session, or an answer. Everything is one bundle (--help and --version
 * never load it); execa, the picker, the tool-call check and the commands
 * that are not a launch (models, env, ps, doctor, …) are loaded only when
 * used: a module reached only through import() is not even initialised
 * before then, which keeps every launch's start-up short.
 */
import { createServer } from 'node:net'
import { isatty } from 'node:tty'
import { ExitCode, MrsError, usageError } from '../errors.js'
import { helpText, versionText, type ParsedArgs } from './parse.js'
import { Output } from './output.js'
import type { Resolved } from '../config/resolve.js'
import { nameOf, saidOf, type Scope } from '../config/schema.js'
import { getPaths } from '../paths.js'
import { buildPlan, checkClientVersion, locateClient, toolsOf, webSearchOf, withVersion, type Plan } from '../plan.js'
import { shellQuote, windowText } from '../text.js'
import { maskCredentials } from '../http.js'
import { mark } from '../trace.js'
import { stringify } from 'smol-toml'
import { clientLaunch, runDirect, runPlan } from '../session.js'
import { SignalHub } from '../process/signals.js'
import { MULTI_MODEL_FILE, LOOPBACK_HOSTS, baseUrl, familyKey, multiModelConfig, serverArgv, type RunChoices } from '../server/spec.js'
import { LOCAL_PLACE, describePlace, placeFor, placeModule } from '../places/registry.js'
import type { PreparedPlace } from '../places/types.js'
import { DEFAULTS } from '../config/schema.js'
import { listServers } from '../server/registry.js'
import { chooseServed, keyHeaders, listModels, ownServerAt } from '../server/remote.js'
import { CLIENTS, clientByName } from '../clients/registry.js'
import type { ClientModule } from '../clients/types.js'
import { chooseModel, namedBy } from '../models/choose.js'
import { saveDefaultModel } from '../config/write.js'
import { findExecutable } from '../process/which.js'
import { resolveFor } from './settings.js'

export async function dispatch(parsed: ParsedArgs): Promise<number> {
  if (parsed.info === 'version') return print(versionText())
  if (parsed.info === 'help') return print(helpText(parsed.command))
  const client = clientByName(parsed.command)
  if (client) return launchCommand(parsed, 'client', client)
  switch (parsed.command) {
    case '':
      return bare()
    case 'serve':
      return launchCommand(parsed, 'serve')
    case 'check':
      return launchCommand(parsed, 'check')
    case 'models':
      return (await import('./commands/models.js')).modelsCommand(parsed)
    case 'env':
      return (await import('./commands/env.js')).envCommand(parsed)
    case 'setup':
      return (await import('./commands/env.js')).setupCommand(parsed)
    case 'ps':
      return (await import('./commands/manage.js')).psCommand(parsed)
    case 'stop':
      return (await import('./commands/manage.js')).stopCommand(parsed)
    case 'logs':
      return (await import('./commands/manage.js')).logsCommand(parsed)
    case 'doctor':
      return (await import('./commands/doctor.js')).doctorCommand(parsed)
    case 'alias':
      return (await import('./commands/shell.js')).aliasCommand(parsed)
    case 'completion':
      return (await import('./commands/shell.js')).completionCommand(parsed)
  }
  throw usageError(`unknown command ${parsed.command}`)
}

function print(text: string): number {
  process.stdout.write(text)
  return ExitCode.Ok
}

// isatty(0), not process.stdin.isTTY: creating process.stdin costs a few ms on every launch
const onTerminal = () => isatty(0) && Boolean(process.stderr.isTTY)

/** `mrs` alone: on a terminal, pick a client, then a model: one keystroke from nothing to a session. */
async function bare(): Promise<number> {
  if (!onTerminal()) return print(helpText(''))
  const { pickFromFew } = await import('../models/picker.js')
  const name = await pickFromFew(
    'Which coding agent?',
    // every row says it all: a picker shows a row's hint only while it is highlighted
    CLIENTS.map((c) => {
      const installed = findExecutable(c.binary, process.env)
      const name = c.title.toLowerCase() === c.name ? c.name : `${c.name} — ${c.title}`
      return { value: c.name, label: `${name}  (${installed ? 'installed' : `not installed: ${c.install}`})` }
    }),
  )
  return launchCommand({ command: name, args: [], options: {}, passthrough: [], ownArgv: [] }, 'client', clientByName(name)!)
}


/**
 * The client's binary. A client that is not installed is offered for install
 * on a terminal (asked once, with the command shown; the answer is the
 * user's), then used; off a terminal, or declined, exit 127 with the command.
 */
async function clientOrInstall(client: ClientModule, env: NodeJS.ProcessEnv, out: Output, dryRun: boolean): Promise<string> {
  try {
    return locateClient(client, env)
  } catch (e) {
    if (dryRun || !onTerminal() || !/^npm install -g \S+$/.test(client.install)) throw e
    const { yesNo } = await import('../models/picker.js')
    const title = client.title[0]!.toUpperCase() + client.title.slice(1)
    if (!(await yesNo(`${title} is not installed. Install it now (${client.install})?`))) throw e
    const [command, ...args] = client.install.split(' ')
    const { runInherited } = await import('../process/run.js')
    const { exited } = await runInherited(command!, args, { env, cwd: process.cwd() })
    const result = await exited
    if (result.exitCode !== 0) throw new MrsError(`${client.install} failed (${result.error?.message ?? `exit ${result.exitCode ?? result.signal}`}); see npm's message above`, ExitCode.NotFound)
    const binary = findExecutable(client.binary, env)
    if (!binary) throw new MrsError(`${client.install} finished, but ${client.binary} is not on PATH: add npm's global bin dir to PATH (npm prefix -g, then its bin/)`, ExitCode.NotFound)
    out.info(`installed ${client.title}; going on`)
    return binary
  }
}

/** `mrs NAME`, `mrs serve`, `mrs check`: everything that can be checked without a server is checked first. */
async function launchCommand(parsed: ParsedArgs, scope: Scope, client?: ClientModule): Promise<number> {
  const env = process.env
  const cwd = process.cwd()
  const { options } = parsed
  if (options.quiet && options.serverLog)
    throw usageError(`${parsed.spelled?.quiet ?? '-q'} (no status output) and ${parsed.spelled?.serverLog ?? '--server-log'} (stream the server's log) contradict each other; pick one`)
  // the client's own help, version or housekeeping needs no model: run it at once
  if (client?.needsNoServer(parsed.passthrough)) return withSignals((signals) => runDirect(locateClient(client, env), parsed.passthrough, { signals, cwd }))
  const out = new Output({ quiet: Boolean(options.quiet), verbose: Boolean(options.serverLog) })
  const resolved = await resolveFor(parsed, scope)
  const s = resolved.settings
  const { origins } = resolved
  const name = (key: Parameters<typeof nameOf>[1]) => nameOf(origins, key)
  mark('settings resolved')
  const clientBinary = client ? await clientOrInstall(client, env, out, Boolean(options.dryRun)) : undefined
  if (client) {
    checkClientVersion(client, clientBinary!)
    client.preflight?.(parsed.passthrough, { env, cwd })
  }
  const paths = getPaths(env)
  let prepared: PreparedPlace | undefined
  let choice
  if (s.url) {
    if (s.on) throw usageError(`${name('url')} is a server that runs already and ${saidOf(origins, 'on', s.on)} starts one there: pick one`)
    if (s.useSlurm) throw usageError(`${name('url')} is a server that runs already and ${saidOf(origins, 'useSlurm')} starts one in a job: pick one`)
    // a remote server's model is -m, MRS_MODEL or the preset's (the config's top-level model is for local servers)
    choice = { model: s.model, rule: s.model && resolved.modelSource ? namedBy(resolved.modelSource, resolved.preset) : undefined }
  } else {
    const place = placeFor(s, options.mistralrs as string | undefined)
    if (place.kind !== 'slurm' && (s.slurmArgs.length || s.slurmNodes)) throw usageError(`${s.slurmArgs.length ? name('slurmArgs') : name('slurmNodes')} is for a server in a Slurm job: add --slurm`)
    if (place.kind === 'slurm' && place.nodes > 1 && s.smallModel)
      throw usageError(`${name('smallModel')} with ${origins.slurmNodes ? saidOf(origins, 'slurmNodes', place.nodes) : `nodes = ${place.nodes} (${origins.slurm?.name ?? '[slurm]'})`}: a second model is served with mistral.rs's from-config, which multi-node serving does not take; leave one out`)
    if (place.kind === 'local') await validateHost(saidOf(origins, 'host', s.host), s.host)
    else if (s.host !== DEFAULTS.host)
      throw usageError(`${saidOf(origins, 'host', s.host)} with ${place.kind === 'slurm' ? saidOf(origins, 'useSlurm') : name('on')}: the server listens only on ${describePlace(place)}'s loopback, reached through your ssh; leave ${name('host')} out`)
    // reaching the place may prompt (ssh: a password, 2FA, a host key): before anything else is said or started
    prepared = await placeModule(place).prepare(place, { env, paths, interactive: onTerminal() && !options.dryRun, mistralrs: place.kind === 'local' ? s.mistralrs : undefined })
    const family = familyKey({ place, binary: prepared.binary, host: s.host, tools: toolsOf(s), serverArgs: s.serverArgs, models: [] })
    const shareable =
      scope === 'serve' || !s.share || (resolved.modelSource && resolved.modelSource !== 'config')
        ? []
        : (await listServers(paths, (m) => out.warn(m))).map((e) => e.info).filter((i) => i.family === family && i.state !== 'stopping')
    try {
      choice = await chooseModel({
        model: s.model,
        smallModel: s.smallModel,
        modelSource: resolved.modelSource,
        preset: resolved.preset,
        configModel: resolved.config.settings.model,
        configPath: resolved.config.path,
        shareable,
        interactive: onTerminal() && !options.dryRun,
        env,
        forWhat: `${client ? client.title : `mrs ${scope}`}${place.kind === 'local' ? '' : ` on ${describePlace(place)}`}`,
        inventory: prepared.inventory,
        warn: (m) => out.warn(m),
      })
      if (choice.picked) await offerSave(choice.model, resolved, out)
    } catch (e) {
      prepared.release()
      throw e
    }
  }
  if (choice.rule && choice.model) out.info(`model ${choice.model} (${choice.rule})`)
  const checked = buildPlan({
    command: parsed.command,
    client,
    settings: s,
    passthrough: parsed.passthrough,
    env,
    model: choice.model,
    smallModel: 'smallModel' in choice ? choice.smallModel : undefined,
    attachTo: 'server' in choice ? choice.server?.id : undefined,
    mistralrs: prepared ? { binary: prepared.binary } : undefined,
    place: prepared ? placeFor(s, options.mistralrs as string | undefined) : undefined,
    clientBinary,
    flagsGiven: parsed.ownArgv.filter((a) => a.startsWith('-')),
    origins,
  })
  // every check passed: now it is worth asking mistral.rs its version (for --quant auto)
  const plan = prepared ? withVersion(checked, await prepared.version()) : checked
  mark('plan built')
  if (options.dryRun) {
    try {
      // a host's mistralrs is found when its server starts; the dry run asks now, to show the path
      const binary = prepared?.locate ? await prepared.locate() : undefined
      const shown = binary && plan.server.kind === 'managed' ? { ...plan, server: { ...plan.server, spec: { ...plan.server.spec, binary } } } : plan
      return print(await describePlan(shown, cwd))
    } finally {
      prepared?.release()
    }
  }
  // until here a signal ends mrs as it would any program: nothing has started
  return await withSignals((signals) =>
    runPlan(plan, {
      env,
      paths,
      out,
      signals,
      cwd,
      interactive: isatty(0) && Boolean(process.stdout.isTTY),
      mrsArgv: parsed.ownArgv,
      check: Boolean(options.check),
      releasePlace: prepared?.release,
      reachPlace: prepared?.reach,
      json: Boolean(options.json),
    }),
  )
}

async function withSignals<T>(fn: (signals: SignalHub) => Promise<T>): Promise<T> {
  const signals = new SignalHub()
  try {
    return await fn(signals)
  } finally {
    signals.dispose()
  }
}

/** After a pick: save it as the default model? (create the file if missing; the rest stays byte for byte). */
async function offerSave(model: string, resolved: Resolved, out: Output): Promise<void> {
  const { yesNo } = await import('../models/picker.js')
  if (!(await yesNo(`Make ${model} the default model (model = "${model}" in ${resolved.config.path})?`))) return
  try {
    saveDefaultModel(resolved.config.path, model)
    out.info(`saved: ${resolved.config.path} now says model = "${model}"`)
  } catch (e) {
    out.warn(`could not save the default model in ${resolved.config.path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); going on with ${model}`)
  }
}

/** A host that does not resolve, or is not an address of this machine, fails now: mistral.rs would fail only after the load. `said` is how the user gave it. */
async function validateHost(said: string, host: string): Promise<void> {
  if (LOOPBACK_HOSTS.has(host)) return
  try {
    const { lookup } = await import('node:dns/promises')
    await lookup(host)
  } catch (e) {
    throw usageError(`invalid ${said}: no such host (${(e as NodeJS.ErrnoException).code}); use an address of this machine, such as 0.0.0.0 or 127.0.0.1`)
  }
  const problem = await new Promise<string | undefined>((resolve) => {
    const probe = createServer()
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code))
    probe.listen({ port: 0, host }, () => probe.close(() => resolve(undefined)))
  })
  if (problem === 'EADDRNOTAVAIL') throw usageError(`${said} is not an address of this machine; use one of its own, such as 0.0.0.0 or 127.0.0.1`)
  if (problem) throw usageError(`cannot bind ${said} (${problem})`)
}

/**
 * The plan as a human reads it: the server command, the client command, its
 * environment and files, exactly as the launch would make them (the values of
 * the user's own settings and keys masked).
 */
export async function describePlan(plan: Plan, cwd: string): Promise<string> {
  const lines: string[] = []
  // a placeholder (<free port>, ~) is shown as such, not quoted
  const word = (a: string) => (/^[\w@%+=:,./~-]+$|^<[^<>]+>$|^[^\s'"]*<[^<>]+>[^\s'"]*$/.test(a) ? a : shellQuote(a))
  let url: string
  let contextWindow: number | undefined
  let remoteModel: string | undefined
  if (plan.server.kind === 'managed') {
    const s = plan.server
    const port = s.port ?? '<free port>'
    const configPath = `<server temp dir>/${MULTI_MODEL_FILE}`
    url = baseUrl(s.spec.host, port)
    const place = s.spec.place
    let shown: RunChoices = {}
    const serve = (port: string, dir: string, choices: RunChoices) => {
      shown = choices
      return [s.spec.binary, ...serverArgv(s.spec, port, `${dir}/${MULTI_MODEL_FILE}`, choices)].map(word).join(' ')
    }
    lines.push(...(await placeModule(place ?? LOCAL_PLACE).dryRun(place ?? LOCAL_PLACE, { spec: s.spec, env: process.env, serve, word })))
    lines.push(`clients:  ${url} (the port mrs holds for the server's whole life)`)
    const multi = multiModelConfig(s.spec, port, shown)
    if (multi) lines.push(`file:     ${configPath}`, ...stringify(multi).trim().split('\n').map((l) => `            ${l}`))
    contextWindow = s.spec.context
    lines.push(`context:  ${contextWindow ? `${contextWindow} tokens (${nameOf(plan.origins, 'context')}; the server is sized for it)` : "decided when the server is ready: the smaller of its KV cache and the model's own maximum"}`)
    if (s.attachTo) lines.push(`sharing:  attach to the running server ${s.attachTo}`)
    lines.push(
      `sharing:  ${s.share ? 'shared with other mrs sessions that ask for the same server' : `private (${saidOf(plan.origins, 'share')})`}; keep-alive ${s.keepAliveMs / 1000}s; restarts ${s.restarts}; grace ${s.graceMs / 1000}s; timeout ${s.timeoutMs === undefined ? 'none' : `${s.timeoutMs / 1000}s`}`,
    )
  } else {
    url = plan.server.url
    // what the launch will use: the model the server lists (asked now, as the launch asks), the window of a server of the user's own mrs
    const own = await ownServerAt(url, getPaths(process.env))
    contextWindow = plan.server.context ?? own?.contextWindow
    const apiKeyEnv = plan.server.apiKeyEnv
    const headers = keyHeaders(apiKeyEnv, process.env)
    const listed = await listModels(url, headers, apiKeyEnv, AbortSignal.timeout(10_000)).then(
      (ids) => chooseServed(url, ids, plan.server.kind === 'external' ? plan.server.model : undefined),
      (e: Error) => e,
    )
    if (listed instanceof Error) lines.push(`server:   ${url} (already running; nothing is started; now: ${listed.message})`)
    else {
      remoteModel = listed.model
      lines.push(`server:   ${url} (already running; nothing is started): model ${listed.model}${listed.why ? `, ${listed.why}` : ''}${contextWindow ? `; context ${windowText(contextWindow)}` : ''}`)
    }
  }
  lines.push(`urls:     OpenAI/Responses ${url}/v1 · Anthropic ${url}`)
  const client = plan.client
  if (client) {
    const module = client.module
    const model = plan.server.kind === 'managed' ? plan.server.spec.models[0]! : (remoteModel ?? plan.server.model ?? 'default')
    const small = plan.server.kind === 'managed' ? plan.server.spec.models[1] : undefined
    const tmpDir = '<session temp dir>'
    // what the user's own files add (a settings file of theirs): read as the launch would; slow probes are left out
    const prepared = module.prepareFirst && module.prepare ? await module.prepare({ binary: client.binary, userArgs: client.userArgs, env: process.env, cwd, cacheDir: '', stateDir: '<mrs state dir>', tmpRoot: '' }) : undefined
    const sharedDir = plan.server.kind === 'managed' ? '<server temp dir>/clients' : undefined
    const launch = clientLaunch(client, { url, model, smallModel: small, contextWindow, webSearch: webSearchOf(plan) }, { env: process.env, tmpDir, sharedDir, prepared, statusLine: '<mrs status line>' })
    const before = process.env
    const key = client.apiKeyEnv ? before[client.apiKeyEnv] : undefined
    const mask = (text: string) => {
      let out = text
      if (key) out = out.split(key).join(`$${client.apiKeyEnv}`)
      for (const secret of launch.masked ?? []) if (secret && secret.length > 2) out = out.split(secret).join('<from your settings>')
      return out
    }
    lines.push(`client:   ${mask([launch.command, ...launch.args].map(shellQuote).join(' '))}`)
    for (const [k, v] of Object.entries(launch.env)) if (before[k] !== v) lines.push(`env:      ${k}=${mask(shellQuote(v))}`)
    for (const k of Object.keys(before)) if (!(k in launch.env)) lines.push(`env:      unset ${k}`)
    const tree = (dir: string, files: Record<string, string>, links: Record<string, string>, lifetime: string) => {
      for (const [name, content] of Object.entries(files)) {
        lines.push(`file:     ${dir}/${name} (0600, ${lifetime})`)
        for (const l of mask(content).trimEnd().split('\n').slice(0, 80)) lines.push(`            ${l}`)
      }
      for (const [name, target] of Object.entries(links)) lines.push(`link:     ${dir}/${name} -> ${target}`)
    }
    tree(tmpDir, launch.files, launch.links ?? {}, 'removed on exit')
    if (launch.shared) tree(`${sharedDir}/${launch.shared.name}`, launch.shared.files, launch.shared.links, "shared by the server's sessions, removed with it")
  }
  for (const w of plan.warnings) lines.push(`warning:  ${w}`)
  // a URL's password is never printed
  return `${maskCredentials(lines.join('\n'))}\n`
}

