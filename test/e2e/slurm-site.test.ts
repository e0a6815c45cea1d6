// `--slurm` on a cluster as real sites run them, not as the kind test cluster
// would let it pass (issue 27): mistralrs only where `module load` puts it,
// setup lines a site needs, another user on the node, a home shared by every
// run, a login node whose shell prints, a queue seen without a terminal, and a
// job environment that sites keep in their accounting. The real Slurm cluster
// of test/helpers/slurm.ts, the real sshd of test/helpers/sshd.ts.
import { execFileSync, spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { FAKE_BIN, expectNoLeftovers, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { startSshd } from '../helpers/sshd.js'
import { userControlPersist } from '../helpers/on-host.js'
import { jobsGone, liveJobs, onCluster } from '../helpers/slurm-session.js'
import { NODES, ensureCluster, jobs, slurm as runSlurm } from '../helpers/slurm.js'

const MODEL = 'Qwen/Qwen3-4B'
const onSlurm = requires('slurm', 'sshd')

const keeperLog = (sb: Sandbox) => readdirSync(sb.logDir).map((f) => readFileSync(join(sb.logDir, f), 'utf8')).join('\n')

/** A dir as a site's module tree has it: mistralrs in `<root>/sw/mistralrs/0.9.2/bin`, on no PATH of its own. */
function moduleTree(sb: Sandbox): string {
  const bin = join(sb.root, 'sw', 'mistralrs', '0.9.2', 'bin')
  mkdirSync(bin, { recursive: true })
  symlinkSync(join(FAKE_BIN, 'mistralrs'), join(bin, 'mistralrs'))
  return bin
}

/** mrs's PATH without the fake mistralrs on it (nor is it in ~/.cargo/bin: onCluster with mistralrs: false). */
const pathWithoutMistralrs = (sb: Sandbox) => sb.env.PATH!.split(':').filter((d) => d !== FAKE_BIN).join(':')

/** Would a login shell on the node find mistralrs (as the step's `sh -l` once looked)? */
const loginShellFinds = (sb: Sandbox, path: string) =>
  spawnSync('sh', ['-lc', 'command -v mistralrs'], { env: { HOME: sb.home, PATH: path }, encoding: 'utf8' }).status === 0

describe('mrs --slurm where mistralrs comes from the site', () => {
  onSlurm('mistralrs only on the PATH mrs was started with (a module loaded before it): the job runs it from there', async () => {
    await withSandbox({ mistralrs: false, env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb, { mistralrs: false })
      const bin = moduleTree(sb)
      const PATH = `${bin}:${pathWithoutMistralrs(sb)}`
      // a login shell (whose /etc/profile sets PATH outright) does not find it: only the submitted PATH has it
      expect(loginShellFinds(sb, PATH)).toBe(false)
      const result = await sb.run(['claude', '--slurm', '-m', MODEL], { env: { PATH }, timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      expect(keeperLog(sb)).toContain(`[mrs] mistral.rs (${join(bin, 'mistralrs')}) runs on mrsnode`)
      await jobsGone(sb)
    })
  })

  onSlurm('[slurm] setup = ["module load …"] runs in the step before mistralrs; a line that fails ends the session with its message, exit 67, the job gone', async () => {
    await withSandbox({ mistralrs: false, env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb, { mistralrs: false })
      const bin = moduleTree(sb)
      // Lmod and Environment Modules define `module` for login shells (/etc/profile.d); here ~/.profile does, the same way
      appendFileSync(
        join(sb.home, '.profile'),
        `module() {\n  case "$1 $2" in\n    "load mistralrs/0.9.2") PATH="${bin}:$PATH"; export PATH; MISTRALRS_MODULE=0.9.2; export MISTRALRS_MODULE ;;\n    *) echo "Lmod has detected the following error: The following module(s) are unknown: \\"$2\\"" >&2; return 1 ;;\n  esac\n}\n`,
      )
      const PATH = pathWithoutMistralrs(sb)
      expect(loginShellFinds(sb, PATH)).toBe(false)

      sb.writeConfig('[slurm]\nsetup = ["module load mistralrs/0.9.2"]\n')
      const result = await sb.run(['claude', '--slurm', '-m', MODEL], { env: { PATH }, timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(keeperLog(sb)).toContain(`[mrs] mistral.rs (${join(bin, 'mistralrs')}) runs on mrsnode`)
      await jobsGone(sb)

      sb.writeConfig('[slurm]\nsetup = ["module load cuda/99.9", "module load mistralrs/0.9.2"]\n')
      const failed = await sb.run(['claude', '--slurm', '-m', MODEL], { env: { PATH }, timeoutMs: 60_000 })
      expect(failed.code).toBe(67)
      expect(failed.stderr.split('\n').filter((l) => l.startsWith('mrs: error:'))).toEqual([
        expect.stringMatching(/^mrs: error: the \[slurm\] setup failed on mrsnode\d: Lmod has detected the following error: The following module\(s\) are unknown: "cuda\/99\.9"/),
      ])
      await jobsGone(sb)
    })
  })
})

describe('mrs --slurm on a shared node and a shared home', () => {
  requires('slurm', 'sshd', 'root')(
    "another user's /tmp/mrs-<uid> on the node, and 21 runs in the shared home: the first session outlives the old lease's 20 s and still serves",
    { timeout: 120_000 },
    async () => {
      await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
        await onCluster(sb)
        // where the lease once was: another user made it first, open to all, with a link where a job's dir would go
        const uid = process.getuid!()
        const planted = `/tmp/mrs-${uid}`
        const existed = existsSync(planted)
        if (!existed) {
          execFileSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', `mkdir -m 777 ${planted} && ln -s ${sb.home} ${planted}/job-link`])
          sb.onCleanup(() => void spawnSync('rm', ['-rf', planted]))
        }
        const plantedBefore = readdirSync(planted).sort()

        const serve = sb.start(['serve', '--slurm', '-m', MODEL])
        await serve.waitForStderr(/Press Ctrl-C to stop/, 30_000)
        const started = Date.now()
        const [first] = liveJobs(sb)
        // the lease lives in a dir of the job's own, named with mrs's random token: 0700, the user's
        // (a job id a cluster restarted since may have had: only the dir holding this job's lease)
        const leaseOf = (d: string) => Number(readFileSync(join('/tmp', d, 'lease'), 'utf8'))
        const jobDirs = readdirSync('/tmp').filter((d) => d.startsWith(`mrs-job-${first!.id}-`) && existsSync(join('/tmp', d, 'lease')) && isAlive(leaseOf(d)))
        expect(jobDirs).toEqual([expect.stringMatching(new RegExp(`^mrs-job-${first!.id}-[0-9a-f]{16,}$`))])
        const jobDir = statSync(join('/tmp', jobDirs[0]!))
        expect({ uid: jobDir.uid, mode: jobDir.mode & 0o777 }).toEqual({ uid, mode: 0o700 })

        // the run dirs of the shared home, every node's: the first run's (named by its host), then 30 newer ones
        const base = join(sb.env.XDG_STATE_HOME ?? join(sb.home, '.local', 'state'), 'mrs', 'remote')
        const [firstDir] = readdirSync(base)
        const host = first!.nodes
        expect(firstDir).toMatch(new RegExp(`^${host}-[0-9a-f]+$`))
        const other = 'gpu-node-elsewhere'
        const deadPid = spawnSync('true').pid!
        const fabricated: string[] = []
        for (let i = 0; i < 30; i++) {
          // this host's finished runs (their pid gone) and another node's, just as new, alternately
          const name = i % 2 ? `${host}-done${i}` : `${other}-recent${i}`
          mkdirSync(join(base, name))
          writeFileSync(join(base, name, 'pid'), `${deadPid}\n`)
          const t = Date.now() / 1000 + 1 + i / 100
          utimesSync(join(base, name), t, t)
          fabricated.push(name)
        }
        // and one of another node's untouched for 40 days: that node is long gone
        const ancient = `${other}-ancient`
        mkdirSync(join(base, ancient))
        const old = Date.now() / 1000 - 40 * 86400
        utimesSync(join(base, ancient), old, old)

        // a 32nd run: another model's session (its own job, its own run dir)
        const second = await sb.run(['claude', '--slurm', `--slurm-arg=--nodelist=${first!.nodes}`, '-m', 'Qwen/Qwen3-8B'], { timeoutMs: 60_000 })
        expect(second.code, second.stderr).toBe(0)

        const left = readdirSync(base)
        // the live first run's dir stays, though 31 are newer; the other node's recent ones are that node's to prune;
        // this host's finished ones beyond the newest 20 go, and the 40-day-old one of a node long gone
        expect(left).toContain(firstDir)
        for (const name of fabricated.filter((n) => n.startsWith(other))) expect(left).toContain(name)
        expect(fabricated.filter((n) => n.startsWith(host) && !left.includes(n)).length).toBeGreaterThan(0)
        expect(left).not.toContain(ancient)

        // past the old lease's 20 s (a lease another user's dir could spoil), the first job runs and answers
        await new Promise((r) => setTimeout(r, Math.max(0, 25_000 - (Date.now() - started))))
        expect(liveJobs(sb).find((j) => j.id === first!.id)?.state).toBe('RUNNING')
        const [row] = JSON.parse((await sb.run(['ps', '--json'])).stdout)
        const models = await fetch(`${row.url}/v1/models`).then((r) => r.json() as Promise<{ data: { id: string }[] }>)
        expect(models.data.map((m) => m.id)).toContain(MODEL)
        // the planted dir was never written to, nor followed
        expect(readdirSync(planted).sort()).toEqual(plantedBefore)
        expect(readdirSync(sb.home)).not.toContain('lease')

        serve.kill('SIGTERM')
        await serve.done(20_000)
        await jobsGone(sb)
        // and the job's dir went with it
        expect(existsSync(join('/tmp', jobDirs[0]!))).toBe(false)
      })
    },
  )
})

describe('mrs --slurm: what it says and what it passes on', () => {
  onSlurm('without a terminal, a line when the job is queued (with Slurm\'s reason) and one when it starts; stdout stays the client\'s', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', '--slurm-arg=--hold', '-m', MODEL])
      await mrs.waitForStderr(/Slurm job \d+ queued \(JobHeldUser\)/, 20_000)
      runSlurm('scontrol', ['release', String(liveJobs(sb)[0]!.id)], { env: sb.env })
      const done = await mrs.done(60_000)
      expect(done.code, done.stderr).toBe(0)
      const lines = done.stderr.split('\n').filter((l) => /Slurm job/.test(l))
      expect(lines[0]).toMatch(/^mrs: Slurm job (\d+) queued \(JobHeldUser\)/)
      expect(lines.some((l) => /^mrs: Slurm job \d+ runs on mrsnode\d \(after \d+s\)$/.test(l))).toBe(true)
      expect(done.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      expect(done.stdout).not.toMatch(/Slurm/)
      await jobsGone(sb)
    })
  })

  onSlurm("the job's environment (the batch script's and the server's) holds no client key; HF_TOKEN, which the server needs, is there", async () => {
    const keys = { ANTHROPIC_API_KEY: 'sk-ant-secret', OPENAI_API_KEY: 'sk-openai-secret', GITHUB_TOKEN: 'ghp_secret', GEMINI_API_KEY: 'gem-secret' }
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:60', HF_TOKEN: 'hf_needed', ...keys } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 60_000, 'the client')
      const [job] = liveJobs(sb)
      const environ = (pid: number) => new Map(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
      const inJob = (pid: number) => environ(pid).get('SLURM_JOB_ID') === String(job!.id)
      const script = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
        try {
          return /slurm_script/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')) && inJob(pid)
        } catch {
          return false
        }
      })
      const server = sb.records().find((r) => r.event === 'start')!.pid as number
      expect(script.length).toBeGreaterThanOrEqual(1)
      for (const pid of [...script, server]) {
        const env = environ(pid)
        for (const key of Object.keys(keys)) expect(env.has(key), `${key} in ${pid}`).toBe(false)
        expect(env.get('HF_TOKEN')).toBe('hf_needed')
      }
      // the client, here, has what it needs of them
      mrs.kill('SIGTERM')
      await mrs.done(20_000)
      await jobsGone(sb)
    })
  })
})

describe("mrs --slurm with the user's own ssh config", () => {
  onSlurm('ControlMaster auto + ControlPersist in ~/.ssh/config: the tunnel to the node is a connection of its own, gone with the session', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await onCluster(sb)
      const theirs = join(sb.root, 'cm')
      mkdirSync(theirs, { mode: 0o700 })
      userControlPersist(host, theirs)
      const result = await sb.run(['claude', '--slurm', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(readdirSync(theirs)).toEqual([])
      expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(theirs)
      await jobsGone(sb)
    })
  })
})

describe('mrs --on LOGIN --slurm: a login node whose shell prints', () => {
  onSlurm('a welcome line, a line of digits and a quota warning from ~/.profile: the job id, the node and the session are right; the job gone after', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const cluster = await ensureCluster()
      const profile = 'echo "Welcome to the HPC cluster. Be kind to the login node."\necho 4242\necho "quota: 93% of /home used" >&2\n'
      const login = await startSshd(sb, { alias: 'hpc-login', remoteEnv: cluster.env, profile })
      writeFileSync(login.configPath, `Host ${NODES.join(' ')}\n  HostName 127.0.0.1\n  Port ${login.port}\n  User mrs-remote\n\n${readFileSync(login.configPath, 'utf8')}`)
      const result = await sb.run(['claude', '--on', 'hpc-login', '--slurm', '-m', MODEL], { timeoutMs: 60_000 })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
      expect(result.stdout).not.toMatch(/Welcome|4242|quota/)
      expect(result.stderr).not.toMatch(/Slurm refused|4242/)
      // the job was the one mrs cancelled (a job id read from the shell's "4242" would have orphaned it)
      const theirs = () => jobs().filter((j) => j.user === 'mrs-remote' && j.name.startsWith('mrs-') && /PENDING|RUNNING|CONFIGURING|COMPLETING/.test(j.state))
      await waitFor(() => theirs().length === 0, 15_000, 'the job to go')
      expect(login.records().filter((r) => r.event === 'start')).toHaveLength(1)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
