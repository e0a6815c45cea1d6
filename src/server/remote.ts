/**
 * A server mrs did not start here (`--url`, `mrs env`/`setup` with a port):
 * the models it lists, the one a client should use, and — when it is one of
 * the user's own mrs servers after all — its record, which knows the window.
 */
import { ExitCode, MrsError } from '../errors.js'
import { formatCap, getJson, modelIds, MODEL_LIST_MAX_BYTES } from '../http.js'
import type { ServerInfo } from '../keeper/protocol.js'
import { nameOf, type Origins } from '../config/schema.js'
import type { Paths } from '../paths.js'
import { printable, shortList } from '../text.js'
import { listServers } from './registry.js'

/** The bearer header for a server behind a key held in `$apiKeyEnv` (none without one). */
export const keyHeaders = (apiKeyEnv: string | undefined, env: NodeJS.ProcessEnv) => (apiKeyEnv ? { authorization: `Bearer ${env[apiKeyEnv] ?? ''}` } : undefined)

/** The ids `GET /v1/models` lists, or one clear error (exit 69). */
export async function listModels(url: string, headers: Record<string, string> | undefined, apiKeyEnv: string | undefined, signal: AbortSignal, origins?: Origins): Promise<string[]> {
  let res
  try {
    res = await getJson(`${url}/v1/models`, { headers, timeoutMs: 10_000, maxBytes: MODEL_LIST_MAX_BYTES, signal })
  } catch (e) {
    if (signal.aborted) throw signal.reason
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message
    if (code === 'ETOOBIG') throw new MrsError(`${url}/v1/models sent more than ${formatCap(MODEL_LIST_MAX_BYTES)}, which is no model list; is this a mistral.rs server?`, ExitCode.Unreachable)
    if (code === 'ETIMEDOUT') throw new MrsError(`${url}/v1/models did not answer completely within 10 s; is this a mistral.rs server, and is it overloaded?`, ExitCode.Unreachable)
    throw new MrsError(`cannot reach ${url} (${code}); is the server running, and is ${nameOf(origins, 'url')} right?`, ExitCode.Unreachable)
  }
  if (res.status === 401 || res.status === 403)
    throw new MrsError(`${url} refused ${apiKeyEnv ? `the key in $${apiKeyEnv}${origins?.apiKeyEnv && origins.apiKeyEnv.kind !== 'flag' ? ` (${origins.apiKeyEnv.name})` : ''}` : 'the request (no key sent; pass --api-key-env VAR)'} with HTTP ${res.status}`, ExitCode.Unreachable)
  const ids = modelIds(res.body)
  if (res.status !== 200 || !ids)
    throw new MrsError(`${url}/v1/models answered HTTP ${res.status}${ids ? '' : ' without a model list'}; is this a mistral.rs server?`, ExitCode.Unreachable)
  return ids
}

/** Longer ids are not model ids (mistral.rs's are Hugging Face ids or paths): one could not even be passed to a client. */
export const MAX_MODEL_ID = 1024

/**
 * The model to use on a server that lists `ids`: the one asked for (it must be
 * served), else its only model by its real name, else the one it serves as
 * `default`. `why` says how it was chosen, for the "using …" line.
 */
export function chooseServed(url: string, ids: string[], asked: string | undefined): { model: string; why?: string } {
  if (asked && !ids.includes(asked)) throw new MrsError(`the server at ${url} does not serve "${asked}"; it serves: ${shortList(ids)}`, ExitCode.ModelNotServed)
  const real = ids.filter((id) => id !== 'default')
  const model = asked ?? (real.length === 1 ? real[0] : ids.includes('default') ? 'default' : ids[0])
  if (model === undefined) throw new MrsError(`the server at ${url} lists no model; is it a mistral.rs server?`, ExitCode.Unreachable)
  if (model.length > MAX_MODEL_ID || printable(model) !== model)
    throw new MrsError(`the server at ${url} names its model "${printable(model.slice(0, 60))}…" (${model.length} characters${printable(model) !== model ? ', with control characters' : ''}), which is no model id; is it a mistral.rs server?`, ExitCode.Unreachable)
  return { model, why: asked ? undefined : real.length === 1 ? 'the only one it serves' : `the server's default of ${real.length}` }
}

const origin = (url: string) => {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.hostname === 'localhost' ? '127.0.0.1' : u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`
  } catch {
    return url
  }
}

/** The user's own running mrs server at this URL (localhost and 127.0.0.1 alike), if it is one. */
export async function ownServerAt(url: string, paths: Paths): Promise<ServerInfo | undefined> {
  const want = origin(url)
  return (await listServers(paths)).map((e) => e.info).find((i) => i.state === 'ready' && origin(i.url) === want)
}
