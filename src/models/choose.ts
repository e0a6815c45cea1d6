/**
 * Which model a launch uses when `-m` is not given, in this order (each rule
 * said on stderr):
 *   1. -m, MRS_MODEL, the preset's model (already in the settings);
 *   2. a server mrs runs that this launch may share (same binary, host,
 *      tools and server args): a loaded model is the one in use, and a second
 *      one beside it can exhaust the GPU. One: attach to it; several: the one
 *      serving the config file's model, else ask on a terminal, else exit 64;
 *   3. the config file's top-level model;
 *   4. on a terminal: a picker (downloaded models, then recommended ones, with
 *      whether they fit), then an offer to save the pick as the default;
 *   5. otherwise: exit 64 with how to choose, and the downloaded models.
 * With --url none of 2-5 applies: the remote server's ids decide.
 */
import { ExitCode, MrsError } from '../errors.js'
import type { ServerInfo } from '../keeper/protocol.js'
import { cachedModels, type CachedModel } from '../hf.js'
import type { Inventory } from '../places/types.js'
import type { Env } from '../paths.js'
import { formatTokens, printable } from '../text.js'
import { RECOMMENDED } from './recommended.js'
import { describeFit, fitOf } from './fit.js'
import { ago, sizeText, stateText } from './downloaded.js'
import { detectAccelerator, type Accelerator } from './accelerator.js'
import type { ModelSource } from '../config/resolve.js'

export interface ModelChoice {
  model: string
  smallModel?: string
  /** The running server chosen by rule 2: attach to exactly this one. */
  server?: ServerInfo
  /** Why this model, for stderr (undefined when the user named it with -m). */
  rule?: string
  /** The picker chose it (an offer to save it as the default follows). */
  picked?: boolean
}

export interface ChooseInput {
  model?: string
  smallModel?: string
  modelSource?: ModelSource
  preset?: string
  /** The config file's own top-level model, and the file. */
  configModel?: string
  configPath: string
  /** Running servers this launch may share (rule 2); none for `mrs serve`. */
  shareable: ServerInfo[]
  interactive: boolean
  env: Env
  /** What the picker says it is choosing for: a client's title, or `mrs serve`. */
  forWhat: string
  /** The models downloaded where the server runs, and its memory (default: this machine's). */
  inventory?: () => Promise<Inventory>
  warn(message: string): void
}

const RULE: Record<ModelSource, string> = { flag: '', env: 'from MRS_MODEL', preset: 'from the preset', config: 'from the config file' }

/** Why rule 1 chose the model, for stderr (nothing when the user named it with -m). */
export const namedBy = (source: ModelSource, preset?: string) => (source === 'flag' ? undefined : source === 'preset' ? `${RULE.preset} ${preset}` : RULE[source])

export async function chooseModel(input: ChooseInput): Promise<ModelChoice> {
  const { model, modelSource } = input
  // rule 1
  if (model && modelSource && modelSource !== 'config')
    return { model, smallModel: input.smallModel, rule: namedBy(modelSource, input.preset) }
  // rule 2
  if (input.shareable.length) {
    const server = await pickServer(input)
    return { model: server.models[0]!, smallModel: server.models[1], server, rule: `the model of the running server ${server.id}` }
  }
  // rule 3
  if (model) return { model, smallModel: input.smallModel, rule: `${RULE.config} ${input.configPath}` }
  // rule 4
  if (input.interactive) return { model: await pickModel(input), smallModel: input.smallModel, rule: 'picked', picked: true }
  // rule 5
  const { models, problem } = input.inventory ? await input.inventory() : cachedModels(input.env)
  if (problem) input.warn(problem)
  const listed = models.map((m) => `${printable(m.id)}  ${sizeText(m)}${m.elsewhere ? ` (${stateText(m)})` : m.partial ? ' (partial download)' : ''}`)
  throw new MrsError(
    `no model: pass -m MODEL, set MRS_MODEL, or put model = "..." in ${input.configPath}${listed.length ? '; downloaded models:' : ' (no models are downloaded yet; see mrs models)'}`,
    ExitCode.Usage,
    listed,
  )
}

/** Rule 2 with several servers: the one serving the config file's model, else ask, else list them. */
async function pickServer(input: ChooseInput): Promise<ServerInfo> {
  const servers = input.shareable
  if (servers.length === 1) return servers[0]!
  const configured = servers.find((s) => input.configModel !== undefined && s.models[0] === input.configModel)
  if (configured) return configured
  if (input.interactive) {
    const { pickFromFew } = await import('./picker.js')
    const id = await pickFromFew(
      `${servers.length} servers are running; which model for ${input.forWhat}?`,
      servers.map((s) => ({ value: s.id, label: `${s.models.join(' + ')}  (${s.id} · ${s.url} · ${s.sessions} session${s.sessions === 1 ? '' : 's'})` })),
    )
    return servers.find((s) => s.id === id)!
  }
  throw new MrsError(
    `${servers.length} servers are running: choose one with -m MODEL (or stop one with mrs stop ID)`,
    ExitCode.Usage,
    servers.map((s) => `${s.id}  ${s.models.join(' + ')}  ${s.url}`),
  )
}

export interface ModelRow {
  value: string
  label: string
  hint: string
}

/** The picker's rows: downloaded models first (size, last use, unfinished), then recommended ones (download size, fit). */
export function modelRows(cache: { models: CachedModel[]; problem?: string }, accelerator: Accelerator, now = Date.now()): { rows: ModelRow[]; problem?: string } {
  const { models, problem } = cache
  // the facts go in the label: a picker shows a row's hint only while it is focused
  const rows: ModelRow[] = models.map((m) => ({
    value: m.id,
    label: `${printable(m.id)}  (${[`${stateText(m)}, ${sizeText(m)}`, m.lastUsed ? `used ${ago(now - m.lastUsed)}` : '', m.contextWindow ? `${formatTokens(m.contextWindow)} context` : ''].filter(Boolean).join(' · ')})`,
    hint: '',
  }))
  for (const r of RECOMMENDED) {
    if (rows.some((row) => row.value === r.id)) continue
    rows.push({ value: r.id, label: `${r.id}  (recommended · download ${r.downloadGB} GB · ${describeFit(fitOf(r, accelerator), accelerator)})`, hint: r.why })
  }
  return { rows, problem }
}

/** The row for what the user typed when it is no row's id: the same label whether or not other rows match too. */
export const typedRow = (typed: string): ModelRow => ({ value: typed, label: `${printable(typed)}  (as typed: a Hugging Face id or a local directory)`, hint: '' })

async function pickModel(input: ChooseInput): Promise<string> {
  const inventory = input.inventory ? await input.inventory() : { ...cachedModels(input.env), accelerator: await detectAccelerator(input.env) }
  const { accelerator } = inventory
  if (accelerator.problem) input.warn(accelerator.problem)
  const { rows, problem } = modelRows(inventory, accelerator)
  if (problem) input.warn(problem)
  const { pickOne } = await import('./picker.js')
  const memory = `${accelerator.name}, ${(accelerator.totalBytes / 2 ** 30).toFixed(0)} GB${accelerator.freeBytes !== undefined ? ` (${(accelerator.freeBytes / 2 ** 30).toFixed(0)} GB free)` : ''}`
  return pickOne(`Model for ${input.forWhat} — ${memory}`, rows, typedRow)
}
