// The bad-input table: each row is run by bad-input.test.ts and listed in
// docs/reliability.md (a unit test keeps the two in step).
import type { Sandbox, SandboxOptions } from '../helpers/sandbox.js'

export interface Case {
  name: string
  args: string[] | ((sb: Sandbox, port: number) => string[])
  code: number
  message: RegExp
  config?: string
  options?: SandboxOptions
  env?: Record<string, string>
  /** mistral.rs itself is started and fails (its own message is shown with its log tail). */
  serverRuns?: boolean
}

export const BAD_INPUT: Case[] = [
  { name: 'unknown option for mrs itself', args: ['serve', '-m', 'M', '--prot', '8080'], code: 64, message: /^mrs: error: unknown option --prot \(did you mean --port\?\); run mrs --help$/ },
  { name: 'unknown command', args: ['srve'], code: 64, message: /unknown command "srve" \(did you mean "mrs serve"\?\)/ },
  { name: 'missing -m with no default', args: ['claude'], code: 64, message: /no model: pass -m MODEL \(e\.g\. mrs claude -m Qwen\/Qwen3-Coder-Next\) or set model in the config file/ },
  { name: 'malformed TOML', args: ['serve'], config: 'model = "Qwen/Q"\nport = 80 80\n', code: 65, message: /config\.toml:2:11: invalid TOML: / },
  { name: 'unknown config key', args: ['serve'], config: 'modle = "Qwen/Q"\n', code: 65, message: /unknown key "modle" \(did you mean "model"\?\)/ },
  { name: 'wrong type in config', args: ['serve'], config: 'model = "Qwen/Q"\nport = "high"\n', code: 65, message: /"port" must be a port number from 1 to 65535, got "high"/ },
  { name: 'unknown preset', args: ['claude', '--preset', 'qwn'], config: '[presets.qwen]\nmodel = "Qwen/Q"\n', code: 65, message: /unknown preset "qwn" \(did you mean "qwen"\?\)/ },
  { name: 'invalid --port 0', args: ['serve', '-m', 'M', '--port', '0'], code: 64, message: /invalid --port "0": must be a port number from 1 to 65535/ },
  { name: 'invalid --port 70000', args: ['serve', '-m', 'M', '--port', '70000'], code: 64, message: /invalid --port "70000"/ },
  { name: 'invalid --port abc', args: ['serve', '-m', 'M', '--port', 'abc'], code: 64, message: /invalid --port "abc"/ },
  { name: 'invalid MRS_PORT', args: ['serve', '-m', 'M'], env: { MRS_PORT: 'abc' }, code: 64, message: /invalid MRS_PORT="abc"/ },
  { name: 'explicit port already taken', args: (_, port) => ['serve', '-m', 'M', '--port', String(port)], code: 66, message: /port \d+ is already in use; pick another with --port/ },
  { name: 'invalid --url', args: ['claude', '--url', 'gpu-box'], code: 64, message: /invalid --url "gpu-box": must be a URL/ },
  // nothing listens on port 1
  { name: 'unreachable --url', args: ['claude', '--url', 'http://127.0.0.1:1'], code: 69, message: /cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\); is the server running, and is --url right\?/ },
  { name: '--timeout garbage', args: ['serve', '-m', 'M', '--timeout', 'soonish'], code: 64, message: /invalid --timeout "soonish": must be a duration such as 90s, 10m or 1h/ },
  { name: 'mistralrs not installed', args: ['serve', '-m', 'M'], options: { mistralrs: false }, code: 127, message: /mistralrs not found on PATH; install mistral\.rs/ },
  { name: 'claude not installed', args: ['claude', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /claude not found on PATH; install Claude Code/ },
  { name: 'codex not installed', args: ['codex', '-m', 'M'], options: { clients: 'none' }, code: 127, message: /codex not found on PATH; install the Codex CLI/ },
  { name: 'mistralrs exits with an error (wrong model id)', args: ['claude', '-m', 'org/does-not-exist'], code: 67, serverRuns: true, message: /exited with code 1 before it was ready: Could not access `org\/does-not-exist`/ },
  { name: 'server never ready within --timeout', args: ['serve', '-m', 'M', '--timeout', '500ms'], env: { FAKE_MISTRALRS_FAULT: 'never-ready' }, code: 124, serverRuns: true, message: /not ready within 500ms \(--timeout\)/ },
  { name: '--host 0.0.0.0 with --code-execution', args: ['serve', '-m', 'M', '--host', '0.0.0.0', '--code-execution'], code: 64, message: /--host 0\.0\.0\.0 with --code-execution would let anyone who can reach this machine run code on it; add --allow-remote-tools/ },
  { name: '--host 0.0.0.0 with --shell', args: ['serve', '-m', 'M', '--host', '0.0.0.0', '--shell'], code: 64, message: /with --shell would let anyone/ },
  { name: '--host 0.0.0.0 with --agent', args: ['claude', '-m', 'M', '--host', '0.0.0.0', '--agent'], code: 64, message: /with --agent would let anyone/ },
  { name: '--api-key-env without --url', args: ['claude', '-m', 'M', '--api-key-env', 'HOME'], code: 64, message: /--api-key-env is for a server behind an authenticating proxy: use it with --url/ },
  { name: '--api-key-env naming an unset variable', args: ['claude', '--url', 'http://gpu:1', '--api-key-env', 'NOT_SET_KEY'], code: 64, message: /--api-key-env NOT_SET_KEY: that variable is not set; export it first/ },
  { name: 'unreadable user --settings for claude', args: ['claude', '-m', 'M', '--settings', '/nope/settings.json'], code: 64, message: /cannot read --settings \/nope\/settings\.json \(ENOENT\)/ },
]

