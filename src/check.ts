/**
 * Does this model work for agents? One short streaming request per API the
 * clients speak (Anthropic Messages, Responses, chat completions) that offers
 * one tool and asks for it to be called, read the way the clients read it.
 * A model or chat template that does not make structured tool calls is the
 * commonest reason a local coding agent fails (it prints raw JSON, or stops
 * after one turn); this says so before a session, with what usually fixes it.
 */
import type { ClientApi } from './clients/types.js'
import { CLIENTS } from './clients/registry.js'
import { formatCap, readBody, request } from './http.js'
import { printable } from './text.js'

export interface CheckTarget {
  url: string
  model: string
  /** Tools the client sends besides a function tool, offered too (in that API's own shape): a type the server refuses fails the check. */
  otherTools?: unknown[]
  headers?: Record<string, string>
  /** The whole probe, from the request to the stream's end (default 180 s: a short generation, even on a slow machine). */
  timeoutMs?: number
  /** Ctrl-C: the probe ends at once and the signal's reason is thrown. */
  signal?: AbortSignal
}

export const PROBE_TIMEOUT_MS = 180_000
/** One event of a stream is a few KB; a stream of a 256-token answer well under a megabyte. */
export const MAX_EVENT_BYTES = 1024 * 1024
export const MAX_STREAM_BYTES = 16 * 1024 * 1024
const MAX_ERROR_BODY = 64 * 1024

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
/** The tools every client of an API sends besides function tools (what `mrs check` offers with its one tool). */
export const otherToolsOf = (api: ClientApi, server: { webSearch: boolean; serverVersion?: string }) => CLIENTS.filter((c) => c.api === api).flatMap((c) => c.otherTools?.(server) ?? [])

/** `Responses (NAME, ...)`: each API with the clients that speak it. */
export const apiName = (api: ClientApi) => `${API_TITLES[api]} (${CLIENTS.filter((c) => c.api === api).map((c) => c.name).join(', ')})`

const TOOL = {
  name: 'read_file',
  description: 'Read a file of the project and return its text.',
  schema: { type: 'object', properties: { path: { type: 'string', description: 'Path of the file to read' } }, required: ['path'] },
}
const PROMPT = 'Use the read_file tool to read README.md. Call the tool; do not answer in text.'

function requestFor(api: ClientApi, model: string, otherTools: unknown[] = []): { path: string; body: unknown; headers: Record<string, string> } {
  switch (api) {
    case 'anthropic':
      return {
        path: '/v1/messages',
        headers: { 'anthropic-version': '2023-06-01' },
        body: { model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: PROMPT }], tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.schema }, ...otherTools] },
      }
    case 'responses':
      return {
        path: '/v1/responses',
        headers: {},
        body: { model, stream: true, store: false, input: [{ role: 'user', content: PROMPT }], tools: [{ type: 'function', name: TOOL.name, description: TOOL.description, parameters: TOOL.schema }, ...otherTools] },
      }
    case 'chat':
      return {
        path: '/v1/chat/completions',
        headers: {},
        body: { model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: PROMPT }], tools: [{ type: 'function', function: { name: TOOL.name, description: TOOL.description, parameters: TOOL.schema } }, ...otherTools] },
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
  const { path, body, headers } = requestFor(api, target.model, target.otherTools)
  const timeoutMs = target.timeoutMs ?? PROBE_TIMEOUT_MS
  const startedAt = Date.now()
  const g: Gathered = { text: '', toolArgs: '' }
  try {
    return await request(
      `${target.url}${path}`,
      {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers, ...target.headers },
        timeoutMs,
        signal: target.signal,
      },
      async (res) => {
        if (res.statusCode !== 200) return httpError(api, res.statusCode ?? 0, await readBody(res, MAX_ERROR_BODY).catch(() => '(the body was too large to show)'))
        await readEvents(res, (event, data) => gather(api, event, data, g, Date.now()))
        g.endAt = Date.now()
        return judge(api, g, startedAt)
      },
    )
  } catch (e) {
    if (target.signal?.aborted) throw target.signal.reason
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ETIMEDOUT') return { api, ok: false, outcome: 'bad-stream', text: `no complete answer within ${Math.round(timeoutMs / 1000)} s`, fix: 'the server did not finish a short answer in time: see its log (mrs logs) and its load (mrs ps)' }
    if (err.code === 'ETOOBIG') return { api, ok: false, outcome: 'bad-stream', text: err.message, fix: 'the server sent more than a short answer could be: is it a mistral.rs server?' }
    if (err.code === 'ECONNRESET' && g.firstTokenAt !== undefined) return { api, ok: false, outcome: 'bad-stream', text: err.message, fix: 'the stream broke off: see the server log (mrs logs)' }
    return { api, ok: false, outcome: 'unreachable', text: err.message, fix: 'the server did not answer: is it running (mrs ps), and is its URL right?' }
  }
}

/**
 * Reads server-sent events as they arrive, each once (a buffer is never
 * rescanned from its start), within MAX_EVENT_BYTES per event and
 * MAX_STREAM_BYTES in all; past either it fails with ETOOBIG.
 */
export function readEvents(res: NodeJS.ReadableStream, onEvent: (event: string | undefined, data: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    let total = 0
    let failed = false
    const fail = (message: string) => {
      failed = true
      // said first: the connection's reset, once it is dropped, must not be taken for the reason
      reject(Object.assign(new Error(message), { code: 'ETOOBIG' }))
      setImmediate(() => (res as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.())
    }
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      if (failed) return
      total += chunk.length
      if (total > MAX_STREAM_BYTES) return fail(`the stream went past ${formatCap(MAX_STREAM_BYTES)}`)
      // only the new text can complete an event: look from just before it
      let from = Math.max(0, buffer.length - 1)
      buffer += chunk.replace(/\r/g, '')
      let end: number
      while ((end = buffer.indexOf('\n\n', from)) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        from = 0
        const event = /^event: ?(.*)$/m.exec(block)?.[1]?.trim()
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n')
        if (data) onEvent(event, data)
      }
      if (buffer.length > MAX_EVENT_BYTES) fail(`one event of the stream went past ${formatCap(MAX_EVENT_BYTES)} without ending`)
    })
    res.on('end', () => resolve())
    res.on('error', reject)
    res.on('aborted', () => reject(Object.assign(new Error('the stream broke off'), { code: 'ECONNRESET' })))
  })
}

function httpError(api: ClientApi, status: number, body: string): CheckResult {
  const short = printable(body.trim().replace(/\s+/g, ' ').slice(0, 300))
  const fix =
    status === 404
      ? `the server does not serve this API (${api === 'anthropic' ? 'Anthropic Messages needs mistral.rs 0.8.4 or later' : 'is it mistral.rs?'})`
      : status === 401 || status === 403
        ? 'the server refused the key: pass --api-key-env VAR'
        : status === 422 && /untagged enum OpenAiTool/.test(body)
          ? "the server's types refuse a tool the clients of this API send (mistral.rs reads function, web_search, code_interpreter and shell tools, and namespace tools from 0.9.2): upgrade mistral.rs"
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
      ? `${r.ok ? 'ok' : 'FAILED'}: called ${printable(r.toolCall!.name.slice(0, 100))}(${printable(JSON.stringify(r.toolCall!.arguments).slice(0, 300))})`
      : r.outcome === 'text-tool-call'
        ? `FAILED: a tool call as plain text: ${printable(JSON.stringify(r.text))}`
        : r.outcome === 'no-tool-call'
          ? `FAILED: no tool call; it answered: ${printable(JSON.stringify(r.text))}`
          : r.outcome === 'http-error'
            ? `FAILED: HTTP ${r.status}: ${r.body}`
            : `FAILED: ${printable(r.text ?? '')}`
  // every part can quote the server (a tool's name, its arguments, an error body): nothing of it reaches the terminal raw
  return [`${apiName(r.api)}: ${what}${speed ? ` (${speed})` : ''}`, ...(r.fix ? [`  fix: ${printable(r.fix)}`] : [])]
}
