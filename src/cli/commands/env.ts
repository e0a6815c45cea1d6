/**
 * `mrs env` and `mrs setup`: the same routing mrs injects, for a server the
 * user runs themselves (with `mrs serve -p N` or by hand).
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ExitCode, MrsError, usageError } from '../../errors.js'
import { getPaths, privateDir } from '../../paths.js'
import { listServers } from '../../server/registry.js'
import { claudeRouting, claudeSettings } from '../../clients/claude.js'
import { codexOverrides, codexProfile } from '../../clients/codex.js'
import { localContextWindow } from '../../hf.js'
import { shellQuote } from '../../text.js'
import { clientArg, resolveFor } from '../commands.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'

type Parsed = ParsedArgs & { command: string }

/** The URL to point a client at: --url, else a running mrs server, else mistralrs's default port. */
async function targetUrl(url: string | undefined, port: number | undefined, out: Output): Promise<string> {
  if (url) return url
  if (port) return `http://127.0.0.1:${port}`
  const running = (await listServers(getPaths(process.env), (m) => out.warn(m))).filter((s) => s.info.state === 'ready')
  const newest = running.at(-1)?.info
  if (newest) {
    out.info(`using the running mrs server ${newest.id} (${newest.models.join(', ')}) at ${newest.url}; pass --url to choose`)
    return newest.url
  }
  out.info('no mrs server is running; assuming http://127.0.0.1:1234 (pass --url or --port to choose)')
  return 'http://127.0.0.1:1234'
}

async function clientContext(parsed: Parsed, client: 'claude' | 'codex', out: Output) {
  const s = await resolveFor(parsed, client)
  const url = await targetUrl(s.url, s.port, out)
  const contextWindow = s.context ?? (s.model ? localContextWindow(s.model, process.env)?.tokens : undefined)
  const ids = s.smallModel ? { main: s.model ?? 'default', small: s.smallModel } : { main: s.model ?? 'default' }
  return { url, ids, contextWindow, webSearch: s.webSearch || s.agent, apiKeyEnv: s.apiKeyEnv }
}

export async function envCommand(parsed: Parsed): Promise<number> {
  const client = clientArg(parsed)
  const out = new Output()
  const ctx = await clientContext(parsed, client, out)
  if (client === 'claude') {
    if (parsed.options.toml) throw usageError('--toml is for codex; for claude use --json')
    if (parsed.options.json) {
      const settings = claudeSettings({ ...ctx, userArgs: [], env: {} })
      if (ctx.apiKeyEnv) out.info(`the token is not written into settings: export ANTHROPIC_AUTH_TOKEN="$${ctx.apiKeyEnv}" before starting claude`)
      process.stdout.write(`${JSON.stringify(settings, null, 2)}\n`)
      return ExitCode.Ok
    }
    const lines: string[] = []
    const unset: string[] = []
    for (const [k, v] of Object.entries(claudeRouting(ctx))) {
      if (v === '' && k !== 'ANTHROPIC_API_KEY') unset.push(k)
      else lines.push(`export ${k}=${shellQuote(v)}`)
    }
    // a reference to the variable, never its value
    if (ctx.apiKeyEnv) lines.push(`export ANTHROPIC_AUTH_TOKEN="$${ctx.apiKeyEnv}"`)
    if (unset.length) lines.push(`unset ${unset.join(' ')}`)
    process.stdout.write(`${lines.join('\n')}\n`)
    return ExitCode.Ok
  }
  if (parsed.options.json) throw usageError('--json is for claude; for codex use --toml')
  if (parsed.options.toml) {
    const { stringify } = await import('smol-toml')
    process.stdout.write(`${stringify(codexProfile(ctx))}\n`)
    return ExitCode.Ok
  }
  const flags = codexOverrides({ ...ctx, userArgs: [], env: {} }).map((o) => `-c ${shellQuote(o)}`)
  process.stdout.write(`${flags.join(' ')}\n`)
  return ExitCode.Ok
}

export const PROFILE_NAME = 'mistralrs'

export async function setupCommand(parsed: Parsed): Promise<number> {
  const client = clientArg(parsed)
  if (client !== 'codex') throw usageError('mrs setup only sets up codex; for claude, mrs env claude prints the settings')
  const out = new Output()
  const ctx = await clientContext(parsed, 'codex', out)
  const codexHome = process.env.CODEX_HOME || join(process.env.HOME || homedir(), '.codex')
  const file = join(codexHome, `${PROFILE_NAME}.config.toml`)
  const { stringify } = await import('smol-toml')
  const text = `# Written by \`mrs setup codex\`: use with \`codex --profile ${PROFILE_NAME}\`.\n# Start the server with: mrs serve -m MODEL -p ${new URL(ctx.url).port || 80}\n\n${stringify(codexProfile(ctx))}\n`
  if (parsed.options.dryRun) {
    process.stdout.write(text)
    return ExitCode.Ok
  }
  legacyProfileWarning(codexHome, out)
  if (existsSync(file)) {
    const old = readFileSync(file, 'utf8')
    if (old === text) {
      out.info(`${file} is already up to date`)
      return ExitCode.Ok
    }
    const backup = `${file}.bak-${new Date().toISOString().replace(/[:.]/g, '-')}`
    copyFileSync(file, backup)
    out.info(`backed up the old profile to ${backup}`)
  }
  try {
    privateDir(codexHome)
    writeFileSync(file, text, { mode: 0o600 })
  } catch (e) {
    throw new MrsError(`cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, ExitCode.Failure)
  }
  out.info(`wrote ${file}; run: codex --profile ${PROFILE_NAME}  (with a server at ${ctx.url})`)
  return ExitCode.Ok
}

/** Current Codex refuses to start with a legacy `[profiles.*]` table or `profile =` line: say so, change nothing. */
function legacyProfileWarning(codexHome: string, out: Output): void {
  let config: string
  try {
    config = readFileSync(join(codexHome, 'config.toml'), 'utf8')
  } catch {
    return
  }
  if (/^\s*\[profiles\./m.test(config) || /^\s*profile\s*=/m.test(config))
    out.warn(
      `${join(codexHome, 'config.toml')} has a legacy [profiles.*] table or profile = line, which current Codex refuses to start with; move it into <name>.config.toml files (mrs leaves config.toml alone)`,
    )
}
