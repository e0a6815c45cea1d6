// The Slurm test cluster itself (test/helpers/slurm.ts), and the behaviour of
// Slurm that `--slurm` is built on: a batch job gets a (stand-in) GPU, scancel
// ends it and its processes, a job can be made to pend without taking anything
// from other tests, an `srun --overlap` step attached to the job forwards
// stdin/EOF and exit codes through plain pipes, srun must be killed alone (its
// shepherd child cancels the step), and a step can span both nodes.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { requires } from '../helpers/requires.js'
import { expectGone, isAlive, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { cancelAll, clusterProcesses, ensureCluster, expectNoJobs, jobStepds, jobs, slurm, waitJobGone, waitJobState, type Cluster } from '../helpers/slurm.js'

const it = requires('slurm')

/** A sandbox that talks to the shared cluster; after the test, none of its jobs may be left unfinished. */
async function withCluster(fn: (sb: Sandbox, cluster: Cluster, run: (cmd: string, args: string[]) => string) => Promise<void>): Promise<void> {
  const cluster = await ensureCluster()
  await withSandbox({ clients: 'none', mistralrs: false, env: cluster.env }, async (sb) => {
    const run = (cmd: string, args: string[]) => slurm(cmd, args, { env: sb.env, cwd: sb.work })
    let failed = false
    try {
      await fn(sb, cluster, run)
    } catch (e) {
      failed = true
      throw e
    } finally {
      if (failed) await cancelAll(sb).catch(() => {})
      else await expectNoJobs(sb)
    }
  })
}

const submit = (run: (cmd: string, args: string[]) => string, args: string[]) => Number(run('sbatch', ['--parsable', ...args]).trim().split(';')[0])

function readWhenThere(path: string, pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
  return waitFor(() => (existsSync(path) && readFileSync(path, 'utf8').match(pattern)) || undefined, ms, `${path} to match ${pattern}`)
}

/** srun started from Node with plain pipes, like mrs will: its output collected as it comes. */
function srun(sb: Sandbox, args: string[], opts: { detached?: boolean } = {}) {
  const child: ChildProcess = spawn('srun', args, { env: sb.env, cwd: sb.work, stdio: ['pipe', 'pipe', 'pipe'], detached: opts.detached ?? false })
  const out = { stdout: '', stderr: '' }
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out.stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out.stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
  return { child, out, exited }
}

describe('the Slurm test cluster', () => {
  it('is brought up once and shared: ensureCluster is idempotent', async () => {
    const a = await ensureCluster()
    const daemons = clusterProcesses().filter((p) => /^(slurmctld|slurmd|munged)\b/.test(p.cmd.replace(/^\/\S*\//, '')))
    const b = await ensureCluster()
    expect(b).toEqual(a)
    expect(clusterProcesses().filter((p) => daemons.some((d) => d.pid === p.pid))).toHaveLength(daemons.length)
    expect(a.nodes).toEqual(['mrsnode1', 'mrsnode2'])
    expect(readFileSync(a.conf, 'utf8')).toContain(`SlurmctldPort=${a.ports.slurmctld}`)
    expect(a.ports.slurmctld).not.toBe(6817)
  })

  it('a batch job with --gpus=1 runs, sees CUDA_VISIBLE_DEVICES, and carries the test\'s tag', async () => {
    await withCluster(async (sb, cluster, run) => {
      const out = join(sb.work, 'job.out')
      const id = submit(run, ['-J', 'mrs-harness-gpu', '--gpus=1', '-o', out, '--wrap', 'echo "CVD=$CUDA_VISIBLE_DEVICES JOB=$SLURM_JOB_ID NODE=$SLURMD_NODENAME TEST=$MRS_TEST_ID"; exec sleep 60'])
      const running = await waitJobState(id, ['RUNNING'], 10_000)
      expect(cluster.nodes).toContain(running.nodes)
      const [, cvd, jobId, node, tag] = await readWhenThere(out, /CVD=(\S*) JOB=(\d+) NODE=(\S+) TEST=(\S+)/)
      // the index of the device among the node's GPUs: no cgroup renumbers it to 0 here
      expect(Number(cvd)).toBeLessThan(cluster.gpusPerNode)
      expect(cvd).toMatch(/^\d$/)
      expect(Number(jobId)).toBe(id)
      expect(node).toBe(running.nodes)
      expect(tag).toBe(sb.id)
      expect(sb.leftovers().length).toBeGreaterThan(0) // the job's processes are found by the test's tag
      run('scancel', [String(id)])
      expect((await waitJobGone(id, 10_000))?.state).toBe('CANCELLED')
    })
  })

  it('scancel ends the job and every process of it within a second', async () => {
    await withCluster(async (sb, _cluster, run) => {
      const pids = join(sb.work, 'pids')
      const id = submit(run, ['-J', 'mrs-harness-cancel', '-o', '/dev/null', '--wrap', `sleep 300 & sh -c 'sleep 301' & echo "$$ $!" > ${pids}; wait`])
      await waitJobState(id, ['RUNNING'])
      const [, a, b] = await readWhenThere(pids, /^(\d+) (\d+)$/m)
      const procs = [Number(a), Number(b)]
      expect(procs.every(isAlive)).toBe(true)
      expect(jobStepds(id).length).toBeGreaterThan(0)
      const t0 = Date.now()
      run('scancel', [String(id)])
      await expectGone(procs, 1000)
      const gone = await waitJobGone(id, 10_000)
      expect(gone?.state).toBe('CANCELLED')
      expect(Date.now() - t0).toBeLessThan(8000)
      expect(sb.leftovers()).toEqual([])
    })
  })

  it('a job sent to the down partition pends (Reason=PartitionDown, no node); srun cannot attach to it', async () => {
    await withCluster(async (sb, cluster, run) => {
      const id = submit(run, ['-J', 'mrs-harness-pend', '-p', cluster.downPartition, '-o', '/dev/null', '--wrap', 'true'])
      const pending = await waitJobState(id, ['PENDING'])
      await waitFor(() => jobs().find((j) => j.id === id)?.reason === 'PartitionDown', 5000, 'the pending reason')
      expect(pending.nodes).toBe('')
      expect(run('squeue', ['-h', '-j', String(id), '-o', '%T|%r|%N']).trim()).toBe('PENDING|PartitionDown|')
      const attach = srun(sb, [`--jobid=${id}`, '--overlap', '-N1', '-n1', 'true'])
      attach.child.stdin!.end()
      expect((await attach.exited).code).toBe(1)
      expect(attach.out.stderr).toMatch(/Job is pending execution/)
      run('scancel', [String(id)])
      expect((await waitJobGone(id))?.state).toBe('CANCELLED')
    })
  })

  it('srun --overlap through pipes: starts at once, forwards stdin and EOF, line by line, the job\'s GPU, the exit code', async () => {
    await withCluster(async (sb, _cluster, run) => {
      const out = join(sb.work, 'job.out')
      const id = submit(run, ['-J', 'mrs-harness-step', '--gpus=1', '-o', out, '--wrap', 'echo "CVD=$CUDA_VISIBLE_DEVICES"; exec sleep 60'])
      await waitJobState(id, ['RUNNING'])
      const [, jobGpu] = await readWhenThere(out, /CVD=(\d)/)
      const t0 = Date.now()
      const step = srun(sb, [`--jobid=${id}`, '--overlap', '-N1', '-n1', 'sh', '-c', 'echo "up $SLURM_STEP_ID $CUDA_VISIBLE_DEVICES"; while IFS= read -r l; do echo "got $l"; done; echo eof; exit 7'])
      await waitFor(() => step.out.stdout.includes('up '), 10_000, 'the step to start')
      expect(Date.now() - t0).toBeLessThan(3000)
      expect(step.out.stdout).toBe(`up 0 ${jobGpu}\n`)
      step.child.stdin!.write('one\n')
      await waitFor(() => step.out.stdout.includes('got one\n'), 5000, 'the first line back')
      step.child.stdin!.end()
      expect(await step.exited).toEqual({ code: 7, signal: null })
      expect(step.out.stdout).toBe(`up 0 ${jobGpu}\ngot one\neof\n`)
      expect(step.out.stderr).toMatch(/task 0: Exited with exit code 7/)
      run('scancel', [String(id)])
      await waitJobGone(id)
    })
  })

  it('SIGKILL to srun alone ends its step at once and leaves the job; to srun\'s whole group it orphans the step', async () => {
    await withCluster(async (sb, _cluster, run) => {
      const id = submit(run, ['-J', 'mrs-harness-kill', '-o', '/dev/null', '--wrap', 'exec sleep 60'])
      await waitJobState(id, ['RUNNING'])
      const taskPid = async (s: ReturnType<typeof srun>) => Number((await waitFor(() => s.out.stdout.match(/pid=(\d+)/) ?? undefined, 10_000, 'the task\'s pid'))[1])
      const script = ['sh', '-c', 'echo "pid=$$"; exec sleep 300']

      const alone = srun(sb, [`--jobid=${id}`, '--overlap', ...script], { detached: true })
      const a = await taskPid(alone)
      process.kill(alone.child.pid!, 'SIGKILL')
      await expectGone([a], 1000)

      // srun forks a shepherd that cancels the step when srun dies; killing both leaves the step running until the job ends
      const group = srun(sb, [`--jobid=${id}`, '--overlap', ...script], { detached: true })
      const g = await taskPid(group)
      process.kill(-group.child.pid!, 'SIGKILL')
      await new Promise((r) => setTimeout(r, 1500))
      expect(isAlive(g)).toBe(true)
      expect(run('squeue', ['-h', '-j', String(id), '-o', '%T']).trim()).toBe('RUNNING')

      run('scancel', [String(id)])
      await expectGone([g], 2000)
      await waitJobGone(id)
    })
  })

  it('a step on both nodes: each task has its SLURM_NODEID, the same SLURM_JOB_NODELIST, expanded by scontrol show hostnames', async () => {
    await withCluster(async (sb, cluster) => {
      const step = srun(sb, ['-J', 'mrs-harness-2n', '-N2', '--ntasks-per-node=1', 'sh', '-c', 'echo "$SLURM_NODEID $SLURMD_NODENAME $SLURM_JOB_NODELIST $(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr "\\n" ,)"'])
      step.child.stdin!.end()
      expect((await step.exited).code).toBe(0)
      const lines = step.out.stdout.trim().split('\n').sort()
      expect(lines).toEqual([`0 mrsnode1 mrsnode[1-2] ${cluster.nodes.join(',')},`, `1 mrsnode2 mrsnode[1-2] ${cluster.nodes.join(',')},`])
    })
  })
})
