/**
 * The installed mistralrs's version (`mistralrs --version` → `mistralrs 0.9.2`),
 * cached by the binary's identity: `--quant auto` is passed only to a
 * mistral.rs that has it, and asking costs a process start.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { versionIn } from '../version.js'

export async function mistralrsVersion(binary: string, cacheDir: string, env: Record<string, string | undefined>): Promise<string | undefined> {
  let file: string | undefined
  try {
    const st = statSync(binary)
    file = join(cacheDir, `mistralrs-version-${createHash('sha256').update(`${binary}:${st.size}:${st.mtimeMs}`).digest('hex').slice(0, 16)}`)
    const cached = readFileSync(file, 'utf8').trim()
    if (cached) return cached
  } catch {
    // not cached yet
  }
  const version = await new Promise<string | undefined>((resolve) =>
    execFile(binary, ['--version'], { timeout: 10_000, env: env as NodeJS.ProcessEnv }, (error, stdout) => resolve(error ? undefined : versionIn(String(stdout)))),
  )
  if (version && file) {
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
      writeFileSync(file, version, { mode: 0o600 })
    } catch {
      // an unwritable cache only costs time
    }
  }
  return version
}
