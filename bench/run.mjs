#!/usr/bin/env node
// `npm run bench`: measures what mrs adds on top of the work itself, each
// against a baseline run in the same process, interleaved A B A B so machine
// drift cancels. Writes bench/results.md. Uses the built mrs, the fake
// mistralrs and, for the last part, the real clients.
//
//   BENCH_RUNS=N  runs per measurement (default 20; real clients: half)
//   BENCH_BEFORE=PATH  first measure another build's bin/mrs.cjs (an older checkout), the same way,
//                      and add a before/after table to bench/results.md (what it lacks is skipped)
//   BENCH_ONLY=a,b     only these sections (cliStart, launch0, launch500, teardownIgnored, memory, attach,
//                      statusLine, watchdog, realClients, prefixCache), printed; bench/results.md is left alone
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CURRENT = join(ROOT, 'bin', 'mrs.cjs')
const BEFORE = process.env.BENCH_BEFORE ? resolve(process.env.BENCH_BEFORE) : undefined
/** The build being measured: the before build in the first pass, if there is one. */
let MRS = CURRENT
let MRS_ROOT = ROOT
const FAKE_BIN = join(ROOT, 'test', 'fixtures', 'bin')
const RUNS = Number(process.env.BENCH_RUNS || 20)
const MODEL = 'Qwen/Qwen3-4B'
const now = () => performance.timeOrigin + performance.now() // ms since the epoch, fractional

// ---- an isolated world, like the tests' sandbox ------------------------------

const root = mkdtempSync(join(tmpdir(), 'mrs-bench-'))
const bin = join(root, 'bin')
mkdirSync(bin)
symlinkSync(join(ROOT, 'bench', 'fixtures', 'client'), join(bin, 'claude'))
// the client as the real ones are, a Node program (for the attach figure, measured as a user meets it)
const nodeBin = join(root, 'node-bin')
mkdirSync(nodeBin)
symlinkSync(join(ROOT, 'bench', 'fixtures', 'client-node.cjs'), join(nodeBin, 'claude'))
const realBin = join(root, 'real-bin')
mkdirSync(realBin)
for (const c of ['claude', 'codex']) symlinkSync(join(ROOT, 'node_modules', '.bin', c), join(realBin, c))
const record = join(root, 'server.jsonl')
const clientLog = join(root, 'client.log')
const baseEnv = {
  PATH: [bin, FAKE_BIN, dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
  HOME: join(root, 'home'),
  TMPDIR: join(root, 'tmp'),
  XDG_CONFIG_HOME: join(root, 'config'),
  XDG_STATE_HOME: join(root, 'state'),
  XDG_CACHE_HOME: join(root, 'cache'),
  CODEX_HOME: join(root, 'home', '.codex'),
  CLAUDE_CONFIG_DIR: join(root, 'home', '.claude'),
  MRS_CONFIG: join(root, 'config', 'mrs.toml'),
  HF_HOME: join(root, 'hf'),
  FAKE_MISTRALRS_RECORD: record,
  BENCH_CLIENT_LOG: clientLog,
  MRS_KEEP_ALIVE: '0',
  NO_COLOR: '1',
  LANG: 'C.UTF-8',
}
for (const d of [baseEnv.HOME, baseEnv.TMPDIR, baseEnv.CODEX_HOME, baseEnv.CLAUDE_CONFIG_DIR, join(root, 'config')]) mkdirSync(d, { recursive: true })
writeFileSync(baseEnv.MRS_CONFIG, '# bench\n')

const freePort = () =>
  new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => r(port))
    })
  })

function run(cmd, args, env = {}, opts = {}) {
  return new Promise((resolvePromise) => {
    rmSync(record, { force: true })
    rmSync(clientLog, { force: true })
    const t0 = now()
    const child = spawn(cmd, args, { env: { ...baseEnv, ...env }, stdio: ['ignore', 'ignore', opts.stderr ? 'pipe' : 'ignore'], cwd: root })
    let peak = 0
    let keeperPeak = 0
    const sampler = opts.sampleRss
      ? setInterval(() => {
          peak = Math.max(peak, vmHwm(child.pid))
          for (const pid of childPids(child.pid)) keeperPeak = Math.max(keeperPeak, vmHwm(pid))
        }, 20)
      : undefined
    let stderr = ''
    child.stderr?.on('data', (d) => (stderr += d))
    child.on('exit', (code) => {
      const t1 = now()
      clearInterval(sampler)
      resolvePromise({ t0, t1, code, stderr, peakRssMb: peak / 1024, keeperPeakRssMb: keeperPeak / 1024, client: clientTimes(), server: serverTimes() })
    })
  })
}

/** Children of `pid` that run the keeper. */
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('keeper.cjs')
        } catch {
          return false
        }
      })
  } catch {
    return []
  }
}

/** Peak RSS (VmHWM, kB) of a live process. */
function vmHwm(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

function clientTimes() {
  if (!existsSync(clientLog)) return {}
  const out = {}
  for (const line of readFileSync(clientLog, 'utf8').trim().split('\n')) {
    const [k, ns] = line.split(' ')
    out[k] = Number(BigInt(ns) / 1000n) / 1000 // ms since the epoch
  }
  return out
}

function serverTimes() {
  if (!existsSync(record)) return {}
  const out = {}
  for (const r of readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l))) {
    if (r.event === 'start' && !out.pid) out.pid = r.pid
    if (r.event === 'listening') out.listening = r.t
  }
  return out
}

const alive = (pid) => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

// ---- statistics ------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1))
const spread = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`

/** Runs a and b alternately, `runs` times each. */
async function interleave(runs, a, b) {
  const A = []
  const B = []
  for (let i = 0; i < runs; i++) {
    A.push(await a(i))
    if (b) B.push(await b(i))
  }
  return [A, B]
}

const rows = []
const verdicts = []
function report(section, what, values, unit = 'ms', baseline) {
  const m = median(values)
  const row = { section, what, median: m, spread: spread(values), unit, n: values.length }
  if (baseline) {
    row.baselineMedian = median(baseline)
    row.ratio = m / row.baselineMedian
  }
  rows.push(row)
  console.log(`${section} · ${what}: median ${fmt(m)} ${unit} (${spread(values)})${baseline ? `, baseline ${fmt(median(baseline))} ${unit}, ratio ${(m / median(baseline)).toFixed(2)}×` : ''}`)
  return row
}
function goal(name, ok, detail) {
  verdicts.push({ name, ok, detail })
  console.log(`  goal ${ok ? 'MET' : 'MISSED'}: ${name} — ${detail}`)
}

function check(result, label) {
  if (result.code !== 0 || !result.client.start) throw new Error(`${label} failed (exit ${result.code}): ${result.stderr}`)
  return result
}

// ---- 1 + 2 + 3: launch, readiness, teardown -----------------------------------------

async function launch(T) {
  const mrs = () => run(process.execPath, [MRS, 'claude', '-m', MODEL, '--no-share', '-q'], { FAKE_MISTRALRS_LOAD_MS: String(T) })
  const shell = async () => run('/bin/sh', [join(ROOT, 'bench', 'fixtures', 'launcher.sh'), String(await freePort()), '500'], { FAKE_MISTRALRS_LOAD_MS: String(T) })
  await mrs() // warm the file cache
  const [A, B] = await interleave(RUNS, mrs, shell)
  A.forEach((r) => check(r, 'mrs'))
  B.forEach((r) => check(r, 'shell launcher'))
  const overhead = (r) => r.client.start - r.t0 - T
  const total = (r) => r.client.start - r.t0
  if (T > 0) report(`launch, T = ${T} ms`, 'start → client start, minus T', A.map(overhead), 'ms', B.map(overhead))
  const t = report(`launch, T = ${T} ms`, 'start → client start (total)', A.map(total), 'ms', B.map(total))
  if (T === 500) {
    const over = t.median - t.baselineMedian
    rows.push({ section: `launch, T = ${T} ms`, what: 'mrs over the shell launcher (difference of medians)', median: over, spread: '', unit: 'ms', n: A.length })
    goal('launch overhead over the shell launcher ≤ 80 ms (T = 500)', over <= 80, `${fmt(over)} ms`)
  } else goal(`launch overhead ≤ 120 ms (T = ${T})`, median(A.map(overhead)) <= 120, `${fmt(median(A.map(overhead)))} ms`)
  // The shell launcher pays no Node start-up; mrs pays two in a row (itself, then the keeper). Even one
  // makes a floor that no launcher written for Node can go under.
  const oneNode = (t.baselineMedian + nodeStartMs) / t.baselineMedian
  goal(
    `launch within 1.3× of the shell launcher (T = ${T})`,
    t.ratio <= 1.3,
    `${t.ratio.toFixed(2)}×; a launcher that is a Node process cannot go under ${oneNode.toFixed(2)}× here (baseline + one ${fmt(nodeStartMs)} ms node start-up)`,
  )
  const ready = (r) => r.client.start - r.server.listening
  report(`readiness, T = ${T} ms`, 'server bind → client start', A.map(ready), 'ms', B.map(ready))
  goal(`readiness latency ≤ 30 ms (T = ${T})`, median(A.map(ready)) <= 30, `${fmt(median(A.map(ready)))} ms`)
  if (T === 500) {
    const down = (r) => r.t1 - r.client.end
    report('teardown, server honours SIGTERM', 'client exit → mrs exit, server gone', A.map(down), 'ms', B.map(down))
    goal('teardown ≤ 50 ms (SIGTERM honoured)', median(A.map(down)) <= 50, `${fmt(median(A.map(down)))} ms`)
  }
}

async function teardownIgnored() {
  const graceMs = 500
  const env = { FAKE_MISTRALRS_LOAD_MS: '0', FAKE_MISTRALRS_FAULT: 'ignore-term' }
  const mrs = () => run(process.execPath, [MRS, 'claude', '-m', MODEL, '--no-share', '-q', '--grace', `${graceMs}ms`], env)
  const shell = async () => run('/bin/sh', [join(ROOT, 'bench', 'fixtures', 'launcher.sh'), String(await freePort()), String(graceMs / 10)], env)
  const runs = Math.max(5, RUNS >> 1)
  const [A, B] = await interleave(runs, mrs, shell)
  for (const r of A) if (alive(check(r, 'mrs').server.pid)) throw new Error('the server outlived mrs')
  const down = (r) => r.t1 - r.client.end
  report(`teardown, server ignores SIGTERM (grace ${graceMs} ms)`, 'client exit → mrs exit, server gone', A.map(down), 'ms', B.map(down))
  goal('teardown ≤ grace + 100 ms (SIGTERM ignored)', median(A.map(down)) <= graceMs + 100, `${fmt(median(A.map(down)))} ms`)
}

// ---- 4: CLI start ------------------------------------------------------------------

let nodeStartMs = 0

async function cliStart() {
  for (const args of [['--help'], ['--version']]) {
    const [A, B] = await interleave(
      RUNS,
      () => run(process.execPath, [MRS, ...args]),
      () => run(process.execPath, ['-e', '0']),
    )
    const t = (r) => r.t1 - r.t0
    const row = report('CLI start', `mrs ${args[0]} vs node -e 0`, A.map(t), 'ms', B.map(t))
    nodeStartMs = row.baselineMedian
    goal(`mrs ${args[0]} ≤ 1.5× bare node`, row.ratio <= 1.5, `${row.ratio.toFixed(2)}×`)
  }
}

// ---- 5: memory -----------------------------------------------------------------------

async function memory() {
  const runs = Math.max(3, RUNS >> 2)
  const peaks = []
  const keeperPeaks = []
  for (let i = 0; i < runs; i++) {
    const r = check(await run(process.execPath, [MRS, 'claude', '-m', MODEL, '--no-share', '-q'], { BENCH_CLIENT_SLEEP: '1' }, { sampleRss: true }), 'mrs')
    peaks.push(r.peakRssMb)
    keeperPeaks.push(r.keeperPeakRssMb)
  }
  report('memory', 'peak RSS of mrs while a session runs', peaks, 'MB')
  report('memory', 'peak RSS of its keeper', keeperPeaks, 'MB')
  const both = report('memory', 'mrs + keeper (sum of the peaks)', peaks.map((p, i) => p + keeperPeaks[i]), 'MB')
  goal('peak RSS of mrs ≤ 60 MB', median(peaks) <= 60, `${fmt(median(peaks))} MB`)
  goal('peak RSS of the keeper ≤ 50 MB', median(keeperPeaks) <= 50, `${fmt(median(keeperPeaks))} MB`)
  goal('mrs + keeper ≤ 100 MB while a session runs', both.median <= 100, `${fmt(both.median)} MB`)
}

// ---- 6: attach ------------------------------------------------------------------------

/** Starts `args` in the background and waits for `pattern` on its stderr. */
function background(args, env, pattern) {
  const child = spawn(process.execPath, [MRS, ...args], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  const ready = new Promise((r, reject) => {
    child.stderr.on('data', (d) => {
      err += d
      const m = pattern.exec(err)
      if (m) r(m)
    })
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${err}`)))
  })
  return { child, ready, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.on('exit', r), child.kill('SIGTERM')))) }
}

async function attach() {
  // as a user meets it: a second `mrs claude` attaching to the server of a running `mrs claude` session,
  // with a Node client (its process start is the end of the measurement: its own start-up is not mrs's)
  const path = baseEnv.PATH.replace(bin, nodeBin)
  const first = background(['claude', '-m', MODEL], { PATH: path, BENCH_CLIENT_SLEEP: '600', BENCH_CLIENT_LOG: join(root, 'first-client.log') }, /is ready at/)
  await first.ready
  await new Promise((r) => setTimeout(r, 200)) // the first client is up
  const [A] = await interleave(RUNS, () => run(process.execPath, [MRS, 'claude', '-m', MODEL, '-q'], { PATH: path }))
  const t = (r) => check(r, 'attach').client.start - r.t0
  report('attach', 'a second mrs claude on a running mrs claude session: start → client process start', A.map(t))
  goal('attach ≤ 60 ms (to a running session)', median(A.map(t)) <= 60, `${fmt(median(A.map(t)))} ms, of which ${fmt(nodeStartMs)} ms is one bare Node start-up here`)
  await first.stop()

  // the same against `mrs serve`, with the shell client the rest of the benchmark uses
  const serve = background(['serve', '-m', MODEL], { FAKE_MISTRALRS_RECORD: join(root, 'serve.jsonl') }, /Press Ctrl-C/)
  await serve.ready
  const [B] = await interleave(RUNS, () => run(process.execPath, [MRS, 'claude', '-m', MODEL, '-q']))
  report('attach', 'mrs claude on a running mrs serve (shell client): start → client start', B.map(t))
  await serve.stop()
}

// ---- 7: Claude Code's status line -----------------------------------------------------

async function statusLine() {
  const script = join(MRS_ROOT, 'dist', 'statusline.cjs')
  if (!existsSync(script)) return console.log('status line: not in this build, skipped')
  const serve = background(['serve', '-m', MODEL], { FAKE_MISTRALRS_RECORD: join(root, 'serve.jsonl') }, /serves \S+ at (http:\S+)/)
  const [, url] = await serve.ready
  // a request first, so /metrics has a speed to report
  await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.text())
  const status = JSON.stringify({ model: { id: MODEL }, context_window: { context_window_size: 65536, current_usage: { input_tokens: 20000, output_tokens: 500 } } })
  const once = (cmd, args) =>
    new Promise((resolvePromise) => {
      const t0 = now()
      const child = spawn(cmd, args, { env: baseEnv, stdio: ['pipe', 'pipe', 'ignore'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.on('exit', () => resolvePromise({ ms: now() - t0, out }))
      child.stdin.end(status)
    })
  const [A, B] = await interleave(
    RUNS,
    () => once(process.execPath, [script, url, 'Qwen3-4B', '65536', join(root, 'statusline-state.json')]),
    () => once(process.execPath, ['-e', '0']),
  )
  if (!A.every((r) => /tok\/s/.test(r.out))) throw new Error(`the status line did not show the speed: ${A.map((r) => r.out).join(' | ')}`)
  const row = report('status line', 'node statusline.cjs (a live server) vs node -e 0', A.map((r) => r.ms), 'ms', B.map((r) => r.ms))
  goal('status line ≤ 50 ms', row.median <= 50, `${fmt(row.median)} ms (node alone: ${fmt(row.baselineMedian)} ms)`)
  await serve.stop()
}

// ---- 8: the keeper-death watchdog -------------------------------------------------------

async function watchdog() {
  const runs = Math.max(5, RUNS >> 2)
  const latencies = []
  for (let i = 0; i < runs; i++) {
    rmSync(clientLog, { force: true })
    const session = background(['claude', '-m', MODEL, '--no-share'], { PATH: baseEnv.PATH.replace(bin, nodeBin), BENCH_CLIENT_SLEEP: '60' }, /is ready at/)
    await session.ready
    const serversDir = join(baseEnv.XDG_STATE_HOME, 'mrs', 'servers')
    let entry
    while (!entry) {
      const name = readdirSync(serversDir).find((n) => n.endsWith('.json'))
      try {
        entry = name && JSON.parse(readFileSync(join(serversDir, name), 'utf8'))
      } catch {
        entry = undefined
      }
      if (!entry) await new Promise((r) => setTimeout(r, 10))
    }
    // the double fault: mrs and its keeper die together (kill -9); the server must go on its own
    const t0 = now()
    process.kill(session.child.pid, 'SIGKILL')
    process.kill(entry.keeperPid, 'SIGKILL')
    // a build without the watchdog leaves the server running: the bench stops it after 5 s
    while (alive(entry.serverPid) && now() - t0 < 5000) await new Promise((r) => setTimeout(r, 2))
    if (alive(entry.serverPid)) {
      process.kill(-entry.serverPid, 'SIGKILL')
      console.log('watchdog: the server outlived its keeper (no watchdog in this build)')
      return
    }
    latencies.push(now() - t0)
    spawnSync('pkill', ['-KILL', '-f', 'client-node.cjs'])
    rmSync(serversDir, { recursive: true, force: true })
  }
  const row = report('watchdog', 'mrs and keeper killed (-9) → server gone', latencies)
  goal('the server goes within 2 s of its keeper', row.median <= 2000, `${fmt(row.median)} ms`)
}

// ---- 9: real clients -----------------------------------------------------------------------

async function realClients() {
  const env = { PATH: baseEnv.PATH.replace(bin, realBin), FAKE_MISTRALRS_RECORD: join(root, 'serve.jsonl') }
  const serve = spawn(process.execPath, [MRS, 'serve', '-m', MODEL], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  const url = await new Promise((r) => {
    let err = ''
    serve.stderr.on('data', (d) => {
      err += d
      const m = /serves \S+ at (http:\S+)/.exec(err)
      if (m && err.includes('Press Ctrl-C')) r(m[1])
    })
  })
  const runs = Math.max(5, RUNS >> 1)
  // the direct runs get exactly what mrs injects, from `mrs env`
  const claudeEnv = Object.fromEntries(
    spawnSync(process.execPath, [MRS, 'env', 'claude', '--url', url], { env: { ...baseEnv, ...env }, encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.startsWith('export '))
      .map((l) => {
        const [k, ...v] = l.slice(7).split('=')
        return [k, v.join('=').replace(/^'(.*)'$/, '$1')]
      }),
  )
  const codexFlags = spawnSync(process.execPath, [MRS, 'env', 'codex', '--url', url], { env: { ...baseEnv, ...env }, encoding: 'utf8' })
    .stdout.trim()
    .split(/ (?=-c )/)
    .flatMap((f) => ['-c', f.slice(3).replace(/^'(.*)'$/, '$1')])
  const exec = ['--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
  const cases = [
    ['claude -p', () => run(process.execPath, [MRS, 'claude', '-m', MODEL, '-q', '--', '-p', 'say hi'], env), () => run(join(realBin, 'claude'), ['-p', 'say hi'], { ...env, ...claudeEnv })],
    ['codex exec', () => run(process.execPath, [MRS, 'codex', '-m', MODEL, '-q', '--', ...exec], env), () => run(join(realBin, 'codex'), [...codexFlags, ...exec], env)],
  ]
  for (const [name, a, b] of cases) {
    await a()
    const [A, B] = await interleave(runs, a, b)
    // an older build may fail where this one was fixed (78309bb's mrs codex against a server that refuses its tools): said, not measured
    const failed = MRS !== CURRENT && A.find((r) => r.code !== 0)
    if (failed) {
      beforeFailures.push(`mrs ${name} (exit ${failed.code}${failed.stderr.trim() ? `: ${failed.stderr.trim().split('\n').at(-1).slice(0, 160).replace(/\|/g, '/')}` : ''})`)
      continue
    }
    const t = (r) => {
      if (r.code !== 0) throw new Error(`${name} failed: ${r.stderr}`)
      return r.t1 - r.t0
    }
    const row = report('real clients', `mrs ${name.split(' ')[0]} vs ${name} direct, end to end`, A.map(t), 'ms', B.map(t))
    const cost = row.median - row.baselineMedian
    rows.push({ section: 'real clients', what: `mrs's cost for ${name} (difference of medians)`, median: cost, spread: '', unit: 'ms', n: runs })
    goal(`mrs adds ≤ 150 ms to ${name}`, cost <= 150, `${fmt(cost)} ms`)
  }
  serve.kill('SIGINT')
  await new Promise((r) => serve.on('exit', r))
}

// ---- 10: the prefix cache: a second session's first token -------------------------------------

/** Prompt tokens a second the fake prefills (a consumer GPU's order for a 30B MoE model). */
const PREFILL_TPS = 4000

/** Each real client, headless. */
const ASK = {
  claude: (p) => ['-p', p],
  codex: (p) => ['--disable', 'plugins', 'exec', '--skip-git-repo-check', p],
  opencode: (p) => ['run', p],
  copilot: (p) => ['-p', p, '-s', '--allow-all-tools', '--no-ask-user'],
  pi: (p) => ['-p', p],
  qwen: (p) => [p, '--approval-mode', 'yolo'],
}

async function prefixCache() {
  const runs = Math.max(3, RUNS >> 3)
  const clientsBin = join(root, 'all-clients')
  mkdirSync(clientsBin, { recursive: true })
  for (const c of Object.keys(ASK)) if (!existsSync(join(clientsBin, c))) symlinkSync(join(ROOT, 'node_modules', '.bin', c), join(clientsBin, c))
  for (const client of Object.keys(ASK)) {
    // a home of its own, used for a first session before measuring (a client's first run sets itself up)
    const home = join(root, `prefix-${client}`)
    const record = join(home, 'server.jsonl')
    const env = { PATH: baseEnv.PATH.replace(bin, clientsBin), HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share'), CODEX_HOME: join(home, '.codex'), CLAUDE_CONFIG_DIR: join(home, '.claude'), COPILOT_CACHE_HOME: join(root, 'copilot-cache'), FAKE_MISTRALRS_RECORD: record, FAKE_MISTRALRS_PREFILL_TPS: String(PREFILL_TPS) }
    for (const d of [env.CODEX_HOME, env.CLAUDE_CONFIG_DIR, env.XDG_CONFIG_HOME]) mkdirSync(d, { recursive: true })
    const ttft = (from) => {
      const first = readFileSync(record, 'utf8').trim().split('\n').slice(from).map((l) => JSON.parse(l)).find((r) => r.event === 'request' && r.prompt && r.body?.tools?.length)
      if (!first) throw new Error(`${client}: no request with tools`)
      return ((first.prompt.tokens - first.prompt.cachedTokens) / PREFILL_TPS) * 1000
    }
    const lines = () => (existsSync(record) ? readFileSync(record, 'utf8').trim().split('\n').length : 0)
    const session = async (prompt) => {
      const from = lines()
      const r = await run(process.execPath, [MRS, client, '-q', '--', ...ASK[client](prompt)], env, { stderr: true })
      if (r.code !== 0) throw Object.assign(new Error(`${client} failed: ${r.stderr}`), { result: r })
      return ttft(from)
    }
    const first = []
    const second = []
    let failed
    for (let i = -1; i < runs && !failed; i++) {
      // a fresh server each time: its cache starts empty
      const serve = spawn(process.execPath, [MRS, 'serve', '-m', MODEL], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
      await new Promise((r) => {
        let err = ''
        serve.stderr.on('data', (d) => (err += d).includes('Press Ctrl-C') && r())
      })
      try {
        const a = await session('hello there')
        const b = await session('what is 2+2')
        if (i >= 0) {
          first.push(a)
          second.push(b)
        }
      } catch (e) {
        // the older build may fail where this one was fixed: said, not measured
        if (MRS === CURRENT || !e.result) throw e
        failed = e.result
      }
      serve.kill('SIGINT')
      await new Promise((r) => serve.on('exit', r))
    }
    if (failed) {
      beforeFailures.push(`mrs ${client} (exit ${failed.code}: ${(failed.stderr.trim().split('\n').findLast((l) => /ERROR|error/.test(l)) ?? '').slice(0, 160).replace(/\|/g, '/')})`)
      continue
    }
    report('prefix cache', `${client}: time to first token of a second session vs the first (prefill at ${PREFILL_TPS} tok/s)`, second, 'ms', first)
  }
}

// ---- main ----------------------------------------------------------------------------------

const started = Date.now()
const sections = { cliStart, launch0: () => launch(0), launch500: () => launch(500), teardownIgnored, memory, attach, statusLine, watchdog, realClients, prefixCache }
// BENCH_ONLY=name,name runs those sections and prints them, leaving bench/results.md as it is
const only = process.env.BENCH_ONLY?.split(',')
const all = Object.entries(sections).filter(([name]) => !only || only.includes(name)).map(([, run]) => run)
let beforeRows = []
/** What the older build could not do here at all. */
const beforeFailures = []
try {
  if (BEFORE) {
    console.log(`# before: ${BEFORE}`)
    MRS = BEFORE
    MRS_ROOT = resolve(dirname(BEFORE), '..')
    for (const section of all) await section()
    beforeRows = rows.splice(0)
    verdicts.splice(0)
    MRS = CURRENT
    MRS_ROOT = ROOT
    console.log('\n# after: this checkout')
  }
  for (const section of all) await section()
} finally {
  rmSync(root, { recursive: true, force: true })
}

/** The older build as a commit, when it is a git checkout. */
function beforeLabel() {
  const r = spawnSync('git', ['-C', dirname(BEFORE), 'log', '-1', '--format=%h %s'], { encoding: 'utf8' })
  return r.status === 0 ? `commit ${r.stdout.trim().replace(/\|/g, '/')}` : relative(ROOT, BEFORE)
}

const beforeAfter = rows
  .map((r) => ({ r, b: beforeRows.find((b) => b.section === r.section && b.what === r.what) }))
  .filter(({ b }) => b)
  .map(({ r, b }) => {
    // with a baseline, its ratio too: the two passes run minutes apart, and this machine's speed drifts
    const vs = (row) => (row.ratio !== undefined ? ` (${row.ratio.toFixed(2)}× its baseline)` : '')
    return `| ${r.section} | ${r.what} | ${fmt(b.median)} ${b.unit}${vs(b)} | ${fmt(r.median)} ${r.unit}${vs(r)} | ${b.median > 0 ? `${(r.median / b.median).toFixed(2)}×` : ''} |`
  })
  .join('\n')
const missing = beforeRows.length ? rows.filter((r) => !beforeRows.some((b) => b.section === r.section && b.what === r.what) && !beforeFailures.some((f) => r.what.includes(f.split(' (')[0].replace(/^mrs /, '')))).map((r) => `${r.section}: ${r.what}`) : []
const table = rows
  .map((r) => `| ${r.section} | ${r.what} | ${fmt(r.median)} ${r.unit} | ${r.spread} | ${r.baselineMedian !== undefined ? `${fmt(r.baselineMedian)} ${r.unit}` : ''} | ${r.ratio !== undefined ? `${r.ratio.toFixed(2)}×` : ''} |`)
  .join('\n')
const goals = verdicts.map((v) => `| ${v.ok ? '✓' : '✗'} | ${v.name} | ${v.detail} |`).join('\n')
const md = `# mrs benchmark

Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim()}), Node ${process.version},
${RUNS} runs per measurement (real clients: ${Math.max(5, RUNS >> 1)}), interleaved with the baseline (A B A B) so machine
drift cancels; medians and min–max. The server is the fake \`mistralrs\` (\`test/fixtures/bin/mistralrs\`), binding
T ms after it starts; the client is \`bench/fixtures/client\`, which logs its start and end and exits; the baseline
launcher is \`bench/fixtures/launcher.sh\` (start the server in the background, poll with curl every 10 ms, run the
client, kill the server). Took ${Math.round((Date.now() - started) / 1000)} s.

| what | measured | median | min–max | baseline median | ratio |
| --- | --- | --- | --- | --- | --- |
${table}

## Goals

| | goal | measured |
| --- | --- | --- |
${goals}
${
  BEFORE
    ? `
## Before and after

The same harness, in the same run, first on an older build (${beforeLabel()}), then on this checkout.

| what | measured | before | after | after / before |
| --- | --- | --- | --- | --- |
${beforeAfter}
${missing.length ? `\nNot in the older build: ${missing.join('; ')}.\n` : ''}${beforeFailures.length ? `\nFailed on the older build, so not compared: ${beforeFailures.join('; ')}.\n` : ''}`
    : ''
}`
if (only) process.exit(0)
writeFileSync(join(ROOT, 'bench', 'results.md'), md)
console.log(`\nwrote bench/results.md (${verdicts.filter((v) => v.ok).length}/${verdicts.length} goals met)`)
