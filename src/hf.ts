/**
 * What the Hugging Face hub cache says about models on this machine: which are
 * there, how big, when last used, whether a download is unfinished, and a
 * model's context length from its config.json. Nothing is downloaded.
 *
 * The cache is where mistral.rs looks (mistralrs-core/src/pipeline/hf.rs,
 * `hf_hub_cache_dir`): HF_HUB_CACHE, else HF_HOME/hub, else
 * ~/.cache/huggingface/hub — never $XDG_CACHE_HOME, which Python's
 * huggingface_hub does honour: a model only there is shown as such (it
 * would be downloaded again), not as ready to serve.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { readRegularFile } from './files.js'
import { join, resolve } from 'node:path'
import type { Env } from './paths.js'

/** `dirs::home_dir()` on Unix: $HOME when set and not empty, else the passwd entry's. */
const homeOf = (env: Env) => env.HOME || homedir()

export function hubCacheDir(env: Env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE
  if (env.HF_HOME) return join(env.HF_HOME, 'hub')
  return join(homeOf(env), '.cache', 'huggingface', 'hub')
}

/** Python's hub cache when it is not mistral.rs's: $XDG_CACHE_HOME/huggingface/hub, where neither HF_HUB_CACHE nor HF_HOME is set. */
export function otherHubCacheDir(env: Env): string | undefined {
  if (env.HF_HUB_CACHE || env.HF_HOME || !env.XDG_CACHE_HOME) return undefined
  const python = join(env.XDG_CACHE_HOME, 'huggingface', 'hub')
  return resolve(python) === resolve(hubCacheDir(env)) ? undefined : python
}

/**
 * A blob still arriving: hf-hub 0.4 (mistral.rs) writes `<etag>.part` (its
 * sync API, used for weights) or `<etag>.sync.part` (tokio), Python's hub
 * `<etag>.incomplete`. The `<etag>.lock` hf-hub leaves beside a blob stays
 * after a finished download too, so it says nothing.
 */
export const isUnfinishedBlob = (name: string) => /\.(part|incomplete)$/.test(name)
const isLockFile = (name: string) => name.endsWith('.lock')

/** `Qwen/Qwen3-4B` → `<hub>/models--Qwen--Qwen3-4B` */
export const repoCacheDir = (hub: string, modelId: string) => join(hub, `models--${modelId.replace(/\//g, '--')}`)

/** The snapshot directory of a cached model (refs/main's revision, else the newest), if any. */
function snapshotDir(repo: string): string | undefined {
  const snapshots = join(repo, 'snapshots')
  let revision: string | undefined
  try {
    revision = readRegularFile(join(repo, 'refs', 'main'), 4096).trim()
  } catch {
    // no refs/main: take the newest snapshot
    try {
      revision = readdirSync(snapshots)
        .map((name) => ({ name, mtime: statSync(join(snapshots, name)).mtimeMs }))
        .sort((a, b) => b.mtime - a.mtime)[0]?.name
    } catch {
      return undefined
    }
  }
  return revision ? join(snapshots, revision) : undefined
}

/** Path of the model's config.json on this machine, if any. */
export function findModelConfig(modelId: string, env: Env, hub = hubCacheDir(env)): string | undefined {
  const local = join(modelId, 'config.json')
  if ((modelId.startsWith('/') || modelId.startsWith('.')) && existsSync(local)) return local
  const snapshot = snapshotDir(repoCacheDir(hub, modelId))
  const path = snapshot ? join(snapshot, 'config.json') : undefined
  return path && existsSync(path) ? path : undefined
}

/** A sharded model's weight index names every tensor: a few MB for the biggest mixtures of experts. */
const INDEX_MAX_BYTES = 32 * 1024 * 1024
const WEIGHT_INDEXES = ['model.safetensors.index.json', 'pytorch_model.bin.index.json']

/**
 * The full size of a model's weights, from the index a sharded repository
 * publishes (`metadata.total_size`), which arrives before the shards: what
 * an unfinished download will weigh once done.
 */
export function indexedWeightBytes(repo: string): number | undefined {
  const snapshot = snapshotDir(repo)
  if (!snapshot) return undefined
  for (const name of WEIGHT_INDEXES) {
    try {
      const total = (JSON.parse(readRegularFile(join(snapshot, name), INDEX_MAX_BYTES)) as { metadata?: { total_size?: unknown } })?.metadata?.total_size
      if (typeof total === 'number' && Number.isFinite(total) && total > 0) return total
    } catch {
      // not there, or not an index: the size stays unknown
    }
  }
  return undefined
}

/** A model's config.json is a few KB; a multimodal one tens of KB. */
const CONFIG_MAX_BYTES = 1024 * 1024

const CONTEXT_KEYS = ['max_position_embeddings', 'max_sequence_length', 'seq_length', 'n_positions', 'max_seq_len', 'model_max_length']

/** The context length a config.json declares (also inside `text_config` for multimodal models). */
export function contextFromConfig(config: unknown): number | undefined {
  const tables = [config, (config as { text_config?: unknown })?.text_config]
  for (const table of tables) {
    if (!table || typeof table !== 'object') continue
    for (const key of CONTEXT_KEYS) {
      const v = (table as Record<string, unknown>)[key]
      if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 100_000_000) return v
    }
  }
  return undefined
}

/** The context length in a model's config.json; `problem` says why there is none when the file is there but unusable. */
export function localContextWindow(modelId: string, env: Env, hub?: string): { tokens?: number; source?: string; problem?: string } {
  const path = findModelConfig(modelId, env, hub)
  if (!path) return {}
  let text: string
  try {
    text = readRegularFile(path, CONFIG_MAX_BYTES)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return { source: path, problem: code === 'ENOTREGULAR' || code === 'ETOOBIG' ? (e as Error).message : `${path} cannot be read (${code})` }
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (e) {
    return { source: path, problem: `${path} is not valid JSON (${(e as Error).message.split('\n')[0]})` }
  }
  const tokens = contextFromConfig(config)
  return tokens ? { tokens, source: path } : { source: path, problem: `${path} names no context length` }
}

export interface CachedModel {
  id: string
  /** Bytes of its blobs on disk. */
  bytes: number
  /** When it was last downloaded into or its revision changed (ms since the epoch). */
  lastUsed: number
  /** A download was left unfinished (`*.part`, `*.sync.part`, `*.incomplete` blobs), or no weights arrived. */
  partial: boolean
  /** Only in Python's hub cache (this path), not where mistral.rs looks: it would download it again. */
  elsewhere?: string
  /** What an unfinished download's weights will weigh, from the repository's weight index, when it has one. */
  fullBytes?: number
  /** From its config.json, when there. */
  contextWindow?: number
}

/** Models in the hub cache, most recently used first; `problem` is set when the cache cannot be read. Models only in Python's cache come last, marked `elsewhere`. */
export function cachedModels(env: Env): { models: CachedModel[]; problem?: string } {
  const hub = hubCacheDir(env)
  const { models, problem } = modelsIn(hub, env)
  const other = otherHubCacheDir(env)
  if (!other) return { models, problem }
  const here = new Set(models.map((m) => m.id))
  const elsewhere = modelsIn(other, env).models.filter((m) => !here.has(m.id)).map((m) => ({ ...m, elsewhere: other }))
  return { models: [...models, ...elsewhere], problem }
}

function modelsIn(hub: string, env: Env): { models: CachedModel[]; problem?: string } {
  let names: string[]
  try {
    names = readdirSync(hub)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return { models: [], problem: code === 'ENOENT' ? undefined : `cannot read the Hugging Face cache ${hub} (${code})` }
  }
  const models = names.filter((name) => name.startsWith('models--')).map((name) => modelAt(hub, name, env))
  return { models: models.sort((a, b) => b.lastUsed - a.lastUsed) }
}

/** One model where mistral.rs looks, if it is there. */
export function cachedModel(id: string, env: Env): CachedModel | undefined {
  const hub = hubCacheDir(env)
  return existsSync(repoCacheDir(hub, id)) ? modelAt(hub, `models--${id.replace(/\//g, '--')}`, env) : undefined
}

/** What the cache holds of one repository (`models--ORG--NAME`). */
function modelAt(hub: string, name: string, env: Env): CachedModel {
  const id = name.slice('models--'.length).replace(/--/g, '/')
  const repo = join(hub, name)
  let bytes = 0
  let lastUsed = 0
  let partial = false
  let weights = false
  try {
    for (const blob of readdirSync(join(repo, 'blobs'))) {
      if (isLockFile(blob)) continue
      const st = statSync(join(repo, 'blobs', blob))
      bytes += st.size
      lastUsed = Math.max(lastUsed, st.mtimeMs, st.atimeMs)
      if (isUnfinishedBlob(blob)) partial = true
      else if (st.size > 10 * 1024 * 1024) weights = true
    }
  } catch {
    // no blobs yet
  }
  try {
    lastUsed = Math.max(lastUsed, statSync(join(repo, 'refs', 'main')).mtimeMs)
  } catch {
    // no refs
  }
  const { tokens } = localContextWindow(id, env, hub)
  const unfinished = partial || !weights
  return { id, bytes, lastUsed, partial: unfinished, fullBytes: unfinished ? indexedWeightBytes(repo) : undefined, contextWindow: tokens }
}

/** A local model directory's weights (safetensors, PyTorch, GGUF files in it and below), in bytes; undefined when it has none. */
export function directoryWeightBytes(dir: string): number | undefined {
  let total = 0
  const walk = (d: string, depth: number) => {
    let names: string[]
    try {
      names = readdirSync(d)
    } catch {
      return
    }
    for (const name of names) {
      const path = join(d, name)
      let st
      try {
        st = statSync(path)
      } catch {
        continue
      }
      if (st.isDirectory() && depth < 2) walk(path, depth + 1)
      else if (st.isFile() && /\.(safetensors|bin|pt|pth|gguf|uqff)$/.test(name)) total += st.size
    }
  }
  walk(dir, 0)
  return total || undefined
}

/** `-m` names a local directory (as mistral.rs decides: it exists there), not a Hugging Face id. */
export const isLocalModel = (id: string) => existsSync(id) && statSync(id).isDirectory()
