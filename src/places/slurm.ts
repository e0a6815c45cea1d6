/**
 * A Slurm job (`--slurm`, on the cluster's login node, or `--on LOGIN --slurm`
 * from elsewhere). The scheduler is the engine: mrs submits a job with the
 * user's own choices (`[slurm]` in the config, `--slurm-arg`), says why and
 * how long it waits in the queue, and once it runs:
 *   - mistral.rs runs inside the allocation, as a step (`srun --jobid ID
 *     --overlap`) that runs the same program as on an SSH host: on the
 *     compute node's loopback only (the cluster is shared, and mistral.rs has
 *     no API key), stopped when the step's stdin closes or its heartbeat stops;
 *   - mrs reaches it through ssh to that node (through the login node from
 *     elsewhere), which clusters allow to a node where you have a job
 *     (pam_slurm_adopt): one authenticated channel, the port never on the
 *     cluster network; where ssh to the node is refused, through the
 *     scheduler itself, a step of the job per connection (srun-tunnel.ts).
 *     `[slurm] tunnel` picks: "auto" (ssh, else steps), "ssh", "srun".
 *   - the batch script itself only holds the allocation: it ends the job when
 *     the server step stopped hearing from mrs (mrs and all its processes were
 *     killed: the step's missed heartbeats), or when no server step of mrs's
 *     has run for LEASE_SECONDS (NEXT_STEP_SECONDS once one has), and the walltime is
 *     only the last backstop. mrs ends the job itself (scancel) on every other
 *     path.
 */
import { spawn } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { existsSync, writeSync } from 'node:fs'
import { ExitCode, MrsError } from '../errors.js'
import { type Env, getPaths } from '../paths.js'
import { randomHex } from '../hash.js'
import { findExecutable } from '../process/which.js'
import { sleep } from '../process/proc.js'
import { serverArgv } from '../server/spec.js'
import { shellQuote } from '../text.js'
import { local } from './local.js'
import { BOOTSTRAP, JOB_DIR_FN, PROGRAM, encodeLine, shWords } from './remote-program.js'
import { RemoteRun, idOf } from './remote-run.js'
import { srunTunnel } from './srun-tunnel.js'
import { MISTRALRS_INSTALL } from '../server/mistralrs.js'
import { connect, controlPath, hold, installOn, inventoryOf, keepAlive, letGo, probe, sshBinary, sshLiteral, viaMaster } from './ssh.js'
import type { SlurmPlace, SshPlace } from './kinds.js'
import { CHOSEN_THERE, QUANT_THERE, type PlaceHost, type PlaceModule, type ServerExit, type ServerRun } from './types.js'

export type { SlurmOptions, SlurmPlace } from './kinds.js'

/** The job ends this long after its last server step (mrs is gone); a restart after a crash is well within it. */
export const LEASE_SECONDS = 20
/**
 * Once a server step has run, how long the job waits for the next: mrs starts
 * a new one within its restart delay (at most 8 s, keeper.ts restartDelay),
 * and a step whose srun was killed with mrs ends at once, so a dead mrs is
 * noticed this soon rather than after LEASE_SECONDS.
 */
export const NEXT_STEP_SECONDS = 10
const MISSES = 3

/**
 * The batch script: it holds the allocation while a server step of mrs's
 * runs, and ends the job when none has for LEASE_SECONDS. The lease lives in
 * a private dir of the job's on the node, named with `token` (mrs's, random,
 * in this script and in the step's environment, never on a command line): a
 * /tmp shared by every user of the node holds nothing another user could
 * make first or name (JOB_DIR_FN).
 */
export const batchScript = (token: string) => `#!/bin/sh
# mrs holds this allocation for a mistral.rs server it runs in it as a step (srun --overlap).
# The job ends when its server step has lost mrs, or when no server step of mrs's has run for ${LEASE_SECONDS} s
# (${NEXT_STEP_SECONDS} s once one has run).
MRS_JOB_TOKEN=${token}
${JOB_DIR_FN}
if ! d=$(job_dir); then
  echo "mrs: cannot make the job's private dir on $(uname -n) in /tmp (a dir of that name is another user's or not private, or /tmp is not writable): ending the job" >&2
  exit 1
fi
# the dir goes with the job however it ends (scancel: SIGTERM, then SIGKILL after KillWait: the trap runs at once,
# as a signal interrupts wait where it would wait out a sleep in the foreground)
trap 'rm -rf "$d"' EXIT
trap 'exit 143' TERM INT HUP
echo "mrs: job $SLURM_JOB_ID holds $(uname -n) for mrs"
idle=0 limit=${LEASE_SECONDS}
while [ "$idle" -lt "$limit" ] && [ ! -e "$d/gone" ]; do
  if [ -s "$d/lease" ] && kill -0 "$(cat "$d/lease")" 2>/dev/null; then idle=0 limit=${NEXT_STEP_SECONDS}; else idle=$((idle + 1)); fi
  sleep 1 &
  wait $!
done
if [ -e "$d/gone" ]; then echo "mrs: the server step lost mrs: ending the job"; else echo "mrs: no server step of mrs's for $limit s: mrs is gone; ending the job"; fi
`

/** sbatch's options for the job (what mrs adds, then the user's own). */
export function sbatchArgs(place: SlurmPlace, name: string, output: string): string[] {
  const o = place.options
  const args = ['--parsable', `--job-name=${name}`, `--output=${output}`]
  if (o.partition) args.push(`--partition=${o.partition}`)
  if (o.account) args.push(`--account=${o.account}`)
  if (o.qos) args.push(`--qos=${o.qos}`)
  if (o.time) args.push(`--time=${o.time}`)
  if (o.gpus) args.push(place.nodes > 1 ? `--gpus-per-node=${o.gpus}` : `--gpus=${o.gpus}`)
  if (o.cpus) args.push(`--cpus-per-task=${o.cpus}`)
  if (o.mem) args.push(`--mem=${o.mem}`)
  if (o.constraint) args.push(`--constraint=${o.constraint}`)
  if (place.nodes > 1) args.push(`--nodes=${place.nodes}`, '--ntasks-per-node=1')
  return [...args, ...o.args]
}

/**
 * The step that runs the server: one task per node; task 0 speaks the protocol, the others are multi-node workers.
 * Over several nodes the tasks end together: a worker that fails ends the step at once, and the head's end (mrs
 * stopped it) ends the workers, which would otherwise hold the step, and the job's next one, until the job ends.
 */
export function srunArgs(place: SlurmPlace, jobId: string, program: string[]): string[] {
  const together = place.nodes > 1 ? ['--kill-on-bad-exit=1', '--wait=2'] : []
  return ['srun', `--jobid=${jobId}`, '--overlap', `--nodes=${place.nodes}`, '--ntasks-per-node=1', ...together, ...program]
}

/**
 * The seed of the head's port for its workers (multi-node), the same for every task of a step: each makes it a
 * port in its MRS_PORT_RANGE. Random for each step, so that a port taken on the head is not tried again.
 */
export const headPortSeed = () => randomInt(0, 2 ** 31 - 1)

const where = (place: SlurmPlace) => (place.via ? `Slurm via ${place.via}` : 'Slurm')

// ---- commands on the login node: here, or through the ssh master to it --------------------------------

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * What the job gets of mrs's environment (sbatch and srun pass the
 * submitter's environment to it: that is how a `module load` or a conda env
 * reaches the node): everything but the clients' credentials, which a site
 * that keeps job environments in its accounting would expose (HF_TOKEN stays:
 * the server needs it).
 */
export function jobEnv(env: Env): Env {
  const CLIENT_SECRETS = /^(ANTHROPIC_|OPENAI_|CLAUDE_|CODEX_|COPILOT_|QWEN_|OPENCODE_|PI_CODING_AGENT|GEMINI_API_KEY$|GOOGLE_API_KEY$|GH_TOKEN$|GITHUB_TOKEN$|GH_ENTERPRISE_TOKEN$|GITHUB_ENTERPRISE_TOKEN$|OPENROUTER_API_KEY$|DASHSCOPE_API_KEY$|DEEPSEEK_API_KEY$|MISTRAL_API_KEY$|AZURE_OPENAI_API_KEY$|MRS_URL_AUTHORIZATION$)/
  return Object.fromEntries(Object.entries(env).filter(([k]) => !CLIENT_SECRETS.test(k)))
}

/** What a command through ssh prints first, on both streams: whatever a login shell printed before it (a welcome, a quota) is cut off above it. */
const OUTPUT_MARK = '@mrs-output'

/** The part of a framed output after the mark (all of it when there is none: ssh failed before the command ran). */
const afterMark = (text: string) => {
  const at = text.indexOf(`${OUTPUT_MARK}\n`)
  return at < 0 ? text : text.slice(at + OUTPUT_MARK.length + 1)
}

/**
 * Runs argv on the login node (stdin: `input`), bounded. Through ssh, the
 * bootstrap: no word is parsed by the login shell there, and the command's
 * output is framed, so a login shell that prints cannot pass for it.
 */
function onLogin(place: SlurmPlace, env: Env, argv: string[], input = '', timeoutMs = 60_000): Promise<Ran> {
  const [command = '', ...args] = place.via ? toLogin(env, place.via) : argv
  const first = place.via ? `${encodeLine(`printf '%s\\n' ${OUTPUT_MARK}; printf '%s\\n' ${OUTPUT_MARK} >&2; exec ${shWords(argv)}`)}\n` : ''
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: jobEnv(env) as NodeJS.ProcessEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += stdout.length < 1024 * 1024 ? d : ''))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += stderr.length < 64 * 1024 ? d : ''))
    child.stdin.on('error', () => {})
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ code: 127, stdout, stderr: e.message })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(place.via ? { code, stdout: afterMark(stdout), stderr: afterMark(stderr) } : { code, stdout, stderr })
    })
    child.stdin.end(first + input)
  })
}

/** What `sbatch --parsable` prints: a job id, and a cluster after a `;`. */
export const JOB_ID = /^\d+(;\S+)?$/

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? ''

/** ssh to the login node through its master, running the bootstrap (whose first line is the command to run there). */
const toLogin = (env: Env, via: string) => [sshBinary(env), ...viaMaster(controlPath(getPaths(env), via)), '-T', '--', via, BOOTSTRAP]

/** How long ssh to a node may take to forward before auto goes through srun instead. */
const AUTO_SSH_MS = 10_000

/** ssh's own reason for a failure, one line (a refusal or an unreachable host before the last line it said). */
function sshReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Warning: Permanently added|^Pseudo-terminal|^@+$/.test(l))
  const REASON = /Permission denied|Access denied|Host key verification failed|HOST IDENTIFICATION HAS CHANGED|Connection refused|Connection timed out|timed out|No route to host|Could not resolve|not known|Network is unreachable|open failed|Too many authentication failures/
  return lines.find((l) => REASON.test(l)) ?? lines.at(-1) ?? ''
}

/** A failure the session reports as is. */
function failure(message: string, exitCode: number): Error & { failure: ServerExit['failure'] } {
  return Object.assign(new Error(message), { failure: { message, exitCode } })
}

interface JobState {
  state: string
  reason: string
  nodes: string
  timeLeft: string
  expected: string
  /** When squeue said so (ms). */
  seen: number
}

/** Slurm's [days-]hours:minutes:seconds (or minutes:seconds) in seconds; undefined for UNLIMITED and the like. */
export function slurmSeconds(text: string): number | undefined {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text)
  if (!m) return undefined
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3])) * 60 + Number(m[4])
}

/** Seconds as Slurm shows a duration. */
export function slurmDuration(seconds: number): string {
  const [d, h, m, s] = [Math.floor(seconds / 86400), Math.floor(seconds / 3600) % 24, Math.floor(seconds / 60) % 60, seconds % 60]
  const two = (n: number) => String(n).padStart(2, '0')
  return `${d ? `${d}-${two(h)}:` : h ? `${h}:` : ''}${d || h ? two(m) : m}:${two(s)}`
}

// ---- the keeper's side: the job, for the server's whole life ------------------------------------------

interface Job {
  id: string
  head: string
  output: string
  /** Names the job's private dir on the node (the batch script has it; the step gets it in its environment). */
  token: string
}

class SlurmHost implements PlaceHost {
  private job?: Job
  /** ssh's reason when it could not reach the job's node (tunnel auto): the steps carry the connections from then on. */
  private sshRefused?: string
  private last?: JobState
  private watch?: NodeJS.Timeout
  private cancelled?: Promise<void>

  constructor(
    private readonly place: SlurmPlace,
    private readonly env: Env,
  ) {}

  status(): string | undefined {
    if (!this.job) return undefined
    const seconds = this.last && slurmSeconds(this.last.timeLeft)
    // without --time Slurm counts down from a year: that is no limit worth showing
    const left = seconds !== undefined && seconds < 300 * 86400 ? `, ${slurmDuration(Math.max(0, seconds - Math.round((Date.now() - this.last!.seen) / 1000)))} left` : ''
    return `Slurm job ${this.job.id} on ${this.job.head}${left}`
  }

  async spawn(run: ServerRun) {
    if (!this.job) this.job = await this.submit(run)
    return this.step(run, this.job)
  }

  private async state(id: string): Promise<JobState | undefined> {
    const r = await onLogin(this.place, this.env, ['squeue', '-h', '-t', 'all', '-j', id, '-o', '%T|%r|%N|%L|%S'], '', 20_000)
    if (r.code !== 0) return undefined // a job purged from squeue's memory (after MinJobAge) is gone
    const [state = '', reason = '', nodes = '', timeLeft = '', expected = ''] = lastLine(r.stdout).split('|')
    return state ? { state, reason, nodes, timeLeft, expected, seen: Date.now() } : undefined
  }

  /** Submits the job and waits until it runs, saying why it waits; Ctrl-C (the keeper's shutdown) cancels it. */
  private async submit(run: ServerRun): Promise<Job> {
    const dir = await onLogin(this.place, this.env, ['sh', '-c', 'd="${XDG_STATE_HOME:-$HOME/.local/state}/mrs/slurm"; mkdir -p "$d" && chmod 700 "$d" && printf %s "$d"'])
    if (dir.code !== 0) throw failure(`cannot reach the login node: ${lastLine(dir.stderr)}`, ExitCode.Unreachable)
    const name = `mrs-${idOf(run.tmpDir)}`
    const output = `${dir.stdout.trim()}/job-%j.out`
    const token = randomHex(16)
    const sub = await onLogin(this.place, this.env, ['sbatch', ...sbatchArgs(this.place, name, output)], batchScript(token))
    if (sub.code !== 0) throw failure(`Slurm refused the job: ${lastLine(sub.stderr) || lastLine(sub.stdout) || `sbatch exited with ${sub.code}`}`, ExitCode.Unreachable)
    // only a job id is one: anything else is not something to watch or cancel
    if (!JOB_ID.test(sub.stdout.trim())) throw failure(`sbatch answered ${JSON.stringify(sub.stdout.trim().slice(0, 200))}, not a job id; look at \`squeue --me\` for a job named ${name}`, ExitCode.Unreachable)
    const id = sub.stdout.trim().split(';')[0]!
    const job: Job = { id, head: '', output: output.replace('%j', id), token }
    this.job = job
    run.progress(`submitted Slurm job ${id}`)
    const since = Date.now()
    let said = ''
    for (;;) {
      if (run.signal.aborted) {
        await this.cancel()
        throw new Error('stopped while the job was queued')
      }
      const s = await this.state(id)
      this.last = s
      if (s?.state === 'RUNNING') {
        const hosts = await onLogin(this.place, this.env, ['scontrol', 'show', 'hostnames', s.nodes])
        job.head = hosts.stdout.split('\n')[0]?.trim() || s.nodes
        // said once, also off a terminal (as srun says it)
        run.note(`Slurm job ${id} runs on ${job.head} (after ${Math.round((Date.now() - since) / 1000)}s)`)
        run.progress(`Slurm job ${id} runs on ${job.head}; loading the model`)
        this.watchJob()
        return job
      }
      if (!s || !/^(PENDING|CONFIGURING|REQUEUED|RESIZING|SUSPENDED)$/.test(s.state)) {
        const tail = await onLogin(this.place, this.env, ['tail', '-n', '5', job.output])
        throw failure(`the Slurm job ${id} ended before it ran (${s ? `${s.state}${s.reason && s.reason !== 'None' ? `, ${s.reason}` : ''}` : 'gone'})${tail.stdout.trim() ? `; its output: ${tail.stdout.trim().split('\n').join(' | ')}` : ''}`, ExitCode.ServerFailed)
      }
      const waited = Math.round((Date.now() - since) / 1000)
      const expected = s.expected && s.expected !== 'N/A' && s.expected !== 'Unknown' ? `, expected to start ${s.expected}` : ''
      // a line when the job is queued and whenever Slurm's reason changes, also off a terminal (as srun says it)
      if (s.reason !== said) run.note(`Slurm job ${id} queued (${s.reason})${expected}`)
      said = s.reason
      run.progress(`Slurm job ${id} queued (${s.reason}) for ${waited}s${expected}`)
      await sleep(1000)
    }
  }

  /** While it runs, its time left for `mrs ps`. */
  private watchJob(): void {
    const tick = async () => {
      if (!this.job || this.cancelled) return
      this.last = (await this.state(this.job.id)) ?? this.last
      this.watch = setTimeout(() => void tick(), 30_000)
      this.watch.unref()
    }
    this.watch = setTimeout(() => void tick(), 30_000)
    this.watch.unref()
  }

  /** One run of the server: a step in the job, reached through ssh to its head node. */
  private step(given: ServerRun, job: Job) {
    // a model spread over several nodes is served as published: every node must load the same, and each one's GPU is its own
    const run = this.place.nodes > 1 ? { ...given, spec: { ...given.spec, fitQuant: false } } : given
    const grace = Math.max(1, Math.ceil(run.graceMs / 1000))
    const beat = keepAlive(run.env)
    // a multi-node worker gets the server's arguments here (its port and its hub cache are its own: @PORT@, @HUB@); task 0 gets them by the protocol
    const workers = this.place.nodes > 1 ? ['--', ...serverArgv(run.spec, '@PORT@', '', { hub: '@HUB@' })] : []
    // not a login shell: its /etc/profile would replace the PATH (and what `module load` set) the step was given; the
    // program asks a login shell for its PATH itself, after the given one
    const program = ['sh', '-c', PROGRAM, 'mrs-remote', 'serve', idOf(run.tmpDir), String(run.preferPort ?? 0), String(grace), String(beat), String(MISSES), this.place.mistralrs ?? '', String(headPortSeed()), ...workers]
    const srun = srunArgs(this.place, job.id, program)
    // the job's dir token and the setup lines go in the step's environment, which no other user can read
    const stepEnv: Record<string, string> = { MRS_JOB_TOKEN: job.token, ...(this.place.options.setup?.length ? { MRS_SETUP: this.place.options.setup.join('\n') } : {}) }
    const viaSsh = this.place.via
      ? {
          command: toLogin(run.env, this.place.via),
          firstLine: `${encodeLine(`exec ${shWords(['env', ...Object.entries(stepEnv).map(([k, v]) => `${k}=${v}`), ...srun])}`)}\n`,
        }
      : { command: srun }
    return new RemoteRun(run, {
      where: job.head,
      ...viaSsh,
      // the job runs with the environment it was submitted from: a module loaded there (or in [slurm] setup) is found
      install: `load its module before mrs (or in [slurm] setup), or install it in the shared home: ${this.place.via ? installOn(this.place.via, MISTRALRS_INSTALL) : MISTRALRS_INSTALL}`,
      beatSeconds: beat,
      env: { ...jobEnv(run.env), ...(this.place.via ? {} : stepEnv) } as NodeJS.ProcessEnv,
      tunnel: (port, socketPath) => this.tunnel(run, job, port, socketPath),
      explainLoss: async (_code, _signal, said) => {
        // the step's end reaches mrs before the job's own state changes (preempted, out of time): let it settle
        // (and a job Slurm is stopping shows COMPLETING until its processes are gone, which KillWait bounds)
        let s = await this.state(job.id)
        for (let i = 0; i < 40 && (s?.state === 'RUNNING' ? i < 10 : s?.state === 'COMPLETING'); i++) {
          await sleep(250)
          s = await this.state(job.id)
        }
        this.last = s ?? this.last
        const ended = !s || s.state !== 'RUNNING'
        const how = !s
          ? 'ended'
          : s.state === 'TIMEOUT'
            ? 'reached its time limit'
            : s.state === 'PREEMPTED'
              ? 'was preempted'
              : s.state === 'CANCELLED'
                ? 'was cancelled'
                : s.state === 'NODE_FAIL'
                  ? `lost its node ${job.head}`
                  : s.state === 'COMPLETING'
                    ? 'is being ended by Slurm (preempted, out of time or cancelled)'
                    : `ended (${s.state})`
        return ended ? { code: null, signal: null, lost: `the Slurm job ${job.id} ${how}`, final: true } : { code: null, signal: null, lost: `the server step on ${job.head} ended${said ? ` (${said})` : ''}` }
      },
    })
  }

  /**
   * Makes the head node's loopback port reachable at `socketPath` here, as
   * `[slurm] tunnel` says: ssh to the node, a Slurm step per connection
   * (srun-tunnel.ts), or (auto) ssh, and the steps when ssh to the node fails
   * (many clusters refuse it), said once. Rejects with one line naming the
   * node and each way's own reason.
   */
  private async tunnel(run: ServerRun, job: Job, port: number, socketPath: string): Promise<{ close(): void }> {
    const node = job.head
    const mode = this.place.options.tunnel ?? 'auto'
    const bySrun = (sshSaid?: string) =>
      this.srunTunnel(run.env, job, port, socketPath).catch((e: Error) => {
        throw new Error(sshSaid ? `ssh to ${node} failed (${sshSaid}), and so did srun (${e.message})` : `srun to ${node}: ${e.message}`)
      })
    // a node that refused ssh once (auto) is reached through srun from then on (a restart of the server)
    if (mode === 'srun' || this.sshRefused) return bySrun(this.sshRefused)
    try {
      return await this.sshTunnel(run.env, node, port, socketPath, mode === 'auto' ? AUTO_SSH_MS : 30_000)
    } catch (e) {
      const said = (e as Error).message
      if (mode === 'ssh') throw new Error(`ssh to ${node}: ${said} ([slurm] tunnel = "ssh"; "auto" or "srun" reaches the node through Slurm instead)`)
      this.sshRefused = said
      run.note(`ssh to ${node} failed (${said}): reaching the server through srun instead`)
      return bySrun(said)
    }
  }

  /** ssh to the head node (through the login node's master from elsewhere), forwarding a private socket here to its loopback port; rejects with ssh's reason. */
  private sshTunnel(env: Env, node: string, port: number, socketPath: string, withinMs: number): Promise<{ close(): void }> {
    const via = this.place.via
    const ssh = sshBinary(env)
    // ssh runs ProxyCommand through a shell, after expanding its %-tokens (and the inner ssh expands ControlPath's)
    const proxy = via && [ssh, ...viaMaster(controlPath(getPaths(env), via)), '-W', '%h:%p', '--', via].map((w) => (w === '%h:%p' ? w : shellQuote(sshLiteral(w)))).join(' ')
    const args = [
      '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes',
      // this connection alone: a user's ControlMaster auto / ControlPersist must not make it a master that outlives the tunnel, nor send it through one
      '-o', 'ControlMaster=no', '-o', 'ControlPath=none',
      '-o', `ConnectTimeout=${Math.ceil(withinMs / 1000)}`,
      '-o', `ServerAliveInterval=${keepAlive(env)}`, '-o', `ServerAliveCountMax=${MISSES}`,
      ...(proxy ? ['-o', `ProxyCommand=${proxy}`] : []),
      '-N', '-L', `${sshLiteral(socketPath)}:127.0.0.1:${port}`, '--', node,
    ]
    return new Promise((resolve, reject) => {
      const child = spawn(ssh, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: env as NodeJS.ProcessEnv })
      let stderr = ''
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)))
      let done = false
      const close = () => {
        try {
          child.kill('SIGTERM')
        } catch {
          // gone
        }
      }
      // detached (no terminal signal reaches it), so it would outlive a keeper that exits on a path that did not close it
      process.once('exit', close)
      child.on('error', (e) => !done && ((done = true), reject(e)))
      child.on('close', (code) => {
        process.off('exit', close)
        if (!done) (done = true), reject(new Error(sshReason(stderr) || `ssh exited with code ${code}`))
      })
      const started = Date.now()
      const wait = () => {
        if (done) return
        if (existsSync(socketPath)) return (done = true), resolve({ close })
        if (Date.now() - started > withinMs) return (done = true), close(), reject(new Error(`no forward within ${Math.round(withinMs / 1000)} s${sshReason(stderr) ? ` (${sshReason(stderr)})` : ''}`))
        setTimeout(wait, 25)
      }
      wait()
    })
  }

  /** A Slurm step per connection to the head node (srun-tunnel.ts); srun runs here, or on the login node through its master. */
  private srunTunnel(env: Env, job: Job, port: number, socketPath: string): Promise<{ close(): void }> {
    const via = this.place.via
    return srunTunnel({
      jobId: job.id,
      node: job.head,
      port,
      socketPath,
      // srun gives the step its environment (the clients' credentials stay here)
      env: jobEnv(env) as NodeJS.ProcessEnv,
      carry: (argv) =>
        via
          ? {
              command: toLogin(env, via),
              firstLine: `${encodeLine(`exec ${shWords(argv)}`)}\n`,
            }
          : { command: argv },
      // the keeper's stderr is the server's log (a log it cannot write is the keeper's to say)
      log: (line) => {
        try {
          writeSync(2, `[mrs] ${line}\n`)
        } catch {
          // not logged
        }
      },
    })
  }

  private cancel(): Promise<void> {
    this.cancelled ??= (async () => {
      clearTimeout(this.watch)
      if (this.job) await onLogin(this.place, this.env, ['scancel', this.job.id], '', 20_000)
    })()
    return this.cancelled
  }

  /** The server is stopped for good: the job ends now (its step has), and the login master is let go. */
  async close(): Promise<void> {
    await this.cancel()
    if (this.place.via) await letGo({ kind: 'ssh', host: this.place.via }, this.env, getPaths(this.env))
  }
}

/** How the session reaches the node's port, as `[slurm] tunnel` says (`--dry-run`). */
function tunnelPlan(place: SlurmPlace): string {
  const ssh = `ssh -N -L <private socket here>:127.0.0.1:<that port> <the job's node>${place.via ? ` (through ${place.via})` : ''}`
  const steps = `a step per connection: srun --jobid=<job> --overlap <a relay to 127.0.0.1:<that port>>${place.via ? ` (run on ${place.via})` : ''}`
  const mode = place.options.tunnel ?? 'auto'
  return mode === 'ssh' ? ssh : mode === 'srun' ? steps : `${ssh}; if ssh to the node is refused, ${steps}`
}

// ---- the session's side ---------------------------------------------------------------------------------

export const slurm: PlaceModule<SlurmPlace> = {
  kind: 'slurm',
  describe: where,
  machine: () => "the Slurm job's node",
  dryRun: async (place, { spec, serve, word }) => [
    `where:    ${where(place)}: a job of the cluster's${place.via ? `, submitted on ${place.via} through your ssh` : ''}`,
    `job:      ${['sbatch', ...sbatchArgs(place, 'mrs-<id>', '~/.local/state/mrs/slurm/job-%j.out')].map(word).join(' ')} < the batch script:`,
    ...batchScript('<random token>')
      .trimEnd()
      .split('\n')
      .map((l) => `            ${l}`),
    `server:   ${srunArgs(place, '<job>', ['sh', '-c', "<mrs's program>"]).map(word).join(' ')} …: ${serve('<free port on the node>', '<its private dir there>', spec.fitQuant && place.nodes === 1 ? CHOSEN_THERE : { hub: CHOSEN_THERE.hub })}`,
    `quant:    ${!spec.fitQuant ? 'yours (--server-arg)' : place.nodes > 1 ? `none added: a model spread over ${place.nodes} nodes is served as published` : QUANT_THERE("the job's node")}`,
    `tunnel:   ${tunnelPlan(place)}`,
  ],
  // the nodes share the login node's home: what is installed there is theirs
  runThere: (place, command) => (place.via ? installOn(place.via, command) : command),
  flags: (place) => ['--slurm', ...(place.via ? ['--on', place.via] : [])],
  async prepare(place, ctx) {
    let release = () => {}
    if (place.via) {
      const login: SshPlace = { kind: 'ssh', host: place.via }
      const ctl = await connect(login, ctx)
      release = hold(login, ctl, ctx.env, ctx.paths)
    }
    try {
      const sbatch = place.via ? await onLogin(place, ctx.env, ['sh', '-c', 'command -v sbatch']) : { code: findExecutable('sbatch', ctx.env) ? 0 : 1, stdout: '', stderr: '' }
      if (sbatch.code !== 0)
        throw new MrsError(
          place.via
            ? `Slurm not found on ${place.via} (no sbatch on a login shell's PATH there); give --on the cluster's login node`
            : 'Slurm not found here (no sbatch on PATH); run mrs on the cluster\'s login node, or from here with --on LOGIN --slurm',
          ExitCode.NotFound,
        )
    } catch (e) {
      release()
      throw e
    }
    return {
      // found on the node by the program when the job runs
      binary: place.mistralrs ?? 'mistralrs',
      // the node's mistral.rs is known only once the job runs: the program says it there, before the quantization is chosen
      version: async () => undefined,
      inventory: () => slurm.inventory(place, ctx),
      release,
    }
  },
  async inventory(place, ctx) {
    // the nodes share the login node's home, so its cache is theirs; their GPUs are known only to the job
    const inventory = place.via ? inventoryOf(await probe({ kind: 'ssh', host: place.via }, controlPath(ctx.paths, place.via), ctx.env, true)) : await local.inventory({ kind: 'local' }, ctx)
    return { ...inventory, accelerator: { kind: 'cuda', name: "the job's GPU (known once it runs)", totalBytes: 0, unknown: true } }
  },
  host: (place, env) => new SlurmHost(place, env),
}
