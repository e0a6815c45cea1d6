/**
 * Running other programs, two ways:
 *   - `capture`: a one-shot question to a program (`mistralrs --version`, a
 *     client's version or model catalog, `nvidia-smi`), through execa, which
 *     brings the timeout, the output and, on Windows, npm's `.cmd` shims. None
 *     of these is on the way to a client that starts: each is cached or rare.
 *   - `runInherited`: the client itself, on the user's terminal. On the way
 *     to every launch, so plain `child_process.spawn` (loading execa costs
 *     ~30 ms, which an attach to a running server would wait for); execa on
 *     Windows, where a client is a `.cmd` shim that spawn cannot run.
 */
import { spawn } from 'node:child_process'
import type { Env } from '../paths.js'

export interface Captured {
  ok: boolean
  stdout: string
  stderr: string
  /** Why it failed: a spawn error, a timeout, or the first line of its stderr. */
  problem?: string
}

export async function capture(binary: string, args: string[], opts: { env: Env; timeoutMs: number; maxBuffer?: number }): Promise<Captured> {
  const { execa } = await import('execa')
  const r = await execa(binary, args, { env: opts.env as NodeJS.ProcessEnv, extendEnv: false, timeout: opts.timeoutMs, reject: false, stdin: 'ignore', maxBuffer: opts.maxBuffer ?? 8 * 1024 * 1024, stripFinalNewline: false })
  const stdout = String(r.stdout ?? '')
  const stderr = String(r.stderr ?? '')
  if (!r.failed) return { ok: true, stdout, stderr }
  const problem = r.timedOut ? `no answer within ${opts.timeoutMs / 1000} s` : stderr.trim().split('\n')[0] || (r.shortMessage ?? r.message)
  return { ok: false, stdout, stderr, problem }
}

export interface Exited {
  exitCode?: number
  signal?: NodeJS.Signals
  /** It could not be started at all (ENOENT, EACCES...). */
  error?: NodeJS.ErrnoException
}

/** Starts `command` on this terminal (stdio inherited); `exited` settles when it ends. */
export async function runInherited(command: string, args: string[], opts: { env?: Env; cwd?: string }): Promise<{ pid: number | undefined; exited: Promise<Exited> }> {
  if (process.platform === 'win32') return runWithExeca(command, args, opts)
  const child = spawn(command, args, { stdio: 'inherit', cwd: opts.cwd, env: (opts.env ?? process.env) as NodeJS.ProcessEnv })
  const exited = new Promise<Exited>((resolve) => {
    // an error of a child that started (a failed kill) is not its end
    child.once('error', (error) => child.pid === undefined && resolve({ error }))
    child.once('exit', (code, signal) => resolve(code !== null ? { exitCode: code } : { signal: signal ?? undefined }))
  })
  return { pid: child.pid, exited }
}

async function runWithExeca(command: string, args: string[], opts: { env?: Env; cwd?: string }): Promise<{ pid: number | undefined; exited: Promise<Exited> }> {
  const { execa } = await import('execa')
  const child = execa(command, args, { stdio: 'inherit', cwd: opts.cwd, env: opts.env as NodeJS.ProcessEnv | undefined, extendEnv: !opts.env, reject: false, cleanup: false })
  const exited = child.then((r): Exited => {
    if (r.failed && r.exitCode === undefined && !r.signal) return { error: Object.assign(new Error(r.shortMessage ?? r.message), { code: (r as { code?: string }).code }) }
    return r.exitCode !== undefined ? { exitCode: r.exitCode } : { signal: r.signal as NodeJS.Signals | undefined }
  })
  return { pid: child.pid, exited }
}
