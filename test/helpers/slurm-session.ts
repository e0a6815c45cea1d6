// What a `--slurm` test needs around its sandbox: the sandbox made a login
// node of the test cluster, and the checks that its jobs are gone.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FAKE_BIN, expectNoLeftovers, type Sandbox } from './sandbox.js'
import { startSshd, type SshHost } from './sshd.js'
import { NODES, ensureCluster, expectNoJobs, jobsOf, waitJobGone, type Job } from './slurm.js'

/** A sandbox on the cluster's login node: Slurm's config, mistralrs where its installer puts it, ssh to the nodes. */
export async function onCluster(sb: Sandbox, opts: { mistralrs?: boolean } = {}): Promise<SshHost> {
  const cluster = await ensureCluster()
  Object.assign(sb.env, cluster.env)
  // a login shell resets PATH (/etc/profile): mistralrs is found in ~/.cargo/bin, as its installer puts it
  if (opts.mistralrs !== false) {
    mkdirSync(join(sb.home, '.cargo', 'bin'), { recursive: true })
    symlinkSync(join(FAKE_BIN, 'mistralrs'), join(sb.home, '.cargo', 'bin', 'mistralrs'))
  }
  const host = await startSshd(sb, { rootLogin: true })
  writeFileSync(host.configPath, `Host ${NODES.join(' ')}\n  HostName 127.0.0.1\n  Port ${host.port}\n  User root\n\n${readFileSync(host.configPath, 'utf8')}`)
  return host
}

/** This test's live jobs (pending or running). */
export const liveJobs = (sb: Sandbox): Job[] => jobsOf(sb).filter((j) => /PENDING|RUNNING|CONFIGURING|COMPLETING/.test(j.state))

/** The test's jobs are gone from squeue and nothing of them runs; how long the last one took to go (ms). */
export async function jobsGone(sb: Sandbox, withinMs = 15_000): Promise<{ jobs: Job[]; ms: number }> {
  const started = Date.now()
  const mine = jobsOf(sb)
  for (const j of mine) await waitJobGone(j.id, withinMs)
  const ms = Date.now() - started
  await expectNoJobs(sb)
  await expectNoLeftovers(sb, 5000)
  return { jobs: mine, ms }
}

/** Is the process one of a Slurm job's (a descendant of a slurmstepd), not one of mrs's? */
export function ofAJob(pid: number): boolean {
  for (let p = pid, depth = 0; p > 1 && depth < 50; depth++) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'utf8')
    } catch {
      return false
    }
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'slurmstepd') return true
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  }
  return false
}
