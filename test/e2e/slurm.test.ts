// `--slurm`: a GPU from the cluster's scheduler, released when the session
// ends. A real Slurm cluster on this machine (test/helpers/slurm.ts: slurmctld,
// two slurmd, munge, stand-in GPUs) and a real sshd (test/helpers/sshd.ts),
// which is how mrs reaches a job's node. On the login node (this machine) the
// job is the test user's (root in CI), so root may log in to the "nodes";
// with --on LOGIN the login node is the sshd's second user.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { FAKE_BIN, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { startSshd } from '../helpers/sshd.js'
import { jobsGone, liveJobs, ofAJob, onCluster } from '../helpers/slurm-session.js'
import { DOWN_PARTITION, HIGH_PARTITION, LOW_PARTITION, NODES, ensureCluster, jobs, jobsOf, slurm as runSlurm, waitJobGone } from '../helpers/slurm.js'
import { terminal } from '../helpers/terminal.js'

const MODEL = 'Qwen/Qwen3-4B'
const onSlurm = requires('slurm', 'sshd')

const keeperLog = (sb: Sandbox) => readdirSync(sb.logDir).map((f) => readFileSync(join(sb.logDir, f), 'utf8')).join('\n')

describe('mrs --slurm on the login node', () => {
  onSlurm('submits a job, runs the server in it, the client here, and ends the job when the client exits', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb)
      const result = await sb.run(['claude', '--slurm', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      const { jobs: [job] } = await jobsGone(sb)
      expect(job!.name).toMatch(/^mrs-[0-9a-f]{8}$/)
      // inside the allocation: a step of the job, on the node's loopback, at full precision (it fits the node), told its hub cache
      const [start] = sb.records().filter((r) => r.event === 'start')
      expect(start!.argv).toEqual(['serve', '-p', expect.stringMatching(/^\d+$/), '--host', '127.0.0.1', '-m', MODEL, '--hf-cache', join(sb.env.HF_HOME!, 'hub')])
      expect(keeperLog(sb)).toMatch(new RegExp(`Slurm job ${job!.id} runs on mrsnode\\d; loading the model`))
    })
  })

  onSlurm.each([
    ['claude', ['-p', 'say hi']],
    ['codex', ['--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi']],
  ] as const)('the real %s answers from the model in the job', async (client, args) => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      await onCluster(sb)
      const result = await sb.run([client, '--slurm', '-m', MODEL, '--', ...args], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toBe('Hello from fake mistral.rs\n')
      await jobsGone(sb)
    })
  })

  onSlurm('while queued it says why; Ctrl-C cancels the job', async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['codex', '--slurm', `--slurm-arg=--partition=${DOWN_PARTITION}`, '-m', MODEL, '--server-log'])
      await mrs.waitForStderr(/Slurm job \d+ queued \(PartitionDown\) for \d+s/, 20_000)
      expect(liveJobs(sb)).toHaveLength(1)
      mrs.kill('SIGINT')
      expect((await mrs.done(20_000)).code).toBe(130)
      const { ms } = await jobsGone(sb)
      expect(ms).toBeLessThan(5000)
    })
  })

  onSlurm('the user\'s [slurm] table and --slurm-arg reach sbatch; --dry-run shows the batch script and the lines', async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb)
      sb.writeConfig(`[slurm]\npartition = "${DOWN_PARTITION}"\ntime = "1:00:00"\ngpus = 1\nargs = ["--comment=from-config"]\n`)
      const dry = await sb.run(['codex', '--slurm', '--slurm-arg=--mem=1M', '-m', MODEL, '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(/^job: +sbatch --parsable --job-name=mrs-<id> --output=\S+\/job-%j\.out --partition=mrsdown --time=1:00:00 --gpus=1 --comment=from-config --mem=1M < the batch script:$/m)
      expect(dry.stdout).toMatch(/^ {12}# The job ends when its server step has lost mrs, or when no server step of mrs's has run for 20 s$/m)
      expect(dry.stdout).toMatch(/^ {12}# \(10 s once one has run\)\.$/m)
      expect(dry.stdout).toMatch(/^server: +srun --jobid=<job> --overlap --nodes=1 --ntasks-per-node=1 sh -c <mrs's program> …: mistralrs serve -p <free port on the node> --host 127\.0\.0\.1 -m Qwen\/Qwen3-4B <quantization chosen there> --hf-cache <its Hugging Face cache>$/m)
      // tunnel = "auto" (the default): ssh to the node, else Slurm steps
      expect(dry.stdout).toMatch(/^tunnel: +ssh -N -L <private socket here>:127\.0\.0\.1:<that port> <the job's node>; if ssh to the node is refused, a step per connection: srun --jobid=<job> --overlap <a relay to 127\.0\.0\.1:<that port>>$/m)
      expect(jobsOf(sb)).toEqual([])
      const mrs = sb.start(['codex', '--slurm', '--slurm-arg=--mem=1M', '-m', MODEL, '--server-log'])
      await mrs.waitForStderr(/queued \(PartitionDown\)/, 20_000)
      const [job] = liveJobs(sb)
      const shown = runSlurm('scontrol', ['show', 'job', String(job!.id)], { env: sb.env })
      expect(shown).toMatch(/Partition=mrsdown/)
      expect(shown).toMatch(/TimeLimit=01:00:00/)
      expect(shown).toMatch(/Comment=from-config/)
      expect(shown).toMatch(/MinMemoryNode=1M/)
      mrs.kill('SIGTERM')
      expect((await mrs.done(20_000)).code).toBe(143)
      await jobsGone(sb)
    })
  })
})

describe('mrs --slurm: every exit path ends the job', () => {
  onSlurm.each([
    ['SIGHUP (a closed terminal)', 'SIGHUP', 129],
    ['SIGTERM', 'SIGTERM', 143],
  ] as const)('%s while the client runs: the job ends', async (_, signal, code) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 30_000, 'the client to start')
      mrs.kill(signal)
      expect((await mrs.done(20_000)).code).toBe(code)
      const { ms } = await jobsGone(sb)
      expect(ms).toBeLessThan(5000)
    })
  })

  onSlurm('SIGKILL of mrs: its keeper ends the job', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 30_000, 'the client to start')
      mrs.kill('SIGKILL')
      await jobsGone(sb)
    })
  })

  onSlurm.each([
    ['while it runs', false],
    ['while it is queued', true],
  ] as const)('SIGKILL of mrs and all of its processes %s: the job notices and ends itself', async (_, queued) => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60' } }, async (sb) => {
      await onCluster(sb)
      sb.start(['claude', '--slurm', '-m', MODEL, ...(queued ? ['--slurm-arg=--hold'] : []), '--server-log'])
      await waitFor(() => liveJobs(sb).length === 1 && (queued ? liveJobs(sb)[0]!.state === 'PENDING' : sb.clientLines().some((l) => l.startsWith('start '))), 30_000, 'the job')
      // everything of the test's here: mrs, its keeper, srun, ssh, the client; the job's own processes are Slurm's
      for (const pid of sb.leftovers())
        if (!ofAJob(pid))
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // it exited between the listing and the kill (an ssh or srun finishing its work)
          }
      // a held job runs once released: with mrs gone, nobody comes for it
      if (queued) runSlurm('scontrol', ['release', String(liveJobs(sb)[0]!.id)], { env: sb.env })
      const { ms } = await jobsGone(sb, 60_000)
      // running: its srun killed, the step ends, and no next one comes within 10 s; queued: the lease (20 s) after it starts
      expect(ms).toBeLessThan(30_000)
    })
  })

  onSlurm('a job preempted by a higher-priority one: the session ends with one line saying so', { timeout: 90_000 }, async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:120' } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', `--slurm-arg=--partition=${LOW_PARTITION}`, '--slurm-arg=--gres=gpu:2', '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 30_000, 'the client to start')
      const [job] = liveJobs(sb)
      const high = runSlurm('sbatch', ['--parsable', `--partition=${HIGH_PARTITION}`, '--gres=gpu:2', `--job-name=high-${sb.id}`, `--output=${join(sb.root, 'high.out')}`, '--wrap', 'sleep 30'], { env: sb.env, cwd: sb.work }).trim()
      try {
        const result = await mrs.done(60_000)
        expect(result.code).toBe(70)
        expect(result.stderr.trim().split('\n').filter((l) => /^mrs: error:/.test(l))).toEqual([expect.stringMatching(new RegExp(`^mrs: error: the Slurm job ${job!.id} was preempted; log: `))])
        // not restarted: the job that held the GPU is gone
        expect(result.stderr).not.toMatch(/restarted it/)
      } finally {
        runSlurm('scancel', [high], { env: sb.env })
      }
      await jobsGone(sb)
    })
  })
})

describe('mrs --slurm: sharing, ps, logs, stop, check', () => {
  onSlurm('sessions with the same model and options share one job; ps shows it, stop cancels it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb)
      // a time limit, which ps counts down
      sb.writeConfig('[slurm]\ntime = "30:00"\n')
      const serve = sb.start(['serve', '--slurm', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/, 30_000)
      const client = await sb.run(['claude', '--slurm'])
      expect(client.code, client.stderr).toBe(0)
      expect(client.stderr).toMatch(/using the running server \w+ \(Qwen\/Qwen3-4B\)/)
      expect(jobsOf(sb)).toHaveLength(1)
      const [job] = jobsOf(sb)
      const ps = await sb.run(['ps'])
      expect(ps.stdout).toMatch(new RegExp(`Qwen/Qwen3-4B\\s+Slurm job ${job!.id} on mrsnode\\d, (?:29:\\d\\d|30:00) left\\s+http`))
      const logs = await sb.run(['logs'])
      expect(logs.stdout).toMatch(/Server listening on http:\/\/127\.0\.0\.1:\d+/)
      const check = await sb.run(['check', '--slurm', '-m', MODEL])
      expect(check.code, check.stderr).toBe(0)
      expect(jobsOf(sb)).toHaveLength(1)
      expect((await sb.run(['stop'])).code).toBe(0)
      expect((await serve.done(20_000)).code).toBe(70)
      await jobsGone(sb)
    })
  })

  onSlurm('three launches of the same model at the same moment: one job, every session served, the job gone after the last', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:6' } }, async (sb) => {
      await onCluster(sb)
      const runs = [0, 1, 2].map(() => sb.start(['claude', '--slurm', '-m', MODEL]))
      let most = 0
      const watch = setInterval(() => (most = Math.max(most, liveJobs(sb).length)), 200)
      const results = await Promise.all(runs.map((r) => r.done(60_000))).finally(() => clearInterval(watch))
      expect(results.map((r) => r.code)).toEqual([0, 0, 0])
      // one of them loads it; the others wait for that load and use it
      expect(results.filter((r) => /mistral\.rs is ready at/.test(r.stderr))).toHaveLength(1)
      expect(results.filter((r) => /using the running server \w+ \(Qwen\/Qwen3-4B\)/.test(r.stderr))).toHaveLength(2)
      expect(jobsOf(sb)).toHaveLength(1)
      expect(most).toBe(1)
      await jobsGone(sb)
    })
  })

  requires('slurm', 'sshd', 'tmux')('on a terminal the queue and the node are shown as they change', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'exit:0' } }, async (sb) => {
      await onCluster(sb)
      const term = terminal(sb, ['serve', '--slurm', '--slurm-arg=--hold', '-m', MODEL])
      try {
        await waitFor(() => /Slurm job \d+ queued \(JobHeldUser\) for \ds/.test(term.screen()), 20_000, `the queue; screen:\n${term.screen()}`)
        runSlurm('scontrol', ['release', String(liveJobs(sb)[0]!.id)], { env: sb.env })
        await waitFor(() => /serves Qwen\/Qwen3-4B at/.test(term.screen()), 30_000, `the server; screen:\n${term.screen()}`)
        term.keys('C-c')
        await waitFor(() => term.exitCode() !== undefined, 20_000, `mrs to exit; screen:\n${term.screen()}`)
      } finally {
        term.close()
      }
      await jobsGone(sb)
    })
  })
})

describe('mrs --slurm-nodes N: multi-node tensor parallelism', () => {
  onSlurm('each node gets its part of MISTRALRS_MN_*; the head serves, the worker joins it', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb)
      const result = await sb.run(['claude', '--slurm', '--slurm-nodes', '2', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      const starts = sb.records().filter((r) => r.event === 'start')
      const head = starts.find((r) => r.mn?.MISTRALRS_MN_HEAD_NUM_WORKERS)
      const worker = starts.find((r) => r.mn?.MISTRALRS_MN_WORKER_ID)
      expect(head!.mn).toEqual({ MISTRALRS_MN_GLOBAL_WORLD_SIZE: '2', MISTRALRS_MN_LOCAL_WORLD_SIZE: '1', MISTRALRS_MN_HEAD_NUM_WORKERS: '1', MISTRALRS_MN_HEAD_PORT: expect.stringMatching(/^\d+$/) })
      // mistral.rs parses the worker's address as IP:PORT: the head node's address as Slurm knows it (NodeAddr), not its name
      expect(worker!.mn).toEqual({ MISTRALRS_MN_GLOBAL_WORLD_SIZE: '2', MISTRALRS_MN_LOCAL_WORLD_SIZE: '1', MISTRALRS_MN_WORKER_SERVER_ADDR: `127.0.0.1:${head!.mn.MISTRALRS_MN_HEAD_PORT}`, MISTRALRS_MN_WORKER_ID: '0' })
      expect([head!.node, worker!.node]).toEqual(['mrsnode1', 'mrsnode2'])
      // the worker joined the head before the load, as the real handshake needs
      expect(sb.records().filter((r) => r.event.startsWith('mn-')).map((r) => r.event).sort()).toEqual(['mn-head', 'mn-worker'])
      // the same arguments on every node, each its own port
      const withoutPort = (argv: string[]) => argv.filter((_: string, i: number) => argv[i] !== '-p' && argv[i - 1] !== '-p')
      expect(withoutPort(worker!.argv)).toEqual(withoutPort(head!.argv))
      await jobsGone(sb)
    })
  })

  onSlurm("the head's port taken before mistral.rs binds it: a new step on another port, the old step's worker gone with it", async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_FAULT: 'port-race' } }, async (sb) => {
      await onCluster(sb)
      const serve = sb.start(['serve', '--slurm', '--slurm-nodes', '2', '-m', MODEL])
      await serve.waitForStderr(/Press Ctrl-C to stop/, 45_000)
      const [, from] = serve.stderr.match(/^mrs: warning: port (\d+) was taken (?:by another process \(uid \d+ on mrsnode1\) )?before mistral\.rs could bind it; starting it again on another port/m)!
      const starts = sb.records().filter((r) => r.event === 'start')
      const heads = starts.filter((r) => r.mn?.MISTRALRS_MN_HEAD_NUM_WORKERS)
      expect(heads).toHaveLength(2)
      expect(heads[0]!.argv[heads[0]!.argv.indexOf('-p') + 1]).toBe(from)
      // each step its own port for the workers
      expect(heads[1]!.mn.MISTRALRS_MN_HEAD_PORT).not.toBe(heads[0]!.mn.MISTRALRS_MN_HEAD_PORT)
      // the first step ended whole: its worker did not stay on to hold it (and the job) until the job's end
      const [firstWorker] = starts.filter((r) => r.mn?.MISTRALRS_MN_WORKER_ID)
      expect(isAlive(firstWorker!.pid)).toBe(false)
      const url = serve.stderr.match(/at (http:\/\/127\.0\.0\.1:\d+)/)![1]!
      const listed = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }
      expect(listed.data.map((m) => m.id)).toContain(MODEL)
      serve.kill('SIGTERM')
      await serve.done(20_000)
      await jobsGone(sb)
    })
  })

  onSlurm("no address for the head node (Slurm's NodeAddr a name nothing resolves): the worker's reason in one line, exit 69 at once, the job gone", async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb)
      // the step gets mrs's PATH: an scontrol there that answers `show node` with a NodeAddr no resolver knows
      const bin = join(sb.root, 'scontrol-bin')
      mkdirSync(bin)
      writeFileSync(join(bin, 'scontrol'), `#!/bin/sh\n[ "$1 $2" = "show node" ] && { echo "NodeName=$3 Arch=x86_64"; echo "   NodeAddr=$3.nosuch.invalid NodeHostName=$3"; exit 0; }\nexec /usr/bin/scontrol "$@"\n`, { mode: 0o755 })
      sb.env.PATH = `${bin}:${sb.env.PATH}`
      const result = await sb.run(['claude', '--slurm', '--slurm-nodes', '2', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(69)
      expect(result.stderr.split('\n').filter((l) => l.startsWith('mrs: error:'))).toEqual([
        expect.stringMatching(/^mrs: error: no IPv4 address for mrsnode1, the head node: its Slurm NodeAddr mrsnode1\.nosuch\.invalid does not resolve \(getent ahostsv4\) on mrsnode2, and mistral\.rs's workers need one/),
      ])
      expect(result.ms).toBeLessThan(20_000)
      await jobsGone(sb)
    })
  })
})

describe('mrs --slurm: bad input', () => {
  onSlurm('no Slurm on the machine: 127 with what to do, nothing started', async () => {
    await withSandbox({}, async (sb) => {
      // a PATH with mrs's test programs and nothing else: no sbatch (on Debian /bin is /usr/bin, where Slurm's are)
      const result = await sb.run(['codex', '--slurm', '-m', MODEL], { env: { PATH: sb.env.PATH!.split(':').filter((d) => !/^\/(usr\/)?(local\/)?s?bin$/.test(d)).join(':') } })
      expect(result.code).toBe(127)
      expect(result.stderr.trim()).toBe("mrs: error: Slurm not found here (no sbatch on PATH); run mrs on the cluster's login node, or from here with --on LOGIN --slurm")
    })
  })

  onSlurm('a partition the cluster rejects: sbatch\'s own message, exit 69, nothing in the queue', async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb)
      const result = await sb.run(['codex', '--slurm', '--slurm-arg=--partition=nosuch', '-m', MODEL])
      expect(result.code).toBe(69)
      expect(result.stderr).toMatch(/^mrs: error: Slurm refused the job: sbatch: error: Batch job submission failed: Invalid partition name specified; log: /m)
      expect(jobsOf(sb)).toEqual([])
      await expectNoLeftovers(sb, 5000)
    })
  })

  onSlurm('mistralrs missing on the node: 127 naming the node, the job gone', async () => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb, { mistralrs: false })
      const result = await sb.run(['codex', '--slurm', '-m', MODEL], { env: { PATH: sb.env.PATH!.split(':').filter((d) => d !== FAKE_BIN).join(':') } })
      expect(result.code).toBe(127)
      expect(result.stderr).toMatch(/^mrs: error: mistralrs not found on mrsnode\d \(searched its PATH, a login shell's, ~\/\.local\/bin, ~\/\.mistralrs and ~\/\.cargo\/bin there\); load its module before mrs \(or in \[slurm\] setup\), or install it in the shared home: curl .*, or pass --mistralrs PATH \(its path there\); log: /m)
      await jobsGone(sb)
    })
  })

  onSlurm.each([
    ['--slurm with --url', ['codex', '--slurm', '--url', 'http://127.0.0.1:1'], /--url is a server that runs already and --slurm starts one in a job: pick one/],
    ['--slurm with --server-host', ['codex', '--slurm', '--server-host', '0.0.0.0', '-m', MODEL], /--server-host 0\.0\.0\.0 with --slurm: the server listens only on Slurm's loopback/],
    ['--slurm-arg without --slurm', ['codex', '--slurm-arg=--gpus=1', '-m', MODEL], /--slurm-arg is for a server in a Slurm job: add --slurm/],
  ])('%s: one line, exit 64, nothing in the queue', async (_, args, message) => {
    await withSandbox({}, async (sb) => {
      await onCluster(sb)
      const result = await sb.run(args)
      expect(result.code).toBe(64)
      expect(result.stderr.trim()).toMatch(message)
      expect(jobsOf(sb)).toEqual([])
    })
  })
})

describe('mrs --on LOGIN --slurm: from elsewhere, through the login node', () => {
  onSlurm('submits through ssh, runs the server in the job, tunnels to its node through the login node', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const cluster = await ensureCluster()
      const login = await startSshd(sb, { alias: 'hpc-login', remoteEnv: cluster.env })
      writeFileSync(login.configPath, `Host ${NODES.join(' ')}\n  HostName 127.0.0.1\n  Port ${login.port}\n  User mrs-remote\n\n${readFileSync(login.configPath, 'utf8')}`)
      const result = await sb.run(['claude', '--on', 'hpc-login', '--slurm', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      const job = jobs().find((j) => j.user === 'mrs-remote' && j.name.startsWith('mrs-'))
      expect(job).toBeDefined()
      expect(login.records().filter((r) => r.event === 'start')).toHaveLength(1)
      await waitJobGone(job!.id, 15_000)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
