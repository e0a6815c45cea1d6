/**
 * What a command's arguments name, below the commands that use it: its
 * settings (flags + config file + environment), the place it looks at, the
 * client it names.
 */
import { usageError } from '../errors.js'
import { flagOrigins, settingsFromFlags, type ParsedArgs } from './parse.js'
import { loadConfig, resolveSettings, type Resolved } from '../config/resolve.js'
import type { Scope } from '../config/schema.js'
import { placeFor } from '../places/registry.js'
import type { PlaceSpec } from '../places/kinds.js'
import { CLIENTS, clientByName } from '../clients/registry.js'
import type { ClientModule } from '../clients/types.js'

/** Flags + config file + environment → settings, for a command that takes settings. */
export async function resolveFor(parsed: ParsedArgs, scope: Scope): Promise<Resolved> {
  const env = process.env
  const config = await loadConfig(parsed.options.config as string | undefined, env)
  const flags = settingsFromFlags(parsed.options, scope, parsed.spelled)
  return resolveSettings({ config, preset: parsed.options.preset as string | undefined, env, flags, flagOrigins: flagOrigins(parsed), scope })
}

/** Where `mrs models` and `mrs doctor` look: --on HOST, else the config's (or preset's, or MRS_ON's) `on`, else this machine. */
export async function placeOfCommand(parsed: ParsedArgs): Promise<PlaceSpec> {
  const { settings } = await resolveFor(parsed, 'check')
  return placeFor(settings)
}

/** The client a command names (`mrs env NAME`). */
export function clientArg(parsed: ParsedArgs): ClientModule {
  const name = parsed.args[0] ?? ''
  const client = clientByName(name)
  if (!client) throw usageError(`mrs ${parsed.command} takes a client (${CLIENTS.map((c) => c.name).join(', ')}), not "${name}"`)
  return client
}
