/**
 * One small JSON GET over node:http(s): cheaper to load than fetch (undici)
 * and enough for /v1/models.
 */
import type { IncomingMessage } from 'node:http'

export interface JsonResponse {
  status: number
  body: unknown
  text: string
}

export async function getJson(url: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<JsonResponse> {
  const u = new URL(url)
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http')
  return new Promise((resolve, reject) => {
    const req = mod.get(u, { headers: { accept: 'application/json', ...opts.headers }, timeout: opts.timeoutMs ?? 10_000 }, (res: IncomingMessage) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = undefined
        }
        resolve({ status: res.statusCode ?? 0, body, text })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
  })
}

/** One GET for text (e.g. /metrics), bounded by `timeoutMs`. */
export async function getText(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const { status, text } = await getJson(url, { timeoutMs, headers: { accept: 'text/plain', ...headers } })
  return { status, text }
}

/** The model ids a server lists at GET /v1/models. */
export function modelIds(body: unknown): string[] | undefined {
  const data = (body as { data?: unknown })?.data
  if (!Array.isArray(data)) return undefined
  return data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string')
}
