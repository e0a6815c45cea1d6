/**
 * Where the settings come from, merged in one place:
 * defaults < config file < preset < MRS_* environment < flags.
 */
import { join } from 'node:path'
import { ExitCode, MrsError } from '../errors.js'
import { closest } from '../text.js'
import { type Env, xdgDir } from '../paths.js'
import { loadConfigFile, type ConfigFile } from './file.js'
import { DEFAULTS, SETTINGS, type Command, type Settings, parseSettingValue } from './schema.js'

export function defaultConfigPath(env: Env): string {
  return join(xdgDir(env, 'XDG_CONFIG_HOME', '.config'), 'mrs', 'config.toml')
}

/** --config wins over MRS_CONFIG wins over the XDG default; only the default may be absent. */
export async function loadConfig(flagPath: string | undefined, env: Env): Promise<ConfigFile> {
  const explicit = flagPath ?? env.MRS_CONFIG
  return loadConfigFile(explicit || defaultConfigPath(env), Boolean(explicit))
}

export function settingsFromEnv(env: Env, command: Command): Partial<Settings> {
  const out: Partial<Settings> = {}
  for (const def of SETTINGS) {
    if (!def.env || !def.commands.includes(command)) continue
    const raw = env[def.env]
    if (raw === undefined || raw === '') continue
    try {
      ;(out as Record<string, unknown>)[def.key] = parseSettingValue(def, raw)
    } catch (e) {
      throw new MrsError(`invalid ${def.env}=${JSON.stringify(raw)}: ${(e as Error).message}`, ExitCode.Usage)
    }
  }
  return out
}

export interface Resolved {
  settings: Settings
  config: ConfigFile
  preset?: string
}

export function resolveSettings(opts: {
  config: ConfigFile
  preset?: string
  env: Env
  flags: Partial<Settings>
  command: Command
}): Resolved {
  const { config, env, flags, command } = opts
  const presetName = opts.preset ?? (env.MRS_PRESET || undefined)
  let preset: Partial<Settings> = {}
  if (presetName !== undefined) {
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
  }
  const settings = { ...DEFAULTS, ...defined(config.settings), ...defined(preset), ...defined(settingsFromEnv(env, command)), ...defined(flags) }
  return { settings, config, preset: presetName }
}

/** Drops undefined values so they never hide a lower layer. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
