// Shell integration in real shells: `eval "$(mrs alias)"` in a profile makes
// one alias per preset that runs the right command; the completion scripts
// complete commands, options and preset names.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MRS, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'

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
