/**
 * Runs a Plan: get a server (start, attach, or check a remote one), wait
 * until it is ready, run the client, and tear down on every path. What
 * happens on Ctrl-C, SIGTERM or SIGHUP is decided here, in one place:
 *   - while starting: abort, stop the server (if no one else uses it), exit 128+N;
 *   - while the client runs: SIGINT is the client's (the terminal sent it
 *     there too); SIGTERM/SIGHUP are forwarded, the client gets the grace
 *     period to exit, then its whole tree is killed; exit 128+N;
 *   - always: release the lease; when it was the last, wait until the server is gone.
 * While the client owns the terminal, mrs draws nothing over it: what
 * happens to the server (a crash, a restart) is said once the client exits,
 * unless the session ends because of it.
 */
import { constants as osConstants } from 'node:os'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { AbortedBySignal, ExitCode, MrsError, signalExitCode, type ForwardedSignal } from './errors.js'
import type { Output } from './cli/output.js'
import { formatDuration } from './duration.js'
import { splitCredentials } from './http.js'
import { chooseServed, keyHeaders, listModels, ownServerAt } from './server/remote.js'
import type { KeeperEvent, ServerInfo } from './keeper/protocol.js'
import { type Paths, privateDir } from './paths.js'
import { type ClientPlan, type ManagedServerPlan, type Plan, type ExternalServerPlan } from './plan.js'
import { nameOf, saidOf, type Origins } from './config/schema.js'
import { realKillDeps, stopTree } from './process/kill.js'
import { isAlive } from './process/proc.js'
import { runInherited, type Exited } from './process/run.js'
import { restoreTerminal } from './process/terminal.js'
import type { SignalHub } from './process/signals.js'
import { acquireServer, type ServerHandle } from './server/connect.js'
import { formatBytes } from './server/download.js'
import { maxOutputFor, shortName, type ClientContext, type ClientLaunch, type ClientModule } from './clients/types.js'
import { registryPath } from './server/registry.js'
import { webSearchOn } from './server/spec.js'
import { CLIENTS } from './clients/registry.js'
import { describePlace } from './places/registry.js'
import { statusLineCommand } from './runtime.js'
import { shellQuote, windowText } from './text.js'
import { mark } from './trace.js'
import { randomHex } from './hash.js'

export interface SessionContext {
  env: Record<string, string | undefined>
  paths: Paths
  out: Output
  signals: SignalHub
  cwd: string
  /** The client gets the terminal (stdin and stdout are one): then mrs says how to come back to the session. */
  interactive?: boolean
  /** The mrs command line that ran this session, without the client's arguments (for "the mrs way back"). */
  mrsArgv?: string[]
  /** Check the model calls tools through the client's API before launching it (`--check`). */
  check?: boolean
  /** `mrs check --json`. */
  json?: boolean
  /** Lets go of the place the session held open while it planned (an ssh master): the keeper holds it once acquired. */
  releasePlace?: () => void
  /** Makes the place reachable before a server starts there (not to attach to one). */
  reachPlace?: () => Promise<void>
  /** How the user gave each setting (the plan's): messages name it so. */
  origins?: Origins
}

/** The server a client talks to, once it is ready. */
export interface ReadyServer {
  url: string
  /** The ids to send: a served id for each model (the real one, so clients show it). */
  model: string
  smallModel?: string
  contextWindow?: number
  webSearch: boolean
  handle?: ServerHandle
  headers?: Record<string, string>
  /** The Basic credentials a --url carried (sent by clients from their environment, never their command line). */
  authorization?: string
  /** A private dir for the server's whole life, shared by its sessions (a client's `shared` files). */
  sharedDir?: string
  /** The model's own maximum (max_position_embeddings), when known. */
  modelContext?: number
  /** mistral.rs's version, for a server mrs runs (when known). */
  version?: string
}

export async function runPlan(plan: Plan, given: SessionContext): Promise<number> {
  const ctx: SessionContext = { ...given, origins: plan.origins }
  for (const w of plan.warnings) ctx.out.warn(w)
  const abort = new AbortController()
  ctx.signals.set((signal) => abort.abort(new AbortedBySignal(signal)))
  let handle: ServerHandle | undefined
  let tmpDir: string | undefined
  let resume: string | undefined
  try {
    mark('session')
    // the temp root must be mrs's own before anything is read from or written into it
    privateDir(ctx.paths.tmpRoot)
    cleanStaleTemp(ctx.paths)
    // What the client needs from the user's own files is read first when it can fail on their content
    // (a bad settings file must not cost a load); slower work (probing the client's binary) runs while the server loads.
    const client = plan.client
    let preparing = client ? prepare(client, ctx) : undefined
    if (client?.module.prepareFirst) preparing = Promise.resolve(await preparing)
    preparing?.catch(() => {})

    let server: ReadyServer
    if (plan.server.kind === 'managed') {
      mark('acquiring a server')
      const acquired = await acquireLocal(plan.server, ctx)
      ctx.releasePlace?.()
      mark(`${acquired.attached ? 'attached' : 'keeper started'}`)
      // from here on the lease is released on every path (finally below)
      handle = acquired.handle
      const info = await waitForReady(handle, plan.server, ctx, abort.signal)
      if (!acquired.attached) ctx.out.info(`mistral.rs is ready at ${info.url} ${ctx.out.dim(`(${formatDuration(Date.now() - info.startedAt)}${info.quant ? `; ${info.quant}` : ''}${contextNote(info, ctx.origins)}; log: ${info.logPath ?? 'none'})`)}`)
      mark('ready')
      server = readyLocal(plan.server, handle.info, handle)
    } else {
      server = await checkRemote(plan.server, ctx, abort.signal)
    }
    if (abort.signal.aborted) throw abort.signal.reason

    if (!client) return plan.command === 'serve' ? await holdServer(server, ctx) : await checkAll(server, ctx, abort.signal)

    warnSmallContext(server, client.module, plan, ctx)
    if (ctx.check) await checkBeforeLaunch(server, client.module, ctx, abort.signal)
    const prepared = await preparing!
    mark('client prepared')
    tmpDir = privateDir(join(ctx.paths.tmpRoot, `session-${process.pid}-${randomHex(3)}`))
    const launch = clientLaunch(client, server, { env: ctx.env, tmpDir, sharedDir: server.sharedDir, prepared, statusLine: statusLineCommand(server, join(tmpDir, 'statusline-state.json')) })
    writeLaunchFiles(tmpDir, launch, server.sharedDir)
    if (abort.signal.aborted) throw abort.signal.reason
    const code = await runClient(launch, client, server, plan, ctx)
    resume = resumeHint(client, plan.server.kind === 'managed' ? plan.server.spec.models[0]! : server.model, ctx)
    return code
  } finally {
    ctx.releasePlace?.()
    ctx.signals.set(() => {}) // teardown is bounded; a second Ctrl-C does not cut it short
    let asked: number | undefined
    if (handle) {
      // `mrs serve` was asked to stop the server: no keep-alive for its lease
      const released = await handle.release(plan.command === 'serve' ? 0 : undefined)
      asked = released.asked
      if (released.sessions > 0) ctx.out.info(`the shared server ${handle.info.id} keeps running for ${released.sessions} other session${released.sessions === 1 ? '' : 's'}`)
    }
    // only after a conversation: a client that was opened and closed without a question has nothing to continue
    if (resume && asked !== 0) ctx.out.info(resume)
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true })
  }
}

/** How to continue the session with mrs (the model named, so no picker asks again), instead of the client's own resume line. */
function resumeHint(client: ClientPlan, model: string, ctx: SessionContext): string | undefined {
  if (!ctx.interactive || !ctx.mrsArgv) return undefined
  const back = client.module.resumeArgs?.(client.userArgs)
  if (!back) return undefined
  const own = ctx.mrsArgv.some((a) => a === '-m' || a === '--model' || a.startsWith('--model='))
  const argv = ['mrs', client.module.name, ...(own ? [] : ['-m', model]), ...ctx.mrsArgv, ...back]
  return `to continue this session on the local model: ${argv.map(shellQuote).join(' ')} (not ${client.module.title}'s own resume command, which would not start the server)`
}

/** The client's launch on a server, as a session makes it (and `--dry-run` prints it). */
export function clientLaunch(
  client: ClientPlan,
  server: Pick<ReadyServer, 'url' | 'model' | 'smallModel' | 'contextWindow' | 'webSearch' | 'authorization' | 'version'>,
  where: Pick<ClientContext, 'env' | 'tmpDir' | 'sharedDir' | 'prepared' | 'statusLine'>,
): ClientLaunch {
  return client.module.launch(client.binary, {
    url: server.url,
    model: { id: server.model, name: shortName(server.model) },
    smallModel: server.smallModel ? { id: server.smallModel, name: shortName(server.smallModel) } : undefined,
    contextWindow: server.contextWindow,
    maxOutput: maxOutputFor(server.contextWindow),
    webSearch: server.webSearch,
    serverVersion: server.version,
    apiKeyEnv: client.apiKeyEnv,
    authorization: server.authorization,
    userArgs: client.userArgs,
    ...where,
  })
}

/** `; context 32768 tokens, from --context-window` for the ready line (the setting named as the user gave it). */
function contextNote(info: ServerInfo, origins: Origins | undefined): string {
  if (!info.contextWindow) return ''
  const from = info.requestedContext ? nameOf(origins, 'context') : info.kvCacheTokens && info.kvCacheTokens <= (info.modelContext ?? Infinity) ? 'its KV cache' : "the model's config.json"
  return `; context ${windowText(info.contextWindow)}, from ${from}`
}

function prepare(client: ClientPlan, ctx: SessionContext): Promise<unknown> {
  const { module } = client
  if (!module.prepare) return Promise.resolve(undefined)
  return module.prepare({ binary: client.binary, userArgs: client.userArgs, env: ctx.env, cwd: ctx.cwd, cacheDir: ctx.paths.cacheDir, stateDir: ctx.paths.stateDir, tmpRoot: ctx.paths.tmpRoot })
}

/** The client's files (0600) and symlinks, inside the session's private dir; its shared ones in the server's, once. */
function writeLaunchFiles(tmpDir: string, launch: ClientLaunch, sharedDir: string | undefined): void {
  writeTree(tmpDir, launch.files, launch.links ?? {})
  if (!launch.shared || !sharedDir) return
  const final = join(privateDir(sharedDir), launch.shared.name)
  // its name is its content: made by the first session, then used as it is; two sessions at once both make it, one keeps it
  if (existsSync(final)) return
  const making = join(sharedDir, `.${launch.shared.name}-${process.pid}-${randomHex(3)}`)
  writeTree(making, launch.shared.files, launch.shared.links)
  try {
    renameSync(making, final)
  } catch (e) {
    rmSync(making, { recursive: true, force: true })
    if (!existsSync(final)) throw e
  }
}

function writeTree(dir: string, files: Record<string, string>, links: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true, mode: 0o700 })
    writeFileSync(join(dir, name), content, { mode: 0o600 })
  }
  for (const [name, target] of Object.entries(links)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true, mode: 0o700 })
    // a sessions dir the client would create on its own (it may not exist yet)
    if (!existsSync(target) && name.endsWith('sessions')) mkdirSync(target, { recursive: true, mode: 0o700 })
    symlinkSync(target, join(dir, name))
  }
}

/** Below what the client's first request needs, it cannot work: say so before it starts, with how to raise it (never past what the model takes). */
function warnSmallContext(server: Pick<ReadyServer, 'contextWindow' | 'modelContext'>, module: ClientModule, plan: Plan, ctx: SessionContext): void {
  const { contextWindow, modelContext } = server
  if (!contextWindow || contextWindow >= module.minContext) return
  const enough = Math.min(2 ** Math.ceil(Math.log2(module.minContext)), modelContext ?? Infinity)
  const raise =
    plan.server.kind !== 'managed'
      ? 'ask for a larger context on the server'
      : modelContext !== undefined && modelContext < module.minContext
        ? `this model takes at most ${modelContext} tokens (max_position_embeddings in its config.json): use a model with a larger window`
        : `raise it with --context-window ${enough} (mistral.rs sizes its KV cache for it) or use a model with a larger window`
  ctx.out.warn(`the context window is ${contextWindow} tokens, but ${module.title} needs about ${module.minContext} to work (its first request alone is most of that); ${raise}`)
}

async function checkBeforeLaunch(server: ReadyServer, module: ClientModule, ctx: SessionContext, signal: AbortSignal): Promise<void> {
  const { checkApi, describeResult } = await import('./check.js')
  ctx.out.info(`checking that ${server.model} calls tools through the ${module.api} API (--check)…`)
  const result = await checkApi(module.api, { url: server.url, model: server.model, headers: server.headers, otherTools: module.otherTools?.({ webSearch: server.webSearch, serverVersion: server.version }), signal })
  for (const line of describeResult(result)) ctx.out.info(line)
  if (!result.ok) throw new MrsError(`${module.title} was not started: the model failed the tool-call check (see above; mrs check tries every API)`, ExitCode.CheckFailed)
}

/** `mrs check`: every API the clients speak, one tool-call request each; exit 0 only when all passed. */
async function checkAll(server: ReadyServer, ctx: SessionContext, signal: AbortSignal): Promise<number> {
  const { checkApi, describeResult, otherToolsOf } = await import('./check.js')
  const results = []
  for (const api of ['anthropic', 'responses', 'chat'] as const) {
    ctx.out.info(`asking ${server.model} to call a tool through the ${api} API…`)
    results.push(await checkApi(api, { url: server.url, model: server.model, headers: server.headers, otherTools: otherToolsOf(api, { webSearch: server.webSearch, serverVersion: server.version }), signal }))
  }
  const ok = results.every((r) => r.ok)
  if (ctx.json) {
    process.stdout.write(`${JSON.stringify({ ok, url: server.url, model: server.model, contextWindow: server.contextWindow ?? null, results }, null, 2)}\n`)
  } else {
    const lines = [`model ${server.model} at ${server.url}; context ${server.contextWindow ? windowText(server.contextWindow) : 'unknown'}`]
    for (const r of results) lines.push(...describeResult(r))
    lines.push(ok ? 'every API returned a well-formed tool call: this model works for agents' : 'some APIs failed: clients on them will not work well with this model')
    process.stdout.write(`${lines.join('\n')}\n`)
  }
  return ok ? ExitCode.Ok : ExitCode.CheckFailed
}

// ---- getting a server -------------------------------------------------------

async function acquireLocal(plan: ManagedServerPlan, ctx: SessionContext): Promise<{ handle: ServerHandle; attached: boolean }> {
  const acquired = await acquireServer(
    { spec: plan.spec, port: plan.port, portName: nameOf(ctx.origins, 'port'), share: plan.share, attachTo: plan.attachTo, graceMs: plan.graceMs, restarts: plan.restarts, keepAliveMs: plan.keepAliveMs, beforeStart: ctx.reachPlace },
    ctx.paths,
    ctx.env as NodeJS.ProcessEnv,
    { info: (m) => ctx.out.info(m), warn: (m) => ctx.out.warn(m) },
  )
  if (acquired.logWarning) ctx.out.warn(acquired.logWarning)
  for (const w of acquired.handle.earlyWarnings) ctx.out.warn(w)
  if (acquired.attached) ctx.out.info(`using the running server ${acquired.handle.info.id} (${acquired.handle.info.models.join(' + ')}) at ${acquired.handle.info.url}`)
  return acquired
}

/** What a client of this local server is told: the real served ids, the server's context, its tools. */
function readyLocal(plan: ManagedServerPlan, info: ServerInfo, handle: ServerHandle): ReadyServer {
  // a served id mistral.rs accepts; `default` only if it somehow does not list the model itself
  const served = (id: string) => (info.servedIds && !info.servedIds.includes(id) ? 'default' : id)
  return {
    url: info.url,
    model: served(info.models[0]!),
    smallModel: info.models[1] ? served(info.models[1]) : undefined,
    contextWindow: info.contextWindow,
    webSearch: webSearchOn(plan.spec.tools, plan.spec.serverArgs),
    handle,
    sharedDir: join(info.tmpDir, 'clients'),
    modelContext: info.modelContext,
    version: info.version,
  }
}

/** Races: ready, server exited, keeper lost, --timeout, a signal. */
function waitForReady(handle: ServerHandle, plan: ManagedServerPlan, ctx: SessionContext, signal: AbortSignal): Promise<ServerInfo> {
  if (handle.info.state === 'ready') return Promise.resolve(handle.info)
  const { out } = ctx
  const where = plan.spec.place && plan.spec.place.kind !== 'local' ? ` on ${describePlace(plan.spec.place)}` : ''
  const status = out.startStatus(`Loading ${plan.spec.models.join(' + ')} in mistral.rs${where}`)
  // the keeper measures the download where the server runs (the weights actually fetched, also of a repository --quant auto switched to)
  let lastLine = ''
  let downloaded = 0
  const progress = () => status.update(`${downloaded > 0 ? `downloaded ${formatBytes(downloaded)}${lastLine ? ' · ' : ''}` : ''}${lastLine}`)

  return new Promise<ServerInfo>((resolvePromise, reject) => {
    const timer = plan.timeoutMs !== undefined ? setTimeout(() => finish(timeoutError(plan.timeoutMs!, handle.info, ctx.origins)), plan.timeoutMs) : undefined
    const onAbort = () => finish(signal.reason as Error)
    const onEvent = (e: KeeperEvent) => {
      switch (e.t) {
        case 'line':
          lastLine = meaningful(e.line)
          progress()
          out.serverLine(e.line)
          return
        case 'download':
          downloaded = e.bytes
          return progress()
        case 'warning':
          return out.warn(e.message)
        case 'note':
          return out.info(e.message)
        case 'quant-retry':
          return out.warn(`${e.tried} failed (${e.reason}); starting mistral.rs again at full precision`)
        case 'port-retry':
          return out.warn(`${e.from === undefined ? "mistral.rs's port" : `port ${e.from}`} was taken${e.by ? ` by another process (${e.by})` : ''} before mistral.rs could bind it; starting it again on another port (the clients' port stays ${handle.info.port})`)
        case 'ready':
          return finish(undefined, e.info)
        case 'exited':
          return finish(serverFailed(e, handle.info, plan.port === undefined ? undefined : nameOf(ctx.origins, 'port')))
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

function timeoutError(timeoutMs: number, info: ServerInfo, origins: Origins | undefined): MrsError {
  return new MrsError(`mistral.rs was not ready within ${formatDuration(timeoutMs)} (${nameOf(origins, 'timeoutMs')}); log: ${info.logPath ?? 'none'}`, ExitCode.Timeout)
}

type ServerExit = Extract<KeeperEvent, { t: 'exited' }>

/** `exited with code 1` / `was killed by SIGKILL` */
const howItEnded = (e: ServerExit) => (e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`)

/** What ended the server, said once: its exit (and why, from its log), or the connection to where it ran. */
const whatHappened = (e: ServerExit) => {
  if (e.failure) return e.failure.message
  if (e.lost) return e.lost
  const reason = failureReason(e.tail)
  return `mistral.rs ${howItEnded(e)}${reason ? ` (${meaningful(reason)})` : ''}`
}

/** `portGiven`: how the user gave the port, when they did. */
function serverFailed(e: ServerExit, info: ServerInfo, portGiven?: string): MrsError {
  const how = howItEnded(e)
  const log = `log: ${info.logPath ?? 'none'}`
  // the place knew what went wrong (no mistralrs there, no free port, a refused job): as it said it
  // (mistral.rs's own error stays below it; the place's own said it already)
  if (e.failure) return new MrsError(`${e.failure.message}; ${log}`, e.failure.exitCode as ExitCode, e.tail.filter((l) => l !== `Error: ${e.failure!.message}`).slice(-5))
  // the host stops the server itself when the connection closes: nothing is left running there
  if (e.lost) return new MrsError(`${e.lost} while mistral.rs loaded; the host stops it when the connection closes, so nothing is left running there; ${log}`, ExitCode.Unreachable, e.tail.slice(-5))
  if (e.portInUse)
    return new MrsError(
      `mistral.rs could not bind port ${info.port}: it is already in use${portGiven ? `; pick another ${portGiven} or leave it out for a free one` : ''}; ${log}`,
      ExitCode.PortInUse,
      e.tail.slice(-5),
    )
  const reason = failureReason(e.tail)
  const code = e.code === 127 && !e.signal ? ExitCode.NotFound : ExitCode.ServerFailed
  return new MrsError(`mistral.rs ${how} before it was ready${reason ? `: ${reason}` : ''}; ${log}`, code, e.tail.slice(-8))
}

/** The line that says why mistral.rs died: its `Error:` line (clap's `error:`), a panic's message, an abort's `what():`, or an ERROR log line. */
export function failureReason(tail: string[]): string | undefined {
  for (let i = tail.length - 1; i >= 0; i--) {
    const line = tail[i]!
    if (/panicked at/.test(line)) return tail[i + 1]?.trim() || meaningful(line)
    // a native abort (a CUDA or NCCL error in C++): terminate's `what():` line
    if (/^\s*what\(\):\s/.test(line)) return line.replace(/^\s*what\(\):\s+/, '')
    if (/^Error: /.test(line)) return line.slice('Error: '.length)
    // clap's refusal of an argument (exit 2)
    if (/^error: /.test(line)) return line.slice('error: '.length)
    if (/\bERROR\b/.test(line)) return meaningful(line)
  }
  return undefined
}

/** GET /v1/models, with an error that says what went wrong for each way it can. */
async function checkRemote(plan: ExternalServerPlan, ctx: SessionContext, signal: AbortSignal): Promise<ReadyServer> {
  const headers = keyHeaders(plan.apiKeyEnv, ctx.env)
  const ids = await listModels(plan.url, headers, plan.apiKeyEnv, signal, ctx.origins).catch(async (e: MrsError) => {
    // a server that is still loading refuses connections (mistral.rs binds after the load): with --timeout, wait for it
    if (!plan.timeoutMs || e.exitCode !== ExitCode.Unreachable || !/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH/.test(e.message)) throw e
    await waitForRemote(plan.url, plan.timeoutMs, headers, ctx, signal)
    return listModels(plan.url, headers, plan.apiKeyEnv, signal, ctx.origins)
  })
  const { model, why } = chooseServed(plan.url, ids, plan.model)
  // a server of the user's own mrs: its record knows the window
  const own = await ownServerAt(plan.url, ctx.paths)
  ctx.out.info(`using ${plan.url} (model ${model}${why ? `, ${why}` : ''})`)
  // what tools a remote server runs cannot be seen from here: --web-search says it searches
  return { url: plan.url, model, contextWindow: plan.context ?? own?.contextWindow, webSearch: plan.webSearch, headers, authorization: splitCredentials(plan.url).authorization }
}

/**
 * Waits (with wait-on, loaded only here) until a --url server answers GET
 * /v1/models, up to --timeout; Ctrl-C ends the wait at once.
 */
async function waitForRemote(url: string, timeoutMs: number, headers: Record<string, string> | undefined, ctx: SessionContext, signal: AbortSignal): Promise<void> {
  ctx.out.startStatus(`Waiting for ${url} to answer (up to ${formatDuration(timeoutMs)}, ${nameOf(ctx.origins, 'timeoutMs')})`)
  try {
    const { default: waitOn } = await import('wait-on')
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason)
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
    await Promise.race([
      waitOn({ resources: [`${url.replace(/^http/, 'http-get')}/v1/models`], timeout: timeoutMs, interval: 500, httpTimeout: 5000, headers, proxy: false, validateStatus: (s: number) => s >= 200 && s < 300 }),
      aborted,
    ])
  } catch (e) {
    if (signal.aborted) throw signal.reason
    throw new MrsError(`${url} did not answer within ${formatDuration(timeoutMs)} (${nameOf(ctx.origins, 'timeoutMs')}); is the server running, and is ${nameOf(ctx.origins, 'url')} right?`, ExitCode.Timeout)
  } finally {
    ctx.out.endStatus()
  }
}

// ---- mrs serve ----------------------------------------------------------------

function holdServer(server: ReadyServer, ctx: SessionContext): Promise<number> {
  const { out } = ctx
  const h = server.handle!
  const info = h.info
  if (!out.quiet) {
    const lines = [
      `${out.bold('mistral.rs')} serves ${info.models.join(', ')} at ${out.cyan(info.url)}${info.contextWindow ? ` with a ${info.contextWindow}-token context` : ''}`,
      `  OpenAI / Responses API  ${info.url}/v1`,
      `  Anthropic API           ${info.url}`,
      `  any client              ${CLIENTS.map((c) => `mrs ${c.name}`).join(', ')}   ${out.dim('(attach to this server: no -m needed)')}`,
      `  by hand                 mrs env <client> --url ${info.url}   ${out.dim('(what to set for each client)')}`,
      `  log                     ${info.logPath ?? 'none'}`,
      `Press Ctrl-C to stop.`,
    ]
    out.write(lines.join('\n'))
  }
  return new Promise((resolvePromise) => {
    const unwatch = watchServer(h, ctx, { live: true, onGone: (code) => done(code) })
    const done = (code: number) => {
      unwatch()
      resolvePromise(code)
    }
    ctx.signals.set((signal) => {
      out.info(`stopping the server (${signal === 'SIGINT' ? 'Ctrl-C' : signal})`)
      done(signalExitCode(signal))
    })
  })
}

// ---- the client ---------------------------------------------------------------

interface WatchOptions {
  /** Print events as they happen (no client owns the terminal). */
  live: boolean
  /** Called once if the server is gone for good. */
  onGone: (code: number) => void
  /** Events said while the client owned the terminal, to print once it exits. */
  held?: string[]
  /** Why the session ends, to say (as an error) once the client has given the terminal back. */
  ended?: string[]
}

/** Reports what happens to the server while it is in use. */
function watchServer(handle: ServerHandle, ctx: SessionContext, opts: WatchOptions): () => void {
  const { out } = ctx
  const log = () => handle.info.logPath ?? 'no log'
  let lastExit: ServerExit | undefined
  // counted from the events: a restart that crashes again while loading never reports ready (which updates info)
  let restarts = handle.info.restarts ?? 0
  const say = (message: string) => (opts.live ? out.info(message) : opts.held?.push(message))
  const onEvent = (e: KeeperEvent) => {
    if (e.t === 'line') return opts.live ? out.serverLine(e.line) : undefined
    if (e.t === 'warning') return opts.live ? out.warn(e.message) : opts.held?.push(`warning: ${e.message}`)
    if (e.t === 'exited' && e.during === 'session') {
      lastExit = e
      if (e.restart) {
        restarts = Math.max(restarts, e.restart.attempt)
        const last = e.lost ? undefined : (failureReason(e.tail) ?? e.tail.at(-1))
        say(`${e.lost ?? `mistral.rs ${howItEnded(e)}`}${last ? ` (${meaningful(last)})` : ''}; restarted it on the same port (${e.restart.attempt}/${e.restart.max}); log: ${log()}`)
      }
    }
    if (e.t === 'ready' && e.restarted && opts.live) out.info(`mistral.rs is back at ${e.info.url}`)
    if (e.t === 'stopped') {
      const crash = lastExit ? whatHappened(lastExit) : ''
      const why =
        e.reason === 'stop-command'
          ? 'the server was stopped with mrs stop'
          : e.reason === 'gave-up'
            ? lastExit?.final
              ? crash
              : `${crash || 'mistral.rs crashed'}; ${restarts ? `gave up after ${restarts} restart${restarts === 1 ? '' : 's'}` : `not restarted (${saidOf(ctx.origins, 'restarts', 0)})`}`
            : `the server stopped (${e.reason})`
      // the session ends with it: said once, after the client (which may own the terminal) is gone
      end(`${why}; log: ${log()}`)
    }
  }
  const end = (message: string) => {
    if (opts.live || !opts.ended) out.error(message)
    else opts.ended.push(message)
    opts.onGone(ExitCode.ServerLost)
  }
  const onLost = () => {
    void handle.killOrphanedServer()
    end(`mrs's server keeper died; stopping its server; log: ${log()}`)
  }
  handle.on('event', onEvent)
  handle.on('lost', onLost)
  return () => {
    handle.off('event', onEvent)
    handle.off('lost', onLost)
  }
}

/** When the server is gone for good, how long a client gets to exit on its own before it is stopped. */
const CLIENT_SETTLE_MS = 2000

async function runClient(launch: ClientLaunch, client: ClientPlan, server: ReadyServer, plan: Plan, ctx: SessionContext): Promise<number> {
  const graceMs = plan.server.kind === 'managed' ? plan.server.graceMs : 5000
  const { pid, exited: childExited } = await runInherited(launch.command, launch.args, { env: launch.env, cwd: ctx.cwd })
  mark('client spawned')
  if (pid && server.handle) server.handle.setClient(pid)
  let forcedCode: number | undefined
  let stopping: Promise<unknown> | undefined
  let exited = false
  void childExited.finally(() => (exited = true))

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
  const held: string[] = []
  const ended: string[] = []
  let settleTimer: NodeJS.Timeout | undefined
  let stoppedByUs = false
  const unwatch = server.handle
    ? watchServer(server.handle, ctx, {
        live: false,
        held,
        ended,
        onGone: (code) => {
          // a client that has its answer and is on its way out (a one-shot prompt) finishes on its own and keeps its
          // own exit code; one still running (a TUI) is stopped, as it can do nothing more without the server
          settleTimer = setTimeout(() => {
            if (exited) return
            forcedCode ??= code
            stoppedByUs = true
            stopClient('SIGTERM')
          }, CLIENT_SETTLE_MS)
        },
      })
    : () => {}

  const result = await childExited
  clearTimeout(settleTimer)
  unwatch()
  await stopping
  // a full-screen client stopped mid-draw may leave its screen, modes and raw input behind
  if (stoppedByUs) restoreTerminal()
  if (held.length) ctx.out.info(`while ${client.module.name} ran: ${held.join('; ')}`)
  for (const message of ended) ctx.out.error(message)
  if (result.error) {
    if (result.error.code === 'ENOENT') throw new MrsError(`${client.module.name} could not be started (${launch.command}: not found)`, ExitCode.NotFound)
    throw new MrsError(`${client.module.name} could not be started: ${result.error.message}`, ExitCode.Failure)
  }
  if (forcedCode !== undefined) return forcedCode
  return exitCodeOf(result)
}

/** The code a shell would report: the exit code, or 128 + the signal's number. */
function exitCodeOf(result: Exited): number {
  if (result.exitCode !== undefined) return result.exitCode
  const n = result.signal ? (osConstants.signals as Record<string, number>)[result.signal] : undefined
  return n ? 128 + n : ExitCode.Failure
}

/** Runs the client at once with the user's arguments (its help, version, or a subcommand that needs no model). */
export async function runDirect(binary: string, args: string[], ctx: Pick<SessionContext, 'signals' | 'cwd'>): Promise<number> {
  const { pid, exited } = await runInherited(binary, args, { cwd: ctx.cwd })
  ctx.signals.set((signal) => {
    if (signal !== 'SIGINT' && pid) void stopTree(pid, 5000, realKillDeps, signal)
  })
  const result = await exited
  if (result.error) throw new MrsError(`${binary} could not be started: ${result.error.message}`, result.error.code === 'ENOENT' ? ExitCode.NotFound : ExitCode.Failure)
  return exitCodeOf(result)
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
    const session = /^(?:session|probe)-(\d+)/.exec(name)
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
