/**
 * Finds a model's context length from its config.json, when the weights are
 * already on this machine: a local model directory, or the Hugging Face hub
 * cache (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). Nothing is
 * downloaded.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { type Env, xdgDir } from './paths.js'

export function hubCacheDir(env: Env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE
  if (env.HF_HOME) return join(env.HF_HOME, 'hub')
  return join(xdgDir(env, 'XDG_CACHE_HOME', '.cache'), 'huggingface', 'hub')
}

/** `Qwen/Qwen3-4B` → `<hub>/models--Qwen--Qwen3-4B` */
export const repoCacheDir = (hub: string, modelId: string) => join(hub, `models--${modelId.replace(/\//g, '--')}`)

/** Path of the model's config.json on this machine, if any. */
export function findModelConfig(modelId: string, env: Env): string | undefined {
  const local = join(modelId, 'config.json')
  if ((modelId.startsWith('/') || modelId.startsWith('.')) && existsSync(local)) return local
  const repo = repoCacheDir(hubCacheDir(env), modelId)
  const snapshots = join(repo, 'snapshots')
  let revision: string | undefined
  try {
    revision = readFileSync(join(repo, 'refs', 'main'), 'utf8').trim()
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
  const path = revision ? join(snapshots, revision, 'config.json') : undefined
  return path && existsSync(path) ? path : undefined
}

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

export function localContextWindow(modelId: string, env: Env): { tokens: number; source: string } | undefined {
  const path = findModelConfig(modelId, env)
  if (!path) return undefined
  try {
    const tokens = contextFromConfig(JSON.parse(readFileSync(path, 'utf8')))
    return tokens ? { tokens, source: path } : undefined
  } catch {
    return undefined
  }
}

/** Models already in the hub cache, for `mrs doctor`. */
export function cachedModels(env: Env): string[] {
  try {
    return readdirSync(hubCacheDir(env))
      .filter((n) => n.startsWith('models--'))
      .map((n) => n.slice('models--'.length).replace(/--/g, '/'))
  } catch {
    return []
  }
}
