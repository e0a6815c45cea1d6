/**
 * opencode (`opencode-ai`, checked with 1.18.33): chat completions through its
 * bundled `@ai-sdk/openai-compatible` provider. The whole config goes in
 * `OPENCODE_CONFIG_CONTENT`, which opencode deep-merges over the user's own
 * opencode.json (their agents, MCP servers, instructions still apply) with
 * the highest priority: nothing is written. `small_model` is set too, or
 * opencode would send title generation to a hosted model; `limit.output` is
 * what it sends as max_tokens (32000 without it), and `limit.context` is
 * where it compacts. Models catalog fetches, auto-update and LSP downloads
 * are switched off, so the session stays on this machine.
 */
import { shellQuote } from '../text.js'
import { childEnv, hasFlag, type ClientContext, type ClientLaunch, type ClientModule } from './types.js'

export const PROVIDER_ID = 'mrs'

const NO_NETWORK = { OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_LSP_DOWNLOAD: '1' }

export function opencodeConfig(ctx: Pick<ClientContext, 'url' | 'model' | 'smallModel' | 'contextWindow' | 'maxOutput' | 'apiKeyEnv'>): Record<string, unknown> {
  const limit = ctx.contextWindow ? { limit: { context: ctx.contextWindow, output: ctx.maxOutput ?? 4096 } } : {}
  const models: Record<string, unknown> = {}
  for (const m of [ctx.model, ...(ctx.smallModel ? [ctx.smallModel] : [])]) models[m.id] = { name: m.name, tool_call: true, ...limit }
  return {
    provider: {
      [PROVIDER_ID]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'mistral.rs (mrs)',
        // opencode substitutes {env:VAR}: the key's name is in the config, its value only in the environment
        options: { baseURL: `${ctx.url}/v1`, apiKey: ctx.apiKeyEnv ? `{env:${ctx.apiKeyEnv}}` : 'mrs-local' },
        models,
      },
    },
    model: `${PROVIDER_ID}/${ctx.model.id}`,
    small_model: `${PROVIDER_ID}/${(ctx.smallModel ?? ctx.model).id}`,
    autoupdate: false,
    share: 'disabled',
  }
}

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  return {
    command: binary,
    args: [...ctx.userArgs],
    env: { ...childEnv(ctx.env), ...NO_NETWORK, OPENCODE_CONFIG_CONTENT: JSON.stringify(opencodeConfig(ctx)) },
    files: {},
  }
}

/** Subcommands that manage opencode itself, or attach to an opencode server that runs already: no model is needed. */
const DIRECT_COMMANDS = ['completion', 'mcp', 'attach', 'debug', 'providers', 'auth', 'agent', 'upgrade', 'uninstall', 'models', 'stats', 'export', 'import', 'github', 'session', 'plugin', 'plug', 'db']

export const opencode: ClientModule = {
  name: 'opencode',
  title: 'opencode',
  binary: 'opencode',
  install: 'npm install -g opencode-ai',
  npmPackage: 'opencode-ai',
  minVersion: '1.18.0',
  versionWhy: 'OPENCODE_CONFIG_CONTENT merged over the user\'s config, small_model, limit.output',
  api: 'chat',
  configEnv: ['OPENCODE_CONFIG', 'OPENCODE_CONFIG_DIR'],
  smallModelSlot: true,
  // `opencode --port` is its own server's port, `--agent` its agent, `-v` its --version (`--verbose` belongs to `opencode models`)
  collisions: ['--port', '--agent', '-v', '--verbose'],
  options: [
    // opencode --help, opencode run --help, opencode models --help (1.18.33)
    '-h', '--help', '-v', '--version', '--print-logs', '--log-level', '--pure', '--port', '--hostname', '--mdns', '--mdns-domain', '--cors', '-m',
    '--model', '-c', '--continue', '-s', '--session', '--fork', '--prompt', '--agent', '--auto', '--mini', '--no-replay', '--replay-limit',
    '--command', '--share', '--format', '-f', '--file', '--title', '--attach', '-p', '--password', '-u', '--username', '--dir', '--variant',
    '--thinking', '-i', '--interactive', '--yolo', '--dangerously-skip-permissions', '--demo', '--verbose', '--refresh',
  ],
  needsNoServer: (args) => hasFlag(args, ['-h', '--help', '-v', '--version']) || DIRECT_COMMANDS.includes(args[0] ?? ''),
  launch,
  env: {
    formats: {},
    text(ctx) {
      const lines = [...Object.entries(NO_NETWORK).map(([k, v]) => `export ${k}=${v}`), `export OPENCODE_CONFIG_CONTENT=${shellQuote(JSON.stringify(opencodeConfig(ctx)))}`]
      return `${lines.join('\n')}\n`
    },
  },
  resumeArgs: (args) => (args[0] === 'run' ? undefined : ['--continue']),
  examples: ['', 'run "explain src/cli"', '--continue'],
  // its first request is ~9k tokens, and it compacts when the window minus the max output fills up
  minContext: 16_384,
}
