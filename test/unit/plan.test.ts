// Protects plan building: the exact mistralrs command line, and every
// refusal that must happen before anything is started.
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildPlan, type ManagedServerPlan } from '../../src/plan.js'
import { DEFAULTS, type Settings } from '../../src/config/schema.js'
import { multiModelConfig, serverArgv, shareKey, type ServerSpec } from '../../src/server/spec.js'
import { ExitCode, MrsError } from '../../src/errors.js'
import { describePlan } from '../../src/cli/commands.js'
import { clientByName } from '../../src/clients/registry.js'
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
const allPath = pathWith('mistralrs', 'claude', 'codex', 'opencode')
const settings = (over: Partial<Settings> = {}): Settings => ({ ...DEFAULTS, ...over })
const plan = (command: string, over: Partial<Settings> & { version?: string } = {}, PATH = allPath, passthrough: string[] = []) => {
  const { version = '0.9.2', ...rest } = over
  const s = settings(rest)
  return buildPlan({ command, client: clientByName(command), settings: s, passthrough, env: { PATH }, model: 'model' in rest ? rest.model : 'Qwen/Q', mistralrs: s.mistralrs || PATH !== allPath ? undefined : { binary: join(allPath, 'mistralrs'), version } })
}
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
  it('adds the quantization and the hub cache chosen where it runs, and the flags that size the server for --context', () => {
    const run = { quant: { args: ['--quant', 'q4k'], label: 'q4k', why: '' }, hub: '/h/hub' }
    expect(serverArgv({ ...spec, context: 32768, platform: 'linux' }, 1, '', run).slice(7)).toEqual(['--quant', 'q4k', '--hf-cache', '/h/hub', '--max-seq-len', '32768', '--pa-context-len', '32768'])
    // the user's own --hf-cache is theirs
    expect(serverArgv({ ...spec, serverArgs: ['--hf-cache', '/mine'] }, 1, '', run).slice(7)).toEqual(['--quant', 'q4k', '--hf-cache', '/mine'])
    // PagedAttention is off on Metal and the CPU; --pa-memory-* clash with --pa-context-len in clap
    expect(serverArgv({ ...spec, context: 32768, platform: 'darwin' }, 1, '').slice(7)).toEqual(['--max-seq-len', '32768'])
    expect(serverArgv({ ...spec, context: 32768, platform: 'linux', serverArgs: ['--cpu'] }, 1, '').slice(7)).toEqual(['--max-seq-len', '32768', '--cpu'])
    expect(serverArgv({ ...spec, context: 32768, platform: 'linux', serverArgs: ['--pa-memory-mb', '4096'] }, 1, '').slice(7)).toEqual(['--max-seq-len', '32768', '--pa-memory-mb', '4096'])
  })
  it('sizes, quantizes and caches each model of a from-config server in its TOML', () => {
    const two = { ...spec, models: ['Qwen/Big', 'Qwen/Small'], context: 65536, platform: 'linux' as const }
    expect(multiModelConfig(two, 1, { quant: { args: ['--quant', 'q4k'], label: 'q4k', why: '' }, hub: '/h/hub' })).toMatchObject({
      paged_attn: { context_len: 65536 },
      models: [
        { model_id: 'Qwen/Big', quantization: { quant: 'q4k' }, device: { hf_cache: '/h/hub', max_seq_len: 65536 } },
        { model_id: 'Qwen/Small', quantization: { quant: 'q4k' }, device: { hf_cache: '/h/hub', max_seq_len: 65536 } },
      ],
    })
    // an older mistral.rs: --isq
    expect(multiModelConfig(two, 1, { quant: { args: ['--isq', 'q4k'], label: 'q4k', why: '' } })).toMatchObject({ models: [{ quantization: { isq: 'q4k' } }, { quantization: { isq: 'q4k' } }] })
  })
  it("puts --seed, --log and --token-source in a from-config TOML's [global], which from-config reads (it ignores them on its command line), and keeps -v there", () => {
    const two = { ...spec, models: ['Qwen/Big', 'Qwen/Small'], serverArgs: ['--seed', '7', '--log=/tmp/req.log', '--token-source', 'env:HF', '-v'] }
    expect(serverArgv(two, 1, '/x/m.toml')).toEqual(['from-config', '-f', '/x/m.toml', '-v'])
    expect(multiModelConfig(two, 1)).toMatchObject({ global: { seed: 7, log: '/tmp/req.log', token_source: 'env:HF' } })
    expect(multiModelConfig({ ...two, serverArgs: [] }, 1)).not.toHaveProperty('global')
  })
  it('shares a server only for the same binary, models, host, tools and args', () => {
    expect(shareKey(spec)).toBe(shareKey({ ...spec }))
    // the context, the version and the quantization follow from the request; a launch without --context takes the server's
    expect(shareKey(spec)).toBe(shareKey({ ...spec, context: 4096, fitQuant: true, version: '0.9.2' }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, models: ['Qwen/Other'] }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, tools: { ...spec.tools, webSearch: true } }))
    expect(shareKey(spec)).not.toBe(shareKey({ ...spec, serverArgs: ['--isq', '4'] }))
  })
})

describe('buildPlan', () => {
  it('serves the small model beside the main one, for a client with a slot for it', () => {
    expect((plan('claude', { smallModel: 'Qwen/S' }).server as ManagedServerPlan).spec.models).toEqual(['Qwen/Q', 'Qwen/S'])
    expect((plan('opencode', { smallModel: 'Qwen/S' }).server as ManagedServerPlan).spec.models).toEqual(['Qwen/Q', 'Qwen/S'])
  })
  it('refuses --small-model for a client without a slot, before anything starts (exit 64)', () => {
    const e = failure(() => plan('codex', { smallModel: 'Qwen/S' }))
    expect(e.exitCode).toBe(ExitCode.Usage)
    expect(e.message).toBe('--small-model: the Codex CLI has no slot for a second model; leave it out')
  })
  it('leaves the quantization to mrs (chosen where the server starts) only when the user quantizes nothing', () => {
    const quant = (over: Parameters<typeof plan>[1]) => (plan('claude', over).server as ManagedServerPlan).spec.fitQuant
    expect(quant({})).toBe(true)
    for (const serverArgs of [['--isq', '4'], ['--isq=q4k'], ['--quant', 'q8_0'], ['--from-uqff', 'x.uqff'], ['-f', 'm.gguf'], ['--format', 'gguf'], ['--format=gguf']]) expect(quant({ serverArgs })).toBe(false)
    expect(quant({ serverArgs: ['--max-seqs', '4'] })).toBe(true)
  })
  it('needs a model', () => {
    const e = failure(() => plan('claude', { model: undefined }))
    expect(e.exitCode).toBe(ExitCode.Usage)
    expect(e.message).toMatch(/no model: pass -m MODEL/)
  })
  it('reports a missing client with how to install it, exit 127, before looking at the server', () => {
    const e = failure(() => plan('claude', {}, pathWith('mistralrs')))
    expect(e.exitCode).toBe(ExitCode.NotFound)
    expect(e.message).toBe('claude not found on PATH; install it: npm install -g @anthropic-ai/claude-code')
    expect(failure(() => plan('codex', {}, pathWith('mistralrs'))).message).toMatch(/npm install -g @openai\/codex/)
  })
  it('reports a missing mistralrs with how to install it, exit 127', () => {
    const e = failure(() => plan('serve', {}, pathWith()))
    expect(e.exitCode).toBe(ExitCode.NotFound)
    expect(e.message).toMatch(/^mistralrs not found on PATH; install it: curl/)
    expect(failure(() => plan('serve', { mistralrs: '/nope/mistralrs' }, pathWith())).message).toMatch(/mistralrs not found at \/nope\/mistralrs/)
  })
  it('finds mistralrs from --mistralrs', () => {
    const dir = pathWith('my-mistralrs')
    expect((plan('serve', { mistralrs: join(dir, 'my-mistralrs') }, pathWith()).server as ManagedServerPlan).spec.binary).toBe(join(dir, 'my-mistralrs'))
  })
  it('warns when binding beyond loopback', () => {
    expect(plan('serve', { host: '0.0.0.0' }).warnings[0]).toMatch(/no authentication/)
    expect(plan('serve').warnings).toEqual([])
  })
  it('applies the code-execution guard to the server\'s whole command line: flags, --server-arg and config alike', () => {
    for (const serverArgs of [['--enable-code-execution'], ['--enable-shell'], ['--agent'], ['--agentic'], ['--agent=true']]) {
      const e = failure(() => plan('serve', { host: '0.0.0.0', serverArgs }))
      expect(e.exitCode).toBe(ExitCode.Usage)
      expect(e.message).toMatch(new RegExp(`--server-host 0\\.0\\.0\\.0 with ${serverArgs[0]!.split('=')[0]} would let anyone who can reach this machine run code on it`))
    }
  })
  it('says, on loopback too, that code-running tools serve any local user', () => {
    expect(plan('serve', { codeExecution: true }).warnings.join('\n')).toMatch(/--code-execution runs code as you for any request that reaches the server, and other users of this machine can reach 127\.0\.0\.1 too/)
    expect(plan('serve', { serverArgs: ['--enable-shell'] }).warnings.join('\n')).toMatch(/--enable-shell runs code as you/)
  })
  it.each(['codeExecution', 'shell', 'agent'] as const)('refuses a public host with %s unless --allow-remote-tools', (tool) => {
    const e = failure(() => plan('serve', { host: '0.0.0.0', [tool]: true }))
    expect(e.exitCode).toBe(ExitCode.Usage)
    expect(e.message).toMatch(/run code on it; add --allow-remote-tools/)
    expect(plan('serve', { host: '0.0.0.0', [tool]: true, allowRemoteTools: true }).warnings[0]).toMatch(/run code on this machine/)
  })
  it('uses a remote server with --url and starts nothing', () => {
    const p = plan('claude', { url: 'http://gpu:1234', model: undefined })
    expect(p.server).toEqual({ kind: 'external', url: 'http://gpu:1234', model: undefined, apiKeyEnv: undefined, webSearch: false, context: undefined, timeoutMs: undefined })
    expect(plan('codex', { url: 'http://gpu:1234', webSearch: true }).server).toMatchObject({ kind: 'external', webSearch: true })
  })
  it('warns once, naming them, about options a --url launch does not use', () => {
    const p = buildPlan({ command: 'claude', client: clientByName('claude'), settings: settings({ url: 'http://gpu:1' }), passthrough: [], env: { PATH: allPath }, flagsGiven: ['--port', '--server-arg', '--keep-alive', '--no-share', '--preset'] })
    expect(p.warnings).toEqual(['with --url nothing is started here, so --port, --server-arg, --keep-alive, --no-share have no effect'])
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
  const dry = (over: Partial<Settings>, passthrough: string[] = [], command = 'claude') =>
    buildPlan({ command, client: clientByName(command), settings: settings(over), passthrough, env: { PATH: allPath }, model: 'Qwen/Q', mistralrs: { binary: join(allPath, 'mistralrs'), version: '0.9.2' } })
  it('prints the server command, URLs, client command, its environment changes and its files', async () => {
    const text = await describePlan(dry({ port: 4321 }, ['-p', 'hi']), '/')
    // the server takes any free port; the clients' port is mrs's own, in front of it for the server's whole life
    // the hub cache where mrs looks (mistral.rs 0.9.1+ would otherwise download to ~/.cache/huggingface/hub whatever HF_HOME says)
    expect(text).toContain(`server:   ${join(allPath, 'mistralrs')} serve -p <free port> --host 127.0.0.1 -m Qwen/Q --hf-cache ${process.env.HF_HOME}/hub`)
    expect(text).toMatch(/^quant: {4}full precision: its size is not known here before it is downloaded/m)
    expect(text).toContain('clients:  http://127.0.0.1:4321 (the port mrs holds for the server\'s whole life)')
    expect(text).toContain('urls:     OpenAI/Responses http://127.0.0.1:4321/v1 · Anthropic http://127.0.0.1:4321')
    expect(text).toMatch(/client: {3}\S+\/claude --settings '<session temp dir>\/claude-settings\.json' --exclude-dynamic-system-prompt-sections -p hi/)
    expect(text).toContain('env:      ANTHROPIC_BASE_URL=http://127.0.0.1:4321')
    expect(text).toMatch(/file: {5}<session temp dir>\/claude-settings\.json[\s\S]*"ANTHROPIC_MODEL": "Qwen\/Q"/)
  })
  it('shows the generated TOML for two models', async () => {
    expect(await describePlan(dry({ smallModel: 'Qwen/S' }), '/')).toMatch(/from-config -f <server temp dir>\/models.toml[\s\S]*model_id = "Qwen\/S"/)
  })
  it('shows the user\'s own --settings as the launch merges them, with their values masked', async () => {
    const dir = tempDir('mrs-settings-')
    writeFileSync(join(dir, 's.json'), JSON.stringify({ env: { MY_TOKEN: 'tok-abc123' }, model: 'opus' }))
    const text = await describePlan(dry({}, ['--settings', join(dir, 's.json')]), '/')
    expect(text).toMatch(/"MY_TOKEN": "<from your settings>"/)
    expect(text).toMatch(/"model": "opus"/)
    expect(text).not.toContain('tok-abc123')
  })
})

describe('--dry-run and secrets', () => {
  it('names the key variable instead of printing the key', async () => {
    const p = buildPlan({ command: 'claude', client: clientByName('claude'), settings: settings({ url: 'http://gpu:1', apiKeyEnv: 'MY_KEY' }), passthrough: [], env: { PATH: allPath, MY_KEY: 's3cret-value' } })
    const saved = process.env.MY_KEY
    process.env.MY_KEY = 's3cret-value'
    try {
      const text = await describePlan(p, '/')
      expect(text).toContain('env:      ANTHROPIC_AUTH_TOKEN=$MY_KEY')
      expect(text).not.toContain('s3cret-value')
    } finally {
      if (saved === undefined) delete process.env.MY_KEY
      else process.env.MY_KEY = saved
    }
  })
})
