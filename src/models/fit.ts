/**
 * Does a model fit? Its weights at full precision, else at the levels
 * mistral.rs's Balanced quantization profile tries (q6k, q5k, q4k, q3k; AFQ6,
 * AFQ4, AFQ3 on Metal: mistralrs-core/src/tuning.rs `default_candidates`),
 * each with room for the KV cache — on the accelerator alone. mistral.rs's
 * own `--quant auto` counts free system RAM as room too (a model offloaded to
 * the CPU "fits" there, and runs at CPU speed), and picks q6k even when the
 * full model fits; mrs chooses itself (server/quant.ts), by this estimate.
 */
import { usableBytes, type Accelerator } from './accelerator.js'

/** A quantization level of mistral.rs's Balanced profile, as `--quant`/`--isq` take it. */
export type Level = 'q6k' | 'q5k' | 'q4k' | 'q3k' | 'afq6' | 'afq4' | 'afq3'
/** Full precision, the largest level that fits, or nothing fits. */
export type Fit = 'full' | Level | 'no'

const GB = 1e9
/** Bits per weight of each level (k-quants: GGML's block sizes; AFQ: mlx's affine groups of 64 with a scale and bias). */
export const BITS: Record<Level, number> = { q6k: 6.5625, q5k: 5.5, q4k: 4.5, q3k: 3.4375, afq6: 6.5, afq4: 4.5, afq3: 3.5 }
/** The levels tried, best first (Metal has no 5-bit AFQ in the Balanced profile). */
export const levelsFor = (a: Pick<Accelerator, 'kind'>): Level[] => (a.kind === 'metal' ? ['afq6', 'afq4', 'afq3'] : ['q6k', 'q5k', 'q4k', 'q3k'])
/** Room for the KV cache and activations. */
const HEADROOM = 1.15

export interface ModelWeight {
  /** Billions of parameters, when known (else the weights are taken to be BF16 on disk). */
  params?: number
  downloadGB: number
  /** Published already quantized (MXFP4): it fits as published or not at all. */
  prequantized?: boolean
}

/** What a level's weights weigh, in bytes. */
export const levelBytes = (model: ModelWeight, level: Level) => (model.params ?? model.downloadGB / 2) * GB * (BITS[level] / 8)

export function fitOf(model: ModelWeight, accelerator: Accelerator): Fit {
  const room = usableBytes(accelerator)
  if (model.downloadGB * GB * HEADROOM <= room) return 'full'
  // published already quantized: nothing is left to shrink
  if (model.prequantized) return 'no'
  return levelsFor(accelerator).find((level) => levelBytes(model, level) * HEADROOM <= room) ?? 'no'
}

/** `fits 24 GB GPU`, `fits 24 GB GPU as q4k`, …; an undefined fit is a partial download whose full size is unknown. */
export function describeFit(fit: Fit | undefined, accelerator: Accelerator): string {
  if (accelerator.unknown) return `fit unknown: ${accelerator.name}`
  if (fit === undefined) return 'fit unknown until the download is complete'
  const where = memoryText(accelerator)
  if (fit === 'full') return `fits ${where}`
  if (fit === 'no') return `too big for ${where}`
  return `fits ${where} as ${fit}`
}

/** `24 GB GPU`, `64 GB unified`, `32 GB RAM`. */
export const memoryText = (a: Accelerator) => `${(a.totalBytes / 2 ** 30).toFixed(0)} GB ${a.kind === 'cpu' ? 'RAM' : a.kind === 'metal' ? 'unified' : 'GPU'}`
