/**
 * What another local user runs in a test (the fake mistralrs as the `--on`
 * host's, the impostor as `nobody`) cannot be run from the checkout: a
 * checkout in a private directory (0700, `/root/src/mrs`) is closed to them.
 * This copies those fixtures, with what they import, into a world-readable
 * directory under /tmp, named by their content (so concurrent runs of one
 * checkout share it and a changed fixture gets a new one):
 *
 *   <dir>/package.json                  {"type":"module"}: the fake is an ES module without an extension
 *   <dir>/bin/mistralrs                 the fake
 *   <dir>/mistralrs/*.mjs               its command line and request types
 *   <dir>/node_modules/smol-toml/       what they import
 *   <dir>/impostor.cjs
 */
import { createHash } from 'node:crypto'
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FAKE_BIN, ROOT } from './sandbox.js'

const FIXTURES = join(ROOT, 'test', 'fixtures')

/** Files (relative path in the shared dir → where it comes from). */
function sources(): Record<string, string> {
  const files: Record<string, string> = { 'bin/mistralrs': join(FAKE_BIN, 'mistralrs'), 'impostor.cjs': join(FIXTURES, 'impostor.cjs') }
  for (const name of readdirSync(join(FIXTURES, 'mistralrs'))) files[`mistralrs/${name}`] = join(FIXTURES, 'mistralrs', name)
  return files
}

let made: string | undefined

/** The shared copy (made once per content), readable and runnable by every user. */
export function sharedFixtures(): string {
  if (made && existsSync(made)) return made
  const files = sources()
  const hash = createHash('sha256')
  for (const [rel, from] of Object.entries(files).sort()) hash.update(rel).update(readFileSync(from))
  const dir = `/tmp/mrs-test-fixtures-${hash.digest('hex').slice(0, 12)}`
  if (!existsSync(dir)) {
    const making = `${dir}.${process.pid}.tmp`
    rmSync(making, { recursive: true, force: true })
    mkdirSync(making, { recursive: true, mode: 0o755 })
    writeFileSync(join(making, 'package.json'), '{ "type": "module" }\n')
    for (const [rel, from] of Object.entries(files)) {
      mkdirSync(join(making, rel, '..'), { recursive: true, mode: 0o755 })
      writeFileSync(join(making, rel), readFileSync(from))
      chmodSync(join(making, rel), rel.startsWith('bin/') ? 0o755 : 0o644)
    }
    cpSync(join(ROOT, 'node_modules', 'smol-toml'), join(making, 'node_modules', 'smol-toml'), { recursive: true })
    openUp(making)
    try {
      renameSync(making, dir)
    } catch {
      // another run made it first: theirs has the same content
      rmSync(making, { recursive: true, force: true })
    }
  }
  made = dir
  return dir
}

/** Every dir 0755 and file at least 0644, whatever the umask was. */
function openUp(dir: string): void {
  chmodSync(dir, 0o755)
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) openUp(path)
    else if (entry.isFile() && !path.includes('/bin/')) chmodSync(path, 0o644)
  }
}
