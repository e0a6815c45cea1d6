/**
 * Loads a CommonJS bundle (dist/mrs.cjs, the CLI; dist/keeper-main.cjs, the
 * keeper) with V8's code cache, so a start does not compile it again every
 * time: compiling the bundle was the largest part of the time before `main`
 * (Node 22 has module.enableCompileCache for this; Node 20 does not). The
 * cache is written once, when the process exits, so it holds the functions
 * that run actually compiled.
 *
 * Release V8 trusts a cache's payload: a damaged one (a few zeroed bytes)
 * crashes the process, and it checks the source only by its length. So:
 *   - the cache is keyed by the bundle's content (a hash computed when the
 *     bundle is built), not its size and time, which an edit can keep;
 *   - the file carries its own checksum (FNV-1a over its 32-bit words),
 *     checked before V8 sees a byte of it; a cache that does not match is
 *     not used, and is written again. Checking costs ~2 ms and, through the
 *     JIT the loop wakes, ~4 MB of memory, so it is done once per file: a
 *     stamp beside it records the file's identity (inode, size, mtime and
 *     ctime, to the nanosecond) when it was checked, and while they are the
 *     same nobody has written to it since.
 *
 * A code cache is code: it is read only from a directory that is the user's
 * own and closed to others (the same rule as mrs's state dirs). Anything
 * else, or any error, means no cache, never a failed start.
 */
import { closeSync, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from 'node:fs'
import Module, { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Script } from 'node:vm'
import { getPaths, type Env } from './paths.js'
import { digest } from './hash.js'

/** The cache file for the bundle `name` (by its content key) on this Node, or undefined when the cache dir is not safe to use. */
export function codeCachePath(contentKey: string, env: Env, name = 'mrs'): string | undefined {
  const dir = join(getPaths(env).cacheDir, 'code')
  try {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (const d of [dirname(dir), dir]) {
      const st = lstatSync(d)
      const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
      if (!st.isDirectory() || (uid !== undefined && (st.uid !== uid || (st.mode & 0o077) !== 0))) return undefined
    }
    return join(dir, `${name}-${digest(`${contentKey}\0${process.version}\0${process.arch}`)}.v8`)
  } catch {
    return undefined
  }
}

/** The file's first bytes: a magic word, then the payload's checksum. */
const MAGIC = 0x4352534d // 'MSRC'
const HEADER = 8

/** FNV-1a over the 32-bit words of `data` (its last 0-3 bytes one by one). */
export function checksum(data: Uint8Array): number {
  const words = data.byteOffset % 4 === 0 ? new Int32Array(data.buffer, data.byteOffset, data.length >> 2) : new Int32Array(Uint8Array.from(data).buffer, 0, data.length >> 2)
  let h = 0x811c9dc5
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193)
  for (let i = words.length * 4; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193)
  return h >>> 0
}

/** The V8 payload of a cache file, or undefined when the file is not one of ours or was damaged. */
export function readCodeCache(file: Buffer, checked = false): Buffer | undefined {
  if (file.length <= HEADER || file.readUInt32LE(0) !== MAGIC) return undefined
  const payload = file.subarray(HEADER)
  return checked || checksum(payload) === file.readUInt32LE(4) ? payload : undefined
}

/** What a write to the file, or another file in its place, changes. */
const stampOf = (st: BigIntStats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
const stampPath = (cacheFile: string) => `${cacheFile}.ok`

/** The cache's payload: checked against its checksum unless it was, unchanged since (its stamp); undefined if it is damaged or missing. */
export function cachedPayload(cacheFile: string): Buffer | undefined {
  let fd: number | undefined
  try {
    // the stamp and the bytes of one and the same file
    fd = openSync(cacheFile, 'r')
    const stamp = stampOf(fstatSync(fd, { bigint: true }))
    const file = readFileSync(fd)
    let checked = false
    try {
      checked = readFileSync(stampPath(cacheFile), 'utf8') === stamp
    } catch {
      // never checked
    }
    const payload = readCodeCache(file, checked)
    if (payload && !checked) writeStamp(cacheFile, stamp)
    return payload
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function writeStamp(cacheFile: string, stamp: string): void {
  try {
    writeFileSync(stampPath(cacheFile), stamp, { mode: 0o600 })
  } catch {
    // checked again next time
  }
}

/** Evaluates a CommonJS bundle as `require` would, with its code cache (named `name`); returns its exports. */
export function loadWithCodeCache(bundle: string, env: Env, contentKey: string, name = 'mrs'): Record<string, unknown> {
  const source = readFileSync(bundle, 'utf8')
  const cacheFile = codeCachePath(contentKey, env, name)
  // none on the first run of this bundle on this Node
  const cachedData = cacheFile ? cachedPayload(cacheFile) : undefined
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData })
  if (cacheFile && (!cachedData || script.cachedDataRejected)) process.once('exit', () => saveCodeCache(script, cacheFile, name))
  const mod = { exports: {} as Record<string, unknown> }
  ;(script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle))
  return mod.exports
}

/** Writes the cache (atomically, 0600, with its checksum) and removes those of the bundle's older builds. */
function saveCodeCache(script: Script, cacheFile: string, name: string): void {
  try {
    const dir = dirname(cacheFile)
    for (const file of readdirSync(dir)) if (file.startsWith(`${name}-`) && join(dir, file) !== cacheFile && join(dir, file) !== stampPath(cacheFile)) rmSync(join(dir, file), { force: true })
    const payload = script.createCachedData()
    const header = Buffer.alloc(HEADER)
    header.writeUInt32LE(MAGIC, 0)
    header.writeUInt32LE(checksum(payload), 4)
    const tmp = `${cacheFile}.${process.pid}.tmp`
    writeFileSync(tmp, Buffer.concat([header, payload]), { mode: 0o600 })
    renameSync(tmp, cacheFile)
    // written and checksummed here: the next run need not check it again
    writeStamp(cacheFile, stampOf(statSync(cacheFile, { bigint: true })))
  } catch {
    // an unwritable cache only costs time
  }
}

