// Starting with nothing but `mrs codex`: which model a launch uses when -m is
// absent (each rule, said on stderr), the picker on a real terminal (filter,
// choose, cancel, save as default), `mrs` alone, `mrs models`, and what the
// machine can hold. Protects the first-run path the README promises.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, sleep, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { terminal } from '../helpers/terminal.js'

const A = 'Qwen/Qwen3-4B'
const B = 'Qwen/Qwen3-8B'

/** Puts a model into the sandbox's Hugging Face cache, as a finished (or unfinished) download. */
function cacheModel(sb: Sandbox, id: string, opts: { bytes?: number; partial?: boolean; context?: number; config?: string; indexedBytes?: number; age?: number; hub?: string } = {}): string {
  const repo = join(opts.hub ?? join(sb.env.HF_HOME!, 'hub'), `models--${id.replace(/\//g, '--')}`)
  mkdirSync(join(repo, 'blobs'), { recursive: true })
  mkdirSync(join(repo, 'snapshots', 'rev1'), { recursive: true })
  mkdirSync(join(repo, 'refs'), { recursive: true })
  writeFileSync(join(repo, 'refs', 'main'), 'rev1')
  // an unfinished download as mistral.rs's hf-hub leaves it: `<etag>.part` (and a `.lock` beside, which a finished one has too)
  writeFileSync(join(repo, 'blobs', `weights${opts.partial ? '.part' : ''}`), Buffer.alloc(opts.bytes ?? 12 * 1024 * 1024))
  writeFileSync(join(repo, 'blobs', 'weights.lock'), '')
  writeFileSync(join(repo, 'snapshots', 'rev1', 'config.json'), opts.config ?? JSON.stringify({ max_position_embeddings: opts.context ?? 40960 }))
  // a sharded repository's weight index, which arrives before the shards
  if (opts.indexedBytes) writeFileSync(join(repo, 'snapshots', 'rev1', 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: opts.indexedBytes }, weight_map: { 'lm_head.weight': 'model-00001-of-00002.safetensors' } }))
  return repo
}

/** An NVIDIA GPU of this many MiB, as nvidia-smi reports it. */
function gpu(sb: Sandbox, mib: number, name = 'NVIDIA GeForce RTX 4090'): void {
  const smi = join(sb.root, 'bin', 'nvidia-smi')
  writeFileSync(smi, `#!/bin/sh\necho "${name}, ${mib}, 1024"\n`)
  chmodSync(smi, 0o755)
}

/** A section of `mrs models`: its header row and its rows, cut at the next blank line. */
function section(stdout: string, title: string): string[] {
  const lines = stdout.split('\n')
  const start = lines.indexOf(title)
  const end = lines.indexOf('', start)
  return lines.slice(start + 1, end < 0 ? undefined : end)
}

/** Every row's cells start where the header's columns do (a space before, a character on it). */
function expectColumns(rows: string[]): void {
  const header = rows[0]!
  const starts = [...header.matchAll(/(?<= {2})\S/g)].map((m) => m.index!)
  expect(starts.length, header).toBeGreaterThan(1)
  for (const row of rows.slice(1)) for (const at of starts) expect(`${row[at - 1]}${row[at]}`, `"${row}" at ${at}`).toMatch(/^ \S$/)
}

const started = (sb: Sandbox) => sb.records().filter((r) => r.event === 'start')
const servedModel = (sb: Sandbox) => started(sb).map((r) => r.argv[r.argv.indexOf('-m') + 1])

describe('a model when -m is absent', () => {
  it('takes MRS_MODEL, then a preset\'s model, and says which rule chose it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const env = await sb.run(['codex'], { env: { MRS_MODEL: A } })
      expect(env.code).toBe(0)
      expect(env.stderr).toMatch(/^mrs: model Qwen\/Qwen3-4B \(from MRS_MODEL\)$/m)
      sb.writeConfig(`[presets.small]\nmodel = "${B}"\n`)
      const preset = await sb.run(['codex', '--preset', 'small'])
      expect(preset.stderr).toMatch(/^mrs: model Qwen\/Qwen3-8B \(from the preset small\)$/m)
      // -m is said by the user already: no rule line
      const flag = await sb.run(['codex', '-m', A])
      expect(flag.stderr).not.toMatch(/mrs: model /)
      expect(servedModel(sb)).toEqual([A, B, A])
    })
  })

  it('attaches to the one server mrs runs, rather than loading a second model beside it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      // the config names another model: a loaded one wins over it
      sb.writeConfig(`model = "${B}"\n`)
      const serve = sb.start(['serve', '-m', A])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const result = await sb.run(['codex'])
      expect(result.code).toBe(0)
      expect(result.stderr).toMatch(/^mrs: model Qwen\/Qwen3-4B \(the model of the running server \w+\)$/m)
      expect(result.stderr).toMatch(/using the running server/)
      expect(started(sb)).toHaveLength(1)
      serve.kill('SIGINT')
      await serve.done()
    })
  })

  it('with several servers: the one serving the config file\'s model; without one, off a terminal, exit 64 listing them', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const serves = [sb.start(['serve', '-m', A]), sb.start(['serve', '-m', B])]
      await Promise.all(serves.map((s) => s.waitForStderr(/Press Ctrl-C to stop/)))
      const listed = await sb.run(['claude'])
      expect(listed.code).toBe(64)
      expect(listed.stderr).toMatch(/^mrs: error: 2 servers are running: choose one with -m MODEL \(or stop one with mrs stop ID\)$/m)
      expect(listed.stderr).toMatch(/│ \w{8} {2}Qwen\/Qwen3-4B {2}http:\/\/127\.0\.0\.1:\d+/)
      expect(listed.stderr).toMatch(/│ \w{8} {2}Qwen\/Qwen3-8B {2}http:\/\/127\.0\.0\.1:\d+/)
      sb.writeConfig(`model = "${B}"\n`)
      const chosen = await sb.run(['claude'])
      expect(chosen.code).toBe(0)
      expect(chosen.stderr).toMatch(/model Qwen\/Qwen3-8B \(the model of the running server/)
      expect(started(sb)).toHaveLength(2)
      for (const s of serves) s.kill('SIGINT')
      await Promise.all(serves.map((s) => s.done()))
    })
  })

  it('takes the config file\'s model when no server runs', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      sb.writeConfig(`model = "${B}"\n`)
      const result = await sb.run(['codex'])
      expect(result.code).toBe(0)
      expect(result.stderr).toMatch(/^mrs: model Qwen\/Qwen3-8B \(from the config file \S+config\.toml\)$/m)
      expect(servedModel(sb)).toEqual([B])
    })
  })

  it('off a terminal with nothing to go by: exit 64 with how to choose and the downloaded models', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, A)
      cacheModel(sb, B, { partial: true })
      const result = await sb.run(['codex'])
      expect(result.code).toBe(64)
      expect(result.stderr).toMatch(/^mrs: error: no model: pass -m MODEL, set MRS_MODEL, or put model = "\.\.\." in \S+; downloaded models:$/m)
      expect(result.stderr).toMatch(/│ Qwen\/Qwen3-4B {2}12 MB$/m)
      expect(result.stderr).toMatch(/│ Qwen\/Qwen3-8B {2}12 MB of 16\.4 GB \(partial download\)$/m)
      expect(sb.serverPids()).toEqual([])
    })
  })

  it('with a url preset, uses the remote server\'s model, not the local top-level one (the README\'s own example)', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote-Coder'])
      sb.writeConfig(`model = "Qwen/Qwen3-Coder-Next"\ntimeout = "30m"\n\n[presets.gpu]\nurl = "${url}"\napi_key_env = "MISTRALRS_API_KEY"\nclient = "claude"\n`)
      const result = await sb.run(['claude', '--preset', 'gpu', '--', '-p', 'say hi'], { env: { MISTRALRS_API_KEY: 'k' } })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      expect(result.stderr).toMatch(/using http:\/\/127\.0\.0\.1:\d+ \(model Qwen\/Remote-Coder, the only one it serves\)/)
    })
  })
})

describe('the picker, on a real terminal (tmux)', () => {
  requires('tmux')('lists downloaded models first, filters as you type, chooses, offers to save it, and starts the client on it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      cacheModel(sb, A, { bytes: 20 * 1024 * 1024, context: 40960 })
      cacheModel(sb, 'Qwen/Half-Done', { partial: true })
      const before = '# my mrs config\ntimeout = "30m"\n\n[presets.small]\nmodel = "Qwen/Qwen3-0.6B"\n'
      sb.writeConfig(before)
      const term = terminal(sb, ['codex'])
      try {
        const list = await waitFor(() => /Model for the Codex CLI/.test(term.screen()) && term.screen(), 20_000, `the picker; screen:\n${term.screen()}`)
        // windows as the status line and mrs models say them
        expect(list).toMatch(/Qwen\/Qwen3-4B {2}\(downloaded, 20 MB · used just now · 40k context\)/)
        expect(list).toMatch(/Qwen\/Half-Done {2}\(partial download, 12 MB · used just now · 40k context\)/)
        expect(list).toMatch(/Qwen\/Qwen3-Coder-Next {2}\(recommended · download 160 GB · (fits|too big for) \d+ GB (RAM|GPU|unified)/)
        // downloaded first
        expect(list.indexOf('Qwen/Qwen3-4B')).toBeLessThan(list.indexOf('Qwen/Qwen3-Coder-Next'))
        term.keys('-l', '3-4B')
        await waitFor(() => !/Half-Done/.test(term.screen()), 5000, `the filter; screen:\n${term.screen()}`)
        term.keys('Enter')
        await waitFor(() => /Make Qwen\/Qwen3-4B the default model/.test(term.screen()), 5000, `the save offer; screen:\n${term.screen()}`)
        term.keys('Enter')
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to finish; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(0)
        expect(servedModel(sb)).toEqual([A])
        // the default went in above the first table, the rest stayed byte for byte
        expect(readFileSync(sb.configPath, 'utf8')).toBe(`# my mrs config\nmodel = "${A}"\ntimeout = "30m"\n\n[presets.small]\nmodel = "Qwen/Qwen3-0.6B"\n`)
      } finally {
        term.close()
      }
      await expectNoLeftovers(sb, 3000)
    })
  })

  requires('tmux')('Esc cancels and says so: exit 130, nothing started', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, A)
      const term = terminal(sb, ['claude'])
      try {
        await waitFor(() => /Model for Claude Code/.test(term.screen()), 20_000, `the picker; screen:\n${term.screen()}`)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
        // the picker's question struck out, then the word for what happened
        expect(term.screen()).toMatch(/■ {2}Model for Claude Code.*\n(│.*\n)*└ {2}cancelled: nothing was started\n/)
        expect(term.exitCode()).toBe(130)
        expect(sb.serverPids()).toEqual([])
        expect(sb.clientPids()).toEqual([])
      } finally {
        term.close()
      }
    })
  })

  requires('tmux')('takes an id that is in no row as typed; an unknown one fails as -m does (Hugging Face refused it, exit 68); a config that cannot be written is said and the launch goes on', async () => {
    await withSandbox({}, async (sb) => {
      // a file where the config directory should be: nothing to read, and saving fails, for root too
      rmSync(dirname(sb.configPath), { recursive: true, force: true })
      writeFileSync(dirname(sb.configPath), '')
      const term = terminal(sb, ['codex'], { MRS_CONFIG: '' })
      try {
        await waitFor(() => /Model for the Codex CLI/.test(term.screen()), 20_000, `the picker; screen:\n${term.screen()}`)
        term.keys('-l', 'org/does-not-exist')
        await waitFor(() => /as typed/.test(term.screen()), 5000, `the typed row; screen:\n${term.screen()}`)
        term.keys('Enter')
        await waitFor(() => /Make org\/does-not-exist the default model/.test(term.screen()), 5000, `the save offer; screen:\n${term.screen()}`)
        term.keys('Enter')
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
        const screen = term.screen().replace(/\n/g, '') // long lines wrap at the pane's width
        expect(screen).toMatch(/could not save the default model in \S+ \(ENOTDIR\); going on with org\/does-not-exist/)
        expect(screen).toMatch(/error: Hugging Face refused org\/does-not-exist \(HTTP 401\)/)
        expect(term.exitCode()).toBe(68)
      } finally {
        term.close()
      }
    })
  })

  requires('tmux')('an id that is in no row looks the same whether or not other rows match it too', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, A)
      const term = terminal(sb, ['codex'])
      try {
        await waitFor(() => /Model for the Codex CLI/.test(term.screen()), 20_000, `the picker; screen:\n${term.screen()}`)
        // "qwen/q" is part of other rows' ids: the typed row is one among them, not highlighted
        term.keys('-l', 'qwen/q')
        const among = await waitFor(() => /Search: qwen\/q\b/.test(term.screen()) && term.screen(), 5000, `the filter; screen:\n${term.screen()}`)
        expect(among).toMatch(/● Qwen\/Qwen3-4B {2}\(downloaded/)
        expect(among).toMatch(/○ qwen\/q {2}\(as typed: a Hugging Face id or a local directory\)$/m)
        // "qwen/qz" matches nothing else: the typed row alone, highlighted, reads the same
        term.keys('-l', 'z')
        const alone = await waitFor(() => /Search: qwen\/qz/.test(term.screen()) && term.screen(), 5000, `the filter; screen:\n${term.screen()}`)
        expect(alone).not.toMatch(/Qwen3-4B/)
        expect(alone).toMatch(/● qwen\/qz {2}\(as typed: a Hugging Face id or a local directory\)$/m)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
      } finally {
        term.close()
      }
    })
  })

  requires('tmux')('`mrs` alone: every row says whether its client is installed, and how to install it if not, highlighted or not; no row repeats its name', async () => {
    await withSandbox({}, async (sb) => {
      // opencode and pi are not installed (their title is their name)
      for (const name of ['opencode', 'pi']) rmSync(join(sb.root, 'bin', name))
      const term = terminal(sb, [])
      try {
        const screen = await waitFor(() => /Which coding agent\?/.test(term.screen()) && term.screen(), 20_000, `the client picker; screen:\n${term.screen()}`)
        const rows = screen.split('\n').filter((l) => /^│ {2}[●○] /.test(l))
        expect(rows).toEqual([
          '│  ● claude — Claude Code  (installed)',
          '│  ○ codex — the Codex CLI  (installed)',
          '│  ○ opencode  (not installed: npm install -g opencode-ai)',
          '│  ○ copilot — GitHub Copilot CLI  (installed)',
          '│  ○ pi  (not installed: npm install -g @mariozechner/pi-coding-agent)',
          '│  ○ qwen — Qwen Code  (installed)',
        ])
        // the highlight moves; what each row says does not
        term.keys('Down')
        await waitFor(() => /● codex — the Codex CLI {2}\(installed\)/.test(term.screen()), 5000, `the highlight on codex; screen:\n${term.screen()}`)
        expect(term.screen()).toMatch(/○ claude — Claude Code {2}\(installed\)/)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.screen()).toMatch(/└ {2}cancelled: nothing was started/)
        expect(term.exitCode()).toBe(130)
      } finally {
        term.close()
      }
    })
  })

  requires('tmux')('with several servers running, every row of the server picker says its id, URL and sessions, highlighted or not', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const serves = [sb.start(['serve', '-m', A]), sb.start(['serve', '-m', B])]
      await Promise.all(serves.map((s) => s.waitForStderr(/Press Ctrl-C to stop/)))
      const term = terminal(sb, ['codex'])
      try {
        const screen = await waitFor(() => /2 servers are running; which model for the Codex CLI\?/.test(term.screen()) && term.screen(), 20_000, `the server picker; screen:\n${term.screen()}`)
        expect(screen).toMatch(/● Qwen\/Qwen3-(4|8)B {2}\(\w{8} · http:\/\/127\.0\.0\.1:\d+ · 1 session\)/)
        expect(screen).toMatch(/○ Qwen\/Qwen3-(4|8)B {2}\(\w{8} · http:\/\/127\.0\.0\.1:\d+ · 1 session\)/)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(130)
      } finally {
        term.close()
      }
      for (const s of serves) s.kill('SIGINT')
      await Promise.all(serves.map((s) => s.done()))
    })
  })

  requires('tmux')('`mrs` alone: pick a client (installed ones marked), then a model', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      cacheModel(sb, A)
      const term = terminal(sb, [])
      try {
        const clients = await waitFor(() => /Which coding agent\?/.test(term.screen()) && term.screen(), 20_000, `the client picker; screen:\n${term.screen()}`)
        expect(clients).toMatch(/claude — Claude Code/)
        expect(clients).toMatch(/qwen — Qwen Code/)
        term.keys('Down')
        await sleep(200)
        term.keys('Enter')
        await waitFor(() => /Model for the Codex CLI/.test(term.screen()), 10_000, `the model picker; screen:\n${term.screen()}`)
        term.keys('Enter')
        await waitFor(() => /Make Qwen\/Qwen3-4B the default model/.test(term.screen()), 5000, `the save offer; screen:\n${term.screen()}`)
        term.keys('Right')
        await sleep(200)
        term.keys('Enter')
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(0)
        expect(sb.clientLines().find((l) => l.startsWith('start '))).toMatch(/^start codex /)
        expect(servedModel(sb)).toEqual([A])
        // "No": the config file stays as it was
        expect(readFileSync(sb.configPath, 'utf8')).toBe('# mrs test config\n')
      } finally {
        term.close()
      }
    })
  })

  it('off a terminal, `mrs` alone prints the help', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run([])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^mrs \S+ — coding agents on a local mistral\.rs model/)
    })
  })
})

describe('mrs models', () => {
  it('lists downloaded, running and recommended models with sizes, context windows and fit (--json)', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, A, { context: 40960 })
      cacheModel(sb, 'Qwen/Half-Done', { partial: true })
      // a 24 GB GPU, as nvidia-smi reports it
      const smi = join(sb.root, 'bin', 'nvidia-smi')
      writeFileSync(smi, '#!/bin/sh\necho "NVIDIA GeForce RTX 4090, 24564, 1024"\n')
      chmodSync(smi, 0o755)
      const serve = sb.start(['serve', '-m', B])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const result = await sb.run(['models', '--json'])
      expect(result.code).toBe(0)
      const json = JSON.parse(result.stdout)
      expect(json.accelerator).toMatchObject({ kind: 'cuda', name: 'NVIDIA GeForce RTX 4090', totalBytes: 24564 * 1024 * 1024 })
      expect(json.cached).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: A, partial: false, contextWindow: 40960, fit: 'full' }),
          expect.objectContaining({ id: 'Qwen/Half-Done', partial: true }),
        ]),
      )
      expect(json.running).toEqual([expect.objectContaining({ models: [B], state: 'ready' })])
      const rec = Object.fromEntries(json.recommended.map((r: { id: string; fit: string }) => [r.id, r.fit]))
      // the levels of mistral.rs's Balanced profile, the largest that fits the 24 GB GPU alone
      expect(rec).toMatchObject({ 'openai/gpt-oss-20b': 'full', 'Qwen/Qwen3-Coder-30B-A3B-Instruct': 'q4k', 'openai/gpt-oss-120b': 'no' })
      expect(json.recommended.every((r: { source: string }) => r.source.length > 10)).toBe(true)
      serve.kill('SIGINT')
      await serve.done()
    })
  })

  it("looks where mistral.rs looks (~/.cache/huggingface/hub, whatever XDG_CACHE_HOME says): a model only in Python's cache is shown as such, and the launch reads its window where the server does", async () => {
    await withSandbox({}, async (sb) => {
      // no HF_HOME or HF_HUB_CACHE, as on most machines; XDG_CACHE_HOME set, as on many
      delete sb.env.HF_HOME
      const mistralrsHub = join(sb.home, '.cache', 'huggingface', 'hub')
      const pythonHub = join(sb.env.XDG_CACHE_HOME!, 'huggingface', 'hub')
      cacheModel(sb, A, { hub: mistralrsHub, context: 40960 })
      cacheModel(sb, B, { hub: pythonHub, context: 32768 })
      const json = JSON.parse((await sb.run(['models', '--json'])).stdout)
      expect(json.cached).toEqual([expect.objectContaining({ id: A, elsewhere: null }), expect.objectContaining({ id: B, elsewhere: pythonHub })])
      const text = (await sb.run(['models'])).stdout
      expect(text).toMatch(new RegExp(`${B}\\s+\\S+ MB \\(Python's cache only\\)`))
      expect(text).toContain(`set HF_HUB_CACHE=${pythonHub} to serve them from there`)
      // rule 5 lists it as what it is
      const none = await sb.run(['codex'])
      expect(none.code).toBe(64)
      expect(none.stderr).toContain(`${B}  12 MB (only in Python's Hugging Face cache ${pythonHub}, which mistral.rs does not read)`)
      // the window comes from the config.json the server reads
      const launch = await sb.run(['codex', '-m', A, '--', 'exec', '--skip-git-repo-check', 'hi'])
      expect(launch.code).toBe(0)
      expect(launch.stderr).toMatch(/context 40k tokens \(40960\)/)
    })
  })

  it('aligns each section in columns; judges a partial download by its full size (the recommended list, the repository\'s weight index) and marks it; under a minute is "just now"; windows read 256k as the status line says them', async () => {
    await withSandbox({}, async (sb) => {
      // 8 GB: too small for Devstral even at ~4 bits; its 977 KB would "fit"
      gpu(sb, 8192, 'NVIDIA GeForce RTX 4060')
      cacheModel(sb, 'mistralai/Devstral-Small-2507', { partial: true, bytes: 1000 * 1000, context: 131072 })
      cacheModel(sb, 'org/Sharded-Big', { partial: true, bytes: 2 * 1024 * 1024, indexedBytes: 70e9 })
      cacheModel(sb, 'org/Unknown-Size', { partial: true })
      cacheModel(sb, A, { context: 40960 })
      const result = await sb.run(['models'])
      expect(result.code, result.stderr).toBe(0)
      const downloaded = section(result.stdout, 'Downloaded (Hugging Face cache):')
      expect(downloaded[0]).toMatch(/^ {2}MODEL +SIZE +USED +CONTEXT +FIT$/)
      expectColumns(downloaded)
      const row = (id: string) => downloaded.find((l) => l.startsWith(`  ${id} `))!
      expect(row('mistralai/Devstral-Small-2507')).toMatch(/ 977 KB of 47 GB \(partial download\) +just now +128k +too big for 8 GB GPU$/)
      expect(row('org/Sharded-Big')).toMatch(/ 2 MB of 65\.2 GB \(partial download\) +just now +40k +too big for 8 GB GPU$/)
      expect(row('org/Unknown-Size')).toMatch(/ 12 MB \(partial download\) +just now +40k +fit unknown until the download is complete$/)
      expect(row(A)).toMatch(/ 12 MB +just now +40k +fits 8 GB GPU$/)
      const recommended = section(result.stdout, 'Recommended for coding agents:')
      expect(recommended[0]).toMatch(/^ {2}MODEL +DOWNLOAD +CONTEXT +FIT +DOWNLOADED +WHY$/)
      expectColumns(recommended)
      expect(recommended.find((l) => l.includes('Qwen/Qwen3-Coder-Next'))).toMatch(/ 160 GB +256k +too big for 8 GB GPU +no +/)
      expect(recommended.find((l) => l.includes('mistralai/Devstral-Small-2507'))).toMatch(/ 47 GB +128k +too big for 8 GB GPU +partly +/)
      expect(recommended.find((l) => l.includes(A))).toMatch(/ 8 GB +40k +\S.* +yes +/)
      // the status line says a window the same way
      const { line } = await import('../../src/clients/claude-statusline.js')
      expect(line({ name: 'm', used: 23 * 1024, context: 262_144 })).toBe('m · 23k/256k')
      const json = JSON.parse((await sb.run(['models', '--json'])).stdout)
      const cached = Object.fromEntries(json.cached.map((m: { id: string }) => [m.id, m]))
      expect(cached['mistralai/Devstral-Small-2507']).toMatchObject({ partial: true, bytes: 1000 * 1000, fullBytes: 47e9, fit: 'no' })
      expect(cached['org/Sharded-Big']).toMatchObject({ partial: true, fullBytes: 70e9, fit: 'no' })
      expect(cached['org/Unknown-Size']).toMatchObject({ partial: true, fullBytes: null, fit: null })
      expect(json.recommended.find((r: { id: string }) => r.id === 'mistralai/Devstral-Small-2507')).toMatchObject({ cached: true, partial: true })
    })
  })

  it('a model published already quantized (gpt-oss, MXFP4) is never said to fit at fewer bits: no row contradicts its own description', async () => {
    await withSandbox({}, async (sb) => {
      for (const mib of [8192, 12288, 16376, 24564, 49140, 81559]) {
        gpu(sb, mib)
        const result = await sb.run(['models'])
        expect(result.code, result.stderr).toBe(0)
        const rows = section(result.stdout, 'Recommended for coding agents:').filter((l) => l.includes('openai/gpt-oss-'))
        expect(rows).toHaveLength(2)
        for (const row of rows) {
          expect(row).toMatch(/without a quantization flag|as published/)
          expect(row, `${mib} MiB`).not.toMatch(/--quant auto|bits \(/)
        }
      }
    })
  })

  it('says so in one line when nvidia-smi fails, when a config.json is corrupt or the cache unreadable, and goes on', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      cacheModel(sb, A, { config: '{ not json' })
      const smi = join(sb.root, 'bin', 'nvidia-smi')
      writeFileSync(smi, '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver" >&2\nexit 9\n')
      chmodSync(smi, 0o755)
      const models = await sb.run(['models'])
      expect(models.code).toBe(0)
      expect(models.stderr).toMatch(/^mrs: warning: nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver; assuming the CPU$/m)
      // a launch on that model: the corrupt config.json is said, the client runs without a window
      const launch = await sb.run(['claude', '-m', A])
      expect(launch.code).toBe(0)
      expect(launch.stderr).toMatch(/^mrs: warning: \S+config\.json is not valid JSON \(.*\); the client is not told the model's context window$/m)
      expect(sb.clientLines()).toContain('env CLAUDE_CODE_MAX_CONTEXT_TOKENS=<unset>')
      // an unreadable cache: a file where the hub dir should be
      const hub = join(sb.env.HF_HOME!, 'hub')
      rmSync(hub, { recursive: true })
      writeFileSync(hub, 'not a dir')
      const unreadable = await sb.run(['models'])
      expect(unreadable.code).toBe(0)
      expect(unreadable.stderr).toMatch(/^mrs: warning: cannot read the Hugging Face cache \S+ \(ENOTDIR\)$/m)
    })
  })
})

describe('mrs doctor on the models', () => {
  it('marks a partial download with how far it got, and a configured model that is not downloaded, each with the command that fetches it', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, A)
      cacheModel(sb, 'mistralai/Devstral-Small-2507', { partial: true, bytes: 1000 * 1000 })
      sb.writeConfig('model = "Qwen/Qwen3-Coder-Next"\n')
      const missing = await sb.run(['doctor'])
      expect(missing.stdout).toMatch(/^! models +Hugging Face cache \S+: (Qwen\/Qwen3-4B, )?mistralai\/Devstral-Small-2507 \(partial download, 977 KB of 47 GB\)(, Qwen\/Qwen3-4B)?; the config's model Qwen\/Qwen3-Coder-Next is not downloaded \(160 GB\): its first launch downloads it; a download was left unfinished\n +fix: download it now: mrs serve -m Qwen\/Qwen3-Coder-Next \(Ctrl-C once it is ready\)$/m)
      // the configured model is the partial one
      sb.writeConfig('model = "mistralai/Devstral-Small-2507"\n')
      const partial = await sb.run(['doctor'])
      expect(partial.stdout).toMatch(/^! models +.*; the config's model mistralai\/Devstral-Small-2507 is not fully downloaded: its next launch finishes it\n +fix: finish it now: mrs serve -m mistralai\/Devstral-Small-2507 \(Ctrl-C once it is ready\)$/m)
      // only a partial download, the configured model is there
      sb.writeConfig(`model = "${A}"\n`)
      const other = await sb.run(['doctor', '--json'])
      const models = JSON.parse(other.stdout).checks.find((c: { name: string }) => c.name === 'models')
      expect(models).toMatchObject({ ok: false, blocks: [], fix: 'finish it: mrs serve -m mistralai/Devstral-Small-2507 (Ctrl-C once it is ready)' })
      expect(models.detail).toMatch(/a download was left unfinished$/)
      // all there: nothing to say
      rmSync(join(sb.env.HF_HOME!, 'hub', 'models--mistralai--Devstral-Small-2507'), { recursive: true })
      const fine = await sb.run(['doctor'])
      expect(fine.stdout).toMatch(/^✓ models +Hugging Face cache \S+: Qwen\/Qwen3-4B$/m)
    })
  })
})
