/**
 * Loads the CLI bundle (dist/mrs.cjs) with V8's code cache, so a launch does
 * not compile mrs again on every start: compiling the bundle was the largest
 * part of the time before `main` (Node 22 has module.enableCompileCache for
 * this; Node 20 does not). The cache is written once, when the process
 * exits, so it holds the functions that run actually compiled; V8 rejects a
 * cache made by another Node, another bundle or a damaged file, and then this
 * run compiles as usual and writes a fresh one.
 *
 * A code cache is code: it is read only from a directory that is the user's
 * own and closed to others (the same rule as mrs's state dirs). Anything
 * else, or any error, means no cache, never a failed start.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Script } from 'node:vm'
import { getPaths, type Env } from '../paths.js'
import { likelyToStartServer, startSpareKeeper, type SpareKeeper } from '../server/keeper-process.js'
import { digest } from '../hash.js'

/** The cache file for this bundle on this Node, or undefined when the cache dir is not safe to use. */
export function codeCachePath(bundle: string, env: Env): string | undefined {
  const dir = join(getPaths(env).cacheDir, 'code')
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (const d of [dirname(dir), dir]) {
      const st = lstatSync(d)
      const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
      if (!st.isDirectory() || (uid !== undefined && (st.uid !== uid || (st.mode & 0o077) !== 0))) return undefined
    }
    const st = statSync(bundle)
    const key = digest(`${bundle}\0${st.size}\0${st.mtimeMs}\0${process.version}\0${process.arch}`)
    return join(dir, `mrs-${key}.v8`)
  } catch {
    return undefined
  }
}

/** Evaluates a CommonJS bundle as `require` would, with its code cache; returns its exports. */
export function loadWithCodeCache(bundle: string, env: Env): Record<string, unknown> {
  const source = readFileSync(bundle, 'utf8')
  const cacheFile = codeCachePath(bundle, env)
  let cachedData: Buffer | undefined
  try {
    if (cacheFile) cachedData = readFileSync(cacheFile)
  } catch {
    // first run of this bundle on this Node
  }
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData })
  if (cacheFile && (!cachedData || script.cachedDataRejected)) process.once('exit', () => saveCodeCache(script, cacheFile))
  const mod = { exports: {} as Record<string, unknown> }
  ;(script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle))
  return mod.exports
}

/** Writes the cache (atomically, 0600) and removes those of older bundles. */
function saveCodeCache(script: Script, cacheFile: string): void {
  try {
    const dir = dirname(cacheFile)
    for (const name of readdirSync(dir)) if (name.startsWith('mrs-') && join(dir, name) !== cacheFile) rmSync(join(dir, name), { force: true })
    const tmp = `${cacheFile}.${process.pid}.tmp`
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 })
    renameSync(tmp, cacheFile)
  } catch {
    // an unwritable cache only costs time
  }
}

/** The commands that start a server (the clients', serve, check): set at build time, as the registry is not loaded here. */
declare const __LAUNCH_COMMANDS__: string[]

export function boot(argv: string[]): void {
  // a keeper started now boots while mrs loads and plans (see src/server/keeper-process.ts)
  const spare = likelyToStartServer(argv, process.env, __LAUNCH_COMMANDS__) ? startSpareKeeper(process.env) : undefined
  const mrs = loadWithCodeCache(join(__dirname, 'mrs.cjs'), process.env) as { main: (argv: string[]) => Promise<void>; adoptSpareKeeper: (k: SpareKeeper | undefined) => void }
  mrs.adoptSpareKeeper(spare)
  void mrs.main(argv)
}
