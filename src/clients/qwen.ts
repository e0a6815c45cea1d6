/**
 * Qwen Code (`@qwen-code/qwen-code`, checked with 0.15.10, the newest release
 * that declares Node 20): Anthropic Messages, configured by environment and a
 * system settings file in the session's temp dir (QWEN_CODE_SYSTEM_SETTINGS_PATH).
 *
 * Not chat completions, which Qwen Code also speaks: it sends every tool
 * result as `{"role":"tool","content":[{"type":"text",…}]}`, and mistral.rs's
 * chat handler takes content parts on user messages only (mistralrs-server-core
 * chat_completion.rs: 500 "Role for an image message must be `user`, but it
 * is tool"), so no tool call could ever complete there. Its Anthropic
 * generator sends tool results as `tool_result` blocks, which mistral.rs's
 * Messages API reads.
 *
 * System settings are merged over the user's ~/.qwen/settings.json, so theirs
 * still apply and ours win where they must: the Anthropic auth (a user's
 * qwen-oauth choice would otherwise stop the run), the model and its
 * window, no usage statistics (sent to its vendor by default), no auto-update
 * (the TUI would `npm install -g` a newer qwen), no extra memory-extraction
 * request at the end of each session. `$version: 4` keeps qwen from
 * "migrating" the file (it would rewrite it and leave a `.orig` beside it).
 */
import { compareVersions } from '../version.js'
import { childEnv, exportLines, hasFlag, type ClientContext, type ClientLaunch, type ClientModule } from './types.js'

export const SETTINGS_FILE = 'qwen-settings.json'
/** The newest release that declares Node 20 (later ones declare Node >= 22). */
export const NEWEST_FOR_NODE_20 = '0.15.10'
/** Local generation is slow: 30 minutes per request (its default is 2 minutes). */
const TIMEOUT_MS = 1_800_000

export function qwenSettings(ctx: Pick<ClientContext, 'model' | 'contextWindow' | 'maxOutput'>): Record<string, unknown> {
  return {
    $version: 4,
    security: { auth: { selectedType: 'anthropic' } },
    model: {
      name: ctx.model.id,
      generationConfig: {
        timeout: TIMEOUT_MS,
        ...(ctx.contextWindow ? { contextWindowSize: ctx.contextWindow } : {}),
        ...(ctx.maxOutput ? { samplingParams: { max_tokens: ctx.maxOutput } } : {}),
      },
    },
    privacy: { usageStatisticsEnabled: false },
    general: { enableAutoUpdate: false },
    memory: { enableManagedAutoMemory: false },
  }
}

function routing(ctx: Pick<ClientContext, 'url' | 'model' | 'apiKeyEnv' | 'env'>): Record<string, string> {
  // with --api-key-env the key comes from the user's variable, in the environment only: sent as x-api-key and, for an
  // authenticating proxy, as a bearer token (Anthropic's SDK reads ANTHROPIC_AUTH_TOKEN itself)
  const key = ctx.apiKeyEnv ? (ctx.env[ctx.apiKeyEnv] ?? '') : 'mrs-local'
  return {
    // the SDK adds /v1/messages itself
    ANTHROPIC_BASE_URL: ctx.url,
    ANTHROPIC_API_KEY: key,
    ...(ctx.apiKeyEnv ? { ANTHROPIC_AUTH_TOKEN: key } : {}),
    ANTHROPIC_MODEL: ctx.model.id,
    QWEN_CODE_DISABLE_PRECONNECT: '1',
  }
}

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  // a token the user exported for Anthropic is never sent to this server (the SDK would read it by itself)
  const env: Record<string, string> = { ...childEnv(ctx.env, ['ANTHROPIC_AUTH_TOKEN']), ...routing(ctx), QWEN_CODE_SYSTEM_SETTINGS_PATH: `${ctx.tmpDir}/${SETTINGS_FILE}` }
  return {
    command: binary,
    args: [...ctx.userArgs],
    env,
    files: { [SETTINGS_FILE]: `${JSON.stringify(qwenSettings(ctx), null, 2)}\n` },
    masked: ctx.apiKeyEnv ? [env.ANTHROPIC_API_KEY!] : [],
  }
}

const DIRECT_COMMANDS = ['mcp', 'extensions', 'auth', 'hooks', 'hook', 'channel']

export const qwen: ClientModule = {
  name: 'qwen',
  title: 'Qwen Code',
  binary: 'qwen',
  install: `npm install -g @qwen-code/qwen-code@${NEWEST_FOR_NODE_20}`,
  npmPackage: '@qwen-code/qwen-code',
  minVersion: NEWEST_FOR_NODE_20,
  versionWhy: 'QWEN_CODE_SYSTEM_SETTINGS_PATH with contextWindowSize',
  compatibility(installed, node) {
    const major = Number(/^v?(\d+)/.exec(node)?.[1] ?? 0)
    if (major >= 22) return undefined
    const note = `on Node ${node}, Qwen Code ${NEWEST_FOR_NODE_20} is the newest that supports it (0.21 and later declare Node >= 22)`
    return installed && compareVersions(installed, '0.21.0') >= 0 ? `${installed} declares Node >= 22; ${note}: npm install -g @qwen-code/qwen-code@${NEWEST_FOR_NODE_20}` : note
  },
  api: 'anthropic',
  configEnv: ['QWEN_HOME'],
  smallModelSlot: false,
  // `qwen -v` is its --version
  collisions: ['-v'],
  options: [
    // qwen --help (0.15.10)
    '--telemetry', '--telemetry-target', '--telemetry-otlp-endpoint', '--telemetry-otlp-protocol', '--telemetry-log-prompts', '--telemetry-outfile',
    '-d', '--debug', '--bare', '--proxy', '--chat-recording', '-m', '--model', '-p', '--prompt', '-i', '--prompt-interactive', '--system-prompt',
    '--append-system-prompt', '-s', '--sandbox', '--sandbox-image', '-y', '--yolo', '--approval-mode', '--checkpointing', '--acp', '--experimental-lsp',
    '--channel', '--allowed-mcp-server-names', '--mcp-config', '--allowed-tools', '-e', '--extensions', '-l', '--list-extensions',
    '--include-directories', '--add-dir', '--openai-logging', '--openai-logging-dir', '--openai-api-key', '--openai-base-url', '--screen-reader',
    '--input-format', '-o', '--output-format', '--include-partial-messages', '--json-fd', '--json-file', '--json-schema', '--input-file', '-c',
    '--continue', '-r', '--resume', '--session-id', '--max-session-turns', '--core-tools', '--exclude-tools', '--disabled-slash-commands',
    '--auth-type', '-v', '--version', '-h', '--help',
  ],
  needsNoServer: (args) => hasFlag(args, ['-h', '--help', '-v', '--version']) || DIRECT_COMMANDS.includes(args[0] ?? ''),
  launch,
  env: {
    formats: { json: 'the system settings file (point QWEN_CODE_SYSTEM_SETTINGS_PATH at it)' },
    text(ctx, format) {
      if (format === 'json') return `${JSON.stringify(qwenSettings(ctx), null, 2)}\n`
      return exportLines(routing(ctx), ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'], ctx.apiKeyEnv)
    },
  },
  // a prompt of its own (a word or -p) runs one-shot; only the bare TUI is a session to come back to
  resumeArgs: (args) => (args.length === 0 ? ['--', '--continue'] : undefined),
  examples: ['', '"explain src/cli"', '-- --continue'],
  // its first request is ~18k tokens of prompt and tool definitions (0.15.10, headless; test/helpers/tokens.ts)
  minContext: 24_576,
}
