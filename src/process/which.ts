/** Finds an executable the way a shell would: a path as given, or the first match on PATH. */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve } from 'node:path'

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false
    if (process.platform !== 'win32') accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export function findExecutable(name: string, env: Record<string, string | undefined>, cwd = process.cwd()): string | undefined {
  const exts = process.platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';')] : ['']
  if (name.includes('/') || (process.platform === 'win32' && name.includes('\\'))) {
    const full = isAbsolute(name) ? name : resolve(cwd, name)
    return exts.map((e) => full + e).find(isExecutableFile)
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    for (const ext of exts) {
      const candidate = join(dir, name + ext)
      if (isExecutableFile(candidate)) return candidate
    }
  }
  return undefined
}
