/**
 * What `mrs codex` injects into the Codex CLI: `-c` overrides only. They
 * take precedence over ~/.codex/config.toml and over a profile the user
 * picks with --profile, are written nowhere, and vanish with the process,
 * so the user's CODEX_HOME (MCP servers, sandbox, sessions, history) is used
 * but never changed, and two sessions never collide. The one file is the
 * model catalog, in the session's private temp dir.
 */
import { childEnv, type ClientContext, type ClientLaunch } from './types.js'

/** Our provider id: not `openai`/`ollama`/`lmstudio` (reserved), not `mistralrs` (a user's own table by that name would merge in). */
export const PROVIDER_ID = 'mrs'
export const CATALOG_FILE = 'codex-models.json'
export const PROVIDER_DEFAULTS = {
  request_max_retries: 4,
  stream_max_retries: 3,
  // prefill of a long context on a local GPU can take minutes before the first token
  stream_idle_timeout_ms: 600_000,
}

/** TOML for a `-c key=value` value. */
const toml = (v: string | number | boolean) => (typeof v === 'string' ? JSON.stringify(v) : String(v))

export interface CatalogEntry extends Record<string, unknown> {
  slug: string
  context_window?: number
}

/**
 * The entry of Codex's bundled catalog (`codex debug models --bundled`) to
 * describe a local model with. Its `base_instructions` are Codex's own system
 * prompt, so copying the entry keeps the prompt; entries that switch Codex to
 * a code-mode-only tool set or the "responses lite" wire format are skipped,
 * since mistral.rs serves the plain Responses API.
 */
export function pickCatalogEntry(models: CatalogEntry[]): CatalogEntry | undefined {
  const usable = models.filter(
    (m) => (m.base_instructions || (m.model_messages as { instructions_template?: string } | null)?.instructions_template) && !m.tool_mode && !m.use_responses_lite,
  )
  const pool = usable.length ? usable : models
  return [...pool].sort((a, b) => Number(a.priority ?? 999) - Number(b.priority ?? 999))[0]
}

export function catalogFor(base: CatalogEntry, slug: string, contextWindow?: number): { models: CatalogEntry[] } {
  const entry: CatalogEntry = {
    ...base,
    slug,
    display_name: slug,
    description: 'A local model served by mistral.rs (via mrs)',
    visibility: 'list',
    upgrade: null,
    availability_nux: null,
    additional_speed_tiers: [],
    service_tiers: [],
  }
  if (contextWindow) {
    entry.context_window = contextWindow
    entry.max_context_window = contextWindow
  }
  return { models: [entry] }
}

/** The `-c` overrides, as `key=value` strings. `catalogPath` is where the catalog file will be. */
export function codexOverrides(ctx: ClientContext, catalogPath?: string): string[] {
  const p = `model_providers.${PROVIDER_ID}`
  const pairs: [string, string | number | boolean][] = [
    ['model_provider', PROVIDER_ID],
    ['model', ctx.ids.main],
    [`${p}.name`, 'mistral.rs (mrs)'],
    [`${p}.base_url`, `${ctx.url}/v1`],
    [`${p}.wire_api`, 'responses'],
    [`${p}.request_max_retries`, PROVIDER_DEFAULTS.request_max_retries],
    [`${p}.stream_max_retries`, PROVIDER_DEFAULTS.stream_max_retries],
    [`${p}.stream_idle_timeout_ms`, PROVIDER_DEFAULTS.stream_idle_timeout_ms],
  ]
  // Codex sends `Authorization: Bearer $VAR`; only the variable's name is in argv.
  if (ctx.apiKeyEnv) pairs.push([`${p}.env_key`, ctx.apiKeyEnv])
  if (ctx.contextWindow) pairs.push(['model_context_window', ctx.contextWindow])
  if (catalogPath) pairs.push(['model_catalog_json', catalogPath])
  // Codex's hosted web_search tool runs on the server: offer it only when the server runs web search.
  if (!ctx.webSearch) pairs.push(['web_search', 'disabled'])
  return pairs.map(([k, v]) => `${k}=${toml(v)}`)
}

export function codexLaunch(ctx: ClientContext, binary: string, catalog?: { path: string; base: CatalogEntry }): ClientLaunch {
  const overrides = codexOverrides(ctx, catalog?.path)
  return {
    command: binary,
    args: [...overrides.flatMap((o) => ['-c', o]), ...ctx.userArgs],
    env: childEnv(ctx.env),
    files: catalog ? { [CATALOG_FILE]: JSON.stringify(catalogFor(catalog.base, ctx.ids.main, ctx.contextWindow)) } : {},
  }
}

/** The same settings as a TOML profile for `codex --profile NAME` ($CODEX_HOME/NAME.config.toml). */
export function codexProfile(ctx: Omit<ClientContext, 'userArgs' | 'env'>): Record<string, unknown> {
  return {
    model_provider: PROVIDER_ID,
    model: ctx.ids.main,
    ...(ctx.contextWindow ? { model_context_window: ctx.contextWindow } : {}),
    ...(ctx.webSearch ? {} : { web_search: 'disabled' }),
    model_providers: {
      [PROVIDER_ID]: {
        name: 'mistral.rs (mrs)',
        base_url: `${ctx.url}/v1`,
        wire_api: 'responses',
        ...PROVIDER_DEFAULTS,
        ...(ctx.apiKeyEnv ? { env_key: ctx.apiKeyEnv } : {}),
      },
    },
  }
}
