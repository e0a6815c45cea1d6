// What an adversarial pass found, each attack reproduced: forged state files,
// a temp root another user prepared, stale locks, stopped keepers, and limits.
// docs/reliability.md lists them in its attack table (a unit test keeps the
// two in step). Tests that need root (another user's files, a read-only
// mount) say so and are skipped elsewhere; CI runs as root.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FAKE_BIN, ROOT, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
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

/**
 * Another local user runs the impostor (test/fixtures/impostor.cjs) as `nobody`
 * when the tests run as root (else as this user: the proof is the same, the
 * socket is not the server's): it reads mistral.rs's port from ps and binds it
 * first. Returns what it recorded, and stops it.
 */
async function impostor(sb: Sandbox, model: string, mode: 'during-load' | 'after-exit') {
  const dir = mkdtempSync(join(tmpdir(), 'mrs-impostor-'))
  chmodSync(dir, 0o777)
  const record = join(dir, 'record')
  writeFileSync(record, '')
  chmodSync(record, 0o666)
  const asNobody = uid === 0 ? { uid: 65534, gid: 65534 } : {}
  const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'impostor.cjs'), model, record, ...(mode === 'after-exit' ? ['--after-exit'] : [])], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', MRS_TEST_ID: sb.env.MRS_TEST_ID! },
    ...asNobody,
  })
  await waitFor(() => readFileSync(record, 'utf8').includes('watching'), 5000, 'the impostor to start')
  return {
    lines: () => readFileSync(record, 'utf8').split('\n').filter(Boolean),
    stop: () => {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

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
