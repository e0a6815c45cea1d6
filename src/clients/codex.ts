/**
 * The Codex CLI (`@openai/codex`, checked with 0.169): `-c` overrides only.
 * They take precedence over ~/.codex/config.toml and over a profile the user
 * picks with --profile, are written nowhere, and vanish with the process, so
 * the user's CODEX_HOME (MCP servers, sandbox, sessions, history) is used but
 * never changed, and two sessions never collide. The one file is the model
 * catalog, in the session's private temp dir: an entry copied from Codex's
 * own bundled catalog (so Codex keeps its system prompt) that names the
 * local model, so Codex shows its real name and window.
 */
import { capture } from '../process/run.js'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parse, stringify } from 'smol-toml'
import { usageError } from '../errors.js'
import { privateDir } from '../paths.js'
import { shellQuote } from '../text.js'
import { AUTHORIZATION_ENV, childEnv, hasFlag, type ClientContext, type ClientLaunch, type ClientModule, type EnvContext, type PrepareContext } from './types.js'
import { splitCredentials } from '../http.js'
import { digest } from '../hash.js'
import { compareVersions } from '../version.js'

/** Our provider id: not `openai`/`ollama`/`lmstudio` (reserved), not `mistralrs` (a user's own table by that name would merge in). */
export const PROVIDER_ID = 'mrs'
/** No spaces: `codex $(mrs env codex)` splits its output on whitespace and keeps quotes. */
export const PROVIDER_NAME = 'mistral.rs'
export const CATALOG_FILE = 'codex-models.json'
export const PROFILE_NAME = 'mistralrs'
export const PROVIDER_DEFAULTS = {
  request_max_retries: 4,
  stream_max_retries: 3,
  // prefill of a long context on a local GPU can take minutes before the first token
  stream_idle_timeout_ms: 600_000,
}

/** TOML for a `-c key=value` value. */
const toml = (v: string | number | boolean | string[] | Record<string, string>): string =>
  Array.isArray(v)
    ? `[${v.map((s) => JSON.stringify(s)).join(',')}]`
    : typeof v === 'object'
      ? `{${Object.entries(v).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(',')}}`
      : typeof v === 'string'
        ? JSON.stringify(v)
        : String(v)

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

/**
 * The catalog for the served model: its real name in the footer and in
 * `/model`, its window, no reasoning levels (which would show as a bogus
 * effort), and no reasoning summaries (mistral.rs's guidance for Codex).
 *
 * And only tools mistral.rs reads: its Responses API takes `tools` as an
 * untagged enum of function, web_search, code_interpreter, shell and
 * namespace (mistralrs-server-core/src/openai.rs, `OpenAiTool`), so one tool
 * of another type fails the whole request with 422. Codex's entries send
 * `apply_patch` as a `custom` (freeform) tool and a `tool_search` tool; with
 * no apply_patch tool type (0.169 knows only `freeform`) Codex tells the
 * model to run `apply_patch` through exec_command and applies the patch
 * itself, and without the search tool it sends its deferred tools as a
 * `namespace`.
 */
export function catalogFor(base: CatalogEntry, model: { id: string; name: string }, contextWindow?: number): { models: CatalogEntry[] } {
  const entry: CatalogEntry = {
    ...base,
    slug: model.id,
    display_name: model.name,
    description: `${model.id}, served by mistral.rs (mrs)`,
    visibility: 'list',
    upgrade: null,
    availability_nux: null,
    additional_speed_tiers: [],
    service_tiers: [],
    supported_reasoning_levels: [],
    default_reasoning_level: null,
    supports_reasoning_summaries: false,
    supports_reasoning_summary_parameter: false,
    apply_patch_tool_type: null,
    supports_search_tool: false,
    // a tool's output may only be text there (function_call_output.output is a String, and no `original` detail):
    // an image from view_image would fail the next request with 422
    input_modalities: ['text'],
    supports_image_detail_original: false,
    // its web_search takes no image search (500 "image search is not supported")
    web_search_tool_type: 'text',
  }
  if (contextWindow) {
    entry.context_window = contextWindow
    entry.max_context_window = contextWindow
  }
  return { models: [entry] }
}

export interface CodexPrepared {
  catalogBase?: CatalogEntry
  /** The user's own config sets `tui.status_line`: theirs stays. */
  userStatusLine: boolean
}

/** mistral.rs versions whose Responses API reads a `namespace` tool (Codex sends its sub-agent tools as one). */
export const NAMESPACE_TOOLS_SINCE = '0.9.2'

/** The `-c` overrides, as `key=value` strings. `catalogPath` is where the catalog file will be. */
export function codexOverrides(ctx: Pick<ClientContext, 'url' | 'model' | 'contextWindow' | 'webSearch' | 'apiKeyEnv' | 'authorization' | 'serverVersion'>, extra: { catalogPath?: string; statusLine?: boolean } = {}): string[] {
  const p = `model_providers.${PROVIDER_ID}`
  const pairs: [string, string | number | boolean | string[] | Record<string, string>][] = [
    ['model_provider', PROVIDER_ID],
    ['model', ctx.model.id],
    [`${p}.name`, PROVIDER_NAME],
    // argv is readable by every local user: a URL's credentials go as a header from the environment
    [`${p}.base_url`, `${splitCredentials(ctx.url).url}/v1`],
    [`${p}.wire_api`, 'responses'],
    [`${p}.request_max_retries`, PROVIDER_DEFAULTS.request_max_retries],
    [`${p}.stream_max_retries`, PROVIDER_DEFAULTS.stream_max_retries],
    [`${p}.stream_idle_timeout_ms`, PROVIDER_DEFAULTS.stream_idle_timeout_ms],
    ['model_reasoning_summary', 'none'],
  ]
  // Codex sends `Authorization: Bearer $VAR`; only the variable's name is in argv.
  if (ctx.apiKeyEnv) pairs.push([`${p}.env_key`, ctx.apiKeyEnv])
  if (ctx.authorization) pairs.push([`${p}.env_http_headers`, { Authorization: AUTHORIZATION_ENV }])
  if (ctx.contextWindow) pairs.push(['model_context_window', ctx.contextWindow])
  if (extra.catalogPath) pairs.push(['model_catalog_json', extra.catalogPath])
  // Codex sends its sub-agent tools as a `namespace` tool, which mistral.rs reads from 0.9.2 on (before, 422 on every
  // request): an older server's Codex goes without sub-agents
  if (ctx.serverVersion && compareVersions(ctx.serverVersion, NAMESPACE_TOOLS_SINCE) < 0) pairs.push(['features.multi_agent', false])
  // Codex's hosted web_search tool runs on the server: offer it only when the server runs web search, and then
  // "live" (the default, "cached", sends external_web_access=false, which mistral.rs takes as no search at all)
  pairs.push(['web_search', ctx.webSearch ? 'live' : 'disabled'])
  // the footer shows the model's name and the folder, not "<model> <reasoning effort>"
  if (extra.statusLine) pairs.push(['tui.status_line', ['model-name', 'current-dir']])
  return pairs.map(([k, v]) => `${k}=${toml(v)}`)
}

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  const prepared = (ctx.prepared as CodexPrepared | undefined) ?? { userStatusLine: true }
  const catalogPath = prepared.catalogBase ? join(ctx.tmpDir, CATALOG_FILE) : undefined
  const overrides = codexOverrides(ctx, { catalogPath, statusLine: !prepared.userStatusLine })
  return {
    command: binary,
    args: [...overrides.flatMap((o) => ['-c', o]), ...ctx.userArgs],
    env: { ...childEnv(ctx.env), ...(ctx.authorization ? { [AUTHORIZATION_ENV]: ctx.authorization } : {}) },
    masked: ctx.authorization ? [ctx.authorization] : undefined,
    files: prepared.catalogBase ? { [CATALOG_FILE]: JSON.stringify(catalogFor(prepared.catalogBase, ctx.model, ctx.contextWindow)) } : {},
  }
}

/** The same settings as a TOML profile for `codex --profile NAME` ($CODEX_HOME/NAME.config.toml). */
export function codexProfile(ctx: Pick<ClientContext, 'url' | 'model' | 'contextWindow' | 'webSearch' | 'apiKeyEnv'>, catalogPath?: string): Record<string, unknown> {
  return {
    model_provider: PROVIDER_ID,
    model: ctx.model.id,
    model_reasoning_summary: 'none',
    ...(ctx.contextWindow ? { model_context_window: ctx.contextWindow } : {}),
    ...(catalogPath ? { model_catalog_json: catalogPath } : {}),
    web_search: ctx.webSearch ? 'live' : 'disabled',
    model_providers: {
      [PROVIDER_ID]: {
        name: PROVIDER_NAME,
        base_url: `${ctx.url}/v1`,
        wire_api: 'responses',
        ...PROVIDER_DEFAULTS,
        ...(ctx.apiKeyEnv ? { env_key: ctx.apiKeyEnv } : {}),
      },
    },
  }
}

export const codexHome = (env: Record<string, string | undefined>) => env.CODEX_HOME || join(env.HOME || homedir(), '.codex')

/** The catalog `mrs env` and `mrs setup` name (Codex warns "Model metadata … not found" without one): where it goes and its text. */
function catalogFile(ctx: EnvContext, dir: string, name?: string): { path: string; text: string } | undefined {
  const base = (ctx.prepared as CodexPrepared | undefined)?.catalogBase
  if (!base) return undefined
  const text = `${JSON.stringify(catalogFor(base, ctx.model, ctx.contextWindow), null, 2)}\n`
  // `mrs env`'s file is named by its content: outputs for two servers never overwrite each other's
  return { path: join(dir, name ?? `codex-catalog-${digest(text).slice(0, 16)}.json`), text }
}

/** The catalog beside the profile `mrs setup codex` writes. */
const SETUP_CATALOG = `${PROFILE_NAME}-models.json`

/**
 * Codex's own description of a model (with its system prompt), from
 * `codex debug models --bundled`. Cached by the binary's identity, since
 * running Codex costs ~70 ms; undefined if Codex cannot tell (then Codex
 * runs on its fallback metadata, as it would without mrs).
 */
export async function bundledCatalogEntry(binary: string, cacheDir: string, tmpRoot: string, env: Record<string, string | undefined>): Promise<CatalogEntry | undefined> {
  let identity: string
  try {
    const st = statSync(binary)
    identity = digest(`${binary}:${st.size}:${st.mtimeMs}`)
  } catch {
    return undefined
  }
  const cacheFile = join(cacheDir, `codex-model-${identity}.json`)
  try {
    return JSON.parse(readFileSync(cacheFile, 'utf8')) as CatalogEntry
  } catch {
    // not cached yet
  }
  // an empty CODEX_HOME of our own: asking Codex must not touch the user's
  const probeHome = privateDir(join(tmpRoot, `probe-${process.pid}-codex`))
  const answer = await capture(binary, ['debug', 'models', '--bundled'], { env: { ...env, CODEX_HOME: probeHome }, maxBuffer: 32 * 1024 * 1024, timeoutMs: 20_000 })
  rmSync(probeHome, { recursive: true, force: true })
  const stdout = answer.ok ? answer.stdout : undefined
  if (!stdout) return undefined
  let entry: CatalogEntry | undefined
  try {
    entry = pickCatalogEntry((JSON.parse(stdout) as { models: CatalogEntry[] }).models)
  } catch {
    return undefined
  }
  if (entry) {
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
      writeFileSync(cacheFile, JSON.stringify(entry), { mode: 0o600 })
    } catch {
      // an unwritable cache only costs time
    }
  }
  return entry
}

/** Codex's global options that take a value: what a scan for the subcommand must step over. */
const VALUE_OPTIONS = ['-c', '--config', '--enable', '--disable', '--remote', '--remote-auth-token-env', '-i', '--image', '-m', '--model', '--local-provider', '-p', '--profile', '-s', '--sandbox', '-C', '--cd', '--add-dir', '-a', '--ask-for-approval']

/** The subcommand (first positional) and the value of `-C/--cd`, as Codex would read them. */
export function codexCommandLine(args: readonly string[]): { subcommand?: string; cd?: string; profile?: string } {
  let cd: string | undefined
  let profile: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') return { cd, profile }
    const [name, inline] = a.startsWith('--') ? [a.split('=')[0]!, a.includes('=') ? a.slice(a.indexOf('=') + 1) : undefined] : [a, undefined]
    if (VALUE_OPTIONS.includes(name)) {
      const value = inline ?? args[++i]
      if (name === '-C' || name === '--cd') cd = value
      if (name === '-p' || name === '--profile') profile = value
      continue
    }
    if (!a.startsWith('-')) return { subcommand: a, cd, profile }
  }
  return { cd, profile }
}

function insideGitRepo(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true
    if (dirname(d) === d) return false
  }
}

/** Does the user's config (or the profile they pick) set `tui.status_line`? Unknown counts as yes: theirs is never overridden. */
function userStatusLine(env: Record<string, string | undefined>, profile?: string): boolean {
  for (const file of [join(codexHome(env), 'config.toml'), ...(profile ? [join(codexHome(env), `${profile}.config.toml`)] : [])]) {
    if (!existsSync(file)) continue
    try {
      const doc = parse(readFileSync(file, 'utf8')) as { tui?: { status_line?: unknown } }
      if (doc.tui?.status_line !== undefined) return true
    } catch {
      return true
    }
  }
  return false
}

/** Current Codex refuses to start with a legacy `[profiles.*]` table or `profile =` line: say so, change nothing. */
function legacyProfileWarning(env: Record<string, string | undefined>): string[] {
  const file = join(codexHome(env), 'config.toml')
  let config: string
  try {
    config = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return /^\s*\[profiles\./m.test(config) || /^\s*profile\s*=/m.test(config)
    ? [`${file} has a legacy [profiles.*] table or profile = line, which current Codex refuses to start with; move it into <name>.config.toml files (mrs leaves config.toml alone)`]
    : []
}

/** Subcommands that manage Codex itself (login, MCP servers, plugins, completion...): no model is needed. */
const DIRECT_COMMANDS = ['help', 'login', 'logout', 'mcp', 'plugin', 'completion', 'features', 'debug', 'update', 'archive', 'unarchive', 'delete', 'migrate-rollouts', 'migrate-nfs-db', 'apply', 'a', 'sandbox', 'doctor']
/** Subcommands that refuse to run outside a git repository. */
const GIT_ONLY = ['exec', 'e', 'review']

export const codex: ClientModule = {
  name: 'codex',
  title: 'the Codex CLI',
  binary: 'codex',
  install: 'npm install -g @openai/codex',
  npmPackage: '@openai/codex',
  minVersion: '0.169.0',
  versionWhy: 'model_catalog_json and profile files (--profile NAME reads NAME.config.toml)',
  api: 'responses',
  configEnv: ['CODEX_HOME'],
  smallModelSlot: false,
  // `codex -c/--config key=value` is Codex's
  collisions: ['--config'],
  options: [
    // codex --help, codex exec --help, codex resume --help (0.169)
    '-c', '--config', '--enable', '--disable', '--remote', '--remote-auth-token-env', '--strict-config', '-i', '--image', '-m', '--model', '--oss',
    '--local-provider', '-p', '--profile', '-s', '--sandbox', '--approve-for-me', '--dangerously-bypass-approvals-and-sandbox',
    '--dangerously-bypass-hook-trust', '-C', '--cd', '--worktree', '--add-dir', '-a', '--ask-for-approval', '--search', '--no-alt-screen',
    '--no-daemon', '-h', '--help', '-V', '--version', '--thread-source', '--cyber-access-program', '--skip-git-repo-check', '--trust',
    '--ephemeral', '--ignore-user-config', '--ignore-rules', '--output-schema', '--color', '--json', '-o', '--output-last-message', '--last',
    '--all', '--include-non-interactive', '--uncommitted', '--base', '--commit', '--title',
  ],
  needsNoServer(args) {
    if (hasFlag(args, ['-h', '--help', '-V', '--version'])) return true
    const { subcommand } = codexCommandLine(args)
    return subcommand !== undefined && DIRECT_COMMANDS.includes(subcommand)
  },
  preflight(args, { cwd }) {
    const { subcommand, cd } = codexCommandLine(args)
    if (!subcommand || !GIT_ONLY.includes(subcommand) || hasFlag(args, ['--skip-git-repo-check'])) return
    const dir = cd ? resolve(cwd, cd) : cwd
    // only when certain: a -C directory that does not exist is Codex's to report
    if (!existsSync(dir) || insideGitRepo(dir)) return
    const fix = subcommand === 'review' ? 'run it inside a git repository' : `add --skip-git-repo-check after ${subcommand}, or run it inside a git repository`
    throw usageError(`codex ${subcommand} refuses to run outside a git repository (${dir} is not in one): ${fix}`)
  },
  async prepare(ctx: PrepareContext): Promise<CodexPrepared> {
    const statusLine = userStatusLine(ctx.env, codexCommandLine(ctx.userArgs).profile)
    return { catalogBase: await bundledCatalogEntry(ctx.binary, ctx.cacheDir, ctx.tmpRoot, ctx.env), userStatusLine: statusLine }
  },
  launch,
  env: {
    formats: { toml: 'a profile (TOML) instead of -c flags' },
    text(ctx, format) {
      const catalogPath = catalogFile(ctx, ctx.cacheDir)?.path
      if (format === 'toml') return `${stringify(codexProfile(ctx, catalogPath))}\n`
      // plain words, so `codex $(mrs env codex) exec "hi"` works as written: the shell splits the
      // output on spaces and keeps the double quotes, which are the TOML's own; only a value with a
      // space or a glob character (a local model path, say) has to be quoted, for eval
      return `${codexOverrides(ctx, { catalogPath }).map((o) => `-c ${/[\s*?[]/.test(o) ? shellQuote(o) : o}`).join(' ')}\n`
    },
    files(ctx) {
      const catalog = catalogFile(ctx, ctx.cacheDir)
      return catalog ? { [catalog.path]: catalog.text } : {}
    },
    note: (ctx) => ((ctx.prepared as CodexPrepared | undefined)?.catalogBase ? undefined : 'no model catalog from codex here (is it installed?): Codex will say "Model metadata … not found" and use its defaults'),
  },
  setup: {
    path: (env) => join(codexHome(env), `${PROFILE_NAME}.config.toml`),
    content: (ctx, port) =>
      `# Written by \`mrs setup codex\`: use with \`codex --profile ${PROFILE_NAME}\`.\n# Start the server with: mrs serve -m ${ctx.model.id === 'default' ? 'MODEL' : shellQuote(ctx.model.id)} --port ${port}\n\n${stringify(codexProfile(ctx, catalogFile(ctx, codexHome(ctx.env), SETUP_CATALOG)?.path))}\n`,
    files(ctx) {
      const catalog = catalogFile(ctx, codexHome(ctx.env), SETUP_CATALOG)
      return catalog ? { [catalog.path]: catalog.text } : {}
    },
    warnings: (env) => legacyProfileWarning(env),
    usage: `codex --profile ${PROFILE_NAME}`,
  },
  resumeArgs: (args) => {
    const { subcommand } = codexCommandLine(args)
    return subcommand && subcommand !== 'resume' && subcommand !== 'fork' ? undefined : ['resume', '--last']
  },
  examples: ['', '-- exec "fix the failing test"', 'resume --last'],
  // its first request is ~11k tokens (Codex 0.169): leave room for an answer
  minContext: 16_384,
  // what 0.169 sends with mrs's catalog entry besides function tools (seen in its requests): its sub-agent tools as a
  // namespace, and the hosted web search when the server searches
  otherTools: ({ webSearch, serverVersion }) => [
    ...(serverVersion && compareVersions(serverVersion, NAMESPACE_TOOLS_SINCE) < 0 ? [] : [
    {
      type: 'namespace',
      name: 'multi_agent_v1',
      description: 'Tools for spawning and managing sub-agents.',
      tools: [{ type: 'function', name: 'spawn_agent', description: 'Spawn a sub-agent.', parameters: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } }],
    },
    ]),
    ...(webSearch ? [{ type: 'web_search', external_web_access: true }] : []),
  ],
}
