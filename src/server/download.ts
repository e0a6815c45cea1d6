/**
 * mistral.rs draws download progress bars only on a terminal, and its output
 * is a pipe here, so mrs measures progress itself: the bytes in the model's
 * Hugging Face cache directory, growing while the server downloads.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { hubCacheDir, repoCacheDir } from '../hf.js'

export function cachedBytes(modelId: string, env: Record<string, string | undefined>): number {
  const blobs = join(repoCacheDir(hubCacheDir(env), modelId), 'blobs')
  let total = 0
  try {
    for (const name of readdirSync(blobs)) {
      try {
        total += statSync(join(blobs, name)).size
      } catch {
        // renamed from .part meanwhile
      }
    }
  } catch {
    return 0
  }
  return total
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 ** 2) return `${Math.round(bytes / 1024)} KB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(0)} MB`
  return `${(bytes / 1024 ** 3).toFixed(1)} GB`
}
