// `--on HOST`: the server on another machine over the user's own OpenSSH,
// owned like a local one. The host is this machine as a second local user
// (mrs-remote) behind a real sshd on loopback (test/helpers/sshd.ts), with the
// fake mistralrs only on its login PATH (~/.profile → ~/.cargo/bin). Every
// exit path must leave nothing running on either side: the remote fake's
// processes carry the test's tag, so the leftover scan sees them too.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { expectNoLeftovers, isAlive, waitFor, withSandbox } from '../helpers/sandbox.js'
import { terminal } from '../helpers/terminal.js'
import { requires } from '../helpers/requires.js'
import { sharedFixtures } from '../helpers/shared-fixtures.js'
import { impostorOnHost, nothingLeft, remoteStarts, userControlPersist } from '../helpers/on-host.js'
import { startSshd, type SshHost } from '../helpers/sshd.js'

const MODEL = 'Qwen/Qwen3-4B'
const on = requires('sshd')


/** The test's own ssh files, which mrs must never change. */
function sshFiles(host: SshHost): () => void {
  const before = [host.configPath, host.knownHosts].map((p) => readFileSync(p, 'utf8'))
  return () => expect([host.configPath, host.knownHosts].map((p) => readFileSync(p, 'utf8'))).toEqual(before)
}

/** The sshd processes serving connections (not the listener): what a dropped network or a rebooting host takes away. */
const connections = (host: SshHost) => host.pids().filter((p) => p !== host.pid)

describe('mrs --on HOST: the server over ssh', () => {
  on('runs the server on the host and the client here against it, through mrs\'s port; nothing is left on either side', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await startSshd(sb)
      const unchanged = sshFiles(host)
      const result = await sb.run(['claude', '--on', host.alias, '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      const [start] = remoteStarts(host)
      // on the host's loopback, on a port of its own, at full precision (it fits the host), told the host's hub cache
      expect(start!.argv).toEqual(['serve', '-p', expect.stringMatching(/^\d+$/), '--host', '127.0.0.1', '-m', MODEL, '--hf-cache', join(host.dir, 'hf', 'hub')])
      expect(result.stderr).toMatch(/; full precision: 7\.5 GB of weights fit the \d+ GB RAM;/)
      expect(sb.serverPids()).toEqual([])
      await nothingLeft(sb, host)
      unchanged()
    })
  })

  on('mistralrs --version is asked once per binary on the host, and again when the binary changes', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb)
      const asked = () => host.records().filter((r) => r.event === 'version').length
      const launch = async () => expect((await sb.run(['claude', '--on', host.alias, '-m', MODEL, '--no-share'])).code).toBe(0)
      await launch()
      await launch()
      // a process start on every launch (a CUDA build's libraries loaded) only to learn what was learned already
      expect(asked()).toBe(1)
      // a reinstall: another file (here, another mtime) is asked again
      utimesSync(host.mistralrs!, new Date(), new Date(Date.now() - 3_600_000))
      await launch()
      expect(asked()).toBe(2)
      await nothingLeft(sb, host)
    })
  })

  on.each([
    ['claude', ['-p', 'say hi']],
    ['codex', ['--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi']],
  ] as const)('the real %s answers from the model on the host', async (client, args) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_CONFIG_CONTEXT: '40960', FAKE_MISTRALRS_PA_TOKENS: '32768' } })
      const result = await sb.run([client, '--on', host.alias, '-m', MODEL, '--', ...args])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      // the window from the host's load log and the host's config.json
      expect(result.stderr).toMatch(/context 32k tokens \(32768\), from its KV cache/)
      expect(host.records().filter((r) => r.event === 'request').length).toBeGreaterThan(0)
      await nothingLeft(sb, host)
    })
  })

  on('--dry-run says where the server would run and its command line there, and starts nothing on either side', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb)
      const result = await sb.run(['codex', '--on', host.alias, '-m', MODEL, '--dry-run'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^where: +gpu-box, through your ssh: one master connection/m)
      // the mistralrs a login shell on the host finds, on the host's loopback
      expect(result.stdout).toMatch(/^server: +\S*\/\.cargo\/bin\/mistralrs serve -p <free port on gpu-box> --host 127\.0\.0\.1 -m Qwen\/Qwen3-4B <quantization chosen there> --hf-cache <its Hugging Face cache>$/m)
      expect(result.stdout).toMatch(/^quant: +chosen on gpu-box when it starts: full precision where the model fits its memory, else the largest of q6k/m)
      expect(remoteStarts(host)).toEqual([])
      await nothingLeft(sb, host)
    })
  })

  on.each([
    ['0.9.2', ['--quant', 'q4k']],
    // before 0.8.2 there is no --quant
    ['0.8.0', ['--isq', 'q4k']],
  ] as const)("the quantization is chosen by the host's GPU and its mistral.rs (%s): a 30B model on its 24 GB GPU", async (version, flags) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_VERSION: version } })
      // the host's GPU (nvidia-smi on its login PATH); this machine has none
      writeFileSync(join(host.home, '.cargo', 'bin', 'nvidia-smi'), '#!/bin/sh\necho "NVIDIA RTX A5000, 24564, 0"\n', { mode: 0o755 })
      const result = await sb.run(['codex', '--on', host.alias, '-m', 'Qwen/Qwen3-Coder-30B-A3B-Instruct'])
      expect(result.code, result.stderr).toBe(0)
      expect(remoteStarts(host)[0]!.argv).toEqual(expect.arrayContaining([...flags]))
      expect(result.stderr).toMatch(/; q4k: 56\.8 GB of weights do not fit the 24 GB GPU at full precision; as q4k/)
      await nothingLeft(sb, host)
    })
  })
})

describe('mrs --on HOST: every exit path leaves nothing on the host', () => {
  on.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during the load: exit %d, the server on the host gone', async (signal, code) => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_LOAD_MS: '30000' } })
      const mrs = sb.start(['codex', '--on', host.alias, '-m', MODEL])
      await waitFor(() => remoteStarts(host).length > 0, 15_000, 'the server to start on the host')
      mrs.kill(signal)
      expect((await mrs.done(15_000)).code).toBe(code)
      expect(sb.clientPids()).toEqual([])
      await nothingLeft(sb, host)
    })
  })

  on('a closed terminal (SIGHUP) while the client runs: 129, the server on the host gone', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      mrs.kill('SIGHUP')
      expect((await mrs.done(20_000)).code).toBe(129)
      await nothingLeft(sb, host)
    })
  })

  on('SIGKILL of mrs while the client runs: its keeper stops the server on the host', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      mrs.kill('SIGKILL')
      await nothingLeft(sb, host, 15_000)
    })
  })

  on('SIGKILL of mrs and all of its local processes (keeper, ssh): the host stops the server when the channel closes', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const host = await startSshd(sb)
      sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      // everything of the test's on this side: mrs, its keeper, the ssh clients and master, the client
      const local = sb.leftovers().filter((pid) => !remoteStarts(host).some((r) => r.pid === pid) && readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+0\s/m))
      for (const pid of local) process.kill(pid, 'SIGKILL')
      const ms = await nothingLeft(sb, host, 10_000)
      expect(ms).toBeLessThan(5000)
    })
  })

  on('a dropped network (the connection frozen): the session ends with one line, and the host stops the server by its heartbeat', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', MRS_SSH_KEEPALIVE: '1' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL, '--restarts', '0'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      const frozen = connections(host)
      for (const pid of frozen) process.kill(pid, 'SIGSTOP')
      try {
        const result = await mrs.done(30_000)
        expect(result.code).toBe(70)
        expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toEqual([expect.stringMatching(/^mrs: error: the connection to gpu-box was lost.*; not restarted \(--restarts 0\); log: /)])
        // the host stops it by itself, with the network still down
        await waitFor(() => remoteStarts(host).every((r) => !isAlive(r.pid)), 15_000, 'the host to stop the server on its own')
      } finally {
        for (const pid of frozen) process.kill(pid, 'SIGCONT')
      }
      await nothingLeft(sb, host)
    })
  })

  on('the host going down (its processes killed, sshd gone): the session ends with one clear line', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      const host = await startSshd(sb)
      const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 20_000, 'the client to start')
      // a reboot: every process of the host's user, then sshd itself
      for (const r of remoteStarts(host))
        try {
          process.kill(r.pid, 'SIGKILL')
        } catch {
          // gone already: a server mrs replaced during the load (its port taken by another test's process)
        }
      await host.stop()
      const result = await mrs.done(60_000)
      expect(result.code).toBe(70)
      expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toHaveLength(1)
      expect(result.stderr).toMatch(/^mrs: error: the connection to gpu-box was lost.*gave up after 2 restarts; log: /m)
      await expectNoLeftovers(sb, 5000)
    })
  })
})

/** A model in the host's Hugging Face cache, owned by the host's user, and a fake nvidia-smi on its login PATH. */
function hostHas(host: SshHost, id: string): void {
  const repo = join(host.dir, 'hf', 'hub', `models--${id.replace(/\//g, '--')}`)
  mkdirSync(join(repo, 'blobs'), { recursive: true })
  mkdirSync(join(repo, 'snapshots', 'rev1'), { recursive: true })
  mkdirSync(join(repo, 'refs'), { recursive: true })
  writeFileSync(join(repo, 'refs', 'main'), 'rev1')
  writeFileSync(join(repo, 'blobs', 'weights'), Buffer.alloc(12 * 1024 * 1024))
  writeFileSync(join(repo, 'snapshots', 'rev1', 'config.json'), JSON.stringify({ max_position_embeddings: 40960 }))
  const smi = join(host.home, '.cargo', 'bin', 'nvidia-smi')
  writeFileSync(smi, '#!/bin/sh\necho "NVIDIA GeForce RTX 4090, 24564, 1024"\n', { mode: 0o755 })
  execFileSync('chown', ['-R', `${host.uid}:${host.gid}`, join(host.dir, 'hf'), smi])
}

describe('mrs --on HOST: sharing, ps, logs, stop', () => {
  on('a second session with --on attaches to the server there; ps shows the host, logs the host\'s log, stop ends it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await startSshd(sb)
      const serve = sb.start(['serve', '--on', host.alias, '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/, 20_000)
      const client = await sb.run(['claude', '--on', host.alias])
      expect(client.code, client.stderr).toBe(0)
      expect(client.stderr).toMatch(/using the running server \w+ \(Qwen\/Qwen3-4B\)/)
      expect(remoteStarts(host)).toHaveLength(1)
      const ps = await sb.run(['ps'])
      expect(ps.stdout).toMatch(/Qwen\/Qwen3-4B\s+gpu-box\s+http:\/\/127\.0\.0\.1:\d+/)
      const json = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      expect(json[0].place).toEqual({ kind: 'ssh', host: 'gpu-box' })
      const logs = await sb.run(['logs'])
      expect(logs.stdout).toMatch(/Server listening on http:\/\/127\.0\.0\.1:\d+/)
      expect(logs.stdout).toMatch(/mistral\.rs \(\S+\/mistralrs\) runs on gpu-box as pid \d+/)
      expect((await sb.run(['stop'])).code).toBe(0)
      expect((await serve.done(15_000)).code).toBe(70)
      await nothingLeft(sb, host)
    })
  })

  on('four launches at once, two models, with mrs models --on and doctor --on beside them: all proceed over one master, one server per model', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:2' } }, async (sb) => {
      const host = await startSshd(sb)
      const connections = () => (readFileSync(host.log, 'utf8').match(/^Connection from /gm) ?? []).length
      const before = connections()
      const OTHER = 'Qwen/Qwen3-8B'
      const launches = [MODEL, OTHER, MODEL, OTHER].map((m) => sb.run(['claude', '--on', host.alias, '-m', m], { timeoutMs: 60_000 }))
      const models = sb.run(['models', '--on', host.alias, '--json'], { timeoutMs: 60_000 })
      const doctor = sb.run(['doctor', '--on', host.alias], { timeoutMs: 60_000 })
      for (const r of await Promise.all(launches)) expect(r.code, r.stderr).toBe(0)
      expect((await models).code, (await models).stderr).toBe(0)
      expect((await doctor).stdout).toMatch(/✓ ssh/)
      // one server per model there, each shared by the two launches that asked for it
      expect(remoteStarts(host).map((r) => r.argv[r.argv.indexOf('-m') + 1]).sort()).toEqual([MODEL, OTHER])
      // and one master carried all of it: one connection to the host
      expect(connections() - before).toBe(1)
      await nothingLeft(sb, host)
    })
  })

  on('a server on the host that this mrs did not start is never touched', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb)
      // another user's (or machine's) mistral.rs on the host, started over ssh outside mrs
      const theirs = spawn('ssh', ['-T', host.alias, 'exec ~/.cargo/bin/mistralrs serve -p 0 --host 127.0.0.1 -m Their/Model'], { env: sb.env, stdio: 'ignore' })
      await waitFor(() => host.records().some((r) => r.event === 'listening'), 15_000, 'their server to listen')
      const [their] = remoteStarts(host)
      expect((await sb.run(['codex', '--on', host.alias, '-m', MODEL])).code).toBe(0)
      expect(await sb.run(['ps', '--json']).then((r) => JSON.parse(r.stdout))).toEqual([])
      expect(isAlive(their!.pid)).toBe(true)
      theirs.kill('SIGKILL')
      process.kill(their!.pid, 'SIGKILL')
      await nothingLeft(sb, host)
    })
  })
})

describe('mrs --on HOST: the host\'s models, GPU and mistralrs', () => {
  on('mrs models --on lists the host\'s cache and fits its GPU; doctor --on checks ssh, mistralrs, GPU, disk; check --on probes the model there', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      hostHas(host, 'Qwen/Remote-1B')
      const models = await sb.run(['models', '--on', host.alias])
      expect(models.code, models.stderr).toBe(0)
      expect(models.stdout).toMatch(/^NVIDIA GeForce RTX 4090 on gpu-box: 24 GB/)
      expect(models.stdout).toMatch(/Downloaded \(Hugging Face cache on gpu-box\):\n {2}MODEL +SIZE +USED +CONTEXT +FIT\n {2}Qwen\/Remote-1B +12 MB +just now +- +fits 24 GB GPU$/m)
      const json = JSON.parse((await sb.run(['models', '--on', host.alias, '--json'])).stdout)
      expect(json.accelerator).toMatchObject({ kind: 'cuda', totalBytes: 24564 * 1024 * 1024 })
      expect(json.cached.map((m: { id: string }) => m.id)).toEqual(['Qwen/Remote-1B'])
      const doctor = await sb.run(['doctor', '--on', host.alias, 'claude'], { env: { PATH: `${join(sb.root, 'bin')}:${sb.env.PATH}` } })
      expect(doctor.stdout).toMatch(/✓ ssh\s+gpu-box answers over your ssh/)
      expect(doctor.stdout).toMatch(/✓ mistralrs\s+0\.9\.2 at \S+\/\.cargo\/bin\/mistralrs .*a model too big for gpu-box is quantized with --quant/)
      expect(doctor.stdout).toMatch(/✓ gpu\s+gpu-box: NVIDIA GeForce RTX 4090: 24\.0 GB/)
      expect(doctor.stdout).toMatch(/disk\s+[\d.]+ GB free in \S+ on gpu-box/)
      expect(doctor.stdout).toMatch(/✓ models\s+on gpu-box: Qwen\/Remote-1B/)
      const check = await sb.run(['check', '--on', host.alias, '-m', MODEL])
      expect(check.code, check.stderr).toBe(0)
      expect(check.stdout).toMatch(/this model works for agents/)
      await nothingLeft(sb, host)
    })
  })

  requires('sshd', 'tmux')('the picker on a terminal offers the host\'s models, sized for the host\'s GPU; Esc leaves nothing there', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb)
      hostHas(host, 'Qwen/Remote-1B')
      const term = terminal(sb, ['codex', '--on', host.alias])
      try {
        const screen = await waitFor(() => /Model for the Codex CLI on gpu-box/.test(term.screen()) && term.screen(), 20_000, `the picker; screen:\n${term.screen()}`)
        expect(screen).toMatch(/NVIDIA GeForce RTX 4090, 24 GB/)
        expect(screen).toMatch(/Qwen\/Remote-1B {2}\(downloaded, 12 MB/)
        term.keys('Escape')
        await waitFor(() => term.exitCode() !== undefined, 10_000, `mrs to exit; screen:\n${term.screen()}`)
        expect(term.exitCode()).toBe(130)
      } finally {
        term.close()
      }
      expect(remoteStarts(host)).toEqual([])
      await nothingLeft(sb, host)
    })
  })
})

describe('mrs --on HOST: crashes and impostors on the host', () => {
  on('a server that crashes on the host is restarted there; the clients keep their port', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_FAULT: 'crash-on-usr1' } })
      const serve = sb.start(['serve', '--on', host.alias, '-m', MODEL])
      const [, url] = await serve.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/, 20_000)
      process.kill(remoteStarts(host)[0]!.pid, 'SIGUSR1')
      await serve.waitForStderr(/mistral\.rs is back at/, 20_000)
      expect(serve.stderr).toMatch(/mistral\.rs was killed by SIGABRT \(CUDA error: an illegal memory access was encountered\); restarted it on the same port \(1\/2\)/)
      expect(remoteStarts(host)).toHaveLength(2)
      const ids = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id)
      expect(ids).toEqual(['default', MODEL])
      serve.kill('SIGINT')
      expect((await serve.done(15_000)).code).toBe(130)
      await nothingLeft(sb, host)
    })
  })

  on('another user on the host binds the port there during the load: never talked to, the server starts again on another port', async () => {
    await withSandbox({}, async (sb) => {
      const model = `Qwen/Target-${sb.id.slice(0, 8)}`
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_LOAD_MS: '3000' } })
      await impostorOnHost(sb, host, model, 'uid 65534 on gpu-box')
      await nothingLeft(sb, host)
    })
  })
})

/** Extra hosts in the test's ssh config, ahead of its `Host *` block (ssh takes the first value it finds). */
function addHosts(host: SshHost, blocks: string): void {
  writeFileSync(host.configPath, `${blocks.trim()}\n\n${readFileSync(host.configPath, 'utf8')}`)
}

describe('mrs --on HOST: its private dirs and what ssh reads', () => {
  on.each([
    ['mrs models --on', ['models', '--on', 'gpu-box']],
    ['mrs doctor --on', ['doctor', '--on', 'gpu-box']],
    ['--dry-run', ['codex', '--on', 'gpu-box', '-m', MODEL, '--dry-run']],
  ])("%s refuses a $TMPDIR/mrs-UID that is another user's (777), and makes nothing inside it", async (_, args) => {
    await withSandbox({}, async (sb) => {
      await startSshd(sb)
      // another user got there first: an open dir of theirs where mrs keeps its master's socket
      const theirs = join(sb.tmp, `mrs-${process.getuid!()}`)
      mkdirSync(theirs)
      chmodSync(theirs, 0o777)
      chownSync(theirs, 65534, 65534)
      const result = await sb.run(args, { timeoutMs: 30_000 })
      // doctor reports it as its ssh check's problem (exit 1); the others end on it (exit 73)
      expect(result.code).toBe(args[0] === 'doctor' ? 1 : 73)
      expect(`${result.stderr}${result.stdout}`).toMatch(new RegExp(`mrs cannot use ${theirs}: it belongs to another user \\(uid 65534\\)`))
      expect(readdirSync(theirs)).toEqual([])
    })
  })

  on('a % in $TMPDIR (which ssh would expand in ControlPath) is taken as it is', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const tmp = join(sb.root, 'tmp%h%%')
      mkdirSync(tmp, { mode: 0o700 })
      sb.env.TMPDIR = tmp
      const host = await startSshd(sb)
      const result = await sb.run(['codex', '--on', host.alias, '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(readdirSync(join(tmp, `mrs-${process.getuid!()}`))).toContain('ssh')
      await nothingLeft(sb, host)
    })
  })
  on("the user's own ControlMaster auto + ControlPersist in ~/.ssh/config applies to none of mrs's ssh: no master of theirs is made or left", async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await startSshd(sb)
      // as many people have it: every connection a master, kept for 10 minutes after its last user
      const theirs = join(sb.root, 'cm')
      mkdirSync(theirs, { mode: 0o700 })
      userControlPersist(host, theirs)
      const result = await sb.run(['claude', '--on', host.alias, '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      // the master, the program's channel, the tunnel and the probes all went through mrs's own socket (or none)
      expect(readdirSync(theirs)).toEqual([])
      expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(theirs)
      await nothingLeft(sb, host)
    })
  })
})

describe('mrs --on HOST: bad input', () => {
  on.each([
    ['an unknown host', 'nosuchhost', 69, /^mrs: error: ssh could not connect to nosuchhost: ssh: Could not resolve hostname nosuchhost\.invalid: .*$/],
    ['a refused connection', 'closedport', 69, /^mrs: error: ssh could not connect to closedport: ssh: connect to host 127\.0\.0\.1 port 1: Connection refused$/],
    ['a login the host refuses', 'wrongkey', 77, /^mrs: error: ssh could not connect to wrongkey: nosuchuser@127\.0\.0\.1: Permission denied \(publickey\)\.; check that `ssh wrongkey` logs in \(your key, agent or ~\/\.ssh\/config\)$/],
    ['an unknown host key', 'unknownkey', 77, /^mrs: error: ssh refused to connect to unknownkey: it does not know unknownkey's host key \(ssh's message below\); run `ssh unknownkey` once to check and accept it, mrs never skips that check\n {2}│ No ED25519 host key is known for \[127\.0\.0\.1\]:\d+ and you have requested strict checking\.\n {2}│ Host key verification failed\.$/],
    ['a changed host key', 'changedkey', 77, /^mrs: error: ssh refused to connect to changedkey: its host key has changed \(ssh's message below\); check why before you trust it, mrs never skips that check\n[^]*│ @ +WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! +@[^]*│ Host key verification failed\.$/],
  ])('%s: one line (and ssh\'s own message), a distinct exit code, nothing started, the ssh files untouched', async (_, alias, code, message) => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      const other = join(sb.root, 'other-key')
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other])
      writeFileSync(join(sb.root, 'empty_known_hosts'), '')
      const forged = readFileSync(`${other}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
      writeFileSync(join(sb.root, 'changed_known_hosts'), `[127.0.0.1]:${host.port} ${forged}\n`)
      addHosts(
        host,
        `Host nosuchhost
  HostName nosuchhost.invalid
Host closedport
  HostName 127.0.0.1
  Port 1
Host wrongkey
  HostName 127.0.0.1
  Port ${host.port}
  User nosuchuser
Host unknownkey
  HostName 127.0.0.1
  Port ${host.port}
  User mrs-remote
  UserKnownHostsFile ${join(sb.root, 'empty_known_hosts')}
Host changedkey
  HostName 127.0.0.1
  Port ${host.port}
  User mrs-remote
  UserKnownHostsFile ${join(sb.root, 'changed_known_hosts')}`,
      )
      const unchanged = sshFiles(host)
      const before = ['empty_known_hosts', 'changed_known_hosts'].map((f) => readFileSync(join(sb.root, f), 'utf8'))
      const result = await sb.run(['codex', '--on', alias, '-m', MODEL], { timeoutMs: 30_000 })
      expect(result.code).toBe(code)
      expect(result.stderr.trim()).toMatch(message)
      expect(remoteStarts(host)).toEqual([])
      unchanged()
      expect(['empty_known_hosts', 'changed_known_hosts'].map((f) => readFileSync(join(sb.root, f), 'utf8'))).toEqual(before)
      await expectNoLeftovers(sb, 5000)
    })
  })

  on('mistralrs missing on the host: 127, naming the host and what to run there', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { mistralrs: false })
      const result = await sb.run(['codex', '--on', host.alias, '-m', MODEL])
      expect(result.code).toBe(127)
      // found by the server's own run there (a launch asks nothing of the host before it starts one): one error line
      const errors = result.stderr.trim().split('\n').filter((l) => !l.startsWith('mrs: Loading '))
      expect(errors).toEqual([expect.stringMatching(/^mrs: error: mistralrs not found on gpu-box \(searched its PATH, a login shell's, ~\/\.local\/bin, ~\/\.mistralrs and ~\/\.cargo\/bin there\); install it there: ssh gpu-box "curl .*install\.sh \| sh", or pass --mistralrs PATH \(its path there\); log: \S+$/)])
      await expectNoLeftovers(sb, 5000)
    })
  })

  on('--mistralrs names the binary on the host; one that is not there is said so', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      const host = await startSshd(sb, { mistralrs: false })
      const elsewhere = join(host.home, 'tools', 'mistralrs')
      mkdirSync(join(host.home, 'tools'), { recursive: true })
      writeFileSync(elsewhere, `#!/bin/sh\nexec ${process.execPath} ${join(sharedFixtures(), 'bin', 'mistralrs')} "$@"\n`, { mode: 0o755 })
      execFileSync('chown', ['-R', `${host.uid}:${host.gid}`, join(host.home, 'tools')])
      const missing = await sb.run(['codex', '--on', host.alias, '--mistralrs', '/nowhere/mistralrs', '-m', MODEL])
      expect(missing.code).toBe(127)
      expect(missing.stderr).toMatch(/mistralrs not found on gpu-box at \/nowhere\/mistralrs/)
      sb.writeConfig(`remote_mistralrs = "${elsewhere}"\n`)
      const found = await sb.run(['codex', '--on', host.alias, '-m', MODEL])
      expect(found.code, found.stderr).toBe(0)
      await nothingLeft(sb, host)
    })
  })

  on('no free port on the host\'s loopback: one line, exit 66, nothing left there', async () => {
    await withSandbox({}, async (sb) => {
      const probe = await startSshd(sb)
      // the only port the host may use is the one its sshd listens on
      const host = await startSshd(sb, { alias: 'busy-box', remoteEnv: { MRS_PORT_RANGE: `${probe.port}-${probe.port}` } })
      const result = await sb.run(['codex', '--on', host.alias, '-m', MODEL])
      expect(result.code).toBe(66)
      expect(result.stderr.trim()).toMatch(/^mrs: error: no free port on busy-box's loopback \(in \d+-\d+; MRS_PORT_RANGE there sets the range\); log: \S+$/m)
      await nothingLeft(sb, host)
    })
  })

  on('a model the host cannot get: one line naming it, exit 68, mistral.rs\'s own message below, nothing left there', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb)
      const result = await sb.run(['codex', '--on', host.alias, '-m', 'org/does-not-exist'])
      expect(result.code).toBe(68)
      expect(result.stderr).toMatch(/^mrs: error: Hugging Face refused org\/does-not-exist \(HTTP 401\)/m)
      expect(result.stderr).toMatch(/Could not access `org\/does-not-exist`/)
      await nothingLeft(sb, host)
    })
  })

  on('the connection lost during the load: one line, exit 69, nothing left on either side', async () => {
    await withSandbox({}, async (sb) => {
      const host = await startSshd(sb, { remoteEnv: { FAKE_MISTRALRS_LOAD_MS: '30000' } })
      const mrs = sb.start(['codex', '--on', host.alias, '-m', MODEL])
      await waitFor(() => remoteStarts(host).length > 0, 15_000, 'the server to start on the host')
      for (const pid of connections(host)) process.kill(pid, 'SIGKILL')
      const result = await mrs.done(20_000)
      expect(result.code).toBe(69)
      expect(result.stderr).toMatch(/^mrs: error: the connection to gpu-box was lost while mistral\.rs loaded; the host stops it when the connection closes, so nothing is left running there; log: /m)
      await nothingLeft(sb, host)
    })
  })

  on.each([
    ['--server-host with --on', ['codex', '--on', 'gpu-box', '--server-host', '0.0.0.0', '-m', MODEL], /--server-host 0\.0\.0\.0 with --on: the server listens only on gpu-box's loopback, reached through your ssh; leave --server-host out/],
    ['--on with --url', ['codex', '--on', 'gpu-box', '--url', 'http://127.0.0.1:1'], /--url is a server that runs already and --on gpu-box starts one there: pick one/],
    ['a host that is an ssh option', ['codex', '--on', '-oProxyCommand=touch /tmp/pwned-by-mrs', '-m', MODEL], /invalid --on "-oProxyCommand=touch \/tmp\/pwned-by-mrs": must be a host as ssh takes it/],
    // what OpenSSH refuses in a host name itself: a ProxyCommand's %h would carry it to a shell
    ['a host with shell syntax', ['codex', '--on', 'gpu$(id)', '-m', MODEL], /invalid --on "gpu\$\(id\)": must be a host as ssh takes it/],
    ['a host with a ;', ['codex', '--on', 'gpu;id', '-m', MODEL], /invalid --on "gpu;id": must be a host as ssh takes it/],
  ])('%s is refused before anything starts (exit 64)', async (_, args, message) => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(args)
      expect(result.code).toBe(64)
      expect(result.stderr.trim()).toMatch(message)
      expect(existsSync('/tmp/pwned-by-mrs')).toBe(false)
    })
  })
})
