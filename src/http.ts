/**
 * Small HTTP GETs over node:http(s): cheaper to load than fetch (undici), and
 * every one bounded three ways, because a server can be slow, hostile or
 * broken and mrs must never hang or run out of memory on it:
 *   - a total deadline (connect, headers and body together): a socket idle
 *     timeout alone lets a server that drips one byte a second hold mrs forever;
 *   - an abort signal (Ctrl-C, SIGTERM) that ends the wait at once;
 *   - a cap on the bytes read: past it the request fails with `ETOOBIG`.
 * `socketPath` reaches a server through a Unix socket instead of the URL's
 * host and port (the local end of a tunnel).
 */
import type { IncomingMessage } from 'node:http'

export interface RequestOptions {
  headers?: Record<string, string>
  /** The whole exchange must be over by then. */
  timeoutMs: number
  signal?: AbortSignal
  /** Read at most this many bytes of body (default 1 MiB). */
  maxBytes?: number
  socketPath?: string
  /** Connections to reuse (a kept-alive one for a poll); default: a new connection per request. */
  agent?: import('node:http').Agent
}

export interface TextResponse {
  status: number
  text: string
}

export interface JsonResponse extends TextResponse {
  body: unknown
}

export const DEFAULT_MAX_BYTES = 1024 * 1024

/** An error with a code a caller can tell apart: ETIMEDOUT, ETOOBIG, ABORT_ERR, or the socket's own. */
export function httpError(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code })
}

/** Streams a request's response to `onResponse`, under the deadline, the signal and nothing else; resolves with what it returns. */
export async function request<T>(
  url: string,
  opts: RequestOptions & { method?: string; body?: string },
  onResponse: (res: IncomingMessage, fail: (e: Error) => void) => Promise<T>,
): Promise<T> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http')
  return new Promise<T>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason ?? httpError('aborted', 'ABORT_ERR'))
    let settled = false
    const settle = (error: Error | undefined, value?: T) => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      opts.signal?.removeEventListener('abort', onAbort)
      if (error) {
        req.destroy()
        reject(error)
      } else resolve(value as T)
    }
    const onAbort = () => settle(opts.signal?.reason instanceof Error ? opts.signal.reason : httpError('aborted', 'ABORT_ERR'))
    const deadline = setTimeout(() => settle(httpError(`no complete answer within ${opts.timeoutMs} ms`, 'ETIMEDOUT')), opts.timeoutMs)
    deadline.unref?.()
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const headers = { ...opts.headers, ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}) }
    const req = mod.request(u, { method: opts.method ?? 'GET', headers, ...(opts.socketPath ? { socketPath: opts.socketPath } : {}), ...(opts.agent ? { agent: opts.agent } : {}) }, (res) => {
      res.on('error', (e) => settle(e))
      onResponse(res, (e) => settle(e)).then(
        (value) => settle(undefined, value),
        (e: Error) => settle(e),
      )
    })
    req.on('error', (e) => settle(e))
    req.end(opts.body)
  })
}

/** Reads a whole body, up to `maxBytes`. */
export function readBody(res: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    res.on('data', (chunk: Buffer) => {
      if (failed) return
      size += chunk.length
      if (size > maxBytes) {
        failed = true
        chunks.length = 0
        // said first: the connection's reset, once it is dropped, must not be taken for the reason
        reject(httpError(`the answer is larger than ${formatCap(maxBytes)}`, 'ETOOBIG'))
        return void setImmediate(() => res.destroy())
      }
      chunks.push(chunk)
    })
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('aborted', () => reject(httpError('the connection closed mid-answer', 'ECONNRESET')))
  })
}

export const formatCap = (bytes: number) => (bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MiB` : `${Math.round(bytes / 1024)} KiB`)

/** One GET for text (/metrics, an error body). */
export function getText(url: string, opts: RequestOptions): Promise<TextResponse> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES
  return request(url, { ...opts, headers: { accept: 'text/plain', ...opts.headers } }, async (res) => ({ status: res.statusCode ?? 0, text: await readBody(res, maxBytes) }))
}

/** One GET for JSON (/v1/models). `body` is undefined when the text is not JSON. */
export async function getJson(url: string, opts: RequestOptions): Promise<JsonResponse> {
  const { status, text } = await getText(url, { ...opts, headers: { accept: 'application/json', ...opts.headers } })
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  return { status, text, body }
}

/** The model ids a server lists at GET /v1/models. */
export function modelIds(body: unknown): string[] | undefined {
  const data = (body as { data?: unknown })?.data
  if (!Array.isArray(data)) return undefined
  return data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string')
}

/** A model list is a few KB; a long one a few hundred. Past this it is not a model list. */
export const MODEL_LIST_MAX_BYTES = 4 * 1024 * 1024

/**
 * A URL's credentials (`http://user:password@host`) as the Basic
 * `Authorization` value they stand for, and the URL without them: a command
 * line is readable by every local user (/proc/PID/cmdline), so a URL that goes
 * into one loses its credentials, which travel in the environment instead.
 */
export function splitCredentials(url: string): { url: string; authorization?: string } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return { url }
  }
  if (!u.username && !u.password) return { url }
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
  u.username = ''
  u.password = ''
  return { url: u.toString().replace(/\/$/, ''), authorization }
}

/** `http://user:secret@host` → `http://user:***@host`, wherever a URL with a password appears in `text`. */
export const maskCredentials = (text: string) => text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^/\s@]*@/gi, '$1:***@')

/**
 * Runs one GET through the whole client path against a throwaway loopback
 * server: Node compiles its HTTP client on first use (~10 ms here), which
 * would otherwise fall between the server's bind and the client's start. The
 * keeper calls it while the model loads; any failure is of no consequence.
 */
export async function warmUpClient(): Promise<void> {
  const { createServer } = await import('node:http')
  const server = createServer((_, res) => res.end('{"data":[]}'))
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()))
    const { port } = server.address() as { port: number }
    await getJson(`http://127.0.0.1:${port}/`, { timeoutMs: 2000 })
  } catch {
    // a warm-up only
  } finally {
    server.close()
  }
}
