/**
 * Server log files: `$XDG_STATE_HOME/mrs/logs/<time>-<model>-<id>.log`,
 * newest 20 kept. A log directory that cannot be written is not fatal:
 * the server still runs, and the caller warns once.
 */
import { openSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { privateDir } from '../paths.js'

export const KEEP_LOGS = 20

export interface OpenedLog {
  path: string
  fd: number
}

/** The model's part of a log's name: `Qwen/Qwen3-4B` → `Qwen_Qwen3-4B`. */
export const logSlug = (model: string) => model.replace(/[^\w.-]+/g, '_').slice(-60)

export function openServerLog(logDir: string, id: string, model: string, now = new Date()): OpenedLog {
  privateDir(logDir)
  const stamp = now.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19)
  const path = join(logDir, `${stamp}-${logSlug(model)}-${id}.log`)
  const fd = openSync(path, 'a', 0o600)
  pruneLogs(logDir)
  return { path, fd }
}

/** Removes all but the newest `keep` logs. */
export function pruneLogs(logDir: string, keep = KEEP_LOGS): void {
  try {
    const logs = readdirSync(logDir)
      .filter((n) => n.endsWith('.log'))
      .map((n) => {
        const path = join(logDir, n)
        return { path, mtime: statSync(path).mtimeMs }
      })
      .sort((a, b) => b.mtime - a.mtime)
    for (const old of logs.slice(keep)) rmSync(old.path, { force: true })
  } catch {
    // pruning is housekeeping; never fail a launch over it
  }
}
