/**
 * What `mrs claude` injects into Claude Code. Routing goes in twice: in the
 * child's environment and in an inline `--settings` JSON, because the `env`
 * block of the user's ~/.claude/settings.json overrides the environment but
 * not `--settings`. Nothing is written to the user's Claude files.
 */
import { usageError } from '../errors.js'
import { childEnv, type ClientContext, type ClientLaunch } from './types.js'

/** Sent as the bearer token to a local server, which checks none. */
export const DUMMY_TOKEN = 'mrs-local'
/** Local generation is slow: 30 minutes per request before Claude gives up. */
export const API_TIMEOUT_MS = '1800000'
const THIRD_PARTY = ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX', 'CLAUDE_CODE_USE_FOUNDRY'] as const

export type ClaudeSettings = Record<string, unknown> & { env?: Record<string, string>; permissions?: { deny?: string[] } & Record<string, unknown> }

/** The routing variables, identical in the environment and in --settings. */
export function claudeRouting(ctx: Pick<ClientContext, 'url' | 'ids' | 'contextWindow' | 'apiKeyEnv'>): Record<string, string> {
  const { main, small = main } = ctx.ids
  return {
    ANTHROPIC_BASE_URL: ctx.url,
    // With --api-key-env the real token travels in the environment only (never in argv).
    ...(ctx.apiKeyEnv ? {} : { ANTHROPIC_AUTH_TOKEN: DUMMY_TOKEN }),
    // Empty: no "use this API key?" prompt, and a key exported for Anthropic never reaches this server.
    ANTHROPIC_API_KEY: '',
    ANTHROPIC_MODEL: main,
    ANTHROPIC_DEFAULT_OPUS_MODEL: main,
    ANTHROPIC_DEFAULT_SONNET_MODEL: main,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: small,
    ANTHROPIC_SMALL_FAST_MODEL: small,
    CLAUDE_CODE_SUBAGENT_MODEL: main,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    API_TIMEOUT_MS,
    ...(ctx.contextWindow ? { CLAUDE_CODE_AUTO_COMPACT_WINDOW: String(ctx.contextWindow) } : {}),
    ...Object.fromEntries(THIRD_PARTY.map((k) => [k, ''])),
  }
}

export function claudeSettings(ctx: ClientContext, user: ClaudeSettings = {}): ClaudeSettings {
  const routing = claudeRouting(ctx)
  const deny = [...(user.permissions?.deny ?? [])]
  // The WebSearch tool runs on the server; offer it only when the server can run it.
  if (!ctx.webSearch && !deny.includes('WebSearch')) deny.push('WebSearch')
  const permissions = { ...user.permissions, ...(deny.length ? { deny } : {}) }
  return {
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

export function claudeLaunch(ctx: ClientContext, binary: string, userSettings?: ClaudeSettings): ClientLaunch {
  const { args } = takeUserSettings(ctx.userArgs)
  const settings = claudeSettings(ctx, userSettings)
  const env = { ...childEnv(ctx.env, THIRD_PARTY), ...claudeRouting(ctx) }
  for (const k of THIRD_PARTY) delete env[k]
  if (ctx.apiKeyEnv) env.ANTHROPIC_AUTH_TOKEN = ctx.env[ctx.apiKeyEnv] ?? ''
  return { command: binary, args: ['--settings', JSON.stringify(settings), ...args], env, files: {} }
}
