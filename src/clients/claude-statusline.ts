/**
 * Claude Code's status line under mrs (dist/statusline.cjs):
 *   `Qwen3-Coder-Next · 23k/64k · 41 tok/s`
 * the model's real name, the context in use (from what Claude pipes in) of
 * the context the server holds, and the server's recent generation speed
 * (from /metrics, against the previous run's sample kept in the session's
 * temp dir). Claude runs it after every message, so it must cost nothing:
 * it answers in a few tens of ms, within 200 ms whatever happens, never
 * blocks on a dead or hung server, and on any error prints the name alone.
 *
 * usage: node statusline.cjs URL NAME CONTEXT STATE_FILE   (JSON from Claude on stdin)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { parseMetrics } from '../server/metrics.js'
import { AUTHORIZATION_ENV } from './types.js'
import { formatTokens } from '../text.js'

/**
 * Whatever happens (a hung server, a busy machine), the line is out by then;
 * a healthy answer takes far less (bench). MRS_STATUSLINE_TIMEOUT_MS raises
 * it for a --url server far away.
 */
const BUDGET_MS = Number(process.env.MRS_STATUSLINE_TIMEOUT_MS) > 0 ? Number(process.env.MRS_STATUSLINE_TIMEOUT_MS) : 200
const [url = '', name = 'model', contextArg = '', stateFile = ''] = process.argv.slice(2)
let done = false

function finish(line: string): void {
  if (done) return
  done = true
  process.stdout.write(`${line}\n`, () => process.exit(0))
}

/** A /metrics page is tens of KB: past this the answer is not one, and reading stops. */
export const METRICS_MAX_BYTES = 1024 * 1024

/** A count that can be shown: a finite, non-negative number (anything else in the JSON is ignored). */
const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0)

/** Tokens in the context now, from Claude's status JSON. */
export function contextUsed(status: unknown): number | undefined {
  const usage = (status as { context_window?: { current_usage?: Record<string, unknown> | null } })?.context_window?.current_usage
  if (!usage || typeof usage !== 'object') return undefined
  return count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens) + count(usage.output_tokens)
}

/** Generation speed since the previous sample (else over the server's life), from the inter-token latency histogram. */
export function speed(metrics: Map<string, number>, previous?: { sum: number; count: number }): number | undefined {
  const sum = metrics.get('mistralrs_inter_token_latency_seconds_sum')
  const count = metrics.get('mistralrs_inter_token_latency_seconds_count')
  if (sum === undefined || !count) return undefined
  const fresh = previous && count > previous.count ? (sum - previous.sum) / (count - previous.count) : sum / count
  const tokPerSec = 1 / fresh
  // a tiny or corrupt sum would show "Infinity tok/s": no real model streams faster than this
  return fresh > 0 && Number.isFinite(tokPerSec) && tokPerSec < 1e6 ? tokPerSec : undefined
}

export function line(parts: { name: string; used?: number; context?: number; tokPerSec?: number }): string {
  const out = [parts.name]
  if (parts.context) out.push(`${parts.used !== undefined ? formatTokens(parts.used) : '-'}/${formatTokens(parts.context)}`)
  if (parts.tokPerSec !== undefined) out.push(`${parts.tokPerSec >= 10 ? Math.round(parts.tokPerSec) : parts.tokPerSec.toFixed(1)} tok/s`)
  return out.join(' · ')
}

/**
 * GET the server's /metrics: the body of a 200, else undefined. Over plain
 * HTTP it is one HTTP/1.0 request on a socket (node:http costs a few ms to
 * load, and this runs after every message); https goes through node:https.
 */
export function getMetrics(target: string, authorization: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    let u: URL
    try {
      u = new URL(target)
    } catch {
      return resolve(undefined)
    }
    const auth: Record<string, string> = authorization ? { authorization } : {}
    if (u.protocol === 'https:') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const req = (require('node:https') as typeof import('node:https')).get(u, { headers: auth, timeout: BUDGET_MS }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
          if (text.length > METRICS_MAX_BYTES) {
            req.destroy()
            resolve(undefined)
          }
        })
        res.on('end', () => resolve(res.statusCode === 200 ? text : undefined))
        res.on('error', () => resolve(undefined))
      })
      req.on('timeout', () => req.destroy())
      req.on('error', () => resolve(undefined))
      return
    }
    const socket = connect(Number(u.port || 80), u.hostname.replace(/^\[|\]$/g, ''))
    const chunks: Buffer[] = []
    let size = 0
    socket.setTimeout(BUDGET_MS, () => socket.destroy())
    socket.on('error', () => resolve(undefined))
    socket.on('data', (c: Buffer) => {
      size += c.length
      if (size > METRICS_MAX_BYTES) {
        chunks.length = 0
        resolve(undefined)
        return void socket.destroy()
      }
      chunks.push(c)
    })
    socket.on('close', () => {
      // HTTP/1.0: the server closes the connection after the body, which is not chunked
      const response = Buffer.concat(chunks).toString('utf8')
      const split = response.indexOf('\r\n\r\n')
      resolve(split > 0 && /^HTTP\/1\.[01] 200 /.test(response) ? response.slice(split + 4) : undefined)
    })
    socket.on('connect', () => {
      const headers = [`GET ${u.pathname}${u.search} HTTP/1.0`, `Host: ${u.host}`, ...Object.entries(auth).map(([k, v]) => `${k}: ${v}`)]
      socket.write(`${headers.join('\r\n')}\r\n\r\n`)
    })
  })
}

function main(): void {
  setTimeout(() => finish(name), BUDGET_MS).unref()
  // the contract: whatever goes wrong, the line is the model's name
  process.on('uncaughtException', () => finish(name))
  process.on('unhandledRejection', () => finish(name))
  let input = ''
  process.stdin.setEncoding('utf8')
  // Claude's status JSON is a few KB; a runaway pipe is not read past the cap
  process.stdin.on('data', (d: string) => {
    if (input.length < METRICS_MAX_BYTES) input += d
  })
  const stdinDone = new Promise<void>((resolve) => process.stdin.on('end', resolve).on('error', () => resolve()))
  // a --url's credentials come in the environment (the URL in this command line has none); else Claude's bearer token
  const token = process.env.ANTHROPIC_AUTH_TOKEN
  const authorization = process.env[AUTHORIZATION_ENV] || (token ? `Bearer ${token}` : undefined)
  const metrics = getMetrics(`${url}/metrics`, authorization).then((text) => (text === undefined ? undefined : parseMetrics(text)))
  void Promise.all([stdinDone, metrics]).then(([, m]) => {
    try {
      finish(compose(input, m))
    } catch {
      finish(name)
    }
  }, () => finish(name))
}

/** The line for Claude's JSON on stdin and the server's metrics; throws on anything unexpected (the caller prints the name). */
function compose(input: string, m: Map<string, number> | undefined): string {
  let status: unknown
  try {
    status = input ? JSON.parse(input) : undefined
  } catch {
    status = undefined
  }
  let previous: { sum: number; count: number } | undefined
  try {
    previous = stateFile ? JSON.parse(readFileSync(stateFile, 'utf8')) : undefined
  } catch {
    previous = undefined
  }
  const tokPerSec = m ? speed(m, previous) : undefined
  if (m && stateFile) {
    try {
      writeFileSync(stateFile, JSON.stringify({ sum: m.get('mistralrs_inter_token_latency_seconds_sum') ?? 0, count: m.get('mistralrs_inter_token_latency_seconds_count') ?? 0 }), { mode: 0o600 })
    } catch {
      // the next run has no previous sample: it shows the speed over the server's life
    }
  }
  const claudeWindow = count((status as { context_window?: { context_window_size?: unknown } })?.context_window?.context_window_size) || undefined
  return line({ name, used: contextUsed(status), context: Number(contextArg) || claudeWindow, tokPerSec })
}

if (process.argv[1] && /statusline\.c?js$/.test(process.argv[1])) {
  try {
    main()
  } catch {
    finish(name)
  }
}
