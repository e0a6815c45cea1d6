// Shell integration in real shells: `eval "$(mrs alias)"` in a profile makes
// one alias per preset that runs the right command; the completion scripts
// complete commands, options, preset names, model ids (downloaded and
// recommended), file names and the running servers' ids, in bash, zsh and
// fish, from a `mrs __complete` that does not load mrs.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MRS, waitFor, withSandbox, type Running, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { tmuxPane } from '../helpers/terminal.js'
import { RECOMMENDED } from '../../src/models/recommended.js'

const CONFIG = `[presets.qwen]
model = "Qwen/Qwen3-Coder-Next"
client = "claude"

[presets.small]
model = "Qwen/Qwen3-4B"
client = "codex"
`

/** Puts an `mrs` command on the sandbox PATH, as `npm install -g` would. */
function installMrs(sb: Sandbox): void {
  const shim = join(sb.root, 'bin', 'mrs')
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${MRS}" "$@"\n`)
  chmodSync(shim, 0o755)
}

/** Runs `command` in an interactive shell whose profile evals `mrs alias` (as a user's would). */
function inShell(sb: Sandbox, shell: 'bash' | 'zsh', command: string) {
  const dir = join(sb.root, 'profile')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, '.zshrc'), 'eval "$(mrs alias --shell zsh)"\n')
  writeFileSync(join(dir, 'bashrc'), 'eval "$(mrs alias --shell bash)"\n')
  const args = shell === 'bash' ? ['--rcfile', join(dir, 'bashrc'), '-i', '-c', command] : ['-i', '-c', command]
  return spawnSync(shell, args, { env: { ...sb.env, ZDOTDIR: dir }, cwd: sb.work, encoding: 'utf8', timeout: 30_000, input: '' })
}

describe('mrs alias', () => {
  it('prints an alias per preset for the chosen shell', async () => {
    await withSandbox({}, async (sb) => {
      sb.writeConfig(CONFIG)
      const bash = await sb.run(['alias', '--shell', 'bash'])
      expect(bash.stdout).toBe(`alias mrs-qwen='mrs claude --preset qwen'\nalias mrs-small='mrs codex --preset small'\n`)
      const fish = await sb.run(['alias', '--shell', 'fish'])
      expect(fish.stdout).toBe(`alias mrs-qwen 'mrs claude --preset qwen'\nalias mrs-small 'mrs codex --preset small'\n`)
      expect((await sb.run(['alias', '--shell', 'tcsh'])).code).toBe(64)
    })
  })

  for (const shell of ['bash', 'zsh'] as const) {
    requires(shell)(`eval'd in a real ${shell} profile, runs the right command with extra args`, async () => {
      await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
        sb.writeConfig(CONFIG)
        installMrs(sb)
        const result = inShell(sb, shell, 'mrs-small -q resume --last')
        expect(result.status, result.stderr).toBe(0)
        const start = sb.records().find((r) => r.event === 'start')!
        expect(start.argv).toContain('Qwen/Qwen3-4B')
        const lines = sb.clientLines()
        expect(lines.find((l) => l.startsWith('start '))).toMatch(/^start codex /)
        expect(lines.filter((l) => l.startsWith('arg ')).slice(-2)).toEqual(['arg resume', 'arg --last'])
      })
    })
  }
})

describe('mrs completion', () => {
  requires('bash')('completes commands, options and preset names in bash', async () => {
    await withSandbox({}, async (sb) => {
      sb.writeConfig(CONFIG)
      installMrs(sb)
      const complete = (words: string[]) =>
        execFileSync('bash', ['-c', `source <(mrs completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _mrs; echo "\${COMPREPLY[*]}"`], {
          env: sb.env,
          encoding: 'utf8',
        }).trim()
      expect(complete(['mrs', 'cl'])).toBe('claude')
      expect(complete(['mrs', 'serve', '--web'])).toBe('--web-search')
      expect(complete(['mrs', 'codex', '--preset', ''])).toBe('qwen small')
      expect(complete(['mrs', 'completion', 'z'])).toBe('zsh')
    })
  })

  requires('zsh')('loads in zsh through bashcompinit', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      const out = execFileSync('zsh', ['-c', 'autoload -U compinit && compinit -u; eval "$(mrs completion zsh)"; print ${_comps[mrs]}'], { env: sb.env, encoding: 'utf8' })
      expect(out.trim()).toBe('_bash_complete -o default -F _mrs')
    })
  })
})

/** A finished download in the sandbox's Hugging Face cache, as `mrs models` finds it. */
function cacheModel(sb: Sandbox, id: string): void {
  const repo = join(sb.env.HF_HOME!, 'hub', `models--${id.replace(/\//g, '--')}`)
  mkdirSync(join(repo, 'blobs'), { recursive: true })
  writeFileSync(join(repo, 'blobs', 'weights'), Buffer.alloc(11 * 1024 * 1024))
}

/** `mrs serve` running in the sandbox, and its id as `mrs ps` lists it. */
async function runningServer(sb: Sandbox): Promise<{ serve: Running; id: string }> {
  const serve = sb.start(['serve', '-m', 'Qwen/Qwen3-4B'])
  await serve.waitForStderr(/Press Ctrl-C to stop/)
  const [server] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
  return { serve, id: server.id as string }
}

/** What bash's completion function offers for `words` (the last one being completed), as the shell would split them. */
function bashCompletes(sb: Sandbox, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ')
  const out = execFileSync('bash', ['-c', `source <(mrs completion bash); COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _mrs; printf '%s\\n' "\${COMPREPLY[@]}"`], {
    env: sb.env,
    cwd: sb.work,
    encoding: 'utf8',
  })
  return out.split('\n').filter(Boolean)
}

const RECOMMENDED_IDS = RECOMMENDED.map((r) => r.id)

describe('mrs completion: values', () => {
  requires('bash')('bash: -m, --model and --model= offer the downloaded and the recommended models, not options', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      cacheModel(sb, 'Local/Mine-7B')
      expect(bashCompletes(sb, ['mrs', 'codex', '-m', '']).sort()).toEqual(['Local/Mine-7B', ...RECOMMENDED_IDS].sort())
      expect(bashCompletes(sb, ['mrs', 'claude', '--model', 'Lo'])).toEqual(['Local/Mine-7B'])
      expect(bashCompletes(sb, ['mrs', 'claude', '--small-model', 'Qwen/Qwen3-4'])).toEqual(['Qwen/Qwen3-4B'])
      // bash splits `--model=Lo` at the = (COMP_WORDBREAKS); zsh hands over the whole word, and gets it back whole
      expect(bashCompletes(sb, ['mrs', 'serve', '--model', '=', 'Lo'])).toEqual(['Local/Mine-7B'])
      expect(bashCompletes(sb, ['mrs', 'serve', '--model=Lo'])).toEqual(['--model=Local/Mine-7B'])
      // a path is a local directory: left to the shell's own file completion
      expect(bashCompletes(sb, ['mrs', 'codex', '-m', './'])).toEqual([])
    })
  })

  requires('bash')('bash: a cache directory or a preset named with shell syntax is neither offered nor run', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      mkdirSync(join(sb.env.HF_HOME!, 'hub', 'models--evil--$(touch pwned)'), { recursive: true })
      mkdirSync(join(sb.env.HF_HOME!, 'hub', 'models--evil--`touch pwned`'), { recursive: true })
      sb.writeConfig(`${CONFIG}\n[presets."$(touch pwned)"]\nmodel = "Qwen/Qwen3-4B"\n`)
      const offered = bashCompletes(sb, ['mrs', 'codex', '-m', ''])
      expect(offered.sort()).toEqual([...RECOMMENDED_IDS].sort())
      expect(bashCompletes(sb, ['mrs', 'codex', '--preset', ''])).toEqual(['qwen', 'small'])
      expect(readdirSync(sb.work)).toEqual([])
    })
  })

  requires('bash')('bash: --mrs-config and --config are left to file names, not options', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      writeFileSync(join(sb.work, 'my-config.toml'), '')
      // nothing offered: `complete -o default` then completes file names
      expect(bashCompletes(sb, ['mrs', 'claude', '--mrs-config', ''])).toEqual([])
      expect(bashCompletes(sb, ['mrs', 'doctor', '--config', ''])).toEqual([])
      // the whole `--mrs-config=my` word (zsh) gets whole words back
      expect(bashCompletes(sb, ['mrs', 'claude', '--mrs-config=my'])).toEqual(['--mrs-config=my-config.toml'])
    })
  })

  requires('bash')('bash: mrs stop and mrs logs offer the running servers\' ids', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      expect(bashCompletes(sb, ['mrs', 'stop', ''])).toEqual([])
      const { serve, id } = await runningServer(sb)
      try {
        expect(bashCompletes(sb, ['mrs', 'stop', ''])).toEqual([id])
        expect(bashCompletes(sb, ['mrs', 'logs', id.slice(0, 2)])).toEqual([id])
        expect(bashCompletes(sb, ['mrs', 'stop', '--'])).toEqual(['--all', '--help'])
      } finally {
        serve.kill('SIGINT')
        await serve.done()
      }
    })
  })

  for (const shell of ['bash', 'zsh'] as const) {
    requires(shell, 'tmux')(`${shell} on a real terminal: TAB completes a model id after -m, a file after --mrs-config, a server's id after mrs stop`, async () => {
      await withSandbox({}, async (sb) => {
        installMrs(sb)
        cacheModel(sb, 'Local/Mine-7B')
        writeFileSync(join(sb.work, 'my-config.toml'), '')
        const { serve, id } = await runningServer(sb)
        const term = shellTerminal(sb, shell)
        try {
          const completes = async (typed: string, expected: string) => {
            term.keys('C-u', typed, 'Tab')
            await waitFor(() => term.screen().includes(`$ ${expected}`), 10_000, `"${typed}<TAB>" to become "${expected}"; screen:\n${term.screen()}`)
          }
          // (a screen's lines come without their trailing spaces)
          await waitFor(() => /^\$/m.test(term.screen()), 10_000, `the prompt; screen:\n${term.screen()}`)
          await completes('mrs codex -m Lo', 'mrs codex -m Local/Mine-7B')
          await completes('mrs codex --model=Lo', 'mrs codex --model=Local/Mine-7B')
          await completes('mrs claude --mrs-config my', 'mrs claude --mrs-config my-config.toml')
          await completes('mrs claude --mrs-config=my', 'mrs claude --mrs-config=my-config.toml')
          await completes('mrs stop ', `mrs stop ${id}`)
        } finally {
          term.close()
          serve.kill('SIGINT')
          await serve.done()
        }
      })
    })
  }

  requires('fish')('fish: model ids after -m and --model=, file names after --mrs-config, server ids after mrs stop', async () => {
    await withSandbox({}, async (sb) => {
      installMrs(sb)
      cacheModel(sb, 'Local/Mine-7B')
      writeFileSync(join(sb.work, 'my-config.toml'), '')
      const { serve, id } = await runningServer(sb)
      const complete = (line: string) =>
        execFileSync('fish', ['--no-config', '-c', `mrs completion fish | source; complete -C '${line}'`], { env: sb.env, cwd: sb.work, encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t')[0]!)
      try {
        expect(complete('mrs codex -m ').sort()).toEqual(['Local/Mine-7B', ...RECOMMENDED_IDS].sort())
        expect(complete('mrs codex --model=Lo')).toEqual(['--model=Local/Mine-7B'])
        expect(complete('mrs claude --mrs-config ')).toEqual(['my-config.toml'])
        expect(complete('mrs doctor --config my')).toEqual(['my-config.toml'])
        expect(complete('mrs stop ')).toEqual([id])
      } finally {
        serve.kill('SIGINT')
        await serve.done()
      }
    })
  })
})

describe('mrs __complete', () => {
  it('answers without loading mrs (no code cache is made) and says nothing about a broken registry entry', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(sb.serversDir, { recursive: true })
      const bad = join(sb.serversDir, 'deadbeef.json')
      writeFileSync(bad, '{ not json')
      const servers = await sb.run(['__complete', 'servers'])
      expect(servers).toMatchObject({ code: 0, stdout: '', stderr: '' })
      const models = await sb.run(['__complete', 'models'])
      expect(models).toMatchObject({ code: 0, stderr: '' })
      expect(models.stdout.split('\n').filter(Boolean)).toEqual(RECOMMENDED_IDS)
      // mrs itself would set the entry aside and compile its bundle into the code cache; a TAB does neither
      expect(existsSync(bad)).toBe(true)
      expect(existsSync(join(sb.env.XDG_CACHE_HOME!, 'mrs', 'code'))).toBe(false)
    })
  })
})

/** An interactive shell on a real terminal (tmux), with the completion script loaded as a user's profile would. */
function shellTerminal(sb: Sandbox, shell: 'bash' | 'zsh') {
  const dir = join(sb.root, 'profile')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, '.zshrc'), "autoload -U compinit && compinit -u\neval \"$(mrs completion zsh)\"\nPS1='$ '\n")
  writeFileSync(join(dir, 'bashrc'), "source <(mrs completion bash)\nPS1='$ '\n")
  const socket = join(sb.root, 'shell-tmux.sock')
  const env = Object.entries({ ...sb.env, TERM: 'xterm-256color', ZDOTDIR: dir })
    .map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join(' ')
  const command = shell === 'bash' ? `bash --noprofile --rcfile '${join(dir, 'bashrc')}' -i` : 'zsh -i'
  return tmuxPane(socket, `env -i ${env} ${command}`, sb.work)
}
