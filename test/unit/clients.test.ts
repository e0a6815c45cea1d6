// Protects what mrs injects into each client (its module's launch, a pure
// function of the server): the routing that makes it talk to the local
// server and nothing else, the model's real name, its context window and a
// sane max output in the client's own terms, and the promise that nothing
// from the user's files ends up in a command line.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { claude, claudeRouting, claudeSettings, DUMMY_TOKEN, PROVIDER_SWITCHES, SETTINGS_FILE, takeUserSettings, parseUserSettings, userHasStatusLine, userSettingsKeys } from '../../src/clients/claude.js'
import { catalogFor, codex, codexCommandLine, codexOverrides, codexProfile, pickCatalogEntry, PROVIDER_ID, CATALOG_FILE, type CatalogEntry } from '../../src/clients/codex.js'
import { opencode, opencodeConfig } from '../../src/clients/opencode.js'
import { copilot } from '../../src/clients/copilot.js'
import { pi, absoluteSettings, AGENT_DIR } from '../../src/clients/pi.js'
import { qwen, qwenSettings } from '../../src/clients/qwen.js'
import { CLIENTS } from '../../src/clients/registry.js'
import { maxOutputFor, type ClientContext } from '../../src/clients/types.js'
import { SETTINGS } from '../../src/config/schema.js'
import { tempDir } from '../helpers/tmp.js'

const MODEL = { id: 'Qwen/Qwen3-Coder-Next', name: 'Qwen3-Coder-Next' }
const ctx = (over: Partial<ClientContext> = {}): ClientContext => ({
  url: 'http://127.0.0.1:4321',
  model: MODEL,
  webSearch: false,
  userArgs: [],
  env: { PATH: '/usr/bin', HOME: '/h', ANTHROPIC_API_KEY: 'sk-ant-real', CLAUDE_CODE_USE_BEDROCK: '1', CLAUDE_CODE_USE_MANTLE: '1', MISTRAL_KEY: 's3cret' },
  tmpDir: '/tmp/mrs-0/session-1',
  ...over,
})

describe('claude', () => {
  it('routes every tier, by its real id and name, to the local server; dummy bearer, empty API key, no /v1', () => {
    const launch = claude.launch('/bin/claude', ctx())
    const settings = JSON.parse(launch.files[SETTINGS_FILE]!)
    for (const env of [launch.env, settings.env]) {
      expect(env).toMatchObject({
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:4321',
        ANTHROPIC_AUTH_TOKEN: DUMMY_TOKEN,
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_MODEL: MODEL.id,
        CLAUDE_CODE_SUBAGENT_MODEL: MODEL.id,
        CLAUDE_CODE_DISABLE_1M_CONTEXT: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      })
      for (const tier of ['OPUS', 'SONNET', 'HAIKU', 'FABLE']) {
        expect(env[`ANTHROPIC_DEFAULT_${tier}_MODEL`]).toBe(MODEL.id)
        expect(env[`ANTHROPIC_DEFAULT_${tier}_MODEL_NAME`]).toBe(MODEL.name)
      }
      expect(Number(env.API_TIMEOUT_MS)).toBeGreaterThanOrEqual(600_000)
    }
    // the settings are a file in the session's private dir, passed by path
    expect(launch.args).toEqual(['--settings', `/tmp/mrs-0/session-1/${SETTINGS_FILE}`])
  })

  it('clears every provider switch 2.1.197 reads: unset for the child, empty in the settings', () => {
    const launch = claude.launch('/bin/claude', ctx())
    const settings = JSON.parse(launch.files[SETTINGS_FILE]!)
    expect(PROVIDER_SWITCHES).toEqual(expect.arrayContaining(['CLAUDE_CODE_USE_ANTHROPIC_AWS', 'CLAUDE_CODE_USE_MANTLE', 'CLAUDE_CODE_USE_GATEWAY']))
    for (const k of PROVIDER_SWITCHES) {
      expect(launch.env).not.toHaveProperty(k)
      expect(settings.env[k]).toBe('')
    }
  })

  it('maps the haiku tier and background work to a second model', () => {
    const env = claudeRouting(ctx({ smallModel: { id: 'Qwen/Small', name: 'Small' } }))
    expect(env).toMatchObject({ ANTHROPIC_MODEL: MODEL.id, ANTHROPIC_DEFAULT_SONNET_MODEL: MODEL.id, ANTHROPIC_DEFAULT_HAIKU_MODEL: 'Qwen/Small', ANTHROPIC_DEFAULT_HAIKU_MODEL_NAME: 'Small', ANTHROPIC_SMALL_FAST_MODEL: 'Qwen/Small' })
  })

  it('tells the window with both variables (the auto-compact one alone stays above 100k) and a max output', () => {
    expect(claudeRouting(ctx())).not.toHaveProperty('CLAUDE_CODE_MAX_CONTEXT_TOKENS')
    expect(claudeRouting(ctx({ contextWindow: 65536, maxOutput: maxOutputFor(65536) }))).toMatchObject({
      CLAUDE_CODE_MAX_CONTEXT_TOKENS: '65536',
      CLAUDE_CODE_AUTO_COMPACT_WINDOW: '65536',
      CLAUDE_CODE_MAX_OUTPUT_TOKENS: '8192',
    })
  })

  it('denies WebSearch unless the server runs web search', () => {
    expect(claudeSettings(ctx()).permissions?.deny).toEqual(['WebSearch'])
    expect(claudeSettings(ctx({ webSearch: true }))).not.toHaveProperty('permissions')
  })

  it('merges the user\'s --settings into the file: their keys stay, routing wins, deny lists join; nothing of theirs in argv', () => {
    const user = parseUserSettings(JSON.stringify({ model: 'opus', env: { FOO: 'tok-123', ANTHROPIC_BASE_URL: 'https://api.anthropic.com' }, permissions: { deny: ['Bash(rm *)'], allow: ['Read'] } }), 'JSON')
    const launch = claude.launch('/bin/claude', ctx({ userArgs: ['--settings', '/home/u/s.json', '-p', 'hi'], prepared: { user, userHasStatusLine: false } }))
    expect(launch.args).toEqual(['--settings', `/tmp/mrs-0/session-1/${SETTINGS_FILE}`, '--exclude-dynamic-system-prompt-sections', '-p', 'hi'])
    expect(launch.args.join(' ')).not.toContain('tok-123')
    const merged = JSON.parse(launch.files[SETTINGS_FILE]!)
    expect(merged.model).toBe('opus')
    expect(merged.env.FOO).toBe('tok-123')
    expect(merged.env.ANTHROPIC_BASE_URL).toBe('http://127.0.0.1:4321')
    expect(merged.permissions).toEqual({ deny: ['Bash(rm *)', 'WebSearch'], allow: ['Read'] })
    // --dry-run masks the values of the user's own variables
    expect(launch.masked).toContain('tok-123')
  })

  it('adds a status line only when the user has none of their own', () => {
    expect(claudeSettings(ctx({ statusLine: 'node sl.cjs' }))).toMatchObject({ statusLine: { type: 'command', command: 'node sl.cjs' } })
    const theirs = { statusLine: { type: 'command', command: 'my-line' } }
    expect(claudeSettings(ctx({ statusLine: 'node sl.cjs' }), { user: theirs, userHasStatusLine: true }).statusLine).toEqual(theirs.statusLine)
    expect(claudeSettings(ctx({ statusLine: 'node sl.cjs' }), { userHasStatusLine: true })).not.toHaveProperty('statusLine')
  })

  it('finds a status line in the user\'s settings files', () => {
    const home = tempDir('mrs-claude-')
    const work = tempDir('mrs-work-')
    expect(userHasStatusLine({ HOME: home }, work)).toBe(false)
    mkdirSync(join(work, '.claude'))
    writeFileSync(join(work, '.claude', 'settings.local.json'), '{"statusLine":{"type":"command","command":"x"}}')
    expect(userHasStatusLine({ HOME: home }, work)).toBe(true)
  })

  it('finds --settings in both spellings', () => {
    expect(takeUserSettings(['-p', 'x', '--settings=a.json'])).toEqual({ args: ['-p', 'x'], source: 'a.json' })
    expect(takeUserSettings(['--settings', '{}', '--continue'])).toEqual({ args: ['--continue'], source: '{}' })
    expect(() => parseUserSettings('[1]', 'x.json')).toThrow('--settings x.json must be a JSON object')
    expect(() => parseUserSettings('{', 'x.json')).toThrow(/is not valid JSON/)
  })

  it('with --api-key-env, the key is only in the environment, never in argv or the file', () => {
    const launch = claude.launch('/bin/claude', ctx({ apiKeyEnv: 'MISTRAL_KEY' }))
    expect(launch.env.ANTHROPIC_AUTH_TOKEN).toBe('s3cret')
    expect(launch.args.join(' ')).not.toContain('s3cret')
    expect(launch.files[SETTINGS_FILE]).not.toContain('s3cret')
  })

  it('keeps the rest of the environment', () => {
    expect(claude.launch('/bin/claude', ctx()).env).toMatchObject({ PATH: '/usr/bin', HOME: '/h' })
  })

  it('keeps what sessions send first the same (the prefix cache), unless the user chose otherwise', () => {
    expect(claude.launch('/bin/claude', ctx()).env).toMatchObject({ CLAUDE_CODE_ATTRIBUTION_HEADER: '0', MCP_CONNECTION_NONBLOCKING: '0' })
    expect(claude.launch('/bin/claude', ctx({ env: { PATH: '/usr/bin', CLAUDE_CODE_ATTRIBUTION_HEADER: '1' } })).env.CLAUDE_CODE_ATTRIBUTION_HEADER).toBe('1')
    // headless only, and not where the user replaced the system prompt or already asked for it
    const args = (userArgs: string[]) => claude.launch('/bin/claude', ctx({ userArgs })).args.slice(2)
    expect(args(['--continue'])).toEqual(['--continue'])
    expect(args(['--print', 'hi'])).toEqual(['--exclude-dynamic-system-prompt-sections', '--print', 'hi'])
    expect(args(['-p', 'hi', '--system-prompt', 'x'])).toEqual(['-p', 'hi', '--system-prompt', 'x'])
    expect(args(['-p', 'hi', '--exclude-dynamic-system-prompt-sections'])).toEqual(['-p', 'hi', '--exclude-dynamic-system-prompt-sections'])
    expect(args(['--', '-p'])).toEqual(['--', '-p'])
  })

  it('turns off the server-controlled tokens-left countdown (it rewrites every prompt), unless the user chose it by variable or setting', () => {
    expect(claude.launch('/bin/claude', ctx()).env.CLAUDE_CODE_TOTAL_TOKENS_REMINDER).toBe('off')
    expect(claude.launch('/bin/claude', ctx({ env: { PATH: '/usr/bin', CLAUDE_CODE_TOTAL_TOKENS_REMINDER: 'countdown' } })).env.CLAUDE_CODE_TOTAL_TOKENS_REMINDER).toBe('countdown')
    // Claude reads the variable before its settings: ours would silently override their setting
    const theirs = claude.launch('/bin/claude', ctx({ prepared: { userHasStatusLine: false, userKeys: ['totalTokensReminder'] } }))
    expect(theirs.env).not.toHaveProperty('CLAUDE_CODE_TOTAL_TOKENS_REMINDER')
  })

  it('finds the keys the user set in any settings file Claude reads, and in their --settings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mrs-claude-'))
    try {
      mkdirSync(join(dir, 'cfg'))
      mkdirSync(join(dir, 'proj', '.claude'), { recursive: true })
      writeFileSync(join(dir, 'cfg', 'settings.json'), JSON.stringify({ totalTokensReminder: 'fixed' }))
      writeFileSync(join(dir, 'proj', '.claude', 'settings.local.json'), '{ broken')
      expect(userSettingsKeys({ CLAUDE_CONFIG_DIR: join(dir, 'cfg') }, join(dir, 'proj'), { statusLine: { type: 'command' } }).sort()).toEqual(['statusLine', 'totalTokensReminder'])
      expect(userSettingsKeys({ CLAUDE_CONFIG_DIR: join(dir, 'none') }, join(dir, 'none'))).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

const bundled: CatalogEntry[] = [
  { slug: 'gpt-x-lite', priority: 1, base_instructions: 'LITE', use_responses_lite: true, tool_mode: 'code_mode_only', context_window: 272000 },
  { slug: 'gpt-5.5', priority: 13, base_instructions: 'You are Codex…', tool_mode: null, use_responses_lite: false, context_window: 272000, upgrade: { model: 'gpt-6' }, supported_reasoning_levels: ['low', 'high'] },
  { slug: 'no-prompt', priority: 2, context_window: 1 },
]

describe('codex', () => {
  it('injects a custom provider with -c overrides only, the served id as the model', () => {
    const launch = codex.launch('/bin/codex', ctx({ userArgs: ['exec', 'fix it'], prepared: { catalogBase: bundled[1], userStatusLine: false } }))
    const overrides = launch.args.filter((_, i) => launch.args[i - 1] === '-c')
    expect(overrides).toEqual([
      `model_provider="${PROVIDER_ID}"`,
      `model="${MODEL.id}"`,
      `model_providers.${PROVIDER_ID}.name="mistral.rs"`,
      `model_providers.${PROVIDER_ID}.base_url="http://127.0.0.1:4321/v1"`,
      `model_providers.${PROVIDER_ID}.wire_api="responses"`,
      `model_providers.${PROVIDER_ID}.request_max_retries=4`,
      `model_providers.${PROVIDER_ID}.stream_max_retries=3`,
      `model_providers.${PROVIDER_ID}.stream_idle_timeout_ms=600000`,
      'model_reasoning_summary="none"',
      `model_catalog_json="/tmp/mrs-0/session-1/${CATALOG_FILE}"`,
      'web_search="disabled"',
      'tui.status_line=["model-name","current-dir"]',
    ])
    expect(launch.args.slice(-2)).toEqual(['exec', 'fix it'])
    expect(Object.keys(launch.files)).toEqual([CATALOG_FILE])
  })

  it('leaves the user\'s own footer (tui.status_line) alone', () => {
    const launch = codex.launch('/bin/codex', ctx({ prepared: { userStatusLine: true } }))
    expect(launch.args.join(' ')).not.toContain('tui.status_line')
  })

  it('never uses a reserved provider id', () => {
    expect(['openai', 'ollama', 'lmstudio']).not.toContain(PROVIDER_ID)
  })

  it('offers web_search only when the server searches, and tells the window when known', () => {
    expect(codexOverrides(ctx({ webSearch: true }))).not.toContain('web_search="disabled"')
    expect(codexOverrides(ctx({ contextWindow: 65536 }))).toContain('model_context_window=65536')
    expect(codexOverrides(ctx()).some((o) => o.startsWith('model_context_window'))).toBe(false)
  })

  it('names only the key variable with --api-key-env, never its value', () => {
    const launch = codex.launch('/bin/codex', ctx({ apiKeyEnv: 'MISTRAL_KEY' }))
    expect(launch.args).toContain(`model_providers.${PROVIDER_ID}.env_key="MISTRAL_KEY"`)
    expect(launch.args.join(' ')).not.toContain('s3cret')
    expect(launch.env.MISTRAL_KEY).toBe('s3cret')
  })

  it('picks a bundled catalog entry that keeps Codex\'s prompt and the plain Responses API', () => {
    expect(pickCatalogEntry(bundled)?.slug).toBe('gpt-5.5')
    expect(pickCatalogEntry([bundled[0]!])?.slug).toBe('gpt-x-lite')
  })

  it('turns it into an entry for the served id with its real name, its window and no reasoning levels', () => {
    const { models } = catalogFor(bundled[1]!, MODEL, 32768)
    expect(models).toHaveLength(1)
    expect(models[0]).toMatchObject({
      slug: MODEL.id,
      display_name: MODEL.name,
      context_window: 32768,
      max_context_window: 32768,
      base_instructions: 'You are Codex…',
      upgrade: null,
      supported_reasoning_levels: [],
      supports_reasoning_summaries: false,
    })
    expect(catalogFor(bundled[1]!, MODEL).models[0]!.context_window).toBe(272000)
  })

  it('asks Codex for no tool type mistral.rs refuses: no freeform (custom) apply_patch, no tool_search', () => {
    const entry = catalogFor({ ...bundled[1]!, apply_patch_tool_type: 'freeform', supports_search_tool: true }, MODEL).models[0]!
    expect(entry.apply_patch_tool_type).toBeNull()
    expect(entry.supports_search_tool).toBe(false)
  })

  it('writes the same settings as a profile', () => {
    expect(codexProfile({ url: 'http://127.0.0.1:1234', model: MODEL, webSearch: false, contextWindow: 8192 })).toEqual({
      model_provider: PROVIDER_ID,
      model: MODEL.id,
      model_reasoning_summary: 'none',
      model_context_window: 8192,
      web_search: 'disabled',
      model_providers: {
        [PROVIDER_ID]: { name: 'mistral.rs', base_url: 'http://127.0.0.1:1234/v1', wire_api: 'responses', request_max_retries: 4, stream_max_retries: 3, stream_idle_timeout_ms: 600000 },
      },
    })
  })

  it('prints -c flags as words that need no quoting, so `codex $(mrs env codex)` works', () => {
    const words = codex.env.text({ ...ctx(), cacheDir: '/c' }).trim().split(/\s+/)
    expect(words.filter((w) => w === '-c')).toHaveLength(words.length / 2)
    expect(words.join(' ')).not.toMatch(/'/)
  })

  it('reads the subcommand and -C past Codex\'s own options', () => {
    expect(codexCommandLine(['-c', 'x=1', '--cd', '/w', 'exec', '--skip-git-repo-check', 'hi'])).toEqual({ subcommand: 'exec', cd: '/w', profile: undefined })
    expect(codexCommandLine(['-p', 'work', '--', 'exec'])).toEqual({ subcommand: undefined, cd: undefined, profile: 'work' })
  })

  it('refuses `exec` outside a git repository before any load, only when certain', () => {
    const outside = tempDir('mrs-nogit-')
    const repo = tempDir('mrs-git-')
    mkdirSync(join(repo, '.git'))
    const check = (args: string[], cwd: string) => () => codex.preflight!(args, { env: {}, cwd })
    expect(check(['exec', 'hi'], outside)).toThrow(/codex exec refuses to run outside a git repository .*: add --skip-git-repo-check after exec/)
    expect(check(['e', 'hi'], outside)).toThrow(/codex e refuses/)
    expect(check(['exec', '--skip-git-repo-check', 'hi'], outside)).not.toThrow()
    expect(check(['exec', 'hi'], join(repo))).not.toThrow()
    expect(check(['-C', repo, 'exec', 'hi'], outside)).not.toThrow()
    expect(check(['-C', join(outside, 'missing'), 'exec', 'hi'], outside)).not.toThrow()
    expect(check(['resume', '--last'], outside)).not.toThrow()
  })
})

describe('opencode', () => {
  it('configures everything through OPENCODE_CONFIG_CONTENT: provider, model, small_model, limits; network off; no files', () => {
    const launch = opencode.launch('/bin/opencode', ctx({ contextWindow: 65536, maxOutput: 8192, userArgs: ['run', 'hi'] }))
    expect(launch.args).toEqual(['run', 'hi'])
    expect(launch.files).toEqual({})
    expect(launch.env).toMatchObject({ OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_LSP_DOWNLOAD: '1' })
    const config = JSON.parse(launch.env.OPENCODE_CONFIG_CONTENT!)
    expect(config).toMatchObject({ model: `mrs/${MODEL.id}`, small_model: `mrs/${MODEL.id}`, autoupdate: false, share: 'disabled' })
    expect(config.provider.mrs.options.baseURL).toBe('http://127.0.0.1:4321/v1')
    expect(config.provider.mrs.models[MODEL.id]).toEqual({ name: MODEL.name, tool_call: true, limit: { context: 65536, output: 8192 } })
  })

  it('sends background work to the small model, and names a key by its variable', () => {
    const config = opencodeConfig(ctx({ smallModel: { id: 'Qwen/Small', name: 'Small' }, apiKeyEnv: 'MISTRAL_KEY' }))
    expect(config.small_model).toBe('mrs/Qwen/Small')
    expect(JSON.stringify(config)).toContain('{env:MISTRAL_KEY}')
    expect(JSON.stringify(config)).not.toContain('s3cret')
  })
})

describe('copilot', () => {
  it('uses environment only: its own provider, the served model, offline, the window split into prompt and output', () => {
    const launch = copilot.launch('/bin/copilot', ctx({ contextWindow: 65536, maxOutput: 8192 }))
    expect(launch.files).toEqual({})
    expect(launch.env).toMatchObject({
      COPILOT_PROVIDER_BASE_URL: 'http://127.0.0.1:4321/v1',
      COPILOT_PROVIDER_TYPE: 'openai',
      COPILOT_MODEL: MODEL.id,
      COPILOT_OFFLINE: 'true',
      COPILOT_PROVIDER_MAX_PROMPT_TOKENS: String(65536 - 8192),
      COPILOT_PROVIDER_MAX_OUTPUT_TOKENS: '8192',
    })
  })
})

describe('pi', () => {
  it('builds an overlay of the user\'s agent dir: links to their entries, our provider merged into their models, their settings copied', () => {
    const userDir = '/home/u/.pi/agent'
    const launch = pi.launch('/bin/pi', ctx({
      contextWindow: 65536,
      maxOutput: 8192,
      userArgs: ['-p', 'hi'],
      prepared: {
        userDir,
        entries: ['auth.json', 'extensions', 'models.json', 'settings.json', 'sessions'],
        models: { providers: { theirs: { baseUrl: 'https://x' } } },
        settings: { theme: 'dark', extensions: ['./ext.ts', '/abs/e.ts', '~/e.ts'] },
        sessions: `${userDir}/sessions`,
      },
    }))
    expect(launch.args).toEqual(['--provider', 'mrs', '--model', MODEL.id, '-p', 'hi'])
    expect(launch.env).toMatchObject({ PI_CODING_AGENT_DIR: `/tmp/mrs-0/session-1/${AGENT_DIR}`, PI_OFFLINE: '1' })
    expect(launch.links).toEqual({
      [`${AGENT_DIR}/auth.json`]: `${userDir}/auth.json`,
      [`${AGENT_DIR}/extensions`]: `${userDir}/extensions`,
      [`${AGENT_DIR}/sessions`]: `${userDir}/sessions`,
    })
    const models = JSON.parse(launch.files[`${AGENT_DIR}/models.json`]!)
    expect(Object.keys(models.providers)).toEqual(['theirs', 'mrs'])
    expect(models.providers.mrs).toMatchObject({ baseUrl: 'http://127.0.0.1:4321/v1', api: 'openai-completions', compat: { maxTokensField: 'max_tokens' }, models: [{ id: MODEL.id, name: MODEL.name, contextWindow: 65536, maxTokens: 8192 }] })
    expect(JSON.parse(launch.files[`${AGENT_DIR}/settings.json`]!).extensions).toEqual([`${userDir}/ext.ts`, '/abs/e.ts', '~/e.ts'])
  })

  it('on a server of mrs\'s, puts the overlay in the server\'s shared dir under a name made of its content: the same path for every session', () => {
    const prepared = { userDir: '/home/u/.pi/agent', entries: ['AGENTS.md', 'skills'], sessions: '/home/u/.pi/agent/sessions' }
    const one = pi.launch('/bin/pi', ctx({ prepared, sharedDir: '/tmp/mrs-0/server-a/clients' }))
    const two = pi.launch('/bin/pi', ctx({ prepared, sharedDir: '/tmp/mrs-0/server-a/clients', tmpDir: '/tmp/mrs-0/session-2' }))
    expect(one.shared!.name).toMatch(new RegExp(`^${AGENT_DIR}-[0-9a-f]{16}$`))
    expect(two.shared).toEqual(one.shared)
    expect(one.env.PI_CODING_AGENT_DIR).toBe(`/tmp/mrs-0/server-a/clients/${one.shared!.name}`)
    expect(one.shared!.links).toEqual({ 'AGENTS.md': '/home/u/.pi/agent/AGENTS.md', skills: '/home/u/.pi/agent/skills', sessions: '/home/u/.pi/agent/sessions' })
    expect([one.files, one.links]).toEqual([{}, {}])
    // another server (its URL is in models.json): another name
    expect(pi.launch('/bin/pi', ctx({ prepared, sharedDir: '/tmp/mrs-0/server-a/clients', url: 'http://127.0.0.1:9999' })).shared!.name).not.toBe(one.shared!.name)
  })

  it('keeps relative resource paths pointing at the user\'s dir', () => {
    expect(absoluteSettings({ skills: ['s', '!x', '+y'], other: ['a'] }, '/u')).toEqual({ skills: ['/u/s', '!x', '+y'], other: ['a'] })
  })
})

describe('qwen', () => {
  it('configures by environment and a system settings file: Anthropic auth (mistral.rs refuses its chat tool results), the model, its window and output, no telemetry or auto-update', () => {
    const launch = qwen.launch('/bin/qwen', ctx({ contextWindow: 65536, maxOutput: 8192, userArgs: ['hi'] }))
    expect(launch.args).toEqual(['hi'])
    expect(qwen.api).toBe('anthropic')
    expect(launch.env).toMatchObject({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:4321', ANTHROPIC_MODEL: MODEL.id, QWEN_CODE_SYSTEM_SETTINGS_PATH: '/tmp/mrs-0/session-1/qwen-settings.json' })
    // the user's own Anthropic credentials never reach this server
    expect(qwen.launch('/bin/qwen', ctx({ env: { PATH: '/usr/bin', ANTHROPIC_AUTH_TOKEN: 'sk-ant-oat', ANTHROPIC_API_KEY: 'sk-ant-real' } })).env).toMatchObject({ ANTHROPIC_API_KEY: 'mrs-local' })
    expect(qwen.launch('/bin/qwen', ctx({ env: { PATH: '/usr/bin', ANTHROPIC_AUTH_TOKEN: 'sk-ant-oat' } })).env).not.toHaveProperty('ANTHROPIC_AUTH_TOKEN')
    // for a proxy: the key from the user's variable, as x-api-key and bearer token
    expect(qwen.launch('/bin/qwen', ctx({ apiKeyEnv: 'MISTRAL_KEY' })).env).toMatchObject({ ANTHROPIC_API_KEY: 's3cret', ANTHROPIC_AUTH_TOKEN: 's3cret' })
    expect(JSON.parse(launch.files['qwen-settings.json']!)).toEqual(qwenSettings(ctx({ contextWindow: 65536, maxOutput: 8192 })))
    expect(qwenSettings(ctx({ contextWindow: 65536, maxOutput: 8192 }))).toMatchObject({
      $version: 4,
      security: { auth: { selectedType: 'anthropic' } },
      model: { name: MODEL.id, generationConfig: { contextWindowSize: 65536, samplingParams: { max_tokens: 8192 } } },
      privacy: { usageStatisticsEnabled: false },
      general: { enableAutoUpdate: false },
    })
  })

  it('says which versions run on the user\'s Node', () => {
    expect(qwen.compatibility!('0.24.4', 'v20.20.2')).toMatch(/0\.24\.4 declares Node >= 22; .*0\.15\.10 is the newest/)
    expect(qwen.compatibility!('0.15.10', 'v20.20.2')).toMatch(/0\.15\.10 is the newest that supports it/)
    expect(qwen.compatibility!('0.24.4', 'v22.3.0')).toBeUndefined()
  })
})

describe('every client module', () => {
  it.each(CLIENTS.map((c) => [c.name, c] as const))('%s: runs its help and version without a server, and lists its collisions among its options', (_, c) => {
    expect(c.needsNoServer(['--help'])).toBe(true)
    expect(c.needsNoServer(['--version'])).toBe(true)
    expect(c.needsNoServer([])).toBe(false)
    for (const flag of c.collisions) expect(c.options).toContain(flag)
  })

  it('mrs\'s canonical spelling of each option collides with no client', () => {
    const everyClientOption = new Set(CLIENTS.flatMap((c) => c.options))
    for (const s of SETTINGS.filter((s) => s.flags)) {
      const canonical = s.flags!.find((f) => f.startsWith('--'))!
      // -m/--model is mrs's on purpose: the client's model is the one mrs serves
      if (s.key === 'model') continue
      expect(everyClientOption.has(canonical), `${canonical} is a client option`).toBe(false)
    }
  })

  it('sizes the max output to the window', () => {
    expect(maxOutputFor(undefined)).toBeUndefined()
    expect(maxOutputFor(8192)).toBe(1024)
    expect(maxOutputFor(32768)).toBe(4096)
    expect(maxOutputFor(262144)).toBe(32768)
  })
})
