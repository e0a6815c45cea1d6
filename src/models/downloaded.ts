/**
 * What mrs says about a downloaded model, the same in the picker, `mrs
 * models` and `mrs doctor`: its size (an unfinished download against the
 * size it will have, when that is known), when it was last used, and
 * whether it fits — judged on the whole model, never on the bytes that
 * happen to be there.
 */
import type { CachedModel } from '../hf.js'
import { formatBytes } from '../server/download.js'
import type { Accelerator } from './accelerator.js'
import { fitOf, type Fit, type ModelWeight } from './fit.js'
import { RECOMMENDED } from './recommended.js'

/** The size a partial download will have: the repository's weight index, else the recommended list's figure. */
export function fullSizeOf(model: CachedModel): { bytes: number; text: string } | undefined {
  if (!model.partial) return undefined
  if (model.fullBytes) return { bytes: model.fullBytes, text: formatBytes(model.fullBytes) }
  const known = RECOMMENDED.find((r) => r.id === model.id)
  // said as the recommended list says it, so the two rows of one model show one figure
  return known ? { bytes: known.downloadGB * 1e9, text: `${known.downloadGB} GB` } : undefined
}

/** What a cached model is: downloaded, a partial download, or in Python's cache only (mistral.rs would download it again). */
export function stateText(model: CachedModel): string {
  if (model.elsewhere) return `only in Python's Hugging Face cache ${model.elsewhere}, which mistral.rs does not read`
  return model.partial ? 'partial download' : 'downloaded'
}

/** The note under a list that has models only in Python's cache: how to serve them from there. */
export const elsewhereNote = (models: readonly CachedModel[]) => {
  const dir = models.find((m) => m.elsewhere)?.elsewhere
  return dir ? `models only in ${dir} (Python's cache, from XDG_CACHE_HOME) would be downloaded again by mistral.rs, which reads HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub: set HF_HUB_CACHE=${dir} to serve them from there` : undefined
}

/** `12 MB`; a partial download `977 KB of 47 GB` when its full size is known (the caller says it is partial). */
export function sizeText(model: CachedModel): string {
  const full = fullSizeOf(model)
  return full ? `${formatBytes(model.bytes)} of ${full.text}` : formatBytes(model.bytes)
}

/**
 * What a model's weights weigh once downloaded: what is in the cache when
 * complete, else its weight index's total, else the recommended list's
 * figure; undefined when none says (a partial download's bytes so far say
 * nothing).
 */
export function modelWeight(id: string, cached: CachedModel | undefined): ModelWeight | undefined {
  const known = RECOMMENDED.find((r) => r.id === id)
  const here = cached && !cached.elsewhere ? cached : undefined
  const bytes = here ? (here.partial ? fullSizeOf(here)?.bytes : here.bytes) : known ? known.downloadGB * 1e9 : undefined
  if (bytes === undefined) return undefined
  return { params: known?.params, prequantized: known?.prequantized, downloadGB: bytes / 1e9 }
}

/** Several models served together weigh their sum (unknown if any is). */
export function totalWeight(weights: readonly (ModelWeight | undefined)[]): ModelWeight | undefined {
  if (!weights.length || weights.some((w) => !w)) return undefined
  const all = weights as ModelWeight[]
  return {
    downloadGB: all.reduce((n, w) => n + w.downloadGB, 0),
    params: all.every((w) => w.params !== undefined) ? all.reduce((n, w) => n + w.params!, 0) : undefined,
    prequantized: all.some((w) => w.prequantized),
  }
}

/** Whether the whole model fits; undefined for a partial download of unknown size (its bytes so far say nothing). */
export function fitOfDownloaded(model: CachedModel, accelerator: Accelerator): Fit | undefined {
  const weight = modelWeight(model.id, { ...model, elsewhere: undefined })
  return weight && fitOf(weight, accelerator)
}

/** `just now`, `5 min ago`, `3 h ago`, `12 days ago`. */
export function ago(ms: number): string {
  const min = Math.floor(ms / 60_000)
  if (min < 1) return 'just now'
  if (min < 60) return `${min} min ago`
  const h = Math.floor(min / 60)
  return h < 48 ? `${h} h ago` : `${Math.floor(h / 24)} days ago`
}
