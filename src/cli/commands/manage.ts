/** `mrs ps`, `mrs stop`, `mrs logs`: the servers mrs started, seen from any terminal. */
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ExitCode, MrsError, usageError } from '../../errors.js'
import { formatDuration } from '../../duration.js'
import { getPaths } from '../../paths.js'
import { DEFAULTS } from '../../config/schema.js'
import { askKeeper, isServerProcess, listServers } from '../../server/registry.js'
import type { ServerInfo } from '../../keeper/protocol.js'
import { stopGroup, waitUntil } from '../../process/kill.js'
import { isAlive, isStopped, sleep } from '../../process/proc.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'
import { formatTokens, printable } from '../../text.js'
import { describePlace } from '../../places/registry.js'

type Parsed = ParsedArgs

/** Registry entries, each refreshed with the keeper's live view (session count, state). */
async function liveServers(): Promise<ServerInfo[]> {
  const out = new Output()
  const entries = await listServers(getPaths(process.env), (m) => out.warn(m))
  return Promise.all(
    entries.map(async (e) => {
      const answer = await askKeeper(e.info, { t: 'status', metrics: true }, 1000)
      return answer?.t === 'status' ? answer.info : e.info
    }),
  )
}

export async function psCommand(parsed: Parsed): Promise<number> {
  const watch = Boolean(parsed.options.watch) && Boolean(process.stdout.isTTY)
  if (!watch) {
    process.stdout.write(psText(await liveServers(), Boolean(parsed.options.json)))
    return ExitCode.Ok
  }
  // refresh in place once a second until Ctrl-C
  let stop = false
  const onSignal = () => (stop = true)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    let lines = 0
    while (!stop) {
      // cut to the width, as watch(1) does: a wrapped line would throw off the redraw
      const width = process.stdout.columns || Infinity
      const rows = psText(await liveServers(), false).trimEnd().split('\n').map((l) => l.slice(0, width))
      process.stdout.write(`${lines ? `\x1b[${lines}F\x1b[0J` : ''}${rows.join('\n')}\n`)
      lines = rows.length
      for (let i = 0; i < 10 && !stop; i++) await sleep(100)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return ExitCode.Ok
}

const num = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits))

/** `mrs ps` as a table, or as JSON with the metrics as numbers (null where the server has no /metrics). */
export function psText(servers: ServerInfo[], json: boolean, now = Date.now()): string {
  if (json) {
    const rows = servers.map((s) => {
      const m = s.metrics
      return {
        ...s,
        uptimeMs: now - s.startedAt,
        metrics: {
          running: m?.running ?? null,
          waiting: m?.waiting ?? null,
          tokensPerSecond: m?.tokensPerSecond ?? null,
          decodeTokensPerSecond: m?.decodeTokensPerSecond ?? null,
          ttftMs: m?.ttftMs ?? null,
          kvCacheUse: m?.kvCacheUse ?? null,
          prefixCacheHits: m?.prefixCacheHits ?? null,
          prefixCacheLookups: m?.prefixCacheLookups ?? null,
        },
      }
    })
    return `${JSON.stringify(rows, null, 2)}\n`
  }
  if (!servers.length) return 'no servers started by mrs are running\n'
  const rows = [['ID', 'MODEL', 'WHERE', 'URL', 'PID', 'UPTIME', 'SESSIONS', 'STATE', 'CONTEXT', 'RUN/WAIT', 'TOK/S', 'TTFT', 'KV', 'PREFIX', 'LOG']]
  for (const s of servers) {
    const m = s.metrics
    rows.push([
      s.id,
      s.models.join(' + '),
      s.placeStatus ?? describePlace(s.place),
      s.url,
      String(s.serverPid),
      formatDuration(now - s.startedAt),
      String(s.sessions),
      `${s.state}${s.shared ? '' : ' (private)'}`,
      s.contextWindow ? formatTokens(s.contextWindow) : '-',
      m ? `${num(m.running)}/${num(m.waiting)}` : '-',
      num(m?.tokensPerSecond, 1),
      m?.ttftMs !== undefined ? `${Math.round(m.ttftMs)}ms` : '-',
      m?.kvCacheUse !== undefined ? `${Math.round(m.kvCacheUse * 100)}%` : '-',
      // requests that reused a cached prefix, of those looked up
      m?.prefixCacheLookups !== undefined ? `${num(m.prefixCacheHits)}/${num(m.prefixCacheLookups)}` : '-',
      s.logPath ?? '-',
    ])
  }
  // a registry entry is data from a file: printed escaped
  for (const r of rows) for (let i = 0; i < r.length; i++) r[i] = printable(r[i]!)
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  // a column with nothing in it says why, under the table
  const notes = servers.filter((s) => !s.metrics && s.metricsNote).map((s) => printable(`${s.id}: RUN/WAIT, TOK/S, TTFT, KV and PREFIX are empty: ${s.metricsNote}`))
  return [...rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')), ...notes].join('\n') + '\n'
}

function pick(servers: ServerInfo[], id: string | undefined, what: string): ServerInfo[] {
  if (id) {
    const matches = servers.filter((s) => s.id.startsWith(id))
    if (!matches.length) throw new MrsError(`no running server has the id ${id}; see mrs ps`, ExitCode.Failure)
    if (matches.length > 1) throw usageError(`${id} matches ${matches.map((s) => s.id).join(', ')}: give more of the id`)
    return matches
  }
  if (!servers.length) throw new MrsError('no servers started by mrs are running', ExitCode.Failure)
  if (servers.length > 1) throw usageError(`${servers.length} servers are running (${servers.map((s) => s.id).join(', ')}): name one (mrs ${what} ID) or use --all`)
  return servers
}

export async function stopCommand(parsed: Parsed): Promise<number> {
  const out = new Output()
  const servers = await liveServers()
  // nothing to stop is "nothing matched" (exit 1), with --all as without
  if (parsed.options.all && !servers.length) throw new MrsError('no servers started by mrs are running', ExitCode.Failure)
  const targets = parsed.options.all ? servers : pick(servers, parsed.args[0], 'stop')
  await Promise.all(targets.map((s) => stopServer(s, out)))
  return ExitCode.Ok
}

async function stopServer(info: ServerInfo, out: Output): Promise<void> {
  // the keeper's own grace period is not known here: allow the default, plus time to exit
  const graceMs = DEFAULTS.graceMs
  const stopped = isStopped(info.keeperPid)
  if (!stopped) await askKeeper(info, { t: 'stop' }, 1000)
  if (stopped || !(await waitUntil(() => !isAlive(info.keeperPid), graceMs + 2000, 20))) {
    // the keeper does not answer (stopped, hung): stop it, and its server when it is provably ours
    try {
      process.kill(info.keeperPid, 'SIGKILL')
    } catch {
      // already gone
    }
    if (isServerProcess(info.serverPid, info)) await stopGroup(info.serverPid, graceMs)
  }
  out.info(`stopped ${info.id} (${info.models.join(' + ')})${info.sessions ? `; ${info.sessions} session${info.sessions === 1 ? ' was' : 's were'} told` : ''}`)
}

export async function logsCommand(parsed: Parsed): Promise<number> {
  const paths = getPaths(process.env)
  const id = parsed.args[0]
  const servers = await liveServers()
  let path: string | undefined
  let server: ServerInfo | undefined
  // like mrs stop: with several servers running, the user says which
  if (id || servers.length) {
    const matches = servers.filter((s) => s.id.startsWith(id ?? ''))
    if (matches.length > 1) throw usageError(`${matches.length} servers are running (${matches.map((s) => s.id).join(', ')}): name one (mrs logs ID)`)
    server = matches[0]
    path = server?.logPath ?? undefined
  }
  if (!path) path = findLog(paths.logDir, id)
  if (!path) throw new MrsError(id ? `no log for ${id} in ${paths.logDir}` : `no logs in ${paths.logDir} yet`, ExitCode.Failure)
  const lines = parsed.options.lines !== undefined ? Number(parsed.options.lines) : undefined
  if (lines !== undefined && (!Number.isInteger(lines) || lines < 0)) throw usageError(`invalid ${parsed.spelled?.lines ?? '--lines'} ${parsed.options.lines}: must be a whole number`)
  const text = readFileSync(path, 'utf8')
  process.stdout.write(lines !== undefined ? tail(text, lines) : text)
  if (!parsed.options.follow) return ExitCode.Ok
  await follow(path, Buffer.byteLength(text), server)
  return ExitCode.Ok
}

const tail = (text: string, n: number) => {
  const all = text.split('\n')
  if (all.at(-1) === '') all.pop()
  return n === 0 ? '' : `${all.slice(-n).join('\n')}\n`
}

/** The newest log, or the newest whose name has `id`. */
function findLog(logDir: string, id?: string): string | undefined {
  try {
    return readdirSync(logDir)
      .filter((n) => n.endsWith('.log') && (!id || n.includes(id)))
      .map((n) => ({ path: join(logDir, n), mtime: statSync(join(logDir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime)[0]?.path
  } catch {
    return undefined
  }
}

/** Prints what is appended to the log; ends when the server's keeper is gone (or on Ctrl-C). */
async function follow(path: string, offset: number, server?: ServerInfo): Promise<void> {
  let position = offset
  let stop = false
  const onSignal = () => (stop = true)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    while (!stop) {
      const size = statSync(path).size
      if (size > position) {
        const fd = openSync(path, 'r')
        const buffer = Buffer.alloc(size - position)
        readSync(fd, buffer, 0, buffer.length, position)
        closeSync(fd)
        process.stdout.write(buffer)
        position = size
      }
      if (server && !isAlive(server.keeperPid)) break
      await sleep(100)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

