/**
 * Where the settings come from, merged in one place:
 * defaults < config file < preset < MRS_* environment < flags.
 * With a remote server (`url`), the config file's top-level `model` is not
 * used: it names a local model, which the remote server need not serve.
 */
import { join } from 'node:path'
import { ExitCode, MrsError } from '../errors.js'
import { closest } from '../text.js'
import { type Env, xdgDir } from '../paths.js'
import { loadConfigFile, type ConfigFile } from './file.js'
import { DEFAULTS, SETTINGS, type Origin, type Origins, type Scope, type Settings, envOrigin, parseSettingValue, tomlOrigin } from './schema.js'

export function defaultConfigPath(env: Env): string {
  return join(xdgDir(env, 'XDG_CONFIG_HOME', '.config'), 'mrs', 'config.toml')
}

/** --config wins over MRS_CONFIG wins over the XDG default; only the default may be absent. */
export async function loadConfig(flagPath: string | undefined, env: Env): Promise<ConfigFile> {
  const explicit = flagPath ?? env.MRS_CONFIG
  return loadConfigFile(explicit || defaultConfigPath(env), Boolean(explicit))
}

export function settingsFromEnv(env: Env, scope: Scope, origins: Origins = {}): Partial<Settings> {
  const out: Partial<Settings> = {}
  for (const def of SETTINGS) {
    if (!def.env || !def.scopes.includes(scope)) continue
    const raw = env[def.env]
    if (raw === undefined || raw === '') continue
    try {
      ;(out as Record<string, unknown>)[def.key] = parseSettingValue(def, raw)
    } catch (e) {
      throw new MrsError(`invalid ${def.env}=${JSON.stringify(raw)}: ${(e as Error).message}`, ExitCode.Usage)
    }
    origins[def.key] = envOrigin(def.env, raw)
  }
  return out
}

/** Where each setting of a config file's layer (its top level, or a preset) was written. */
function tomlOrigins(kind: 'config' | 'preset', raw: Partial<Record<keyof Settings, unknown>> | undefined, where: string): Origins {
  const out: Origins = {}
  for (const def of SETTINGS) if (raw && def.key in raw) out[def.key] = tomlOrigin(kind, def.toml, raw[def.key], where)
  return out
}

/** Which layer chose the model, said on stderr so the user knows why this model loads. */
export type ModelSource = 'flag' | 'env' | 'preset' | 'config'

export interface Resolved {
  settings: Settings
  config: ConfigFile
  preset?: string
  /** Set when a layer named the model. */
  modelSource?: ModelSource
  /** How the user gave each setting that is not a default: messages name it so. */
  origins: Origins
}

export function resolveSettings(opts: { config: ConfigFile; preset?: string; env: Env; flags: Partial<Settings>; flagOrigins?: Origins; scope: Scope }): Resolved {
  const { config, env, flags, scope } = opts
  const presetName = opts.preset ?? (env.MRS_PRESET || undefined)
  let preset: Partial<Settings> = {}
  let presetOrigins: Origins = {}
  if (presetName !== undefined) {
    // own properties only: `--preset toString` is an unknown preset, not a function
    const found = Object.hasOwn(config.presets, presetName) ? config.presets[presetName] : undefined
    if (!found) {
      const names = Object.keys(config.presets)
      const hint = closest(presetName, names)
      const where = config.exists ? `in ${config.path}` : `(no config file at ${config.path})`
      throw new MrsError(
        `unknown preset "${presetName}"${hint ? ` (did you mean "${hint}"?)` : ''} ${where}; presets: ${names.join(', ') || 'none'}`,
        ExitCode.Config,
      )
    }
    preset = found.settings
    presetOrigins = tomlOrigins('preset', found.raw, `[presets.${presetName}]`)
  }
  const envOrigins: Origins = {}
  const fromEnv = settingsFromEnv(env, scope, envOrigins)
  const layers: [ModelSource, Partial<Settings>, Origins][] = [
    ['config', defined(config.settings), tomlOrigins('config', config.raw, config.path)],
    ['preset', defined(preset), presetOrigins],
    ['env', defined(fromEnv), envOrigins],
    ['flag', defined(flags), opts.flagOrigins ?? {}],
  ]
  // the layer that gave a setting names it: its origin wins as its value does
  const origins: Origins = {}
  for (const [, layer, named] of layers) for (const key of Object.keys(layer) as (keyof Settings)[]) if (named[key]) origins[key] = named[key]
  const settings: Settings = liftServerAddress(Object.assign({ ...DEFAULTS }, ...layers.map(([, l]) => l)), origins)
  // [slurm] of a preset adds to the config's own, key by key
  const slurm = Object.assign({}, ...layers.map(([, l]) => l.slurm ?? {}))
  if (Object.keys(slurm).length) settings.slurm = slurm
  // the top-level model is a local model: a remote server chooses among its own ids
  const usable = settings.url ? layers.filter(([source]) => source !== 'config') : layers
  const chosen = [...usable].reverse().find(([, l]) => l.model !== undefined)
  settings.model = chosen?.[1].model
  if (chosen?.[2].model) origins.model = chosen[2].model
  else delete origins.model
  return { settings, config, preset: presetName, modelSource: chosen?.[0], origins }
}

/**
 * `--server-arg=--host=ADDR` (or `-p N`/`--port N`) is mrs's --server-host
 * (--server-port) said another way: mistral.rs itself always listens on
 * loopback behind the keeper, and the address clients reach goes through the
 * same guard as --server-host (tools that run code are refused on a public
 * address). So it is taken out of the server's arguments and used as that
 * (and `origins`, when given, name it as written there).
 */
export function liftServerAddress(settings: Settings, origins?: Origins): Settings {
  // `--server-arg=--host=…` on the command line, `--host` in server_args of a config file or preset
  const given = origins?.serverArgs
  const spell = (name: string, value?: string): Origin =>
    !given || given.kind === 'flag'
      ? { kind: 'flag', name: `--server-arg=${name}`, said: `--server-arg=${name}${value === undefined ? '' : `=${value}`}` }
      : { kind: given.kind, name: `${name} in ${given.name}`, said: `${name}${value === undefined ? '' : ` ${value}`} in ${given.name}` }
  const args = [...settings.serverArgs]
  const take = (names: string[]): Origin & { value: string } | undefined => {
    let found: (Origin & { value: string }) | undefined
    for (let i = 0; i < args.length; ) {
      const [name, inline] = args[i]!.split(/=(.*)/s) as [string, string | undefined]
      if (!names.includes(name)) {
        i++
        continue
      }
      const value = inline ?? args[i + 1]
      if (value === undefined) throw new MrsError(`${spell(name).name} needs a value`, ExitCode.Usage)
      args.splice(i, inline === undefined ? 2 : 1)
      found = { ...spell(name, value), value }
    }
    return found
  }
  const host = take(['--host'])
  const port = take(['-p', '--port'])
  if (host === undefined && port === undefined) return settings
  const out: Settings = { ...settings, serverArgs: args, serverArgsAddress: true }
  if (host !== undefined) {
    out.host = host.value
    if (origins) origins.host = { kind: host.kind, name: host.name, said: host.said }
  }
  if (port !== undefined) {
    const n = Number(port.value)
    if (!/^\d+$/.test(port.value) || n < 1 || n > 65535) throw new MrsError(`invalid ${port.said}: must be a port number from 1 to 65535`, ExitCode.Usage)
    out.port = n
    if (origins) origins.port = { kind: port.kind, name: port.name, said: port.said }
  }
  return out
}

/** Drops undefined values so they never hide a lower layer. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
