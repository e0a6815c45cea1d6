/**
 * A tunnel through the scheduler itself, for clusters that refuse ssh to a
 * compute node: the node's loopback port made reachable at a Unix socket here
 * (in the keeper's private dir, 0600), each connection carried by a step of
 * the job, `srun --overlap -u`, whose stdin and stdout slurmstepd carries.
 * The step runs RELAY, a POSIX sh program that connects to 127.0.0.1:PORT on
 * the node with what the node has (bash's /dev/tcp, python3, perl, else socat,
 * nc or ncat) and copies bytes both ways, unchanged.
 *
 * A step costs a round trip to slurmctld and a slurmstepd: a few warm ones
 * are kept started, each waiting for a `go` line before it connects, so a new
 * connection does not wait for a step to start.
 *
 * Nothing outlives mrs: a connection ends its step by closing the step's stdin
 * (the relay ends with it, and so does a warm step waiting for its `go`); a
 * step that does not end soon after is cancelled by SIGTERM to its srun (srun
 * then cancels the step), and one whose srun was killed outright (which leaves
 * the step running), here or on the login node, by `scancel`. With mrs and all
 * of its processes killed, the steps end with the job.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'

/** The steps' names in `squeue -s` start with this; each has its own (`mrs-tunnel-3`), so that a step whose srun died before it said its id can still be found. */
export const RELAY_STEP_NAME = 'mrs-tunnel'
let stepsNamed = 0

/** Exit codes of the relay: nothing on the node can connect (127), nothing connected to the port (75). */
export const RELAY_NO_TOOL = 127
export const RELAY_NO_CONNECTION = 75

/** python3's part: connect, then copy both ways with select until either side ends (no single quote in it: it is sh-quoted). */
const PYTHON = `
import os, select, socket, sys
port = int(sys.argv[1])
try:
    s = socket.create_connection(("127.0.0.1", port))
except OSError as e:
    sys.stderr.write("python3: cannot connect to 127.0.0.1:%d: %s\\n" % (port, e.strerror or e))
    sys.exit(75)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
fd = s.fileno()
try:
    while True:
        ready = select.select([0, fd], [], [])[0]
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                break
            s.sendall(data)
        if fd in ready:
            data = s.recv(65536)
            if not data:
                break
            while data:
                data = data[os.write(1, data):]
except OSError:
    pass
`

/** perl's part, the same (core modules only; no single quote in it). */
const PERL = `
use strict;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
$SIG{PIPE} = "IGNORE";
my $port = $ARGV[0];
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp");
unless ($s) { print STDERR "perl: cannot connect to 127.0.0.1:$port: $!\\n"; exit 75; }
setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
binmode STDIN; binmode STDOUT; binmode $s;
my ($in, $fd) = (fileno(STDIN), fileno($s));
my $bits = "";
vec($bits, $in, 1) = 1;
vec($bits, $fd, 1) = 1;
sub put { my ($h, $d) = @_; while (length $d) { my $n = syswrite($h, $d); return 0 unless defined $n && $n > 0; substr($d, 0, $n) = ""; } return 1; }
while (1) {
  my $r = $bits;
  my $n = select($r, undef, undef, undef);
  if ($n < 0) { next if $!{EINTR}; last; }
  if (vec($r, $in, 1)) { my $d; my $k = sysread(STDIN, $d, 65536); last unless $k; last unless put($s, $d); }
  if (vec($r, $fd, 1)) { my $d; my $k = sysread($s, $d, 65536); last unless $k; last unless put(\\*STDOUT, $d); }
}
`

/**
 * bash's part: /dev/tcp opens the connection as fd 3 (stdin is fd 4), and two
 * cats copy, each in a subshell that tells this shell when its cat ends (the
 * other side closed) and kills its cat when told to stop: nothing is left
 * behind either way (a process a step leaves may outlive the step).
 */
const BASH = `
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 75
me=$$ w= r= over=
trap 'over=1' USR1
( t=; trap 't=1' TERM; cat <&4 >&3 & c=$!; trap 'kill $c 2>/dev/null; exit 0' TERM; [ -z "$t" ] || { kill $c 2>/dev/null; exit 0; }; wait $c; kill -USR1 $me 2>/dev/null ) &
w=$!
( t=; trap 't=1' TERM; cat <&3 & c=$!; trap 'kill $c 2>/dev/null; exit 0' TERM; [ -z "$t" ] || { kill $c 2>/dev/null; exit 0; }; wait $c; kill -USR1 $me 2>/dev/null ) &
r=$!
exec 3<&- 4<&-
trap 'kill $w $r 2>/dev/null; exit 0' USR1 TERM HUP INT
[ -z "$over" ] || { kill $w $r 2>/dev/null; exit 0; }
wait
`

/**
 * socat, nc or ncat ($@), which may not end when their stdin does: they read
 * a FIFO that a cat fills from stdin, and this shell ends both as soon as
 * either one ends (all three are its own children: nothing is left behind).
 * socat ends itself 0.5 s after the server closes; OpenBSD's nc and Nmap's
 * ncat keep a connection the server closed until their stdin ends (measured:
 * netcat-openbsd 1.219, Ncat 7.93), so through them that connection ends when
 * the client closes it or writes to it. Hence socat before them.
 */
const NC = String.raw`
nc_relay() {
  d=$(mktemp -d "${'${'}TMPDIR:-/tmp}/mrs-relay.XXXXXX") && mkfifo "$d/in" || exit 75
  me=$$ w= over=
  trap 'over=1' USR1
  "$@" <"$d/in" &
  tool=$!
  exec 5>"$d/in"
  rm -rf "$d"
  ( t=; trap 't=1' TERM; cat <&4 >&5 & c=$!; trap 'kill $c 2>/dev/null; exit 0' TERM; [ -z "$t" ] || { kill $c 2>/dev/null; exit 0; }; wait $c; kill -USR1 $me 2>/dev/null ) &
  w=$!
  exec 4<&- 5>&-
  trap 'kill $w $tool 2>/dev/null; exit 0' USR1 TERM HUP INT
  [ -z "$over" ] || { kill $w $tool 2>/dev/null; exit 0; }
  wait $tool
  s=$?
  kill $w 2>/dev/null
  exit $s
}
`

const sq = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

/**
 * The relay: `sh -c RELAY mrs-relay PORT`. It says `@mrs-relay ready
 * JOB.STEP TOOLS…` on stdout once it runs (or one line on stderr and exit 127
 * when the node has nothing to connect with), waits for a `go` line, connects
 * with the first tool that can, and from then on stdout is the connection's.
 */
export const RELAY = `# mrs's relay (a step of mrs's Slurm job): one connection to 127.0.0.1:PORT on this node, carried on stdin and stdout
port=$1
host=$(uname -n 2>/dev/null)
tools=
for t in bash python3 perl socat nc ncat; do
  command -v "$t" >/dev/null 2>&1 && tools="$tools $t"
done
if [ -z "$tools" ]; then
  echo "mrs relay: nothing on $host can connect to 127.0.0.1:$port (no bash, python3, perl, socat, nc or ncat on PATH there)" >&2
  exit ${RELAY_NO_TOOL}
fi
printf '@mrs-relay ready %s.%s%s\\n' "$SLURM_JOB_ID" "$SLURM_STEP_ID" "$tools"
# nothing is connected before mrs says so; no go (stdin closed: mrs is gone) ends the step
IFS= read -r go || exit 0
[ "$go" = go ] || exit 0
exec 4<&0 </dev/null
${NC}
for t in $tools; do
  case $t in
    bash) bash -c ${sq(BASH)} mrs-relay "$port" ;;
    python3) python3 -c ${sq(PYTHON)} "$port" <&4 ;;
    perl) perl -e ${sq(PERL)} "$port" <&4 ;;
    nc | ncat) nc_relay "$t" 127.0.0.1 "$port"; exit $? ;;
    socat) nc_relay socat - "TCP:127.0.0.1:$port"; exit $? ;;
  esac
  s=$?
  [ "$s" = ${RELAY_NO_CONNECTION} ] || exit "$s"
done
echo "mrs relay: nothing accepted a connection to 127.0.0.1:$port on $host (tried$tools)" >&2
exit ${RELAY_NO_CONNECTION}
`

/**
 * The step for one connection (or a warm one, waiting for it): one task on the node, unbuffered (else bytes wait for
 * a newline), sharing the job's resources with the server's step, and without the MPI setup a site's MpiDefault
 * (pmix) would add to every step's start.
 */
export function relayArgv(jobId: string, node: string, port: number, stepName: string): string[] {
  return ['srun', `--jobid=${jobId}`, '--overlap', '--nodes=1', '--ntasks=1', `--nodelist=${node}`, `--job-name=${stepName}`, '--mpi=none', '--quiet', '--unbuffered', 'sh', '-c', RELAY, 'mrs-relay', String(port)]
}

export interface SrunTunnelOptions {
  jobId: string
  /** The node the server runs on (the job's head node). */
  node: string
  port: number
  /** Where the port is reachable here: a Unix socket, made 0600 (its dir should be private). */
  socketPath: string
  /** The local command that runs a Slurm command where Slurm's commands are (here, or through ssh to the login node), and what to write first to its stdin. */
  carry(argv: string[]): { command: string[]; firstLine?: string }
  env: NodeJS.ProcessEnv
  /** Warm steps kept waiting for a connection (default 2). */
  warm?: number
  /** How long a step may take to start before the tunnel (or a connection) gives up on it (default 30 s). */
  startTimeoutMs?: number
  /** A line for the keeper's log (a connection whose step failed). */
  log?(line: string): void
}

const ENDED_GRACE_MS = 2000
const TERM_GRACE_MS = 3000
const STDERR_MAX = 8 * 1024

/** The line worth showing of a step's stderr: the relay's own, else srun's error, else the last. */
function reasonOf(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const said = lines.findLast((l) => /^mrs relay: /.test(l)) ?? lines.findLast((l) => /^srun: (error|fatal)/.test(l)) ?? lines.at(-1)
  return said ?? (signal ? `srun got ${signal}` : `srun exited with code ${code}`)
}

/** One step: started, ready (its relay runs and waits for `go`), carrying a connection, or gone. */
class Step {
  state: 'starting' | 'ready' | 'carrying' | 'gone' = 'starting'
  /** JOB.STEP, as the relay says it. */
  id?: string
  /** Its name in `squeue -s`, unique in the job. */
  readonly name = `${RELAY_STEP_NAME}-${++stepsNamed}`
  tools: string[] = []
  readonly ready: Promise<void>
  readonly child: ChildProcess
  private stderr = ''
  private header = Buffer.alloc(0)
  private early: Buffer[] = []
  private ending = false
  private timers: NodeJS.Timeout[] = []
  private conn?: Socket
  /** Why it ended (once it has). */
  reason?: string

  constructor(
    opts: SrunTunnelOptions,
    private readonly onGone: (step: Step) => void,
  ) {
    const { command, firstLine } = opts.carry(relayArgv(opts.jobId, opts.node, opts.port, this.name))
    // its own process group: no terminal signal reaches it; the tunnel decides when it ends
    this.child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: opts.env })
    this.child.stdin!.on('error', () => {})
    if (firstLine) this.child.stdin!.write(firstLine)
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-STDERR_MAX)
    })
    let readied: () => void
    let failed: (e: Error) => void
    this.ready = new Promise<void>((resolve, reject) => {
      readied = resolve
      failed = reject
    })
    // a step nobody waits for that fails is said by the pool
    this.ready.catch(() => {})
    const onHeader = (chunk: Buffer) => {
      if (this.state === 'carrying') return
      if (this.state === 'ready') return void this.early.push(chunk)
      this.header = Buffer.concat([this.header, chunk])
      const nl = this.header.indexOf(10)
      if (nl < 0) {
        // a login shell on the login node may print before the relay; only its line counts, and the header is short
        if (this.header.length > 64 * 1024) this.header = this.header.subarray(-1024)
        return
      }
      const line = this.header.subarray(0, nl).toString('utf8')
      const rest = this.header.subarray(nl + 1)
      this.header = rest
      const m = /^@mrs-relay ready (\S+)((?: \S+)*)$/.exec(line.replace(/\r$/, ''))
      if (!m) return onHeader(Buffer.alloc(0))
      this.id = m[1]
      this.tools = m[2]!.trim().split(' ')
      this.state = 'ready'
      this.header = Buffer.alloc(0)
      if (rest.length) this.early.push(rest)
      // nothing more comes before `go`
      this.child.stdout!.pause()
      readied()
    }
    this.child.stdout!.on('data', onHeader)
    this.child.on('error', (e) => {
      this.stderr += `\ncould not run ${command[0]}: ${e.message}`
    })
    this.child.on('close', (code, signal) => {
      const was = this.state
      this.state = 'gone'
      for (const t of this.timers) clearTimeout(t)
      this.reason = reasonOf(this.stderr, code, signal)
      if (was === 'starting') failed(new Error(this.reason))
      // killed outright (here; on the login node ssh then says 255), its step lives on (or is about to): cancel it,
      // by the id the relay said, else by its name
      if (signal === 'SIGKILL' || code === 255) cancelStep(opts, this.id && /^\d+\.\d+$/.test(this.id) ? this.id : undefined, this.name)
      if (this.conn && code !== 0 && !this.ending) opts.log?.(`the srun tunnel's step ${this.id ?? ''} for a connection ended: ${this.reason}`)
      this.onGone(this)
    })
  }

  /** Carries `conn` from now on: `go`, then bytes both ways; either side ending ends the other. */
  carry(conn: Socket): void {
    this.state = 'carrying'
    this.conn = conn
    const { stdin, stdout } = this.child
    stdin!.write('go\n')
    stdout!.removeAllListeners('data')
    for (const chunk of this.early.splice(0)) conn.write(chunk)
    // the connection's end (the client's) closes the step's stdin, which ends the relay; the relay's end (the server closed) ends the connection
    conn.pipe(stdin!)
    stdout!.pipe(conn)
    stdout!.resume()
    conn.on('error', () => {})
    conn.on('close', () => this.end())
  }

  /** Ends the step: its stdin closes (the relay ends), then SIGTERM to srun (which cancels the step), then SIGKILL and scancel. */
  end(): void {
    if (this.ending || this.state === 'gone') return
    this.ending = true
    this.child.stdin!.end()
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(fn, ms)
      t.unref()
      this.timers.push(t)
    }
    later(ENDED_GRACE_MS, () => {
      signal(this.child, 'SIGTERM')
      later(TERM_GRACE_MS, () => signal(this.child, 'SIGKILL'))
    })
  }
}

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return
  try {
    child.kill(sig)
  } catch {
    // gone
  }
}

/**
 * Cancels the job's ($1) step named $2 (with id $3, when its relay said it)
 * until `squeue -s` no longer lists it: scancel again each second (one has
 * not always been the end of it under load), and a step whose srun died
 * while slurmctld created it may show up a little later. A squeue that fails
 * (slurmctld busy) proves nothing; one that says the job is gone, that its
 * steps are.
 */
export const CANCEL_STEP = `i=0 seen=
while [ $i -lt 45 ]; do
  if out=$(squeue -h -s -j "$1" -o '%i %j' 2>&1); then
    ids=$(printf '%s\\n' "$out" | while read -r id name; do { [ "$id" = "$3" ] || [ "$name" = "$2" ]; } && echo "$id"; done)
    if [ -n "$ids" ]; then
      seen=1
      scancel --quiet $ids
    elif [ -n "$seen" ] || [ -n "$3" ] || [ $i -ge 10 ]; then
      exit 0
    fi
  else
    case $out in *"Invalid job id"*) exit 0 ;; esac
  fi
  i=$((i + 1))
  sleep 1
done
exit 1`

/** Cancels a step whose srun was killed outright, bounded, nobody waiting. */
function cancelStep(opts: SrunTunnelOptions, id: string | undefined, name: string): void {
  const { command, firstLine } = opts.carry(['sh', '-c', CANCEL_STEP, 'mrs-cancel', opts.jobId, name, id ?? ''])
  const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env: opts.env })
  child.on('error', () => {})
  child.stdin!.on('error', () => {})
  child.stdin!.end(firstLine ?? '')
  const timer = setTimeout(() => signal(child, 'SIGKILL'), 90_000)
  timer.unref()
  child.on('close', () => clearTimeout(timer))
}

/** The warm steps, and every step that carries a connection. */
class Pool {
  private readonly steps = new Set<Step>()
  private readonly warm: Step[] = []
  private closed = false
  private failures = 0
  private retry?: NodeJS.Timeout
  private lastSaid?: string

  constructor(private readonly opts: SrunTunnelOptions) {}

  private get size(): number {
    return this.opts.warm ?? 2
  }

  private start(): Step {
    const step = new Step(this.opts, (s) => this.gone(s))
    this.steps.add(step)
    step.ready.then(
      () => (this.failures = 0),
      () => {},
    )
    return step
  }

  private gone(step: Step): void {
    this.steps.delete(step)
    const i = this.warm.indexOf(step)
    if (i < 0 || this.closed) return
    this.warm.splice(i, 1)
    // a warm step that failed: again later, less often while they keep failing (the job ended, Slurm is down)
    this.failures++
    if (step.reason !== this.lastSaid) this.opts.log?.(`a warm step of the srun tunnel to ${this.opts.node} ended: ${step.reason}`)
    this.lastSaid = step.reason
    clearTimeout(this.retry)
    this.retry = setTimeout(() => this.fill(), Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7)))
    this.retry.unref()
  }

  /** Starts warm steps up to the pool's size. */
  fill(): void {
    if (this.closed) return
    while (this.warm.length < this.size) this.warm.push(this.start())
  }

  /** The first warm step's start: the tunnel works (or srun's reason why not). */
  first(): Promise<Step> {
    const step = this.warm[0] ?? this.start()
    if (!this.warm.includes(step)) this.warm.push(step)
    return withTimeout(step.ready, this.startTimeout(), `srun did not start a step on ${this.opts.node} within ${this.startTimeout() / 1000} s`).then(() => step)
  }

  private startTimeout(): number {
    return this.opts.startTimeoutMs ?? 30_000
  }

  /** A step for a new connection: a ready one, else the one closest to ready, else a new one. */
  async take(): Promise<Step> {
    const step = this.warm.find((s) => s.state === 'ready') ?? this.warm.find((s) => s.state === 'starting') ?? this.start()
    const i = this.warm.indexOf(step)
    if (i >= 0) this.warm.splice(i, 1)
    // the pool is refilled at once, unless its steps keep failing (then the retry does it)
    if (!this.failures) this.fill()
    await withTimeout(step.ready, this.startTimeout(), `srun did not start a step on ${this.opts.node} within ${this.startTimeout() / 1000} s`).catch((e: Error) => {
      step.end()
      throw e
    })
    return step
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retry)
    this.warm.length = 0
    for (const step of this.steps) step.end()
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    promise.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}

/**
 * Makes the node's 127.0.0.1:port reachable at opts.socketPath through srun
 * steps; resolves once a first step runs there (the way works), rejects with
 * srun's or the relay's own reason (one line) when it does not.
 */
export async function srunTunnel(opts: SrunTunnelOptions): Promise<{ close(): void }> {
  const pool = new Pool(opts)
  pool.fill()
  try {
    const first = await pool.first()
    opts.log?.(`the connections to ${opts.node}:${opts.port} go through Slurm steps (srun), each relayed there by the first of:${first.tools.map((t) => ` ${t}`).join('')}`)
  } catch (e) {
    pool.close()
    throw e
  }
  const conns = new Set<Socket>()
  // half-open: a connection's end is handled below (it ends the step), not by net
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => {
    conns.add(conn)
    conn.on('close', () => conns.delete(conn))
    conn.on('error', () => {})
    // bytes the client sends before the step is ready wait in the socket
    conn.pause()
    pool.take().then(
      (step) => {
        if (conn.destroyed) return step.end()
        step.carry(conn)
        conn.resume()
      },
      (e: Error) => {
        opts.log?.(`a connection through the srun tunnel to ${opts.node} failed: ${e.message}`)
        conn.destroy()
      },
    )
  })
  rmSync(opts.socketPath, { force: true })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.socketPath, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((e) => {
    pool.close()
    throw e
  })
  chmodSync(opts.socketPath, 0o600)
  let closed = false
  return {
    close() {
      if (closed) return
      closed = true
      server.close()
      pool.close()
      for (const c of conns) c.destroy()
      rmSync(opts.socketPath, { force: true })
    },
  }
}
