/**
 * Does this model work for agents? One short streaming request per API the
 * clients speak (Anthropic Messages, Responses, chat completions) that offers
 * one tool and asks for it to be called, read the way the clients read it.
 * A model or chat template that does not make structured tool calls is the
 * commonest reason a local coding agent fails (it prints raw JSON, or stops
 * after one turn); this says so before a session, with what usually fixes it.
 */
import type { IncomingMessage } from 'node:http'
import type { ClientApi } from './clients/types.js'
import { CLIENTS } from './clients/registry.js'

export interface CheckTarget {
  url: string
  model: string
  headers?: Record<string, string>
  timeoutMs?: number
}

export type Outcome = 'tool-call' | 'text-tool-call' | 'no-tool-call' | 'http-error' | 'unreachable' | 'bad-stream'

export interface CheckResult {
  api: ClientApi
  ok: boolean
  outcome: Outcome
  toolCall?: { name: string; arguments: unknown }
  /** What came back instead of a tool call (trimmed). */
  text?: string
  status?: number
  body?: string
  /** Time to the first streamed token, ms. */
  ttftMs?: number
  tokensPerSecond?: number
  /** One line: what usually fixes it. */
  fix?: string
}

const API_TITLES: Record<ClientApi, string> = { anthropic: 'Anthropic Messages', responses: 'Responses', chat: 'chat completions' }
/** `Responses (NAME, ...)`: each API with the clients that speak it. */
export const apiName = (api: ClientApi) => `${API_TITLES[api]} (${CLIENTS.filter((c) => c.api === api).map((c) => c.name).join(', ')})`

const TOOL = {
  name: 'read_file',
  description: 'Read a file of the project and return its text.',
  schema: { type: 'object', properties: { path: { type: 'string', description: 'Path of the file to read' } }, required: ['path'] },
}
const PROMPT = 'Use the read_file tool to read README.md. Call the tool; do not answer in text.'

function requestFor(api: ClientApi, model: string): { path: string; body: unknown; headers: Record<string, string> } {
  switch (api) {
    case 'anthropic':
      return {
        path: '/v1/messages',
        headers: { 'anthropic-version': '2023-06-01' },
        body: { model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: PROMPT }], tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.schema }] },
      }
    case 'responses':
      return {
        path: '/v1/responses',
        headers: {},
        body: { model, stream: true, store: false, input: [{ role: 'user', content: PROMPT }], tools: [{ type: 'function', name: TOOL.name, description: TOOL.description, parameters: TOOL.schema }] },
      }
    case 'chat':
      return {
        path: '/v1/chat/completions',
        headers: {},
        body: { model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: PROMPT }], tools: [{ type: 'function', function: { name: TOOL.name, description: TOOL.description, parameters: TOOL.schema } }] },
      }
  }
}

/** What a stream said, gathered as the clients gather it. */
export interface Gathered {
  text: string
  toolName?: string
  toolArgs: string
  outputTokens?: number
  /** mistral.rs's own figure (chat completions' `usage.avg_compl_tok_per_sec`). */
  serverTokensPerSecond?: number
  firstTokenAt?: number
  endAt?: number
}

/** Reads one SSE event (`event:` and `data:` lines) into `g`. */
export function gather(api: ClientApi, event: string | undefined, data: string, g: Gathered, now: number): void {
  if (data === '[DONE]') return
  let d: Record<string, any>
  try {
    d = JSON.parse(data)
  } catch {
    return
  }
  const mark = () => (g.firstTokenAt ??= now)
  if (api === 'chat') {
    const delta = d.choices?.[0]?.delta
    if (delta?.content) (mark(), (g.text += delta.content))
    for (const call of delta?.tool_calls ?? []) {
      mark()
      if (call.function?.name) g.toolName = call.function.name
      if (call.function?.arguments) g.toolArgs += call.function.arguments
    }
    if (d.usage?.completion_tokens) g.outputTokens = d.usage.completion_tokens
    if (d.usage?.avg_compl_tok_per_sec > 0) g.serverTokensPerSecond = d.usage.avg_compl_tok_per_sec
  } else if (api === 'responses') {
    const type = d.type ?? event
    if (type === 'response.output_text.delta') (mark(), (g.text += d.delta ?? ''))
    if (type === 'response.function_call_arguments.delta') mark()
    if (type === 'response.output_item.done' && d.item?.type === 'function_call') {
      mark()
      g.toolName = d.item.name
      g.toolArgs = d.item.arguments ?? ''
    }
    if (type === 'response.output_item.done' && d.item?.type === 'message' && !g.text) g.text = (d.item.content ?? []).map((c: { text?: string }) => c.text ?? '').join('')
    if (type === 'response.completed' && d.response?.usage?.output_tokens) g.outputTokens = d.response.usage.output_tokens
  } else {
    const type = d.type ?? event
    if (type === 'content_block_start' && d.content_block?.type === 'tool_use') (mark(), (g.toolName = d.content_block.name))
    if (type === 'content_block_delta' && d.delta?.type === 'text_delta') (mark(), (g.text += d.delta.text ?? ''))
    if (type === 'content_block_delta' && d.delta?.type === 'input_json_delta') (mark(), (g.toolArgs += d.delta.partial_json ?? ''))
    if (type === 'message_delta' && d.usage?.output_tokens) g.outputTokens = d.usage.output_tokens
  }
}

/** Text that carries a tool call the server did not turn into one: the chat template's job. */
const LOOKS_LIKE_A_CALL = /<tool_call>|<\|tool_call|"name"\s*:\s*"read_file"|read_file\s*\(|"arguments"\s*:|\[TOOL_CALLS\]/

/**
 * Output tokens a second: the server's own figure when it gives one; else
 * the tokens over the time they streamed in, or, when they came all at once
 * (a tool call is sent whole, after it is generated), over the whole request.
 */
function speedOf(g: Gathered, startedAt: number): number | undefined {
  if (g.serverTokensPerSecond !== undefined) return g.serverTokensPerSecond
  if (g.firstTokenAt === undefined || g.endAt === undefined) return undefined
  const streamed = g.endAt - g.firstTokenAt
  const ms = streamed >= Math.max(1, (g.endAt - startedAt) / 10) ? streamed : g.endAt - startedAt
  if (ms < 1) return undefined
  return (g.outputTokens ?? Math.max(1, Math.round((g.text.length + g.toolArgs.length) / 4))) / (ms / 1000)
}

export function judge(api: ClientApi, g: Gathered, startedAt: number): CheckResult {
  const timing = {
    ttftMs: g.firstTokenAt !== undefined ? g.firstTokenAt - startedAt : undefined,
    tokensPerSecond: speedOf(g, startedAt),
  }
  if (g.toolName) {
    let args: unknown
    try {
      args = JSON.parse(g.toolArgs || '{}')
    } catch {
      return { api, ok: false, outcome: 'bad-stream', toolCall: { name: g.toolName, arguments: g.toolArgs }, ...timing, fix: 'the tool call\'s arguments are not JSON: check the chat template (--server-arg=--jinja-explicit --server-arg=TEMPLATE), or try another model' }
    }
    const ok = g.toolName === TOOL.name && typeof (args as { path?: unknown })?.path === 'string'
    return {
      api,
      ok,
      outcome: 'tool-call',
      toolCall: { name: g.toolName, arguments: args },
      ...timing,
      ...(ok ? {} : { fix: `the model called ${g.toolName} with ${JSON.stringify(args)} instead of read_file with a path: try a model that follows tool schemas (see mrs models)` }),
    }
  }
  const text = g.text.trim().slice(0, 200)
  if (LOOKS_LIKE_A_CALL.test(g.text))
    return {
      api,
      ok: false,
      outcome: 'text-tool-call',
      text,
      ...timing,
      fix: "the model wrote its tool call as text: the chat template does not parse tool calls; start mistral.rs with the model's own template (--server-arg=--jinja-explicit --server-arg=TEMPLATE.jinja) or use a model with tool calling (mrs models)",
    }
  return { api, ok: false, outcome: 'no-tool-call', text, ...timing, fix: 'the model answered without calling the tool: agents need a model that calls tools (see mrs models); a chat template without tools support (--jinja-explicit) also does this' }
}

export async function checkApi(api: ClientApi, target: CheckTarget): Promise<CheckResult> {
  const { path, body, headers } = requestFor(api, target.model)
  const u = new URL(`${target.url}${path}`)
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http')
  const payload = JSON.stringify(body)
  const startedAt = Date.now()
  return new Promise((resolve) => {
    const req = mod.request(
      u,
      { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(payload), ...headers, ...target.headers }, timeout: target.timeoutMs ?? 300_000 },
      (res: IncomingMessage) => {
        res.setEncoding('utf8')
        if (res.statusCode !== 200) {
          let text = ''
          res.on('data', (c: string) => (text += c))
          res.on('end', () => resolve(httpError(api, res.statusCode ?? 0, text)))
          return
        }
        const g: Gathered = { text: '', toolArgs: '' }
        let buffer = ''
        res.on('data', (chunk: string) => {
          buffer += chunk
          let end: number
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const event = /^event: ?(.*)$/m.exec(block)?.[1]?.trim()
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trimStart())
              .join('\n')
            if (data) gather(api, event, data, g, Date.now())
          }
        })
        res.on('end', () => {
          g.endAt = Date.now()
          resolve(judge(api, g, startedAt))
        })
        res.on('error', (e) => resolve({ api, ok: false, outcome: 'bad-stream', text: e.message, fix: 'the stream broke off: see the server log (mrs logs)' }))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round((target.timeoutMs ?? 300_000) / 1000)} s`)))
    req.on('error', (e) => resolve({ api, ok: false, outcome: 'unreachable', text: e.message, fix: 'the server did not answer: is it running (mrs ps), and is --url right?' }))
    req.end(payload)
  })
}

function httpError(api: ClientApi, status: number, body: string): CheckResult {
  const short = body.trim().replace(/\s+/g, ' ').slice(0, 300)
  const fix =
    status === 404
      ? `the server does not serve this API (${api === 'anthropic' ? 'Anthropic Messages needs mistral.rs 0.8.4 or later' : 'is it mistral.rs?'})`
      : status === 401 || status === 403
        ? 'the server refused the key: pass --api-key-env VAR'
        : status >= 500
          ? 'the server failed on this request: see its log (mrs logs) for why'
          : 'the server refused the request: see the body above'
  return { api, ok: false, outcome: 'http-error', status, body: short, fix }
}

/** Lines for people: a verdict per API, then what to do. */
export function describeResult(r: CheckResult): string[] {
  const speed = [r.ttftMs !== undefined ? `first token ${Math.round(r.ttftMs)} ms` : '', r.tokensPerSecond !== undefined ? `${r.tokensPerSecond.toFixed(1)} tok/s` : ''].filter(Boolean).join(', ')
  const what =
    r.outcome === 'tool-call'
      ? `${r.ok ? 'ok' : 'FAILED'}: called ${r.toolCall!.name}(${JSON.stringify(r.toolCall!.arguments)})`
      : r.outcome === 'text-tool-call'
        ? `FAILED: a tool call as plain text: ${JSON.stringify(r.text)}`
        : r.outcome === 'no-tool-call'
          ? `FAILED: no tool call; it answered: ${JSON.stringify(r.text)}`
          : r.outcome === 'http-error'
            ? `FAILED: HTTP ${r.status}: ${r.body}`
            : `FAILED: ${r.text}`
  return [`${apiName(r.api)}: ${what}${speed ? ` (${speed})` : ''}`, ...(r.fix ? [`  fix: ${r.fix}`] : [])]
}
