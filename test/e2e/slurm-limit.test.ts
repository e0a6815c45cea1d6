// `--slurm`, the slow part: a job that reaches its time limit, which Slurm
// enforces on a sweep every 30 s (in a file of its own, so it runs beside the
// others). A real Slurm cluster on this machine (test/helpers/slurm.ts: slurmctld,
// two slurmd, munge, stand-in GPUs) and a real sshd (test/helpers/sshd.ts),
// which is how mrs reaches a job's node. On the login node (this machine) the
// job is the test user's (root in CI), so root may log in to the "nodes";
// with --on LOGIN the login node is the sshd's second user.
import { describe, expect } from 'vitest'
import { waitFor, withSandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { jobsGone, liveJobs, onCluster } from '../helpers/slurm-session.js'
import { slurm as runSlurm } from '../helpers/slurm.js'

const MODEL = 'Qwen/Qwen3-4B'
const onSlurm = requires('slurm', 'sshd')

describe('mrs --slurm: the job\'s own end', () => {
  onSlurm('a job that reaches its time limit: the session ends with one line saying so', { timeout: 150_000 }, async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'sleep:120' } }, async (sb) => {
      await onCluster(sb)
      const mrs = sb.start(['claude', '--slurm', '-m', MODEL])
      await waitFor(() => sb.clientLines().some((l) => l.startsWith('start ')), 30_000, 'the client to start')
      const [job] = liveJobs(sb)
      // its limit, a minute from its start: slurmctld's first sweep (every 30 s) after that ends it, so up to
      // 60 + 30 s, then KillWait and mrs's own look: a bound of 90 s was met with 3 s to spare in CI
      await new Promise((r) => setTimeout(r, 1500))
      runSlurm('scontrol', ['update', `JobId=${job!.id}`, 'TimeLimit=0:01'], { env: sb.env })
      const result = await mrs.done(120_000)
      expect(result.code).toBe(70)
      expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toEqual([expect.stringMatching(new RegExp(`^mrs: error: the Slurm job ${job!.id} reached its time limit; log: `))])
      await jobsGone(sb)
    })
  })
})
