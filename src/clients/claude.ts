/**
 * Claude Code (`@anthropic-ai/claude-code`, checked with 2.1.197).
 *
 * Routing goes in twice: in the child's environment and in the `env` of a
 * settings file passed with `--settings`, because the `env` block of the
 * user's ~/.claude/settings.json overrides the process environment but not
 * `--settings`. That file is the user's own `--settings` (if any) merged with
 * ours, written 0600 into the session's private temp dir: nothing from a
 * user's file ever reaches a command line, where every local user can read it.
 *
 * What 2.1.197 reads (its sources, and its TUI in tmux):
 *   - every tier (opus, sonnet, haiku, fable) maps to a served id, with a
 *     `_NAME` and `_DESCRIPTION` so `/model` shows the real model;
 *   - `CLAUDE_CODE_DISABLE_1M_CONTEXT` keeps it from making the default
 *     `<id>[1m]` (a 1M window and a beta header);
 *   - the window: `CLAUDE_CODE_MAX_CONTEXT_TOKENS` (honoured for ids that do
 *     not start with `claude-`) and `CLAUDE_CODE_AUTO_COMPACT_WINDOW` (which
 *     alone never goes below 100,000);
 *   - every provider switch is cleared, so the base URL is used.
 *
 * And, so that every session reuses the server's prefix cache (what two
 * sessions send before the first user message is the same, byte for byte),
 * unless the user set them: `CLAUDE_CODE_ATTRIBUTION_HEADER=0` (its first
 * system line otherwise carries a hash of the session's first prompt), and
 * `MCP_CONNECTION_NONBLOCKING=0` (the first request waits for the user's MCP
 * servers, so their tools are always in it, not only when they were quick);
 * with `-p`, `--exclude-dynamic-system-prompt-sections` moves the cwd and
 * git status into the first user message, so a commit between two runs
 * leaves the system prompt and the tools cached.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { homedir } from 'node:os'
import { usageError } from '../errors.js'
import { shellQuote } from '../text.js'
import { AUTHORIZATION_ENV, childEnv, hasFlag, type ClientContext, type ClientLaunch, type ClientModule, type PrepareContext } from './types.js'

/** Sent as the bearer token to a local server, which checks none. */
export const DUMMY_TOKEN = 'mrs-local'
/** Local generation is slow: 30 minutes per request before Claude gives up. */
export const API_TIMEOUT_MS = '1800000'
/** Every switch 2.1.197 reads that would send requests to another provider than ANTHROPIC_BASE_URL. */
export const PROVIDER_SWITCHES = [
  'CLAUDE_CODE_USE_BEDROCK',
  'CLAUDE_CODE_USE_VERTEX',
  'CLAUDE_CODE_USE_FOUNDRY',
  'CLAUDE_CODE_USE_ANTHROPIC_AWS',
  'CLAUDE_CODE_USE_MANTLE',
  'CLAUDE_CODE_USE_GATEWAY',
] as const
const TIERS = ['OPUS', 'SONNET', 'HAIKU', 'FABLE'] as const
export const SETTINGS_FILE = 'claude-settings.json'

export type ClaudeSettings = Record<string, unknown> & { env?: Record<string, string>; permissions?: { deny?: string[] } & Record<string, unknown> }

/**
 * Keep what a session sends first the same from session to session (the prefix cache); the user's own values win.
 * `CLAUDE_CODE_TOTAL_TOKENS_REMINDER`: a countdown of tokens left that Claude's server side may switch on
 * (`tengu_lapis_anchor`, 2.1.197) rewrites the prompt on every request, so nothing of it is ever cached.
 */
export const PREFIX_STABLE: Record<string, string> = { CLAUDE_CODE_ATTRIBUTION_HEADER: '0', MCP_CONNECTION_NONBLOCKING: '0', CLAUDE_CODE_TOTAL_TOKENS_REMINDER: 'off' }
/** A settings key that means the same as a PREFIX_STABLE variable: set in the user's settings, theirs wins (Claude reads the variable first). */
const SETTING_OF: Record<string, string> = { CLAUDE_CODE_TOTAL_TOKENS_REMINDER: 'totalTokensReminder' }

/** The routing variables, identical in the environment and in the settings file. */
export function claudeRouting(ctx: Pick<ClientContext, 'url' | 'model' | 'smallModel' | 'contextWindow' | 'maxOutput' | 'apiKeyEnv' | 'authorization'>): Record<string, string> {
  const main = ctx.model
  const small = ctx.smallModel ?? ctx.model
  const tiers: Record<string, string> = {}
  for (const tier of TIERS) {
    const m = tier === 'HAIKU' ? small : main
    tiers[`ANTHROPIC_DEFAULT_${tier}_MODEL`] = m.id
    tiers[`ANTHROPIC_DEFAULT_${tier}_MODEL_NAME`] = m.name
    tiers[`ANTHROPIC_DEFAULT_${tier}_MODEL_DESCRIPTION`] = `${m.id}, served by mistral.rs (mrs)`
  }
  return {
    ANTHROPIC_BASE_URL: ctx.url,
    // With --api-key-env the real token travels in the environment only.
    ...(ctx.apiKeyEnv ? {} : { ANTHROPIC_AUTH_TOKEN: DUMMY_TOKEN }),
    // Empty: no "use this API key?" prompt, and a key exported for Anthropic never reaches this server.
    ANTHROPIC_API_KEY: '',
    ANTHROPIC_MODEL: main.id,
    ...tiers,
    ANTHROPIC_SMALL_FAST_MODEL: small.id,
    CLAUDE_CODE_SUBAGENT_MODEL: main.id,
    CLAUDE_CODE_DISABLE_1M_CONTEXT: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    API_TIMEOUT_MS,
    ...(ctx.contextWindow
      ? { CLAUDE_CODE_MAX_CONTEXT_TOKENS: String(ctx.contextWindow), CLAUDE_CODE_AUTO_COMPACT_WINDOW: String(ctx.contextWindow) }
      : {}),
    ...(ctx.maxOutput ? { CLAUDE_CODE_MAX_OUTPUT_TOKENS: String(ctx.maxOutput) } : {}),
    ...Object.fromEntries(PROVIDER_SWITCHES.map((k) => [k, ''])),
    // a --url's credentials, for mrs's status line (whose command line, readable by anyone, has the URL without them)
    ...(ctx.authorization ? { [AUTHORIZATION_ENV]: ctx.authorization } : {}),
  }
}

/** What `prepare` reads: the user's own `--settings`, and whether any settings of theirs has a status line. */
export interface ClaudePrepared {
  user?: ClaudeSettings
  userHasStatusLine: boolean
  /** Top-level keys set in any settings file of the user's (or their --settings). */
  userKeys?: string[]
}

/** PREFIX_STABLE without what the user chose in their settings files (Claude would read our variable over their setting). */
export function prefixStable(userKeys: readonly string[] = []): Record<string, string> {
  return Object.fromEntries(Object.entries(PREFIX_STABLE).filter(([k]) => !userKeys.includes(SETTING_OF[k] ?? '')))
}

export function claudeSettings(ctx: ClientContext, prepared: ClaudePrepared = { userHasStatusLine: false }): ClaudeSettings {
  const user = prepared.user ?? {}
  const routing = claudeRouting(ctx)
  const deny = [...(user.permissions?.deny ?? [])]
  // The WebSearch tool runs on the server; offer it only when the server can run it.
  if (!ctx.webSearch && !deny.includes('WebSearch')) deny.push('WebSearch')
  const permissions = { ...user.permissions, ...(deny.length ? { deny } : {}) }
  // the user's own status line always wins (theirs in any settings file, or in their --settings)
  const statusLine = !prepared.userHasStatusLine && ctx.statusLine ? { statusLine: { type: 'command', command: ctx.statusLine, padding: 0 } } : {}
  return {
    ...statusLine,
    ...user,
    // the user's own variables stay; routing wins where they collide
    env: { ...user.env, ...routing },
    ...(Object.keys(permissions).length ? { permissions } : {}),
  }
}

/** Finds a `--settings X` / `--settings=X` the user passed, and the args without it. */
export function takeUserSettings(args: readonly string[]): { args: string[]; source?: string } {
  const rest: string[] = []
  let source: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--settings' && i + 1 < args.length) source = args[++i]
    else if (a.startsWith('--settings=')) source = a.slice('--settings='.length)
    else rest.push(a)
  }
  return { args: rest, source }
}

/** Parses the user's settings (inline JSON or the text of their file). */
export function parseUserSettings(text: string, where: string): ClaudeSettings {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw usageError(`--settings ${where} is not valid JSON (${(e as Error).message})`)
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw usageError(`--settings ${where} must be a JSON object`)
  return value as ClaudeSettings
}

/** The user's `--settings` (file or inline JSON); a problem with it is theirs to fix, before any load. */
export function readUserSettings(args: readonly string[], cwd: string): ClaudeSettings | undefined {
  const { source } = takeUserSettings(args)
  if (source === undefined) return undefined
  if (source.trim().startsWith('{')) return parseUserSettings(source, 'JSON')
  let text: string
  try {
    text = readFileSync(resolve(cwd, source), 'utf8')
  } catch (e) {
    throw usageError(`cannot read --settings ${source} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  return parseUserSettings(text, source)
}

/** The top-level keys any settings Claude would read (user, project, local, the user's --settings) set. Unreadable files count as none. */
export function userSettingsKeys(env: Record<string, string | undefined>, cwd: string, fromFlag?: ClaudeSettings): string[] {
  const keys = new Set(Object.keys(fromFlag ?? {}))
  const configDir = env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), '.claude')
  for (const file of [join(configDir, 'settings.json'), join(cwd, '.claude', 'settings.json'), join(cwd, '.claude', 'settings.local.json')]) {
    try {
      if (!existsSync(file)) continue
      const settings = JSON.parse(readFileSync(file, 'utf8')) as ClaudeSettings
      if (settings && typeof settings === 'object') for (const [k, v] of Object.entries(settings)) if (v !== undefined && v !== null) keys.add(k)
    } catch {
      // a broken file is Claude's to report
    }
  }
  return [...keys]
}

/** Does any settings file Claude would read (user, project, local) set a status line? */
export const userHasStatusLine = (env: Record<string, string | undefined>, cwd: string, fromFlag?: ClaudeSettings): boolean => userSettingsKeys(env, cwd, fromFlag).includes('statusLine')

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  const prepared = (ctx.prepared as ClaudePrepared | undefined) ?? { userHasStatusLine: false }
  const { args } = takeUserSettings(ctx.userArgs)
  const settings = claudeSettings(ctx, prepared)
  const env = { ...prefixStable(prepared.userKeys), ...childEnv(ctx.env, PROVIDER_SWITCHES), ...claudeRouting(ctx) }
  for (const k of PROVIDER_SWITCHES) delete env[k]
  // headless: the per-machine sections (cwd, git status) after the cached part
  const dynamic = hasFlag(args, ['-p', '--print']) && !hasFlag(args, ['--exclude-dynamic-system-prompt-sections', '--system-prompt', '--system-prompt-file']) ? ['--exclude-dynamic-system-prompt-sections'] : []
  if (ctx.apiKeyEnv) env.ANTHROPIC_AUTH_TOKEN = ctx.env[ctx.apiKeyEnv] ?? ''
  const masked = Object.values(prepared.user?.env ?? {}).filter((v): v is string => typeof v === 'string' && v !== '')
  return {
    command: binary,
    args: ['--settings', join(ctx.tmpDir, SETTINGS_FILE), ...dynamic, ...args],
    env,
    files: { [SETTINGS_FILE]: `${JSON.stringify(settings, null, 2)}\n` },
    masked: ctx.apiKeyEnv && env.ANTHROPIC_AUTH_TOKEN ? [...masked, env.ANTHROPIC_AUTH_TOKEN] : masked,
  }
}

/** Claude's subcommands manage Claude itself (MCP servers, plugins, updates, login): no model is needed. */
const DIRECT_COMMANDS = ['agents', 'auth', 'auto-mode', 'doctor', 'install', 'mcp', 'plugin', 'plugins', 'project', 'setup-token', 'update', 'upgrade']

export const claude: ClientModule = {
  name: 'claude',
  title: 'Claude Code',
  binary: 'claude',
  install: 'npm install -g @anthropic-ai/claude-code',
  npmPackage: '@anthropic-ai/claude-code',
  minVersion: '2.0.0',
  versionWhy: 'routing through --settings env and ANTHROPIC_DEFAULT_*_MODEL',
  api: 'anthropic',
  configEnv: ['CLAUDE_CONFIG_DIR'],
  smallModelSlot: true,
  // `claude --agent NAME` picks Claude's agent, `--verbose` is Claude's, `-v` is its --version
  collisions: ['--agent', '--verbose', '-v'],
  options: [
    // claude --help (2.1.197)
    '--add-dir', '--agent', '--agents', '--allow-dangerously-skip-permissions', '--allowedTools', '--allowed-tools', '--append-system-prompt',
    '--ax-screen-reader', '--bg', '--background', '--bare', '--betas', '--brief', '--chrome', '--no-chrome', '-c', '--continue',
    '--dangerously-skip-permissions', '-d', '--debug', '--debug-file', '--disable-slash-commands', '--disallowedTools', '--disallowed-tools',
    '--effort', '--exclude-dynamic-system-prompt-sections', '--fallback-model', '--file', '--fork-session', '--from-pr', '-h', '--help', '--ide',
    '--include-hook-events', '--include-partial-messages', '--input-format', '--json-schema', '--max-budget-usd', '--mcp-config', '--model',
    '-n', '--name', '--no-session-persistence', '--output-format', '--permission-mode', '--plugin-dir', '--plugin-url', '-p', '--print',
    '--prompt-suggestions', '--remote-control', '--remote-control-session-name-prefix', '--replay-user-messages', '-r', '--resume', '--safe-mode',
    '--session-id', '--setting-sources', '--settings', '--strict-mcp-config', '--system-prompt', '--tmux', '--tools', '--verbose', '-v', '--version',
    '-w', '--worktree',
    // hidden, but parsed
    '-d2e', '--debug-to-stderr', '--init', '--init-only', '--maintenance', '--session-mirror', '--thinking', '--thinking-display',
    '--max-thinking-tokens', '--max-turns', '--task-budget', '--enable-auth-status', '--permission-prompt-tool', '--system-prompt-file',
    '--append-system-prompt-file', '--plan-mode-instructions', '--prefill', '--prefill-b64', '--deep-link-origin', '--deep-link-repo',
    '--deep-link-last-fetch', '--deep-link-cwd-b64', '--resume-session-at', '--reply-on-resume', '--rewind-files', '--workload',
    '--managed-settings', '--plugin-dir-no-mcp', '--advisor', '--enable-auto-mode', '--channels', '--dangerously-load-development-channels',
    '--agent-id', '--agent-name', '--team-name', '--agent-color', '--plan-mode-required', '--parent-session-id', '--teammate-mode',
    '--agent-type', '--sdk-url', '--teleport', '--cloud', '--remote', '--rc',
  ],
  needsNoServer: (args) => hasFlag(args, ['-h', '--help', '-v', '--version']) || DIRECT_COMMANDS.includes(args[0] ?? ''),
  async prepare(ctx: PrepareContext): Promise<ClaudePrepared> {
    const user = readUserSettings(ctx.userArgs, ctx.cwd)
    const userKeys = userSettingsKeys(ctx.env, ctx.cwd, user)
    return { user, userHasStatusLine: userKeys.includes('statusLine'), userKeys }
  },
  prepareFirst: true,
  launch,
  env: {
    formats: { json: 'a settings.json snippet instead of export lines' },
    text(ctx, format) {
      if (format === 'json') return `${JSON.stringify(claudeSettings({ ...ctx, userArgs: [], tmpDir: '' }), null, 2)}\n`
      const lines: string[] = []
      const unset: string[] = []
      for (const [k, v] of Object.entries({ ...claudeRouting(ctx), ...PREFIX_STABLE })) {
        if (v === '' && k !== 'ANTHROPIC_API_KEY') unset.push(k)
        else lines.push(`export ${k}=${shellQuote(v)}`)
      }
      // a reference to the variable, never its value
      if (ctx.apiKeyEnv) lines.push(`export ANTHROPIC_AUTH_TOKEN="$${ctx.apiKeyEnv}"`)
      if (unset.length) lines.push(`unset ${unset.join(' ')}`)
      return `${lines.join('\n')}\n`
    },
    note: (ctx, format) =>
      format === 'json' && ctx.apiKeyEnv ? `the token is not written into settings: export ANTHROPIC_AUTH_TOKEN="$${ctx.apiKeyEnv}" before starting claude` : undefined,
  },
  resumeArgs: (args) => (hasFlag(args, ['-p', '--print']) ? undefined : ['--', '--continue']),
  examples: ['', '--continue', '-- -p "explain src/cli"'],
  // its first request is ~22k tokens (2.1.197), and it compacts 13k tokens plus the max output before the window ends
  minContext: 40_000,
}
