/**
 * Does a model fit this machine? Weights at full precision, else at about
 * 8 or 4 bits (what `--quant auto` would pick), plus room for the KV cache.
 * An estimate for choosing, not a promise: mistral.rs's own analysis
 * (`--quant auto`, `mistralrs tune`) has the last word.
 */
import { usableBytes, type Accelerator } from './accelerator.js'

export type Fit = 'full' | 'q8' | 'q4' | 'no'

const GB = 1e9
/** Bytes per parameter at the levels --quant auto picks from (q8_0 ~8.5 bits, q4k ~4.5 bits). */
const Q8 = 1.07
const Q4 = 0.57
/** Room for the KV cache and activations. */
const HEADROOM = 1.15

export function fitOf(model: { params?: number; downloadGB: number; prequantized?: boolean }, accelerator: Accelerator): Fit {
  const room = usableBytes(accelerator)
  if (model.downloadGB * GB * HEADROOM <= room) return 'full'
  // published already quantized: --quant auto has nothing left to shrink
  if (model.prequantized) return 'no'
  // without a parameter count (a cached model), assume BF16 weights on disk
  const params = (model.params ?? model.downloadGB / 2) * GB
  if (params * Q8 * HEADROOM <= room) return 'q8'
  if (params * Q4 * HEADROOM <= room) return 'q4'
  return 'no'
}

/** `fits 24 GB GPU`, …; an undefined fit is a partial download whose full size is unknown. */
export function describeFit(fit: Fit | undefined, accelerator: Accelerator): string {
  if (accelerator.unknown) return `fit unknown: ${accelerator.name}`
  if (fit === undefined) return 'fit unknown until the download is complete'
  const where = `${(accelerator.totalBytes / 2 ** 30).toFixed(0)} GB ${accelerator.kind === 'cpu' ? 'RAM' : accelerator.kind === 'metal' ? 'unified' : 'GPU'}`
  switch (fit) {
    case 'full':
      return `fits ${where}`
    case 'q8':
      return `fits ${where} at ~8 bits (--quant auto)`
    case 'q4':
      return `fits ${where} at ~4 bits (--quant auto)`
    case 'no':
      return `too big for ${where}`
  }
}
