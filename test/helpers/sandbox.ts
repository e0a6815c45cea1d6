/**
 * An isolated world for one test: its own HOME, XDG dirs, TMPDIR,
 * CODEX_HOME, CLAUDE_CONFIG_DIR and config path, a PATH with the fake
 * mistralrs and the chosen clients, and a tag (MRS_TEST_ID) in the
 * environment of every process it starts, so that leftovers are found by
 * PID through /proc/<pid>/environ — nothing outlives a test unnoticed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { CLIENT_NAMES } from '../../src/clients/registry.js'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const MRS = join(ROOT, 'bin', 'mrs.cjs')
export const FAKE_BIN = join(ROOT, 'test', 'fixtures', 'bin')
export const FAKE_CLIENTS = join(ROOT, 'test', 'fixtures', 'clients')
const NODE_BIN = join(ROOT, 'node_modules', '.bin')

export type Clients = 'real' | 'fake' | 'none'

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  pid: number
  ms: number
}

export interface SandboxOptions {
  clients?: Clients
  /** Put the fake mistralrs on PATH (default true). */
  mistralrs?: boolean
  env?: Record<string, string>
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

export class Sandbox {
  readonly id = randomUUID()
  readonly root: string
  readonly home: string
  readonly tmp: string
  readonly stateDir: string
  readonly logDir: string
  readonly serversDir: string
  readonly configPath: string
  readonly codexHome: string
  readonly claudeDir: string
  readonly work: string
  /** The fake server appends one JSON line per start, bind and request here. */
  readonly record: string
  /** Fake clients append what they saw here. */
  readonly clientRecord: string
  readonly fakeState: string
  readonly env: Record<string, string>
  private readonly children = new Set<ChildProcess>()
  /** Servers the test itself started (as someone else's server): stopped first at cleanup, not leaks. */
  private readonly ownServers = new Set<ChildProcess>()
  /** What helpers started for the test (an sshd): stopped at cleanup, after the leftover check. */
  private readonly cleanups: (() => void | Promise<void>)[] = []

  constructor(opts: SandboxOptions = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'mrs-test-'))
    const d = (p: string) => {
      const full = join(this.root, p)
      mkdirSync(full, { recursive: true })
      return full
    }
    this.home = d('home')
    this.tmp = d('tmp')
    this.work = d('work')
    this.codexHome = d('home/.codex')
    this.claudeDir = d('home/.claude')
    this.stateDir = join(this.root, 'state', 'mrs')
    this.logDir = join(this.stateDir, 'logs')
    this.serversDir = join(this.stateDir, 'servers')
    this.configPath = join(this.root, 'config', 'mrs', 'config.toml')
    this.record = join(this.root, 'server-record.jsonl')
    this.clientRecord = join(this.root, 'client-record.txt')
    this.fakeState = join(this.root, 'fake-state')
    const bin = d('bin')
    const clients = opts.clients ?? 'fake'
    if (clients !== 'none') {
      // every client mrs knows: the real ones from node_modules, or the fake script under each name
      for (const name of CLIENT_NAMES) symlinkSync(clients === 'real' ? join(NODE_BIN, name) : join(FAKE_CLIENTS, 'client'), join(bin, name))
    }
    const path = [bin, ...(opts.mistralrs === false ? [] : [FAKE_BIN]), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')
    this.env = {
      PATH: path,
      HOME: this.home,
      USER: 'mrs-test',
      LANG: 'C.UTF-8',
      TERM: 'dumb',
      TMPDIR: this.tmp,
      XDG_CONFIG_HOME: join(this.root, 'config'),
      XDG_STATE_HOME: join(this.root, 'state'),
      XDG_CACHE_HOME: join(this.root, 'cache'),
      XDG_DATA_HOME: join(this.root, 'data'),
      CODEX_HOME: this.codexHome,
      CLAUDE_CONFIG_DIR: this.claudeDir,
      MRS_CONFIG: this.configPath,
      HF_HOME: join(this.root, 'hf'),
      FAKE_MISTRALRS_RECORD: this.record,
      FAKE_MISTRALRS_STATE: this.fakeState,
      FAKE_MISTRALRS_LOAD_MS: '100',
      FAKE_CLIENT_RECORD: this.clientRecord,
      NO_COLOR: '1',
      // a shared server normally outlives its last session by 2 s; tests that check
      // teardown want it gone when mrs exits (the keep-alive has tests of its own)
      MRS_KEEP_ALIVE: '0',
      MRS_TEST_ID: this.id,
      ...opts.env,
    }
    this.writeConfig('# mrs test config\n')
  }

  writeConfig(toml: string | Buffer): void {
    mkdirSync(dirname(this.configPath), { recursive: true })
    writeFileSync(this.configPath, toml)
  }

  /**
   * Writes the files a user has (Codex and Claude config, history, mrs's own
   * config) and returns a check that they are byte-for-byte unchanged.
   */
  seedUserFiles(): () => void {
    const files: Record<string, string> = {
      [join(this.codexHome, 'config.toml')]: 'model = "gpt-5.5"\n\n[mcp_servers.docs]\ncommand = "/bin/true"\n',
      [join(this.codexHome, 'history.jsonl')]: '{"session_id":"x","ts":1,"text":"earlier"}\n',
      [join(this.claudeDir, 'settings.json')]: '{\n  "env": { "ANTHROPIC_BASE_URL": "https://api.anthropic.com" }\n}\n',
      [join(this.claudeDir, '.claude.json')]: '{"numStartups": 7}\n',
      [join(this.home, '.claude.json')]: '{"numStartups": 3}\n',
      [this.configPath]: '# my mrs config\nrestarts = 2\n',
    }
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, text)
    }
    return () => {
      for (const [path, text] of Object.entries(files)) {
        if (readFileSync(path, 'utf8') !== text) throw new Error(`${path} was changed`)
      }
    }
  }

  /** Starts `mrs args` in its own process group (like a job in a shell). */
  start(args: string[], opts: { env?: Record<string, string>; stdin?: 'ignore' | 'pipe'; cwd?: string } = {}): Running {
    const child = spawn(process.execPath, [MRS, ...args], {
      cwd: opts.cwd ?? this.work,
      env: { ...this.env, ...opts.env },
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
      detached: true,
    })
    this.children.add(child)
    return new Running(child)
  }

  /** Starts the fake mistralrs directly, as a server someone else runs; resolves with its URL once it listens. */
  async startServer(args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
    const child = spawn(join(FAKE_BIN, 'mistralrs'), args, { env: { ...this.env, ...env }, stdio: 'ignore', detached: true })
    this.children.add(child)
    this.ownServers.add(child)
    const listening = await waitFor(() => this.records().find((r) => r.event === 'listening' && r.pid === child.pid), 10_000, 'the server to listen')
    return { url: `http://127.0.0.1:${listening.port}`, child }
  }

  /** Runs `mrs args` to completion, with a timeout after which its group is killed and the test fails. */
  async run(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
    const running = this.start(args, opts)
    return running.done(opts.timeoutMs ?? 45_000)
  }

  /** Every server log mrs kept (its own lines and mistral.rs's), oldest first, as one text. */
  serverLog(): string {
    if (!existsSync(this.logDir)) return ''
    return readdirSync(this.logDir)
      .filter((name) => name.endsWith('.log'))
      .sort()
      .map((name) => readFileSync(join(this.logDir, name), 'utf8'))
      .join('\n')
  }

  records(): Record<string, any>[] {
    if (!existsSync(this.record)) return []
    return readFileSync(this.record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  }

  requests(): Record<string, any>[] {
    return this.records().filter((r) => r.event === 'request')
  }

  /** PIDs of every fake mistralrs process that got past argument parsing. */
  serverPids(): number[] {
    return this.records()
      .filter((r) => r.event === 'start')
      .map((r) => r.pid)
  }

  clientLines(): string[] {
    return existsSync(this.clientRecord) ? readFileSync(this.clientRecord, 'utf8').split('\n').filter(Boolean) : []
  }

  clientPids(): number[] {
    return this.clientLines()
      .filter((l) => l.startsWith('start ') || l.startsWith('grandchild '))
      .map((l) => Number(l.split(' ')[l.startsWith('start ') ? 2 : 1]))
  }

  /** Every live process started in this sandbox (found by MRS_TEST_ID in its environment). */
  leftovers(): number[] {
    const tag = `MRS_TEST_ID=${this.id}`
    const pids: number[] = []
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      const pid = Number(name)
      try {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
        if (environ.split('\0').includes(tag) && isAlive(pid)) pids.push(pid)
      } catch {
        // gone or not ours
      }
    }
    return pids
  }

  /** Leftovers with their command lines, for failure messages. */
  describeLeftovers(): string[] {
    return this.leftovers().map((pid) => {
      try {
        return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`
      } catch {
        return `${pid}: ?`
      }
    })
  }

  /** Files left in the temp dir mrs uses (private session and server dirs). */
  tempLeftovers(): string[] {
    const root = join(this.tmp, `mrs-${process.getuid!()}`)
    if (!existsSync(root)) return []
    return readdirSync(root)
  }

  /** Runs `stop` at cleanup, after the test's own processes are checked and killed (last added, first run). */
  onCleanup(stop: () => void | Promise<void>): void {
    this.cleanups.push(stop)
  }

  /** Kills anything still running (reporting it), then removes the sandbox. */
  async cleanup(): Promise<number[]> {
    for (const server of this.ownServers) server.kill('SIGKILL')
    // processes get a moment to finish exiting; what is still alive after it is a leak
    await waitFor(() => this.leftovers().length === 0, 2000, 'processes to exit').catch(() => {})
    const left = this.leftovers()
    if (left.length) process.stderr.write(`leftovers: ${this.describeLeftovers().join('; ')}\n`)
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // raced with its exit
      }
    }
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await waitFor(() => this.leftovers().length === 0, 5000, 'leftovers to die').catch(() => {})
    for (const stop of this.cleanups.splice(0).reverse()) {
      try {
        await stop()
      } catch (e) {
        process.stderr.write(`cleanup: ${(e as Error).message}\n`)
      }
    }
    rmSync(this.root, { recursive: true, force: true })
    return left
  }
}

export class Running {
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The mrs process itself ended (its pipes may still be held open by a client it left behind). */
  readonly processExited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private readonly started = Date.now()

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (this.stdout += c))
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c))
    this.exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })))
    this.processExited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
  }

  get pid(): number {
    return this.child.pid!
  }

  /** Waits until stderr matches. */
  async waitForStderr(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    return waitFor(() => this.stderr.match(pattern) ?? undefined, timeoutMs, `stderr to match ${pattern}; stderr so far:\n${this.stderr}`)
  }

  /** Signal to mrs alone (`kill -TERM pid`). */
  kill(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal)
  }

  /** Signal to mrs's whole process group, as a terminal does for Ctrl-C. */
  killGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal)
  }

  async done(timeoutMs = 45_000): Promise<RunResult> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        try {
          process.kill(-this.pid, 'SIGKILL')
        } catch {
          // gone
        }
        reject(new Error(`mrs did not exit within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`))
      }, timeoutMs)
    })
    try {
      const { code, signal } = await Promise.race([this.exited, timeout])
      return { code, signal, stdout: this.stdout, stderr: this.stderr, pid: this.pid, ms: Date.now() - this.started }
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Asserts that none of `pids` is alive within `withinMs`. */
export async function expectGone(pids: number[], withinMs = 10_000): Promise<void> {
  await waitFor(() => pids.every((p) => !isAlive(p)), withinMs, `pids ${pids.filter(isAlive).join(', ')} to exit`)
}

/**
 * A fresh sandbox for each test of the calling file; after each test,
 * anything it started that is still alive fails the test (and is killed).
 */
export async function withSandbox<T>(opts: SandboxOptions, fn: (sb: Sandbox) => Promise<T>): Promise<T> {
  const sb = new Sandbox(opts)
  let failed = false
  try {
    return await fn(sb)
  } catch (e) {
    failed = true
    throw e
  } finally {
    const left = await sb.cleanup()
    // a failing test already says what went wrong; leftovers are its consequence
    if (left.length && !failed) throw new Error(`processes outlived the test: ${left.join(', ')}`)
  }
}

/** Asserts that every process the sandbox started is gone within `withinMs`. */
export async function expectNoLeftovers(sb: Sandbox, withinMs = 1000): Promise<void> {
  await waitFor(() => sb.leftovers().length === 0, withinMs, 'every process of the test to exit').catch(() => {
    throw new Error(`still running after ${withinMs} ms: ${sb.describeLeftovers().join('; ')}`)
  })
}
