// What an adversarial pass found, each attack reproduced: forged state files,
// a temp root another user prepared, stale locks, stopped keepers, and limits.
// docs/reliability.md lists them in its attack table (a unit test keeps the
// two in step). Tests that need root (another user's files, a read-only
// mount) say so and are skipped elsewhere; CI runs as root.
import { execFileSync, spawn } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FAKE_BIN, ROOT, expectNoLeftovers, isAlive, sleep, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { impostor } from '../helpers/impostor.js'
import { terminal } from '../helpers/terminal.js'
import { statusLineCommand } from '../../src/runtime.js'
import { shareKey } from '../../src/server/spec.js'
import { requires } from '../helpers/requires.js'

const MODEL = 'Qwen/Qwen3-4B'
const uid = process.getuid!()
const tmpRoot = (sb: Sandbox) => join(sb.tmp, `mrs-${uid}`)

/** Like `setsid sleep 1000` (detached: a session and group of its own): unrelated, alive, and it must survive whatever mrs reads. */
async function bystander(): Promise<number> {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore', detached: true })
  child.unref()
  await waitFor(() => {
    try {
      return readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').startsWith('sleep')
    } catch {
      return false
    }
  }, 5000, 'the bystander to start')
  return child.pid!
}

describe('a state file never makes mrs kill or delete what is not its own', () => {
  it('the forged entry of the report: argv [], a live unrelated group, a socket path at a user file', async () => {
    await withSandbox({}, async (sb) => {
      const victim = await bystander()
      try {
        const userFile = join(sb.home, 'precious.txt')
        writeFileSync(userFile, 'mine')
        mkdirSync(sb.serversDir, { recursive: true })
        const forged = { id: 'bbbb2222', key: null, shared: false, keeperPid: 2 ** 22 + 7, serverPid: victim, port: 9, host: '127.0.0.1', url: 'http://127.0.0.1:9', models: [MODEL], binary: 'sleep', argv: [], logPath: null, socketPath: userFile, startedAt: 1, state: 'ready', restarts: 0, sessions: 1 }
        writeFileSync(join(sb.serversDir, 'bbbb2222.json'), JSON.stringify(forged))
        const ps = await sb.run(['ps'])
        expect(ps.code).toBe(0)
        expect(ps.stderr).toMatch(/warning: ignored an invalid server entry \(.*bad argv.*bad socketPath.*\); moved it to \S+bbbb2222\.json\.bad/)
        expect(isAlive(victim)).toBe(true)
        expect(readFileSync(userFile, 'utf8')).toBe('mine')
        // set aside, never fatal: the next command runs as usual
        expect((await sb.run(['ps', '--json'])).code).toBe(0)
      } finally {
        process.kill(-victim, 'SIGKILL')
      }
    })
  })

  it('a well-formed entry whose server command matches a live process, but not its start time: nothing is killed', async () => {
    await withSandbox({}, async (sb) => {
      const victim = await bystander()
      try {
        mkdirSync(sb.serversDir, { recursive: true })
        const forged = {
          id: 'cccc3333', key: null, shared: false, keeperPid: 2 ** 22 + 7, place: { kind: 'local' }, serverPid: victim, serverStart: '1', port: 9, host: '127.0.0.1', url: 'http://127.0.0.1:9',
          family: null, models: [MODEL], binary: 'sleep', argv: ['1000'], logPath: null, socketPath: join(sb.serversDir, 'cccc3333.sock'), tmpDir: join(tmpRoot(sb), 'server-cccc3333'),
          startedAt: 1, state: 'ready', restarts: 0, sessions: 1,
        }
        writeFileSync(join(sb.serversDir, 'cccc3333.json'), JSON.stringify(forged))
        const ps = await sb.run(['ps', '--json'])
        expect(JSON.parse(ps.stdout)).toEqual([])
        expect(isAlive(victim)).toBe(true)
        // the stale entry itself (inside mrs's own dir) is cleaned up
        expect(readdirSync(sb.serversDir)).toEqual([])
      } finally {
        process.kill(-victim, 'SIGKILL')
      }
    })
  })

  it('an entry with a missing field, or a directory named *.json, is set aside; launches go on', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      mkdirSync(join(sb.serversDir, 'dddd4444.json'), { recursive: true })
      writeFileSync(join(sb.serversDir, 'eeee5555.json'), JSON.stringify({ id: 'eeee5555', keeperPid: 1 }))
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(0)
      expect(result.stderr.match(/warning: ignored an invalid server entry/g)).toHaveLength(2)
      expect(readdirSync(sb.serversDir).sort()).toEqual(['dddd4444.json.bad', 'eeee5555.json.bad'])
    })
  })
})

describe('a temp root that is not mrs\'s own is never used', () => {
  it('a symlink planted at $TMPDIR/mrs-<uid>: refused with one line, exit 73, nothing started', async () => {
    await withSandbox({}, async (sb) => {
      const theirs = join(sb.root, 'attacker')
      mkdirSync(theirs)
      symlinkSync(theirs, tmpRoot(sb))
      const result = await sb.run(['codex', '-m', MODEL])
      expect(result.code).toBe(73)
      expect(result.stderr.trim()).toMatch(/^mrs: error: mrs cannot use \S+\/mrs-\d+: it is a symbolic link, which anyone who made it could point elsewhere; /)
      expect(readdirSync(theirs)).toEqual([])
      expect(sb.serverPids()).toEqual([])
    })
  })

  requires('root')('a directory another user pre-created (mode 777): refused, exit 73, nothing written into it', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(tmpRoot(sb), { mode: 0o777 })
      chmodSync(tmpRoot(sb), 0o777)
      chownSync(tmpRoot(sb), 4242, 4242)
      const result = await sb.run(['codex', '-m', MODEL])
      expect(result.code).toBe(73)
      expect(result.stderr).toMatch(/it belongs to another user \(uid 4242\), not to you/)
      expect(readdirSync(tmpRoot(sb))).toEqual([])
      expect(sb.serverPids()).toEqual([])
    })
  })
})

describe('state directories', () => {
  it('a state path that is a file: one line naming it, exit 73', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(join(sb.stateDir, '..'), { recursive: true })
      writeFileSync(sb.stateDir, 'not a directory')
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(73)
      const errors = result.stderr.trim().split('\n')
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/^mrs: error: mrs cannot use \S+\/state\/mrs\/servers: it \(or a directory above it\) is a file; /)
      expect(sb.serverPids()).toEqual([])
    })
  })

  requires('root')('an unwritable state dir (a read-only mount): one line naming it, exit 73', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(sb.serversDir, { recursive: true, mode: 0o700 })
      execFileSync('mount', ['--bind', sb.serversDir, sb.serversDir])
      try {
        execFileSync('mount', ['-o', 'remount,bind,ro', sb.serversDir])
        const result = await sb.run(['claude', '-m', MODEL])
        expect(result.code).toBe(73)
        expect(result.stderr.trim()).toMatch(/^mrs: error: mrs cannot use \S+\/servers: it is not writable; /)
        expect(sb.serverPids()).toEqual([])
      } finally {
        execFileSync('umount', [sb.serversDir])
      }
    })
  })
})

describe('stalls', () => {
  /** The lock file a launch of MODEL takes while it starts the server. */
  const lockOf = (sb: Sandbox) =>
    join(sb.serversDir, `${shareKey({ binary: join(FAKE_BIN, 'mistralrs'), models: [MODEL], host: '127.0.0.1', tools: { webSearch: false, codeExecution: false, shell: false, agent: false }, serverArgs: [] })}.lock`)

  it('an empty lock file left by a crash is broken, not waited on', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      mkdirSync(sb.serversDir, { recursive: true })
      writeFileSync(lockOf(sb), '')
      const past = new Date(Date.now() - 10_000)
      utimesSync(lockOf(sb), past, past)
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(0)
      expect(result.stderr).not.toMatch(/waiting for/)
      expect(sb.serverPids()).toHaveLength(1)
    })
  })

  it('a lock naming a live process that is not mrs is broken, not waited on', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const victim = await bystander()
      try {
        mkdirSync(sb.serversDir, { recursive: true })
        writeFileSync(lockOf(sb), String(victim))
        const result = await sb.run(['claude', '-m', MODEL])
        expect(result.code).toBe(0)
        expect(result.stderr).not.toMatch(/waiting for/)
        expect(isAlive(victim)).toBe(true)
      } finally {
        process.kill(-victim, 'SIGKILL')
      }
    })
  })

  it('a stopped keeper: said at once, no second server beside it (exit 75)', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const [name] = readdirSync(sb.serversDir).filter((n) => n.endsWith('.json'))
      const { keeperPid, id } = JSON.parse(readFileSync(join(sb.serversDir, name!), 'utf8'))
      process.kill(keeperPid, 'SIGSTOP')
      try {
        const result = await sb.run(['claude', '-m', MODEL])
        expect(result.code).toBe(75)
        expect(result.stderr.trim()).toBe(
          `mrs: error: the keeper (pid ${keeperPid}) of the running server ${id} (${MODEL}) is stopped (SIGSTOP or Ctrl-Z); resume it with kill -CONT ${keeperPid}, stop it with mrs stop ${id}, or add --no-share to load a second copy`,
        )
        expect(sb.serverPids()).toHaveLength(1)
      } finally {
        process.kill(keeperPid, 'SIGCONT')
      }
      serve.kill('SIGINT')
      await serve.done()
      await expectNoLeftovers(sb)
    })
  })
})

describe('another local user answering in the server\'s place', () => {
  // a model id of this test alone: the impostor must not find another test's server
  const target = (sb: Sandbox) => `Qwen/Target-${sb.id.slice(0, 8)}`

  it('binds mistral.rs\'s port during a slow load: mrs never talks to it, starts again on another port, and says so', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_LOAD_MS: '3000' } }, async (sb) => {
      const model = target(sb)
      const evil = await impostor(sb, model, 'during-load')
      try {
        const started = Date.now()
        const mrs = sb.start(['serve', '-m', model])
        const [, url] = await mrs.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/, 20_000)
        // the real load, not the impostor's instant answer
        expect(Date.now() - started).toBeGreaterThanOrEqual(3000)
        const [, taken] = mrs.stderr.match(/port (\d+) was taken by another process \(uid (?:65534|\d+)\) before mistral\.rs could bind it; starting it again on another port/)!
        expect(evil.lines()).toContain(`bound ${taken}`)
        const ids = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id)
        expect(ids).toEqual(['default', model])
        // mrs check through the same server: its probes reach mistral.rs
        const check = await sb.run(['check', '-m', model])
        expect(check.code).toBe(0)
        expect(check.stderr).toMatch(/using the running server/)
        // nothing was ever sent to the impostor: no readiness poll, no model list, no probe
        expect(evil.lines().filter((l) => l.startsWith('request'))).toEqual([])
        mrs.kill('SIGINT')
        expect((await mrs.done()).code).toBe(130)
      } finally {
        evil.stop()
      }
    })
  })

  it('binds the old port while a crashed server restarts: the clients\' port stays mrs\'s, and reaches only mistral.rs', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'crash-on-usr1', FAKE_MISTRALRS_STATE: '' } }, async (sb) => {
      const model = target(sb)
      const evil = await impostor(sb, model, 'after-exit')
      try {
        const mrs = sb.start(['serve', '-m', model])
        const [, url] = await mrs.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/)
        const [first] = sb.serverPids()
        process.kill(first!, 'SIGUSR1')
        await mrs.waitForStderr(/mistral\.rs is back at/, 20_000)
        await waitFor(() => evil.lines().some((l) => /^(bound|could not bind) /.test(l)), 5000, 'the impostor to try the port')
        for (let i = 0; i < 5; i++) {
          const ids = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id)
          expect(ids).toEqual(['default', model])
        }
        expect(evil.lines().filter((l) => l.startsWith('request'))).toEqual([])
        mrs.kill('SIGINT')
        expect((await mrs.done()).code).toBe(130)
      } finally {
        evil.stop()
      }
    })
  })
})

/** A hostile server (test/fixtures/hostile.cjs) in one mode; its URL, and a stop. */
async function hostile(sb: Sandbox, mode: string) {
  const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'hostile.cjs'), mode], { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: process.env.PATH!, MRS_TEST_ID: sb.env.MRS_TEST_ID! } })
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim())))
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

/** The highest resident memory a process reached, sampled until it exits (kB → MB). */
function peakMemory(pid: number): { mb: () => number } {
  let peak = 0
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) peak = Math.max(peak, Number(m[1]) / 1024)
    } catch {
      clearInterval(timer)
    }
  }, 5)
  return { mb: () => peak }
}

/** Nothing from outside reached the terminal raw: no escape character, no line forged as mrs's own. */
function clean(text: string): void {
  expect(text).not.toMatch(/\x1b/)
  expect(text).not.toMatch(/^mrs: error: forged line/m)
}

describe('every network wait has a deadline and yields to Ctrl-C', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('a --url server that drips one byte a second: %s ends mrs claude at once', async (signal) => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'drip')
      try {
        const mrs = sb.start(['claude', '--url', server.url, '--', '-p', 'hi'])
        await sleep(1500)
        const sent = Date.now()
        mrs.kill(signal)
        const result = await mrs.done(10_000)
        expect(Date.now() - sent).toBeLessThan(1500)
        expect(result.code).toBe(signal === 'SIGINT' ? 130 : 143)
        expect(sb.clientPids()).toEqual([])
      } finally {
        server.stop()
      }
    })
  })

  it('a --url server that drips forever: the model list has a total deadline (exit 69 after 10 s, not never)', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'drip')
      try {
        const result = await sb.run(['claude', '--url', server.url, '--', '-p', 'hi'], { timeoutMs: 20_000 })
        expect(result.code).toBe(69)
        expect(result.stderr).toMatch(/\/v1\/models did not answer completely within 10 s/)
        expect(result.ms).toBeLessThan(15_000)
      } finally {
        server.stop()
      }
    })
  })

  it('mrs check against a server that never answers a POST: Ctrl-C ends it at once', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'silent-post')
      try {
        const mrs = sb.start(['check', '--url', server.url])
        await mrs.waitForStderr(/asking \S+ to call a tool/)
        await sleep(500)
        const sent = Date.now()
        mrs.kill('SIGINT')
        const result = await mrs.done(10_000)
        expect(Date.now() - sent).toBeLessThan(1500)
        expect(result.code).toBe(130)
      } finally {
        server.stop()
      }
    })
  })
})

describe('every answer mrs reads has a size limit', () => {
  it('a /v1/models body that never ends: one clear line, exit 69, memory bounded', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'endless-models')
      try {
        const mrs = sb.start(['claude', '--url', server.url, '--', '-p', 'hi'])
        const memory = peakMemory(mrs.pid)
        const result = await mrs.done(20_000)
        expect(result.code).toBe(69)
        expect(result.stderr.trim()).toMatch(/^mrs: error: http:\S+\/v1\/models sent more than 4 MiB, which is no model list; is this a mistral\.rs server\?$/)
        expect(memory.mb()).toBeLessThan(150)
      } finally {
        server.stop()
      }
    })
  })

  it('a probe stream that never ends its event: the check fails in moments, memory bounded', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'no-blank-line')
      try {
        const mrs = sb.start(['check', '--url', server.url])
        const memory = peakMemory(mrs.pid)
        const result = await mrs.done(30_000)
        expect(result.code).toBe(76)
        expect(result.stdout).toMatch(/FAILED: one event of the stream went past 1 MiB without ending/)
        expect(memory.mb()).toBeLessThan(150)
      } finally {
        server.stop()
      }
    })
  })

  it('a 40,000-id model list: the error line names a few and counts the rest', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'huge-list')
      try {
        const result = await sb.run(['claude', '--url', server.url, '-m', 'org/absent', '--', '-p', 'hi'])
        expect(result.code).toBe(68)
        expect(result.stderr).toMatch(/it serves: org\/model-0, org\/model-1, .* and 399\d\d more$/m)
        expect(result.stderr.length).toBeLessThan(1000)
      } finally {
        server.stop()
      }
    })
  })

  it('the status line against a /metrics flood: the model name within its budget, memory bounded', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'metrics-flood')
      try {
        const child = spawn(process.execPath, [join(ROOT, 'dist', 'statusline.cjs'), server.url, 'Qwen3-4B', '32768', ''], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...sb.env, MRS_STATUSLINE_TIMEOUT_MS: '2000' } })
        const memory = peakMemory(child.pid!)
        child.stdin.end('{}')
        let out = ''
        child.stdout.on('data', (d: Buffer) => (out += d))
        const code = await new Promise((r) => child.on('close', r))
        expect(code).toBe(0)
        expect(out).toBe('Qwen3-4B · -/32k\n')
        expect(memory.mb()).toBeLessThan(120)
      } finally {
        server.stop()
      }
    })
  })
})

describe('names from outside never reach the terminal raw', () => {
  const EVIL_DIR = 'models--evil--\x1b]0;pwned\x1b\\\x1b[2J\nmrs: error: forged line'

  function hostileCache(sb: Sandbox): void {
    const repo = join(sb.env.HF_HOME!, 'hub', EVIL_DIR)
    mkdirSync(join(repo, 'blobs'), { recursive: true })
    writeFileSync(join(repo, 'blobs', 'weights'), Buffer.alloc(11 * 1024 * 1024))
  }

  it('a Hugging Face cache dir named with escapes and a newline: mrs models, the exit-64 list and doctor print it escaped', async () => {
    await withSandbox({}, async (sb) => {
      hostileCache(sb)
      const models = await sb.run(['models'])
      expect(models.code).toBe(0)
      clean(models.stdout + models.stderr)
      expect(models.stdout).toContain('evil/\\x1b]0;pwned\\x1b\\\\x1b[2J\\nmrs: error: forged line')
      const none = await sb.run(['codex'])
      expect(none.code).toBe(64)
      clean(none.stderr)
      const doctor = await sb.run(['doctor'])
      clean(doctor.stdout + doctor.stderr)
    })
  })

  requires('tmux')('the same name in the picker on a real terminal: the screen is not cleared, the name is shown escaped', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      hostileCache(sb)
      const term = terminal(sb, ['codex'])
      try {
        const screen = await waitFor(() => /Model for the Codex CLI/.test(term.screen()) && term.screen(), 20_000, `the picker; screen:\n${term.screen()}`)
        expect(screen).toContain('evil/\\x1b]0;pwned')
        expect(screen).toMatch(/Qwen\/Qwen3-Coder-Next/)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
      } finally {
        term.close()
      }
    })
  })

  it('mrs check --url: model ids, tool names, arguments and error bodies from the server are printed escaped', async () => {
    await withSandbox({}, async (sb) => {
      for (const mode of ['hostile-tool', 'hostile-error']) {
        const server = await hostile(sb, mode)
        try {
          const result = await sb.run(['check', '--url', server.url])
          expect(result.code).toBe(76)
          clean(result.stdout + result.stderr)
          expect(result.stdout).toContain('\\x1b[2J')
        } finally {
          server.stop()
        }
      }
      const ids = await hostile(sb, 'hostile-ids')
      try {
        const result = await sb.run(['check', '--url', ids.url, '-m', 'org/absent'])
        expect(result.code).toBe(68)
        clean(result.stderr)
        expect(result.stderr).toContain('\\x1b]0;pwned')
      } finally {
        ids.stop()
      }
    })
  })
})

describe('smaller ones', () => {
  it('a FIFO as a cached model\'s config.json: mrs models answers, the server loads and stops on Ctrl-C', async () => {
    await withSandbox({}, async (sb) => {
      const snapshot = join(sb.env.HF_HOME!, 'hub', 'models--Qwen--Qwen3-4B', 'snapshots', 'rev1')
      mkdirSync(snapshot, { recursive: true })
      execFileSync('mkfifo', [join(snapshot, 'config.json')])
      const models = await sb.run(['models'], { timeoutMs: 10_000 })
      expect(models.code).toBe(0)
      const mrs = sb.start(['serve', '-m', MODEL])
      await mrs.waitForStderr(/Press Ctrl-C to stop/)
      expect(mrs.stderr).toMatch(/config\.json is not a regular file; the client is not told the model's context window/)
      mrs.kill('SIGINT')
      expect((await mrs.done(10_000)).code).toBe(130)
      await expectNoLeftovers(sb, 3000)
    })
  })

  it('config.json a symlink to /dev/zero: refused, memory bounded', async () => {
    await withSandbox({}, async (sb) => {
      const snapshot = join(sb.env.HF_HOME!, 'hub', 'models--Qwen--Qwen3-4B', 'snapshots', 'rev1')
      mkdirSync(snapshot, { recursive: true })
      symlinkSync('/dev/zero', join(snapshot, 'config.json'))
      const mrs = sb.start(['models'])
      const memory = peakMemory(mrs.pid)
      const result = await mrs.done(10_000)
      expect(result.code).toBe(0)
      expect(memory.mb()).toBeLessThan(150)
    })
  })

  it('pi with a dangling ~/.pi/agent/sessions link: one line before the load, exit 73, nothing started', async () => {
    await withSandbox({}, async (sb) => {
      mkdirSync(join(sb.home, '.pi', 'agent'), { recursive: true })
      symlinkSync(join(sb.home, 'gone', 'sessions'), join(sb.home, '.pi', 'agent', 'sessions'))
      const result = await sb.run(['pi', '-m', MODEL, '--', '-p', 'hi'])
      expect(result.code).toBe(73)
      expect(result.stderr.trim()).toMatch(/^mrs: error: \S+\/\.pi\/agent\/sessions is a symbolic link to \S+gone\/sessions, which does not exist; create that directory \(mkdir -p \S+\) or remove the link$/)
      expect(sb.serverPids()).toEqual([])
    })
  })

  it('a model id of 130 KB from a --url server: one clear line, not a spawn error', async () => {
    await withSandbox({}, async (sb) => {
      const server = await hostile(sb, 'giant-id')
      try {
        const result = await sb.run(['codex', '--url', server.url])
        expect(result.code).toBe(69)
        expect(result.stderr.trim()).toMatch(/^mrs: error: the server at \S+ names its model "x{60}…" \(133120 characters\), which is no model id; is it a mistral\.rs server\?$/)
      } finally {
        server.stop()
      }
    })
  })

  it('the status line given hostile JSON or a denormal metrics sum prints the model name', async () => {
    await withSandbox({}, async () => {
      const metrics = createHttpServer((_, res) => res.end('mistralrs_inter_token_latency_seconds_sum 1e-320\nmistralrs_inter_token_latency_seconds_count 1\n'))
      await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r))
      try {
        const url = `http://127.0.0.1:${(metrics.address() as { port: number }).port}`
        for (const input of ['{"context_window":{"current_usage":{"input_tokens":{"toString":1}}}}', '{"context_window":{"context_window_size":"x"}}', 'not json']) {
          // spawned, not spawnSync: this process serves the metrics the status line asks for
          const child = spawn(process.execPath, [join(ROOT, 'dist', 'statusline.cjs'), url, 'Qwen3-4B', '', ''], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH!, MRS_STATUSLINE_TIMEOUT_MS: '5000' } })
          let out = ''
          let err = ''
          child.stdout.on('data', (d: Buffer) => (out += d))
          child.stderr.on('data', (d: Buffer) => (err += d))
          child.stdin.end(input)
          const started = Date.now()
          const code = await new Promise((r) => child.on('close', r))
          expect(code).toBe(0)
          expect(err).toBe('')
          // answered from the metrics, not by running out of time
          expect(Date.now() - started).toBeLessThan(4000)
          expect(out).not.toMatch(/Infinity|NaN/)
          expect(out).toBe('Qwen3-4B\n')
        }
      } finally {
        metrics.close()
      }
    })
  })

  it('credentials in --url never reach a command line, and are masked when printed', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const { url } = await sb.startServer(['serve', '-p', '0', '--host', '127.0.0.1', '-m', 'Qwen/Remote'])
      // codex's command line, as every local user could read it in /proc, recorded by a shim in front of the real one
      const shim = join(sb.root, 'bin', 'codex')
      const real = readlinkSync(shim)
      rmSync(shim)
      writeFileSync(shim, `#!/bin/sh\nprintf '%s\\n' "$@" > '${join(sb.root, 'codex-argv')}'\nexec '${real}' "$@"\n`, { mode: 0o755 })
      const withCredentials = url.replace('http://', 'http://alice:s3cret-pw@')
      const result = await sb.run(['codex', '--url', withCredentials, '--', '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi'])
      expect(result.code).toBe(0)
      expect(result.stderr).toContain(`using ${url.replace('http://', 'http://alice:***@')}`)
      expect(result.stderr).not.toContain('s3cret-pw')
      // Codex got them as a header from its environment: its command line has none
      const sent = sb.requests().filter((r) => r.path === '/v1/responses')
      expect(sent.length).toBeGreaterThan(0)
      for (const r of sent) expect(r.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret-pw').toString('base64')}`)
      const args = readFileSync(join(sb.root, 'codex-argv'), 'utf8')
      expect(args).toContain(`base_url="${url}/v1"`)
      expect(args).not.toContain('s3cret-pw')
      const dry = await sb.run(['claude', '--url', withCredentials, '--dry-run'])
      expect(dry.stdout).not.toContain('s3cret-pw')
      // the status line's command line: the URL without them (they come in Claude's environment)
      const command = statusLineCommand({ url: withCredentials, model: 'Qwen/Remote' }, '/tmp/state')
      expect(command).toContain(` ${url} `)
      expect(command).not.toContain('s3cret-pw')
    })
  })

  it('--server-arg=--host=0.0.0.0 with --server-arg=--enable-shell is refused like --server-host 0.0.0.0 --shell-tool', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['serve', '-m', MODEL, '--server-arg=--host=0.0.0.0', '--server-arg=--enable-shell'])
      expect(result.code).toBe(64)
      expect(result.stderr.trim()).toBe('mrs: error: --server-arg=--host=0.0.0.0 with --enable-shell would let anyone who can reach this machine run code on it; add --allow-remote-tools if you really mean it')
      expect(sb.serverPids()).toEqual([])
    })
  })
})
