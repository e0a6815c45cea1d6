/**
 * A real, throwaway Slurm cluster on this machine for the tests of `--slurm`:
 * its own munged (own key, own socket), one slurmctld and two slurmd (nodes
 * mrsnode1 and mrsnode2, both at 127.0.0.1 on their own ports, two stand-in
 * GPUs each), all from a slurm.conf in a private directory. Nothing is read
 * from /etc/slurm or /etc/munge: every Slurm program, daemons and clients
 * alike, reads the file named by SLURM_CONF, so a test adds `cluster.env` to
 * its sandbox's env and runs the `sbatch`/`srun`/… it finds on PATH. The
 * ports are not Slurm's 6817/6818, so a developer's own cluster is left alone.
 *
 * One cluster serves every test file of a run (and of concurrent runs from the
 * same checkout): `ensureCluster()` is idempotent, any test may call it, and a
 * lock file serializes the bring-up between vitest's workers. It is started
 * only when a test asks for it (~0.5 s). The run's globalSetup registers the
 * run (`registerRun`) and its teardown (`releaseRun`) stops the cluster when
 * no other live run of this checkout remains; a cluster left by a run that was
 * killed is reused by the next run and stopped at its end. MRS_TEST_SLURM_KEEP=1
 * keeps it running after the run.
 *
 * Every process the helper starts carries MRS_SLURM_CLUSTER=<dir> in its
 * environment (slurmstepd inherits it from slurmd): that tag, never a process
 * name, is how the helper finds what to stop, so another cluster's daemons on
 * the same machine are never touched. Job processes carry the MRS_TEST_ID of
 * the sandbox that submitted them (sbatch and srun export the submitter's
 * environment), so a sandbox's leftover check finds them too.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..')
/** One directory per checkout, short (the munge socket path must fit a Unix socket), readable by other local users. */
export const CLUSTER_DIR = process.env.MRS_TEST_SLURM_DIR ?? join('/tmp', `mrs-slurm-${createHash('sha256').update(ROOT).digest('hex').slice(0, 8)}`)
const TAG = `MRS_SLURM_CLUSTER=${CLUSTER_DIR}`
export const NODES = ['mrsnode1', 'mrsnode2'] as const
export const GPUS_PER_NODE = 2
/** The default partition: both nodes. */
export const PARTITION = 'mrs'
/** A partition that is down: a job sent there pends (Reason=PartitionDown) without taking anything from other tests. */
export const DOWN_PARTITION = 'mrsdown'
/** Preemption: a job in HIGH cancels a job in LOW that holds what it needs (both on the second node only). */
export const LOW_PARTITION = 'mrslow'
export const HIGH_PARTITION = 'mrshigh'
/** Job states after which nothing of the job runs any more. */
export const FINAL_STATES = ['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'PREEMPTED', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY'] as const

const SBIN = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const paths = {
  conf: join(CLUSTER_DIR, 'slurm.conf'),
  gres: join(CLUSTER_DIR, 'gres.conf'),
  plugstack: join(CLUSTER_DIR, 'plugstack.conf'),
  info: join(CLUSTER_DIR, 'cluster.json'),
  lock: join(CLUSTER_DIR, 'lock'),
  runs: join(CLUSTER_DIR, 'runs'),
  log: join(CLUSTER_DIR, 'log'),
  run: join(CLUSTER_DIR, 'run'),
  state: join(CLUSTER_DIR, 'state'),
  spool: join(CLUSTER_DIR, 'spool'),
  dev: join(CLUSTER_DIR, 'dev'),
  munge: join(CLUSTER_DIR, 'munge'),
  mungeKeyDir: join(CLUSTER_DIR, 'munge', 'key'),
  mungeKey: join(CLUSTER_DIR, 'munge', 'key', 'munge.key'),
  mungeSocket: join(CLUSTER_DIR, 'munge', 'munge.socket'),
}

export interface Cluster {
  /** The private directory: slurm.conf, gres.conf, state, spool, logs, the munge key and socket. */
  dir: string
  conf: string
  /** Add to a Sandbox's env (or any child's) so that sbatch, srun, squeue, scancel, scontrol find this cluster. */
  env: { SLURM_CONF: string }
  /** The first node: where a one-node job lands when nothing else runs (tests run in parallel: read the node from the job). */
  node: string
  nodes: string[]
  partition: string
  downPartition: string
  gpusPerNode: number
  ports: { slurmctld: number; slurmd: Record<string, number> }
  mungeSocket: string
  logs: { slurmctld: string; slurmd: Record<string, string>; munged: string }
}

export interface Job {
  id: number
  name: string
  /** PENDING, RUNNING, COMPLETING, COMPLETED, CANCELLED, FAILED, TIMEOUT, PREEMPTED, … */
  state: string
  /** None, Resources, Priority, PartitionDown, JobHeldUser, BeginTime, Dependency, NonZeroExitCode, TimeLimit, … */
  reason: string
  /** Node list as Slurm prints it ("" while pending). */
  nodes: string
  user: string
  partition: string
  workDir: string
  stdout: string
  stderr: string
  comment: string
  exitCode: number | null
}

/** A test's jobs: a name prefix, or a Sandbox (jobs whose work dir or output is under its root, or whose name or comment holds its id). */
export type JobOwner = string | { root: string; id: string }

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** Live processes of this cluster (daemons and their slurmstepd), found by the tag in their environment. */
export function clusterProcesses(): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(TAG) || !alive(pid)) continue
      found.push({ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() })
    } catch {
      // gone, or not ours to read
    }
  }
  return found
}

/** The environment the daemons run with: no test's tag, so a sandbox never mistakes them for its own leftovers. */
function daemonEnv(): Record<string, string> {
  return { PATH: SBIN, LANG: 'C.UTF-8', SLURM_CONF: paths.conf, MRS_SLURM_CLUSTER: CLUSTER_DIR }
}

function find(bin: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN.split(':')]) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin)
  }
  return undefined
}

const NEEDED = ['munged', 'slurmctld', 'slurmd', 'slurmstepd', 'sbatch', 'srun', 'squeue', 'scancel', 'scontrol', 'sinfo', 'mknod'] as const

/** What this machine lacks to run the cluster: 'root', and the programs of Debian's slurm-wlm and munge not found. */
export function slurmMissing(): string[] {
  return [...(process.getuid?.() === 0 ? [] : ['root']), ...NEEDED.filter((b) => find(b) === undefined)]
}

export const slurmAvailable = (): boolean => slurmMissing().length === 0

/**
 * Runs a Slurm client command against the test cluster; its stdout, or an error with its stderr.
 * Pass a sandbox's env and work dir: a job takes the submitter's environment (MRS_TEST_ID with it)
 * and its cwd as its work dir, which is how `jobsOf(sb)` finds it.
 */
export function slurm(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, {
    env: { PATH: SBIN, ...opts.env, SLURM_CONF: paths.conf },
    cwd: opts.cwd ?? CLUSTER_DIR,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 15_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}): ${r.stderr.trim()}`)
  return r.stdout
}

// ---- lock (the two vitest workers, and concurrent runs, bring the cluster up once) ----

async function withLock<T>(fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  mkdirSync(CLUSTER_DIR, { recursive: true, mode: 0o755 })
  chmodSync(CLUSTER_DIR, 0o755)
  const me = `${process.pid} ${startTime(process.pid)}`
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(paths.lock, 'wx', 0o644)
      writeFileSync(fd, me)
      closeSync(fd)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let holder = ''
      try {
        holder = readFileSync(paths.lock, 'utf8')
      } catch {
        continue // released between the two calls
      }
      const [pid, start] = holder.split(' ')
      // a lock whose holder died (or is still writing it: empty) — stale only once its process is gone
      if (pid && (!alive(Number(pid)) || startTime(Number(pid)) !== start)) {
        rmSync(paths.lock, { force: true })
        continue
      }
      if (Date.now() > deadline) throw new Error(`the Slurm test cluster's lock ${paths.lock} is held by ${holder || '?'} for more than ${timeoutMs} ms`)
      await sleep(50)
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(paths.lock, { force: true })
  }
}

// ---- bring-up ----

function portFree(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer()
    s.once('error', () => r(false))
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => r(true)))
  })
}

/** Consecutive free ports from a place derived from the checkout, outside Slurm's defaults and the ephemeral range. */
async function choosePorts(count: number): Promise<number[]> {
  const start = 20_000 + (parseInt(createHash('sha256').update(CLUSTER_DIR).digest('hex').slice(0, 6), 16) % 1000) * 10
  for (let base = start, tries = 0; tries < 200; tries++, base = base + 10 >= 30_000 ? 20_000 : base + 10) {
    const ports = Array.from({ length: count }, (_, i) => base + i)
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return ports
  }
  throw new Error('no free ports for the Slurm test cluster between 20000 and 30000')
}

function connects(port: number): Promise<boolean> {
  return new Promise((r) => {
    const c = createConnection({ port, host: '127.0.0.1' })
    c.once('connect', () => (c.destroy(), r(true)))
    c.once('error', () => r(false))
  })
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Slurm test cluster: timed out after ${timeoutMs} ms waiting for ${what}\n${logTails()}`)
    await sleep(20)
  }
}

function logTails(): string {
  if (!existsSync(paths.log)) return ''
  return readdirSync(paths.log)
    .map((f) => {
      const lines = readFileSync(join(paths.log, f), 'utf8').trimEnd().split('\n')
      return `--- ${f}:\n${lines.slice(-15).join('\n')}`
    })
    .join('\n')
}

/** Starts a daemon that forks into the background; fails with its own words when it exits non-zero at once. */
function startDaemon(bin: string, args: string[], opts: { uid?: number; gid?: number } = {}): void {
  const out = openSync(join(paths.log, 'startup.log'), 'a')
  try {
    const r = spawnSync(find(bin) ?? bin, args, { env: daemonEnv(), stdio: ['ignore', out, out], timeout: 20_000, ...opts })
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`})\n${logTails()}`)
  } finally {
    closeSync(out)
  }
}

const gresText = () =>
  ['AutoDetect=off', ...NODES.map((n, i) => `NodeName=${n} Name=gpu File=${paths.dev}/gpu[${i * GPUS_PER_NODE}-${(i + 1) * GPUS_PER_NODE - 1}]`), ''].join('\n')

function confText(ports: Cluster['ports']): string {
  const host = hostname().split('.')[0]!
  const nodes = NODES.map(
    (n) => `NodeName=${n} NodeAddr=127.0.0.1 NodeHostname=${host} Port=${ports.slurmd[n]} CPUs=4 RealMemory=1000 Gres=gpu:${GPUS_PER_NODE} State=UNKNOWN`,
  )
  const all = `${NODES[0].replace(/\d+$/, '')}[1-${NODES.length}]`
  return [
    '# Written by test/helpers/slurm.ts: a throwaway cluster for mrs\'s tests, rewritten at every bring-up.',
    'ClusterName=mrstest',
    // the controller must be this host by name (slurmctld refuses to run otherwise), reached at 127.0.0.1
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${ports.slurmctld}`,
    `SlurmdPort=${ports.slurmd[NODES[0]]}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${paths.mungeSocket}`,
    `StateSaveLocation=${paths.state}`,
    `SlurmdSpoolDir=${paths.spool}/%n`,
    `SlurmctldPidFile=${paths.run}/slurmctld.pid`,
    `SlurmdPidFile=${paths.run}/slurmd-%n.pid`,
    `SlurmctldLogFile=${paths.log}/slurmctld.log`,
    `SlurmdLogFile=${paths.log}/slurmd-%n.log`,
    `PlugStackConfig=${paths.plugstack}`,
    // no systemd, no cgroups here: track processes by ancestry (a process that double-forks away escapes)
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'MpiDefault=none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    // advertise more CPUs than the machine has
    'SlurmdParameters=config_overrides',
    'ReturnToService=2',
    'MessageTimeout=5',
    'KillWait=2',
    'MailProg=/bin/true',
    // a daemon restart must not silently requeue a test's job
    'JobRequeue=0',
    // finished jobs stay visible to squeue -t all / scontrol show job for this long (the default, said out loud)
    'MinJobAge=300',
    // sbatch → RUNNING in a fraction of a second instead of up to 3 s
    'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1',
    'GresTypes=gpu',
    // preemption, only between the two partitions made for it: a job in mrshigh cancels one in mrslow that is in its
    // way; the other partitions' jobs are never preempted (PreemptMode=OFF)
    'PreemptType=preempt/partition_prio',
    'PreemptMode=CANCEL',
    ...nodes,
    `PartitionName=${PARTITION} Nodes=${all} Default=YES MaxTime=INFINITE State=UP PreemptMode=OFF`,
    `PartitionName=${DOWN_PARTITION} Nodes=${all} MaxTime=INFINITE State=DOWN PreemptMode=OFF`,
    `PartitionName=${LOW_PARTITION} Nodes=${NODES[1]} MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL`,
    `PartitionName=${HIGH_PARTITION} Nodes=${NODES[1]} MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF`,
    '',
  ].join('\n')
}

function clusterInfo(ports: Cluster['ports']): Cluster {
  return {
    dir: CLUSTER_DIR,
    conf: paths.conf,
    env: { SLURM_CONF: paths.conf },
    node: NODES[0],
    nodes: [...NODES],
    partition: PARTITION,
    downPartition: DOWN_PARTITION,
    gpusPerNode: GPUS_PER_NODE,
    ports,
    mungeSocket: paths.mungeSocket,
    logs: {
      slurmctld: join(paths.log, 'slurmctld.log'),
      slurmd: Object.fromEntries(NODES.map((n) => [n, join(paths.log, `slurmd-${n}.log`)])),
      munged: join(paths.log, 'munged.log'),
    },
  }
}

function pidFile(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || undefined
  } catch {
    return undefined
  }
}

const daemonPidFiles = () => [join(paths.munge, 'munged.pid'), join(paths.run, 'slurmctld.pid'), ...NODES.map((n) => join(paths.run, `slurmd-${n}.pid`))]

/** Every daemon named in a pid file is alive and ours. */
function daemonsAlive(): boolean {
  return daemonPidFiles().every((f) => {
    const pid = pidFile(f)
    if (!pid || !alive(pid)) return false
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(TAG)
    } catch {
      return false
    }
  })
}

/** Every node answers and can take jobs (idle, mixed, allocated; no `*` = not responding, no down/drain). */
function nodesReady(): boolean {
  const r = spawnSync('sinfo', ['-h', '-N', '-p', PARTITION, '-o', '%N|%T'], { env: daemonEnv(), encoding: 'utf8', timeout: 3000 })
  if (r.status !== 0) return false
  const states = new Map(r.stdout.trim().split('\n').map((l) => l.split('|') as [string, string]))
  return NODES.every((n) => /^(idle|mixed|allocated|completing)$/.test(states.get(n) ?? ''))
}

async function bringUp(): Promise<Cluster> {
  const t0 = Date.now()
  await killOurs()
  for (const d of ['state', 'spool', 'run', 'dev', 'munge', 'log'] as const) rmSync(paths[d], { recursive: true, force: true })
  for (const f of [paths.conf, paths.gres, paths.plugstack, paths.info]) rmSync(f, { force: true })
  for (const d of [paths.state, paths.run, paths.dev, paths.log, ...NODES.map((n) => join(paths.spool, n))]) mkdirSync(d, { recursive: true, mode: 0o755 })

  // munge: its own key (0400 munge:munge) and socket; munged runs as munge, as Debian runs it
  const munge = userIds('munge')
  mkdirSync(paths.mungeKeyDir, { recursive: true, mode: 0o700 })
  chmodSync(paths.munge, 0o755)
  writeFileSync(paths.mungeKey, randomBytes(1024), { mode: 0o400 })
  if (munge) for (const p of [paths.munge, paths.mungeKeyDir, paths.mungeKey]) chownSync(p, munge.uid, munge.gid)
  // its log beside the others (the file made first, as munge's: munged opens it as that user)
  const mungeLog = join(paths.log, 'munged.log')
  writeFileSync(mungeLog, '', { mode: 0o640 })
  if (munge) chownSync(mungeLog, munge.uid, munge.gid)
  startDaemon(
    'munged',
    [`--socket=${paths.mungeSocket}`, `--key-file=${paths.mungeKey}`, `--pid-file=${join(paths.munge, 'munged.pid')}`, `--log-file=${mungeLog}`, `--seed-file=${join(paths.munge, 'munged.seed')}`],
    munge ?? {},
  )
  await until('munged\'s socket', () => existsSync(paths.mungeSocket), 10_000)

  // stand-in GPUs: character devices (1,3 = /dev/null's numbers); a GRES count without files makes the node INVALID
  for (const n of NODES.keys()) for (let g = 0; g < GPUS_PER_NODE; g++) execFileSync('mknod', ['-m', '0666', join(paths.dev, `gpu${n * GPUS_PER_NODE + g}`), 'c', '1', '3'])
  const ports = await choosePorts(1 + NODES.length)
  const layout: Cluster['ports'] = { slurmctld: ports[0]!, slurmd: Object.fromEntries(NODES.map((n, i) => [n, ports[i + 1]!])) }
  writeFileSync(paths.conf, confText(layout))
  writeFileSync(paths.gres, gresText())
  writeFileSync(paths.plugstack, '# no SPANK plugins (and none of /etc/slurm/plugstack.conf.d)\n')

  startDaemon('slurmctld', [])
  await until('slurmctld to listen', () => connects(layout.slurmctld), 15_000)
  for (const n of NODES) startDaemon('slurmd', ['-N', n])
  await until('the nodes to be idle', nodesReady, 20_000)
  const info = clusterInfo(layout)
  writeFileSync(paths.info, JSON.stringify({ ...info, upMs: Date.now() - t0 }, null, 2))
  return info
}

function userIds(name: string): { uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':')
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) }
  }
  return undefined
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

let verified: Cluster | undefined

/**
 * The shared test cluster, brought up if it is not running (idempotent; any
 * test of any file may call it). Resolves once every node is idle.
 */
export async function ensureCluster(): Promise<Cluster> {
  if (!slurmAvailable()) throw new Error('the Slurm test cluster needs root, slurm-wlm and munge (check requires(\'slurm\') first)')
  if (verified && daemonsAlive()) return verified
  verified = undefined
  return withLock(async () => {
    if (existsSync(paths.info) && daemonsAlive()) {
      const saved = JSON.parse(readFileSync(paths.info, 'utf8')) as Cluster
      // up already (another worker, or a run before this one) — and from the config this helper writes
      // now (not an older helper's, nor one edited by hand): wait for the nodes rather than restart under someone's jobs
      if (read(paths.conf) === confText(saved.ports) && read(paths.gres) === gresText()) {
        await until('the nodes to be ready', nodesReady, 10_000)
        verified = clusterInfo(saved.ports)
        return verified
      }
    }
    verified = await bringUp()
    return verified
  })
}

// ---- jobs ----

/** Every job the controller knows, finished ones included (kept MinJobAge = 300 s after they end). */
export function jobs(): Job[] {
  if (!existsSync(paths.conf)) return []
  const out = JSON.parse(slurm('squeue', ['--json'])) as { jobs: Record<string, any>[] }
  return out.jobs.map((j) => ({
    id: j.job_id,
    name: j.name ?? '',
    state: j.job_state ?? '',
    reason: j.state_reason ?? '',
    nodes: j.nodes ?? '',
    user: j.user_name ?? '',
    partition: j.partition ?? '',
    workDir: j.current_working_directory ?? '',
    stdout: j.standard_output ?? '',
    stderr: j.standard_error ?? '',
    comment: j.comment ?? '',
    exitCode: typeof j.exit_code === 'number' ? j.exit_code : null,
  }))
}

export function job(id: number): Job | undefined {
  return jobs().find((j) => j.id === id)
}

export const isFinal = (j: Job) => (FINAL_STATES as readonly string[]).includes(j.state)

function owns(owner: JobOwner, j: Job): boolean {
  if (typeof owner === 'string') return j.name.startsWith(owner)
  const under = (p: string) => p === owner.root || p.startsWith(owner.root + '/')
  return under(j.workDir) || under(j.stdout) || under(j.stderr) || j.name.includes(owner.id) || j.comment.includes(owner.id)
}

/** The jobs of one test (by name prefix, or by sandbox), finished ones included. */
export function jobsOf(owner: JobOwner): Job[] {
  return jobs().filter((j) => owns(owner, j))
}

/** Processes of the job still on the node(s): its slurmstepd (batch, extern, and every step). */
export function jobStepds(id: number): number[] {
  return clusterProcesses()
    .filter((p) => p.cmd.startsWith(`slurmstepd: [${id}.`))
    .map((p) => p.pid)
}

/** Waits until the job is over: a final state (or forgotten), and no slurmstepd of it left. Resolves with its last record. */
export async function waitJobGone(id: number, ms = 10_000): Promise<Job | undefined> {
  const deadline = Date.now() + ms
  for (;;) {
    const j = job(id)
    if ((!j || isFinal(j)) && jobStepds(id).length === 0) return j
    if (Date.now() > deadline) throw new Error(`job ${id} not gone after ${ms} ms: ${j ? `${j.state} (${j.reason})` : 'forgotten'}, slurmstepd ${jobStepds(id).join(', ') || 'none'}`)
    await sleep(50)
  }
}

/** Waits until the job is in one of `states`; resolves with it. */
export async function waitJobState(id: number, states: string[], ms = 10_000): Promise<Job> {
  const deadline = Date.now() + ms
  for (;;) {
    const j = job(id)
    if (j && states.includes(j.state)) return j
    if (Date.now() > deadline) throw new Error(`job ${id} not ${states.join('/')} after ${ms} ms: ${j ? `${j.state} (${j.reason})` : 'unknown'}`)
    await sleep(25)
  }
}

/** Cancels the unfinished jobs of one test and waits until they are gone; returns their ids (a leak, if the test expected none). */
export async function cancelAll(owner: JobOwner, ms = 15_000): Promise<number[]> {
  const active = jobsOf(owner).filter((j) => !isFinal(j))
  if (!active.length) return []
  slurm('scancel', active.map((j) => String(j.id)))
  await Promise.all(active.map((j) => waitJobGone(j.id, ms)))
  return active.map((j) => j.id)
}

/** Fails (after cancelling them) when the test left unfinished jobs behind. */
export async function expectNoJobs(owner: JobOwner, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs
  let active = jobsOf(owner).filter((j) => !isFinal(j))
  while (active.length && Date.now() < deadline) {
    await sleep(50)
    active = jobsOf(owner).filter((j) => !isFinal(j))
  }
  if (!active.length) return
  const what = active.map((j) => `${j.id} ${j.name} ${j.state}`).join('; ')
  await cancelAll(owner)
  throw new Error(`jobs outlived the test (cancelled now): ${what}`)
}

// ---- teardown ----

/** SIGKILLs every process of this cluster still alive (daemons, slurmstepd), and waits until they are gone. */
async function killOurs(): Promise<void> {
  const procs = clusterProcesses()
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL')
    } catch {
      // gone meanwhile
    }
  }
  await until('the cluster\'s processes to die', () => procs.every((p) => !alive(p.pid)), 10_000)
}

/**
 * Stops the cluster: cancels what still runs (and says so), ends the daemons
 * (SIGTERM, SIGKILL after 3 s) and removes the directory but its logs.
 * Returns the ids of the jobs it had to cancel.
 */
export async function stopCluster(): Promise<number[]> {
  if (!existsSync(CLUSTER_DIR)) return []
  return withLock(async () => {
    verified = undefined
    let cancelled: number[] = []
    if (clusterProcesses().length) {
      try {
        const active = jobs().filter((j) => !isFinal(j))
        cancelled = active.map((j) => j.id)
        if (active.length) {
          process.stderr.write(`Slurm test cluster: jobs still there at the end of the run, cancelled: ${active.map((j) => `${j.id} ${j.name} ${j.state}`).join('; ')}\n`)
          slurm('scancel', cancelled.map(String))
          const deadline = Date.now() + 5000
          while (Date.now() < deadline && clusterProcesses().some((p) => p.cmd.startsWith('slurmstepd'))) await sleep(50)
        }
      } catch (e) {
        process.stderr.write(`Slurm test cluster: could not cancel the last jobs: ${(e as Error).message}\n`)
      }
      // slurmd first (no node is left "not responding" with work), then the controller, then munge
      for (const f of daemonPidFiles().reverse()) {
        const pid = pidFile(f)
        if (!pid || !clusterProcesses().some((p) => p.pid === pid)) continue
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          continue
        }
        const deadline = Date.now() + 3000
        while (alive(pid) && Date.now() < deadline) await sleep(10)
      }
      await killOurs()
    }
    for (const name of readdirSync(CLUSTER_DIR)) if (!['lock', 'log', 'runs'].includes(name)) rmSync(join(CLUSTER_DIR, name), { recursive: true, force: true })
    return cancelled
  })
}

// ---- one cluster per run: globalSetup registers the run, its teardown releases it ----

function liveRuns(): string[] {
  if (!existsSync(paths.runs)) return []
  return readdirSync(paths.runs).filter((name) => {
    const [pid, start] = name.split('-')
    const live = alive(Number(pid)) && startTime(Number(pid)) === start
    if (!live) rmSync(join(paths.runs, name), { force: true })
    return live
  })
}

const runName = () => `${process.pid}-${startTime(process.pid)}`

/** Called by the run's globalSetup (the main vitest process): this run may use the cluster. */
export function registerRun(): void {
  if (!slurmAvailable()) return
  mkdirSync(paths.runs, { recursive: true, mode: 0o755 })
  chmodSync(CLUSTER_DIR, 0o755)
  writeFileSync(join(paths.runs, runName()), '')
}

/** Called by the run's global teardown: stops the cluster unless another live run of this checkout still uses it, or MRS_TEST_SLURM_KEEP is set. */
export async function releaseRun(): Promise<void> {
  if (!slurmAvailable() || !existsSync(CLUSTER_DIR)) return
  try {
    unlinkSync(join(paths.runs, runName()))
  } catch {
    // never registered
  }
  if (process.env.MRS_TEST_SLURM_KEEP || liveRuns().length) return
  await stopCluster()
}
