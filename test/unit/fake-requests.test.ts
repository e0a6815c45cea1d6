// Protects the fake mistralrs's request validator (test/fixtures/mistralrs/requests.mjs): that it
// refuses what mistral.rs 0.9.2 refuses and accepts what it accepts, with the real status and text.
// Each expectation below was read from mistral.rs's sources (request types in
// mistralrs-server-core/src/openai.rs, responses.rs, responses_types/, anthropic.rs; handler checks in
// chat_completion.rs, responses.rs, anthropic.rs) and, for the deserialization texts and positions,
// checked against serde/serde_json/serde_path_to_error themselves. The client bodies are the shapes
// the pinned clients were seen sending through mrs (trimmed: shorter prompts, fewer tools).
import { describe, expect, it } from 'vitest'
// @ts-expect-error -- a plain ESM fixture (the fake server's), without type declarations
import { deserialize, field, rejectionResponse, struct, usize, validateRequest, vec } from '../fixtures/mistralrs/requests.mjs'

const CHAT = '/v1/chat/completions'
const RESPONSES = '/v1/responses'
const MESSAGES = '/v1/messages'
const COUNT = '/v1/messages/count_tokens'
const MODELS = ['Qwen/Qwen3-4B']
const DE = 'Failed to deserialize the JSON body into the target type: '

type Body = Record<string, unknown>
const check = (route: string, body: unknown, options: Record<string, unknown> = {}) => validateRequest(route, body, { models: MODELS, ...options })
/** Only axum's Json<T> extraction (the Rust types), not the handler's checks after it. */
const types = (route: string, body: unknown) => validateRequest(route, body, { handler: false })
const refused422 = (message: string) => ({ status: 422, stage: 'deserialize', message: DE + message })
/** A 422 whose detail matches `pattern` (for large bodies, where the column is not the point). */
const refused422Like = (pattern: string) => ({ status: 422, stage: 'deserialize', message: expect.stringMatching(new RegExp(`^${DE}${pattern}$`)) })
const handler = (status: number, message: string) => ({ status, stage: 'handler', message })

const user = (content: unknown) => ({ role: 'user', content })
const schema = { type: 'object', properties: { command: { type: 'string' } }, required: ['command'], additionalProperties: false }

describe('a minimal body of each route is accepted', () => {
  it.each([
    [CHAT, { messages: [user('hi')] }],
    [CHAT, { model: 'Qwen/Qwen3-4B', messages: 'a bare prompt string is a user message' }],
    [RESPONSES, { input: 'hi' }],
    [RESPONSES, { model: 'default', input: [{ role: 'user', content: 'hi' }] }],
    [MESSAGES, { model: 'default', max_tokens: 16, messages: [user('hi')] }],
    // max_tokens is an Option in AnthropicMessagesRequest: not required, unlike Anthropic's API
    [MESSAGES, { messages: [user('hi')] }],
    [COUNT, { model: 'Qwen/Qwen3-4B', messages: [user('hi')] }],
  ])('%s %j', (route, body) => expect(check(route, body)).toBeUndefined())

  it('refuses a body without its one required field, with no path before serde\'s message', () => {
    expect(check(CHAT, { model: 'default', stream: true })).toEqual(refused422('missing field `messages` at line 1 column 33'))
    expect(check(RESPONSES, { model: 'default' })).toEqual(refused422('missing field `input` at line 1 column 19'))
    expect(check(MESSAGES, { model: 'default', max_tokens: 16 })).toEqual(refused422('missing field `messages` at line 1 column 35'))
  })
})

describe('Codex\'s tools that mistral.rs has no type for', () => {
  // openai.rs:654 OpenAiTool is an untagged enum of function, web_search(_preview), code_interpreter, shell and
  // namespace: any other tool fails the whole request, reported at the first such tool
  it('refuses the freeform `custom` apply_patch tool with 422 on /v1/responses', () => {
    const body = { input: 'hi', tools: [{ type: 'custom', name: 'apply_patch', description: 'Apply a patch', format: { type: 'grammar', syntax: 'lark', definition: 'start: begin_patch' } }] }
    expect(check(RESPONSES, body)).toEqual(refused422('tools[0]: data did not match any variant of untagged enum OpenAiTool at line 1 column 170'))
  })

  it('refuses `tool_search` with 422 on /v1/responses, at its index', () => {
    const body = { input: 'hi', tools: [{ type: 'function', name: 'exec_command', parameters: { type: 'object', properties: {} } }, { type: 'tool_search', execution: 'client', description: 'Search tools', parameters: { type: 'object', properties: {} } }] }
    expect(check(RESPONSES, body)).toEqual(refused422('tools[1]: data did not match any variant of untagged enum OpenAiTool at line 1 column 232'))
  })

  it('refuses both on /v1/chat/completions too (the same OpenAiTool type)', () => {
    const custom = { messages: [user('hi')], tools: [{ type: 'custom', custom: { name: 'apply_patch' } }] }
    expect(check(CHAT, custom)).toEqual(refused422('tools[0]: data did not match any variant of untagged enum OpenAiTool at line 1 column 104'))
    const search = { messages: [user('hi')], tools: [{ type: 'function', function: { name: 'bash', parameters: { type: 'object' } } }, { type: 'tool_search', execution: 'client' }] }
    expect(check(CHAT, search)).toEqual(refused422('tools[1]: data did not match any variant of untagged enum OpenAiTool at line 1 column 176'))
  })

  it('answers that refusal as text/plain, as axum\'s JsonRejection does', () => {
    const rejection = check(RESPONSES, { input: 'hi', tools: [{ type: 'tool_search' }] })
    expect(rejectionResponse(RESPONSES, rejection)).toEqual({ status: 422, contentType: 'text/plain; charset=utf-8', body: rejection.message })
  })
})

describe('the tool types mistral.rs reads', () => {
  const TOOLS: Record<string, Body> = {
    'chat function': { type: 'function', function: { name: 'bash', description: 'Run a command', parameters: schema, strict: false } },
    'Responses function': { type: 'function', name: 'exec_command', description: 'Run a command', strict: false, parameters: schema },
    web_search: { type: 'web_search', external_web_access: true },
    web_search_preview: { type: 'web_search_preview', search_context_size: 'low' },
    code_interpreter: { type: 'code_interpreter', container: { type: 'auto' } },
    shell: { type: 'shell', environment: { type: 'container_auto' } },
    // a namespace's entries may be anything: non-function ones are skipped with a warning
    namespace: { type: 'namespace', name: 'multi_agent_v1', description: 'Sub-agents', tools: [{ type: 'function', name: 'spawn_agent', parameters: schema }, { type: 'custom', name: 'x' }] },
  }

  it.each(Object.keys(TOOLS))('accepts a %s tool on /v1/responses', (name) => {
    expect(check(RESPONSES, { input: 'hi', tools: [TOOLS[name]] })).toBeUndefined()
  })

  it.each(Object.keys(TOOLS))('reads a %s tool on /v1/chat/completions (the type is shared)', (name) => {
    expect(types(CHAT, { messages: [user('hi')], tools: [TOOLS[name]] })).toBeUndefined()
  })

  it('refuses web_search, shell and namespace in the chat handler, with 500 and its text (openai.rs:1045)', () => {
    const chat = (tool: Body) => check(CHAT, { messages: [user('hi')], tools: [tool] })
    expect(chat(TOOLS.web_search!)).toEqual(handler(500, 'tools[].type="web_search" is only supported by the Responses API; use web_search_options with Chat Completions'))
    expect(chat(TOOLS.shell!)).toEqual(handler(500, 'tools[].type="shell" is only supported by the Responses API.'))
    expect(chat(TOOLS.namespace!)).toEqual(handler(500, 'tools[].type="namespace" is only supported by the Responses API.'))
    expect(chat(TOOLS['chat function']!)).toBeUndefined()
    expect(chat(TOOLS.code_interpreter!)).toBeUndefined()
  })

  it('needs a shell tool\'s environment and a code_interpreter\'s container (required fields)', () => {
    expect(check(RESPONSES, { input: 'hi', tools: [{ type: 'shell' }] })).toEqual(refused422('tools[0]: data did not match any variant of untagged enum OpenAiTool at line 1 column 40'))
    expect(check(RESPONSES, { input: 'hi', tools: [{ type: 'code_interpreter' }] })).toEqual(refused422('tools[0]: data did not match any variant of untagged enum OpenAiTool at line 1 column 51'))
  })

  it('takes Codex\'s web_search with external_web_access=false (the tool is then dropped), refuses image search', () => {
    expect(check(RESPONSES, { input: 'hi', tools: [{ type: 'web_search', external_web_access: false, search_content_types: ['text', 'image'] }] })).toBeUndefined()
    expect(check(RESPONSES, { input: 'hi', tools: [{ type: 'web_search', external_web_access: true, search_content_types: ['text', 'image'] }] })).toEqual(
      handler(500, 'tools[].type="web_search" image search is not supported.'),
    )
  })
})

describe('the Anthropic route', () => {
  const body = (extra: Body) => ({ model: 'Qwen/Qwen3-4B', max_tokens: 1024, messages: [user('hi')], ...extra })

  it('is lenient about a tool\'s type: any string or none, if the tool has a name and an input_schema', () => {
    expect(check(MESSAGES, body({ tools: [{ name: 'Bash', description: 'Run', input_schema: schema }] }))).toBeUndefined()
    expect(check(MESSAGES, body({ tools: [{ type: 'custom', name: 'Bash', input_schema: schema }] }))).toBeUndefined()
    expect(check(MESSAGES, body({ tools: [{ type: 'something_new_20991231', name: 'Bash', input_schema: schema, cache_control: { type: 'ephemeral' } }] }))).toBeUndefined()
    // server tools: web_search_* and code_execution_* need no schema
    expect(check(MESSAGES, body({ tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 8 }] }))).toBeUndefined()
  })

  it('refuses an Anthropic-defined client tool without input_schema with 400 invalid_request_error', () => {
    const rejection = check(MESSAGES, body({ tools: [{ type: 'bash_20250124', name: 'bash' }] }))
    expect(rejection).toEqual(handler(400, 'Anthropic client tool requires `input_schema`.'))
    expect(rejectionResponse(MESSAGES, rejection)).toEqual({
      status: 400,
      contentType: 'application/json',
      body: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'Anthropic client tool requires `input_schema`.' } }),
    })
  })

  it('reads any block type, then refuses the ones the handler does not know (a PDF `document`) with 400', () => {
    const pdf = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' }, title: 'spec.pdf' }
    expect(types(MESSAGES, body({ messages: [user([pdf, { type: 'text', text: 'summarize' }])] }))).toBeUndefined()
    expect(check(MESSAGES, body({ messages: [user([pdf, { type: 'text', text: 'summarize' }])] }))).toEqual(handler(400, 'Unsupported Anthropic content block `document`.'))
    expect(check(MESSAGES, body({ messages: [user('hi'), { role: 'assistant', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }] }))).toEqual(
      handler(400, 'Unsupported Anthropic assistant content block `document`.'),
    )
  })

  it('refuses a block without `type` at deserialization (the untagged content enum)', () => {
    expect(check(MESSAGES, { max_tokens: 16, messages: [user([{ text: 'no type' }])] })).toEqual(refused422('messages[0].content: data did not match any variant of untagged enum AnthropicMessageContent at line 1 column 75'))
  })

  it('takes thinking `adaptive`, `enabled` and `disabled`, refuses another type', () => {
    for (const thinking of [{ type: 'adaptive' }, { type: 'enabled', budget_tokens: 4096 }, { type: 'disabled' }]) expect(check(MESSAGES, body({ thinking }))).toBeUndefined()
    expect(check(MESSAGES, body({ thinking: { type: 'auto' } }))).toEqual(handler(400, 'Unsupported Anthropic thinking type `auto`.'))
  })

  it('needs content in an assistant turn: one with only thinking is refused', () => {
    const thinkingOnly = { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }] }
    expect(check(MESSAGES, body({ messages: [user('hi'), thinkingOnly, user('go on')] }))).toEqual(handler(400, 'No content was provided, expected tool calls to be provided.'))
  })
})

describe('wrong types are refused as serde refuses them', () => {
  it.each([
    [CHAT, { messages: [user('hi')], max_tokens: '256' }, 'max_tokens: invalid type: string "256", expected usize at line 1 column 63'],
    [CHAT, { messages: [user('hi')], max_tokens: -1 }, 'max_tokens: invalid value: integer `-1`, expected usize at line 1 column 60'],
    [MESSAGES, { max_tokens: -5, messages: [user('hi')] }, 'max_tokens: invalid value: integer `-5`, expected usize at line 1 column 16'],
    [RESPONSES, { input: 'hi', max_output_tokens: 1.5 }, 'max_output_tokens: invalid type: floating point `1.5`, expected usize at line 1 column 37'],
    [CHAT, { messages: [user('hi')], temperature: 'hot' }, 'temperature: invalid type: string "hot", expected f64 at line 1 column 64'],
    [CHAT, { messages: [user('hi')], stream: 'yes' }, 'stream: invalid type: string "yes", expected a boolean at line 1 column 59'],
    // max_completion_tokens is an alias of max_tokens: both at once is a duplicate field
    [CHAT, { messages: [user('hi')], max_tokens: 5, max_completion_tokens: 6 }, 'duplicate field `max_tokens` at line 1 column 83'],
    // a content part's values must be strings or objects of strings (openai.rs:23 MessageInnerContent)
    [CHAT, { messages: [user([{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral', ttl: 300 } }])] }, 'messages: data did not match any variant of untagged enum Either at line 1 column 117'],
    // columns count UTF-8 bytes, as serde_json does
    [CHAT, { messages: [user('café ☕')], max_tokens: 'many' }, 'max_tokens: invalid type: string "many", expected usize at line 1 column 71'],
  ])('%s %j', (route, body, message) => expect(check(route, body)).toEqual(refused422(message)))

  it('accepts an integer where a float is expected', () => {
    expect(check(CHAT, { messages: [user('hi')], temperature: 0, top_p: 1, presence_penalty: 0, frequency_penalty: 0 })).toBeUndefined()
  })

  it('positions an error like serde_json in a pretty-printed body too (axum\'s own example)', () => {
    const Bar = struct('Bar', [field('x', usize), field('y', usize)])
    const Foo = struct('Foo', [field('a', usize), field('b', vec(Bar))])
    expect(deserialize(Foo, '{"a": 1, "b": [{"x": 2}]}')).toEqual(refused422('b[0]: missing field `y` at line 1 column 23'))
    expect(validateRequest(CHAT, undefined, { raw: '{\n  "messages": [\n    {"role": "user", "content": 5}\n  ]\n}' })).toEqual(
      // the error is positioned after `end_map` skipped the newline and consumed the closing brace
      refused422('messages: data did not match any variant of untagged enum Either at line 5 column 1'),
    )
  })

  it('answers 400 for a body that is not JSON, and 415 without a JSON content type', () => {
    expect(validateRequest(CHAT, undefined, { raw: '{' })).toEqual({ status: 400, stage: 'syntax', message: 'Failed to parse the request body as JSON: EOF while parsing an object at line 1 column 1' })
    expect(validateRequest(CHAT, undefined, { raw: '' })).toEqual({ status: 400, stage: 'syntax', message: 'Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0' })
    expect(validateRequest(CHAT, { messages: [user('hi')] }, { contentType: 'text/plain' })).toEqual({ status: 415, stage: 'content-type', message: 'Expected request with `Content-Type: application/json`' })
    expect(validateRequest(CHAT, { messages: [user('hi')] }, { contentType: 'application/json; charset=utf-8' })).toBeUndefined()
  })
})

describe('unknown fields are ignored (no request type has deny_unknown_fields)', () => {
  it.each([
    [CHAT, { messages: [user('hi')], stream_options: { include_usage: true }, parallel_tool_calls: true, metadata: { a: 1 }, store: false, user: 'u', seed: 7, some_future_field: [1, { x: null }] }],
    [RESPONSES, { input: 'hi', prompt_cache_key: 'k', client_metadata: { 'x-codex-window-id': 'w' }, service_tier: 'priority', user: 'u', some_future_field: 1 }],
    [MESSAGES, { messages: [user('hi')], context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] }, output_config: { effort: 'high' }, betas: ['x'], some_future_field: 1 }],
    // unknown keys inside nested structs too
    [CHAT, { messages: [{ role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' }, index: 0 }] }, { role: 'tool', tool_call_id: 'c', content: 'ok' }] }],
  ])('%s %j', (route, body) => expect(check(route, body)).toBeUndefined())
})

describe('Codex 0.169 on /v1/responses, field by field', () => {
  const base = { model: 'Qwen/Qwen3-4B', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }] }
  const codex = (extra: Body) => check(RESPONSES, { ...base, ...extra })

  it('accepts what it sends through mrs: reasoning {}, text.verbosity, include, store, client_metadata, prompt_cache_key', () => {
    expect(codex({ reasoning: {} })).toBeUndefined()
    expect(codex({ reasoning: { summary: 'auto' } })).toBeUndefined()
    expect(codex({ reasoning: { effort: 'medium' } })).toBeUndefined()
    // TextConfig has only `format`: verbosity is ignored
    expect(codex({ text: { verbosity: 'low' } })).toBeUndefined()
    expect(codex({ include: ['reasoning.encrypted_content'], store: false, parallel_tool_calls: true, tool_choice: 'auto', prompt_cache_key: 'k', client_metadata: { thread_id: 't' } })).toBeUndefined()
  })

  it('refuses reasoning efforts and summaries mistral.rs does not know', () => {
    // mistralrs-core/src/request.rs:118 ReasoningEffort::from_str: off|none|low|medium|high|xhigh|max
    expect(codex({ reasoning: { effort: 'minimal' } })).toEqual(refused422Like('reasoning\\.effort: invalid reasoning effort `minimal`; expected one of: off, none, low, medium, high, xhigh, max at line 1 column \\d+'))
    expect(check(RESPONSES, { input: 'hi', reasoning: { effort: 'ultra', summary: 'auto' } })).toEqual(
      refused422('reasoning.effort: invalid reasoning effort `ultra`; expected one of: off, none, low, medium, high, xhigh, max at line 1 column 43'),
    )
    expect(codex({ reasoning: { effort: 'xhigh' } })).toBeUndefined()
    expect(codex({ reasoning: { effort: 'max' } })).toBeUndefined()
    // responses.rs:326 ReasoningSummary: concise|detailed|auto
    expect(check(RESPONSES, { input: 'hi', reasoning: { summary: 'none' } })).toEqual(refused422('reasoning.summary: unknown variant `none`, expected one of `concise`, `detailed`, `auto` at line 1 column 43'))
  })

  it('refuses include values other than the four it knows', () => {
    expect(check(RESPONSES, { input: 'hi', include: ['reasoning.encrypted_content', 'web_search_call.action.sources'] })).toEqual(
      refused422('include[1]: unknown variant `web_search_call.action.sources`, expected one of `file_search_call.results`, `message.input_image.image_url`, `computer_call_output.output.image_url`, `reasoning.encrypted_content` at line 1 column 87'),
    )
  })

  it('reads replayed items: developer messages, function calls with string output, reasoning', () => {
    const input = [
      { type: 'message', id: 'msg_1', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex.' }, { type: 'input_text', text: '<permissions instructions>' }] },
      { type: 'message', id: 'msg_2', role: 'user', content: [{ type: 'input_text', text: 'RUN `ls`' }] },
      { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'I should run it' }], encrypted_content: null },
      { type: 'function_call', status: 'completed', id: 'fc_1', name: 'exec_command', arguments: '{"cmd":"ls"}', call_id: 'call-1' },
      { type: 'function_call_output', id: 'fco_1', call_id: 'call-1', output: 'Chunk ID: a\nOutput:\nREADME.md' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Done.', annotations: [] }] },
    ]
    expect(check(RESPONSES, { input })).toBeUndefined()
  })

  it('refuses a view_image result (an output array, detail "original") and items it has no type for', () => {
    const viewImage = [
      { type: 'function_call', call_id: 'c1', name: 'view_image', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'original' }] },
    ]
    expect(check(RESPONSES, { input: viewImage })).toEqual(refused422('input: data did not match any variant of untagged enum OpenResponsesInput at line 1 column 230'))
    // ImageDetail is auto|low|high
    const original = [{ type: 'message', role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA', detail: 'original' }] }]
    expect(check(RESPONSES, { input: original })).toEqual(refused422('input: data did not match any variant of untagged enum OpenResponsesInput at line 1 column 140'))
    const customCall = [{ type: 'custom_tool_call', call_id: 'c2', name: 'apply_patch', input: '*** Begin Patch' }]
    expect(check(RESPONSES, { input: customCall })).toEqual(refused422('input: data did not match any variant of untagged enum OpenResponsesInput at line 1 column 101'))
  })

  it('refuses max_tool_calls (responses.rs:1779) and a zero max_output_tokens in the handler', () => {
    expect(codex({ max_tool_calls: 4 })).toEqual(handler(500, 'max_tool_calls is not supported. mistral.rs does not currently support limiting the number of tool calls.'))
    expect(codex({ max_output_tokens: 0 })).toEqual(handler(500, 'max_output_tokens must be at least 1.'))
  })
})

// --- each client's request, as the pinned versions sent it through mrs ---

const tool = (name: string) => ({ type: 'function', function: { name, description: `The ${name} tool`, parameters: { $schema: 'http://json-schema.org/draft-07/schema#', ...schema } } })

const CLIENTS: Record<string, { route: string; body: Body }> = {
  'Codex 0.169 (mrs catalog: no custom or tool_search tool)': {
    route: RESPONSES,
    body: {
      model: 'Qwen/Qwen3-4B',
      stream: true,
      input: [
        { type: 'message', id: 'msg_a', role: 'developer', content: [{ type: 'input_text', text: 'You are Codex, a coding agent based on GPT-5.' }] },
        { type: 'message', id: 'msg_b', role: 'developer', content: [{ type: 'input_text', text: '<skills_instructions>' }, { type: 'input_text', text: '<permissions instructions>' }] },
        { type: 'message', id: 'msg_c', role: 'user', content: [{ type: 'input_text', text: '<environment_context>\n  <cwd>/work</cwd>\n</environment_context>' }] },
        { type: 'message', id: 'msg_d', role: 'user', content: [{ type: 'input_text', text: 'RUN `echo ok`' }] },
        { type: 'function_call', status: 'completed', id: 'fc_1', name: 'exec_command', arguments: '{"cmd":"echo ok"}', call_id: 'call-1' },
        { type: 'function_call_output', id: 'fco_1', call_id: 'call-1', output: 'Chunk ID: a3e195\nProcess exited with code 0\nOutput:\nok' },
      ],
      tools: [
        { type: 'function', name: 'exec_command', description: 'Runs a command in a PTY', strict: false, parameters: schema },
        { type: 'function', name: 'view_image', description: 'View a local image', strict: false, parameters: schema },
        { type: 'namespace', name: 'multi_agent_v1', description: 'Tools for spawning and managing sub-agents.', tools: [{ type: 'function', name: 'spawn_agent', description: 'Spawn', strict: false, parameters: schema }] },
        { type: 'function', name: 'update_goal', description: 'Update the goal', strict: false, parameters: schema },
      ],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      reasoning: {},
      store: false,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: '01a24f06-060e-7d73-9306-98665ab4ccaa',
      text: { verbosity: 'low' },
      client_metadata: { 'x-codex-window-id': '01a24f06:0', thread_id: '01a24f06', turn_id: '01a24f06', session_id: '01a24f06' },
    },
  },
  'Claude Code 2.1.197': {
    route: MESSAGES,
    body: {
      model: 'Qwen/Qwen3-4B',
      messages: [
        { role: 'user', content: [{ type: 'text', text: '<system-reminder>\ncontext\n</system-reminder>' }, { type: 'text', text: 'RUN `echo ok`' }] },
        { role: 'system', content: 'Available agent types for the Agent tool: ...' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call-1', name: 'Bash', input: { command: 'echo ok' } }] },
        { role: 'user', content: [{ tool_use_id: 'call-1', type: 'tool_result', content: 'ok', is_error: false, cache_control: { type: 'ephemeral' } }] },
      ],
      system: [
        { type: 'text', text: 'You are a Claude agent, built on Anthropic\'s Claude Agent SDK.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: '\nYou are an interactive agent that helps users with software engineering tasks.', cache_control: { type: 'ephemeral' } },
      ],
      tools: [
        { name: 'Bash', description: 'Executes a bash command', input_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema } },
        { name: 'Read', description: 'Reads a file', input_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema } },
      ],
      metadata: { user_id: '{"device_id":"8a74","session_id":"d1ae"}' },
      max_tokens: 8192,
      thinking: { type: 'adaptive' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      output_config: { effort: 'high' },
      stream: true,
    },
  },
  'opencode 1.18': {
    route: CHAT,
    body: {
      model: 'Qwen/Qwen3-4B',
      max_tokens: 8192,
      messages: [
        { role: 'system', content: 'You are opencode, an interactive CLI tool.' },
        { role: 'user', content: '"RUN `echo ok`"' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'bash', arguments: '{"command":"echo ok"}' } }] },
        { role: 'tool', tool_call_id: 'call-1', content: 'ok\n' },
      ],
      tools: [tool('bash'), tool('edit'), tool('read'), tool('todowrite')],
      tool_choice: 'auto',
      stream: true,
      stream_options: { include_usage: true },
    },
  },
  'Copilot CLI 1.0.102': {
    route: CHAT,
    body: {
      model: 'Qwen/Qwen3-4B',
      messages: [
        { role: 'system', content: 'You are the GitHub Copilot CLI, a terminal assistant.' },
        { role: 'user', content: '<current_datetime>2026-12-07T05:42:14+00:00</current_datetime>\n\nRUN `echo ok`' },
        { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'bash', arguments: '{"command":"echo ok","description":"Echo"}' } }] },
        { role: 'tool', tool_call_id: 'call-1', content: 'ok\n<shellId: 0 completed with exit code 0>' },
      ],
      temperature: 0,
      top_p: 0.95,
      frequency_penalty: 0,
      presence_penalty: 0,
      max_tokens: 8192,
      reasoning_effort: 'high',
      tools: [tool('bash'), tool('view'), tool('edit')],
      stream: true,
      stream_options: { include_usage: true },
    },
  },
  'pi 0.73': {
    route: CHAT,
    body: {
      model: 'Qwen/Qwen3-4B',
      messages: [
        { role: 'system', content: 'You are an expert coding assistant operating inside pi.' },
        { role: 'user', content: [{ type: 'text', text: 'RUN `echo ok`' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'bash', arguments: '{"command":"echo ok"}' } }] },
        { role: 'tool', content: 'ok\n', tool_call_id: 'call-1' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      store: false,
      max_tokens: 8192,
      tools: [{ type: 'function', function: { name: 'bash', description: 'Run', parameters: schema, strict: false } }],
    },
  },
  'Qwen Code 0.15 (first turn)': {
    route: CHAT,
    body: {
      model: 'Qwen/Qwen3-4B',
      messages: [
        { role: 'system', content: 'You are Qwen Code, an interactive CLI agent.' },
        { role: 'user', content: [{ type: 'text', text: 'This is the Qwen Code. We are setting up the context for our chat.' }] },
        { role: 'assistant', content: 'Got it. Thanks for the context!' },
        { role: 'user', content: [{ type: 'text', text: 'RUN `echo ok`' }] },
      ],
      max_tokens: 8192,
      stream: true,
      stream_options: { include_usage: true },
      tools: [tool('run_shell_command'), tool('read_file')],
    },
  },
}

describe('each client\'s realistic request', () => {
  it.each(Object.keys(CLIENTS))('%s is accepted', (name) => {
    const { route, body } = CLIENTS[name]!
    expect(check(route, body)).toBeUndefined()
  })

  it('Qwen Code 0.15\'s tool result (content as text parts on a `tool` message) is refused by the chat handler with 500', () => {
    // chat_completion.rs:732: array content is only for `user` messages
    const first = CLIENTS['Qwen Code 0.15 (first turn)']!.body
    const body = {
      ...first,
      messages: [
        ...(first.messages as unknown[]),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'run_shell_command', arguments: '{"command":"echo ok"}' } }] },
        { role: 'tool', tool_call_id: 'call-1', content: [{ type: 'text', text: 'Command: echo ok\nOutput: ok\nExit Code: 0' }] },
      ],
    }
    const rejection = check(CHAT, body)
    expect(rejection).toEqual(handler(500, 'Role for an image message must be `user`, but it is tool'))
    expect(rejectionResponse(CHAT, rejection)).toEqual({ status: 500, contentType: 'application/json', body: '{"message":"Role for an image message must be `user`, but it is tool"}' })
  })

  it('Codex 0.169 with its own catalog entry (apply_patch as `custom`, `tool_search`) is refused at the first of them', () => {
    const body = structuredClone(CLIENTS['Codex 0.169 (mrs catalog: no custom or tool_search tool)']!.body) as Body & { tools: unknown[] }
    body.tools.splice(1, 0, { type: 'custom', name: 'apply_patch', description: 'Use the `apply_patch` tool to edit files.', format: { type: 'grammar', syntax: 'lark', definition: 'start: begin_patch hunk+ end_patch' } })
    body.tools.push({ type: 'tool_search', execution: 'client', description: '# Tool discovery', parameters: schema }, { type: 'web_search', external_web_access: true, search_content_types: ['text', 'image'] })
    body.reasoning = { effort: 'medium' }
    expect(check(RESPONSES, body)).toEqual(refused422Like('tools\\[1\\]: data did not match any variant of untagged enum OpenAiTool at line 1 column \\d+'))
  })

  it('Claude Code with a PDF attached (a `document` block) is refused with 400', () => {
    const body = structuredClone(CLIENTS['Claude Code 2.1.197']!.body) as Body & { messages: Body[] }
    body.messages.push(user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }, { type: 'text', text: 'summarize this' }]))
    expect(check(MESSAGES, body)).toEqual(handler(400, 'Unsupported Anthropic content block `document`.'))
  })

  it('Claude Code\'s tool result holding an image is accepted (flattened to text)', () => {
    const body = structuredClone(CLIENTS['Claude Code 2.1.197']!.body) as Body & { messages: Body[] }
    body.messages[3] = user([{ tool_use_id: 'call-1', type: 'tool_result', content: [{ type: 'image', source: { type: 'base64', data: 'iVBORw0KGgo=', media_type: 'image/png' } }] }])
    expect(check(MESSAGES, body)).toBeUndefined()
  })
})

describe('the order of the checks', () => {
  it('deserializes the body before it looks at the model', () => {
    const body = { model: 'claude-sonnet-4-5', input: 'hi', tools: [{ type: 'tool_search' }] }
    expect(check(RESPONSES, body)).toMatchObject({ status: 422, stage: 'deserialize' })
  })

  it('refuses an unknown model with 500 on the OpenAI routes and 400 on the Anthropic ones, one text for all', () => {
    const text = "Requested model 'claude-sonnet-4-5' is not available. Available models: Qwen/Qwen3-4B. Use 'default' to use the default model."
    expect(check(CHAT, { model: 'claude-sonnet-4-5', messages: [user('hi')] })).toEqual(handler(500, text))
    expect(check(RESPONSES, { model: 'claude-sonnet-4-5', input: 'hi' })).toEqual(handler(500, text))
    expect(check(MESSAGES, { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [user('hi')] })).toEqual(handler(400, text))
    expect(check(COUNT, { model: 'claude-sonnet-4-5', messages: [user('hi')] })).toEqual(handler(400, text))
    expect(rejectionResponse(CHAT, handler(500, text))).toEqual({ status: 500, contentType: 'application/json', body: JSON.stringify({ message: text }) })
  })

  it('runs the Anthropic conversion before the model check, and the Responses limits before it too', () => {
    const pdf = user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }])
    expect(check(MESSAGES, { model: 'claude-sonnet-4-5', messages: [pdf] })).toEqual(handler(400, 'Unsupported Anthropic content block `document`.'))
    expect(check(RESPONSES, { model: 'claude-sonnet-4-5', input: 'hi', max_tool_calls: 1 })).toEqual(
      handler(500, 'max_tool_calls is not supported. mistral.rs does not currently support limiting the number of tool calls.'),
    )
  })

  it('checks the model before the tools, and the tools before the messages', () => {
    const body = { model: 'claude-sonnet-4-5', messages: [{ role: 'tool', tool_call_id: 'c', content: [{ type: 'text', text: 'x' }] }], tools: [{ type: 'web_search' }] }
    expect(check(CHAT, body)).toMatchObject({ status: 500, message: expect.stringMatching(/^Requested model/) })
    expect(check(CHAT, { ...body, model: 'default' })).toEqual(handler(500, 'tools[].type="web_search" is only supported by the Responses API; use web_search_options with Chat Completions'))
    expect(check(CHAT, { ...body, model: 'default', tools: [] })).toEqual(handler(500, 'Role for an image message must be `user`, but it is tool'))
  })

  it('answers a background Responses request at once (200, queued), whatever the handler would find later', () => {
    expect(check(RESPONSES, { model: 'claude-sonnet-4-5', input: 'hi', background: true })).toBeUndefined()
  })

  it('skips the model check when no model list is given', () => {
    expect(validateRequest(CHAT, { model: 'anything', messages: [user('hi')] })).toBeUndefined()
  })
})
