/**
 * pi (`@mariozechner/pi-coding-agent`, checked with 0.73.1): chat completions.
 *
 * pi reads its providers from `models.json` in its agent dir (default
 * ~/.pi/agent), and `PI_CODING_AGENT_DIR` points it at another one. mrs
 * builds that other one as an overlay of the user's, in the session's
 * private temp dir, so their settings, extensions, skills, keys and
 * sessions still apply while their files stay theirs:
 *   - every entry of their dir is a symlink (auth.json too, so an OAuth
 *     refresh writes back to their file, and sessions/, so sessions land
 *     where pi keeps them and `-c` finds them);
 *   - models.json is theirs with our `mrs` provider merged in;
 *   - settings.json is a copy (relative resource paths made absolute): pi
 *     rewrites it when the model changes, and the user's default must not
 *     become `mrs/...`, a provider that exists only inside mrs.
 * A user without a pi dir gets sessions in mrs's own state dir, so `-c`
 * works across mrs sessions without creating ~/.pi.
 *
 * pi names the overlay's paths in its system prompt (the user's AGENTS.md,
 * each skill's SKILL.md), so the overlay lives in the server's shared dir
 * under a name made of its content: every session on that server sees the
 * same paths, and its prompt stays in the server's prefix cache.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { ExitCode, MrsError } from '../errors.js'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { shellQuote } from '../text.js'
import { digest } from '../hash.js'
import { childEnv, hasFlag, type ClientContext, type ClientLaunch, type ClientModule, type PrepareContext } from './types.js'

export const PROVIDER_ID = 'mrs'
/** The overlay agent dir inside the session's temp dir. */
export const AGENT_DIR = 'pi-agent'
const OWN_FILES = ['models.json', 'settings.json']
/** Settings keys whose entries are paths resolved against the agent dir. */
const PATH_KEYS = ['extensions', 'skills', 'prompts', 'themes']

export interface PiPrepared {
  /** The user's agent dir, when it exists. */
  userDir?: string
  entries: string[]
  models?: Record<string, unknown>
  settings?: Record<string, unknown>
  /** Where sessions go: the user's sessions dir, or mrs's own. */
  sessions: string
}

export const userAgentDir = (env: Record<string, string | undefined>) => {
  const dir = env.PI_CODING_AGENT_DIR
  const home = env.HOME || homedir()
  return dir ? resolve(dir.replace(/^~(?=$|\/)/, home)) : join(home, '.pi', 'agent')
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8'))
    return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined
  } catch {
    return undefined // missing, or broken: pi would report it; ours still works
  }
}

/** Our provider, in pi's models.json terms. */
export function piProvider(ctx: Pick<ClientContext, 'url' | 'model' | 'contextWindow' | 'maxOutput' | 'apiKeyEnv'>): Record<string, unknown> {
  return {
    baseUrl: `${ctx.url}/v1`,
    api: 'openai-completions',
    // pi resolves an apiKey that names an environment variable: the name goes in the file, never the key
    apiKey: ctx.apiKeyEnv ?? 'mrs-local',
    compat: { maxTokensField: 'max_tokens' },
    models: [
      {
        id: ctx.model.id,
        name: ctx.model.name,
        ...(ctx.contextWindow ? { contextWindow: ctx.contextWindow } : {}),
        ...(ctx.maxOutput ? { maxTokens: ctx.maxOutput } : {}),
      },
    ],
  }
}

/** The user's settings with relative resource paths made absolute (they resolve against the agent dir, which moves). */
export function absoluteSettings(settings: Record<string, unknown>, userDir: string): Record<string, unknown> {
  const out = { ...settings }
  for (const key of PATH_KEYS) {
    const list = out[key]
    if (!Array.isArray(list)) continue
    out[key] = list.map((p) => (typeof p === 'string' && p && !/^[!+\-~/]/.test(p) && !isAbsolute(p) ? resolve(userDir, p) : p))
  }
  return out
}

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  const prepared = (ctx.prepared as PiPrepared | undefined) ?? { entries: [], sessions: join(ctx.tmpDir, 'pi-sessions') }
  const models = { ...prepared.models, providers: { ...(prepared.models?.providers as object | undefined), [PROVIDER_ID]: piProvider(ctx) } }
  // the overlay, by names inside it
  const links: Record<string, string> = {}
  for (const name of prepared.entries) if (!OWN_FILES.includes(name) && prepared.userDir) links[name] = join(prepared.userDir, name)
  links.sessions = prepared.sessions
  const files: Record<string, string> = { 'models.json': `${JSON.stringify(models, null, 2)}\n` }
  if (prepared.settings && prepared.userDir) files['settings.json'] = `${JSON.stringify(absoluteSettings(prepared.settings, prepared.userDir), null, 2)}\n`
  const within = (dir: string, entries: Record<string, string>) => Object.fromEntries(Object.entries(entries).map(([k, v]) => [`${dir}/${k}`, v]))
  const name = `${AGENT_DIR}-${digest(JSON.stringify([files, links]))}`
  const placed = ctx.sharedDir
    ? { agentDir: join(ctx.sharedDir, name), files: {}, links: {}, shared: { name, files, links } }
    : { agentDir: join(ctx.tmpDir, AGENT_DIR), files: within(AGENT_DIR, files), links: within(AGENT_DIR, links) }
  const env = {
    ...childEnv(ctx.env),
    PI_CODING_AGENT_DIR: placed.agentDir,
    // no version check, telemetry or tool downloads: the session stays on this machine
    PI_OFFLINE: '1',
    PI_SKIP_VERSION_CHECK: '1',
  }
  // options first: pi reads a first word such as `update` or `install` as its own subcommand
  return { command: binary, args: ['--provider', PROVIDER_ID, '--model', ctx.model.id, ...ctx.userArgs], env, files: placed.files, links: placed.links, ...(ctx.sharedDir ? { shared: placed.shared } : {}) }
}

/** pi's sessions dir must be a directory, or absent (then it is created): a dangling symlink cannot be either. */
function checkSessionsDir(path: string): void {
  let link: string
  try {
    if (!lstatSync(path).isSymbolicLink() || existsSync(path)) return
    link = readlinkSync(path)
  } catch {
    return // absent: created on launch
  }
  throw new MrsError(`${path} is a symbolic link to ${link}, which does not exist; create that directory (mkdir -p ${shellQuote(resolve(join(path, '..'), link))}) or remove the link`, ExitCode.StateDir)
}

const DIRECT_COMMANDS = ['install', 'remove', 'uninstall', 'update', 'list', 'config']

export const pi: ClientModule = {
  name: 'pi',
  title: 'pi',
  binary: 'pi',
  install: 'npm install -g @mariozechner/pi-coding-agent',
  npmPackage: '@mariozechner/pi-coding-agent',
  minVersion: '0.73.0',
  versionWhy: 'models.json providers with compat.maxTokensField, PI_OFFLINE',
  api: 'chat',
  configEnv: ['PI_CODING_AGENT_DIR'],
  smallModelSlot: false,
  // `pi --verbose` and `pi -v` (its --version) are pi's
  collisions: ['--verbose', '-v'],
  options: [
    // pi --help (0.73.1)
    '--provider', '--model', '--api-key', '--system-prompt', '--append-system-prompt', '--mode', '--print', '-p', '--continue', '-c', '--resume', '-r',
    '--session', '--fork', '--session-dir', '--no-session', '--models', '--no-tools', '-nt', '--no-builtin-tools', '-nbt', '--tools', '-t', '--thinking',
    '--extension', '-e', '--no-extensions', '-ne', '--skill', '--no-skills', '-ns', '--prompt-template', '--no-prompt-templates', '-np', '--theme',
    '--no-themes', '--no-context-files', '-nc', '--export', '--list-models', '--verbose', '--offline', '--help', '-h', '--version', '-v',
  ],
  needsNoServer: (args) => hasFlag(args, ['-h', '--help', '-v', '--version']) || DIRECT_COMMANDS.includes(args[0] ?? ''),
  // it only reads the user's files, and a sessions dir pi could not use must stop the launch before a model loads
  prepareFirst: true,
  async prepare(ctx: PrepareContext): Promise<PiPrepared> {
    const dir = userAgentDir(ctx.env)
    if (!existsSync(dir)) return { entries: [], sessions: join(ctx.stateDir, 'pi-sessions') }
    checkSessionsDir(join(dir, 'sessions'))
    let entries: string[] = []
    try {
      entries = readdirSync(dir)
    } catch {
      // unreadable: pi would not read it either
    }
    return { userDir: dir, entries, models: readJson(join(dir, 'models.json')), settings: readJson(join(dir, 'settings.json')), sessions: join(dir, 'sessions') }
  },
  launch,
  env: {
    formats: {},
    text(ctx) {
      const provider = JSON.stringify({ providers: { [PROVIDER_ID]: piProvider(ctx) } }, null, 2)
      return `# add this provider to ~/.pi/agent/models.json, then: pi --provider ${PROVIDER_ID} --model ${shellQuote(ctx.model.id)}\n${provider}\n`
    },
  },
  resumeArgs: (args) => (hasFlag(args, ['-p', '--print']) ? undefined : ['--continue']),
  examples: ['', '-p "explain src/cli"', '--continue'],
  // its first request is small, but it compacts when the context exceeds the window minus 16,384 tokens
  minContext: 24_576,
}
