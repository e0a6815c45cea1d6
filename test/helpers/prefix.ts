// What two sessions of a real client share of their prompts, as the fake
// mistral.rs rendered them through a chat template (FAKE_MISTRALRS_RECORD_PROMPT):
// the figure the README states per client, and the server's prefix cache.
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { Sandbox } from './sandbox.js'
import { HEADLESS } from './headless.js'

export interface Prompt {
  text: string
  /** Its length before the first user message. */
  preUser: number
  tokens: number
  cachedTokens: number
}

/** The requests of the agent loop (those that carry tools; a title or a quota check carries none), in order. */
export const agentPrompts = (requests: Record<string, any>[]): Prompt[] =>
  requests.filter((r) => r.prompt?.text !== undefined && Array.isArray(r.body?.tools) && r.body.tools.length > 0).map((r) => r.prompt as Prompt)

/** How much of `a`'s part before the first user message `b` repeats byte for byte, in percent. */
export function sharedBeforeUser(a: Prompt, b: Prompt): number {
  let i = 0
  const n = Math.min(a.text.length, b.text.length, a.preUser)
  while (i < n && a.text.charCodeAt(i) === b.text.charCodeAt(i)) i++
  return (100 * i) / a.preUser
}

const hasGit = spawnSync('git', ['--version'], { stdio: 'ignore' }).status === 0
const git = (sb: Sandbox, ...args: string[]) =>
  spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: sb.work, env: { ...sb.env, GIT_CONFIG_NOSYSTEM: '1' }, stdio: 'ignore' })

/** The project the sessions run in: a git repository with a commit where git is installed (the clients show its status). */
export function project(sb: Sandbox): void {
  writeFileSync(join(sb.work, 'main.py'), 'print("hi")\n')
  if (!hasGit) return
  git(sb, 'init', '-q', '-b', 'main')
  git(sb, 'add', '.')
  git(sb, 'commit', '-qm', 'initial commit')
}

/** Work between two sessions: an edit and a commit. */
export function work(sb: Sandbox, n: number): void {
  writeFileSync(join(sb.work, 'main.py'), `print("hi")\nx = ${n}\n`)
  if (hasGit) git(sb, 'commit', '-qam', `change ${n}`)
}

/** Runs one headless session of the real client on the shared server; its agent prompts. */
export async function session(sb: Sandbox, client: keyof typeof HEADLESS, prompt: string): Promise<Prompt[]> {
  const before = sb.requests().length
  const result = await sb.run([client, '--', ...HEADLESS[client].ask(prompt)], { timeoutMs: 120_000 })
  expect(result.code, result.stderr).toBe(0)
  return agentPrompts(sb.requests().slice(before))
}
