// The pure parts of watching a model: reading each API's stream in the
// tool-call check and judging it, the /metrics summary behind `mrs ps`, and
// the status line's figures. Protects the verdicts (a well-formed call, text
// that looks like one, none, bad arguments, the wrong tool), the speed
// (mistral.rs's own figure first; a call sent whole timed over the request),
// and the numbers users read.
import { describe, expect, it } from 'vitest'
import { describeResult, gather, judge, type Gathered } from '../../src/check.js'
import { parseMetrics, sampleOf, summarize } from '../../src/server/metrics.js'
import { contextUsed, getMetrics, line, speed } from '../../src/clients/claude-statusline.js'
import { createServer } from 'node:http'

/** Feeds (at, event, data) triples to a fresh gathering, ending at `end`. */
function stream(api: 'anthropic' | 'responses' | 'chat', events: [number, string | undefined, unknown][], end: number): Gathered {
  const g: Gathered = { text: '', toolArgs: '' }
  for (const [at, event, data] of events) gather(api, event, typeof data === 'string' ? data : JSON.stringify(data), g, at)
  g.endAt = end
  return g
}

describe('the tool-call check reads each API as its clients do', () => {
  it('Anthropic: a tool_use block with its JSON arguments is a pass; speed over the whole request when it came at once', () => {
    const g = stream('anthropic', [
      [200, 'content_block_start', { type: 'content_block_start', content_block: { type: 'tool_use', name: 'read_file' } }],
      [200, 'content_block_delta', { type: 'content_block_delta', delta: { type: 'input_json_delta', partial_json: '{"path":' } }],
      [200, 'content_block_delta', { type: 'content_block_delta', delta: { type: 'input_json_delta', partial_json: '"README.md"}' } }],
      [200, 'message_delta', { type: 'message_delta', usage: { output_tokens: 10 } }],
    ], 200)
    const r = judge('anthropic', g, 0)
    expect(r).toMatchObject({ ok: true, outcome: 'tool-call', toolCall: { name: 'read_file', arguments: { path: 'README.md' } }, ttftMs: 200 })
    // 10 tokens generated in the 200 ms before the call was sent whole
    expect(r.tokensPerSecond).toBe(50)
  })

  it('chat completions: mistral.rs\'s own avg_compl_tok_per_sec is the speed', () => {
    const g = stream('chat', [
      [30, undefined, { choices: [{ delta: { tool_calls: [{ function: { name: 'read_file', arguments: '{"path":"README.md"}' } }] } }], usage: { completion_tokens: 10, avg_compl_tok_per_sec: 41.5 } }],
      [31, undefined, '[DONE]'],
    ], 31)
    expect(judge('chat', g, 0)).toMatchObject({ ok: true, tokensPerSecond: 41.5, ttftMs: 30 })
  })

  it('Responses: streamed text is timed from its first token', () => {
    const g = stream('responses', [
      [100, 'response.output_text.delta', { type: 'response.output_text.delta', delta: 'I can answer ' }],
      [300, 'response.output_text.delta', { type: 'response.output_text.delta', delta: 'without tools.' }],
      [300, 'response.completed', { type: 'response.completed', response: { usage: { output_tokens: 20 } } }],
    ], 300)
    const r = judge('responses', g, 0)
    expect(r).toMatchObject({ ok: false, outcome: 'no-tool-call', text: 'I can answer without tools.', ttftMs: 100 })
    expect(r.tokensPerSecond).toBe(100)
    expect(r.fix).toMatch(/agents need a model that calls tools/)
  })

  it.each([
    ['<tool_call>{"name": "read_file", "arguments": {"path": "README.md"}}</tool_call>'],
    ['[TOOL_CALLS]read_file{"path": "README.md"}'],
    ['{"name": "read_file", "arguments": {"path": "README.md"}}'],
  ])('text that carries a call is a chat-template problem: %s', (text) => {
    const g = stream('chat', [[5, undefined, { choices: [{ delta: { content: text } }] }]], 6)
    expect(judge('chat', g, 0)).toMatchObject({ ok: false, outcome: 'text-tool-call' })
    expect(judge('chat', g, 0).fix).toMatch(/--jinja-explicit/)
  })

  it('a call whose arguments are not JSON, or of the wrong tool, fails with what to try', () => {
    const bad = stream('chat', [[5, undefined, { choices: [{ delta: { tool_calls: [{ function: { name: 'read_file', arguments: '{"path": README' } }] } }] }]], 6)
    expect(judge('chat', bad, 0)).toMatchObject({ ok: false, outcome: 'bad-stream', toolCall: { arguments: '{"path": README' } })
    const wrong = stream('chat', [[5, undefined, { choices: [{ delta: { tool_calls: [{ function: { name: 'shell', arguments: '{"cmd":"cat README.md"}' } }] } }] }]], 6)
    const r = judge('chat', wrong, 0)
    expect(r).toMatchObject({ ok: false, outcome: 'tool-call' })
    expect(describeResult(r)[0]).toMatch(/^chat completions \(opencode, copilot, pi\): FAILED: called shell\(\{"cmd":"cat README\.md"\}\)/)
  })

  it('no output at all: no timings are made up', () => {
    expect(judge('anthropic', stream('anthropic', [], 10), 0)).toMatchObject({ outcome: 'no-tool-call', ttftMs: undefined, tokensPerSecond: undefined })
  })
})

const METRICS = (tokens: number, itlSum: number, itlCount: number, running = 0) =>
  [
    `mistralrs_tokens_processed_total ${tokens}`,
    `mistralrs_sequences_running ${running}`,
    'mistralrs_sequences_waiting 2',
    'mistralrs_kv_cache_blocks_used 512',
    'mistralrs_kv_cache_blocks_total 2048',
    `mistralrs_time_to_first_token_seconds_sum{model="a"} 0.5`,
    `mistralrs_time_to_first_token_seconds_count{model="a"} 2`,
    `mistralrs_time_to_first_token_seconds_sum{model="b"} 0.5`,
    `mistralrs_time_to_first_token_seconds_count{model="b"} 2`,
    `mistralrs_inter_token_latency_seconds_sum ${itlSum}`,
    `mistralrs_inter_token_latency_seconds_count ${itlCount}`,
  ].join('\n')

describe('/metrics for mrs ps', () => {
  it('sums label sets and skips comments and junk', () => {
    const m = parseMetrics(`# HELP x\n${METRICS(10, 1, 40)}\nnot a metric line\nfoo NaN\n`)
    expect(m.get('mistralrs_time_to_first_token_seconds_count')).toBe(4)
    expect(m.has('foo')).toBe(false)
  })

  it('the prefix cache: hits and lookups over the server\'s life, as mistral.rs counts them', () => {
    const text = `${METRICS(10, 1, 40)}\nmistralrs_prefix_cache_lookups_total 12\nmistralrs_prefix_cache_hits_total 9\nmistralrs_prefix_cache_evictions_total 0\n`
    expect(summarize([sampleOf(text, 0)!])).toMatchObject({ prefixCacheHits: 9, prefixCacheLookups: 12 })
    // a server without them (before mistral.rs counted them) says nothing
    expect(summarize([sampleOf(METRICS(10, 1, 40), 0)!]).prefixCacheLookups).toBeUndefined()
  })

  it('a server that is not mistral.rs gives no sample', () => {
    expect(sampleOf('<html></html>')).toBeUndefined()
  })

  it('rates over the last minute: tokens a second, generation speed, time to first token, KV use', () => {
    const a = sampleOf(METRICS(1000, 1, 40), 0)!
    const b = sampleOf(METRICS(3000, 3, 140, 1), 10_000)!
    expect(summarize([a, b])).toEqual({ running: 1, waiting: 2, tokensPerSecond: 200, decodeTokensPerSecond: 50, ttftMs: 250, kvCacheUse: 0.25 })
    // one sample: no rate yet, the server's lifetime means for the rest
    expect(summarize([a])).toMatchObject({ tokensPerSecond: undefined, decodeTokensPerSecond: 40 })
    // samples older than the window are not the last minute's
    const old = sampleOf(METRICS(0, 0, 0), -120_000)!
    expect(summarize([old, a, b]).tokensPerSecond).toBe(200)
  })
})

describe('the status line\'s figures', () => {
  it('context used: everything in the window, from Claude\'s status JSON', () => {
    expect(contextUsed({ context_window: { current_usage: { input_tokens: 20000, cache_read_input_tokens: 3000, cache_creation_input_tokens: 10, output_tokens: 542 } } })).toBe(23552)
    expect(contextUsed({ context_window: { current_usage: null } })).toBeUndefined()
    expect(contextUsed('garbage')).toBeUndefined()
  })

  it('speed since the previous sample, else over the server\'s life', () => {
    const m = parseMetrics(METRICS(0, 3, 140))
    expect(speed(m, { sum: 1, count: 40 })).toBe(50)
    expect(speed(m)).toBeCloseTo(140 / 3)
    expect(speed(parseMetrics('mistralrs_inter_token_latency_seconds_count 0'))).toBeUndefined()
  })

  it('the line: name · used/window · speed, with what is unknown left out', () => {
    expect(line({ name: 'Qwen3-Coder-Next', used: 23552, context: 65536, tokPerSec: 41.2 })).toBe('Qwen3-Coder-Next · 23k/64k · 41 tok/s')
    expect(line({ name: 'M', context: 131072, tokPerSec: 7.25 })).toBe('M · -/128k · 7.3 tok/s')
    expect(line({ name: 'M', used: 900 })).toBe('M')
  })
})

describe('the status line\'s GET /metrics (one HTTP/1.0 request on a socket)', () => {
  it('returns the body of a 200 and sends the bearer token; anything else is undefined', async () => {
    const seen: (string | undefined)[] = []
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization)
      if (req.url === '/metrics') return res.end('mistralrs_sequences_running 1\n')
      res.statusCode = 404
      res.end('nope')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      expect(await getMetrics(`${base}/metrics`, 'Bearer tok-1')).toBe('mistralrs_sequences_running 1\n')
      expect(await getMetrics(`${base}/other`, undefined)).toBeUndefined()
      expect(seen).toEqual(['Bearer tok-1', undefined])
    } finally {
      server.close()
    }
    // nothing listens there any more
    expect(await getMetrics(`${base}/metrics`, undefined)).toBeUndefined()
    expect(await getMetrics('not a url', undefined)).toBeUndefined()
  })
})
