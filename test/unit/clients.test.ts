// Protects what mrs injects into each client: the routing that makes
// Claude Code and Codex talk to the local server and nothing else.
import { describe, expect, it } from 'vitest'
import { claudeLaunch, claudeRouting, claudeSettings, DUMMY_TOKEN, takeUserSettings, parseUserSettings } from '../../src/clients/claude.js'
import { catalogFor, codexLaunch, codexOverrides, codexProfile, pickCatalogEntry, PROVIDER_ID, CATALOG_FILE, type CatalogEntry } from '../../src/clients/codex.js'
import type { ClientContext } from '../../src/clients/types.js'

const ctx = (over: Partial<ClientContext> = {}): ClientContext => ({
  url: 'http://127.0.0.1:4321',
  ids: { main: 'default' },
  webSearch: false,
  userArgs: [],
  env: { PATH: '/usr/bin', HOME: '/h', ANTHROPIC_API_KEY: 'sk-ant-real', CLAUDE_CODE_USE_BEDROCK: '1', MISTRAL_KEY: 's3cret' },
  ...over,
})

describe('claude', () => {
  it('routes one model: every tier to `default`, dummy bearer, empty API key, no /v1', () => {
    const launch = claudeLaunch(ctx(), '/bin/claude')
    const settings = JSON.parse(launch.args[1]!)
    for (const env of [launch.env, settings.env]) {
      expect(env).toMatchObject({
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:4321',
        ANTHROPIC_AUTH_TOKEN: DUMMY_TOKEN,
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_MODEL: 'default',
        ANTHROPIC_DEFAULT_OPUS_MODEL: 'default',
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'default',
        ANTHROPIC_DEFAULT_HAIKU_MODEL: 'default',
        CLAUDE_CODE_SUBAGENT_MODEL: 'default',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      })
      expect(Number(env.API_TIMEOUT_MS)).toBeGreaterThanOrEqual(600_000)
    }
    expect(launch.args[0]).toBe('--settings')
    expect(launch.args).not.toContain('--model')
  })
  it('clears Bedrock/Vertex/Foundry for the child and in settings', () => {
    const launch = claudeLaunch(ctx(), '/bin/claude')
    expect(launch.env).not.toHaveProperty('CLAUDE_CODE_USE_BEDROCK')
    expect(JSON.parse(launch.args[1]!).env.CLAUDE_CODE_USE_BEDROCK).toBe('')
  })
  it('maps the haiku tier and background work to a second model', () => {
    const env = claudeRouting(ctx({ ids: { main: 'Qwen/Big', small: 'Qwen/Small' } }))
    expect(env).toMatchObject({ ANTHROPIC_MODEL: 'Qwen/Big', ANTHROPIC_DEFAULT_SONNET_MODEL: 'Qwen/Big', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'Qwen/Small', ANTHROPIC_SMALL_FAST_MODEL: 'Qwen/Small' })
  })
  it('sets the auto-compact window only when the context is known', () => {
    expect(claudeRouting(ctx())).not.toHaveProperty('CLAUDE_CODE_AUTO_COMPACT_WINDOW')
    expect(claudeRouting(ctx({ contextWindow: 32768 })).CLAUDE_CODE_AUTO_COMPACT_WINDOW).toBe('32768')
  })
  it('denies WebSearch unless the server runs web search', () => {
    expect(claudeSettings(ctx()).permissions?.deny).toEqual(['WebSearch'])
    expect(claudeSettings(ctx({ webSearch: true }))).not.toHaveProperty('permissions')
  })
  it('merges the user\'s --settings: their keys stay, routing wins, deny lists join', () => {
    const user = parseUserSettings(
      JSON.stringify({ model: 'opus', env: { FOO: 'bar', ANTHROPIC_BASE_URL: 'https://api.anthropic.com' }, permissions: { deny: ['Bash(rm *)'], allow: ['Read'] } }),
      'JSON',
    )
    const launch = claudeLaunch(ctx({ userArgs: ['--settings', '{"ignored":"here"}', '-p', 'hi'] }), '/bin/claude', user)
    expect(launch.args.filter((a) => a === '--settings')).toHaveLength(1)
    expect(launch.args.slice(2)).toEqual(['-p', 'hi'])
    const merged = JSON.parse(launch.args[1]!)
    expect(merged.model).toBe('opus')
    expect(merged.env.FOO).toBe('bar')
    expect(merged.env.ANTHROPIC_BASE_URL).toBe('http://127.0.0.1:4321')
    expect(merged.permissions).toEqual({ deny: ['Bash(rm *)', 'WebSearch'], allow: ['Read'] })
  })
  it('finds --settings in both spellings', () => {
    expect(takeUserSettings(['-p', 'x', '--settings=a.json'])).toEqual({ args: ['-p', 'x'], source: 'a.json' })
    expect(takeUserSettings(['--settings', '{}', '--continue'])).toEqual({ args: ['--continue'], source: '{}' })
    expect(() => parseUserSettings('[1]', 'x.json')).toThrow('--settings x.json must be a JSON object')
    expect(() => parseUserSettings('{', 'x.json')).toThrow(/is not valid JSON/)
  })
  it('with --api-key-env, the key is only in the environment, never in argv', () => {
    const launch = claudeLaunch(ctx({ apiKeyEnv: 'MISTRAL_KEY' }), '/bin/claude')
    expect(launch.env.ANTHROPIC_AUTH_TOKEN).toBe('s3cret')
    expect(launch.args.join(' ')).not.toContain('s3cret')
    expect(JSON.parse(launch.args[1]!).env).not.toHaveProperty('ANTHROPIC_AUTH_TOKEN')
  })
  it('keeps the rest of the environment', () => {
    expect(claudeLaunch(ctx(), '/bin/claude').env).toMatchObject({ PATH: '/usr/bin', HOME: '/h' })
  })
})

const bundled: CatalogEntry[] = [
  { slug: 'gpt-x-lite', priority: 1, base_instructions: 'LITE', use_responses_lite: true, tool_mode: 'code_mode_only', context_window: 272000 },
  { slug: 'gpt-5.5', priority: 13, base_instructions: 'You are Codex…', tool_mode: null, use_responses_lite: false, context_window: 272000, upgrade: { model: 'gpt-6' } },
  { slug: 'no-prompt', priority: 2, context_window: 1 },
]

describe('codex', () => {
  it('injects a custom provider with -c overrides only', () => {
    const launch = codexLaunch(ctx({ userArgs: ['exec', 'fix it'] }), '/bin/codex', { path: '/tmp/s/codex-models.json', base: bundled[1]! })
    const overrides = launch.args.filter((_, i) => launch.args[i - 1] === '-c')
    expect(overrides).toEqual([
      `model_provider="${PROVIDER_ID}"`,
      'model="default"',
      `model_providers.${PROVIDER_ID}.name="mistral.rs (mrs)"`,
      `model_providers.${PROVIDER_ID}.base_url="http://127.0.0.1:4321/v1"`,
      `model_providers.${PROVIDER_ID}.wire_api="responses"`,
      `model_providers.${PROVIDER_ID}.request_max_retries=4`,
      `model_providers.${PROVIDER_ID}.stream_max_retries=3`,
      `model_providers.${PROVIDER_ID}.stream_idle_timeout_ms=600000`,
      'model_catalog_json="/tmp/s/codex-models.json"',
      'web_search="disabled"',
    ])
    expect(launch.args.slice(-2)).toEqual(['exec', 'fix it'])
    expect(Object.keys(launch.files)).toEqual([CATALOG_FILE])
  })
  it('never uses a reserved provider id', () => {
    expect(['openai', 'ollama', 'lmstudio']).not.toContain(PROVIDER_ID)
  })
  it('offers web_search only when the server searches', () => {
    expect(codexOverrides(ctx({ webSearch: true }))).not.toContain('web_search="disabled"')
  })
  it('sets the context window when known', () => {
    expect(codexOverrides(ctx({ contextWindow: 65536 }))).toContain('model_context_window=65536')
    expect(codexOverrides(ctx()).some((o) => o.startsWith('model_context_window'))).toBe(false)
  })
  it('names only the key variable with --api-key-env, never its value', () => {
    const launch = codexLaunch(ctx({ apiKeyEnv: 'MISTRAL_KEY' }), '/bin/codex')
    expect(launch.args).toContain(`model_providers.${PROVIDER_ID}.env_key="MISTRAL_KEY"`)
    expect(launch.args.join(' ')).not.toContain('s3cret')
    expect(launch.env.MISTRAL_KEY).toBe('s3cret')
  })
  it('picks a bundled catalog entry that keeps Codex\'s prompt and the plain Responses API', () => {
    expect(pickCatalogEntry(bundled)?.slug).toBe('gpt-5.5')
    expect(pickCatalogEntry([bundled[0]!])?.slug).toBe('gpt-x-lite')
  })
  it('turns it into an entry for the served id, keeping base_instructions', () => {
    const { models } = catalogFor(bundled[1]!, 'default', 32768)
    expect(models).toHaveLength(1)
    expect(models[0]).toMatchObject({ slug: 'default', display_name: 'default', context_window: 32768, max_context_window: 32768, base_instructions: 'You are Codex…', upgrade: null })
    expect(catalogFor(bundled[1]!, 'default').models[0]!.context_window).toBe(272000)
  })
  it('writes the same settings as a profile', () => {
    expect(codexProfile({ url: 'http://127.0.0.1:1234', ids: { main: 'default' }, webSearch: false, contextWindow: 8192 })).toEqual({
      model_provider: PROVIDER_ID,
      model: 'default',
      model_context_window: 8192,
      web_search: 'disabled',
      model_providers: {
        [PROVIDER_ID]: { name: 'mistral.rs (mrs)', base_url: 'http://127.0.0.1:1234/v1', wire_api: 'responses', request_max_retries: 4, stream_max_retries: 3, stream_idle_timeout_ms: 600000 },
      },
    })
  })
})
