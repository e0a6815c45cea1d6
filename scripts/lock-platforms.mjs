// npm records a package's optional per-platform binaries (opencode-darwin-arm64,
// @teddyzhu/clipboard-win32-x64-msvc, ...) in package-lock.json only when it can
// fetch their metadata; the registry mirror this project is built against has
// only those for linux-x64, and `npm ci` then refuses the lock as out of sync.
// This adds the missing entries, with the os/cpu/libc their names say, so that
// `npm ci` skips them on other platforms as it would with complete metadata.
// Run it after `npm install` changes the lock: node scripts/lock-platforms.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
const packages = lock.packages
const platform = (name) => {
  const os = /darwin/.test(name) ? 'darwin' : /win32|windows/.test(name) ? 'win32' : /linux/.test(name) ? 'linux' : /freebsd/.test(name) ? 'freebsd' : undefined
  const cpu = /arm64|aarch64/.test(name) ? 'arm64' : /x64|x86_64/.test(name) ? 'x64' : /ia32|x86/.test(name) ? 'ia32' : undefined
  const libc = os === 'linux' ? (/musl/.test(name) ? 'musl' : 'glibc') : undefined
  return { os, cpu, libc }
}
let added = 0
for (const [where, entry] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `${where.slice(0, where.lastIndexOf('node_modules/') + 'node_modules/'.length) || 'node_modules/'}${dep}`
    if (packages[at] || packages[`node_modules/${dep}`]) continue
    const { os, cpu, libc } = platform(dep)
    if (!os || !cpu) continue
    packages[`node_modules/${dep}`] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : {}) }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`package-lock.json: added ${added} platform entr${added === 1 ? 'y' : 'ies'}`)
