/**
 * Runs a Plan: get a server (start, attach, or check a remote one), wait
 * until it is ready, run the client, and tear down on every path. What
 * happens on Ctrl-C, SIGTERM or SIGHUP is decided here, in one place:
 *   - while starting: abort, stop the server (if no one else uses it), exit 128+N;
 *   - while the client runs: SIGINT is the client's (the terminal sent it
 *     there too); SIGTERM/SIGHUP are forwarded, the client gets the grace
 *     period to exit, then its whole tree is killed; exit 128+N;
 *   - always: release the lease; when it was the last, wait until the server is gone.
 */
import { randomBytes } from 'node:crypto'
import { constants as osConstants } from 'node:os'
import { readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { AbortedBySignal, ExitCode, MrsError, signalExitCode, type ForwardedSignal } from './errors.js'
import type { Output } from './cli/output.js'
import { formatDuration } from './duration.js'
import { getJson, modelIds } from './http.js'
import type { KeeperEvent, ServerInfo } from './keeper/protocol.js'
import { type Paths, privateDir } from './paths.js'
import type { ClientPlan, LocalServerPlan, Plan, RemoteServerPlan } from './plan.js'
import { realKillDeps, stopTree } from './process/kill.js'
import { isAlive } from './process/proc.js'
import type { SignalHub } from './process/signals.js'
import { acquireServer, type ServerHandle } from './server/connect.js'
import { cachedBytes, formatBytes } from './server/download.js'
import { webSearchOn } from './server/spec.js'
import { prepareClient, type PreparedClient } from './clients/prepare.js'
import type { ClientLaunch } from './clients/types.js'
import { registryPath } from './server/registry.js'
import { mark } from './trace.js'

export interface SessionContext {
  env: Record<string, string | undefined>
  paths: Paths
  out: Output
  signals: SignalHub
  cwd: string
}

/** The server a client talks to, once it is ready. */
interface ReadyServer {
  url: string
  ids: { main: string; small?: string }
  webSearch: boolean
  handle?: ServerHandle
}

export async function runPlan(plan: Plan, ctx: SessionContext): Promise<number> {
  for (const w of plan.warnings) ctx.out.warn(w)
  const abort = new AbortController()
  ctx.signals.set((signal) => abort.abort(new AbortedBySignal(signal)))
  let handle: ServerHandle | undefined
  let tmpDir: string | undefined
  try {
    mark('session')
    // the temp root must be mrs's own before anything is read from or written into it
    privateDir(ctx.paths.tmpRoot)
    cleanStaleTemp(ctx.paths)
    // Work the client needs (Codex's catalog, the user's --settings file) runs while the server loads;
    // a bad --settings throws here, before a server is started.
    const preparing = plan.client ? prepareClient(plan.client, ctx) : undefined
    preparing?.catch(() => {})

    let server: ReadyServer
    if (plan.server.kind === 'local') {
      mark('acquiring a server')
      const acquired = await acquireLocal(plan.server, ctx)
      mark(`${acquired.attached ? 'attached' : 'keeper started'}`)
      // from here on the lease is released on every path (finally below)
      handle = acquired.handle
      const info = await waitForReady(handle, plan.server, ctx, abort.signal)
      if (!acquired.attached) ctx.out.info(`mistral.rs is ready at ${info.url} ${ctx.out.dim(`(${formatDuration(Date.now() - info.startedAt)}; log: ${info.logPath ?? 'none'})`)}`)
      server = { url: handle.info.url, ids: plan.server.ids, webSearch: webSearchOn(plan.server.spec.tools), handle }
      mark('ready')
      await checkServedModels(server.url, Object.values(plan.server.ids).filter((id) => id !== 'default'), undefined, handle.info.servedIds)
      mark('models checked')
    } else {
      server = await checkRemote(plan.server, ctx)
    }
    if (abort.signal.aborted) throw abort.signal.reason

    if (!plan.client) return await holdServer(server, ctx)

    const prepared = await preparing!
    mark('client prepared')
    tmpDir = privateDir(join(ctx.paths.tmpRoot, `session-${process.pid}-${randomBytes(3).toString('hex')}`))
    const launch = prepared.launch({
      url: server.url,
      ids: server.ids,
      contextWindow: plan.client.contextWindow,
      webSearch: server.webSearch,
      apiKeyEnv: plan.client.apiKeyEnv,
      userArgs: plan.client.userArgs,
      env: ctx.env,
      tmpDir,
    })
    for (const [name, content] of Object.entries(launch.files)) writeFileSync(join(tmpDir, name), content, { mode: 0o600 })
    if (abort.signal.aborted) throw abort.signal.reason
    return await runClient(launch, plan.client, prepared, server, plan, ctx)
  } finally {
    ctx.signals.set(() => {}) // teardown is bounded; a second Ctrl-C does not cut it short
    if (handle) {
      // `mrs serve` was asked to stop the server: no keep-alive for its lease
      const { sessions } = await handle.release(plan.command === 'serve' ? 0 : undefined)
      if (sessions > 0) ctx.out.info(`the shared server ${handle.info.id} keeps running for ${sessions} other session${sessions === 1 ? '' : 's'}`)
    }
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true })
  }
}

// ---- getting a server -------------------------------------------------------

async function acquireLocal(plan: LocalServerPlan, ctx: SessionContext): Promise<{ handle: ServerHandle; attached: boolean }> {
  const acquired = await acquireServer(
    { spec: plan.spec, port: plan.port, share: plan.share, graceMs: plan.graceMs, restarts: plan.restarts, keepAliveMs: plan.keepAliveMs },
    ctx.paths,
    ctx.env as NodeJS.ProcessEnv,
    { info: (m) => ctx.out.info(m), warn: (m) => ctx.out.warn(m) },
  )
  if (acquired.logWarning) ctx.out.warn(acquired.logWarning)
  for (const w of acquired.handle.earlyWarnings) ctx.out.warn(w)
  if (acquired.attached) ctx.out.info(`using the running server ${acquired.handle.info.id} (${plan.spec.models.join(' + ')}) at ${acquired.handle.info.url}`)
  return acquired
}

/** Races: ready, server exited, keeper lost, --timeout, a signal. */
function waitForReady(handle: ServerHandle, plan: LocalServerPlan, ctx: SessionContext, signal: AbortSignal): Promise<ServerInfo> {
  if (handle.info.state === 'ready') return Promise.resolve(handle.info)
  const { out } = ctx
  const model = plan.spec.models[0]!
  const status = out.startStatus(`Loading ${plan.spec.models.join(' + ')} in mistral.rs`)
  const bytesAtStart = cachedBytes(model, ctx.env)
  let lastLine = ''
  const downloadTimer = setInterval(() => {
    const grown = cachedBytes(model, ctx.env) - bytesAtStart
    if (grown > 0) status.update(`downloaded ${formatBytes(grown)}${lastLine ? ` · ${lastLine}` : ''}`)
  }, 1000)
  downloadTimer.unref()

  return new Promise<ServerInfo>((resolvePromise, reject) => {
    const timer = plan.timeoutMs !== undefined ? setTimeout(() => finish(timeoutError(plan.timeoutMs!, handle.info)), plan.timeoutMs) : undefined
    const onAbort = () => finish(signal.reason as Error)
    const onEvent = (e: KeeperEvent) => {
      switch (e.t) {
        case 'line':
          lastLine = meaningful(e.line)
          status.update(lastLine)
          out.serverLine(e.line)
          return
        case 'warning':
          return out.warn(e.message)
        case 'port-retry':
          return out.warn(`port ${e.from} was taken before mistral.rs could bind it; retrying on port ${e.to}`)
        case 'ready':
          return finish(undefined, e.info)
        case 'exited':
          return finish(serverFailed(e, handle.info, plan.port))
        case 'stopped':
          return finish(new MrsError(`the server was stopped while loading (${e.reason === 'stop-command' ? 'mrs stop' : e.reason})`, ExitCode.ServerLost))
      }
    }
    const onLost = () => {
      // its watchdog stops the server too; this makes sure of it before mrs exits
      void handle.killOrphanedServer()
      finish(new MrsError(`mrs's server keeper died while mistral.rs was loading, so the server was stopped; log: ${handle.info.logPath ?? 'none'}`, ExitCode.ServerLost))
    }
    function finish(error?: Error, info?: ServerInfo) {
      clearTimeout(timer)
      clearInterval(downloadTimer)
      signal.removeEventListener('abort', onAbort)
      handle.off('event', onEvent)
      handle.off('lost', onLost)
      out.endStatus()
      if (error) reject(error)
      else resolvePromise(info!)
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort)
    handle.on('event', onEvent)
    handle.on('lost', onLost)
  })
}

/** `2026-01-01T00:00:00.000000Z  INFO target: message` → `message` */
export function meaningful(line: string): string {
  return line.replace(/^\S+Z\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+\S+?:\s/, '').trim()
}

function timeoutError(timeoutMs: number, info: ServerInfo): MrsError {
  return new MrsError(
    `mistral.rs was not ready within ${formatDuration(timeoutMs)} (--timeout); log: ${info.logPath ?? 'none'}`,
    ExitCode.Timeout,
  )
}

type ServerExit = Extract<KeeperEvent, { t: 'exited' }>

/** `exited with code 1` / `was killed by SIGKILL` */
const howItEnded = (e: ServerExit) => (e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`)

function serverFailed(e: ServerExit, info: ServerInfo, explicitPort?: number): MrsError {
  const how = howItEnded(e)
  const log = `log: ${info.logPath ?? 'none'}`
  if (e.portInUse)
    return new MrsError(
      `mistral.rs could not bind port ${info.port}: it is already in use${explicitPort ? '; pick another --port or leave it out for a free one' : ''}; ${log}`,
      ExitCode.PortInUse,
      e.tail.slice(-5),
    )
  const reason = failureReason(e.tail)
  const code = e.code === 127 && !e.signal ? ExitCode.NotFound : ExitCode.ServerFailed
  return new MrsError(`mistral.rs ${how} before it was ready${reason ? `: ${reason}` : ''}; ${log}`, code, e.tail.slice(-8))
}

/** The line that says why mistral.rs died: its `Error:` line, a panic's message, or an ERROR log line. */
export function failureReason(tail: string[]): string | undefined {
  for (let i = tail.length - 1; i >= 0; i--) {
    const line = tail[i]!
    if (/panicked at/.test(line)) return tail[i + 1]?.trim() || meaningful(line)
    if (/^Error: /.test(line)) return line.slice('Error: '.length)
    if (/\bERROR\b/.test(line)) return meaningful(line)
  }
  return undefined
}

/** Checks that the server lists `required` (asking it, unless the keeper already did when it became ready). */
async function checkServedModels(url: string, required: string[], headers?: Record<string, string>, known?: string[]): Promise<string[]> {
  const ids = known ?? (await listModels(url, headers))
  const missing = required.filter((id) => !ids.includes(id))
  if (missing.length)
    throw new MrsError(`the server at ${url} does not serve ${missing.map((m) => `"${m}"`).join(', ')}; it serves: ${ids.join(', ')}`, ExitCode.ModelNotServed)
  return ids
}

/** GET /v1/models, with an error that says what went wrong for each way it can. */
async function listModels(url: string, headers?: Record<string, string>, apiKeyEnv?: string): Promise<string[]> {
  let res
  try {
    res = await getJson(`${url}/v1/models`, { headers, timeoutMs: 10_000 })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message
    throw new MrsError(`cannot reach ${url} (${code}); is the server running, and is --url right?`, ExitCode.Unreachable)
  }
  if (res.status === 401 || res.status === 403)
    throw new MrsError(`${url} refused ${apiKeyEnv ? `the key in $${apiKeyEnv}` : 'the request (no key sent; pass --api-key-env VAR)'} with HTTP ${res.status}`, ExitCode.Unreachable)
  const ids = modelIds(res.body)
  if (res.status !== 200 || !ids)
    throw new MrsError(`${url}/v1/models answered HTTP ${res.status}${ids ? '' : ' without a model list'}; is this a mistral.rs server?`, ExitCode.Unreachable)
  return ids
}

async function checkRemote(plan: RemoteServerPlan, ctx: SessionContext): Promise<ReadyServer> {
  const headers = plan.apiKeyEnv ? { authorization: `Bearer ${ctx.env[plan.apiKeyEnv] ?? ''}` } : undefined
  const ids = await checkServedModels(plan.url, plan.model ? [plan.model] : [], headers, await listModels(plan.url, headers, plan.apiKeyEnv))
  const main = plan.model ?? (ids.includes('default') ? 'default' : ids[0]!)
  ctx.out.info(`using ${plan.url} (model ${main})`)
  // what tools a remote server runs cannot be seen from here: --web-search says it searches
  return { url: plan.url, ids: { main }, webSearch: plan.webSearch }
}

// ---- mrs serve ----------------------------------------------------------------

function holdServer(server: ReadyServer, ctx: SessionContext): Promise<number> {
  const { out } = ctx
  const h = server.handle!
  const info = h.info
  const model = info.models[0]!
  if (!out.quiet) {
    const lines = [
      `${out.bold('mistral.rs')} serves ${info.models.join(', ')} at ${out.cyan(info.url)}`,
      `  OpenAI / Responses API  ${info.url}/v1`,
      `  Anthropic API           ${info.url}`,
      `  Claude Code             mrs claude -m ${model}    ${out.dim('(attaches to this server)')}`,
      `                          or: eval "$(mrs env claude --url ${info.url})"; claude`,
      `  Codex                   mrs codex -m ${model}     ${out.dim('(attaches to this server)')}`,
      `                          or: mrs setup codex --port ${info.port}; codex --profile mistralrs`,
      `  log                     ${info.logPath ?? 'none'}`,
      `Press Ctrl-C to stop.`,
    ]
    out.write(lines.join('\n'))
  }
  return new Promise((resolvePromise) => {
    const unwatch = watchServer(h, ctx, (code) => done(code))
    const done = (code: number) => {
      unwatch()
      resolvePromise(code)
    }
    ctx.signals.set((signal) => done(signalExitCode(signal)))
  })
}

// ---- the client ---------------------------------------------------------------

/**
 * Reports what happens to the server while a client uses it. `onGone` is
 * called once if the server is gone for good.
 */
function watchServer(handle: ServerHandle, ctx: SessionContext, onGone: (code: number) => void): () => void {
  const { out } = ctx
  const log = () => handle.info.logPath ?? 'no log'
  const onEvent = (e: KeeperEvent) => {
    if (e.t === 'line') return out.serverLine(e.line)
    if (e.t === 'warning') return out.warn(e.message)
    if (e.t === 'exited' && e.during === 'session') {
      const how = howItEnded(e)
      const last = failureReason(e.tail) ?? e.tail.at(-1)
      const next = e.restart ? `restarting it on the same port (${e.restart.attempt}/${e.restart.max})` : 'giving up'
      out.error(`mistral.rs ${how}${last ? ` (${meaningful(last)})` : ''}; ${next}; log: ${log()}`)
    }
    if (e.t === 'ready' && e.restarted) out.info(`mistral.rs is back at ${e.info.url}`)
    if (e.t === 'stopped') {
      const why =
        e.reason === 'stop-command'
          ? 'the server was stopped with mrs stop'
          : e.reason === 'gave-up'
            ? `mistral.rs kept crashing; gave up after ${handle.info.restarts} restart${handle.info.restarts === 1 ? '' : 's'}`
            : `the server stopped (${e.reason})`
      out.error(`${why}; log: ${log()}`)
      onGone(ExitCode.ServerLost)
    }
  }
  const onLost = () => {
    out.error(`mrs's server keeper died; stopping its server; log: ${log()}`)
    void handle.killOrphanedServer()
    onGone(ExitCode.ServerLost)
  }
  handle.on('event', onEvent)
  handle.on('lost', onLost)
  return () => {
    handle.off('event', onEvent)
    handle.off('lost', onLost)
  }
}

async function runClient(
  launch: ClientLaunch,
  client: ClientPlan,
  prepared: PreparedClient,
  server: ReadyServer,
  plan: Plan,
  ctx: SessionContext,
): Promise<number> {
  const { execa } = await prepared.execa
  const graceMs = plan.server.kind === 'local' ? plan.server.graceMs : 5000
  const child = execa(launch.command, launch.args, {
    stdio: 'inherit',
    env: launch.env,
    extendEnv: false,
    reject: false,
    cleanup: false,
    cwd: ctx.cwd,
  })
  const pid = child.pid
  mark('client spawned')
  if (pid && server.handle) server.handle.setClient(pid)
  let forcedCode: number | undefined
  let stopping: Promise<unknown> | undefined

  /** Signals the client's whole tree, and kills what is left of it after the grace period. */
  const stopClient = (signal: NodeJS.Signals) => {
    if (pid && !stopping) stopping = stopTree(pid, graceMs, realKillDeps, signal)
  }
  ctx.signals.set((signal: ForwardedSignal) => {
    // Ctrl-C reached the client from the terminal already; it decides what Ctrl-C means.
    if (signal === 'SIGINT') return
    forcedCode ??= signalExitCode(signal)
    stopClient(signal)
  })
  const unwatch = server.handle
    ? watchServer(server.handle, ctx, (code) => {
        forcedCode ??= code
        stopClient('SIGTERM')
      })
    : () => {}

  const result = await child
  unwatch()
  await stopping
  if (result.failed && result.exitCode === undefined && !result.signal) {
    const code = (result as { code?: string }).code
    if (code === 'ENOENT') throw new MrsError(`${client.name} could not be started (${launch.command}: not found)`, ExitCode.NotFound)
    throw new MrsError(`${client.name} could not be started: ${result.shortMessage ?? result.message}`, ExitCode.Failure)
  }
  if (forcedCode !== undefined) return forcedCode
  if (result.exitCode !== undefined) return result.exitCode
  const signalNumber = result.signal ? (osConstants.signals as Record<string, number>)[result.signal] : undefined
  return signalNumber ? 128 + signalNumber : ExitCode.Failure
}

// ---- temp files -------------------------------------------------------------------

/** Removes private temp dirs left by runs that were SIGKILLed. */
export function cleanStaleTemp(paths: Paths): void {
  let names: string[]
  try {
    names = readdirSync(paths.tmpRoot)
  } catch {
    return
  }
  for (const name of names) {
    const dir = join(paths.tmpRoot, name)
    const session = /^(?:session|codex-probe)-(\d+)/.exec(name)
    const server = /^server-([0-9a-f]+)$/.exec(name)
    let stale = false
    if (session) stale = !isAlive(Number(session[1]))
    else if (server) stale = !existsSync(registryPath(paths, server[1]!)) && ageMs(dir) > 60_000
    if (stale) rmSync(dir, { recursive: true, force: true })
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs
  } catch {
    return 0
  }
}
