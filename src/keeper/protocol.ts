/**
 * The keeper is a small detached process that owns one mistral.rs server.
 * Sessions (`mrs NAME` for a client, `mrs serve`, `mrs check`) hold leases on it: the
 * creator through the keeper's stdin/stdout pipes, others through its Unix
 * socket. A lease is a connection, so when a session dies, even by SIGKILL,
 * the kernel closes it and the keeper learns at once. Messages are one JSON
 * object per line.
 */
import type { Readable, Writable } from 'node:stream'
import type { ServerSpec } from '../server/spec.js'
import type { MetricsSummary } from '../server/metrics.js'
import type { PlaceSpec } from '../places/kinds.js'

export interface KeeperStart {
  t: 'start'
  id: string
  /** Share key; null for a private server (`--no-share`). */
  key: string | null
  /** Family key (binary, host, tools, args): servers a launch without -m may use. Null when private. */
  family: string | null
  spec: ServerSpec
  /** The front door's port: the one clients use (0: a free one). */
  port: number
  portExplicit: boolean
  /** Log file the keeper's stderr already points at; null when it could not be created. */
  logPath: string | null
  registryPath: string
  socketPath: string
  /** Private dir for files the server needs (a from-config TOML). */
  tmpDir: string
  graceMs: number
  restarts: number
  keepAliveMs: number
}

export type ServerState = 'loading' | 'ready' | 'restarting' | 'stopping'

/** What `mrs ps` shows and the registry file holds. */
export interface ServerInfo {
  id: string
  key: string | null
  family: string | null
  shared: boolean
  keeperPid: number
  /** The keeper's start time (see `startTime`): with the PID, it tells the keeper from a later process reusing the PID. */
  keeperStart?: string
  /** Where the server runs. */
  place: PlaceSpec
  /** The current local process of the server (mistral.rs itself, or the ssh or srun client of a remote one); also its process group id (0 between a crash and the restart). */
  serverPid: number
  /** The server process's start time; without it, mrs never kills a process on this entry's word. */
  serverStart?: string
  /** The local process's command line when it is not mistralrs itself (the ssh or srun client of a remote server). */
  localArgv?: string[]
  /** The front door: the port clients use, held by the keeper. */
  port: number
  host: string
  url: string
  /** Where the keeper reaches mistral.rs (its loopback port, or a tunnel), for people. */
  backend?: string
  /** The place now, for `mrs ps` (a Slurm job: its id, node and time left). */
  placeStatus?: string
  models: string[]
  /** The server's exact command line (binary and argv), as it runs now (after a retry without `--quant auto`, too). */
  binary: string
  argv: string[]
  logPath: string | null
  socketPath: string
  /** The server's private temp dir (a from-config TOML). */
  tmpDir: string
  startedAt: number
  state: ServerState
  /** The ids GET /v1/models listed when it became ready. */
  servedIds?: string[]
  /** The context it was sized for (`--context`), if any. */
  requestedContext?: number
  /** The context window a client is told: the requested one, else the smaller of what the KV cache holds and what the model takes. */
  contextWindow?: number
  /** What PagedAttention's KV cache holds in all, from the load log. */
  kvCacheTokens?: number
  /** The model's own maximum (max_position_embeddings). */
  modelContext?: number
  /** The quantization it runs with and why (mrs's choice, mistral.rs's own `--quant auto` pick, or why a choice was dropped); absent: the user's own. */
  quant?: string
  /** The repository whose weights are loaded, when `--quant auto` switched to a pre-quantized one. */
  weightsRepo?: string
  /** Live speed and load from /metrics (undefined: the server has no /metrics). */
  metrics?: MetricsSummary
  /** Why `metrics` is absent, when the server says (an older mistral.rs, --disable-metrics). */
  metricsNote?: string
  /** mistralrs's version where it runs, when known. */
  version?: string
  restarts: number
  sessions: number
}

export type KeeperEvent =
  | { t: 'hello'; info: ServerInfo }
  | { t: 'line'; line: string }
  | { t: 'ready'; info: ServerInfo; restarted: boolean }
  /** The backend port was taken before mistral.rs could bind it (`by`: who holds it, when mrs saw it): starting again on another. */
  | { t: 'port-retry'; from?: number; to?: number; by?: string }
  /** Bytes downloaded into the model's cache since the load began. */
  | { t: 'download'; bytes: number }
  | {
      t: 'exited'
      code: number | null
      signal: string | null
      tail: string[]
      during: 'load' | 'session'
      portInUse: boolean
      /** The place lost the server without learning how it ended (a dropped connection, an ended job): why. */
      lost?: string
      /** The place knows what went wrong before mistral.rs ran (no mistralrs there, a refused job): said as is, with this exit code. */
      failure?: { message: string; exitCode: number }
      /** Nothing can be started again there (its Slurm job ended). */
      final?: boolean
      /** Set when the keeper will restart it. */
      restart?: { attempt: number; max: number; delayMs: number }
    }
  | { t: 'stopped'; reason: StopReason; forced: boolean; asked?: number }
  /** `asked`: requests for an answer while the lease was held (its client's, and any other session's at the same time). */
  | { t: 'released'; stopping: boolean; sessions: number; asked?: number }
  /** The keeper cannot serve this session (`exitCode`: the code mrs exits with, when it is not a plain refusal). */
  | { t: 'refused'; reason: string; exitCode?: number }
  | { t: 'status'; info: ServerInfo }
  | { t: 'warning'; message: string }
  /** Something the user should know about the load: the quantization chosen, another weights repository. */
  | { t: 'note'; message: string }
  /** The quantization mrs chose (`tried`) failed: starting again at full precision. */
  | { t: 'quant-retry'; tried: string; reason: string }

export type StopReason = 'released' | 'stop-command' | 'gave-up' | 'failed' | 'signal' | 'timeout'

export type SessionMessage =
  | { t: 'attach'; pid: number; keepAliveMs: number }
  | { t: 'client'; pid: number }
  | { t: 'release'; keepAliveMs?: number }
  | { t: 'stop' }
  /** `metrics`: sample /metrics first, so `mrs ps` shows the load of this moment. */
  | { t: 'status'; metrics?: boolean }

/** Calls `onMessage` for each JSON line of `input`; malformed lines are ignored. */
export function readMessages<T>(input: Readable, onMessage: (message: T) => void): void {
  let buffer = ''
  input.setEncoding('utf8')
  input.on('data', (chunk: string) => {
    buffer += chunk
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (!line.trim()) continue
      let message: T
      try {
        message = JSON.parse(line) as T
      } catch {
        continue
      }
      onMessage(message)
    }
  })
}

/** Writes one message; false when the other side is gone. */
export function writeMessage(output: Writable, message: KeeperEvent | SessionMessage | KeeperStart): boolean {
  if (output.destroyed || output.writableEnded) return false
  try {
    output.write(`${JSON.stringify(message)}\n`)
    return true
  } catch {
    return false
  }
}
