// Protects plan building: the exact mistralrs command line, and every
// refusal that must happen before anything is started.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildPlan, type LocalServerPlan } from '../../src/plan.js'
import { DEFAULTS, type Settings } from '../../src/config/schema.js'
import { multiModelConfig, serverArgv, shareKey, type ServerSpec } from '../../src/server/spec.js'
import { ExitCode, MrsError } from '../../src/errors.js'
import { describePlan } from '../../src/cli/commands.js'
import { tempDir } from '../helpers/tmp.js'

/** A PATH with fake executables of the given names. */
function pathWith(...names: string[]): string {
  const dir = tempDir('mrs-path-')
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\n')
    chmodSync(join(dir, n), 0o755)
  }
  return dir
}
const allPath = pathWith('mistralrs', 'claude', 'codex')
const settings = (over: Partial<Settings> = {}): Settings => ({ ...DEFAULTS, model: 'Qwen/Q', ...over })
const plan = (command: 'serve' | 'claude' | 'codex', over: Partial<Settings> = {}, PATH = allPath, passthrough: string[] = []) =>
  buildPlan({ command, settings: settings(over), passthrough, env: { PATH } })
const failure = (fn: () => unknown) => {
  try {
    fn()
  } catch (e) {
    return e as MrsError
  }
  throw new Error('no error')
}

const spec: ServerSpec = { binary: '/bin/mistralrs', models: ['Qwen/Q'], host: '127.0.0.1', tools: { webSearch: false, codeExecution: false, shell: false, agent: false }, serverArgs: [] }

describe('the mistralrs command line', () => {
  it('serves one model on loopback', () => {
    expect(serverArgv(spec, 4321, '/x/models.toml')).toEqual(['serve', '-p', '4321', '--host', '127.0.0.1', '-m', 'Qwen/Q'])
  })
  it('maps each agent tool to its flag, and extra args last', () => {
    const s = { ...spec, tools: { webSearch: true, codeExecution: true, shell: true, agent: false }, serverArgs: ['--isq', '4'] }
    expect(serverArgv(s, 1, '').slice(7)).toEqual(['--enable-search', '--enable-code-execution', '--enable-shell', '--isq', '4'])
    expect(serverArgv({ ...spec, tools: { ...spec.tools, agent: true } }, 1, '').slice(7)).toEqual(['--agent'])
  })
  it('serves two models with from-config and a generated TOML', () => {
    const two = { ...spec, models: ['Qwen/Big', 'Qwen/Small'], tools: { ...spec.tools, webSearch: true } }
    expect(serverArgv(two, 4321, '/x/models.toml')).toEqual(['from-config', '-f', '/x/models.toml'])
    expect(multiModelConfig(two, 4321)).toEqual({
      command: 'serve',
      default_model_id: 'Qwen/Big',
      server: { host: '127.0.0.1', port: 4321 },
      runtime: { enable_search: true },
      models: [{ model_id: 'Qwen/Big' }, { model_id: 'Qwen/Small' }],
    })
  })
  it('shares a server only for the same binary, models, host, tools and args', () => {
    expect(shareKey(spec)).toBe(shareKey({ ...spec }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, models: ['Qwen/Other'] }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, tools: { ...spec.tools, webSearch: true } }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, serverArgs: ['--isq', '4'] }))
  })
})

describe('buildPlan', () => {
  it('sends `default` for one model, the ids for two', () => {
    expect((plan('claude').server as LocalServerPlan).ids).toEqual({ main: 'default' })
    expect((plan('claude', { smallModel: 'Qwen/S' }).server as LocalServerPlan).ids).toEqual({ main: 'Qwen/Q', small: 'Qwen/S' })
  })
  it('needs a model', () => {
    const e = failure(() => plan('claude', { model: undefined }))
    expect(e.exitCode).toBe(ExitCode.Usage)
    expect(e.message).toMatch(/no model: pass -m MODEL/)
  })
  it('reports a missing client with how to install it, exit 127, before looking at the server', () => {
    const e = failure(() => plan('claude', {}, pathWith('mistralrs')))
    expect(e.exitCode).toBe(ExitCode.NotFound)
    expect(e.message).toBe('claude not found on PATH; install Claude Code: npm install -g @anthropic-ai/claude-code')
    expect(failure(() => plan('codex', {}, pathWith('mistralrs'))).message).toMatch(/npm install -g @openai\/codex/)
  })
  it('reports a missing mistralrs with how to install it, exit 127', () => {
    const e = failure(() => plan('serve', {}, pathWith()))
    expect(e.exitCode).toBe(ExitCode.NotFound)
    expect(e.message).toMatch(/^mistralrs not found on PATH; install mistral\.rs: curl/)
    expect(failure(() => plan('serve', { mistralrs: '/nope/mistralrs' }, pathWith())).message).toMatch(/mistralrs not found at \/nope\/mistralrs/)
  })
  it('finds mistralrs from --mistralrs', () => {
    const dir = pathWith('my-mistralrs')
    expect((plan('serve', { mistralrs: join(dir, 'my-mistralrs') }, pathWith()).server as LocalServerPlan).spec.binary).toBe(join(dir, 'my-mistralrs'))
  })
  it('warns when binding beyond loopback', () => {
    expect(plan('serve', { host: '0.0.0.0' }).warnings[0]).toMatch(/no authentication/)
    expect(plan('serve').warnings).toEqual([])
  })
  it.each(['codeExecution', 'shell', 'agent'] as const)('refuses a public host with %s unless --allow-remote-tools', (tool) => {
    const e = failure(() => plan('serve', { host: '0.0.0.0', [tool]: true }))
    expect(e.exitCode).toBe(ExitCode.Usage)
    expect(e.message).toMatch(/run code on it; add --allow-remote-tools/)
    expect(plan('serve', { host: '0.0.0.0', [tool]: true, allowRemoteTools: true }).warnings[0]).toMatch(/run code on this machine/)
  })
  it('uses a remote server with --url and starts nothing', () => {
    const p = plan('claude', { url: 'http://gpu:1234', model: undefined })
    expect(p.server).toEqual({ kind: 'remote', url: 'http://gpu:1234', model: undefined, apiKeyEnv: undefined, webSearch: false })
    expect(plan('codex', { url: 'http://gpu:1234', webSearch: true }).server).toMatchObject({ kind: 'remote', webSearch: true })
  })
  it('insists the --api-key-env variable is set', () => {
    expect(failure(() => plan('claude', { url: 'http://gpu:1', apiKeyEnv: 'NOPE_KEY' })).message).toMatch(/NOPE_KEY: that variable is not set/)
  })
  it('rejects serve-only flags that from-config cannot take', () => {
    expect(failure(() => plan('claude', { smallModel: 'S', serverArgs: ['--isq', '4'] })).message).toMatch(/--server-arg --isq cannot be combined with --small-model/)
    expect(() => plan('claude', { smallModel: 'S', serverArgs: ['--seed', '1'] })).not.toThrow()
  })
})

describe('--dry-run', () => {
  it('prints the server command, URLs, client command and environment changes', async () => {
    const p = buildPlan({ command: 'claude', settings: settings({ port: 4321 }), passthrough: ['-p', 'hi'], env: { PATH: allPath } })
    const text = await describePlan(p)
    expect(text).toContain(`server:   ${join(allPath, 'mistralrs')} serve -p 4321 --host 127.0.0.1 -m Qwen/Q`)
    expect(text).toContain('urls:     OpenAI/Responses http://127.0.0.1:4321/v1 · Anthropic http://127.0.0.1:4321')
    expect(text).toMatch(/client: {3}\S+\/claude --settings '\{.*\}' -p hi/)
    expect(text).toContain('env:      ANTHROPIC_BASE_URL=http://127.0.0.1:4321')
  })
  it('shows the generated TOML for two models', async () => {
    const p = buildPlan({ command: 'claude', settings: settings({ smallModel: 'Qwen/S' }), passthrough: [], env: { PATH: allPath } })
    expect(await describePlan(p)).toMatch(/from-config -f '<server temp dir>\/models.toml'[\s\S]*model_id = "Qwen\/S"/)
  })
})


describe('--dry-run and secrets', () => {
  it('names the key variable instead of printing the key', async () => {
    const p = buildPlan({ command: 'claude', settings: settings({ url: 'http://gpu:1', apiKeyEnv: 'MY_KEY' }), passthrough: [], env: { PATH: allPath, MY_KEY: 's3cret-value' } })
    const saved = process.env.MY_KEY
    process.env.MY_KEY = 's3cret-value'
    try {
      const text = await describePlan(p)
      expect(text).toContain('env:      ANTHROPIC_AUTH_TOKEN="$MY_KEY"')
      expect(text).not.toContain('s3cret-value')
    } finally {
      if (saved === undefined) delete process.env.MY_KEY
      else process.env.MY_KEY = saved
    }
  })
})
