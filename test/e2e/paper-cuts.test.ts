// What a new user hit, each with the test that would have caught it: a
// client's help and version run at once; what the client would refuse is
// refused before a model loads; a client's own options reach the client even
// where mrs has one of the same name; one message per event and the client's
// exit code; the README's shell lines run as written; help that tells the
// truth.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MRS, ROOT, expectNoLeftovers, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { terminal } from '../helpers/terminal.js'
import { buildCli } from '../../src/cli/parse.js'

const MODEL = 'Qwen/Qwen3-4B'
const started = (sb: Sandbox) => sb.records().filter((r) => r.event === 'start').map((r) => r.argv as string[])
const clientArgs = (sb: Sandbox) => sb.clientLines().filter((l) => l.startsWith('arg ')).map((l) => l.slice(4))

describe('fail before the load, not after it', () => {
  it.each([
    [['--', '--help'], /Usage: claude/],
    [['--', '--version'], /\(Claude Code\)/],
    [['-v'], /\(Claude Code\)/],
  ])('runs claude %j at once: no model, no server', async (args, out) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['claude', ...args])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(out)
      expect(started(sb)).toEqual([])
    })
  })

  describe('codex exec outside a git repository', () => {
    const TRUSTED = (dir: string) => `[projects."${dir}"]\ntrust_level = "trusted"\n`

    it('is refused by the real Codex even for a directory its config trusts: that is why mrs may refuse it first', async () => {
      await withSandbox({ clients: 'real' }, async (sb) => {
        mkdirSync(sb.codexHome, { recursive: true })
        writeFileSync(join(sb.codexHome, 'config.toml'), TRUSTED(sb.work))
        const codex = spawnSync(join(sb.root, 'bin', 'codex'), ['exec', 'hi'], { cwd: sb.work, env: sb.env, encoding: 'utf8', input: '', timeout: 60_000 })
        expect(codex.status).toBe(1)
        expect(codex.stderr).toMatch(/Not inside a trusted directory and --skip-git-repo-check was not specified/)
        // mrs says so before anything starts, with what to add
        const result = await sb.run(['codex', '-m', MODEL, '--', 'exec', 'hi'])
        expect(result.code).toBe(64)
        expect(result.stderr).toMatch(/^mrs: error: codex exec refuses to run outside a git repository \(\S+ is not in one\): add --skip-git-repo-check after exec, or run it inside a git repository$/m)
        expect(started(sb)).toEqual([])
      })
    })

    it('goes ahead inside a git repository, with -C into one, and with --skip-git-repo-check', async () => {
      await withSandbox({}, async (sb) => {
        const repo = join(sb.root, 'repo')
        mkdirSync(join(repo, '.git'), { recursive: true })
        mkdirSync(join(repo, 'src'))
        expect((await sb.run(['codex', '-m', MODEL, '--', 'exec', 'hi'], { cwd: join(repo, 'src') })).code).toBe(0)
        expect((await sb.run(['codex', '-m', MODEL, '--', '-C', repo, 'exec', 'hi'])).code).toBe(0)
        expect((await sb.run(['codex', '-m', MODEL, '--', 'exec', '--skip-git-repo-check', 'hi'])).code).toBe(0)
        expect(started(sb)).toHaveLength(3)
      })
    })
  })
})

describe('a client\'s own options are the client\'s', () => {
  it('mrs claude --agent reviewer chooses Claude\'s agent, and turns on no server-side tools', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--agent', 'reviewer', '--verbose'])
      expect(result.code, result.stderr).toBe(0)
      expect(clientArgs(sb).slice(-3)).toEqual(['--agent', 'reviewer', '--verbose'])
      expect(started(sb)[0]).not.toContain('--agent')
    })
  })

  it('mrs opencode --port 4096 is opencode\'s port; mrs\'s server port is --server-port', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['opencode', '-m', MODEL, '--port', '4096', '--agent', 'build'])
      expect(result.code, result.stderr).toBe(0)
      expect(clientArgs(sb)).toEqual(expect.arrayContaining(['--port', '4096', '--agent', 'build']))
      const argv = started(sb)[0]!
      expect(argv[argv.indexOf('-p') + 1]).not.toBe('4096')
      expect(argv).not.toContain('--agent')
    })
  })

  it('mrs\'s features stay reachable under names no client has: --agent-tools', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--agent-tools'])
      expect(result.code, result.stderr).toBe(0)
      expect(started(sb)[0]).toContain('--agent')
      expect(clientArgs(sb)).not.toContain('--agent-tools')
    })
  })
})

describe('one message per event, and the right exit code', () => {
  it('with --url, the local-server options that do nothing are named in one warning', async () => {
    await withSandbox({}, async (sb) => {
      const { url, child } = await sb.startServer(['serve', '-p', '0', '-m', MODEL])
      try {
        const result = await sb.run(['claude', '--url', url, '--server-port', '5000', '--server-arg=--isq', '--keep-alive', '5s', '--no-share'])
        expect(result.code, result.stderr).toBe(0)
        const warnings = result.stderr.split('\n').filter((l) => l.includes('warning'))
        expect(warnings).toEqual(['mrs: warning: with --url nothing is started here, so --server-port, --server-arg, --keep-alive, --no-share have no effect'])
      } finally {
        child.kill('SIGTERM')
      }
    })
  })

  it('a crash after the client had its answer, with --restarts 0: the client\'s exit code, no second message', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_FAULT: 'crash-after=1' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--restarts', '0', '--', '-p', 'say hi'])
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr.split('\n').filter((l) => /killed by SIGABRT|crashed/.test(l)).length).toBeLessThanOrEqual(1)
      await expectNoLeftovers(sb)
    })
  })

  it('a client that exits on its own just after the server is gone for good keeps its exit code (it gets 2 s)', async () => {
    // the fake client ends by itself 1 s after it starts; the server dies first, and --restarts 0 gives up at once
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:1', FAKE_MISTRALRS_FAULT: 'crash-on-usr1' } }, async (sb) => {
      const mrs = sb.start(['claude', '-m', MODEL, '--restarts', '0'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 15_000, 'the client')
      process.kill(sb.serverPids()[0]!, 'SIGUSR1')
      const result = await mrs.done()
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr.match(/mrs: error: .*not restarted \(--restarts 0\)/g)).toHaveLength(1)
      await expectNoLeftovers(sb)
    })
  })

  it.each([
    ['SIGINT', 'Ctrl-C', 130],
    ['SIGTERM', 'SIGTERM', 143],
  ] as const)('mrs serve stopped by %s says it stopped the server', async (signal, said, code) => {
    await withSandbox({}, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      serve.kill(signal)
      const result = await serve.done()
      expect(result.code).toBe(code)
      expect(result.stderr).toMatch(new RegExp(`^mrs: stopping the server \\(${said}\\)$`, 'm'))
      await expectNoLeftovers(sb)
    })
  })

  requires('tmux')('a restart while the client owns the terminal is said after it exits, not drawn over it, and not as an error', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:4', FAKE_MISTRALRS_FAULT: 'crash-on-usr1' } }, async (sb) => {
      const term = terminal(sb, ['claude', '-m', MODEL])
      try {
        await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 15_000, 'the client')
        process.kill(sb.serverPids()[0]!, 'SIGUSR1')
        await waitFor(() => started(sb).length === 2, 15_000, 'the server to be restarted')
        await waitFor(() => sb.records().filter((r) => r.event === 'listening').length === 2, 10_000, 'the restarted server to listen')
        expect(term.screen()).not.toMatch(/restarted|exited with code/)
        await waitFor(() => term.exitCode() !== undefined, 15_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(0)
        const screen = term.screen().replace(/\n/g, '')
        expect(screen).toMatch(/mrs: while claude ran: mistral\.rs was killed by SIGABRT .*; restarted it on the same port \(1\/2\)/)
        expect(screen).not.toMatch(/mrs: error/)
      } finally {
        term.close()
      }
      await expectNoLeftovers(sb, 5000)
    })
  })

  it('--timeout 0 means no timeout', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '400' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--timeout', '0'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).not.toMatch(/not ready within/)
    })
  })
})

describe('the README\'s shell lines, run as written', () => {
  /** The lines of the README's `mrs env` block, each with what makes an interactive client answer once and exit. */
  function readmeLines(): string[] {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('### Without mrs in the loop'))
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!
    return block
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, ''))
  }

  requires('bash')('points each client at a running server: eval "$(mrs env …)", codex $(mrs env codex …), mrs setup codex', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const shim = join(sb.root, 'bin', 'mrs')
      writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${MRS}" "$@"\n`, { mode: 0o755 })
      const { url, child } = await sb.startServer(['serve', '-p', '0', '-m', MODEL])
      const port = new URL(url).port
      try {
        const lines = readmeLines()
        expect(lines).toHaveLength(4)
        // what a user types next in each interactive client, made one-shot
        const oneShot = [(l: string) => `${l} -p "say hi"`, (l: string) => l, (l: string) => `${l} run "say hi"`, (l: string) => `${l} exec --skip-git-repo-check "say hi"`]
        for (const [i, line] of lines.entries()) {
          const command = oneShot[i]!(line.replaceAll('http://127.0.0.1:1234', url).replaceAll('--port 1234', `--port ${port}`))
          const result = spawnSync('bash', ['-c', command], { cwd: sb.work, env: sb.env, encoding: 'utf8', input: '', timeout: 120_000 })
          expect(result.status, `${command}\n${result.stderr}`).toBe(0)
          expect(result.stdout, command).toContain('Hello from fake mistral.rs')
        }
      } finally {
        child.kill('SIGTERM')
      }
      await waitFor(() => sb.leftovers().length === 0, 10_000, 'the server to stop')
    })
  })

  it('mrs env codex prints -c flags that need no shell quoting', async () => {
    await withSandbox({}, async (sb) => {
      const out = execFileSync(process.execPath, [MRS, 'env', 'codex', '--url', 'http://127.0.0.1:1234'], { env: sb.env, encoding: 'utf8' })
      // unquoted $(...) splits at whitespace and keeps quotes: so no value has a space, and every
      // word is -c or key=TOML (whose own quotes Codex parses), never a shell-quoted word
      const words = out.trim().split(/\s+/)
      words.forEach((word, i) => expect(word).toMatch(i % 2 === 0 ? /^-c$/ : /^[\w.]+=[^'\s]+$/))
      expect(words).toContain('model_providers.mrs.name="mistral.rs"')
    })
  })
})

describe('help that tells the truth', () => {
  it('each command\'s help is titled with the command', async () => {
    await withSandbox({}, async (sb) => {
      for (const { name } of buildCli().commands) {
        const result = await sb.run([name, '--help'])
        expect(result.code, name).toBe(0)
        expect(result.stdout.split('\n')[0], name).toMatch(new RegExp(`^mrs ${name} — `))
      }
    })
  })

  it('--no-share says what the default is, without "(default: true)"', async () => {
    await withSandbox({}, async (sb) => {
      const help = (await sb.run(['claude', '--help'])).stdout
      expect(help).toMatch(/--no-share +Start a private server \(by default one is shared with other mrs sessions\)/)
      expect(help).not.toMatch(/default: true/)
    })
  })

  it('mrs env --help lists only what changes its output', async () => {
    await withSandbox({}, async (sb) => {
      const help = (await sb.run(['env', '--help'])).stdout
      for (const useless of ['--keep-alive', '--restarts', '--grace', '--timeout', '--dry-run', '--server-log', '--check', '--mistralrs']) expect(help).not.toContain(useless)
    })
  })

  it('mrs alias without presets says how to add one, and where it is explained', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['alias'])
      expect(result.code).toBe(0)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(/^mrs: no presets in \S+config\.toml; add a \[presets\.NAME\] section with a model and a client \(mrs --help, under Configuration\)$/m)
      expect((await sb.run(['--help'])).stdout).toMatch(/^Configuration:\n.*\[presets\.NAME\]/m)
    })
  })
})
