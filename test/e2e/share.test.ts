// One loaded model for every terminal: sessions that ask for the same server
// share it, leases end with their owners (even SIGKILLed ones), and ps / stop
// / logs / doctor see and manage what mrs started.
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectGone, expectNoLeftovers, isAlive, sleep, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'
const started = (sb: Sandbox, n: number) => waitFor(() => sb.clientLines().filter((l) => l.startsWith('start ')).length >= n, 20_000, `${n} clients`)

describe('sharing a server', () => {
  it('the real Claude Code and Codex at once share one server, and both get answers', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_LOAD_MS: '800' } }, async (sb) => {
      const claude = sb.start(['claude', '-m', MODEL, '--', '-p', 'say hi'])
      const codex = sb.start(['codex', '-m', MODEL, '--', '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi'])
      const [a, b] = await Promise.all([claude.done(), codex.done()])
      expect([a.code, b.code]).toEqual([0, 0])
      expect(a.stdout).toBe('Hello from fake mistral.rs\n')
      expect(b.stdout).toBe('Hello from fake mistral.rs\n')
      expect(sb.serverPids()).toHaveLength(1)
      expect(new Set(sb.requests().filter((r) => r.path !== '/v1/models').map((r) => r.pid)).size).toBe(1)
      await expectNoLeftovers(sb)
    })
  })

  it('attaches to a running server at once, without loading again', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30', FAKE_MISTRALRS_LOAD_MS: '1500' } }, async (sb) => {
      const first = sb.start(['claude', '-m', MODEL])
      await started(sb, 1)
      const second = await sb.run(['codex', '-m', MODEL], { env: { FAKE_CLIENT_MODE: 'exit:0' } })
      expect(second.code).toBe(0)
      expect(second.stderr).toMatch(/using the running server \w+ \(Qwen\/Qwen3-4B\) at http:\/\/127\.0\.0\.1:\d+/)
      // far less than the 1.5 s load: no second load
      expect(second.ms).toBeLessThan(1500)
      expect(sb.serverPids()).toHaveLength(1)
      first.kill('SIGTERM')
      await first.done()
      await expectNoLeftovers(sb)
    })
  })

  it('keeps the server while any lease lives, also after the first owner was SIGKILLed; stops it after the last', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const owner = sb.start(['claude', '-m', MODEL, '--grace', '1s'])
      await started(sb, 1)
      const guest = sb.start(['codex', '-m', MODEL])
      await started(sb, 2)
      const [server] = sb.serverPids()
      const [ownerClient, guestClient] = sb.clientPids()
      owner.kill('SIGKILL')
      // the owner's client is stopped with it; the server stays for the guest
      await expectGone([ownerClient!], 4000)
      await sleep(300)
      expect(isAlive(server!)).toBe(true)
      expect(isAlive(guestClient!)).toBe(true)
      guest.kill('SIGTERM')
      expect((await guest.done()).code).toBe(143)
      await expectGone([server!], 2000)
      await expectNoLeftovers(sb)
    })
  })

  it('keeps a server for --keep-alive after the last session, for the next one to attach', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      expect((await sb.run(['claude', '-m', MODEL, '--keep-alive', '3s'])).code).toBe(0)
      const [server] = sb.serverPids()
      expect(isAlive(server!)).toBe(true)
      const next = await sb.run(['claude', '-m', MODEL, '--keep-alive', '0'])
      expect(next.code).toBe(0)
      expect(next.stderr).toMatch(/using the running server/)
      expect(sb.serverPids()).toHaveLength(1)
      // the last session had no keep-alive: the server goes with it
      await expectGone([server!], 2000)
    })
  })

  it('uses a short keep-alive by default', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0', MRS_KEEP_ALIVE: '' } }, async (sb) => {
      expect((await sb.run(['claude', '-m', MODEL])).code).toBe(0)
      const [server] = sb.serverPids()
      await sleep(500)
      expect(isAlive(server!)).toBe(true)
      await expectGone([server!], 4000)
    })
  })

  it('--no-share starts a private server', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const a = sb.start(['claude', '-m', MODEL])
      await started(sb, 1)
      const b = sb.start(['claude', '-m', MODEL, '--no-share'])
      await started(sb, 2)
      expect(sb.serverPids()).toHaveLength(2)
      a.kill('SIGTERM')
      b.kill('SIGTERM')
      await Promise.all([a.done(), b.done()])
      await expectNoLeftovers(sb)
    })
  })

  it('does not share between different requests (model, tools, args)', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const runs = [sb.start(['claude', '-m', MODEL]), sb.start(['claude', '-m', 'Qwen/Other']), sb.start(['claude', '-m', MODEL, '--web-search'])]
      await started(sb, 3)
      expect(sb.serverPids()).toHaveLength(3)
      for (const r of runs) r.kill('SIGTERM')
      await Promise.all(runs.map((r) => r.done()))
    })
  })

  it('mrs serve holds a lease: a later mrs claude uses its server; Ctrl-C on serve stops it once the client is done', async () => {
    await withSandbox({}, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/)
      const claude = await sb.run(['claude', '-m', MODEL])
      expect(claude.stderr).toMatch(/using the running server/)
      expect(sb.serverPids()).toHaveLength(1)
      serve.kill('SIGINT')
      expect((await serve.done()).code).toBe(130)
      await expectNoLeftovers(sb)
    })
  })
})

describe('state', () => {
  it('keeps the registry private to the user', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const run = sb.start(['claude', '-m', MODEL])
      await started(sb, 1)
      expect(statSync(sb.serversDir).mode & 0o777).toBe(0o700)
      for (const f of readdirSync(sb.serversDir).filter((n) => n.endsWith('.json'))) expect(statSync(join(sb.serversDir, f)).mode & 0o777).toBe(0o600)
      run.kill('SIGTERM')
      await run.done()
    })
  })

  it('sets corrupt entries aside and removes stale ones instead of trusting them', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      mkdirSync(sb.serversDir, { recursive: true })
      writeFileSync(join(sb.serversDir, 'garbage1.json'), '{ not json')
      // a live PID that is not a keeper (this test runner), posing as one
      const impostor = { id: 'dead0001', key: null, family: null, shared: false, keeperPid: process.pid, place: { kind: 'local' }, serverPid: process.pid, serverStart: '1', port: 9, host: '127.0.0.1', url: 'http://127.0.0.1:9', models: [MODEL], binary: '/bin/mistralrs', argv: ['serve'], logPath: null, socketPath: join(sb.serversDir, 'dead0001.sock'), tmpDir: join(sb.tmp, `mrs-${process.getuid!()}`, 'server-dead0001'), startedAt: 1, state: 'ready', restarts: 0, sessions: 1 }
      writeFileSync(join(sb.serversDir, 'dead0001.json'), JSON.stringify(impostor))
      const ps = await sb.run(['ps', '--json'])
      expect(JSON.parse(ps.stdout)).toEqual([])
      expect(ps.stderr).toMatch(/warning: ignored an invalid server entry \(not valid JSON\); moved it to \S+garbage1\.json\.bad/)
      expect(readdirSync(sb.serversDir)).toEqual(['garbage1.json.bad'])
      // and this test runner was not harmed
      expect(isAlive(process.pid)).toBe(true)
    })
  })

  it('stops a server whose keeper was SIGKILLed, at the next mrs', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const run = sb.start(['claude', '-m', MODEL, '--grace', '1s'])
      await started(sb, 1)
      const [entry] = readdirSync(sb.serversDir).filter((n) => n.endsWith('.json'))
      const info = JSON.parse(readFileSync(join(sb.serversDir, entry!), 'utf8'))
      process.kill(info.keeperPid, 'SIGKILL')
      // the session sees its keeper vanish: it stops the server and its client (exit 70)
      const result = await run.done(10_000)
      expect(result.code).toBe(70)
      expect(result.stderr).toMatch(/mrs's server keeper died; stopping its server/)
      await expectGone([info.serverPid], 3000)
      // what the dead keeper left in the registry goes at the next run
      expect((await sb.run(['ps', '--json'])).stdout.trim()).toBe('[]')
      expect(readdirSync(sb.serversDir)).toEqual([])
    })
  })
})

describe('mrs ps, stop, logs', () => {
  it('lists servers with id, model, URL, PID, uptime, sessions and log (human and --json)', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const a = sb.start(['claude', '-m', MODEL])
      const b = sb.start(['codex', '-m', MODEL])
      await started(sb, 2)
      const json = JSON.parse((await sb.run(['ps', '--json'])).stdout)
      expect(json).toHaveLength(1)
      expect(json[0]).toMatchObject({ models: [MODEL], serverPid: sb.serverPids()[0], sessions: 2, state: 'ready', shared: true })
      expect(json[0].url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(json[0].uptimeMs).toBeGreaterThan(0)
      const human = (await sb.run(['ps'])).stdout
      expect(human).toMatch(/^ID\s+MODEL\s+WHERE\s+URL\s+PID\s+UPTIME\s+SESSIONS\s+STATE\s+CONTEXT\s+RUN\/WAIT\s+TOK\/S\s+TTFT\s+KV\s+PREFIX\s+LOG$/m)
      expect(human).toMatch(new RegExp(`^${json[0].id}  ${MODEL}  this machine\\s+${json[0].url}`, 'm'))
      a.kill('SIGTERM')
      b.kill('SIGTERM')
      await Promise.all([a.done(), b.done()])
      expect(JSON.parse((await sb.run(['ps', '--json'])).stdout)).toEqual([])
      expect((await sb.run(['ps'])).stdout).toMatch(/no servers started by mrs are running/)
    })
  })

  it('mrs stop stops a server; its sessions say so and stop their clients (exit 70)', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const session = sb.start(['claude', '-m', MODEL, '--grace', '1s'])
      await started(sb, 1)
      const [id] = JSON.parse((await sb.run(['ps', '--json'])).stdout).map((s: { id: string }) => s.id)
      const stop = await sb.run(['stop', id.slice(0, 4)])
      expect(stop.code).toBe(0)
      expect(stop.stderr).toMatch(new RegExp(`stopped ${id} \\(Qwen/Qwen3-4B\\); 1 session was told`))
      const result = await session.done(10_000)
      expect(result.code).toBe(70)
      expect(result.stderr).toMatch(/the server was stopped with mrs stop/)
      await expectNoLeftovers(sb)
    })
  })

  it('mrs stop --all, and mrs stop with nothing to stop', async () => {
    await withSandbox({}, async (sb) => {
      const serves = [sb.start(['serve', '-m', MODEL]), sb.start(['serve', '-m', 'Qwen/Other'])]
      await Promise.all(serves.map((s) => s.waitForStderr(/Press Ctrl-C/)))
      const many = await sb.run(['stop'])
      expect(many.code).toBe(64)
      expect(many.stderr).toMatch(/2 servers are running .* name one \(mrs stop ID\) or use --all/)
      expect((await sb.run(['stop', '--all'])).code).toBe(0)
      const codes = await Promise.all(serves.map((s) => s.done().then((r) => r.code)))
      expect(codes).toEqual([70, 70])
      const none = await sb.run(['stop'])
      expect(none.code).toBe(1)
      expect(none.stderr).toMatch(/no servers started by mrs are running/)
      // nothing matched is exit 1 with --all too, as the README says
      const noneAll = await sb.run(['stop', '--all'])
      expect(noneAll.code).toBe(1)
      expect(noneAll.stderr).toMatch(/no servers started by mrs are running/)
      await expectNoLeftovers(sb)
    })
  })

  it('mrs logs asks which server when several run, as mrs stop does', async () => {
    await withSandbox({}, async (sb) => {
      const serves = [sb.start(['serve', '-m', MODEL]), sb.start(['serve', '-m', 'Qwen/Other'])]
      await Promise.all(serves.map((s) => s.waitForStderr(/Press Ctrl-C/)))
      const logs = await sb.run(['logs'])
      expect(logs.code).toBe(64)
      expect(logs.stderr).toMatch(/2 servers are running \(\w+, \w+\): name one \(mrs logs ID\)/)
      for (const s of serves) s.kill('SIGINT')
      await Promise.all(serves.map((s) => s.done()))
    })
  })

  it('mrs logs shows a server\'s log, -n its tail, -f follows it until the server stops', async () => {
    await withSandbox({}, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C/)
      const log = await sb.run(['logs'])
      expect(log.code).toBe(0)
      expect(log.stdout).toMatch(/Server listening on http:\/\/127\.0\.0\.1:\d+/)
      const tail = await sb.run(['logs', '-n', '1'])
      expect(tail.stdout.trim().split('\n')).toHaveLength(1)
      const follow = sb.start(['logs', '-f'])
      await waitFor(() => follow.stdout.includes('Server listening'), 5000, 'the log')
      serve.kill('SIGINT')
      await serve.done()
      const followed = await follow.done(10_000)
      expect(followed.code).toBe(0)
      expect(followed.stdout).toMatch(/\[mrs\] stopped \(released\)/)
      // the log of a finished server is still there
      expect((await sb.run(['logs'])).stdout).toMatch(/\[mrs\] stopped/)
    })
  })
})

describe('mrs doctor', () => {
  it('reports what is there and exits 0 when nothing blocks', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['doctor'])
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^✓ mistralrs +0\.9\.2 at \S+ \(needs ≥ 0\.8\.4 for the Anthropic Messages API; a model too big for this machine is quantized with --quant\)/m)
      // all six clients, each with the version read from its installed package
      expect(result.stdout).toMatch(/^✓ claude +2\.1\.197 at /m)
      expect(result.stdout).toMatch(/^✓ codex +0\.169\.0 at /m)
      expect(result.stdout).toMatch(/^✓ opencode +1\.18\.33 at /m)
      expect(result.stdout).toMatch(/^✓ copilot +1\.0\.102 at /m)
      expect(result.stdout).toMatch(/^✓ pi +0\.73\.1 at /m)
      expect(result.stdout).toMatch(/^✓ qwen +0\.15\.10 at /m)
      expect(result.stdout).toMatch(/^✓ gpu +CPU: [\d.]+ GB .*no GPU found, models run on the CPU/m)
      expect(result.stdout).toMatch(/^✓ models +Hugging Face cache /m)
      expect(result.stdout).toMatch(/ready for mrs claude, mrs codex, mrs opencode, mrs copilot, mrs pi, mrs qwen/)
      const json = JSON.parse((await sb.run(['doctor', '--json'])).stdout)
      expect(json.ok).toBe(true)
      // the server's side (mistral.rs, the clients, the GPU, the models), then this machine's
      expect(json.checks.map((c: { name: string }) => c.name)).toEqual(['mistralrs', 'claude', 'codex', 'opencode', 'copilot', 'pi', 'qwen', 'gpu', 'models', 'config', 'state', 'logs', 'temp', 'ports', 'servers'])
    })
  })

  it('names each problem with its fix and exits 1 when something blocks', async () => {
    await withSandbox({ clients: 'none', mistralrs: false }, async (sb) => {
      sb.writeConfig('prot = 1\n')
      const result = await sb.run(['doctor'])
      expect(result.code).toBe(1)
      expect(result.stdout).toMatch(/^✗ mistralrs +not found on PATH\n +fix: curl /m)
      expect(result.stdout).toMatch(/^✗ claude +not found on PATH\n +fix: npm install -g @anthropic-ai\/claude-code/m)
      expect(result.stdout).toMatch(/^✗ qwen +not found on PATH\n +fix: npm install -g @qwen-code\/qwen-code@0\.15\.10/m)
      // which Qwen Code versions run on this Node
      if (Number(process.versions.node.split('.')[0]) < 22) expect(result.stdout).toMatch(/note: on Node v\S+, Qwen Code 0\.15\.10 is the newest that supports it \(0\.21 and later declare Node >= 22\)/)
      expect(result.stdout).toMatch(/^✗ config +config error in .*unknown key "prot"/m)
      expect(result.stdout).toMatch(/nothing is ready: mistralrs, claude, codex, opencode, copilot, pi, qwen, config block it/)
    })
  })

  it('checks only what one client needs with `mrs doctor codex`', async () => {
    await withSandbox({ clients: 'none' }, async (sb) => {
      // codex only: a codex on PATH, no claude
      const bin = join(sb.root, 'bin')
      writeFileSync(join(bin, 'codex'), '#!/bin/sh\necho "codex-cli 0.169.0"\n')
      chmodSync(join(bin, 'codex'), 0o755)
      const result = await sb.run(['doctor', 'codex'])
      expect(result.code).toBe(0)
      expect(result.stdout).not.toMatch(/claude/)
      expect(result.stdout).toMatch(/ready for mrs codex/)
    })
  })
})
