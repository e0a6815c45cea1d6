/**
 * A remote host for end-to-end tests of `--on HOST`: a real OpenSSH server on
 * 127.0.0.1 (one per call, its own port, config and host key) that logs in a
 * second local user, `mrs-remote`, as if it were another machine.
 *
 *   const host = await startSshd(sb)
 *   // sb.env.PATH now starts with an `ssh` that is /usr/bin/ssh -F <this test's ssh config>,
 *   // where `host.alias` (gpu-box) is that server, with host key checking on
 *
 * Isolation on the remote side: every call gets its own directory in the
 * remote user's home, `~mrs-remote/mrs-test-<id>/`, and the server's own
 * config sets (sshd_config `SetEnv`, which nothing the client sends can drop
 * or override) HOME to `<that dir>/home` — so `sh -l` reads this test's
 * `~/.profile` and `~/.cargo/bin/mistralrs` is this test's copy — and
 * XDG_*_HOME, XDG_RUNTIME_DIR, TMPDIR, HF_HOME, MRS_TEST_ID (the remote
 * processes are found by the sandbox's leftover scan), NO_COLOR and the
 * FAKE_MISTRALRS_* switches into the same dir. The one thing shared between
 * tests is the working directory a session starts in: sshd always chdirs to
 * the passwd home, `/home/mrs-remote`.
 *
 * Why the server sets the environment and not the test's ssh config
 * (`SetEnv` there, `AcceptEnv` here): ssh takes the first `SetEnv` it sees,
 * so a `-o SetEnv=…` on the code's own command line silently drops every
 * variable of the config — and the tag with it.
 *
 * Why StrictModes stays on: sshd refuses an authorized_keys file when it or
 * a parent dir is writable by others (a sandbox under /tmp always is: 1777),
 * so the key file lives in the per-test dir, owned by the remote user.
 *
 * Every kind of host people have: the login shell (`shell`: sh, bash, zsh,
 * fish, tcsh — one account each, made on first use, all removed at the run's
 * end), which parses the bootstrap and is asked for a login shell's PATH,
 * with mistralrs where a user of that shell has it; mistralrs only in
 * ~/.local/bin (`mistralrs: 'local-bin'`); and the userland (`userland`):
 * busybox's applets first on PATH, its sh the one the bootstrap runs (Alpine,
 * embedded hosts), or macOS's answers (uname, sysctl, lsof, netstat -an, BSD
 * stat: test/fixtures/hosts/macos) on a PATH with none of Linux's own.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { ROOT, isAlive, sleep, waitFor, type Sandbox } from './sandbox.js'
import { sharedFixtures } from './shared-fixtures.js'

export const SSHD = '/usr/sbin/sshd'
export const SSH = '/usr/bin/ssh'
export const REMOTE_USER = 'mrs-remote'

/** The remote user's login shell: it parses the bootstrap, and mrs asks it for a login shell's PATH. */
export type LoginShell = 'sh' | 'bash' | 'zsh' | 'fish' | 'tcsh'

/** The test account of each login shell (sh: dash on Debian). */
const ACCOUNTS: Record<LoginShell, string> = { sh: REMOTE_USER, bash: 'mrs-remote-bash', zsh: 'mrs-remote-zsh', fish: 'mrs-remote-fish', tcsh: 'mrs-remote-tcsh' }

/**
 * Where a user of each login shell has a tool of their own on PATH, and only
 * a login shell of theirs reads it (never ~/.profile, which `sh -l` reads):
 * the file, relative to HOME, and the line that puts `dir` (absolute) first.
 */
const LOGIN_FILES: Record<Exclude<LoginShell, 'sh'>, (dir: string) => [string, string]> = {
  // bash reads ~/.bash_profile instead of ~/.profile when it has one
  bash: (dir) => ['.bash_profile', `# ~/.bash_profile\nexport PATH="${dir}:$PATH"\n`],
  zsh: (dir) => ['.zprofile', `# ~/.zprofile\npath=("${dir}" $path)\n`],
  // every fish reads it (XDG_CONFIG_HOME is ~/.config here)
  fish: (dir) => ['.config/fish/config.fish', `# ~/.config/fish/config.fish\nfish_add_path --global --prepend "${dir}"\n`],
  // only a login tcsh reads ~/.login (after ~/.tcshrc)
  tcsh: (dir) => ['.login', `# ~/.login\nsetenv PATH "${dir}:$PATH"\n`],
}

/** The host's userland, when it is not this machine's (Debian's GNU tools). */
export type Userland = 'busybox' | 'macos' | 'macos-without-lsof'

/** What a Mac has that Linux answers differently, or Linux has and a Mac does not: never on a macOS host's PATH but as a stand-in. */
const NOT_ON_A_MAC = new Set(['lsof', 'sockstat', 'netstat', 'ss', 'uname', 'sysctl', 'stat', 'busybox'])
const MACOS_STANDINS = join(ROOT, 'test', 'fixtures', 'hosts', 'macos')

export interface SshdOptions {
  /** The host's name in the test's ssh config (default `gpu-box`). */
  alias?: string
  /** More environment for every remote session, over the defaults below (e.g. FAKE_MISTRALRS_FAULT). */
  remoteEnv?: Record<string, string>
  /**
   * Where the fake mistralrs is (each run notes in the record, as an `exec` event, its path and the program that ran
   * it: the remote program's shell). true / 'login' (default): on a login shell's PATH only — `~/.cargo/bin` through
   * ~/.profile for sh; for another `shell`, `~/opt/mistralrs/bin`, put on PATH only by that shell's own login file
   * (bash ~/.bash_profile, zsh ~/.zprofile, fish ~/.config/fish/config.fish, tcsh ~/.login), where no fallback of
   * mrs's looks. 'local-bin': `~/.local/bin` (mistral.rs's installer), on no PATH. false: nowhere.
   */
  mistralrs?: boolean | 'login' | 'local-bin'
  /** The remote user's login shell (default sh): each has its own account, made on first use. */
  shell?: LoginShell
  /**
   * The host's tools. 'busybox': a dir of busybox's applets first on PATH (sshd's, and ~/.profile's after
   * /etc/profile resets it), so the bootstrap's `sh` and every tool is busybox's. 'macos': a PATH of this machine's
   * tools without Linux's own (lsof, ss, netstat, uname, sysctl, GNU stat), and macOS's answers in their place
   * (test/fixtures/hosts/macos, each call noted in the record as a `host-tool` event). 'macos-without-lsof': the
   * same, with no lsof (and no sockstat).
   */
  userland?: Userland
  /** Lines appended to the remote `~/.profile` (e.g. one that prints, as some do). */
  profile?: string
  /**
   * Let root log in too, with the test's key (the `--slurm` tests on this machine: the job is root's, so is the
   * ssh to its node). Its key file is in /run (root's, not world-writable, as StrictModes wants), removed on stop.
   */
  rootLogin?: boolean
}

export interface SshHost {
  alias: string
  user: string
  /** The user's login shell (its path). */
  shell: string
  /** The fake mistralrs on the host (absent with `mistralrs: false`). */
  mistralrs?: string
  uid: number
  gid: number
  /** The remote sessions' HOME (per test; not the passwd home). */
  home: string
  /** The passwd home, where every session starts (shared by all tests). */
  passwdHome: string
  /** This test's dir on the remote side (HOME, TMPDIR, XDG dirs, record and key file are inside). */
  dir: string
  port: number
  /** The test's ssh config (what the `ssh` wrapper passes with -F), shared by the sandbox's hosts. */
  configPath: string
  /** Shared by the sandbox's hosts: `[127.0.0.1]:PORT` and each server's key. */
  knownHosts: string
  /** The client key the config uses for every destination. */
  identity: string
  /** The remote fake mistralrs's record (FAKE_MISTRALRS_RECORD on the remote side). */
  record: string
  /** Environment every remote session gets from the server. */
  remoteEnv: Record<string, string>
  /** sshd's own log (-e: every connection's messages too). */
  log: string
  /** The listening sshd. */
  pid: number
  /** Milliseconds startSshd took. */
  startMs: number
  /** Parsed lines of `record`. */
  records(): Record<string, any>[]
  /** Live sshd processes of this server (the listener and each connection's), by PID. */
  pids(): number[]
  /** Stops every sshd process of this server (verified by PID) and removes its remote dir; harmless twice. */
  stop(): Promise<void>
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** A value for sshd_config's SetEnv: quoted; what its parser cannot carry is refused. */
function setEnvArg(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad remote env name ${name}`)
  if (/["\\\n\r]/.test(value)) throw new Error(`remote env ${name}: sshd_config cannot carry ${JSON.stringify(value)}`)
  return `"${name}=${value}"`
}

interface Account {
  name: string
  uid: number
  gid: number
  home: string
  shell: string
}

function lookup(user: string): Account | undefined {
  const r = spawnSync('getent', ['passwd', user], { encoding: 'utf8' })
  if (r.status !== 0) return undefined
  const f = r.stdout.trim().split(':')
  return { name: user, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! }
}

const accounts = new Map<LoginShell, Account>()

/** A login shell's path here (Debian: /bin/sh, /bin/bash, /usr/bin/zsh, /usr/bin/fish, /usr/bin/tcsh). */
function shellPath(shell: LoginShell): string {
  if (shell === 'sh') return '/bin/sh'
  const r = spawnSync('sh', ['-c', `command -v ${shell}`], { encoding: 'utf8', env: { PATH: '/usr/local/bin:/usr/bin:/bin' } })
  const path = r.stdout.trim()
  if (r.status !== 0 || !path.startsWith('/')) throw new Error(`startSshd: no ${shell} here to be a login shell (Debian's package ${shell})`)
  return path
}

/**
 * The remote user of a login shell, made when a run first needs it and
 * removed when the run ends (removeTestAccount): not locked (with UsePAM
 * no, sshd refuses a locked account, hence the password '*', which matches
 * nothing), that shell (sh: /bin/sh, dash on Debian), a home of its own.
 */
async function ensureAccount(shell: LoginShell = 'sh'): Promise<Account> {
  const known = accounts.get(shell)
  // another run's teardown may have removed it since (see removeTestAccount)
  if (known && lookup(known.name)?.uid === known.uid && existsSync(known.home)) return known
  accounts.delete(shell)
  const user = ACCOUNTS[shell]
  const path = shellPath(shell)
  for (let attempt = 0; ; attempt++) {
    const found = lookup(user)
    if (found) {
      const shadow = spawnSync('getent', ['shadow', user], { encoding: 'utf8' }).stdout.split(':')[1] ?? ''
      if (shadow.startsWith('!') || found.shell !== path) {
        const r = spawnSync('usermod', ['-p', '*', '-s', path, user], { encoding: 'utf8' })
        if (r.status !== 0) throw new Error(`usermod ${user} failed: ${r.stderr}`)
      }
      if (!existsSync(found.home)) mkdirSync(found.home, { recursive: true, mode: 0o755 })
      // a home left by an account removed before (another run's teardown) is not this one's until it is given to it
      if (statSync(found.home).uid !== found.uid) {
        chownSync(found.home, found.uid, found.gid)
        chmodSync(found.home, 0o755)
      }
      const account = { ...found, shell: path }
      accounts.set(shell, account)
      return account
    }
    // another test worker may be making it at the same moment: then useradd fails
    // (exists, or /etc/passwd locked) and the next lookup finds it
    const r = spawnSync('useradd', ['-m', '-p', '*', '-s', path, '-c', 'mrs tests - the remote host', user], { encoding: 'utf8' })
    if (r.status !== 0 && attempt >= 40) throw new Error(`useradd ${user} failed: ${r.stderr}`)
    if (r.status !== 0) await sleep(50)
  }
}

/**
 * Called by the run's global teardown: the test accounts (one per login
 * shell) and their homes are removed, each unless another run of the suite
 * uses it now (that run's own teardown removes it): a process runs as it, or
 * a test's dir is in its home (from startSshd until the test's end; one a
 * killed run left is not taken for a live one after an hour).
 */
export function removeTestAccount(): void {
  for (const user of Object.values(ACCOUNTS)) {
    const found = lookup(user)
    if (!found || !/mrs test/.test(spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout)) continue
    const inUse = (() => {
      try {
        return readdirSync(found.home).some((name) => name.startsWith('mrs-test-') && Date.now() - statSync(join(found.home, name)).mtimeMs < 3600_000)
      } catch {
        return false
      }
    })()
    if (inUse) continue
    const busy = readdirSync('/proc').some((pid) => {
      try {
        if (!/^\d+$/.test(pid)) return false
        const status = readFileSync(`/proc/${pid}/status`, 'utf8')
        // a zombie (an sshd child not yet reaped) runs nothing
        return new RegExp(`^Uid:\\s+${found.uid}\\s`, 'm').test(status) && !/^State:\s+Z/m.test(status)
      } catch {
        return false
      }
    })
    if (!busy) spawnSync('userdel', ['-r', user], { stdio: 'ignore' })
  }
}

const nodeFor = new Map<number, boolean>()

/** Whether `uid` can run this Node (its dir may be one only root can enter, like /root/.nvm). */
function canRunNode(uid: number, gid: number, node: string): boolean {
  if (node === process.execPath && nodeFor.has(uid)) return nodeFor.get(uid)!
  // access(2) as that user: every dir on the way searchable, the file executable (Node itself needs only libc's libs)
  const ok = spawnSync('/usr/bin/test', ['-x', node], { uid, gid, stdio: 'ignore', cwd: '/' }).status === 0
  if (node === process.execPath) nodeFor.set(uid, ok)
  return ok
}

/** A Node the remote user can run: this one, or (when they cannot reach it) a link or copy in `dir`. */
function remoteNode(acct: Account, dir: string): string {
  if (canRunNode(acct.uid, acct.gid, process.execPath)) return process.execPath
  const copy = join(dir, 'node')
  // a hard link costs nothing, but shares the original's mode, which is not ours to change
  if ((statSync(process.execPath).mode & 0o005) === 0o005) {
    try {
      linkSync(process.execPath, copy)
    } catch {
      // another filesystem
    }
  }
  if (!existsSync(copy)) {
    copyFileSync(process.execPath, copy)
    chmodSync(copy, 0o755)
  }
  if (!canRunNode(acct.uid, acct.gid, copy)) throw new Error(`${REMOTE_USER} cannot run Node, not even a copy at ${copy}`)
  return copy
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/**
 * The listener and every sshd process below it (each connection's privileged
 * monitor and its unprivileged child), not the sessions' own processes. By
 * the process tree: sshd's setproctitle writes over its environment, so a tag
 * there cannot be read back.
 */
function sshdTree(listener: number): number[] {
  const parent = new Map<number, number[]>()
  const comm = new Map<number, string>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ppid = Number(fields[1])
      comm.set(Number(name), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')))
      parent.set(ppid, [...(parent.get(ppid) ?? []), Number(name)])
    } catch {
      // gone
    }
  }
  const found: number[] = []
  const walk = (pid: number) => {
    if (comm.get(pid) !== 'sshd' || !isAlive(pid)) return
    found.push(pid)
    for (const child of parent.get(pid) ?? []) walk(child)
  }
  walk(listener)
  return found
}

function mkdirOwned(path: string, acct: Account, mode = 0o755): string {
  mkdirSync(path, { recursive: true, mode })
  chmodSync(path, mode)
  chownSync(path, acct.uid, acct.gid)
  return path
}

/** `rel`'s dirs under `base`, each level made the user's. */
function mkdirsOwned(base: string, rel: string, acct: Account): string {
  let path = base
  for (const part of rel.split('/')) path = mkdirOwned(join(path, part), acct)
  return path
}

function writeOwned(path: string, text: string, acct: Account, mode = 0o644): string {
  writeFileSync(path, text, { mode })
  chmodSync(path, mode)
  chownSync(path, acct.uid, acct.gid)
  return path
}

function keygen(path: string, comment: string): string {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  // "ssh-ed25519 AAAA… comment" → without the comment
  return readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')
}

/** Tests that want to read what sshd said about a failure. */
export function sshdLog(host: SshHost): string {
  return existsSync(host.log) ? readFileSync(host.log, 'utf8') : ''
}

/** What the hosts of one sandbox share: the client key, one ssh config and known_hosts naming them all, the wrapper. */
interface Client {
  local: string
  identity: string
  identityPub: string
  configPath: string
  knownHosts: string
  hosts: { alias: string; port: number; hostPub: string; user: string }[]
}

const clients = new WeakMap<Sandbox, Client>()

function client(sb: Sandbox): Client {
  let c = clients.get(sb)
  if (c) return c
  const local = join(sb.root, 'ssh')
  mkdirSync(join(local, 'bin'), { recursive: true })
  const identity = join(local, 'id_ed25519')
  c = { local, identity, identityPub: keygen(identity, 'mrs-test-client'), configPath: join(local, 'ssh_config'), knownHosts: join(local, 'known_hosts'), hosts: [] }
  writeFileSync(
    join(local, 'bin', 'ssh'),
    `#!/bin/sh\n# OpenSSH reads ~/.ssh from the passwd home, never $HOME: the test's config instead\nexec ${SSH} -F ${shq(c.configPath)} "$@"\n`,
    { mode: 0o755 },
  )
  sb.env.PATH = `${join(local, 'bin')}:${sb.env.PATH}`
  clients.set(sb, c)
  return c
}

/** Rewrites the test's ssh config and known_hosts: each alias, then the key and host key checking for every destination. */
function writeClientFiles(c: Client): void {
  writeFileSync(c.knownHosts, c.hosts.map((h) => `[127.0.0.1]:${h.port} ${h.hostPub}\n`).join(''))
  writeFileSync(
    c.configPath,
    [
      ...c.hosts.flatMap((h) => [`Host ${h.alias}`, '  HostName 127.0.0.1', `  Port ${h.port}`, `  User ${h.user}`]),
      // also for ssh://mrs-remote@127.0.0.1:PORT and other spellings of the same servers
      'Host *',
      `  IdentityFile ${c.identity}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${c.knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '',
    ].join('\n'),
  )
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/**
 * The tools of a host that is not Debian, in `dir` (the remote user's): its
 * PATH, to be sshd's for the session and a login shell's.
 *   busybox: a link to /bin/busybox under each applet's name, first on PATH
 *     (sh, ps without -p, awk, od, sed, tail, du, ls, stat, fold, find…);
 *   macos: this machine's tools, but none that a Mac lacks or answers
 *     otherwise, and macOS's answers in their place (test/fixtures/hosts/macos).
 */
function userland(kind: Userland, dir: string, acct: Account): { path: string; profilePath: string } {
  const bin = mkdirOwned(join(dir, 'bin'), acct)
  if (kind === 'busybox') {
    const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    if (applets.status !== 0) throw new Error(`startSshd: no busybox here (Debian's package busybox): ${applets.stderr}`)
    for (const name of applets.stdout.split('\n').filter(Boolean)) symlinkSync('/bin/busybox', join(bin, name))
    return { path: `${bin}:/usr/local/bin:/usr/bin:/bin`, profilePath: `${bin}:$PATH` }
  }
  // a Mac's PATH: /usr/local/bin, /usr/bin, /bin, /usr/sbin, /sbin — here as one dir of links, without Linux's own
  for (const from of ['/usr/local/bin', '/usr/bin', '/usr/sbin']) {
    for (const name of readdirSync(from)) {
      if (NOT_ON_A_MAC.has(name) || existsSync(join(bin, name))) continue
      symlinkSync(join(from, name), join(bin, name))
    }
  }
  for (const name of readdirSync(MACOS_STANDINS)) {
    if (name === 'lsof' && kind === 'macos-without-lsof') continue
    writeOwned(join(bin, name), readFileSync(join(MACOS_STANDINS, name), 'utf8'), acct, 0o755)
  }
  return { path: bin, profilePath: bin }
}

/**
 * Starts a real sshd for this sandbox (see the top of this file) and puts an
 * `ssh` wrapper first on sb.env.PATH. Stopped by host.stop(), and by the
 * sandbox's cleanup (after its leftover check) if the test did not. Called
 * again with another alias, it adds a second host (its own server and remote
 * dir) to the same ssh config.
 */
export async function startSshd(sb: Sandbox, opts: SshdOptions = {}): Promise<SshHost> {
  const started = performance.now()
  const alias = opts.alias ?? 'gpu-box'
  const acct = await ensureAccount(opts.shell)
  // sshd's privilege separation dir (Debian's service script makes it; here nobody does)
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const c = client(sb)
  if (c.hosts.some((h) => h.alias === alias)) throw new Error(`startSshd: this sandbox already has a host ${alias}`)
  const n = c.hosts.length + 1

  // the server's side, root's: in the sandbox
  const local = join(c.local, `sshd-${alias}`)
  mkdirSync(local, { recursive: true })
  const hostKey = join(local, 'ssh_host_ed25519_key')
  const hostPub = keygen(hostKey, `mrs-test-host-${alias}`)
  const log = join(local, 'sshd.log')

  // the remote side, the remote user's: a dir of its own in their home
  const dir = join(acct.home, `mrs-test-${sb.id.replace(/-/g, '').slice(0, 12)}${n > 1 ? `-${n}` : ''}`)
  rmSync(dir, { recursive: true, force: true })
  let pid = 0
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      if (pid) {
        // each connection's sshd is found below the listener, so the listener is frozen first (no new
        // connection, no orphans) and killed last; ending a connection's monitor closes its channels:
        // the remote commands see EOF, as when a network connection ends
        kill(pid, 'SIGSTOP')
        const pids = sshdTree(pid)
        for (const p of pids) if (p !== pid) kill(p, 'SIGTERM')
        kill(pid, 'SIGKILL')
        const alive = () => [pid, ...pids].filter(isAlive)
        await waitFor(() => alive().length === 0, 2000, 'sshd to exit').catch(() => {
          for (const p of alive()) kill(p, 'SIGKILL')
        })
        await waitFor(() => alive().length === 0, 5000, `sshd processes ${alive().join(', ')} to die`)
      }
      rmSync(dir, { recursive: true, force: true })
      rmSync(rootKeys, { recursive: true, force: true })
    })())
  // root's key file (rootLogin): not in the sandbox, whose /tmp parent StrictModes refuses
  const rootKeys = join('/run', `mrs-test-${sb.id.replace(/-/g, '').slice(0, 12)}-${n}`)
  // from here on, whatever fails, the sandbox's cleanup undoes it
  sb.onCleanup(stop)

  mkdirOwned(dir, acct, 0o700)
  const d = (name: string, mode = 0o755) => mkdirOwned(join(dir, name), acct, mode)
  const home = d('home')
  const record = writeOwned(join(dir, 'server-record.jsonl'), '', acct)
  const authorizedKeys = writeOwned(join(dir, 'authorized_keys'), `${c.identityPub} mrs-test-client\n`, acct, 0o600)
  if (opts.rootLogin) {
    mkdirSync(rootKeys, { recursive: true, mode: 0o700 })
    writeFileSync(join(rootKeys, 'authorized_keys'), `${c.identityPub} mrs-test-client\n`, { mode: 0o600 })
  }
  // the host's own tools, when they are not this machine's (see SshdOptions.userland)
  const tools = opts.userland ? userland(opts.userland, d('userland'), acct) : undefined
  const remoteEnv: Record<string, string> = {
    HOME: home,
    // ~/.config, where fish (and most tools) look by default
    XDG_CONFIG_HOME: mkdirOwned(join(home, '.config'), acct),
    XDG_STATE_HOME: d('state'),
    XDG_CACHE_HOME: d('cache'),
    XDG_DATA_HOME: d('data'),
    XDG_RUNTIME_DIR: d('run', 0o700),
    TMPDIR: d('tmp', 0o700),
    HF_HOME: d('hf'),
    MRS_TEST_ID: sb.id,
    ...Object.fromEntries(Object.entries(sb.env).filter(([k]) => k.startsWith('FAKE_MISTRALRS_') || k === 'NO_COLOR')),
    FAKE_MISTRALRS_RECORD: record,
    FAKE_MISTRALRS_STATE: join(dir, 'fake-state'),
    // sshd's PATH for the session (so the bootstrap's `sh` is the host's); a login shell's comes from ~/.profile
    ...(tools ? { PATH: tools.path } : {}),
    ...opts.remoteEnv,
  }

  // ~/.profile and ~/.cargo as mistral.rs's install script (rustup's cargo env) leaves them:
  // ~/.cargo/bin is on PATH only for a login shell
  const cargo = mkdirOwned(join(home, '.cargo'), acct)
  const cargoBin = mkdirOwned(join(cargo, 'bin'), acct)
  writeOwned(
    join(cargo, 'env'),
    '#!/bin/sh\n# rustup shell setup\ncase ":${PATH}:" in\n    *:"$HOME/.cargo/bin":*)\n        ;;\n    *)\n        export PATH="$HOME/.cargo/bin:$PATH"\n        ;;\nesac\n',
    acct,
  )
  // a host whose tools are not Debian's: its PATH again after /etc/profile (Debian's) has set PATH outright, as a Mac's
  // /etc/profile (path_helper) or Alpine's would have
  const toolsPath = tools ? `PATH=${tools.profilePath}\nexport PATH\n` : ''
  writeOwned(join(home, '.profile'), `# ~/.profile: executed by the command interpreter for login shells.\n${toolsPath}. "$HOME/.cargo/env"\n${opts.profile ?? ''}`, acct)
  const shell = opts.shell ?? 'sh'
  let mistralrs: string | undefined
  if (opts.mistralrs !== false) {
    // the fake, run by a Node the user can run, from a copy every user can read (a checkout may be private):
    // it runs like a native binary, found by PATH or path alone, and keeps its PID through exec
    let bin = cargoBin
    if (opts.mistralrs === 'local-bin') bin = mkdirsOwned(home, '.local/bin', acct)
    else if (shell !== 'sh') {
      bin = mkdirsOwned(home, 'opt/mistralrs/bin', acct)
      const [file, text] = LOGIN_FILES[shell](bin)
      if (dirname(file) !== '.') mkdirsOwned(home, dirname(file), acct)
      writeOwned(join(home, file), text, acct)
    }
    const node = remoteNode(acct, dir)
    mistralrs = writeOwned(
      join(bin, 'mistralrs'),
      [
        '#!/bin/sh',
        `printf '{"event":"exec","pid":%s,"path":"%s","parent":"%s"}\\n' $$ "$0" "$(readlink /proc/$PPID/exe)" >>"\${FAKE_MISTRALRS_RECORD:-/dev/null}"`,
        `exec ${node} ${join(sharedFixtures(), 'bin', 'mistralrs')} "$@"`,
        '',
      ].join('\n'),
      acct,
      0o755,
    )
  }

  const sshdConfig = join(local, 'sshd_config')
  let port = 0
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    writeFileSync(
      sshdConfig,
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(local, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'StrictModes yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        `AllowUsers ${acct.name}${opts.rootLogin ? ' root' : ''}`,
        `PermitRootLogin ${opts.rootLogin ? 'prohibit-password' : 'no'}`,
        // nothing from the shared passwd home: no ~/.ssh/rc, no ~/.ssh/environment
        'PermitUserRC no',
        'PermitUserEnvironment no',
        // what Debian's stock sshd_config accepts from clients, no more: a real server passes little
        'AcceptEnv LANG LC_*',
        `SetEnv ${Object.entries(remoteEnv)
          .map(([k, v]) => setEnvArg(k, v))
          .join(' ')}`,
        // a master carries many channels; tests open many connections at once
        'MaxSessions 100',
        'MaxStartups 100:30:200',
        'UseDNS no',
        'PrintMotd no',
        'PrintLastLog no',
        'X11Forwarding no',
        'LogLevel VERBOSE',
        ...(opts.rootLogin ? ['Match User root', `  AuthorizedKeysFile ${join(rootKeys, 'authorized_keys')}`] : []),
        '',
      ].join('\n'),
    )
    const fd = openSync(log, 'a')
    const child = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], {
      detached: true,
      stdio: ['ignore', fd, fd],
      // not MRS_TEST_ID, which marks what the code under test leaves behind: the server is the harness's
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    })
    closeSync(fd)
    child.unref()
    pid = child.pid!
    let gone = false
    child.once('exit', () => (gone = true))
    const listening = `Server listening on 127.0.0.1 port ${port}.`
    await waitFor(() => gone || readFileSync(log, 'utf8').includes(listening), 10_000, `sshd to listen on port ${port}`)
    if (!gone) break
    pid = 0
    const text = readFileSync(log, 'utf8')
    // the port was taken between our probe and sshd's bind: another one
    if (!/Address already in use/.test(text) || attempt >= 5) throw new Error(`sshd exited at start (code ${child.exitCode}):\n${text}`)
  }
  c.hosts.push({ alias, port, hostPub, user: acct.name })
  writeClientFiles(c)

  const listener = pid
  return {
    alias,
    user: acct.name,
    shell: acct.shell,
    ...(mistralrs ? { mistralrs } : {}),
    uid: acct.uid,
    gid: acct.gid,
    home,
    passwdHome: acct.home,
    dir,
    port,
    configPath: c.configPath,
    knownHosts: c.knownHosts,
    identity: c.identity,
    record,
    remoteEnv,
    log,
    pid: listener,
    startMs: Math.round(performance.now() - started),
    records() {
      if (!existsSync(record)) return []
      return readFileSync(record, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    },
    pids: () => sshdTree(listener),
    stop,
  }
}
