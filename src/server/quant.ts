/**
 * How mistral.rs quantizes a model, decided by mrs where and when the server
 * starts (the GPU of an SSH host or a Slurm node is known only there):
 *
 *   - the user's own quantization (`--isq`, `--quant`, `--from-uqff`, a GGUF
 *     file) is theirs: nothing is added;
 *   - a model that fits the accelerator at full precision is served so;
 *   - one that does not gets the largest level of mistral.rs's Balanced
 *     profile that fits the accelerator alone (`--quant q4k`, which also
 *     takes a pre-quantized `-UQFF` sibling repository when there is one;
 *     `--isq q4k` before 0.8.2);
 *   - one that fits at no level gets `--quant auto`, mistral.rs's own
 *     analysis, which may put layers on the CPU.
 *
 * Not `--quant auto` for every model: its Balanced profile recommends q6k
 * whenever q6k fits, so a model that fits at full precision loads quantized
 * (an ISQ pass at every load), and it counts free RAM as room, so a CPU-
 * offloaded q6k wins over a q4k that fits the GPU (read in v0.9.2:
 * mistralrs-core/src/tuning.rs `default_candidates` and the recommendation,
 * pipeline/loaders/auto_device_map.rs `get_device_layers`).
 */
import { compareVersions } from '../version.js'
import type { Accelerator } from '../models/accelerator.js'
import { fitOf, levelBytes, levelsFor, memoryText, type ModelWeight } from '../models/fit.js'
import { formatBytes } from './download.js'
import { QUANT_AUTO_SINCE } from './mistralrs.js'

export interface QuantChoice {
  /** For `mistralrs serve` (none: full precision); `[models.quantization]` of from-config takes `quant`. */
  args: string[]
  /** `full precision`, `q4k`, `--quant auto`, `as published`. */
  label: string
  /** Why, for the ready line. */
  why: string
}

/** What is known where the server runs, when it starts. */
export interface QuantFacts {
  /** The model's weights, when known (downloaded, its weight index, the recommended list). */
  model?: ModelWeight
  accelerator?: Accelerator
  /** mistralrs's version there (`--quant` from 0.8.2; `--isq` before). */
  version?: string
}

const GB = 1e9
const hasQuantFlag = (version: string | undefined) => version === undefined || compareVersions(version, QUANT_AUTO_SINCE) >= 0

export function chooseQuant(facts: QuantFacts): QuantChoice {
  const { model, accelerator, version } = facts
  if (!model)
    return {
      args: [],
      label: 'full precision',
      why: "its size is not known here before it is downloaded (mistral.rs puts what does not fit the GPU on the CPU; --server-arg=--quant --server-arg=auto quantizes it)",
    }
  if (model.prequantized) return { args: [], label: 'as published', why: 'it is published already quantized' }
  if (!accelerator || accelerator.unknown || !accelerator.totalBytes) return { args: [], label: 'full precision', why: 'the memory there is not known' }
  const weights = formatBytes(model.downloadGB * GB)
  const where = `the ${memoryText(accelerator)}`
  const fit = fitOf(model, accelerator)
  if (fit === 'full') return { args: [], label: 'full precision', why: `${weights} of weights fit ${where}` }
  const flag = hasQuantFlag(version) ? '--quant' : '--isq'
  if (fit === 'no') {
    const smallest = levelsFor(accelerator).at(-1)!
    if (!hasQuantFlag(version)) return { args: ['--isq', smallest], label: smallest, why: `${weights} of weights do not fit ${where}, not even as ${smallest}; this mistral.rs has no --quant auto` }
    return { args: ['--quant', 'auto'], label: '--quant auto', why: `${weights} of weights do not fit ${where}, not even as ${smallest} (~${formatBytes(levelBytes(model, smallest))}): mistral.rs's own analysis decides, and may put layers on the CPU` }
  }
  return { args: [flag, fit], label: fit, why: `${weights} of weights do not fit ${where} at full precision; as ${fit} (~${formatBytes(levelBytes(model, fit))}) they do` }
}
