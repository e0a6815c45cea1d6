// `npm run bench` (its last part; `npm run bench:remote` alone): what a server
// elsewhere costs and how soon each way of ending leaves nothing there.
//   --on HOST: a real sshd on this machine's loopback with a second local user
//              as the host (test/helpers/sshd.ts), measured against the same
//              launch on this machine, interleaved A B A B;
//   --slurm:   a real Slurm cluster on this machine (test/helpers/slurm.ts),
//              each exit path timed to the job leaving squeue; and with its
//              nodes refusing ssh, where mrs's tunnel (auto) falls back to
//              srun steps (src/places/srun-tunnel.ts): launch and requests.
// The server is the fake mistralrs, the client the fake client (it logs its
// start). Writes its section of bench/results.md (between the markers), so
// the rest of the file stays as bench/run.mjs wrote it. Needs root (sshd's
// second user), sshd and Slurm: what is missing is said and skipped.
//
//   BENCH_REMOTE_RUNS=N  runs per launch measurement (default 10; Slurm: half; the slow exit paths: 2), and
//                        requests through each Slurm tunnel
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { ROOT, isAlive, waitFor, withSandbox, type Running, type Sandbox } from '../test/helpers/sandbox.js'
import { missing } from '../test/helpers/needs.js'
import { startSshd, type SshHost } from '../test/helpers/sshd.js'
import { HIGH_PARTITION, LOW_PARTITION, registerRun, releaseRun, slurm } from '../test/helpers/slurm.js'
import { jobsGone, liveJobs, ofAJob, onCluster, sshToNodes } from '../test/helpers/slurm-session.js'

const MODEL = 'Qwen/Qwen3-4B'
const RUNS = Number(process.env.BENCH_REMOTE_RUNS || 10)
const SLURM_RUNS = Math.max(3, RUNS >> 1)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1))
const spread = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`
const signed = (x: number) => `${x < 0 ? '−' : '+'}${fmt(Math.abs(x))}`

interface Row {
  section: string
  what: string
  median: number
  spread: string
  baselineMedian?: number
  /** A difference: shown with its sign. */
  signed?: boolean
}
const rows: Row[] = []
const skipped: string[] = []
function report(section: string, what: string, values: number[], baseline?: number[]): Row {
  const row: Row = { section, what, median: median(values), spread: values.length > 1 ? spread(values) : '', baselineMedian: baseline && median(baseline) }
  rows.push(row)
  console.log(`${section} · ${what}: median ${fmt(row.median)} ms (${spread(values)})${baseline ? `, baseline ${fmt(row.baselineMedian!)} ms` : ''}`)
  return row
}
/** A row of its own for what `row` costs over its baseline: the difference of the medians (of the same run, interleaved). */
function over(row: Row, what: string): number {
  const difference = row.median - row.baselineMedian!
  rows.push({ section: row.section, what, median: difference, spread: '', signed: true })
  console.log(`${row.section} · ${what}: ${signed(difference)} ms`)
  return difference
}

const verdicts: { name: string; ok: boolean; detail: string }[] = []
function goal(name: string, ok: boolean, detail: string) {
  verdicts.push({ name, ok, detail })
  console.log(`  goal ${ok ? 'MET' : 'MISSED'}: ${name} — ${detail}`)
}

/** When the fake client started (ms since the epoch), from its record. */
function clientStart(sb: Sandbox): number | undefined {
  const line = sb.clientLines().find((l) => l.startsWith('start '))
  return line ? Number(BigInt(line.split(' ')[3]!) / 1000n) / 1000 : undefined
}

// the wall clock, as the fake client's `date +%s%N` (a monotonic clock drifts from it over minutes)
const nowMs = () => Date.now()

/** One mrs run whose client exits at once: start → client start, and client start → mrs exit (everything stopped). */
async function oneLaunch(sb: Sandbox, args: string[]): Promise<{ launch: number; down: number }> {
  sb.env.FAKE_CLIENT_MODE = 'exit:0'
  try {
    writeFileSync(sb.clientRecord, '')
  } catch {
    // first run
  }
  const t0 = nowMs()
  const result = await sb.run(args, { timeoutMs: 60_000 })
  const t1 = nowMs()
  if (result.code !== 0) throw new Error(`mrs ${args.join(' ')} failed (${result.code}): ${result.stderr}`)
  const start = clientStart(sb)!
  return { launch: start - t0, down: t1 - start }
}

/** Waits until the client runs. */
const clientRuns = (sb: Sandbox) => waitFor(() => clientStart(sb), 60_000, 'the client to start')

// ---- --on HOST --------------------------------------------------------------------------------

const remoteServers = (host: SshHost) => host.records().filter((r) => r.event === 'start')

async function onHost(): Promise<void> {
  await withSandbox({}, async (sb) => {
    const host = await startSshd(sb)
    const local = ['claude', '-m', MODEL, '--no-share', '-q']
    const remote = ['claude', '--on', host.alias, '-m', MODEL, '--no-share', '-q']
    await oneLaunch(sb, remote) // the file cache, and the host's login shell
    const A: { launch: number; down: number }[] = []
    const B: { launch: number; down: number }[] = []
    for (let i = 0; i < RUNS; i++) {
      A.push(await oneLaunch(sb, remote))
      B.push(await oneLaunch(sb, local))
      if (remoteServers(host).some((r) => isAlive(r.pid))) throw new Error('a server outlived its session on the host')
    }
    const launch = report('--on, launch', 'start → client start: --on HOST (a new ssh connection) vs this machine', A.map((r) => r.launch), B.map((r) => r.launch))
    const launchOver = over(launch, '--on over this machine (difference of medians)')
    goal('cold --on launch ≤ local launch + 250 ms', launchOver <= 250, `${signed(launchOver)} ms (${fmt(launch.median)} vs ${fmt(launch.baselineMedian!)} ms)`)
    report('--on, client exits', 'client exits → mrs exits, the server on the host gone, vs this machine', A.map((r) => r.down), B.map((r) => r.down))

    // a session on a running `mrs serve --on` (over its open master connection) vs one on a running local
    // `mrs serve`: both pick the served model, neither starts a server
    const serveThere = sb.start(['serve', '--on', host.alias, '-m', MODEL])
    const serveHere = sb.start(['serve', '-m', MODEL])
    await serveThere.waitForStderr(/Press Ctrl-C to stop/, 30_000)
    await serveHere.waitForStderr(/Press Ctrl-C to stop/, 30_000)
    const attachThere = ['claude', '--on', host.alias, '-q']
    const attachHere = ['claude', '-q']
    const servers = () => remoteServers(host).length + sb.serverPids().length
    const serving = servers()
    await oneLaunch(sb, attachThere)
    await oneLaunch(sb, attachHere)
    const C: number[] = []
    const D: number[] = []
    for (let i = 0; i < RUNS; i++) {
      C.push((await oneLaunch(sb, attachThere)).launch)
      D.push((await oneLaunch(sb, attachHere)).launch)
    }
    if (servers() !== serving) throw new Error('an attaching session started a server of its own')
    const attach = report('--on, attach', 'start → client start: a session on a running mrs serve --on HOST vs on a running local mrs serve', C, D)
    const attachOver = over(attach, '--on over this machine (difference of medians)')
    goal('--on attach ≤ local attach + 30 ms', attachOver <= 30, `${signed(attachOver)} ms (${fmt(attach.median)} vs ${fmt(attach.baselineMedian!)} ms)`)
    for (const serve of [serveThere, serveHere]) serve.kill('SIGTERM')
    await Promise.all([serveThere.done(20_000), serveHere.done(20_000)])

    // ending mrs: its keeper stops the server there; everything of mrs's here killed: the host sees the channel close
    const kills: number[] = []
    const killAll: number[] = []
    for (let i = 0; i < Math.max(3, RUNS >> 1); i++) {
      for (const all of [false, true]) {
        sb.env.FAKE_CLIENT_MODE = 'sleep:60'
        writeFileSync(sb.clientRecord, '')
        const before = remoteServers(host).length
        const mrs = sb.start(['claude', '--on', host.alias, '-m', MODEL, '--no-share', '-q'])
        await clientRuns(sb)
        const server = remoteServers(host).at(before)!
        const t0 = nowMs()
        if (all) {
          for (const pid of sb.leftovers()) if (pid !== server.pid && /^Uid:\s+0\s/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) process.kill(pid, 'SIGKILL')
        } else mrs.kill('SIGKILL')
        await waitFor(() => !isAlive(server.pid), 30_000, 'the server on the host to go')
        ;(all ? killAll : kills).push(nowMs() - t0)
        await waitFor(() => sb.leftovers().length === 0, 10_000, 'the session to end')
      }
    }
    report('--on, kill -9', 'mrs killed → the server on the host gone (its keeper stops it)', kills)
    report('--on, kill -9', 'mrs and all its local processes killed → the server on the host gone (the channel closes)', killAll)
  })
}

// ---- --slurm ---------------------------------------------------------------------------------

/** Starts `mrs claude --slurm` with a client that stays, until the client runs. */
async function slurmSession(sb: Sandbox, extra: string[] = []): Promise<Running> {
  sb.env.FAKE_CLIENT_MODE = 'sleep:120'
  writeFileSync(sb.clientRecord, '')
  const mrs = sb.start(['claude', '--slurm', '-m', MODEL, '-q', ...extra])
  await clientRuns(sb)
  return mrs
}

/** mrs's own words in a server's log when the node refused ssh (tunnel auto): each connection is a step of the job. */
const throughSrun = (text: string) => /reaching the server through srun instead/.test(text)

/** The server log written last: the one of the launch that just ended (-q keeps its notes off stderr). */
function newestServerLog(sb: Sandbox): string {
  const logs = readdirSync(sb.logDir).map((name) => join(sb.logDir, name)).filter((path) => path.endsWith('.log'))
  const newest = logs.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs).at(-1)
  return newest ? readFileSync(newest, 'utf8') : ''
}

/** The server a session started: the one `mrs ps --json` lists that `known` does not. */
async function newServer(sb: Sandbox, known: Set<string>): Promise<{ id: string; url: string; logPath: string }> {
  const r = await sb.run(['ps', '--json'], { timeoutMs: 20_000 })
  const found = (JSON.parse(r.stdout) as { id: string; url: string; logPath: string }[]).find((s) => !known.has(s.id))
  if (!found) throw new Error(`no new server in mrs ps: ${r.stdout}`)
  known.add(found.id)
  return found
}

/**
 * ms from sending a request on a connection of its own (each one a new tunnel connection: an ssh channel, or
 * a step) until the first chunk of its body, or its end; the body is read to its end either way.
 */
function timeRequest(url: string, path: string, until: 'first chunk' | 'end', body?: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request(`${url}${path}`, { method: body ? 'POST' : 'GET', agent: false, headers: body ? { 'content-type': 'application/json' } : {}, timeout: 20_000 }, (res) => {
      if (res.statusCode !== 200) return void (res.resume(), reject(new Error(`${path}: HTTP ${res.statusCode}`)))
      let first: number | undefined
      res.on('data', () => (first ??= performance.now() - t0))
      res.on('end', () => resolve(until === 'first chunk' ? first! : performance.now() - t0))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 20 s`)))
    req.on('error', reject)
    req.end(body && JSON.stringify(body))
  })
}
const firstToken = (url: string) => timeRequest(url, '/v1/chat/completions', 'first chunk', { model: MODEL, stream: true, messages: [{ role: 'user', content: 'say hi' }] })
const modelList = (url: string) => timeRequest(url, '/v1/models', 'end')

/** ms from t0 until the sandbox's jobs have left squeue (and nothing of them runs). */
async function untilGone(sb: Sandbox, t0: number, withinMs = 60_000): Promise<number> {
  await jobsGone(sb, withinMs)
  return nowMs() - t0
}

async function onSlurm(): Promise<void> {
  await withSandbox({}, async (sb) => {
    const nodes = await onCluster(sb)
    // ssh to the nodes allowed, or refused by their sshd (as pam_slurm_adopt does): the config's first entry for them decides
    const sshAllowed = readFileSync(nodes.configPath, 'utf8')
    sshToNodes(nodes.configPath, nodes.port, 'root', 'denied')
    const sshDenied = readFileSync(nodes.configPath, 'utf8')
    const nodeSsh = (allowed: boolean) => writeFileSync(nodes.configPath, allowed ? sshAllowed : sshDenied)

    // launch: submit, schedule, the step, ssh to the node, the model; vs the same launch on this machine;
    // and with ssh to the node refused: ssh tried, then the steps (tunnel auto)
    const slurmLaunch = async (allowed: boolean) => {
      nodeSsh(allowed)
      const r = await oneLaunch(sb, ['claude', '--slurm', '-m', MODEL, '-q'])
      if (throughSrun(newestServerLog(sb)) === allowed) throw new Error(`ssh to the node ${allowed ? 'refused' : 'allowed'} where it should not be`)
      return r
    }
    for (const allowed of [true, false]) {
      await slurmLaunch(allowed)
      await jobsGone(sb)
    }
    const A: number[] = []
    const B: number[] = []
    const C: number[] = []
    const exits: number[] = []
    for (let i = 0; i < SLURM_RUNS; i++) {
      const r = await slurmLaunch(true)
      const t = nowMs()
      A.push(r.launch)
      exits.push(r.down + (await untilGone(sb, t)))
      B.push((await oneLaunch(sb, ['claude', '-m', MODEL, '-q', '--no-share'])).launch)
      C.push((await slurmLaunch(false)).launch)
      await jobsGone(sb)
    }
    report('--slurm, launch', 'start → client start: submit, run, step, tunnel (an idle cluster) vs this machine', A, B)
    const srunLaunch = report('--slurm, launch', 'start → client start: the node refuses ssh (tunnel auto: ssh tried, then srun steps) vs ssh allowed', C, A)
    over(srunLaunch, 'srun over ssh (difference of medians)')

    // requests once a session runs: one session whose tunnel is ssh, one (ssh then refused) whose tunnel is steps, at once
    const known = new Set<string>()
    const tunnels: Record<'ssh' | 'srun', string> = { ssh: '', srun: '' }
    const sessions: Running[] = []
    for (const tunnel of ['ssh', 'srun'] as const) {
      nodeSsh(tunnel === 'ssh')
      sessions.push(await slurmSession(sb, ['--no-share']))
      const server = await newServer(sb, known)
      if (throughSrun(readFileSync(server.logPath, 'utf8')) !== (tunnel === 'srun')) throw new Error(`the session meant to use ${tunnel} does not`)
      tunnels[tunnel] = server.url
    }
    nodeSsh(true)
    // one at a time: two at once would take both warm steps, and the first measured request would wait for a step to start
    for (const url of Object.values(tunnels)) {
      await firstToken(url)
      await modelList(url)
    }
    const first = { ssh: [] as number[], srun: [] as number[] }
    const list = { ssh: [] as number[], srun: [] as number[] }
    for (let i = 0; i < RUNS; i++) {
      for (const tunnel of ['ssh', 'srun'] as const) first[tunnel].push(await firstToken(tunnels[tunnel]))
      for (const tunnel of ['ssh', 'srun'] as const) list[tunnel].push(await modelList(tunnels[tunnel]))
    }
    report('--slurm, requests', 'POST /v1/chat/completions (stream) → first chunk, a new connection each: srun steps vs ssh', first.srun, first.ssh)
    report('--slurm, requests', 'GET /v1/models → its end, a new connection each: srun steps vs ssh', list.srun, list.ssh)
    for (const mrs of sessions) mrs.kill('SIGTERM')
    await Promise.all(sessions.map((mrs) => mrs.done(20_000)))
    await jobsGone(sb, 30_000)
    report('--slurm, ends', 'the client exits → the job gone from squeue', exits)

    for (const [what, signal] of [
      ['Ctrl-C (SIGINT to the group) → the job gone from squeue', 'SIGINT'],
      ['a closed terminal (SIGHUP) → the job gone from squeue', 'SIGHUP'],
      ['mrs killed (-9): its keeper ends the job → gone from squeue', 'SIGKILL'],
    ] as const) {
      const values: number[] = []
      for (let i = 0; i < SLURM_RUNS; i++) {
        const mrs = await slurmSession(sb)
        const t0 = nowMs()
        if (signal === 'SIGINT') mrs.killGroup(signal)
        else mrs.kill(signal)
        values.push(await untilGone(sb, t0))
        await mrs.done(20_000).catch(() => undefined)
      }
      report('--slurm, ends', what, values)
    }

    // everything of mrs's here killed: the step misses its heartbeats, the job ends itself
    const killAll: number[] = []
    for (let i = 0; i < 2; i++) {
      await slurmSession(sb)
      const t0 = nowMs()
      for (const pid of sb.leftovers()) if (!ofAJob(pid)) process.kill(pid, 'SIGKILL')
      killAll.push(await untilGone(sb, t0))
    }
    const orphaned = report('--slurm, ends', 'mrs and all its processes killed (-9) → the job ends itself, gone from squeue', killAll)
    goal('--slurm: mrs and all its processes killed → the job ends itself ≤ 20 s', orphaned.median <= 20_000, `${fmt(orphaned.median / 1000)} s`)

    // preempted by a higher-priority job: the session ends with one line
    const preempted: number[] = []
    for (let i = 0; i < 2; i++) {
      const mrs = await slurmSession(sb, [`--slurm-arg=--partition=${LOW_PARTITION}`, '--slurm-arg=--gres=gpu:2'])
      const t0 = nowMs()
      const high = slurm('sbatch', ['--parsable', `--partition=${HIGH_PARTITION}`, '--gres=gpu:2', `--job-name=high-${sb.id}`, `--output=${join(sb.root, 'high.out')}`, '--wrap', 'sleep 30'], { env: sb.env, cwd: sb.work }).trim()
      try {
        const r = await mrs.done(60_000)
        if (r.code !== 70) throw new Error(`a preempted session ended with ${r.code}: ${r.stderr}`)
        preempted.push(nowMs() - t0)
      } finally {
        slurm('scancel', [high], { env: sb.env })
      }
      await jobsGone(sb, 30_000)
    }
    report('--slurm, ends', 'preempted → the session ends with one line (exit 70)', preempted)

    // the time limit: Slurm enforces it on a sweep every 30 s, so this is Slurm's figure more than mrs's
    const mrs = await slurmSession(sb)
    const [job] = liveJobs(sb)
    // a minute, Slurm's least: it passes a minute after the job started (squeue's %S, to the second)
    slurm('scontrol', ['update', `JobId=${job!.id}`, 'TimeLimit=1'], { env: sb.env })
    const startedAt = Date.parse(slurm('squeue', ['-h', '-j', String(job!.id), '-o', '%S'], { env: sb.env }).trim())
    const r = await mrs.done(120_000)
    if (r.code !== 70) throw new Error(`a session past its time limit ended with ${r.code}: ${r.stderr}`)
    report('--slurm, ends', 'its time limit passes → the session ends with one line (Slurm checks every 30 s; one run)', [nowMs() - (startedAt + 60_000)])
    await jobsGone(sb, 30_000)
  })
}


// ---- main -------------------------------------------------------------------------------------

const started = Date.now()
const noSshd = missing(['sshd'])
if (noSshd.length) skipped.push(`--on and --slurm: ${noSshd.join('; ')}`)
else {
  await onHost()
  const noSlurm = missing(['slurm'])
  if (noSlurm.length) skipped.push(`--slurm: ${noSlurm.join('; ')}`)
  else {
    registerRun()
    try {
      await onSlurm()
    } finally {
      await releaseRun()
    }
  }
}

const BEGIN = '<!-- remote: written by bench/remote.ts -->'
const END = '<!-- /remote -->'
const table = rows
  .map((r) => `| ${r.section} | ${r.what} | ${r.signed ? signed(r.median) : fmt(r.median)} ms | ${r.spread} | ${r.baselineMedian !== undefined ? `${fmt(r.baselineMedian)} ms` : ''} | ${r.baselineMedian !== undefined ? `${(r.median / r.baselineMedian).toFixed(2)}×` : ''} |`)
  .join('\n')
const goals = verdicts.map((v) => `| ${v.ok ? '✓' : '✗'} | ${v.name} | ${v.detail} |`).join('\n')
const section = `${BEGIN}
## Another machine and a cluster

Written by \`bench/remote.ts\` on ${new Date().toISOString().slice(0, 10)}: \`--on\` against a real sshd on this machine's
loopback with a second local user as the host, \`--slurm\` against a real Slurm cluster on this machine (slurmctld,
two slurmd, munge); ${RUNS} runs per \`--on\` measurement, ${SLURM_RUNS} per \`--slurm\` one (2 for the slow exit paths),
interleaved with the baseline where there is one; medians and min–max. No network is in the way: a real host adds
its round trips to the launch (a few per start), not to the exit paths, which are bounded by what mrs waits for.
The srun rows are a cluster whose nodes refuse ssh (their sshd refuses the user, as pam_slurm_adopt does) with
\`[slurm] tunnel = "auto"\`: mrs tries ssh to the node, is refused, and carries each connection to the server by a
step of the job (\`srun --overlap\`, a few started ahead) instead; the requests go to a running session's front door,
each on a new connection (${RUNS} of each, interleaved, one session per tunnel running at once).
Took ${Math.round((Date.now() - started) / 1000)} s.${skipped.length ? `\n\nSkipped: ${skipped.join('; ')}.` : ''}

| what | measured | median | min–max | baseline median | ratio |
| --- | --- | --- | --- | --- | --- |
${table}
${
  verdicts.length
    ? `
### Goals

| | goal | measured |
| --- | --- | --- |
${goals}
`
    : ''
}${END}`
const file = join(ROOT, 'bench', 'results.md')
const text = readFileSync(file, 'utf8')
const at = text.indexOf(BEGIN)
writeFileSync(file, at < 0 ? `${text.trimEnd()}\n\n${section}\n` : `${text.slice(0, at)}${section}${text.slice(text.indexOf(END) + END.length)}`)
console.log(`\nwrote its section of bench/results.md (${verdicts.filter((v) => v.ok).length}/${verdicts.length} goals met)`)
