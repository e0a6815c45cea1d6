// The bad-input table: each row is run by bad-input.test.ts and listed in
// docs/reliability.md (a unit test keeps the two in step).
import { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FAKE_CLIENTS, type Sandbox, type SandboxOptions } from '../helpers/sandbox.js'

export interface Case {
  name: string
  args: string[] | ((sb: Sandbox, port: number) => string[])
  code: number
  message: RegExp
  config?: string | Buffer
  options?: SandboxOptions
  env?: Record<string, string>
  /** mistral.rs itself is started and fails (its own message is shown with its log tail). */
  serverRuns?: boolean
  /** Prepares the sandbox (a program installed in some state). */
  setup?: (sb: Sandbox) => void
}

/** Puts an npm-installed `claude` of `version` first on the sandbox PATH (the fake client, with its package.json). */
function installClaude(sb: Sandbox, version: string): void {
  const pkg = join(sb.root, 'npm', 'node_modules', '@anthropic-ai', 'claude-code')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@anthropic-ai/claude-code', version }))
  copyFileSync(join(FAKE_CLIENTS, 'client'), join(pkg, 'cli.js'))
  rmSync(join(sb.root, 'bin', 'claude'), { force: true })
  symlinkSync(join(pkg, 'cli.js'), join(sb.root, 'bin', 'claude'))
}

export const BAD_INPUT: Case[] = [
  { name: 'unknown option for mrs itself', args: ['serve', '-m', 'M', '--prot', '8080'], code: 64, message: /^mrs: error: unknown option --prot \(did you mean --port\?\); run mrs serve --help$/ },
  { name: 'a typo of an mrs option given to a client', args: ['claude', '-m', 'M', '--dryrun', '-p', 'hi'], code: 64, message: /^mrs: error: unknown option --dryrun \(did you mean --dry-run\?\); to pass --dryrun to claude, put it after --$/ },
  { name: 'unknown command', args: ['srve'], code: 64, message: /unknown command "srve" \(did you mean "mrs serve"\?\)/ },
  { name: 'unknown command in capitals', args: ['CLAUDE'], code: 64, message: /unknown command "CLAUDE" \(did you mean "mrs claude"\?\)/ },
  { name: 'missing -m with no default', args: ['claude'], code: 64, message: /no model: pass -m MODEL, set MRS_MODEL, or put model = "\.\.\." in \S+config\.toml \(no models are downloaded yet; see mrs models\)/ },
  { name: 'an empty model id', args: ['claude', '-m', ''], code: 64, message: /invalid -m "": must be a model id such as Qwen\/Qwen3-Coder-Next/ },
  { name: 'a model id that looks like an option', args: ['codex', '-m', '--help'], code: 64, message: /invalid -m "--help": a model id cannot start with "-"/ },
  { name: 'malformed TOML', args: ['serve'], config: 'model = "Qwen/Q"\nport = 80 80\n', code: 65, message: /config\.toml:2:11: invalid TOML: / },
  { name: 'a string left open in the config file', args: ['serve'], config: 'model = "Qwen/Q\ntimeout = "1m"\n', code: 65, message: /config\.toml:1:9: invalid TOML: this string is not closed; end it with " on the same line$/ },
  { name: 'invalid UTF-8 in the config file', args: ['serve'], config: Buffer.from([...Buffer.from('model = "Qwen/'), 0xc3, 0x28, ...Buffer.from('"\n')]), code: 65, message: /config\.toml:1:15: invalid UTF-8 \(byte 0xc3\); save the file as UTF-8/ },
  { name: 'unknown config key', args: ['serve'], config: 'modle = "Qwen/Q"\n', code: 65, message: /unknown key "modle" \(did you mean "model"\?\)/ },
  { name: 'wrong type in config', args: ['serve'], config: 'model = "Qwen/Q"\nport = "high"\n', code: 65, message: /"port" must be a port number from 1 to 65535, got "high"/ },
  { name: 'server_args as one string in config', args: ['serve'], config: 'model = "Qwen/Q"\nserver_args = "--isq 4"\n', code: 65, message: /"server_args" must be a list of strings, e\.g\. server_args = \["--isq", "4"\], got "--isq 4"/ },
  { name: 'unknown preset', args: ['claude', '--preset', 'qwn'], config: '[presets.qwen]\nmodel = "Qwen/Q"\n', code: 65, message: /unknown preset "qwn" \(did you mean "qwen"\?\)/ },
  { name: 'a preset named like an object\'s method', args: ['claude', '--preset', 'toString'], config: '[presets.qwen]\nmodel = "Qwen/Q"\n', code: 65, message: /unknown preset "toString"/ },
  { name: 'MRS_PRESET=constructor', args: ['codex'], env: { MRS_PRESET: 'constructor' }, config: '[presets.qwen]\nmodel = "Qwen/Q"\n', code: 65, message: /unknown preset "constructor"/ },
  { name: 'invalid --port 0', args: ['serve', '-m', 'M', '--port', '0'], code: 64, message: /invalid --port "0": must be a port number from 1 to 65535/ },
  { name: 'invalid --port 70000', args: ['serve', '-m', 'M', '--port', '70000'], code: 64, message: /invalid --port "70000"/ },
  { name: 'invalid --port abc', args: ['serve', '-m', 'M', '--port', 'abc'], code: 64, message: /invalid --port "abc"/ },
  { name: 'invalid -p 0 for mrs serve', args: ['serve', '-m', 'M', '-p', '0'], code: 64, message: /invalid -p "0": must be a port number from 1 to 65535/ },
  { name: 'invalid MRS_PORT', args: ['serve', '-m', 'M'], env: { MRS_PORT: 'abc' }, code: 64, message: /invalid MRS_PORT="abc"/ },
  { name: 'a duration past what a timer holds', args: ['serve', '-m', 'M', '--keep-alive', '600h'], code: 64, message: /invalid --keep-alive "600h": must be at most 596h/ },
  { name: 'MRS_TIMEOUT=1000h', args: ['serve', '-m', 'M'], env: { MRS_TIMEOUT: '1000h' }, code: 64, message: /invalid MRS_TIMEOUT="1000h": must be at most 596h/ },
  { name: 'explicit port already taken', args: (_, port) => ['serve', '-m', 'M', '--port', String(port)], code: 66, message: /port \d+ is already in use; pick another --port or leave it out for a free one/ },
  { name: 'a host that does not resolve', args: ['serve', '-m', 'M', '--host', 'not_a_host'], code: 64, message: /invalid --host not_a_host: no such host/ },
  { name: 'a host that is not this machine\'s', args: ['serve', '-m', 'M', '--host', '10.99.99.99'], code: 64, message: /--host 10\.99\.99\.99 is not an address of this machine/ },
  { name: 'MRS_HOST that is not this machine\'s', args: ['serve', '-m', 'M'], env: { MRS_HOST: '10.99.99.99' }, code: 64, message: /MRS_HOST=10\.99\.99\.99 is not an address of this machine/ },
  { name: '-q with --server-log', args: ['claude', '-m', 'M', '-q', '--server-log'], code: 64, message: /-q \(no status output\) and --server-log \(stream the server's log\) contradict each other/ },
  { name: 'invalid --url', args: ['claude', '--url', 'gpu-box'], code: 64, message: /invalid --url "gpu-box": must be a URL/ },
  // nothing listens on port 1
  { name: 'unreachable --url', args: ['claude', '--url', 'http://127.0.0.1:1'], code: 69, message: /cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\); is the server running, and is --url right\?/ },
  { name: '--timeout garbage', args: ['serve', '-m', 'M', '--timeout', 'soonish'], code: 64, message: /invalid --timeout "soonish": must be a duration such as 90s, 10m or 1h/ },
  { name: 'mistralrs not installed', args: ['serve', '-m', 'M'], options: { mistralrs: false }, code: 127, message: /mistralrs not found on PATH; install it: curl/ },
  { name: 'claude not installed', args: ['claude', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /claude not found on PATH; install it: npm install -g @anthropic-ai\/claude-code/ },
  { name: 'claude too old', args: ['claude', '-m', 'M'], setup: (sb) => installClaude(sb, '1.0.128'), code: 127, message: /^mrs: error: claude 1\.0\.128 is older than mrs supports \(needs ≥ \d+\.\d+\.\d+: .*\); update it: npm install -g @anthropic-ai\/claude-code$/ },
  { name: 'codex not installed', args: ['codex', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /codex not found on PATH; install it: npm install -g @openai\/codex/ },
  { name: 'opencode not installed', args: ['opencode', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /opencode not found on PATH; install it: npm install -g opencode-ai/ },
  { name: 'copilot not installed', args: ['copilot', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /copilot not found on PATH; install it: npm install -g @github\/copilot/ },
  { name: 'pi not installed', args: ['pi', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /pi not found on PATH; install it: npm install -g @mariozechner\/pi-coding-agent/ },
  { name: 'qwen not installed', args: ['qwen', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /qwen not found on PATH; install it: npm install -g @qwen-code\/qwen-code@0\.15\.10/ },
  { name: '--small-model for a client without a slot for it', args: ['codex', '-m', 'M', '--small-model', 'S'], code: 64, message: /--small-model: the Codex CLI has no slot for a second model; leave it out/ },
  { name: 'codex exec outside a git repository', args: ['codex', '-m', 'M', '--', 'exec', 'fix it'], code: 64, message: /codex exec refuses to run outside a git repository \(\S+ is not in one\): add --skip-git-repo-check after exec, or run it inside a git repository/ },
  { name: 'a model Hugging Face refuses (wrong model id)', args: ['claude', '-m', 'org/does-not-exist'], code: 68, serverRuns: true, message: /Hugging Face refused org\/does-not-exist \(HTTP 401\): there is no such model, or it is private or gated/ },
  { name: 'mistralrs exits with an error (an argument it refuses)', args: ['claude', '-m', 'M', '--server-arg=--prefix-cache-n', '--server-arg=lots'], code: 67, serverRuns: true, message: /exited with code 2 before it was ready: .*invalid value 'lots' for '--prefix-cache-n <PREFIX_CACHE_N>'/ },
  { name: 'server never ready within --timeout', args: ['serve', '-m', 'M', '--timeout', '500ms'], env: { FAKE_MISTRALRS_FAULT: 'never-ready' }, code: 124, serverRuns: true, message: /not ready within 500ms \(--timeout\)/ },
  { name: '--host 0.0.0.0 with --code-execution', args: ['serve', '-m', 'M', '--host', '0.0.0.0', '--code-execution'], code: 64, message: /--host 0\.0\.0\.0 with --code-execution would let anyone who can reach this machine run code on it; add --allow-remote-tools/ },
  { name: '--on with --code-execution (every user of the host reaches its loopback)', args: ['claude', '--on', 'gpu-box', '-m', 'M', '--code-execution'], code: 64, message: /^mrs: error: --code-execution on gpu-box would run code as you there for any request that reaches the server, and every user of gpu-box can reach its loopback port \(mistral\.rs has no authentication\); add --allow-remote-tools if you mean it$/m },
  { name: '--slurm with --shell in the config', args: ['codex', '--slurm', '-m', 'M'], config: 'shell = true\n', code: 64, message: /^mrs: error: shell = true in \S+ on the Slurm job's node would run code as you there for any request .*every user of the Slurm job's node can reach its loopback port .*add --allow-remote-tools if you mean it$/m },
  { name: '--host 0.0.0.0 with --shell-tool', args: ['serve', '-m', 'M', '--host', '0.0.0.0', '--shell-tool'], code: 64, message: /with --shell-tool would let anyone/ },
  { name: '--server-host 0.0.0.0 with --shell', args: ['serve', '-m', 'M', '--server-host', '0.0.0.0', '--shell'], code: 64, message: /^mrs: error: --server-host 0\.0\.0\.0 with --shell would let anyone/ },
  { name: 'MRS_HOST=0.0.0.0 with shell = true in the config', args: ['serve', '-m', 'M'], env: { MRS_HOST: '0.0.0.0' }, config: 'shell = true\n', code: 64, message: /^mrs: error: MRS_HOST=0\.0\.0\.0 with shell = true in \S+config\.toml would let anyone/ },
  { name: '--host 0.0.0.0 with --agent-tools', args: ['claude', '-m', 'M', '--host', '0.0.0.0', '--agent-tools'], code: 64, message: /with --agent-tools would let anyone/ },
  { name: '--host 0.0.0.0 with code execution through --server-arg', args: ['serve', '-m', 'M', '--host', '0.0.0.0', '--server-arg=--enable-code-execution'], code: 64, message: /with --enable-code-execution would let anyone/ },
  { name: 'host 0.0.0.0 with server_args --agent in the config', args: ['serve', '-m', 'M'], config: 'host = "0.0.0.0"\nserver_args = ["--agent"]\n', code: 64, message: /host = "0\.0\.0\.0" in \S+config\.toml with --agent in server_args in \S+config\.toml would let anyone/ },
  { name: '--api-key-env without --url', args: ['claude', '-m', 'M', '--api-key-env', 'HOME'], code: 64, message: /--api-key-env is for a server behind an authenticating proxy: use it with --url/ },
  { name: '--api-key-env naming an unset variable', args: ['claude', '--url', 'http://gpu:1', '--api-key-env', 'NOT_SET_KEY'], code: 64, message: /--api-key-env NOT_SET_KEY: that variable is not set; export it first/ },
  { name: 'a preset\'s api_key_env naming an unset variable', args: ['claude', '--preset', 'gpu'], config: '[presets.gpu]\nurl = "http://gpu:1"\napi_key_env = "NOT_SET_KEY"\n', code: 64, message: /^mrs: error: api_key_env = "NOT_SET_KEY" in \[presets\.gpu\]: that variable is not set; export it first$/ },
  { name: 'unreadable user --settings for claude', args: ['claude', '-m', 'M', '--settings', '/nope/settings.json'], code: 64, message: /cannot read --settings \/nope\/settings\.json \(ENOENT\)/ },
]
