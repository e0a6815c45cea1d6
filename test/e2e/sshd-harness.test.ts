// The harness for `--on HOST` tests: a real sshd on loopback that logs in a
// second local user. Proves what those tests rely on: the alias works through
// the `ssh` first on PATH, with host key checking on; the per-test
// environment reaches the remote side; `mistralrs` is on the login PATH only;
// remote processes carry the test's tag; and nothing is left afterwards.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { startSshd, type SshHost } from '../helpers/sshd.js'

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the `ssh` the sandbox's PATH finds (the wrapper), as the code under test would. */
function ssh(sb: Sandbox, args: string[], timeoutMs = 15_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { env: sb.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ssh ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

const remoteEnv = (text: string) => Object.fromEntries(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))

describe('sshd harness', () => {
  requires('sshd')('runs a command as the remote user through the alias, with the per-test environment', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_FAULT: 'never-ready' } })
      process.stderr.write(`sshd harness: started in ${host.startMs} ms\n`)
      expect(host.startMs).toBeLessThan(2000)
      expect(sb.env.PATH!.split(':')[0]).toBe(join(sb.root, 'ssh', 'bin'))
      const r = await ssh(sb, ['-T', host.alias, 'id -un; pwd; env'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      const [user, cwd, ...rest] = r.stdout.split('\n')
      expect(user).toBe(host.user)
      expect(cwd).toBe(host.passwdHome)
      const env = remoteEnv(rest.join('\n'))
      expect(env.HOME).toBe(host.home)
      expect(env.MRS_TEST_ID).toBe(sb.id)
      expect(env.FAKE_MISTRALRS_RECORD).toBe(host.record)
      expect(env.FAKE_MISTRALRS_LOAD_MS).toBe(sb.env.FAKE_MISTRALRS_LOAD_MS)
      expect(env.FAKE_MISTRALRS_FAULT).toBe('never-ready')
      expect(env.NO_COLOR).toBe('1')
      for (const name of ['XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'TMPDIR', 'HF_HOME']) expect(env[name]!.startsWith(`${host.dir}/`)).toBe(true)
      // not the test's own paths, which the remote user cannot reach
      expect(Object.values(env).some((v) => v.includes(sb.root))).toBe(false)
      // the variables come from the server: a SetEnv on ssh's command line cannot drop them
      const own = await ssh(sb, ['-T', '-o', 'SetEnv=MRS_TEST_ID=other', host.alias, 'echo $MRS_TEST_ID'])
      expect(own.stdout).toBe(`${sb.id}\n`)
      // the client's `ssh` is tagged like everything the test starts; afterwards nothing is left
      expect(sb.leftovers()).toEqual([])
    })
  })

  requires('sshd')('gives a second host its own server, remote dir and HOME, in the same ssh config', async () => {
    await withSandbox({}, async (sb) => {
      const a = await startSshd(sb)
      const b = await startSshd(sb, { alias: 'gpu-two' })
      expect(b.port).not.toBe(a.port)
      expect(b.dir).not.toBe(a.dir)
      expect((await ssh(sb, ['-T', a.alias, 'echo $HOME'])).stdout).toBe(`${a.home}\n`)
      expect((await ssh(sb, ['-T', b.alias, 'echo $HOME'])).stdout).toBe(`${b.home}\n`)
      // the URL spelling of the same server works too: key and known_hosts apply to every destination
      expect((await ssh(sb, ['-T', '--', `ssh://${b.user}@127.0.0.1:${b.port}`, 'echo $HOME'])).stdout).toBe(`${b.home}\n`)
      await expect(startSshd(sb, { alias: 'gpu-two' })).rejects.toThrow(/already has a host gpu-two/)
    })
  })

  requires('sshd')('checks the host key: an unknown or changed key fails with ssh\'s own message', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      writeFileSync(host.knownHosts, '')
      const unknown = await ssh(sb, ['-T', '-o', 'BatchMode=yes', host.alias, 'true'])
      expect(unknown.code).toBe(255)
      expect(unknown.stderr).toContain(`No ED25519 host key is known for [127.0.0.1]:${host.port}`)
      expect(unknown.stderr).toContain('Host key verification failed.')
      // another key under the server's name, as after a reinstall or an impostor
      const other = join(sb.root, 'other-key')
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
      writeFileSync(host.knownHosts, `[127.0.0.1]:${host.port} ${readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`)
      const changed = await ssh(sb, ['-T', '-o', 'BatchMode=yes', host.alias, 'true'])
      expect(changed.code).toBe(255)
      expect(changed.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED')
      expect(changed.stderr).toContain('Host key verification failed.')
    })
  })

  requires('sshd')('puts mistralrs on the login PATH only, and the fake it finds records and is tagged', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { profile: 'echo profile-noise\n' })
      const plain = await ssh(sb, ['-T', host.alias, 'command -v mistralrs; echo "status $?"'])
      expect(plain.stdout).toBe('status 127\n')
      const login = await ssh(sb, ['-T', host.alias, "sh -lc 'command -v mistralrs'"])
      // a ~/.profile that prints reaches the channel's stdout, ahead of the answer
      expect(login.stdout).toBe(`profile-noise\n${host.home}/.cargo/bin/mistralrs\n`)
      expect(login.code).toBe(0)

      // the fake runs as the remote user, records where the test can read it, and carries the tag
      const server = spawn('ssh', ['-T', host.alias, "exec sh -lc 'exec mistralrs serve -p 0 --host 127.0.0.1 -m Qwen/Remote'"], {
        env: sb.env,
        stdio: 'ignore',
      })
      const listening = await waitFor(() => host.records().find((r) => r.event === 'listening'), 10_000, 'the remote fake to listen')
      expect(sb.leftovers()).toContain(listening.pid)
      const res = await fetch(`http://127.0.0.1:${listening.port}/v1/models`)
      expect(((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain('Qwen/Remote')
      process.kill(listening.pid, 'SIGTERM')
      await waitFor(() => server.exitCode !== null || server.signalCode !== null, 5000, 'ssh to end with the remote command')
      await waitFor(() => !isAlive(listening.pid), 5000, 'the remote fake to exit')
    })
  })

  requires('sshd')('carries many channels over one master and many connections at once', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      const sock = join(sb.root, 'cm')
      const master = await ssh(sb, ['-o', 'ControlMaster=yes', '-o', `ControlPath=${sock}`, '-o', 'ControlPersist=yes', '-o', 'BatchMode=yes', '-N', '-f', host.alias])
      expect(master.code).toBe(0)
      const overMaster = await Promise.all(Array.from({ length: 30 }, (_, i) => ssh(sb, ['-S', sock, '-T', host.alias, `sleep 0.5; echo ${i}`])))
      expect(overMaster.map((r) => r.stdout)).toEqual(Array.from({ length: 30 }, (_, i) => `${i}\n`))
      const direct = await Promise.all(Array.from({ length: 12 }, (_, i) => ssh(sb, ['-S', 'none', '-T', host.alias, `echo ${i}`])))
      expect(direct.map((r) => r.code)).toEqual(Array(12).fill(0))
      expect((await ssh(sb, ['-S', sock, '-O', 'exit', host.alias])).code).toBe(0)
      await waitFor(() => sb.leftovers().length === 0, 5000, 'the master to exit')
    })
  })

  requires('sshd')('leaves nothing: stop() ends every sshd process and removes the remote dir; so does the sandbox\'s cleanup', async () => {
    let seen: { host: SshHost; pids: number[] } | undefined
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      // a connection in progress: the listener and that connection's own sshd processes
      const held = spawn('ssh', ['-T', host.alias, 'cat'], { env: sb.env, stdio: ['pipe', 'ignore', 'ignore'] })
      await waitFor(() => host.pids().length >= 3, 5000, 'the connection to be up')
      const pids = host.pids()
      expect(pids).toContain(host.pid)
      await host.stop()
      expect(pids.filter(isAlive)).toEqual([])
      expect(existsSync(host.dir)).toBe(false)
      await waitFor(() => held.exitCode !== null, 5000, 'ssh to notice')
      await host.stop() // harmless twice
    })
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      expect((await ssh(sb, ['-T', host.alias, 'true'])).code).toBe(0)
      seen = { host, pids: host.pids() }
    })
    expect(seen!.pids.filter(isAlive)).toEqual([])
    expect(existsSync(seen!.host.dir)).toBe(false)
    expect(readdirSync(seen!.host.passwdHome).filter((n) => n === seen!.host.dir.split('/').pop())).toEqual([])
  })
})
