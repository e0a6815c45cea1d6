/**
 * Where a server runs, as plain data (what the plan carries, the registry
 * records and `mrs ps` shows). The lowest floor of places/: the server's
 * spec, the keeper's protocol and the plan name a place by this data; what
 * each kind does is its own module (local.ts, ssh.ts, slurm.ts).
 */
import type { SlurmTable } from '../config/schema.js'

export interface LocalPlace {
  kind: 'local'
}

export interface SshPlace {
  kind: 'ssh'
  /** What `ssh` takes: an alias of ~/.ssh/config, user@host, ssh://user@host:port. */
  host: string
  /** mistralrs on the host, when not found the way a login shell there finds it. */
  mistralrs?: string
}

/** The user's choices for the job: `[slurm]`, with its `args` and then `--slurm-arg` as one list (`--gres=gpu:a100:1`, `--reservation=…`). */
export type SlurmOptions = Omit<SlurmTable, 'args' | 'nodes'> & { args: string[] }

export interface SlurmPlace {
  kind: 'slurm'
  /** The login node, over ssh (`--on LOGIN`); absent: this machine is one. */
  via?: string
  options: SlurmOptions
  /** Nodes for mistral.rs's multi-node tensor parallelism (1: one node). */
  nodes: number
  mistralrs?: string
}

export type PlaceSpec = LocalPlace | SshPlace | SlurmPlace
