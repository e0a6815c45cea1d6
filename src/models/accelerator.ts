/**
 * How much memory the model can use here: NVIDIA GPUs (nvidia-smi), Apple
 * silicon (unified memory, sysctl hw.memsize), else the CPU and system
 * memory. Asked only where it is shown (doctor, the picker, `mrs models`),
 * never on the way to a launch.
 */
import { freemem, totalmem } from 'node:os'
import type { Env } from '../paths.js'
import { capture } from '../process/run.js'
import { findExecutable } from '../process/which.js'

export interface Accelerator {
  kind: 'cuda' | 'metal' | 'cpu'
  /** `2 × NVIDIA GeForce RTX 4090`, `Apple silicon`, `CPU`. */
  name: string
  totalBytes: number
  freeBytes?: number
  /** Why the GPU could not be asked (nvidia-smi failing), when it could not. */
  problem?: string
  /** Not known before the server runs (a Slurm job's GPUs): nothing is judged to fit or not. */
  unknown?: boolean
}

const MIB = 1024 * 1024

async function run(binary: string, args: string[], env: Env): Promise<{ ok: boolean; out: string; error?: string }> {
  const r = await capture(binary, args, { env, timeoutMs: 5000 })
  return { ok: r.ok, out: r.stdout, error: r.problem }
}

/** `NVIDIA GeForce RTX 4090, 24564, 1024` lines (name, total MiB, used MiB) → one accelerator (mistral.rs maps a model across GPUs). */
export function parseNvidiaSmi(text: string): Omit<Accelerator, 'problem'> | undefined {
  const gpus = text
    .trim()
    .split('\n')
    .map((l) => l.split(',').map((f) => f.trim()))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!))
  if (!gpus.length) return undefined
  const total = gpus.reduce((n, g) => n + Number(g[1]) * MIB, 0)
  const used = gpus.reduce((n, g) => n + Number(g[2]) * MIB, 0)
  const names = [...new Set(gpus.map((g) => g[0]!))]
  return { kind: 'cuda', name: `${gpus.length > 1 ? `${gpus.length} × ` : ''}${names.join(' + ')}`, totalBytes: total, freeBytes: total - used }
}

export async function detectAccelerator(env: Env, platform: NodeJS.Platform = process.platform): Promise<Accelerator> {
  const cpu: Accelerator = { kind: 'cpu', name: 'CPU', totalBytes: totalmem(), freeBytes: freemem() }
  const smi = findExecutable('nvidia-smi', env)
  if (smi) {
    const r = await run(smi, ['--query-gpu=name,memory.total,memory.used', '--format=csv,noheader,nounits'], env)
    const gpu = r.ok ? parseNvidiaSmi(r.out) : undefined
    if (gpu) return gpu
    return { ...cpu, problem: `nvidia-smi ${r.ok ? 'listed no GPU' : `failed: ${r.error}`}; assuming the CPU` }
  }
  if (platform === 'darwin') {
    const r = await run('sysctl', ['-n', 'hw.memsize'], env)
    const bytes = Number(r.out.trim())
    if (r.ok && bytes > 0) return { kind: 'metal', name: 'Apple silicon (unified memory)', totalBytes: bytes }
  }
  return cpu
}

/** What a host said of itself (nvidia-smi's lines, its memory, Apple silicon or not) → its accelerator. */
export function acceleratorOf(facts: { gpus: readonly string[]; memory?: number; available?: number; unified: boolean }): Accelerator {
  const gpu = facts.gpus.length ? parseNvidiaSmi(facts.gpus.join('\n')) : undefined
  const memory = facts.memory ?? 0
  return gpu ?? (facts.unified ? { kind: 'metal', name: 'Apple silicon (unified memory)', totalBytes: memory } : { kind: 'cpu', name: 'CPU', totalBytes: memory, freeBytes: facts.available })
}

/** The memory a model may fill: most of a GPU's, less of the system's (the OS and the client live there too). */
export const usableBytes = (a: Accelerator) => a.totalBytes * (a.kind === 'cpu' ? 0.6 : 0.9)
