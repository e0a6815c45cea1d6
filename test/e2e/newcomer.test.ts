// A newcomer's third walk (issue 22): what a new user met following the
// README, each fixed and kept so. Protects: `mrs env`/`mrs setup` and the
// --url forms name the model the server really serves and its window, and a
// dry run prints what the launch runs; context advice never past what the
// model takes; the "to continue" line names the model and shows only after a
// conversation; a client stopped because its server went away gets the
// terminal back before mrs says why; Codex gets a model catalog from `env`
// and `setup` too, and setup keeps one backup; a missing client is offered
// for install on a terminal.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { FAKE_CLIENTS, expectNoLeftovers, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { terminal } from '../helpers/terminal.js'

const MODEL = 'Qwen/Qwen3-4B'
const CONFIG_MODEL = 'Qwen/Qwen3-Coder-Next'

/** `mrs serve` on a port of the test's, with the config naming another model; resolves once it serves. */
async function serveOn(sb: Sandbox, extra: string[] = []) {
  sb.writeConfig(`model = "${CONFIG_MODEL}"\n`)
  const serve = sb.start(['serve', '-m', MODEL, ...extra])
  const m = await serve.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:(\d+)) with a (\d+)-token context/, 20_000)
  return { serve, url: m[1]!, port: m[2]!, context: Number(m[3]) }
}

const exported = (text: string, name: string) => new RegExp(`^export ${name}=(.*)$`, 'm').exec(text)?.[1]

describe('mrs env and mrs setup: the running server\'s model, not the config\'s', () => {
  it('env for every form of pointing at a server (--server-port, --url, none) names what it serves and its window', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '32768' } }, async (sb) => {
      const { serve, url, port, context } = await serveOn(sb)
      for (const args of [['--server-port', port], ['--url', url], [], ['--url', url.replace('127.0.0.1', 'localhost')]]) {
        const claude = await sb.run(['env', 'claude', ...args])
        expect(claude.code, claude.stderr).toBe(0)
        for (const tier of ['', '_DEFAULT_OPUS', '_DEFAULT_SONNET', '_DEFAULT_HAIKU']) expect(exported(claude.stdout, `ANTHROPIC${tier}_MODEL`), args.join(' ')).toBe(MODEL)
        expect(exported(claude.stdout, 'CLAUDE_CODE_MAX_CONTEXT_TOKENS')).toBe(String(context))
        const codex = await sb.run(['env', 'codex', ...args])
        expect(codex.stdout).toContain(`model="${MODEL}"`)
        expect(codex.stdout).toContain(`model_context_window=${context}`)
      }
      serve.kill('SIGTERM')
      await serve.done()
    })
  })

  it('env against a server mrs did not start asks it what it serves', async () => {
    await withSandbox({}, async (sb) => {
      sb.writeConfig(`model = "${CONFIG_MODEL}"\n`)
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Other'], { FAKE_MISTRALRS_LOAD_MS: '0' })
      const result = await sb.run(['env', 'claude', '--url', url])
      expect(exported(result.stdout, 'ANTHROPIC_MODEL')).toBe('Qwen/Other')
      expect(result.stderr).toMatch(/serves Qwen\/Other \(the only one it serves\)/)
    })
  })

  it('setup codex writes the served model, its window and a catalog beside the profile; once more keeps one backup', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '32768' } }, async (sb) => {
      const { serve, port, context } = await serveOn(sb)
      const profile = join(sb.codexHome, 'mistralrs.config.toml')
      writeFileSync(profile, '# the user\'s own, from before\n')
      const result = await sb.run(['setup', 'codex', '--server-port', port])
      expect(result.code, result.stderr).toBe(0)
      const text = readFileSync(profile, 'utf8')
      expect(text).toContain(`model = "${MODEL}"`)
      expect(text).toContain(`model_context_window = ${context}`)
      expect(text).toContain(`# Start the server with: mrs serve -m ${MODEL} --port ${port}`)
      // Codex's own description of the model (from `codex debug models --bundled`), named by the profile
      const catalog = join(sb.codexHome, 'mistralrs-models.json')
      expect(text).toContain(`model_catalog_json = "${catalog}"`)
      expect(JSON.parse(readFileSync(catalog, 'utf8')).models[0]).toMatchObject({ slug: MODEL, display_name: 'Qwen3-4B', context_window: context })
      // again, for a server with another window: the first backup stays the user's file, and there is one
      serve.kill('SIGTERM')
      await serve.done()
      const again = await sb.run(['setup', 'codex', '--server-port', port, '--context-window', '8192'])
      expect(again.code, again.stderr).toBe(0)
      await sb.run(['setup', 'codex', '--server-port', port, '--context-window', '4096'])
      expect(readdirSync(sb.codexHome).filter((n) => n.startsWith('mistralrs.config.toml.bak'))).toEqual(['mistralrs.config.toml.bak'])
    })
  })

  it('the real codex, run with `mrs env codex`\'s flags, finds the model in the catalog (no "Model metadata … not found")', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_PA_TOKENS: '32768' } }, async (sb) => {
      const { serve } = await serveOn(sb)
      const flags = (await sb.run(['env', 'codex'])).stdout.trim().split(/\s+/)
      expect(flags.join(' ')).toMatch(/model_catalog_json=\S+codex-catalog-[0-9a-f]{16}\.json/)
      const codex = spawnSync(join(sb.root, 'bin', 'codex'), [...flags, '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi'], { cwd: sb.work, env: sb.env, encoding: 'utf8', timeout: 60_000 })
      expect(codex.status, codex.stderr).toBe(0)
      expect(codex.stdout).toContain('Hello from fake mistral.rs')
      expect(codex.stderr).not.toMatch(/Model metadata/)
      serve.kill('SIGTERM')
      await serve.done()
    })
  })
})

describe('--url: what the launch will really use', () => {
  it('a dry run prints the model the server serves and, for a server of mrs\'s, its window', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '32768' } }, async (sb) => {
      const { serve, url, context } = await serveOn(sb)
      const dry = await sb.run(['codex', '--url', url, '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(new RegExp(`^server: +${url} \\(already running; nothing is started\\): model ${MODEL.replace('/', '\\/')}, the only one it serves; context ${Math.round(context / 1024)}k tokens \\(${context}\\)$`, 'm'))
      expect(dry.stdout).toContain(`model="${MODEL}"`)
      expect(dry.stdout).not.toContain('model="default"')
      // the launch itself tells the client that window too
      const run = await sb.run(['claude', '--url', url], { env: { FAKE_CLIENT_MODE: 'exit:0' } })
      expect(run.code, run.stderr).toBe(0)
      expect(sb.clientLines()).toContain(`env CLAUDE_CODE_MAX_CONTEXT_TOKENS=${context}`)
      serve.kill('SIGTERM')
      await serve.done()
    })
  })
})

describe('the context window against what the model takes', () => {
  // the model's config.json says 40,960 (max_position_embeddings); the server's KV cache holds 8,192
  const env = { FAKE_MISTRALRS_CONFIG_CONTEXT: '40960', FAKE_MISTRALRS_PA_TOKENS: '8192', FAKE_CLIENT_MODE: 'exit:0' }
  it('advice to raise it never goes past the model\'s own maximum', async () => {
    await withSandbox({ env }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/the context window is 8192 tokens, but Claude Code needs about 40000 .* raise it with --context-window 40960 /)
    })
  })
  it('--context-window past it is said, with the most it takes', async () => {
    await withSandbox({ env }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--context-window', '65536'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/warning: --context-window 65536 is more than Qwen\/Qwen3-4B takes \(40960 tokens, max_position_embeddings in its config\.json\)/)
    })
  })
})

describe('on a terminal (tmux; .ci/run installs it)', () => {
  requires('tmux')('the "to continue" line names the model when the command did not, and shows only after a conversation', async () => {
    await withSandbox({ env: { MRS_MODEL: MODEL } }, async (sb) => {
      for (const [mode, shown] of [['ask', true], ['exit:0', false]] as const) {
        const term = terminal(sb, ['claude'], { FAKE_CLIENT_MODE: mode })
        try {
          await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
          const screen = term.screen()
          expect(term.exitCode(), screen).toBe(0)
          if (shown) expect(screen.replace(/\n/g, '')).toMatch(/to continue this session on the local model: mrs claude -m Qwen\/Qwen3-4B -- --continue \(not Claude Code's own resume command, which would not start the server\)/)
          else expect(screen).not.toMatch(/to continue/)
        } finally {
          term.close()
        }
        await expectNoLeftovers(sb, 5000)
      }
    })
  })

  requires('tmux')('mrs stop under a full-screen client: the client is stopped, the terminal restored, then mrs says why', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'tui:60' } }, async (sb) => {
      const term = terminal(sb, ['claude', '-m', MODEL])
      try {
        await waitFor(() => term.screen().includes('FAKE TUI') && term.modes().alternateScreen, 20_000, `the client's screen; screen:\n${term.screen()}`)
        expect((await sb.run(['stop'])).code).toBe(0)
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(70)
        // the client's screen and modes are gone, and mrs's line is on the shell's own screen, after it
        expect(term.modes()).toEqual({ alternateScreen: false, cursorVisible: true })
        const screen = term.screen()
        expect(screen).not.toContain('FAKE TUI')
        expect(screen).toMatch(/mrs: error: the server was stopped with mrs stop; log: /)
      } finally {
        term.close()
      }
      await expectNoLeftovers(sb, 5000)
    })
  })

  requires('tmux')('a client that is not installed is offered for install, then used; declined, exit 127 with the command', async () => {
    await withSandbox({ clients: 'none', env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      // an npm whose `install -g @openai/codex` puts a codex on PATH, as the real one does
      const bin = join(sb.root, 'bin')
      mkdirSync(bin, { recursive: true })
      writeFileSync(join(bin, 'npm'), `#!/bin/sh\necho "npm $*" >> '${join(sb.root, 'npm.log')}'\n[ "$*" = "install -g @openai/codex" ] && ln -s '${join(FAKE_CLIENTS, 'client')}' '${join(bin, 'codex')}'\necho "added 1 package"\n`)
      chmodSync(join(bin, 'npm'), 0o755)
      const declined = terminal(sb, ['codex', '-m', MODEL])
      try {
        await waitFor(() => /The Codex CLI is not installed\. Install it now \(npm install -g @openai\/codex\)\?/.test(declined.screen()), 20_000, `the offer; screen:\n${declined.screen()}`)
        declined.keys('Right', 'Enter')
        await waitFor(() => declined.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${declined.screen()}`)
        expect(declined.exitCode()).toBe(127)
        expect(declined.screen()).toMatch(/codex not found on PATH; install it: npm install -g @openai\/codex/)
        expect(existsSync(join(sb.root, 'npm.log'))).toBe(false)
      } finally {
        declined.close()
      }
      const accepted = terminal(sb, ['codex', '-m', MODEL])
      try {
        await waitFor(() => /Install it now/.test(accepted.screen()), 20_000, `the offer; screen:\n${accepted.screen()}`)
        accepted.keys('Enter')
        await waitFor(() => accepted.exitCode() !== undefined, 30_000, `mrs to exit; screen:\n${accepted.screen()}`)
        expect(accepted.exitCode(), accepted.screen()).toBe(0)
        expect(readFileSync(join(sb.root, 'npm.log'), 'utf8')).toBe('npm install -g @openai/codex\n')
        expect(accepted.screen()).toMatch(/installed the Codex CLI; going on/)
        expect(sb.clientLines().some((l) => l.startsWith('start codex '))).toBe(true)
      } finally {
        accepted.close()
      }
      await expectNoLeftovers(sb, 5000)
    })
  })
})

// the real Codex TUI, as reported: its footer must not be left on the screen with the shell prompt in it
describe('the real Codex TUI when its server is stopped (tmux)', () => {
  requires('tmux')('Codex is stopped and the terminal restored before mrs\'s line', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const term = terminal(sb, ['codex', '-m', MODEL, '--', '--disable', 'plugins'])
      try {
        await waitFor(() => /Ask Codex to do anything/.test(term.screen()), 30_000, `Codex's prompt; screen:\n${term.screen()}`)
        expect((await sb.run(['stop'])).code).toBe(0)
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(70)
        expect(term.modes()).toEqual({ alternateScreen: false, cursorVisible: true })
        // mrs's line is the last thing on the screen (wrapped at the pane's width), nothing of Codex after it
        expect(term.screen().trimEnd().replace(/\n/g, '')).toMatch(/mrs: error: the server was stopped with mrs stop; log: \S+\.log$/)
      } finally {
        term.close()
      }
      await expectNoLeftovers(sb, 5000)
    })
  })
})
