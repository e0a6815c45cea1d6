/**
 * `mrs env NAME` and `mrs setup NAME`: the same routing mrs injects, for a
 * server the user runs themselves (with `mrs serve --port N`, or by hand).
 * What each client gets is its module's to say.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ExitCode, MrsError, usageError } from '../../errors.js'
import { getPaths } from '../../paths.js'
import { listServers } from '../../server/registry.js'
import { localContextWindow } from '../../hf.js'
import { CLIENTS } from '../../clients/registry.js'
import { maxOutputFor, shortName, type ClientContext, type ClientModule } from '../../clients/types.js'
import { clientArg, resolveFor } from '../commands.js'
import { nameOf } from '../../config/schema.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'
import type { ServerInfo } from '../../keeper/protocol.js'

/** The server to point a client at: --url, else --port on this machine, else a running mrs server, else mistralrs's default port. */
async function targetServer(url: string | undefined, port: number | undefined, out: Output): Promise<{ url: string; info?: ServerInfo }> {
  if (url) return { url }
  if (port) return { url: `http://127.0.0.1:${port}` }
  const running = (await listServers(getPaths(process.env), (m) => out.warn(m))).filter((s) => s.info.state === 'ready')
  const newest = running.at(-1)?.info
  if (newest) {
    out.info(`using the running mrs server ${newest.id} (${newest.models.join(', ')}) at ${newest.url}; pass --url to choose`)
    return { url: newest.url, info: newest }
  }
  out.info('no mrs server is running; assuming http://127.0.0.1:1234 (pass --url or --server-port to choose)')
  return { url: 'http://127.0.0.1:1234' }
}

async function clientContext(parsed: ParsedArgs, client: ClientModule, out: Output): Promise<Omit<ClientContext, 'userArgs' | 'tmpDir' | 'prepared'>> {
  const { settings: s, origins } = await resolveFor(parsed, 'env')
  const { url, info } = await targetServer(s.url, s.port, out)
  const model = s.model ?? info?.models[0] ?? 'default'
  // the running server's second model is for clients with a slot for one; the others use its first
  const small = s.smallModel ?? (client.smallModelSlot ? info?.models[1] : undefined)
  if (small && !client.smallModelSlot) throw usageError(`${nameOf(origins, 'smallModel')}: ${client.title} has no slot for a second model; leave it out`)
  const contextWindow = s.context ?? info?.contextWindow ?? (model !== 'default' ? localContextWindow(model, process.env).tokens : undefined)
  return {
    url,
    model: { id: model, name: shortName(model) },
    smallModel: small ? { id: small, name: shortName(small) } : undefined,
    contextWindow,
    maxOutput: maxOutputFor(contextWindow),
    webSearch: s.webSearch || s.agent,
    apiKeyEnv: s.apiKeyEnv,
    env: process.env,
  }
}

export async function envCommand(parsed: ParsedArgs): Promise<number> {
  const client = clientArg(parsed)
  const asked = Object.keys(parsed.options).filter((k) => k.startsWith('format:')).map((k) => k.slice('format:'.length))
  if (asked.length > 1) throw usageError(`pick one of ${asked.map((f) => `--${f}`).join(', ')}`)
  const format = asked[0]
  if (format && !(format in client.env.formats)) {
    const who = CLIENTS.filter((c) => format in c.env.formats).map((c) => c.name)
    throw usageError(`--${format} is for ${who.join(', ')}; mrs env ${client.name} prints ${Object.keys(client.env.formats).length ? Object.keys(client.env.formats).map((f) => `--${f}`).join(' or ') + ' or ' : ''}its default form`)
  }
  const out = new Output()
  const ctx = await clientContext(parsed, client, out)
  const note = client.env.note?.(ctx, format)
  if (note) out.info(note)
  process.stdout.write(client.env.text(ctx, format))
  return ExitCode.Ok
}

export async function setupCommand(parsed: ParsedArgs): Promise<number> {
  const client = clientArg(parsed)
  const setup = client.setup
  if (!setup) {
    const have = CLIENTS.filter((c) => c.setup).map((c) => c.name)
    throw usageError(`mrs setup writes a config file for ${have.join(', ')}; for ${client.name}, mrs env ${client.name} prints what to set`)
  }
  const out = new Output()
  const ctx = await clientContext(parsed, client, out)
  const file = setup.path(process.env)
  const text = setup.content(ctx, new URL(ctx.url).port || '80')
  if (parsed.options.dryRun) {
    process.stdout.write(text)
    return ExitCode.Ok
  }
  for (const w of setup.warnings?.(process.env) ?? []) out.warn(w)
  if (existsSync(file)) {
    const old = readFileSync(file, 'utf8')
    if (old === text) {
      out.info(`${file} is already up to date`)
      return ExitCode.Ok
    }
    const backup = `${file}.bak-${new Date().toISOString().replace(/[:.]/g, '-')}`
    copyFileSync(file, backup)
    out.info(`backed up the old file to ${backup}`)
  }
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    writeFileSync(file, text, { mode: 0o600 })
  } catch (e) {
    throw new MrsError(`cannot write ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, ExitCode.Failure)
  }
  out.info(`wrote ${file}; run: ${setup.usage}  (with a server at ${ctx.url})`)
  return ExitCode.Ok
}
