/**
 * The I/O a client adapter needs, done while the server loads: reading the
 * user's `--settings` for Claude, Codex's bundled model catalog (cached per
 * Codex binary), and loading execa. The adapters themselves stay pure.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createHash } from 'node:crypto'
import { usageError } from '../errors.js'
import type { ClientPlan } from '../plan.js'
import { privateDir, type Paths } from '../paths.js'
import { claudeLaunch, parseUserSettings, takeUserSettings, type ClaudeSettings } from './claude.js'
import { CATALOG_FILE, codexLaunch, pickCatalogEntry, type CatalogEntry } from './codex.js'
import type { ClientContext, ClientLaunch } from './types.js'

export interface PreparedClient {
  execa: Promise<typeof import('execa')>
  launch(ctx: ClientContext & { tmpDir: string }): ClientLaunch
}

interface PrepareContext {
  env: Record<string, string | undefined>
  paths: Paths
  cwd: string
}

/**
 * Starts the client's preparation. Problems with the user's own input (an
 * unreadable --settings file) are thrown here, synchronously, so they fail
 * before a server is started; the slow parts run in the returned promise.
 */
export function prepareClient(client: ClientPlan, ctx: PrepareContext): Promise<PreparedClient> {
  const execa = import('execa')
  execa.catch(() => {})
  if (client.name === 'claude') {
    const user = readUserSettings(client.userArgs, ctx.cwd)
    return Promise.resolve({ execa, launch: (c) => claudeLaunch(c, client.binary, user) })
  }
  return prepareCodex(client, ctx, execa)
}

async function prepareCodex(client: ClientPlan, ctx: PrepareContext, execa: PreparedClient['execa']): Promise<PreparedClient> {
  const base = await bundledCatalogEntry(client.binary, ctx.paths, ctx.env)
  return {
    execa,
    launch: (c) => codexLaunch(c, client.binary, base ? { path: join(c.tmpDir, CATALOG_FILE), base } : undefined),
  }
}

function readUserSettings(args: string[], cwd: string): ClaudeSettings | undefined {
  const { source } = takeUserSettings(args)
  if (source === undefined) return undefined
  if (source.trim().startsWith('{')) return parseUserSettings(source, 'JSON')
  const path = resolve(cwd, source)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw usageError(`cannot read --settings ${source} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  return parseUserSettings(text, source)
}

/**
 * Codex's own description of a model (with its system prompt), from
 * `codex debug models --bundled`. Cached by the binary's identity, since
 * running Codex costs ~70 ms; undefined if Codex cannot tell (then Codex
 * runs on its fallback metadata, as it would without mrs).
 */
export async function bundledCatalogEntry(binary: string, paths: Paths, env: Record<string, string | undefined>): Promise<CatalogEntry | undefined> {
  let identity: string
  try {
    const st = statSync(binary)
    identity = createHash('sha256').update(`${binary}:${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 16)
  } catch {
    return undefined
  }
  const cacheFile = join(paths.cacheDir, `codex-model-${identity}.json`)
  try {
    return JSON.parse(readFileSync(cacheFile, 'utf8')) as CatalogEntry
  } catch {
    // not cached yet
  }
  // an empty CODEX_HOME of our own: asking Codex must not touch the user's
  const probeHome = privateDir(join(paths.tmpRoot, `codex-probe-${process.pid}`))
  const stdout = await new Promise<string | undefined>((done) =>
    execFile(
      binary,
      ['debug', 'models', '--bundled'],
      { env: { ...env, CODEX_HOME: probeHome } as NodeJS.ProcessEnv, maxBuffer: 32 * 1024 * 1024, timeout: 20_000 },
      (error, out) => done(error ? undefined : out),
    ),
  )
  rmSync(probeHome, { recursive: true, force: true })
  if (!stdout) return undefined
  let entry: CatalogEntry | undefined
  try {
    entry = pickCatalogEntry((JSON.parse(stdout) as { models: CatalogEntry[] }).models)
  } catch {
    return undefined
  }
  if (entry) {
    try {
      mkdirSync(paths.cacheDir, { recursive: true, mode: 0o700 })
      writeFileSync(cacheFile, JSON.stringify(entry), { mode: 0o600 })
    } catch {
      // an unwritable cache only costs time
    }
  }
  return entry
}
