/**
 * The installed mistralrs's version (`mistralrs --version` → `mistralrs 0.9.2`),
 * cached by the binary's identity: `--quant auto` is passed only to a
 * mistral.rs that has it, and asking costs a process start.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { capture } from '../process/run.js'
import { versionIn } from '../version.js'
import { digest } from '../hash.js'

export async function mistralrsVersion(binary: string, cacheDir: string, env: Record<string, string | undefined>): Promise<string | undefined> {
  let file: string | undefined
  try {
    const st = statSync(binary)
    file = join(cacheDir, `mistralrs-version-${digest(`${binary}:${st.size}:${st.mtimeMs}`)}`)
    const cached = readFileSync(file, 'utf8').trim()
    if (cached) return cached
  } catch {
    // not cached yet
  }
  const answer = await capture(binary, ['--version'], { env, timeoutMs: 10_000 })
  const version = answer.ok ? versionIn(answer.stdout) : undefined
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
