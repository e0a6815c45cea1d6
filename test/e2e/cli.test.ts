// End to end through the built CLI with fake clients: help text, the
// context window found in the Hugging Face cache, and what reaches the
// client's argv and environment.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'

function cacheModel(sb: Sandbox, model: string, config: object): void {
  const repo = join(sb.env.HF_HOME!, 'hub', `models--${model.replace('/', '--')}`)
  mkdirSync(join(repo, 'refs'), { recursive: true })
  mkdirSync(join(repo, 'snapshots', 'rev1'), { recursive: true })
  writeFileSync(join(repo, 'refs', 'main'), 'rev1')
  writeFileSync(join(repo, 'snapshots', 'rev1', 'config.json'), JSON.stringify(config))
}

const args = (sb: Sandbox) => sb.clientLines().filter((l) => l.startsWith('arg ')).map((l) => l.slice(4))
const env = (sb: Sandbox, name: string) => sb.clientLines().find((l) => l.startsWith(`env ${name}=`))?.slice(`env ${name}=`.length)

describe('the mrs command line', () => {
  it('explains the argument rule in mrs claude --help', async () => {
    await withSandbox({}, async (sb) => {
      const help = await sb.run(['claude', '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/taken wherever they stand before `--`/)
      expect(help.stdout).toMatch(/passed to claude, in order/)
      expect(help.stdout).toMatch(/--agent, --verbose, -v are claude's own: mrs gives way/)
      expect(help.stdout).toMatch(/claude's own help: mrs claude -- --help \(runs at once, no model loaded\)/)
      expect(sb.serverPids()).toEqual([])
    })
  })

  it('prints its version', async () => {
    await withSandbox({}, async (sb) => {
      const { version } = await import('../../package.json', { with: { type: 'json' } }).then((m) => m.default)
      expect((await sb.run(['--version'])).stdout).toContain(version)
    })
  })

  it('tells Claude the context window from the model\'s config.json in the local HF cache', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, MODEL, { max_position_embeddings: 40960 })
      expect((await sb.run(['claude', '-m', MODEL])).code).toBe(0)
      expect(env(sb, 'CLAUDE_CODE_AUTO_COMPACT_WINDOW')).toBe('40960')
    })
  })

  it('lets --context win over the cache, and tells Codex too', async () => {
    await withSandbox({}, async (sb) => {
      cacheModel(sb, MODEL, { max_position_embeddings: 40960 })
      expect((await sb.run(['codex', '-m', MODEL, '--context', '16384'])).code).toBe(0)
      expect(args(sb)).toContain('model_context_window=16384')
    })
  })

  it('leaves the client\'s default alone when the context is unknown', async () => {
    await withSandbox({}, async (sb) => {
      expect((await sb.run(['claude', '-m', MODEL])).code).toBe(0)
      expect(env(sb, 'CLAUDE_CODE_AUTO_COMPACT_WINDOW')).toBe('<unset>')
    })
  })

  it('hands the client its arguments in order, after the injected ones', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '--continue', '-m', MODEL, '--resume', 'abc-123', '--', '--model', 'X', '-p', 'hi there'])
      expect(result.code).toBe(0)
      // injected: the settings file, and (headless) the per-machine prompt sections moved after the cached part
      expect(args(sb).slice(3)).toEqual(['--continue', '--resume', 'abc-123', '--model', 'X', '-p', 'hi there'])
      expect([args(sb)[0], args(sb)[2]]).toEqual(['--settings', '--exclude-dynamic-system-prompt-sections'])
    })
  })
})

describe('messages that name a setting as the user gave it', () => {
  const readyLine = (stderr: string) => /^mrs: mistral\.rs is ready at .*$/m.exec(stderr)?.[0] ?? ''
  it('the ready line says where the window came from: --context, --context-window, MRS_CONTEXT or the config file', async () => {
    const ways: [string[], Record<string, string>, string | undefined, string][] = [
      [['--context', '32768'], {}, undefined, 'from --context;'],
      [['--context-window', '32768'], {}, undefined, 'from --context-window;'],
      [[], { MRS_CONTEXT: '32768' }, undefined, 'from MRS_CONTEXT;'],
      [[], {}, 'context = 32768\n', 'from context in '],
    ]
    for (const [flags, env, config, from] of ways) {
      await withSandbox({}, async (sb) => {
        if (config) sb.writeConfig(config)
        const result = await sb.run(['claude', '-m', MODEL, ...flags], { env })
        expect(result.code, result.stderr).toBe(0)
        expect(readyLine(result.stderr)).toContain(`context 32k tokens (32768), ${from}`)
      })
    }
  })
})

describe('mrs env against a running server with two models', () => {
  it('gives a client without a slot for the second model the first, instead of blaming a --small-model nobody typed', async () => {
    await withSandbox({}, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL, '--small-model', 'Qwen/Qwen3-0.6B'])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const codex = await sb.run(['env', 'codex'])
      expect(codex.code, codex.stderr).toBe(0)
      expect(codex.stdout).toContain(MODEL)
      expect(codex.stdout).not.toContain('Qwen3-0.6B')
      // a client with the slot still gets both
      expect((await sb.run(['env', 'claude'])).stdout).toContain('Qwen3-0.6B')
      serve.kill('SIGINT')
      expect((await serve.done()).code).toBe(130)
      await expectNoLeftovers(sb)
    })
  })
})

describe("a client's --version after its name", () => {
  it.each([
    ['claude', '--version', /\(Claude Code\)/],
    ['codex', '--version', /^codex-cli \d/m],
    ['codex', '-V', /^codex-cli \d/m],
  ])('mrs %s %s is the client\'s version, at once: no help page, no server', async (name, flag, version) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run([name, flag])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(version)
      expect(result.stdout).not.toMatch(/Usage:/)
      expect(sb.serverPids()).toEqual([])
    })
  })
})

describe('help that says what each command takes', () => {
  const help = async (sb: Sandbox, args: string[]) => {
    const result = await sb.run(args)
    expect(result.code).toBe(0)
    return result.stdout
  }

  it('mrs --help ends with one pointer to the commands\' own help', async () => {
    await withSandbox({}, async (sb) => {
      const text = await help(sb, ['--help'])
      expect(text).not.toMatch(/--help\n\s+\$ mrs \w+ --help/)
      expect(text).not.toMatch(/mrs help --help/)
      expect(text.trimEnd().split('\n').at(-1)).toBe("A command's options and examples: mrs COMMAND --help")
    })
  })

  it('mrs env and mrs setup list no launch options, and say what theirs do there', async () => {
    await withSandbox({}, async (sb) => {
      for (const command of ['env', 'setup']) {
        const text = await help(sb, [command, '--help'])
        expect(text, command).not.toMatch(/Serve a second|--server-host|--timeout|start nothing|Port for mistral\.rs|the server is sized/)
        expect(text, command).toMatch(/--server-port, --port <n> +The port of a server on this machine/)
      }
      expect(await help(sb, ['env', '--help'])).toMatch(/--small-model <id> +The client's small model/)
      // mrs setup writes files only for clients with no slot for a second model
      expect(await help(sb, ['setup', '--help'])).not.toMatch(/--small-model/)
      expect(await help(sb, ['setup', '--help'])).toMatch(/--dry-run +Print the file instead of writing it/)
    })
  })

  it('mrs serve --help speaks of no --url and no single client', async () => {
    await withSandbox({}, async (sb) => {
      const text = await help(sb, ['serve', '--help'])
      expect(text).not.toMatch(/--url|the client\b|client's/)
      expect(text).toMatch(/--timeout <duration> +Give up if the server is not ready in time/)
    })
  })

  it('mrs models and mrs doctor say what --on means for them', async () => {
    await withSandbox({}, async (sb) => {
      for (const command of ['models', 'doctor']) expect(await help(sb, [command, '--help']), command).toMatch(/--on <host> +The models, GPU and mistralrs of this SSH host/)
    })
  })

  it('offers --small-model only to a client with a slot for it', async () => {
    await withSandbox({}, async (sb) => {
      expect(await help(sb, ['claude', '--help'])).toMatch(/--small-model/)
      expect(await help(sb, ['codex', '--help'])).not.toMatch(/--small-model/)
    })
  })
})

describe('the fast path for --help and --version', () => {
  it('answers exactly as mrs itself would, for every command', async () => {
    const { execFileSync } = await import('node:child_process')
    const { MRS, ROOT } = await import('../helpers/sandbox.js')
    const full = (args: string[]) =>
      execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(ROOT, 'dist', 'mrs.cjs'))}).main(${JSON.stringify(args)})`], { encoding: 'utf8' })
    const fast = (args: string[]) => execFileSync(process.execPath, [MRS, ...args], { encoding: 'utf8' })
    const { buildCli } = await import('../../src/cli/parse.js')
    for (const name of ['', ...buildCli().commands.map((c) => c.name)]) {
      const args = name ? [name, '--help'] : ['--help']
      expect(fast(args), args.join(' ')).toBe(full(args))
    }
    expect(fast(['--version'])).toBe(full(['--version']))
    expect(fast(['-h'])).toBe(full(['-h']))
  })
})
