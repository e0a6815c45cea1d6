/**
 * The places a server can run, by kind. Adding one is one module in this
 * directory, its tests, and a README section.
 */
import { local } from './local.js'
import { ssh } from './ssh.js'
import { slurm } from './slurm.js'
import type { PlaceModule, PlaceSpec } from './types.js'
import type { Settings } from '../config/schema.js'

const PLACES = { local, ssh, slurm } satisfies { [K in PlaceSpec['kind']]: PlaceModule<Extract<PlaceSpec, { kind: K }>> }

export const LOCAL_PLACE: PlaceSpec = { kind: 'local' }

export function placeModule<P extends PlaceSpec>(place: P): PlaceModule<P> {
  return PLACES[place.kind] as unknown as PlaceModule<P>
}

/** Where a server runs, for people. */
export const describePlace = (place: PlaceSpec | undefined) => placeModule(place ?? LOCAL_PLACE).describe(place ?? LOCAL_PLACE)

/**
 * Where the settings put the server: an SSH host with `--on` (its mistralrs:
 * --mistralrs on the command line, else the config's remote_mistralrs), else
 * this machine.
 */
export function placeFor(s: Pick<Settings, 'on' | 'remoteMistralrs' | 'useSlurm' | 'slurm' | 'slurmArgs' | 'slurmNodes'>, flagMistralrs?: string): PlaceSpec {
  const mistralrs = flagMistralrs ?? s.remoteMistralrs
  if (s.useSlurm) {
    const { args = [], nodes, ...options } = s.slurm ?? {}
    return { kind: 'slurm', ...(s.on ? { via: s.on } : {}), options: { ...options, args: [...args, ...s.slurmArgs] }, nodes: s.slurmNodes ?? nodes ?? 1, ...(mistralrs ? { mistralrs } : {}) }
  }
  if (!s.on) return LOCAL_PLACE
  return { kind: 'ssh', host: s.on, ...(mistralrs ? { mistralrs } : {}) }
}
