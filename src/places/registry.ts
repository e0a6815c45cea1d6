/**
 * The places a server can run, by kind. Adding one is one module in this
 * directory, its tests, and a README section.
 */
import { local } from './local.js'
import type { PlaceModule, PlaceSpec } from './types.js'

const PLACES = { local } satisfies { [K in PlaceSpec['kind']]: PlaceModule<Extract<PlaceSpec, { kind: K }>> }

export const LOCAL_PLACE: PlaceSpec = { kind: 'local' }

export function placeModule<P extends PlaceSpec>(place: P): PlaceModule<P> {
  return PLACES[place.kind] as unknown as PlaceModule<P>
}

/** Where a server runs, for people. */
export const describePlace = (place: PlaceSpec | undefined) => placeModule(place ?? LOCAL_PLACE).describe(place ?? LOCAL_PLACE)
