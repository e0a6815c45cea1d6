/**
 * Whose is the socket listening on a port? mistral.rs binds its port only
 * after the model has loaded, and the port is visible to every local user
 * (`ps` shows `mistralrs serve -p N`): another user who binds it first and
 * answers HTTP would be taken for the server, and would get the user's
 * prompts and code and answer with tool calls the agent runs. So before mrs
 * sends anything to a port it proves the listener is the process it started:
 *   - Linux: the listening socket's inode (/proc/net/tcp, tcp6) must be one
 *     of that process's open files (/proc/PID/fd/* → socket:[inode]);
 *   - macOS: `lsof -a -p PID -iTCP:PORT -sTCP:LISTEN` must list it;
 *   - Windows: `netstat -ano -p TCP` must show PID as the port's listener.
 * Nothing is connected to until then: an impostor is never talked to.
 * The readers are parameters so each platform's parsing is unit-tested here.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { connect } from 'node:net'

export type Ownership = { owner: 'process' } | { owner: 'none' } | { owner: 'other'; who: string }

export interface OwnerDeps {
  platform: NodeJS.Platform
  readFile: (path: string) => string
  readdir: (path: string) => string[]
  readlink: (path: string) => string
  /** Runs a program, its stdout (undefined when it failed or is missing). */
  run: (binary: string, args: string[]) => Promise<string | undefined>
  /** Does anything accept a connection on host:port (no data is sent)? */
  accepts: (host: string, port: number) => Promise<boolean>
}

/** A listening TCP socket from /proc/net/tcp{,6}: its address, port, owner uid and inode. */
export interface ProcListener {
  address: string
  port: number
  uid: number
  inode: string
}

/** `0100007F` → `127.0.0.1`; a tcp6 address (32 hex digits) → its compact form (`::1`, `::`, `::ffff:127.0.0.1`). */
export function procAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.')
  // tcp6: four 32-bit words, each in host (little-endian) byte order
  const bytes: number[] = []
  for (let w = 0; w < 4; w++) for (const i of [3, 2, 1, 0]) bytes.push(parseInt(hex.slice(w * 8 + i * 2, w * 8 + i * 2 + 2), 16))
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join('.')}`
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16))
  const text = groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
  return text.replace(/:{3,}/, '::')
}

/** The listening sockets in the text of /proc/net/tcp or /proc/net/tcp6 (those on `port` alone, when given: a busy machine has thousands). */
export function parseProcNet(text: string, port?: number): ProcListener[] {
  const out: ProcListener[] = []
  const local = port === undefined ? undefined : `:${port.toString(16).toUpperCase().padStart(4, '0')} `
  for (const line of text.split('\n').slice(1)) {
    if (local && !line.includes(local)) continue
    const f = line.trim().split(/\s+/)
    if (f.length < 10 || f[3] !== '0A') continue // 0A: LISTEN
    const [addr, port] = f[1]!.split(':')
    out.push({ address: procAddress(addr!), port: parseInt(port!, 16), uid: Number(f[7]), inode: f[9]! })
  }
  return out
}

/** Could a listener on `address` receive connections meant for `host`? (the same address, or a wildcard of its family) */
function covers(address: string, host: string): boolean {
  if (address === host) return true
  if (address === '0.0.0.0') return !host.includes(':')
  if (address === '::') return true // dual-stack unless IPV6_V6ONLY; assume the worst
  return address === `::ffff:${host}`
}

/** The inodes of the sockets `pid` has open (none when it is gone). */
function socketsOf(pid: number, deps: OwnerDeps): Set<string> {
  const own = new Set<string>()
  try {
    for (const fd of deps.readdir(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(deps.readlink(`/proc/${pid}/fd/${fd}`))
        if (m) own.add(m[1]!)
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // the process is gone: whatever listens is not it
  }
  return own
}

async function linuxOwner(host: string, port: number, pid: number, deps: OwnerDeps): Promise<Ownership> {
  const listeners = (table: string) => {
    try {
      return parseProcNet(deps.readFile(table), port).filter((l) => l.port === port && covers(l.address, host))
    } catch {
      return [] // no IPv6 on this machine
    }
  }
  let own: Set<string> | undefined
  const stranger = (found: ProcListener[]) => found.find((l) => !(own ??= socketsOf(pid, deps)).has(l.inode))
  // Linux lets no other user listen on an address that overlaps a listening socket (0.0.0.0, a dual-stack ::, the same
  // address; SO_REUSEPORT only within one uid): once the process is seen listening on this IPv4 address itself, no
  // listener of tcp6 can be someone else's, and that file (~1 ms for the kernel to write) need not be read
  const v4 = host.includes(':') ? [] : listeners('/proc/net/tcp')
  const v4Stranger = stranger(v4)
  if (v4Stranger) return { owner: 'other', who: `uid ${v4Stranger.uid}` }
  if (v4.some((l) => l.address === host)) return { owner: 'process' }
  const v6 = listeners('/proc/net/tcp6')
  const v6Stranger = stranger(v6)
  if (v6Stranger) return { owner: 'other', who: `uid ${v6Stranger.uid}` }
  return v4.length || v6.length ? { owner: 'process' } : { owner: 'none' }
}

async function lsofOwner(host: string, port: number, pid: number, deps: OwnerDeps): Promise<Ownership> {
  const mine = await deps.run('lsof', ['-a', '-nP', '-p', String(pid), `-iTCP:${port}`, '-sTCP:LISTEN', '-t'])
  if (mine?.trim().split('\n').includes(String(pid))) return { owner: 'process' }
  const any = await deps.run('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'])
  const pids = (any ?? '').trim().split('\n').filter(Boolean)
  if (pids.length) return { owner: 'other', who: `pid ${pids[0]}` }
  // another user's socket may be hidden from lsof: a connection (no data sent) still tells it is there
  return (await deps.accepts(host, port)) ? { owner: 'other', who: 'a process mrs cannot see' } : { owner: 'none' }
}

/** `  TCP    127.0.0.1:1234    0.0.0.0:0    LISTENING    4242` lines → the PIDs listening on `port`. */
export function parseNetstat(text: string, port: number): number[] {
  const pids: number[] = []
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/)
    if (f[0] !== 'TCP' || f[3] !== 'LISTENING') continue
    if (Number(f[1]!.slice(f[1]!.lastIndexOf(':') + 1)) === port) pids.push(Number(f[4]))
  }
  return pids
}

async function netstatOwner(port: number, pid: number, deps: OwnerDeps): Promise<Ownership> {
  const pids = parseNetstat((await deps.run('netstat', ['-ano', '-p', 'TCP'])) ?? '', port)
  if (!pids.length) return { owner: 'none' }
  const other = pids.find((p) => p !== pid)
  return other === undefined ? { owner: 'process' } : { owner: 'other', who: `pid ${other}` }
}

/** Who listens on host:port: the process `pid`, nobody yet, or someone else. */
export function listenerOwner(host: string, port: number, pid: number, deps: OwnerDeps = realOwnerDeps): Promise<Ownership> {
  if (deps.platform === 'linux') return linuxOwner(host, port, pid, deps)
  if (deps.platform === 'win32') return netstatOwner(port, pid, deps)
  return lsofOwner(host, port, pid, deps)
}

export const realOwnerDeps: OwnerDeps = {
  platform: process.platform,
  readFile: (p) => readFileSync(p, 'utf8'),
  readdir: (p) => readdirSync(p),
  readlink: (p) => readlinkSync(p),
  run: async (binary, args) => {
    const { capture } = await import('../process/run.js')
    const r = await capture(binary, args, { env: process.env, timeoutMs: 5000 })
    // lsof exits 1 when it finds nothing: that is an answer, not a failure
    return r.ok || r.stdout !== '' || r.stderr === '' ? r.stdout : undefined
  },
  accepts: (host, port) =>
    new Promise((resolve) => {
      const socket = connect({ host, port })
      const done = (ok: boolean) => {
        socket.destroy()
        resolve(ok)
      }
      socket.setTimeout(1000, () => done(false))
      socket.once('connect', () => done(true))
      socket.once('error', () => done(false))
    }),
}
