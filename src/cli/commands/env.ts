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
import { maxOutputFor, shortName, type ClientModule, type EnvContext } from '../../clients/types.js'
import { findExecutable } from '../../process/which.js'
import { clientArg, resolveFor } from '../settings.js'
import type { Resolved } from '../../config/resolve.js'
import { chooseServed, keyHeaders, listModels, ownServerAt } from '../../server/remote.js'
import { nameOf } from '../../config/schema.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'
import type { ServerInfo } from '../../keeper/protocol.js'

/** The server to point a client at: --url, else --port on this machine, else a running mrs server, else mistralrs's default port; with its record when it is one of the user's own mrs servers. */
async function targetServer(url: string | undefined, port: number | undefined, out: Output): Promise<{ url: string; info?: ServerInfo }> {
  const paths = getPaths(process.env)
  if (url || port) {
    const target = url ?? `http://127.0.0.1:${port}`
    const info = await ownServerAt(target, paths)
    if (info) out.info(`${target} is the running mrs server ${info.id} (${info.models.join(', ')})`)
    return { url: target, info }
  }
  const running = (await listServers(paths, (m) => out.warn(m))).filter((s) => s.info.state === 'ready')
  const newest = running.at(-1)?.info
  if (newest) {
    out.info(`using the running mrs server ${newest.id} (${newest.models.join(', ')}) at ${newest.url}; pass --url to choose`)
    return { url: newest.url, info: newest }
  }
  out.info('no mrs server is running; assuming http://127.0.0.1:1234 (pass --url or --server-port to choose)')
  return { url: 'http://127.0.0.1:1234' }
}

/**
 * The model, as a launch chooses it: the one named (-m, MRS_MODEL, a preset),
 * else the running server's, else what the server at the URL lists, else the
 * config's (a server that does not answer yet).
 */
async function modelFor(resolved: Resolved, url: string, info: ServerInfo | undefined, out: Output): Promise<string> {
  const s = resolved.settings
  if (s.model && resolved.modelSource && resolved.modelSource !== 'config') return s.model
  if (info) return info.models[0]!
  const headers = keyHeaders(s.apiKeyEnv, process.env)
  const ids = await listModels(url, headers, s.apiKeyEnv, AbortSignal.timeout(10_000), resolved.origins).catch((e: unknown) => {
    const why = e instanceof Error ? e.message.replace(/;.*$/, '') : String(e)
    out.info(`no model list from ${url} now (${why}), so ${s.model ? `the config's model ${s.model} is named` : "the client will ask for the server's default model"}`)
    return undefined
  })
  if (!ids) return s.model ?? 'default'
  const { model, why } = chooseServed(url, ids, s.model && ids.includes(s.model) ? s.model : undefined)
  out.info(`the server at ${url} serves ${model}${why ? ` (${why})` : ''}`)
  return model
}

async function clientContext(parsed: ParsedArgs, client: ClientModule, out: Output): Promise<EnvContext> {
  const resolved = await resolveFor(parsed, 'env')
  const s = resolved.settings
  const { url, info } = await targetServer(s.url, s.port, out)
  const model = await modelFor(resolved, url, info, out)
  // the running server's second model is for clients with a slot for one; the others use its first
  const small = s.smallModel ?? (client.smallModelSlot ? info?.models[1] : undefined)
  if (small && !client.smallModelSlot) throw usageError(`${nameOf(resolved.origins, 'smallModel')}: ${client.title} has no slot for a second model; leave it out`)
  const contextWindow = s.context ?? (info?.models[0] === model ? info.contextWindow : undefined) ?? (model !== 'default' ? localContextWindow(model, process.env).tokens : undefined)
  const paths = getPaths(process.env)
  // what the client itself can tell (a description of the model it knows, say), when it is installed
  const binary = findExecutable(client.binary, process.env)
  const prepared = binary && client.prepare ? await client.prepare({ binary, userArgs: [], env: process.env, cwd: process.cwd(), cacheDir: paths.cacheDir, stateDir: paths.stateDir, tmpRoot: paths.tmpRoot }).catch(() => undefined) : undefined
  return {
    url,
    model: { id: model, name: shortName(model) },
    smallModel: small ? { id: small, name: shortName(small) } : undefined,
    contextWindow,
    maxOutput: maxOutputFor(contextWindow),
    webSearch: s.webSearch || s.agent,
    apiKeyEnv: s.apiKeyEnv,
    env: process.env,
    prepared,
    cacheDir: paths.cacheDir,
  }
}

/** Writes files an output names (0600, their dir private when mrs makes it). */
function writeFiles(files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      writeFileSync(path, text, { mode: 0o600 })
    } catch (e) {
      throw new MrsError(`cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, ExitCode.Failure)
    }
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
  writeFiles(client.env.files?.(ctx, format) ?? {})
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
  const files = setup.files?.(ctx) ?? {}
  const current = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined)
  if (current(file) === text && Object.entries(files).every(([path, content]) => current(path) === content)) {
    out.info(`${file} is already up to date`)
    return ExitCode.Ok
  }
  // one backup, of the file as it was before mrs last changed it: running setup again does not pile them up
  const old = current(file)
  if (old !== undefined && old !== text) {
    const backup = `${file}.bak`
    copyFileSync(file, backup)
    out.info(`backed up the old file to ${backup}`)
  }
  writeFiles({ ...files, [file]: text })
  out.info(`wrote ${file}; run: ${setup.usage}  (with a server at ${ctx.url})${Object.keys(files).length ? `; beside it: ${Object.keys(files).join(', ')}` : ''}`)
  return ExitCode.Ok
}
