// Protects the small pure helpers the rest leans on: durations, typo
// suggestions, ANSI stripping, shell quoting, the HF cache lookup of a
// model's context window, poll intervals and restart back-off.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../src/duration.js'
import { closest, shellQuote, stripAnsi } from '../../src/text.js'
import { contextFromConfig, findModelConfig, hubCacheDir, localContextWindow, cachedModels, otherHubCacheDir } from '../../src/hf.js'
import { pollInterval } from '../../src/server/readiness.js'
import { restartDelay } from '../../src/keeper/keeper.js'
import { meaningful } from '../../src/session.js'
import { aliasLines, completionScript } from '../../src/cli/commands/shell.js'
import { tempDir } from '../helpers/tmp.js'

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['2', 2000],
    ['0', 0],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms))
  it.each(['', 'soon', '10x', '5m garbage', '-1s', 's'])('%j is not a duration', (text) => expect(parseDuration(text)).toBeUndefined())
  it('formats for people', () => {
    expect([formatDuration(250), formatDuration(1234), formatDuration(75_000), formatDuration(3_700_000)]).toEqual(['250ms', '1.2s', '1m15s', '1h01m'])
  })
})

describe('text', () => {
  it('suggests close names only', () => {
    expect(closest('prot', ['port', 'host', 'model'])).toBe('port')
    expect(closest('zzzzzz', ['port', 'host'])).toBeUndefined()
  })
  it('strips colours and cursor moves', () => {
    expect(stripAnsi('\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m x')).toBe('2026  INFO x')
  })
  it('quotes for sh only when needed', () => {
    expect(shellQuote('abc/d-1.2')).toBe('abc/d-1.2')
    expect(shellQuote(`it's "x"`)).toBe(`'it'\\''s "x"'`)
  })
  it('shows a tracing line by its message', () => {
    expect(meaningful('2026-08-22T14:38:13.123456Z  INFO mistralrs::commands::serve: Server listening on http://0.0.0.0:1234')).toBe('Server listening on http://0.0.0.0:1234')
    expect(meaningful('Error: boom')).toBe('Error: boom')
  })
})

describe('context window from the local Hugging Face cache', () => {
  const hub = () => {
    const root = tempDir('mrs-hf-')
    const repo = join(root, 'hub', 'models--Qwen--Qwen3-4B')
    mkdirSync(join(repo, 'refs'), { recursive: true })
    mkdirSync(join(repo, 'snapshots', 'abc123'), { recursive: true })
    writeFileSync(join(repo, 'refs', 'main'), 'abc123')
    writeFileSync(join(repo, 'snapshots', 'abc123', 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], max_position_embeddings: 40960 }))
    return root
  }
  it('looks where mistral.rs looks: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub, never XDG_CACHE_HOME', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' })).toBe('/a')
    expect(hubCacheDir({ HF_HOME: '/b', XDG_CACHE_HOME: '/x' })).toBe('/b/hub')
    expect(hubCacheDir({ HOME: '/h' })).toBe('/h/.cache/huggingface/hub')
    // mistralrs-core/src/pipeline/hf.rs reads no XDG variable (Python's huggingface_hub does)
    expect(hubCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/x' })).toBe('/h/.cache/huggingface/hub')
  })
  it("names Python's hub cache only where it differs from mistral.rs's", () => {
    expect(otherHubCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub')
    expect(otherHubCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/h/.cache' })).toBeUndefined()
    expect(otherHubCacheDir({ HOME: '/h' })).toBeUndefined()
    // both read HF_HOME and HF_HUB_CACHE alike
    expect(otherHubCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/x', HF_HOME: '/b' })).toBeUndefined()
    expect(otherHubCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/x', HF_HUB_CACHE: '/a' })).toBeUndefined()
  })
  it("sees hf-hub's unfinished downloads (.part, .sync.part) and Python's (.incomplete), not the .lock left beside a finished one", () => {
    const hubOf = (blobs: Record<string, number>) => {
      const root = tempDir('mrs-hf-')
      const repo = join(root, 'hub', 'models--Qwen--Qwen3-4B')
      mkdirSync(join(repo, 'blobs'), { recursive: true })
      for (const [name, size] of Object.entries(blobs)) writeFileSync(join(repo, 'blobs', name), Buffer.alloc(size))
      return cachedModels({ HF_HOME: root }).models[0]!
    }
    const MB = 1024 * 1024
    expect(hubOf({ cfg: 100, e1: 20 * MB, 'e1.lock': 0 })).toMatchObject({ partial: false, bytes: 20 * MB + 100 })
    expect(hubOf({ cfg: 100, e1: 20 * MB, 'e2.part': 5 * MB, 'e2.lock': 0 })).toMatchObject({ partial: true, bytes: 25 * MB + 100 })
    expect(hubOf({ cfg: 100, e1: 20 * MB, 'e2.sync.part': 5 * MB })).toMatchObject({ partial: true })
    expect(hubOf({ cfg: 100, e1: 20 * MB, 'e2.incomplete': 5 * MB })).toMatchObject({ partial: true })
  })
  it("lists a model only in Python's cache last, marked as such; one in both caches once, as mistral.rs's", () => {
    const home = tempDir('mrs-home-')
    const put = (hub: string, id: string) => {
      const blobs = join(hub, `models--${id.replace('/', '--')}`, 'blobs')
      mkdirSync(blobs, { recursive: true })
      writeFileSync(join(blobs, 'e1'), Buffer.alloc(11 * 1024 * 1024))
    }
    put(join(home, '.cache', 'huggingface', 'hub'), 'Qwen/Both')
    put(join(home, 'xdg', 'huggingface', 'hub'), 'Qwen/Both')
    put(join(home, 'xdg', 'huggingface', 'hub'), 'Qwen/OnlyPython')
    const { models } = cachedModels({ HOME: home, XDG_CACHE_HOME: join(home, 'xdg') })
    expect(models.map((m) => [m.id, m.elsewhere])).toEqual([
      ['Qwen/Both', undefined],
      ['Qwen/OnlyPython', join(home, 'xdg', 'huggingface', 'hub')],
    ])
  })
  it('reads max_position_embeddings of the snapshot refs/main points to', () => {
    const root = hub()
    expect(localContextWindow('Qwen/Qwen3-4B', { HF_HOME: root })).toEqual({ tokens: 40960, source: join(root, 'hub', 'models--Qwen--Qwen3-4B', 'snapshots', 'abc123', 'config.json') })
    expect(localContextWindow('Qwen/Other', { HF_HOME: root })).toEqual({})
    expect(cachedModels({ HF_HOME: root }).models.map((m) => m.id)).toEqual(['Qwen/Qwen3-4B'])
  })
  it('reads a local model directory', () => {
    const dir = tempDir('mrs-model-')
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ text_config: { max_position_embeddings: 131072 } }))
    expect(findModelConfig(dir, {})).toBe(join(dir, 'config.json'))
    expect(localContextWindow(dir, {})?.tokens).toBe(131072)
  })
  it('ignores configs without a usable length', () => {
    expect(contextFromConfig({ max_position_embeddings: 'big' })).toBeUndefined()
    expect(contextFromConfig(null)).toBeUndefined()
  })
})

describe('timing policy', () => {
  it('polls every 10 ms at first, less often during long loads', () => {
    expect([pollInterval(0), pollInterval(20_000), pollInterval(600_000)]).toEqual([10, 25, 100])
  })
  it('backs off restarts: 0.5 s, 1 s, 2 s … capped at 8 s', () => {
    expect([1, 2, 3, 5, 9].map(restartDelay)).toEqual([500, 1000, 2000, 8000, 8000])
  })
})

describe('shell integration', () => {
  it('prints one alias per preset, in the shell\'s syntax', () => {
    const presets = { qwen: { client: 'claude' }, small: { client: 'codex' }, 'bad name': {} }
    expect(aliasLines(presets, 'bash')).toEqual({ lines: [`alias mrs-qwen='mrs claude --preset qwen'`, `alias mrs-small='mrs codex --preset small'`], skipped: ['bad name'] })
    expect(aliasLines(presets, 'fish').lines[0]).toBe(`alias mrs-qwen 'mrs claude --preset qwen'`)
  })
  it('completes every command and its options', () => {
    const bash = completionScript('bash')
    expect(bash).toContain('complete -o default -F _mrs mrs')
    expect(bash).toMatch(/claude\) opts="[^"]*--model[^"]*--no-share/)
    expect(completionScript('zsh')).toMatch(/^autoload -U \+X bashcompinit/)
    expect(completionScript('fish')).toContain(`complete -c mrs -n '__fish_seen_subcommand_from serve' -l port`)
  })
})

describe('paths', () => {
  it('puts the keeper socket in the registry, in the temp root when that path is too long, and in a named pipe on Windows', async () => {
    const { getPaths, socketPath } = await import('../../src/paths.js')
    const short = getPaths({ HOME: '/h', TMPDIR: '/t' })
    expect(socketPath(short, 'abcd1234', 'linux')).toBe('/h/.local/state/mrs/servers/abcd1234.sock')
    const long = getPaths({ HOME: `/${'x'.repeat(120)}`, TMPDIR: '/t' })
    expect(socketPath(long, 'abcd1234', 'linux')).toMatch(/^\/t\/mrs-\w+\/abcd1234\.sock$/)
    expect(socketPath(short, 'abcd1234', 'win32')).toBe('\\\\.\\pipe\\mrs-abcd1234')
  })
})
