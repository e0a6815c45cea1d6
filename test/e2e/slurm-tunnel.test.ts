// `[slurm] tunnel`: how mrs reaches the server on the job's node. Many clusters
// refuse ssh to compute nodes; then (auto) each connection is carried by a step
// of the job, `srun --overlap -u` running mrs's relay on the node
// (src/places/srun-tunnel.ts). The relay on its own first (no Slurm: a shell,
// a TCP server here), then sessions on the real test cluster
// (test/helpers/slurm.ts) whose "nodes" refuse ssh: nothing listens where
// their ssh config points, or the sshd refuses the user.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it, type TestAPI } from 'vitest'
import { RELAY, RELAY_STEP_NAME } from '../../src/places/srun-tunnel.js'
import { expectNoLeftovers, waitFor, withSandbox, type Running, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { startSshd, sshdLog } from '../helpers/sshd.js'
import { jobsGone, liveJobs, ofAJob, onCluster, sshToNodes } from '../helpers/slurm-session.js'
import { clusterProcesses, ensureCluster, jobs, slurm as runSlurm, waitJobGone } from '../helpers/slurm.js'

const MODEL = 'Qwen/Qwen3-4B'
const onSlurm = requires('slurm', 'sshd')
/** An answer long enough to take a while at the fake's pace (so parallel requests overlap), with bytes beyond ASCII. */
const REPLY = `Grüße aus dem Knoten — ${'λ → ✓ 🚀 '.repeat(12)}done`
const PYTHON3 = '/usr/bin/python3'
/** A relay by python3, perl, socat, nc or ncat needs that program here: skipped without it, required in CI (.ci/run installs it). */
const RELAY_TOOLS = ['python3', 'perl', 'nc', 'ncat', 'socat'] as const
const withRelay = (tool: string, base: TestAPI): TestAPI => {
  const need = RELAY_TOOLS.find((t) => t === tool)
  return need ? (base === it ? requires(need) : requires('slurm', 'sshd', need)) : base
}

// ---- the relay alone ------------------------------------------------------------------------------------

/** A dir holding only what the relay needs besides the tools to connect with, and those `tools`. */
function toolDir(sb: Sandbox, tools: string[], extra: Record<string, string> = {}): string {
  const dir = join(sb.root, `tools-${tools.join('-') || 'none'}`)
  mkdirSync(dir, { recursive: true })
  for (const t of ['sh', 'cat', 'uname', 'mktemp', 'mkfifo', 'rm', ...tools]) symlinkSync(extra[t] ?? (t === 'python3' ? PYTHON3 : `/usr/bin/${t}`), join(dir, t))
  return dir
}

/** A TCP server here that echoes what it gets, and closes after `bye` when a chunk says CLOSE. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    c.on('error', () => {})
    c.on('data', (d) => (d.includes('CLOSE') ? c.end('bye') : c.write(d)))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { server, port: (server.address() as { port: number }).port }
}

/** Runs the relay as a step would (`sh -c RELAY mrs-relay PORT`), with PATH `dir`; what it printed and how it ended. */
async function relayOnce(sb: Sandbox, dir: string, port: number, how: 'client-closes' | 'server-closes' | 'server-then-client-closes') {
  const child = spawn('/bin/sh', ['-c', RELAY, 'mrs-relay', String(port)], { env: { ...sb.env, PATH: dir, SLURM_JOB_ID: '7', SLURM_STEP_ID: '3' }, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.on('error', () => {})
  const ended = new Promise<{ code: number | null }>((r) => child.on('close', (code) => r({ code })))
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  let out = Buffer.alloc(0)
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out = Buffer.concat([out, d])))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
  await waitFor(() => out.includes(10) || child.exitCode !== null, 10_000, 'the relay to say it is ready')
  // every byte value, and more than a pipe holds at once
  const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(2 << 20)])
  child.stdin.write('go\n')
  child.stdin.write(payload)
  await waitFor(() => out.length >= out.indexOf(10) + 1 + payload.length || child.exitCode !== null, 10_000, 'the echo')
  let started = Date.now()
  if (how === 'client-closes') child.stdin.end()
  else child.stdin.write('CLOSE')
  if (how === 'server-then-client-closes') {
    await waitFor(() => out.subarray(-3).toString() === 'bye' || child.exitCode !== null, 10_000, 'the server\'s last bytes')
    started = Date.now()
    child.stdin.end()
  }
  const { code } = await ended
  clearTimeout(timer)
  const nl = out.indexOf(10)
  return { code, header: out.subarray(0, nl).toString(), body: out.subarray(nl + 1), payload, err, endMs: Date.now() - started }
}

describe("the tunnel's relay on the node (sh, no Slurm)", () => {
  // nc and ncat keep a connection the server closed until their stdin ends (half-close; socat does not): through them
  // it ends when the client closes it
  for (const [name, tools, serverCloses] of [
    ['bash /dev/tcp', ['bash'], 'server-closes'],
    ['python3', ['python3'], 'server-closes'],
    ['perl', ['perl'], 'server-closes'],
    ['socat', ['socat'], 'server-closes'],
    ['nc (OpenBSD\'s)', ['nc'], 'server-then-client-closes'],
    ['ncat (Nmap\'s)', ['ncat'], 'server-then-client-closes'],
  ] as const)
  withRelay(tools[0], it)(`${name}: says it is ready, carries every byte both ways, ends when ${serverCloses === 'server-closes' ? 'either side closes' : 'the client closes (the server first, or alone)'}, leaves nothing`, async () => {
    await withSandbox({}, async (sb) => {
      const { server, port } = await echoServer()
      try {
        const dir = toolDir(sb, [...tools])
        for (const how of ['client-closes', serverCloses] as const) {
          const r = await relayOnce(sb, dir, port, how)
          expect(r.err).toBe('')
          expect(r.code).toBe(0)
          expect(r.header).toBe(`@mrs-relay ready 7.3 ${tools[0]}`)
          expect(r.body.subarray(0, r.payload.length).equals(r.payload)).toBe(true)
          expect(r.body.subarray(r.payload.length).toString()).toBe(how === 'client-closes' ? '' : 'bye')
          expect(r.endMs).toBeLessThan(1000)
          await expectNoLeftovers(sb, 2000)
        }
      } finally {
        server.close()
      }
    })
  })

  it('nothing to connect with: one line on stderr, exit 127, before any go', async () => {
    await withSandbox({}, async (sb) => {
      const child = spawn('/bin/sh', ['-c', RELAY, 'mrs-relay', '4242'], { env: { ...sb.env, PATH: toolDir(sb, []) }, stdio: ['ignore', 'pipe', 'pipe'] })
      let err = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
      const code = await new Promise((r) => child.on('close', r))
      expect(code).toBe(127)
      expect(err).toMatch(/^mrs relay: nothing on \S+ can connect to 127\.0\.0\.1:4242 \(no bash, python3, perl, socat, nc or ncat on PATH there\)\n$/)
    })
  })

  it('a port nobody listens on: each tool says why, then one line of its own, exit 75; no go: it just ends', async () => {
    await withSandbox({}, async (sb) => {
      const dir = toolDir(sb, ['bash', 'perl'])
      const refused = spawn('/bin/sh', ['-c', RELAY, 'mrs-relay', '1'], { env: { ...sb.env, PATH: dir }, stdio: ['pipe', 'pipe', 'pipe'] })
      let err = ''
      refused.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
      refused.stdin.end('go\n')
      expect(await new Promise((r) => refused.on('close', r))).toBe(75)
      expect(err.trim().split('\n').at(-1)).toMatch(/^mrs relay: nothing accepted a connection to 127\.0\.0\.1:1 on \S+ \(tried bash perl\)$/)
      expect(err).toMatch(/^perl: cannot connect to 127\.0\.0\.1:1: Connection refused$/m)
      // a warm step whose mrs went away: its stdin closes before any go
      const warm = spawn('/bin/sh', ['-c', RELAY, 'mrs-relay', '1'], { env: { ...sb.env, PATH: dir }, stdio: ['pipe', 'ignore', 'ignore'] })
      warm.stdin.end()
      expect(await new Promise((r) => warm.on('close', r))).toBe(0)
      await expectNoLeftovers(sb, 2000)
    })
  })
})

// ---- sessions on the cluster -------------------------------------------------------------------------

/** The job's steps now (`squeue -s`): `1234.5|mrs-tunnel-3`, `1234.batch|batch`, … */
const stepsOf = (sb: Sandbox, job: number) =>
  runSlurm('squeue', ['-h', '-s', '-j', String(job), '-o', '%i|%j'], { env: sb.env })
    .trim()
    .split('\n')
    .filter(Boolean)

const isTunnelStepName = (name: string) => new RegExp(`^${RELAY_STEP_NAME}-\\d+$`).test(name)
const tunnelSteps = (sb: Sandbox, job: number) => stepsOf(sb, job).filter((s) => isTunnelStepName(s.split('|')[1]!))
/** The srun processes that run the tunnel steps of `job`, here or on the login node (this machine, another user). */
const tunnelSruns = (job: number) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      let argv: string[]
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      } catch {
        return false
      }
      return /(^|\/)srun$/.test(argv[0]!) && argv.includes(`--jobid=${job}`) && argv.some((a) => a.startsWith('--job-name=') && isTunnelStepName(a.slice('--job-name='.length)))
    })

/**
 * An `srun` first on PATH that runs mrs's tunnel steps (and only them) on a node whose PATH has only `tools`
 * (and what sh needs), or fails them with srun's words, as a site that forbids more steps would.
 */
function srunForTunnel(sb: Sandbox, relay: { tools: string[]; extra?: Record<string, string> } | { fail: string }): void {
  const bin = join(sb.root, 'srun-bin')
  mkdirSync(bin, { recursive: true })
  const real = '/usr/bin/srun'
  const then = 'fail' in relay ? `echo ${JSON.stringify(relay.fail)} >&2; exit 1` : `PATH=${toolDir(sb, relay.tools, relay.extra)} exec ${real} "$@"`
  writeFileSync(join(bin, 'srun'), `#!/bin/sh\ncase " $* " in *" --job-name=${RELAY_STEP_NAME}-"*) ${then} ;; esac\nexec ${real} "$@"\n`, { mode: 0o755 })
  sb.env.PATH = `${bin}:${sb.env.PATH}`
}

/** One question to the server at `url` (the front door), its answer. */
async function ask(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'say hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  const body = (await res.json()) as { choices: { message: { content: string } }[] }
  return body.choices[0]!.message.content
}

/** `mrs serve`'s URL once it serves. */
const servesAt = async (serve: Running) => (await serve.waitForStderr(/serves \S+ at (http:\/\/127\.0\.0\.1:\d+)/, 45_000))[1]!

/** The job's tunnel steps once the warm ones (two) are there. */
const warmSteps = (sb: Sandbox, job: number) => waitFor(() => (tunnelSteps(sb, job).length >= 2 ? tunnelSteps(sb, job) : undefined), 10_000, 'the warm steps')

/** SIGKILL to every srun of the job's tunnel steps (which leaves their steps running); how many there were. */
function killTunnelSruns(job: number): number {
  const sruns = tunnelSruns(job)
  for (const pid of sruns) process.kill(pid, 'SIGKILL')
  return sruns.length
}

/** Waits until none of `steps` is in the job's `squeue -s`; on a timeout it says which are left, in what state, and what runs for them. */
async function stepsGone(sb: Sandbox, job: number, steps: string[], withinMs: number): Promise<void> {
  let left: string[] = []
  await waitFor(() => (left = tunnelSteps(sb, job).filter((s) => steps.includes(s))).length === 0, withinMs, `steps ${steps.join(', ')} to be cancelled`).catch((e: Error) => {
    const states = runSlurm('squeue', ['-h', '-s', '-j', String(job), '-o', '%i %j %T %M'], { env: sb.env }).trim().replace(/\n/g, '; ')
    const stepds = clusterProcesses().filter((p) => left.some((s) => p.cmd.includes(`[${s.split('|')[0]}]`)))
    throw new Error(`${e.message}; still there: ${left.join(', ')} (squeue -s: ${states}; their slurmstepds: ${stepds.map((p) => p.cmd).join(', ') || 'none'})`)
  })
}

/**
 * `mrs serve`'s URL once it serves; then `n` questions at once, each answered in full, while the job's steps are
 * watched: how many of mrs's tunnel steps ran at once.
 */
async function askAtOnce(sb: Sandbox, serve: Running, n: number, jobOf = () => liveJobs(sb)[0]?.id): Promise<{ answers: string[]; mostSteps: number; job: number }> {
  const url = await servesAt(serve)
  const job = jobOf()!
  let mostSteps = 0
  let asking = true
  const watch = (async () => {
    while (asking) {
      mostSteps = Math.max(mostSteps, tunnelSteps(sb, job).length)
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  try {
    const answers = await Promise.all(Array.from({ length: n }, () => ask(url!)))
    return { answers, mostSteps, job }
  } finally {
    asking = false
    await watch
  }
}

/** The private sockets of the keeper's tunnels (in its dir under the sandbox's TMPDIR), with their modes. */
function tunnelSockets(sb: Sandbox): { path: string; mode: number }[] {
  const found: { path: string; mode: number }[] = []
  const walk = (dir: string, depth: number) => {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const path = join(dir, name)
      const st = statSync(path, { throwIfNoEntry: false })
      if (!st) continue
      if (st.isDirectory() && depth < 4) walk(path, depth + 1)
      else if (st.isSocket() && /^tunnel-/.test(name)) found.push({ path, mode: st.mode & 0o777 })
    }
  }
  walk(sb.tmp, 0)
  return found
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /^mrs: error:/.test(l))
const srunInstead = (stderr: string) => stderr.split('\n').filter((l) => /through srun instead/.test(l))

describe('mrs --slurm: ssh to the node refused', () => {
  onSlurm('auto: one line says so, the session goes through srun: parallel requests answered, the socket private, then no step, job or process left', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_REPLY: REPLY, FAKE_MISTRALRS_PACE_MS: '15' } }, async (sb) => {
      await onCluster(sb, { nodeSsh: 'refused' })
      const serve = sb.start(['serve', '--slurm', '-m', MODEL])
      const { answers, mostSteps, job } = await askAtOnce(sb, serve, 6)
      expect(answers).toEqual(Array(6).fill(REPLY))
      // six connections at once, each its own step (and the warm ones beside them)
      expect(mostSteps).toBeGreaterThanOrEqual(6)
      expect(srunInstead(serve.stderr)).toEqual([expect.stringMatching(/^(mrs: )?ssh to mrsnode\d failed \(ssh: connect to host 127\.0\.0\.1 port 1: Connection refused\): reaching the server through srun instead$/)])
      expect(tunnelSockets(sb)).toEqual([{ path: expect.any(String), mode: 0o600 }])
      // the warm steps wait; nothing else of the tunnel's runs once the requests are done
      await waitFor(() => tunnelSteps(sb, job).length <= 3, 10_000, 'the connections\' steps to end')
      serve.kill('SIGTERM')
      const done = await serve.done(20_000)
      expect(errorLines(done.stderr)).toEqual([])
      const { ms } = await jobsGone(sb)
      expect(ms).toBeLessThan(5000)
    })
  })

  for (const tools of [['bash'], ['python3'], ['perl'], ['socat'], ['nc'], ['ncat']] as const)
  withRelay(tools[0], onSlurm)(`tunnel = "srun" with ssh that works: the steps carry it, relayed by ${tools[0]} on the node; no ssh to the node`, async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'ask', FAKE_MISTRALRS_REPLY: REPLY } }, async (sb) => {
      const host = await onCluster(sb)
      srunForTunnel(sb, { tools: [...tools] })
      sb.writeConfig('[slurm]\ntunnel = "srun"\n')
      const result = await sb.run(['claude', '--slurm', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe(`${REPLY}\n`)
      expect(srunInstead(result.stderr)).toEqual([])
      // nobody logged in to a node
      expect(sshdLog(host)).not.toMatch(/Accepted publickey for root/)
      await jobsGone(sb)
    })
  })

  onSlurm('tunnel = "ssh" and the node refuses it: one line naming the node and ssh\'s reason, exit 69 within seconds, the job gone', async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb, { nodeSsh: 'denied' })
      sb.writeConfig('[slurm]\ntunnel = "ssh"\n')
      const result = await sb.run(['codex', '--slurm', '-m', MODEL], { timeoutMs: 30_000 })
      expect(result.code, result.stderr).toBe(69)
      expect(errorLines(result.stderr)).toEqual([
        expect.stringMatching(/^mrs: error: the tunnel to mrsnode\d:\d+ failed: ssh to mrsnode\d: mrs-nobody@127\.0\.0\.1: Permission denied \(publickey\)\. \(\[slurm\] tunnel = "ssh"; "auto" or "srun" reaches the node through Slurm instead\); log: /),
      ])
      expect(result.ms).toBeLessThan(15_000)
      const { ms } = await jobsGone(sb)
      expect(ms).toBeLessThan(5000)
    })
  })

  onSlurm.each([
    ['the node has nothing to connect with (no bash, python3, perl, socat, nc, ncat)', { tools: [] }, /mrs relay: nothing on \S+ can connect to 127\.0\.0\.1:\d+ \(no bash, python3, perl, socat, nc or ncat on PATH there\)/],
    ['srun refuses the step', { fail: 'srun: error: Unable to create step for job 1: Access/permission denied' }, /srun: error: Unable to create step for job 1: Access\/permission denied/],
  ] as const)('neither ssh nor srun works (%s): one line with both reasons, exit 69 within seconds, the job gone', async (_, relay, srunSaid) => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb, { nodeSsh: 'refused' })
      srunForTunnel(sb, relay as { tools: string[] } | { fail: string })
      const result = await sb.run(['codex', '--slurm', '-m', MODEL], { timeoutMs: 30_000 })
      expect(result.code, result.stderr).toBe(69)
      const [line, ...more] = errorLines(result.stderr)
      expect(more).toEqual([])
      expect(line).toMatch(/^mrs: error: the tunnel to mrsnode\d:\d+ failed: ssh to mrsnode\d failed \(ssh: connect to host 127\.0\.0\.1 port 1: Connection refused\), and so did srun \(/)
      expect(line).toMatch(srunSaid)
      expect(srunInstead(result.stderr)).toHaveLength(1)
      expect(result.ms).toBeLessThan(15_000)
      const { ms } = await jobsGone(sb)
      expect(ms).toBeLessThan(5000)
    })
  })

  onSlurm('a tunnel step\'s srun killed outright (which leaves its step running): mrs cancels the step, and the next request is answered', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_REPLY: REPLY } }, async (sb) => {
      await onCluster(sb, { nodeSsh: 'refused' })
      const serve = sb.start(['serve', '--slurm', '-m', MODEL])
      const url = await servesAt(serve)
      const job = liveJobs(sb)[0]!.id
      const warm = await warmSteps(sb, job)
      expect(killTunnelSruns(job)).toBeGreaterThanOrEqual(2)
      // a step that goes takes a scancel or two, each a round trip to slurmctld and slurmd: seconds on a loaded machine
      await stepsGone(sb, job, warm, 20_000)
      expect(liveJobs(sb).map((j) => j.id)).toEqual([job])
      expect(await ask(url)).toBe(REPLY)
      serve.kill('SIGTERM')
      await serve.done(20_000)
      await jobsGone(sb)
    })
  })

  onSlurm('a tunnel step\'s srun killed before its relay said which step it is: mrs finds the step by its name and cancels it', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_REPLY: REPLY } }, async (sb) => {
      await onCluster(sb, { nodeSsh: 'refused' })
      // while `slow` exists, a step's relay starts 8 s late: the step runs, its id not yet said
      const slow = join(sb.root, 'slow')
      const slowSh = join(sb.root, 'slow-sh')
      writeFileSync(slowSh, `#!/bin/sh\n[ -e ${slow} ] && /usr/bin/sleep 8\nexec /bin/sh "$@"\n`, { mode: 0o755 })
      srunForTunnel(sb, { tools: ['bash'], extra: { sh: slowSh } })
      const serve = sb.start(['serve', '--slurm', '-m', MODEL])
      const url = await servesAt(serve)
      const job = liveJobs(sb)[0]!.id
      const said = await warmSteps(sb, job)
      writeFileSync(slow, '')
      killTunnelSruns(job)
      // the pool starts new steps, which stay silent
      const silent = await waitFor(() => {
        const steps = tunnelSteps(sb, job).filter((s) => !said.includes(s))
        return steps.length ? steps : undefined
      }, 10_000, 'new warm steps')
      expect(killTunnelSruns(job)).toBeGreaterThanOrEqual(1)
      await stepsGone(sb, job, [...said, ...silent], 20_000)
      rmSync(slow)
      expect(await ask(url)).toBe(REPLY)
      serve.kill('SIGTERM')
      await serve.done(20_000)
      await jobsGone(sb)
    })
  })

  onSlurm('SIGKILL of mrs and all of its processes, srun included: the job ends itself, its steps with it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      await onCluster(sb, { nodeSsh: 'refused' })
      sb.start(['claude', '--slurm', '-m', MODEL, '--server-log'])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 45_000, 'the client to start')
      const job = liveJobs(sb)[0]!.id
      await warmSteps(sb, job)
      for (const pid of sb.leftovers())
        if (!ofAJob(pid))
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // it exited between the listing and the kill
          }
      // a killed srun leaves its step: the job's end (its server step misses 3 heartbeats) takes them
      const { ms } = await jobsGone(sb, 60_000)
      expect(ms).toBeLessThan(30_000)
    })
  })
})

describe('mrs --on LOGIN --slurm: ssh to the node refused', () => {
  onSlurm('a tunnel step\'s srun killed outright on the login node: mrs cancels the step there, and the next request is answered', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_REPLY: REPLY } }, async (sb) => {
      const cluster = await ensureCluster()
      const login = await startSshd(sb, { alias: 'hpc-login', remoteEnv: cluster.env })
      sshToNodes(login.configPath, login.port, 'mrs-remote', 'refused')
      const serve = sb.start(['serve', '--on', 'hpc-login', '--slurm', '-m', MODEL])
      const url = await servesAt(serve)
      const job = jobs().find((j) => j.user === 'mrs-remote' && j.name.startsWith('mrs-') && j.state === 'RUNNING')!.id
      const warm = await warmSteps(sb, job)
      // the login node's sruns (the remote user's): ssh here then ends with 255, not a signal
      expect(killTunnelSruns(job)).toBeGreaterThanOrEqual(2)
      await stepsGone(sb, job, warm, 20_000)
      expect(await ask(url)).toBe(REPLY)
      serve.kill('SIGTERM')
      await serve.done(20_000)
      await waitJobGone(job, 15_000)
      await expectNoLeftovers(sb, 5000)
    })
  })

  onSlurm('auto: the steps run through the login node\'s master: parallel requests answered, then nothing left there or here', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_REPLY: REPLY, FAKE_MISTRALRS_PACE_MS: '15' } }, async (sb) => {
      const cluster = await ensureCluster()
      const login = await startSshd(sb, { alias: 'hpc-login', remoteEnv: cluster.env })
      sshToNodes(login.configPath, login.port, 'mrs-remote', 'refused')
      const serve = sb.start(['serve', '--on', 'hpc-login', '--slurm', '-m', MODEL])
      const job = await waitFor(() => jobs().find((j) => j.user === 'mrs-remote' && j.name.startsWith('mrs-') && j.state === 'RUNNING'), 45_000, 'the job')
      const { answers, mostSteps } = await askAtOnce(sb, serve, 4, () => job.id)
      expect(answers).toEqual(Array(4).fill(REPLY))
      expect(mostSteps).toBeGreaterThanOrEqual(4)
      // through the login node's master, ssh to the node is refused there: ssh's reason is the login node's answer
      expect(srunInstead(serve.stderr)).toEqual([expect.stringMatching(/^(mrs: )?ssh to mrsnode\d failed \(.*Connection refused.*\): reaching the server through srun instead$/)])
      serve.kill('SIGTERM')
      const done = await serve.done(20_000)
      expect(errorLines(done.stderr)).toEqual([])
      await waitJobGone(job.id, 15_000)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
