import { readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** Compares dotted versions (`0.9.2`, `2.1.197`): negative, zero or positive, like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}

/** The first `x.y.z` in a program's `--version` output. */
export const versionIn = (text: string): string | undefined => /(\d+\.\d+\.\d+)/.exec(text)?.[1]

/** The version of an npm-installed program, from the package.json above its real path (no process started); else undefined. */
export function npmPackageVersion(binary: string, npmPackage: string): string | undefined {
  try {
    for (let dir = dirname(realpathSync(binary)); dirname(dir) !== dir; dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === npmPackage && pkg.version) return pkg.version
      } catch {
        // no package.json here
      }
    }
  } catch {
    // not resolvable
  }
  return undefined
}
