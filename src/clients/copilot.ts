/**
 * GitHub Copilot CLI (`@github/copilot`, checked with 1.0.102): chat
 * completions through its bring-your-own-provider variables, environment
 * only. With `COPILOT_PROVIDER_BASE_URL` set it never asks for a GitHub
 * login; `COPILOT_OFFLINE` keeps its telemetry off the network. Its prompt
 * budget is the window minus the max output (it sends no request at all
 * when its ~10.4k-token fixed prompt does not fit).
 */
import { childEnv, exportLines, hasFlag, type ClientContext, type ClientLaunch, type ClientModule } from './types.js'

function routing(ctx: Pick<ClientContext, 'url' | 'model' | 'contextWindow' | 'maxOutput' | 'apiKeyEnv' | 'env'>): Record<string, string> {
  return {
    COPILOT_PROVIDER_BASE_URL: `${ctx.url}/v1`,
    COPILOT_PROVIDER_TYPE: 'openai',
    COPILOT_PROVIDER_API_KEY: ctx.apiKeyEnv ? (ctx.env[ctx.apiKeyEnv] ?? '') : 'mrs-local',
    COPILOT_MODEL: ctx.model.id,
    COPILOT_OFFLINE: 'true',
    ...(ctx.contextWindow && ctx.maxOutput
      ? { COPILOT_PROVIDER_MAX_PROMPT_TOKENS: String(ctx.contextWindow - ctx.maxOutput), COPILOT_PROVIDER_MAX_OUTPUT_TOKENS: String(ctx.maxOutput) }
      : {}),
  }
}

function launch(binary: string, ctx: ClientContext): ClientLaunch {
  const env: Record<string, string> = { ...childEnv(ctx.env), ...routing(ctx) }
  return { command: binary, args: [...ctx.userArgs], env, files: {}, masked: ctx.apiKeyEnv ? [env.COPILOT_PROVIDER_API_KEY!] : [] }
}

const DIRECT_COMMANDS = ['login', 'help', 'init', 'config', 'update', 'version', 'workflow', 'sessions', 'memories', 'plugin', 'mcp', 'skill', 'instruction', 'lsp', 'sandbox', 'completion']

export const copilot: ClientModule = {
  name: 'copilot',
  title: 'GitHub Copilot CLI',
  binary: 'copilot',
  install: 'npm install -g @github/copilot',
  npmPackage: '@github/copilot',
  minVersion: '1.0.0',
  versionWhy: 'COPILOT_PROVIDER_* (bring your own model, no GitHub login)',
  api: 'chat',
  configEnv: ['COPILOT_HOME'],
  smallModelSlot: false,
  // `copilot --agent` is its agent, `--context` its window tier, `-v` its --version; `--port` and `--host` its hidden server mode
  collisions: ['--agent', '--context', '-v', '--port', '--host'],
  options: [
    // copilot --help (1.0.102), and the hidden options its parser accepts
    '-v', '--version', '-i', '--interactive', '--fleet', '-p', '--prompt', '--trust-folder', '-s', '--silent', '--disable-client-telemetry',
    '--enable-memory', '--model', '--reasoning-effort', '--context', '--auto-tier', '--agent', '-r', '--resume', '--continue', '-n', '--name',
    '--session-id', '--connect', '--allow-all-tools', '--allow-all-paths', '--disallow-temp-dir', '--banner', '--screen-reader', '--plain-diff',
    '-C', '--log-dir', '--extension-sdk-path', '--log-level', '--stream', '--output-format', '--share', '--share-gist', '--add-dir', '--attachment',
    '--disable-mcp-server', '--disable-builtin-mcps', '--enable-all-github-mcp-tools', '--add-github-mcp-toolset', '--add-github-mcp-tool',
    '--plugin-dir', '--additional-mcp-config', '--mcp-github-auth', '--allow-all-mcp-server-instructions', '--allow-tool', '--deny-tool',
    '--available-tools', '--excluded-tools', '--secret-env-vars', '--allow-url', '--deny-url', '--allow-all-urls', '--allow-all', '--yolo',
    '--max-autopilot-continues', '--mode', '--autopilot', '--plan', '--experimental', '--bash-env', '--mouse', '--acp', '--remote',
    '--remote-export', '--environment-host', '--environment-compute-id', '--dynamic-retrieval', '--enable-mcp-server', '--max-ai-credits',
    '--assisted-approval', '--usage-output-file', '--no-custom-instructions', '--no-auto-update', '--no-ask-user', '--no-color', '--no-experimental',
    '--no-bash-env', '--no-mouse', '--no-remote', '--no-remote-export', '--no-eager-powershell-resolution', '-h', '--help',
    '--port', '--host', '--server', '--headless', '--ahp-host', '--config-dir', '--prefer-version', '--no-auto-login', '--no-sandbox', '--show-timing',
    '--ui-server', '--embedded-host', '--managed-server', '--log-interactive-shells',
  ],
  needsNoServer: (args) => hasFlag(args, ['-h', '--help', '-v', '--version']) || DIRECT_COMMANDS.includes(args[0] ?? ''),
  launch,
  env: {
    formats: {},
    text: (ctx) => exportLines(routing(ctx), 'COPILOT_PROVIDER_API_KEY', ctx.apiKeyEnv),
  },
  resumeArgs: (args) => (hasFlag(args, ['-p', '--prompt']) ? undefined : ['--continue']),
  examples: ['', '-p "explain src/cli" -s --allow-all-tools', '--continue'],
  // its first request is ~14k tokens; it sends nothing when the prompt budget is 12,000 or less
  minContext: 16_384,
}
