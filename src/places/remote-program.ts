/**
 * The program mrs runs where a remote server runs (an SSH host, a Slurm
 * node): POSIX `sh`, sent over the connection, so nothing but mistral.rs needs
 * installing there. It reaches the remote shell through a bootstrap that
 * contains no data of ours — `exec sh -lc '…read one line, decode, eval…'` —
 * so whatever the user's login shell is (sh, bash, zsh, fish, csh), nothing of
 * a model id or an argument is ever parsed by it; the line it reads holds the
 * program and its arguments, each single-quoted for POSIX sh, so no value can
 * become a command there. `sh -l` reads ~/.profile: mistralrs installed by its
 * script is often on PATH only there (~/.cargo/bin).
 *
 * Modes:
 *   probe [MISTRALRS]   where mistralrs is and its version; with `full`, also
 *                       the Hugging Face cache, the GPUs, memory and disk
 *   serve ID PORT GRACE BEAT MISSES [MISTRALRS [HEADSEED [-- ARGS]]]
 *                       one run of mistral.rs: reports the binary, version, its
 *                       private dir and a free loopback port, waits for the
 *                       keeper's `start ARGS`, starts it, sends its log on
 *                       stderr, answers the keeper's questions on stdout
 *                       (`prove`: who listens on the port; `du REPOS`;
 *                       `config MODEL`), and ends every process of the run —
 *                       SIGTERM, SIGKILL after GRACE seconds — when its stdin
 *                       closes (the keeper or the connection is gone) or no
 *                       heartbeat came for BEAT × MISSES seconds (a dead
 *                       network, which sshd may not notice for hours). In a
 *                       Slurm step it also marks the job's lease, and on a
 *                       multi-node step each node gets MISTRALRS_MN_* from its
 *                       place in it (the head's port: HEADSEED into the range,
 *                       the same on every node); a worker runs ARGS with a port
 *                       of its own.
 * Protocol lines on stdout start with `@mrs `; anything else there (a chatty
 * ~/.profile) is ignored. The server's own output goes to a log file in its
 * private dir, copied to stderr as it grows.
 */
import { shellQuote } from '../text.js'

/**
 * The Slurm job's private dir, the same text in the batch script and the
 * server step (see slurm.ts): sh, with SLURM_JOB_ID and MRS_JOB_TOKEN set.
 */
export const JOB_DIR_FN = String.raw`# the Slurm job's private dir on this node, for the lease between the batch script and the server step: a name no
# other user can know (MRS_JOB_TOKEN, mrs's, given to both), made 0700 by whichever of the two comes first, and used
# only if it is exactly that: a dir, not a link, the user's own, closed to everyone else
job_dir() {
  jd=/tmp/mrs-job-$SLURM_JOB_ID-$MRS_JOB_TOKEN
  (umask 077; mkdir "$jd" 2>/dev/null)
  [ -d "$jd" ] && [ ! -L "$jd" ] && [ -O "$jd" ] && case $(ls -ld "$jd") in drwx------*) printf '%s\n' "$jd" ;; *) false ;; esac
}
`

export const PROGRAM = String.raw`set -u
umask 077
# a write to a connection that just closed must not kill this shell before its watchdog is armed
# (mistral.rs, a Rust program, ignores SIGPIPE itself anyway)
trap '' PIPE
say() { printf '@mrs %s\n' "$*"; }
os=$(uname -s 2>/dev/null)
# this host's name, in messages and as a run dir's prefix (a cluster's nodes share one home): Slurm's for its node
host=$(printf '%s\n' "${'${'}SLURMD_NODENAME:-$(uname -n 2>/dev/null)}" | sed 's/[^A-Za-z0-9._-]/_/g')
# where mistral.rs looks (mistralrs-core/src/pipeline/hf.rs): never XDG_CACHE_HOME, which Python's hub honours
hub=${'${'}HF_HUB_CACHE:-${'${'}HF_HOME:-$HOME/.cache/huggingface}/hub}
pyhub=
if [ -z "${'${'}HF_HUB_CACHE:-}${'${'}HF_HOME:-}" ] && [ -n "${'${'}XDG_CACHE_HOME:-}" ] && [ "$XDG_CACHE_HOME/huggingface/hub" != "$hub" ]; then pyhub=$XDG_CACHE_HOME/huggingface/hub; fi

# a process's group: ps where it takes -p (GNU, BSD, macOS), else /proc (busybox)
pgid_of() {
  p=$(ps -o pgid= -p "$1" 2>/dev/null | tr -d ' ')
  if [ -z "$p" ] && [ -r "/proc/$1/stat" ]; then p=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $3 }'); fi
  printf '%s' "$p"
}
# the run's process group: ours when sshd or slurmstepd made us its leader
leader=no
[ "$(pgid_of $$)" = "$$" ] && leader=yes

# is the process alive (a zombie nobody reaped yet is not)?
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    case $(sed 's/.*) //' "/proc/$1/stat" | cut -c1) in Z | X) return 1 ;; esac
    return 0
  fi
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
  case $st in Z*) return 1 ;; esac
}

# the PATH a login shell of the user's has: sh, bash, zsh, fish, csh and tcsh all say it joined by ':' (fish quotes a
# *PATH variable so), framed, as a profile may print before it (and ~/.zlogout after). csh and tcsh take -l only as
# their one flag (-lc is an error there): the command then comes on stdin
login_path() {
  [ -n "${'${'}SHELL:-}" ] && [ -x "$SHELL" ] || return 1
  case ${'${'}SHELL##*/} in
    *csh) echo 'echo "@mrs-path $PATH"' | "$SHELL" -l ;;
    *) "$SHELL" -lc 'echo "@mrs-path $PATH"' </dev/null ;;
  esac 2>/dev/null | sed -n 's/^@mrs-path //p' | tail -n 1
}

# mistralrs in the directories of a PATH
find_in() {
  (
    IFS=:
    for dir in $1; do
      [ -n "$dir" ] && [ -x "$dir/mistralrs" ] && [ ! -d "$dir/mistralrs" ] && { printf '%s\n' "$dir/mistralrs"; exit 0; }
    done
    exit 1
  )
}

# mistralrs as given, else on this PATH (a Slurm step: the submitter's, with its modules), a login shell's, and where
# mistral.rs's installer (~/.local/bin, ~/.mistralrs) and cargo (~/.cargo/bin) put it
find_mistralrs() {
  if [ -n "$1" ]; then
    [ -x "$1" ] && [ ! -d "$1" ] && { printf '%s\n' "$1"; return 0; }
    return 1
  fi
  find_in "$PATH" && return 0
  lp=$(login_path) && [ -n "$lp" ] && find_in "$lp" && return 0
  for b in "$HOME/.local/bin/mistralrs" "$HOME/.mistralrs/mistralrs" "$HOME/.cargo/bin/mistralrs"; do
    [ -x "$b" ] && [ ! -d "$b" ] && { printf '%s\n' "$b"; return 0; }
  done
  return 1
}

# its version: asking costs a process start (a CUDA build loads its libraries first), so the answer is kept by
# the binary's identity (device, inode, size, mtime: GNU and busybox stat -c, BSD stat -f), as mrs keeps it here
version_of() {
  vid=$(stat -L -c '%d:%i:%s:%Y' "$1" 2>/dev/null || stat -L -f '%d:%i:%z:%m' "$1" 2>/dev/null) || vid=
  vfile=${'${'}XDG_STATE_HOME:-$HOME/.local/state}/mrs/mistralrs-versions
  vkey="$1 $vid	"
  if [ -n "$vid" ] && [ -f "$vfile" ]; then
    v=$(awk -v k="$vkey" 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }' "$vfile" 2>/dev/null)
    [ -n "$v" ] && { printf '%s\n' "$v"; return 0; }
  fi
  v=$("$1" --version 2>/dev/null | head -n 1)
  if [ -n "$vid" ] && [ -n "$v" ] && mkdir -p "${'${'}vfile%/*}" 2>/dev/null; then
    # the newest few binaries' answers, replaced whole (a rename: two runs at once never mix lines)
    { awk -v p="$1 " 'index($0, p) != 1' "$vfile" 2>/dev/null | tail -n 15; printf '%s%s\n' "$vkey" "$v"; } >"$vfile.$$" 2>/dev/null &&
      mv -f "$vfile.$$" "$vfile" 2>/dev/null || rm -f "$vfile.$$"
  fi
  printf '%s\n' "$v"
}

# the hex of listening TCP ports (Linux: /proc; elsewhere: netstat)
listening_ports() {
  if [ "$os" = Linux ] && [ -r /proc/net/tcp ]; then
    awk '$4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  else
    netstat -an 2>/dev/null | awk '/LISTEN/ { n = split($4, a, /[.:]/); printf "%04X\n", a[n] }'
  fi
}

# the ports mrs may use here: MRS_PORT_RANGE (the host's environment, e.g. 30000-30999 where a site allows only
# those; default 20000-59999)
port_range() {
  lo=20000 hi=59999
  case ${'${'}MRS_PORT_RANGE:-} in *-*) lo=${'${'}MRS_PORT_RANGE%-*} hi=${'${'}MRS_PORT_RANGE#*-} ;; esac
}

# a free loopback port: the one asked for if it is free, else a random one in the range (never the head's port for
# its workers on a multi-node step, $mnhex)
free_port() {
  used=" $(listening_ports | tr '\n' ' ') ${'${'}mnhex:-} "
  port_range
  if [ -n "$1" ] && [ "$1" != 0 ] && [ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ]; then
    case $used in *" $(printf '%04X' "$1") "*) ;; *) echo "$1"; return 0 ;; esac
  fi
  i=0
  while [ $i -lt 200 ]; do
    r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    p=$((lo + r % (hi - lo + 1)))
    case $used in *" $(printf '%04X' "$p") "*) ;; *) echo "$p"; return 0 ;; esac
    i=$((i + 1))
  done
  return 1
}

# who listens on port $1: the process $2, nobody, or someone else; 'unknown' (with what is missing) when this host
# has no way to tell, which is no proof
prove() {
  if [ "$os" = Linux ] && [ -r /proc/net/tcp ]; then
    found=$(awk -v h=":$(printf '%04X' "$1")" '$4 == "0A" && substr($2, length($2) - 4) == h { print $10 " " $8 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)
    [ -n "$found" ] || { say owner none; return; }
    own=$(ls -l "/proc/$2/fd" 2>/dev/null)
    echo "$found" | while read -r inode uid; do
      case $own in *"socket:[$inode]"*) ;; *) say owner other "uid $uid"; exit 1 ;; esac
    done && say owner process
  elif command -v lsof >/dev/null 2>&1; then
    # macOS, BSD: the listeners' PIDs. lsof run without root sees only the user's own processes; netstat shows every
    # listener, so one there that lsof cannot see is another user's (asked last: the server may just have bound)
    if lsof -nP -a -p "$2" -iTCP:"$1" -sTCP:LISTEN -t >/dev/null 2>&1; then say owner process
    else
      other=$(lsof -nP -iTCP:"$1" -sTCP:LISTEN -t 2>/dev/null | head -n 1)
      if [ -n "$other" ]; then say owner other "pid $other"
      elif listening_ports | grep -qx "$(printf '%04X' "$1")"; then
        if lsof -nP -a -p "$2" -iTCP:"$1" -sTCP:LISTEN -t >/dev/null 2>&1; then say owner process; else say owner other "another user's process"; fi
      else say owner none; fi
    fi
  elif command -v sockstat >/dev/null 2>&1; then
    # FreeBSD: USER COMMAND PID FD PROTO LOCAL FOREIGN
    found=$(sockstat -46 -l -P tcp -p "$1" 2>/dev/null | awk 'NR > 1 { print $3 }' | sort -u)
    [ -n "$found" ] || { say owner none; return; }
    for p in $found; do [ "$p" = "$2" ] || { say owner other "pid $p"; return; }; done
    say owner process
  else
    if [ "$os" = Linux ]; then say owner unknown "no readable /proc/net/tcp, no lsof or sockstat on $host"
    else say owner unknown "no lsof or sockstat on $host ($os)"; fi
  fi
}

repo_of() { printf '%s/models--%s' "$hub" "$(printf '%s' "$1" | sed 's#/#--#g')"; }

# bytes in the cache of the repositories named
cached_bytes() {
  total=0
  for m in "$@"; do
    kb=$(du -sk "$(repo_of "$m")/blobs" 2>/dev/null | awk '{ print $1 }')
    total=$((total + ${'${'}kb:-0} * 1024))
  done
  say bytes "$total"
}

# a model's config.json, in hex, in lines of 8 KiB (a multimodal one is tens of KB: one line would not fit a
# protocol line); a regular file under 1 MiB only (a FIFO would block, /dev/zero never end)
config_of() {
  case $1 in
    /* | ./* | ../*) f="$1/config.json" ;;
    *)
      repo=$(repo_of "$1")
      rev=$(head -n 1 "$repo/refs/main" 2>/dev/null)
      [ -n "$rev" ] || rev=$(ls -t "$repo/snapshots" 2>/dev/null | head -n 1)
      f="$repo/snapshots/$rev/config.json"
      ;;
  esac
  if [ ! -e "$f" ]; then say config none; return; fi
  if [ ! -f "$f" ]; then say config-problem "$f is not a regular file"; return; fi
  size=$(wc -c <"$f" | tr -d ' ')
  if [ "$size" -gt 1048576 ]; then say config-problem "$f is larger than 1048576 bytes"; return; fi
  say config-begin "$f"
  { od -An -v -tx1 <"$f" | tr -d ' \n'; echo; } | fold -w 8192 | sed 's/^/@mrs config-chunk /'
  say config-end
}

# the models of a hub cache: name, bytes, unfinished (hf-hub's .part/.sync.part, Python's .incomplete), largest blob,
# last change, and whether this is Python's cache only (1)
models_in() {
  for repo in "$1"/models--*; do
    [ -d "$repo" ] || continue
    kb=$(du -sk "$repo/blobs" 2>/dev/null | awk '{ print $1 }')
    partial=0
    ls "$repo/blobs" 2>/dev/null | grep -qE '\.(part|incomplete)$' && partial=1
    largest=$(ls -l "$repo/blobs" 2>/dev/null | awk 'NR > 1 && $5 > m { m = $5 } END { printf "%.0f\n", m }')
    when=$(stat -c %Y "$repo/refs/main" 2>/dev/null || stat -f %m "$repo/refs/main" 2>/dev/null || echo 0)
    say model "$(basename "$repo")" "$((${'${'}kb:-0} * 1024))" "$partial" "$largest" "$when" "$2"
  done
}

# the GPUs (nvidia-smi's name, total and used MiB), the memory, and whether it is unified (Apple silicon). A byte count
# from awk is printed with %.0f: mawk (Debian's and Ubuntu's awk) prints a number past 2^31 as 1.67772e+10
hardware() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader,nounits 2>/dev/null | while IFS= read -r g; do say gpu "$g"; done
  fi
  if [ "$os" = Darwin ]; then say memory "$(sysctl -n hw.memsize 2>/dev/null)"
  elif [ -r /proc/meminfo ]; then say memory "$(awk '/^MemTotal:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)" "$(awk '/^MemAvailable:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)"
  else say memory "$(sysctl -n hw.physmem 2>/dev/null)"; fi
  say unified "$( [ "$os" = Darwin ] && echo yes || echo no)"
}

# what a model's weights weigh here: bytes in the cache (or a local directory), unfinished or not, the largest
# blob, and its weight index's total_size (what an unfinished download will weigh)
weights_of() {
  case $1 in
    /* | ./* | ../*) say weights "$(du -sk "$1" 2>/dev/null | awk '{ printf "%.0f\n", $1 * 1024 }')" 0 999999999 0; return ;;
  esac
  repo=$(repo_of "$1")
  if [ ! -d "$repo/blobs" ]; then say weights 0 1 0 0; return; fi
  kb=$(du -sk "$repo/blobs" 2>/dev/null | awk '{ print $1 }')
  partial=0
  ls "$repo/blobs" 2>/dev/null | grep -qE '\.(part|incomplete)$' && partial=1
  largest=$(ls -l "$repo/blobs" 2>/dev/null | awk 'NR > 1 && $5 > m { m = $5 } END { printf "%.0f\n", m }')
  rev=$(head -n 1 "$repo/refs/main" 2>/dev/null)
  [ -n "$rev" ] || rev=$(ls -t "$repo/snapshots" 2>/dev/null | head -n 1)
  index=$(sed -n 's/.*"total_size"[^0-9]*\([0-9][0-9]*\).*/\1/p' "$repo/snapshots/$rev/model.safetensors.index.json" 2>/dev/null | head -n 1)
  say weights "$((${'${'}kb:-0} * 1024))" "$partial" "$largest" "${'${'}index:-0}"
}

probe() {
  say hello "$os" "$(uname -m)" "$leader"
  if bin=$(find_mistralrs "$1"); then
    say binary "$bin"
    say version "$(version_of "$bin")"
  else
    say missing "${'${'}1:-mistralrs}"
  fi
  [ "${'${'}2:-}" = full ] || { say end; return; }
  hardware
  where=$hub; [ -d "$where" ] || where=$HOME
  say disk "$(df -Pk "$where" 2>/dev/null | awk 'NR == 2 { printf "%.0f\n", $4 * 1024 }')" "$where"
  say hub "$hub"
  [ -n "$pyhub" ] && say pyhub "$pyhub"
  models_in "$hub" 0
  [ -n "$pyhub" ] && models_in "$pyhub" 1
  say end
}

# sleeps a tenth of a second where sleep takes fractions (GNU, BSD, busybox), else a second
nap() { sleep 0.1 2>/dev/null || sleep 1; }

# stops every process of this run: SIGTERM, then SIGKILL once the server is gone or the grace period is over
# (the server's PID only while it is ours: once wait has reaped it, another process may have it)
stop_all() {
  trap '' TERM
  targets=$helpers
  [ "$pid" != 0 ] && targets="$pid $targets"
  if [ "$leader" = yes ]; then kill -TERM 0 2>/dev/null; elif [ -n "$targets" ]; then kill -TERM $targets 2>/dev/null; fi
  waited=0
  while [ "$pid" != 0 ] && alive "$pid" && [ "$waited" -lt $((grace * 10)) ]; do
    nap
    waited=$((waited + 1))
  done
  if [ "$leader" = yes ]; then kill -KILL 0 2>/dev/null; elif [ -n "$targets" ]; then kill -KILL $targets 2>/dev/null; fi
  exit 0
}

${JOB_DIR_FN}
# the [slurm] setup lines (MRS_SETUP), run in a login shell where 'module' exists: what they export comes here, their
# PATH before the one this step was given
run_setup() {
  out=$(mktemp "${'${'}TMPDIR:-/tmp}/mrs-setup.XXXXXX") || { say setupfail "cannot make a temporary file on $host"; exit 67; }
  # a line that fails (a module that is not there) stops it, as it would stop a batch script under set -e
  if ! sh -lc "set -e
$MRS_SETUP
env" </dev/null >"$out" 2>"$out.err"; then
    say setupfail "the [slurm] setup failed on $host: $(tail -n 1 "$out.err")"
    rm -f "$out" "$out.err"
    exit 67
  fi
  given=$PATH
  while IFS= read -r kv; do
    case $kv in
      [A-Za-z_]*=*)
        k=${'${'}kv%%=*}
        case $k in *[!A-Za-z0-9_]* | PWD | OLDPWD | SHLVL | _ | HOME | SHELL | USER | LOGNAME) ;; *) export "$kv" ;; esac
        ;;
    esac
  done <"$out"
  PATH=$PATH:$given
  rm -f "$out" "$out.err"
}

# Slurm's own address for node $1 (its NodeAddr; the name where scontrol says none)
node_addr() {
  a=$(scontrol show node "$1" 2>/dev/null | tr ' ' '\n' | sed -n 's/^NodeAddr=//p' | head -n 1)
  printf '%s\n' "${'${'}a:-$1}"
}

# $1 as an IPv4 address (a worker's mistral.rs parses MISTRALRS_MN_WORKER_SERVER_ADDR as an IP and a port, not a
# name; the head listens on 0.0.0.0): as it is, or what getent resolves it to; nothing when neither
ipv4_of() {
  case $1 in
    *[!0-9.]*) getent ahostsv4 "$1" 2>/dev/null | awk '{ print $1; exit }' ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# a worker that cannot start says why on stdout, which srun merges with the head's: mrs reads it as the run's failure
worker_fails() {
  say workerfail "$1" "$2"
  exit "$1"
}

# a multi-node worker (a Slurm step's task on another node): mistral.rs with the head's arguments, its port its own
worker() {
  bin=$(find_mistralrs "$mrsbin") || worker_fails 127 "mistralrs not found on $host, a worker node of the job (load its module before mrs, or install it in the shared home)"
  wport=$(free_port 0) || worker_fails 66 "no free port on $host's loopback (a worker node of the job; MRS_PORT_RANGE sets the range)"
  n=$#
  while [ "$n" -gt 0 ]; do
    a=$1
    shift
    [ "$a" = @PORT@ ] && a=$wport
    [ "$a" = @HUB@ ] && a=$hub
    set -- "$@" "$a"
    n=$((n - 1))
  done
  export HF_HUB_CACHE="$hub"
  exec "$bin" "$@" </dev/null >&2
}

# the run dirs beyond the newest 20 go, but never a live run's: this host's are live while their program is; another
# host's (a cluster's nodes share one home) are that host's to prune, or go after 30 days untouched
prune() {
  ls -1t "$1" 2>/dev/null | tail -n +21 | while IFS= read -r old; do
    [ "$old" = "$host-$id" ] && continue
    case $old in
      "$host"-*)
        p=$(cat "$1/$old/pid" 2>/dev/null)
        [ -n "$p" ] && alive "$p" && continue
        ;;
      *) [ -n "$(find "$1/$old" -prune -mtime +30 2>/dev/null)" ] || continue ;;
    esac
    rm -rf "$1/$old"
  done
}

serve() {
  id=$1 prefer=$2 grace=$3 beat=$4 misses=$5 mrsbin=${'${'}6:-} mnseed=${'${'}7:-0}
  if [ $# -ge 7 ]; then shift 7; else shift $#; fi
  [ "${'${'}1:-}" = -- ] && shift
  pid=0 helpers= job=
  [ -n "${'${'}MRS_SETUP:-}" ] && run_setup
  # in a Slurm job: the batch script holds the allocation while this run lives
  # (the step can start before the batch script has made the job's dir: a late lease would end the job under the session)
  if [ -n "${'${'}SLURM_JOB_ID:-}" ] && [ "${'${'}SLURM_NODEID:-0}" = 0 ] && [ -n "${'${'}MRS_JOB_TOKEN:-}" ]; then
    job=$(job_dir) || { say fail "cannot make the job's private dir on $host in /tmp: a dir of that name is another user's or not private, or /tmp is not writable"; exit 73; }
    echo $$ >"$job/lease"
  fi
  # several nodes (mistral.rs's multi-node tensor parallelism): each gets its part from its place in the step
  nnodes=${'${'}SLURM_STEP_NUM_NODES:-${'${'}SLURM_NNODES:-1}}
  if [ "$nnodes" -gt 1 ]; then
    # the head's port for its workers: mrs's random seed into the range, the same on every node (a retry brings another)
    port_range
    mnport=$((lo + mnseed % (hi - lo + 1)))
    mnhex=$(printf '%04X' "$mnport")
    ngpus=$(printf '%s\n' "${'${'}CUDA_VISIBLE_DEVICES:-0}" | tr ',' '\n' | grep -c .)
    export MISTRALRS_MN_LOCAL_WORLD_SIZE="$ngpus" MISTRALRS_MN_GLOBAL_WORLD_SIZE=$((ngpus * nnodes))
    if [ "${'${'}SLURM_NODEID:-0}" = 0 ]; then
      export MISTRALRS_MN_HEAD_NUM_WORKERS=$((nnodes - 1)) MISTRALRS_MN_HEAD_PORT="$mnport"
    else
      head=$(scontrol show hostnames "${'${'}SLURM_STEP_NODELIST:-$SLURM_JOB_NODELIST}" 2>/dev/null | head -n 1)
      na=$(node_addr "$head")
      addr=$(ipv4_of "$na")
      [ -n "$addr" ] || worker_fails 69 "no IPv4 address for $head, the head node: its Slurm NodeAddr $na does not resolve (getent ahostsv4) on $host, and mistral.rs's workers need one"
      export MISTRALRS_MN_WORKER_SERVER_ADDR="$addr:$mnport" MISTRALRS_MN_WORKER_ID=$((SLURM_NODEID - 1))
      worker "$@"
    fi
  fi
  if bin=$(find_mistralrs "$mrsbin"); then say binary "$bin"; else say missing "${'${'}mrsbin:-mistralrs}"; exit 127; fi
  say version "$(version_of "$bin")"
  say hub "$hub"
  base=${'${'}XDG_STATE_HOME:-$HOME/.local/state}/mrs/remote
  d=$base/$host-$id
  mkdir -p "$d" || exit 73
  [ -d "$d" ] && [ ! -L "$d" ] || { say fail "$d is not a directory of its own"; exit 73; }
  echo $$ >"$d/pid"
  prune "$base"
  say dir "$d"
  if port=$(free_port "$prefer"); then say port "$port"; else say noport "${'${'}MRS_PORT_RANGE:-20000-59999}"; exit 66; fi
  # the keeper asks what it needs to choose the quantization, names the hub cache the user gave mistral.rs,
  # sends the files the server reads and, last, its arguments
  line=
  while IFS= read -r line; do
    case $line in
      file\ *) rest=${'${'}line#file }; name=${'${'}rest%% *}; printf '%b' "${'${'}rest#* }" >"$d/$name" ;;
      hub\ *) eval "set -- $(printf '%b' "${'${'}line#hub }")"; hub=$1 ;;
      facts\ *) eval "set -- $(printf '%b' "${'${'}line#facts }")"; hardware; for m in "$@"; do weights_of "$m"; done; say facts-end ;;
      start\ *) break ;;
    esac
  done
  case $line in start\ *) ;; *) exit 0 ;; esac
  eval "set -- $(printf '%b' "${'${'}line#start }")"
  : >"$d/server.log"
  echo 0 >"$d/beat"
  exec 3<&0
  # 0.8.4–0.9.0 download where HF_HUB_CACHE says (later ones where --hf-cache does): the cache mrs reads either way
  HF_HUB_CACHE=$hub "$bin" "$@" >>"$d/server.log" 2>&1 </dev/null &
  pid=$!
  say started "$pid" "$d/server.log"
  tail -n +1 -f "$d/server.log" >&2 &
  helpers=$!
  (
    n=0
    while IFS= read -r req; do
      case $req in
        .) n=$((n + 1)); echo "$n" >"$d/beat" ;;
        prove) prove "$port" "$pid" ;;
        du\ *) eval "set -- $(printf '%b' "${'${'}req#du }")"; cached_bytes "$@" ;;
        config\ *) eval "set -- $(printf '%b' "${'${'}req#config }")"; config_of "$1" ;;
      esac
    done
    echo "[mrs] the connection to mrs closed: stopping mistral.rs" >>"$d/server.log"
    stop_all
  ) <&3 &
  helpers="$helpers $!"
  # a look every second at the heartbeat mrs sends every BEAT seconds: none for BEAT × MISSES seconds ends the run
  (
    last= same=0 limit=$((beat * misses))
    while sleep 1; do
      cur=$(cat "$d/beat" 2>/dev/null)
      if [ "$cur" = "$last" ]; then same=$((same + 1)); else same=0; last=$cur; fi
      if [ "$same" -ge "$limit" ]; then
        echo "[mrs] no word from mrs for $limit s (a dead network?): stopping mistral.rs" >>"$d/server.log"
        # mrs is gone, so no step will follow this one: the job need not wait out its lease
        [ -n "$job" ] && : >"$job/gone"
        stop_all
      fi
    done
  ) &
  helpers="$helpers $!"
  exec 3<&-
  wait "$pid"
  code=$?
  pid=0
  # the last lines reach the log's reader first
  nap; nap
  say exit "$code"
  # what the server left (a tool's child) goes with the run
  grace=1
  stop_all
}

mode=$1
shift
case $mode in
  probe) probe "$@" ;;
  serve) serve "$@" ;;
  *) say fail "unknown mode $mode"; exit 2 ;;
esac
`

/**
 * The remote command: the only text the remote login shell parses, with no
 * data in it. It reads one line, decodes it (`printf %b`: the line escapes
 * backslashes and newlines) and runs it in a POSIX login shell.
 */
export const BOOTSTRAP = `exec sh -lc 'IFS= read -r l && eval "$(printf %b "$l")"'`

/** Text as one line that `printf %b` turns back into it. */
export const encodeLine = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** Arguments as POSIX sh words (each single-quoted where it needs to be), for `eval "set -- …"` there. */
export const shWords = (args: readonly string[]) => args.map((a) => (a === '' ? "''" : shellQuote(a))).join(' ')

/** The first line the bootstrap reads: the program, run with these arguments. */
export const programLine = (mode: string, args: readonly string[]) => `${encodeLine(`set -- ${shWords([mode, ...args])}\n${PROGRAM}`)}\n`

/** A request to a running `serve`: `start`, `du`, `config` with arguments, as one line. */
export const requestLine = (verb: string, args: readonly string[]) => `${verb} ${encodeLine(shWords(args))}\n`

/** A file for the server's private dir (a from-config TOML), sent before `start`. */
export const fileLine = (name: string, content: string) => `file ${name} ${encodeLine(content)}\n`

/** A protocol line from the remote program, split; undefined for anything else. */
export function remoteEvent(line: string): { key: string; rest: string } | undefined {
  const m = /^@mrs (\S+)(?: (.*))?$/.exec(line.replace(/\r$/, ''))
  return m ? { key: m[1]!, rest: m[2] ?? '' } : undefined
}

/** `od` hex back to text. */
export const fromHex = (hex: string) => Buffer.from(hex.replace(/[^0-9a-f]/gi, ''), 'hex').toString('utf8')
