/**
 * `mrs doctor [claude|codex]`: what mrs needs on this machine, each problem
 * with the command that fixes it. Exits 1 when something blocks
 * `mrs claude` or `mrs codex` (or only the one named).
 */
import { execFile } from 'node:child_process'
import { accessSync, constants, mkdirSync } from 'node:fs'
import { ExitCode, MrsError, usageError } from '../../errors.js'
import { getPaths } from '../../paths.js'
import { findExecutable } from '../../process/which.js'
import { INSTALL_HINTS } from '../../plan.js'
import { cachedModels, hubCacheDir } from '../../hf.js'
import { defaultConfigPath, loadConfig } from '../../config/resolve.js'
import { freePort, portIsFree } from '../../server/ports.js'
import { listServers } from '../../server/registry.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'

type Parsed = ParsedArgs & { command: string }
type Client = 'claude' | 'codex'

export interface Check {
  name: string
  ok: boolean
  detail: string
  /** The command that fixes it, when not ok. */
  fix?: string
  /** Which of `mrs claude` / `mrs codex` it blocks when not ok; empty: a warning only. */
  blocks: Client[]
}

/** Minimum versions and why mrs needs them. */
export const MINIMUM = {
  mistralrs: { version: '0.8.4', why: 'the Anthropic /v1/messages API that Claude Code speaks arrived in mistral.rs 0.8.4' },
  claude: { version: '2.0.0', why: 'routing through --settings env and ANTHROPIC_DEFAULT_*_MODEL' },
  codex: { version: '0.169.0', why: 'model_catalog_json and profile files (--profile NAME reads NAME.config.toml)' },
} as const

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}

function versionOf(binary: string): Promise<string | undefined> {
  return new Promise((resolve) =>
    execFile(binary, ['--version'], { timeout: 15_000, env: { ...process.env, CODEX_HOME: process.env.CODEX_HOME } }, (error, stdout) =>
      resolve(error ? undefined : /(\d+\.\d+\.\d+)/.exec(stdout)?.[1]),
    ),
  )
}

async function programCheck(name: 'mistralrs' | Client, binary: string | undefined, blocks: Client[]): Promise<Check> {
  const min = MINIMUM[name]
  if (!binary) return { name, ok: false, detail: 'not found on PATH', fix: INSTALL_HINTS[name].replace(/^install [^:]+: /, ''), blocks }
  const version = await versionOf(binary)
  if (!version) return { name, ok: false, detail: `${binary} does not answer --version`, fix: INSTALL_HINTS[name].replace(/^install [^:]+: /, ''), blocks }
  const ok = compareVersions(version, min.version) >= 0
  return {
    name,
    ok,
    detail: `${version} at ${binary} (needs ≥ ${min.version}: ${min.why})`,
    fix: ok ? undefined : `upgrade: ${INSTALL_HINTS[name].replace(/^install [^:]+: /, '')}`,
    blocks,
  }
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    accessSync(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}

export async function runChecks(env: NodeJS.ProcessEnv, configFlag?: string): Promise<Check[]> {
  const both: Client[] = ['claude', 'codex']
  const paths = getPaths(env)
  const mistralrs = env.MRS_MISTRALRS ? findExecutable(env.MRS_MISTRALRS, env) : findExecutable('mistralrs', env)
  const checks = await Promise.all([
    programCheck('mistralrs', mistralrs, both),
    programCheck('claude', findExecutable('claude', env), ['claude']),
    programCheck('codex', findExecutable('codex', env), ['codex']),
  ])

  const configPath = configFlag ?? env.MRS_CONFIG ?? defaultConfigPath(env)
  try {
    const config = await loadConfig(configFlag, env)
    const presets = Object.keys(config.presets)
    checks.push({
      name: 'config',
      ok: true,
      detail: config.exists ? `${config.path}${presets.length ? ` (presets: ${presets.join(', ')})` : ''}` : `no file at ${configPath}; defaults apply`,
      blocks: both,
    })
  } catch (e) {
    checks.push({ name: 'config', ok: false, detail: (e as Error).message, fix: `fix or move ${configPath}`, blocks: both })
  }

  for (const [name, dir] of [
    ['state', paths.serversDir],
    ['logs', paths.logDir],
    ['temp', paths.tmpRoot],
  ] as const) {
    const ok = writable(dir)
    // without logs mrs still runs (it warns); without state or temp it cannot
    checks.push({ name, ok, detail: `${dir} ${ok ? 'is writable' : 'is not writable'}`, fix: ok ? undefined : `mkdir -p ${dir} && chmod 700 ${dir}`, blocks: name === 'logs' ? [] : both })
  }

  const hub = hubCacheDir(env)
  const models = cachedModels(env)
  checks.push({ name: 'models', ok: true, detail: `Hugging Face cache ${hub}: ${models.length ? models.join(', ') : 'no models downloaded yet (the first run downloads)'}`, blocks: [] })

  let portDetail: string
  let portOk = true
  try {
    const port = await freePort('127.0.0.1')
    portDetail = `free ports on 127.0.0.1 (e.g. ${port}); mistralrs's default 1234 is ${(await portIsFree(1234, '127.0.0.1')) ? 'free' : 'in use'}`
  } catch (e) {
    portOk = false
    portDetail = `cannot listen on 127.0.0.1 (${(e as Error).message})`
  }
  checks.push({ name: 'ports', ok: portOk, detail: portDetail, blocks: portOk ? [] : both })

  const servers = await listServers(paths, (m) => new Output().warn(m))
  checks.push({ name: 'servers', ok: true, detail: servers.length ? `${servers.length} running (see mrs ps)` : 'none running', blocks: [] })
  return checks
}

export async function doctorCommand(parsed: Parsed): Promise<number> {
  const only = parsed.args[0]
  if (only !== undefined && only !== 'claude' && only !== 'codex') throw usageError(`mrs doctor takes claude or codex, not "${only}"`)
  const checks = await runChecks(process.env, parsed.options.config as string | undefined)
  // `mrs doctor codex` does not care whether claude is installed, and vice versa
  const shown = only ? checks.filter((c) => c.name !== (only === 'claude' ? 'codex' : 'claude')) : checks
  const blocking = shown.filter((c) => !c.ok && c.blocks.length > 0 && (!only || c.blocks.includes(only)))
  if (parsed.options.json) {
    process.stdout.write(`${JSON.stringify({ ok: blocking.length === 0, checks: shown }, null, 2)}\n`)
  } else {
    const out = new Output({ stream: process.stdout })
    for (const c of shown) {
      const mark = c.ok ? out.green('✓') : c.blocks.length ? out.red('✗') : out.yellow('!')
      process.stdout.write(`${mark} ${c.name.padEnd(9)} ${c.detail}\n`)
      if (!c.ok && c.fix) process.stdout.write(`  ${' '.repeat(9)} fix: ${c.fix}\n`)
    }
    const summary = blocking.length
      ? `${blocking.map((c) => c.name).join(', ')} block${blocking.length === 1 ? 's' : ''} ${[...new Set(blocking.flatMap((c) => c.blocks))].filter((c) => !only || c === only).map((c) => `mrs ${c}`).join(' and ')}`
      : `ready for ${only ? `mrs ${only}` : 'mrs claude and mrs codex'}`
    process.stdout.write(`\n${summary}\n`)
  }
  if (blocking.length) throw new MrsError('mrs doctor found problems (see above)', ExitCode.Failure)
  return ExitCode.Ok
}
