/**
 * `mrs __complete KIND`: what the completion scripts (`mrs completion`) ask
 * at TAB time, one word a line:
 *   - `models`: the model ids `-m` takes — the Hugging Face cache, the
 *     running servers' models and the recommended list (what `mrs models`
 *     lists);
 *   - `servers`: the running servers' ids (what `mrs ps` lists), for
 *     `mrs stop` and `mrs logs`.
 * A TAB that waits is worse than none, so this is a bundle of its own
 * (dist/complete.cjs) that bin/mrs.cjs runs without loading mrs; it reads a
 * bounded number of local files, asks no server, repairs nothing, and is
 * silent on errors: a completion that fails offers nothing.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { hubCacheDir } from '../hf.js'
import { getPaths, type Env } from '../paths.js'
import { isKeeper, readEntry } from '../server/registry.js'
import type { ServerInfo } from '../keeper/protocol.js'
import { RECOMMENDED } from '../models/recommended.js'

/** More than anyone keeps; past this a TAB would only get slower. */
const MAX_CACHE_ENTRIES = 2000
const MAX_SERVERS = 64

/**
 * Only a word a shell takes literally is offered: bash's `compgen -W`
 * expands what it is given (`$(…)`, `~`, `*`), and a directory name in the
 * cache is anyone's to choose. A Hugging Face id or a plain path passes.
 */
const SAFE_WORD = /^[A-Za-z0-9_./][A-Za-z0-9_./-]{0,199}$/

function cachedIds(env: Env): string[] {
  try {
    return readdirSync(hubCacheDir(env))
      .slice(0, MAX_CACHE_ENTRIES)
      .filter((name) => name.startsWith('models--'))
      .map((name) => name.slice('models--'.length).replace(/--/g, '/'))
  } catch {
    return []
  }
}

/** The live servers in the registry, as `mrs ps` finds them; a stale entry is left for mrs itself to repair. */
async function runningServers(env: Env): Promise<ServerInfo[]> {
  const paths = getPaths(env)
  let names: string[]
  try {
    names = readdirSync(paths.serversDir).filter((n) => n.endsWith('.json')).slice(0, MAX_SERVERS)
  } catch {
    return []
  }
  const entries = names.map((name) => readEntry(join(paths.serversDir, name), paths)).filter((e): e is ServerInfo => typeof e === 'object')
  // where no command line can be read (Windows) a keeper is asked, for up to a second: all at once, not one after another
  const proved = await Promise.all(entries.map((e) => isKeeper(e).catch(() => false)))
  return entries.filter((_, i) => proved[i]).sort((a, b) => a.startedAt - b.startedAt)
}

export async function completionWords(kind: string | undefined, env: Env): Promise<string[]> {
  if (kind === 'models') {
    const running = (await runningServers(env)).flatMap((s) => s.models)
    return [...new Set([...cachedIds(env), ...running, ...RECOMMENDED.map((r) => r.id)])].filter((w) => SAFE_WORD.test(w))
  }
  if (kind === 'servers') return (await runningServers(env)).map((s) => s.id)
  return []
}

export async function complete(argv: string[]): Promise<void> {
  try {
    const words = await completionWords(argv[0], process.env)
    process.stdout.write(words.map((w) => `${w}\n`).join(''))
  } catch {
    // nothing to offer
  }
}
