/** What every client adapter gets and returns: data in, data out, no I/O. */
import type { Env } from '../paths.js'

export interface ClientContext {
  /** The server's root URL, without /v1. */
  url: string
  /** Model ids to send: the main one and, for Claude, an optional small one. */
  ids: { main: string; small?: string }
  contextWindow?: number
  /** The server runs web search (`--web-search` / `--agent`). */
  webSearch: boolean
  /** Remote server behind a proxy: the variable holding the bearer token. */
  apiKeyEnv?: string
  /** The client's arguments as the user gave them. */
  userArgs: string[]
  /** mrs's own environment; the child's is derived from it. */
  env: Env
}

export interface ClientLaunch {
  command: string
  args: string[]
  /** The child's complete environment. */
  env: Record<string, string>
  /** Files to write into the session's private temp dir first (name → content). */
  files: Record<string, string>
}

/** Copies an environment, dropping unset values and the given keys. */
export function childEnv(env: Env, drop: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !drop.includes(k)) out[k] = v
  return out
}
