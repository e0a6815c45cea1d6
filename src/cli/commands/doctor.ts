/**
 * `mrs doctor [NAME]`: what mrs needs on this machine, each problem with the
 * command that fixes it. Exits 1 when something blocks a client (or the one
 * named). Clients are checked from their modules; versions are read from the
 * installed package where possible, so asking writes nothing into a client's
 * own config dir (some write there even for --version).
 */
import { capture } from '../../process/run.js'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ExitCode, MrsError, usageError } from '../../errors.js'
import { isatty } from 'node:tty'
import { getPaths, privateDir, type Paths } from '../../paths.js'
import { LOCAL_PLACE, describePlace, placeFor, placeModule } from '../../places/registry.js'
import type { Inventory } from '../../places/types.js'
import type { PlaceSpec } from '../../places/kinds.js'
import { placeOfCommand } from '../settings.js'
import { findExecutable } from '../../process/which.js'
import { MISTRALRS_INSTALL, QUANT_AUTO_SINCE } from '../../server/mistralrs.js'
import { ENGINE_METRICS_SINCE } from '../../server/metrics.js'
import { cachedModels, hubCacheDir, type CachedModel } from '../../hf.js'
import { sizeText } from '../../models/downloaded.js'
import { RECOMMENDED } from '../../models/recommended.js'
import { defaultConfigPath, loadConfig } from '../../config/resolve.js'
import { freePort, portIsFree } from '../../server/ports.js'
import { listServers } from '../../server/registry.js'
import { CLIENTS, clientByName } from '../../clients/registry.js'
import type { ClientModule } from '../../clients/types.js'
import { compareVersions, npmPackageVersion, versionIn } from '../../version.js'
import { detectAccelerator } from '../../models/accelerator.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'
import { printable, shortList } from '../../text.js'

export interface Check {
  name: string
  ok: boolean
  detail: string
  /** The command that fixes it, when not ok. */
  fix?: string
  /** Which clients it blocks when not ok; empty: a warning only. */
  blocks: string[]
  /** Something to know even when ok (a version note). */
  note?: string
}

/** mistral.rs from which the Anthropic Messages API (/v1/messages) exists. */
const MISTRALRS_MIN = '0.8.4'

/** The version of an npm-installed program, from its package.json (no process, no side effects); else `--version` in a throwaway home. */
export async function installedVersion(binary: string, npmPackage?: string): Promise<string | undefined> {
  const fromPackage = npmPackage ? npmPackageVersion(binary, npmPackage) : undefined
  if (fromPackage) return fromPackage
  const home = mkdtempSync(join(tmpdir(), 'mrs-version-'))
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home, XDG_STATE_HOME: home, XDG_CACHE_HOME: home }
  // the variables that point a client at its own config dir would send its writes there
  for (const c of CLIENTS) for (const name of c.configEnv) delete env[name]
  try {
    const answer = await capture(binary, ['--version'], { env, timeoutMs: 15_000 })
    return answer.ok ? versionIn(`${answer.stdout}\n${answer.stderr}`) : undefined
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

async function mistralrsCheck(env: NodeJS.ProcessEnv): Promise<Check> {
  const binary = env.MRS_MISTRALRS ? findExecutable(env.MRS_MISTRALRS, env) : findExecutable('mistralrs', env)
  if (!binary) return { name: 'mistralrs', ok: false, detail: 'not found on PATH', fix: MISTRALRS_INSTALL, blocks: CLIENTS.map((c) => c.name) }
  return versionCheck(binary, await installedVersion(binary), MISTRALRS_INSTALL)
}

/** mistralrs's version judged: the Anthropic API from MISTRALRS_MIN; --quant from QUANT_AUTO_SINCE; the engine's metrics (mrs ps) from ENGINE_METRICS_SINCE. */
function versionCheck(binary: string, version: string | undefined, install: string, where = 'this machine'): Check {
  const names = CLIENTS.map((c) => c.name)
  if (!version) return { name: 'mistralrs', ok: false, detail: `${binary} does not answer --version`, fix: install, blocks: names }
  const ok = compareVersions(version, MISTRALRS_MIN) >= 0
  const quant = compareVersions(version, QUANT_AUTO_SINCE) >= 0 ? `a model too big for ${where} is quantized with --quant` : `a model too big for ${where} is quantized with --isq (no --quant before ${QUANT_AUTO_SINCE})`
  const metrics = compareVersions(version, ENGINE_METRICS_SINCE) >= 0 ? '' : `; mrs ps shows no load or speed before ${ENGINE_METRICS_SINCE} (its /metrics counts HTTP requests only)`
  return {
    name: 'mistralrs',
    ok,
    detail: `${version} at ${binary} (needs ≥ ${MISTRALRS_MIN} for the Anthropic Messages API; ${quant}${metrics})`,
    fix: ok ? undefined : `upgrade: ${install}`,
    blocks: names,
  }
}

/**
 * `mrs doctor --on HOST`: the host as a place for the server — reachable over
 * the user's ssh, mistralrs there and its version, its GPU, the free disk
 * where the weights go, the models it has — in one survey.
 */
async function remoteChecks(place: Exclude<PlaceSpec, { kind: 'local' }>, env: NodeJS.ProcessEnv, configModel: string | undefined): Promise<Check[]> {
  const names = CLIENTS.map((c) => c.name)
  const host = describePlace(place)
  let inventory: Inventory
  try {
    inventory = await placeModule(place).inventory(place, { env, paths: getPaths(env), interactive: isatty(0) && Boolean(process.stderr.isTTY) })
  } catch (e) {
    return [{ name: 'ssh', ok: false, detail: (e as Error).message, fix: `check that \`ssh ${host}\` works in this terminal`, blocks: names }]
  }
  const install = placeModule(place).runThere(place, MISTRALRS_INSTALL)
  const found = inventory.mistralrs?.binary
  const a = inventory.accelerator
  const gb = (n: number) => `${(n / 2 ** 30).toFixed(1)} GB`
  const disk = inventory.disk
  return [
    { name: 'ssh', ok: true, detail: `${host} answers over your ssh (one master connection, reused by mrs)`, blocks: names },
    found ? versionCheck(found, inventory.mistralrs?.version ? versionIn(inventory.mistralrs.version) : undefined, install, host) : { name: 'mistralrs', ok: false, detail: `not found on ${host} (a login shell's PATH there, ~/.cargo/bin)`, fix: `${install}, or pass --mistralrs PATH`, blocks: names },
    { name: 'gpu', ok: true, detail: `${host}: ${a.name}: ${gb(a.totalBytes)}${a.freeBytes !== undefined ? ` (${gb(a.freeBytes)} free)` : ''}${a.kind === 'cpu' ? ' of system memory; no GPU found there, models run on its CPU' : ''}`, blocks: [] },
    {
      name: 'disk',
      ok: !disk || disk.bytes >= 20 * 2 ** 30,
      detail: disk ? `${gb(disk.bytes)} free in ${disk.path} on ${host}` : `unknown on ${host}`,
      fix: disk && disk.bytes < 20 * 2 ** 30 ? `free some space on ${host}: a coding model needs tens of GB` : undefined,
      blocks: [],
    },
    modelsCheck(inventory, `on ${host}`, configModel, place),
  ]
}

/**
 * What is downloaded where the server runs, each partial download marked
 * with how far it got, and whether the config's `model` is there: a warning
 * (a launch downloads what is missing), never a block.
 */
function modelsCheck(cache: { models: CachedModel[]; problem?: string }, where: string, configModel: string | undefined, place: PlaceSpec): Check {
  if (cache.problem) return { name: 'models', ok: false, detail: cache.problem, blocks: [] }
  // a model only in Python's cache is not downloaded for mistral.rs: said once, below
  const models = cache.models.filter((m) => !m.elsewhere)
  const elsewhere = cache.models.filter((m) => m.elsewhere)
  const listed = models.length ? shortList(models.map((m) => (m.partial ? `${m.id} (partial download, ${sizeText(m)})` : m.id)), 20, 2000) : `no models downloaded yet (the first run downloads; see mrs models${place.kind === 'local' ? '' : ' --on'})`
  const problems: string[] = []
  // a launch of the model downloads it, or finishes its download
  let fix: string | undefined
  const serve = (id: string) => `mrs serve -m ${id}${placeModule(place).flags(place).map((f) => ` ${f}`).join('')} (Ctrl-C once it is ready)`
  if (configModel !== undefined) {
    const shown = printable(configModel)
    if (configModel.startsWith('/') || configModel.startsWith('.')) {
      // a local directory is the model itself, not something the cache holds
      if (place.kind === 'local' && !existsSync(configModel)) problems.push(`the config's model ${shown} is not a directory here`)
    } else {
      const configured = models.find((m) => m.id === configModel)
      const known = RECOMMENDED.find((r) => r.id === configModel)
      if (!configured) {
        problems.push(`the config's model ${shown} is not downloaded${known ? ` (${known.downloadGB} GB)` : ''}: its first launch downloads it`)
        fix = `download it now: ${serve(configModel)}`
      } else if (configured.partial) {
        problems.push(`the config's model ${shown} is not fully downloaded: its next launch finishes it`)
        fix = `finish it now: ${serve(configModel)}`
      }
    }
  }
  if (elsewhere.length) {
    problems.push(`${shortList(elsewhere.map((m) => m.id), 5, 400)} ${elsewhere.length === 1 ? 'is' : 'are'} only in ${elsewhere[0]!.elsewhere} (Python's cache), which mistral.rs does not read`)
    fix ??= `set HF_HUB_CACHE=${elsewhere[0]!.elsewhere} to serve ${elsewhere.length === 1 ? 'it' : 'them'} from there, or let a launch download ${elsewhere.length === 1 ? 'it' : 'them'} again`
  }
  const others = models.filter((m) => m.partial && m.id !== configModel)
  if (others.length) {
    problems.push(`${others.length === 1 ? 'a download was' : `${others.length} downloads were`} left unfinished`)
    fix ??= `finish it: ${serve(others[0]!.id)}`
  }
  return { name: 'models', ok: problems.length === 0, detail: `${where}: ${listed}${problems.length ? `; ${problems.join('; ')}` : ''}`, fix, blocks: [] }
}

async function clientCheck(c: ClientModule, env: NodeJS.ProcessEnv): Promise<Check> {
  const binary = findExecutable(c.binary, env)
  const note = c.compatibility?.(undefined, process.version)
  if (!binary) return { name: c.name, ok: false, detail: 'not found on PATH', fix: c.install, blocks: [c.name], note }
  const version = await installedVersion(binary, c.npmPackage)
  if (!version) return { name: c.name, ok: false, detail: `${binary} does not answer --version`, fix: c.install, blocks: [c.name] }
  const ok = compareVersions(version, c.minVersion) >= 0
  return {
    name: c.name,
    ok,
    detail: `${version} at ${binary} (needs ≥ ${c.minVersion}: ${c.versionWhy})`,
    fix: ok ? undefined : `upgrade: ${c.install}`,
    blocks: [c.name],
    note: c.compatibility?.(version, process.version),
  }
}

export async function runChecks(env: NodeJS.ProcessEnv, configFlag: string | undefined, only?: ClientModule, place: PlaceSpec = LOCAL_PLACE): Promise<Check[]> {
  const names = only ? [only.name] : CLIENTS.map((c) => c.name)
  const paths = getPaths(env)
  // the config's model, to say whether it is downloaded (a broken config is the config check's to report)
  const configModel = await loadConfig(configFlag, env).then(
    (c) => c.settings.model,
    () => undefined,
  )
  if (place.kind !== 'local') {
    // the server's side is the host's; the clients, config and state are this machine's
    const [remote, ...clients] = await Promise.all([remoteChecks(place, env, configModel), ...(only ? [only] : CLIENTS).map((c) => clientCheck(c, env))])
    return [...remote, ...clients, ...(await localChecks(env, configFlag, names, paths))]
  }
  const accelerator = detectAccelerator(env)
  const checks = await Promise.all([mistralrsCheck(env), ...(only ? [only] : CLIENTS).map((c) => clientCheck(c, env))])

  const a = await accelerator
  const gb = (n: number) => `${(n / 2 ** 30).toFixed(1)} GB`
  checks.push({
    name: 'gpu',
    ok: !a.problem,
    detail: `${a.name}: ${gb(a.totalBytes)}${a.freeBytes !== undefined ? ` (${gb(a.freeBytes)} free)` : ''}${a.kind === 'cpu' ? ' of system memory; no GPU found, models run on the CPU' : ''}`,
    fix: a.problem,
    blocks: [],
  })
  checks.push(modelsCheck(cachedModels(env), `Hugging Face cache ${hubCacheDir(env)}`, configModel, place))
  return [...checks, ...(await localChecks(env, configFlag, names, paths))]
}

/** This machine's part wherever the server runs: the config file, mrs's dirs, ports and running servers. */
async function localChecks(env: NodeJS.ProcessEnv, configFlag: string | undefined, names: string[], paths: Paths): Promise<Check[]> {
  const checks: Check[] = []
  const configPath = configFlag ?? env.MRS_CONFIG ?? defaultConfigPath(env)
  try {
    const config = await loadConfig(configFlag, env)
    const presets = Object.keys(config.presets)
    checks.push({
      name: 'config',
      ok: true,
      detail: config.exists ? `${config.path}${config.settings.model ? `: model ${config.settings.model}` : ''}${presets.length ? ` (presets: ${presets.join(', ')})` : ''}` : `no file at ${configPath}; defaults apply`,
      blocks: names,
    })
  } catch (e) {
    checks.push({ name: 'config', ok: false, detail: (e as Error).message, fix: `fix or move ${configPath}`, blocks: names })
  }

  for (const [name, dir] of [
    ['state', paths.serversDir],
    ['logs', paths.logDir],
    ['temp', paths.tmpRoot],
  ] as const) {
    let problem: string | undefined
    try {
      privateDir(dir)
    } catch (e) {
      problem = (e as Error).message.replace(/^mrs cannot use \S+: /, '')
    }
    // without logs mrs still runs (it warns); without state or temp it cannot
    checks.push({ name, ok: !problem, detail: `${dir} ${problem ?? 'is private and writable'}`, fix: problem ? `rm -rf ${dir} (mrs recreates it)` : undefined, blocks: name === 'logs' ? [] : names })
  }

  let portDetail: string
  let portOk = true
  try {
    const port = await freePort('127.0.0.1')
    portDetail = `free ports on 127.0.0.1 (e.g. ${port}); mistralrs's default 1234 is ${(await portIsFree(1234, '127.0.0.1')) ? 'free' : 'in use'}`
  } catch (e) {
    portOk = false
    portDetail = `cannot listen on 127.0.0.1 (${(e as Error).message})`
  }
  checks.push({ name: 'ports', ok: portOk, detail: portDetail, blocks: portOk ? [] : names })

  const servers = await listServers(paths, (m) => new Output().warn(m))
  checks.push({ name: 'servers', ok: true, detail: servers.length ? `${servers.length} running (see mrs ps)` : 'none running', blocks: [] })
  return checks
}

export async function doctorCommand(parsed: ParsedArgs): Promise<number> {
  const name = parsed.args[0]
  const only = name === undefined ? undefined : clientByName(name)
  if (name !== undefined && !only) throw usageError(`mrs doctor takes a client (${CLIENTS.map((c) => c.name).join(', ')}), not "${name}"`)
  // a broken config is one of the things doctor reports: the place is then --on's, or this machine
  const place = await placeOfCommand(parsed).catch((e: unknown) => {
    if (!(e instanceof MrsError) || e.exitCode !== ExitCode.Config) throw e
    return typeof parsed.options.on === 'string' ? placeFor({ on: parsed.options.on, slurmArgs: [] }) : LOCAL_PLACE
  })
  const checks = await runChecks(process.env, parsed.options.config as string | undefined, only, place)
  const blocking = checks.filter((c) => !c.ok && c.blocks.length > 0)
  // a client is ready when nothing blocks it; some may be missing and that is fine for the others
  const ready = (only ? [only] : CLIENTS).filter((c) => !blocking.some((b) => b.blocks.includes(c.name)))
  const mistralrsOk = checks.find((c) => c.name === 'mistralrs')?.ok
  if (parsed.options.json) {
    process.stdout.write(`${JSON.stringify({ ok: only ? ready.length === 1 : mistralrsOk && ready.length > 0, ready: ready.map((c) => c.name), checks }, null, 2)}\n`)
  } else {
    const out = new Output({ stream: process.stdout })
    for (const c of checks) {
      const mark = c.ok ? out.green('✓') : c.blocks.length ? out.red('✗') : out.yellow('!')
      process.stdout.write(`${mark} ${c.name.padEnd(9)} ${printable(c.detail)}\n`)
      if (!c.ok && c.fix) process.stdout.write(`  ${' '.repeat(9)} fix: ${printable(c.fix)}\n`)
      if (c.note) process.stdout.write(`  ${' '.repeat(9)} note: ${printable(c.note)}\n`)
    }
    const summary = ready.length ? `ready for ${ready.map((c) => `mrs ${c.name}`).join(', ')}` : `nothing is ready: ${blocking.map((c) => c.name).join(', ')} ${blocking.length === 1 ? 'blocks' : 'block'} it`
    process.stdout.write(`\n${summary}\n`)
  }
  // `mrs doctor` fails when no client can run; `mrs doctor NAME` when that one cannot
  if (!ready.length || (!only && !mistralrsOk)) throw new MrsError('mrs doctor found problems (see above)', ExitCode.Failure)
  return ExitCode.Ok
}
