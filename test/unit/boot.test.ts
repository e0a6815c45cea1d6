// Loading the CLI and keeper bundles with V8's code cache (src/code-cache.ts). Protects:
// the bundle runs the same with and without a cache; the cache is written
// once (0600) and then used; a damaged cache is replaced, not fatal; a cache
// dir that is not the user's own and closed is never read (a code cache is
// code); the keeper keeps its own cache beside mrs's.
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { cachedPayload, codeCachePath, readCodeCache } from '../../src/code-cache.js'
import { tempDir } from '../helpers/tmp.js'
import { ROOT } from '../helpers/sandbox.js'

/** A bundle that reports whether its cache was used, loaded in a fresh node through the built boot.cjs. */
function load(dir: string, cacheHome: string) {
  const bundle = join(dir, 'bundle.cjs')
  if (!existsSync(bundle)) writeFileSync(bundle, `exports.answer = (function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) })(20)\nexports.dir = __dirname\n`)
  // the key the build computes for dist/mrs.cjs: a hash of the content
  const key = createHash('sha256').update(readFileSync(bundle)).digest('hex')
  const script = `const { loadWithCodeCache } = require(${JSON.stringify(join(ROOT, 'dist', 'boot.cjs'))}); const m = loadWithCodeCache(${JSON.stringify(bundle)}, process.env, ${JSON.stringify(key)}); console.log(JSON.stringify(m))`
  const r = spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: cacheHome }, encoding: 'utf8', timeout: 10_000 })
  // a damaged cache handed to V8 kills the process with SIGSEGV or SIGTRAP: that must never happen
  expect(r.signal, r.stderr).toBeNull()
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { answer: number; dir: string }
}
const cacheFiles = (cacheHome: string) => (existsSync(join(cacheHome, 'mrs', 'code')) ? readdirSync(join(cacheHome, 'mrs', 'code')).filter((n) => n.endsWith('.v8')) : [])

describe('the code cache', () => {
  it('is written once, 0600, and the bundle runs the same with it', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    expect(load(dir, cacheHome)).toEqual({ answer: 6765, dir })
    const [file] = cacheFiles(cacheHome)
    expect(file).toMatch(/^mrs-[0-9a-f]{16}\.v8$/)
    const path = join(cacheHome, 'mrs', 'code', file!)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const written = statSync(path).mtimeMs
    expect(load(dir, cacheHome)).toEqual({ answer: 6765, dir })
    // used, not rewritten
    expect(statSync(path).mtimeMs).toBe(written)
  })

  it('a damaged cache is replaced, and the bundle still runs', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    load(dir, cacheHome)
    const path = join(cacheHome, 'mrs', 'code', cacheFiles(cacheHome)[0]!)
    writeFileSync(path, 'not a V8 code cache')
    expect(load(dir, cacheHome).answer).toBe(6765)
    expect(statSync(path).size).toBeGreaterThan(100)
  })

  it('a cache damaged inside its payload (64 zeroed bytes) is never handed to V8, and is written again', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    load(dir, cacheHome)
    const path = join(cacheHome, 'mrs', 'code', cacheFiles(cacheHome)[0]!)
    const good = readFileSync(path)
    expect(readCodeCache(good)).toBeDefined()
    const damaged = Buffer.from(good)
    damaged.fill(0, Math.floor(good.length / 2), Math.floor(good.length / 2) + 64)
    writeFileSync(path, damaged)
    expect(readCodeCache(damaged)).toBeUndefined()
    for (let i = 0; i < 3; i++) expect(load(dir, cacheHome).answer).toBe(6765)
    expect(readCodeCache(readFileSync(path))).toBeDefined()
  })

  it('is checked once: its stamp (inode, size, times) says so until anything writes to it', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    load(dir, cacheHome)
    const path = join(cacheHome, 'mrs', 'code', cacheFiles(cacheHome)[0]!)
    // the writer stamped it: a payload whose checksum would not match is taken on the stamp's word...
    const wrongSum = readFileSync(path)
    wrongSum.writeUInt32LE((wrongSum.readUInt32LE(4) + 1) >>> 0, 4)
    expect(readFileSync(`${path}.ok`, 'utf8')).toMatch(/^\d+:\d+:\d+:\d+:\d+$/)
    writeFileSync(path, wrongSum)
    expect(cachedPayload(path)).toBeUndefined() // the write changed its times: checked, and refused
    const st = statSync(path, { bigint: true })
    writeFileSync(`${path}.ok`, `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`)
    expect(cachedPayload(path)).toBeDefined() // ...as long as the stamp is the file's own
  })

  it('a changed bundle of the same size and time runs its own code, not the old cache\'s', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    const bundle = join(dir, 'bundle.cjs')
    writeFileSync(bundle, 'exports.answer = (function f(n) { return n < 2 ? n : f(n - 1) + f(n - 2) })(10)\nexports.dir = __dirname\n')
    const { mtime } = statSync(bundle)
    expect(load(dir, cacheHome).answer).toBe(55)
    writeFileSync(bundle, 'exports.answer = (function f(n) { return n < 2 ? n : f(n - 1) + f(n - 2) })(11)\nexports.dir = __dirname\n')
    utimesSync(bundle, mtime, mtime)
    expect(load(dir, cacheHome).answer).toBe(89)
  })

  it('a new bundle gets its own cache, and the old one is removed', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    load(dir, cacheHome)
    const before = cacheFiles(cacheHome)
    writeFileSync(join(dir, 'bundle.cjs'), 'exports.answer = 1\nexports.dir = __dirname\n')
    expect(load(dir, cacheHome).answer).toBe(1)
    const after = cacheFiles(cacheHome)
    expect(after).toHaveLength(1)
    expect(after).not.toEqual(before)
  })

  it('the keeper (dist/keeper.cjs) has its own: written by its first run, used by the next, and mrs\'s is left alone', () => {
    const dir = tempDir('mrs-boot-')
    const cacheHome = join(dir, 'cache')
    load(dir, cacheHome)
    const mrsCache = cacheFiles(cacheHome)
    // a keeper whose mrs went away before its configuration: it says so and exits 1
    const keeper = () => {
      const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'keeper.cjs'), 'mrs-keeper', 'deadbeef'], { env: { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: cacheHome }, input: '', encoding: 'utf8', timeout: 10_000 })
      expect(r.signal, r.stderr).toBeNull()
      expect(r.stderr).toBe('[mrs keeper] mrs went away before sending the keeper its configuration\n')
      expect(r.status).toBe(1)
    }
    keeper()
    const kept = cacheFiles(cacheHome).filter((f) => f.startsWith('keeper-'))
    expect(kept).toEqual([expect.stringMatching(/^keeper-[0-9a-f]{16}\.v8$/)])
    const path = join(cacheHome, 'mrs', 'code', kept[0]!)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const written = statSync(path).mtimeMs
    keeper()
    expect(statSync(path).mtimeMs).toBe(written)
    expect(cacheFiles(cacheHome).filter((f) => f.startsWith('mrs-'))).toEqual(mrsCache)
  })

  it('is not used from a directory open to others, or one that is a symlink', () => {
    const dir = tempDir('mrs-boot-')
    const bundle = join(dir, 'bundle.cjs')
    writeFileSync(bundle, '')
    const open = join(dir, 'open')
    mkdirSync(join(open, 'mrs', 'code'), { recursive: true })
    chmodSync(join(open, 'mrs'), 0o777)
    expect(codeCachePath('key', { XDG_CACHE_HOME: open })).toBeUndefined()
    const elsewhere = join(dir, 'elsewhere')
    mkdirSync(join(elsewhere, 'code'), { recursive: true, mode: 0o700 })
    mkdirSync(join(dir, 'linked'))
    symlinkSync(elsewhere, join(dir, 'linked', 'mrs'))
    expect(codeCachePath('key', { XDG_CACHE_HOME: join(dir, 'linked') })).toBeUndefined()
    expect(codeCachePath('key', { XDG_CACHE_HOME: join(dir, 'fine') })).toMatch(/mrs-[0-9a-f]{16}\.v8$/)
  })
})
