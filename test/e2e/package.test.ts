// The README's install command, run as written, in the shells it is pasted into. Stand-ins
// (test/fixtures/install/) take the place of what must not run here — `npm ci` and `npm run build`
// (they would rewrite the node_modules and dist/ other tests run from), the network (curl, the
// clients' installs) and the final `mrs doctor && mrs codex` — and record each step. The install
// of mrs itself is the real npm's: into a temp prefix, with its own cache and config, offline, from a
// copy of the checkout that is deleted before the installed mrs runs.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect } from 'vitest'
import { requires } from '../helpers/requires.js'
import { expectNoLeftovers, FAKE_CLIENTS, MRS, ROOT, Running, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { sharedFixtures } from '../helpers/shared-fixtures.js'

const STAND_INS = join(ROOT, 'test', 'fixtures', 'install')
const MODEL = 'Qwen/Qwen3-4B'
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }

/** The README's "Install and run" command, as a user pastes it. */
function installCommand(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const block = readme.slice(readme.indexOf('**Install and run**')).match(/```sh\n([\s\S]*?)\n```/)
  if (!block) throw new Error('README.md: no sh block after **Install and run**')
  return block[1]!
}

/** A copy of the checkout as a user has it after cloning (and the build the test run made), without node_modules. */
function copyCheckout(to: string): string {
  const skip = new Set(['node_modules', '.git', 'coverage', '.vitest-tmp'])
  cpSync(ROOT, to, { recursive: true, filter: (src) => !skip.has(relative(ROOT, src).split('/')[0]!) })
  return to
}

interface Chain {
  code: number | null
  stderr: string
  steps: string[]
}

/** Runs the install command with `shell -c` in `cwd`, the stand-ins first on PATH; `env` adds to the sandbox's. */
async function runInstallCommand(sb: Sandbox, shell: string, cwd: string, env: Record<string, string> = {}): Promise<Chain> {
  const record = join(sb.root, 'chain.txt')
  writeFileSync(record, '')
  const child = spawn(shell, ['-c', installCommand()], {
    cwd,
    env: { ...sb.env, PATH: [STAND_INS, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'), CHAIN_RECORD: record, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const { code, stderr } = await new Running(child).done(60_000)
  return { code, stderr, steps: readFileSync(record, 'utf8').split('\n').filter(Boolean) }
}

/** Every file and symlink under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name)
    return e.isDirectory() ? walk(full, base) : [relative(base, full)]
  })
}

describe('the README install command', () => {
  for (const shell of ['bash', 'zsh', 'sh'] as const) {
    requires(...(shell === 'sh' ? [] : [shell]))(`${shell}: a failed download of the mistral.rs installer stops the command there, with curl's error`, async () => {
      await withSandbox({ clients: 'none', mistralrs: false }, async (sb) => {
        const chain = await runInstallCommand(sb, shell, sb.work, { FAKE_CURL: 'offline' })
        expect(chain.code).not.toBe(0)
        expect(chain.stderr).toMatch(/^curl: \(6\) Could not resolve host: raw\.githubusercontent\.com$/m)
        // nothing after the download ran: no installer, no client install, no mrs doctor
        expect(chain.steps.at(-1)).toMatch(/^curl .*mistral\.rs.*install\.sh/)
        expect(chain.steps.filter((s) => s.startsWith('curl '))).toHaveLength(1)
        await expectNoLeftovers(sb)
      })
    })
  }

  requires('bash')('installs a copy of mrs that needs neither the checkout nor the registry: --version, --help and a launch run with the checkout gone', async () => {
    await withSandbox({ clients: 'none', mistralrs: false }, async (sb) => {
      const checkout = copyCheckout(join(sb.root, 'checkout'))
      const prefix = join(sb.root, 'prefix')
      const emptyConfig = join(sb.root, 'npmrc')
      writeFileSync(emptyConfig, '')
      const npm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()
      const chain = await runInstallCommand(sb, 'bash', checkout, {
        REAL_NPM: npm,
        // nothing global or of the user's: a prefix, cache and config of the test's own, and no network
        npm_config_prefix: prefix,
        npm_config_cache: join(sb.root, 'npm-cache'),
        npm_config_userconfig: emptyConfig,
        npm_config_globalconfig: join(sb.root, 'npmrc-global'),
        npm_config_offline: 'true',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_update_notifier: 'false',
      })
      expect(chain.stderr).not.toMatch(/npm error/)
      expect(chain.code).toBe(0)
      // every step ran, in order; mrs doctor finds the mistralrs the installer put in ~/.local/bin
      expect(chain.steps.map((s) => s.split(' ')[0])).toEqual(['npm', 'npm', 'npm', 'curl', 'installer', 'npm', 'mrs', 'mrs'])
      expect(chain.steps.at(-2)).toBe(`mrs doctor (mistralrs: ${join(sb.home, '.local', 'bin', 'mistralrs')})`)

      // a copy, not a link: what the package holds is what `npm pack` puts in it, and nothing else
      const installed = join(prefix, 'lib', 'node_modules', 'mrs')
      expect(lstatSync(installed).isSymbolicLink()).toBe(false)
      expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'dist', 'package.json'])
      const files = walk(installed)
      for (const needed of ['bin/mrs.cjs', 'dist/boot.cjs', 'dist/mrs.cjs', 'dist/keeper.cjs', 'dist/statusline.cjs', 'dist/help.json']) expect(files).toContain(needed)
      // nothing installed points into the checkout (or the copy it was installed from)
      for (const file of walk(prefix)) {
        const full = join(prefix, file)
        if (lstatSync(full).isSymbolicLink()) expect(resolve(dirname(full), readlinkSync(full)).startsWith(prefix + '/'), `${file} → ${readlinkSync(full)}`).toBe(true)
        else {
          const text = readFileSync(full, 'utf8')
          expect(text.includes(ROOT) || text.includes(checkout), `${file} names the checkout`).toBe(false)
        }
      }
      rmSync(checkout, { recursive: true, force: true })

      // the installed mrs, with the checkout out of reach: a PATH and cwd outside it, the fakes copied out of it
      const tools = join(sb.root, 'tools')
      mkdirSync(tools)
      // the fake mistralrs and what it imports, copied out of the checkout (test/helpers/shared-fixtures.ts)
      symlinkSync(join(sharedFixtures(), 'bin', 'mistralrs'), join(tools, 'mistralrs'))
      copyFileSync(join(FAKE_CLIENTS, 'client'), join(tools, 'claude'))
      chmodSync(join(tools, 'claude'), 0o755)
      const path = [join(prefix, 'bin'), tools, dirname(process.execPath), '/usr/bin', '/bin']
      expect(path.filter((dir) => dir.startsWith(ROOT))).toEqual([])
      const mrs = (args: string[]) =>
        new Running(spawn(join(prefix, 'bin', 'mrs'), args, { cwd: sb.work, env: { ...sb.env, PATH: path.join(':') }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })).done(45_000)

      const shown = await mrs(['--version'])
      expect(shown).toMatchObject({ code: 0, stdout: `mrs ${version}\n` })
      const help = await mrs(['--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toBe(execFileSync(process.execPath, [MRS, '--help'], { encoding: 'utf8' }))
      const launch = await mrs(['claude', '-m', MODEL, '--', '-p', 'hi'])
      expect(launch.code, launch.stderr).toBe(0)
      expect(sb.serverPids()).toHaveLength(1)
      const client = sb.clientLines()
      expect(client[0]).toMatch(/^start claude /)
      expect(client.slice(client.indexOf('arg -p'), client.indexOf('arg -p') + 2)).toEqual(['arg -p', 'arg hi'])
      await expectNoLeftovers(sb, 3000)
      expect(existsSync(checkout)).toBe(false)
    })
  })
})
