// What a `--slurm` test needs around its sandbox: the sandbox made a login
// node of the test cluster, and the checks that its jobs are gone.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FAKE_BIN, expectNoLeftovers, type Sandbox } from './sandbox.js'
import { startSshd, type SshHost } from './sshd.js'
import { NODES, ensureCluster, expectNoJobs, jobsOf, waitJobGone, type Job } from './slurm.js'

/**
 * How ssh to the nodes goes: 'works' (the test's sshd), 'refused' (nothing listens where they are: ssh says
 * "Connection refused", as for a node without sshd), 'denied' (the sshd refuses the user: "Permission denied
 * (publickey)", as pam_slurm_adopt, or a node without the user's key, does).
 */
export type NodeSsh = 'works' | 'refused' | 'denied'

/** Where nothing listens on this machine (tcpmux's port: a connection to it is refused at once). */
export const CLOSED_PORT = 1

/** Puts the nodes first in the test's ssh config: at the sshd's `port` as `user`, or as `how` says. */
export function sshToNodes(configPath: string, port: number, user: string, how: NodeSsh = 'works'): void {
  const entry = how === 'refused' ? [`  Port ${CLOSED_PORT}`, `  User ${user}`] : [`  Port ${port}`, `  User ${how === 'denied' ? 'mrs-nobody' : user}`]
  writeFileSync(configPath, [`Host ${NODES.join(' ')}`, '  HostName 127.0.0.1', ...entry, '', readFileSync(configPath, 'utf8')].join('\n'))
}

/** A sandbox on the cluster's login node: Slurm's config, mistralrs where its installer puts it, ssh to the nodes (as `nodeSsh` says). */
export async function onCluster(sb: Sandbox, opts: { mistralrs?: boolean; nodeSsh?: NodeSsh } = {}): Promise<SshHost> {
  const cluster = await ensureCluster()
  Object.assign(sb.env, cluster.env)
  // a login shell resets PATH (/etc/profile): mistralrs is found in ~/.cargo/bin, as its installer puts it
  if (opts.mistralrs !== false) {
    mkdirSync(join(sb.home, '.cargo', 'bin'), { recursive: true })
    symlinkSync(join(FAKE_BIN, 'mistralrs'), join(sb.home, '.cargo', 'bin', 'mistralrs'))
  }
  const host = await startSshd(sb, { rootLogin: true })
  sshToNodes(host.configPath, host.port, 'root', opts.nodeSsh)
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
