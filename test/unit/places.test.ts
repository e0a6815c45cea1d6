// Protects what a place tells the user to type: the flags it suggests (in
// `mrs doctor`'s fixes) parse back to the same place, and a command to run
// there goes where the server would run (the host; a cluster's login node,
// whose home the nodes share).
import { describe, expect, it } from 'vitest'
import { parseArgs, settingsFromFlags } from '../../src/cli/parse.js'
import { LOCAL_PLACE, placeFor, placeModule } from '../../src/places/registry.js'
import type { PlaceSpec } from '../../src/places/types.js'

const roundTrip = (place: PlaceSpec) => {
  const flags = placeModule(place).flags(place)
  const parsed = parseArgs(['serve', ...flags])
  const s = settingsFromFlags(parsed.options, 'serve')
  return placeFor({ slurmArgs: [], ...s } as Parameters<typeof placeFor>[0])
}

describe('a place\'s flags', () => {
  it.each<[string, PlaceSpec]>([
    ['this machine', LOCAL_PLACE],
    ['an SSH host', { kind: 'ssh', host: 'me@gpu-box' }],
    ['a Slurm job here', { kind: 'slurm', options: { args: [] }, nodes: 1 }],
    ['a Slurm job through a login node', { kind: 'slurm', via: 'hpc-login', options: { args: [] }, nodes: 1 }],
  ])('put a server on %s again', (_what, place) => {
    expect(roundTrip(place)).toEqual(place)
  })
})

describe('a command to run where the server runs', () => {
  it('runs here for this machine and a local Slurm, over ssh for a host and a login node', () => {
    const cmd = 'curl -fsSL https://example.invalid/install.sh | sh'
    expect(placeModule(LOCAL_PLACE).runThere(LOCAL_PLACE, cmd)).toBe(cmd)
    expect(placeModule({ kind: 'slurm', options: { args: [] }, nodes: 1 }).runThere({ kind: 'slurm', options: { args: [] }, nodes: 1 }, cmd)).toBe(cmd)
    expect(placeModule({ kind: 'ssh', host: 'gpu-box' }).runThere({ kind: 'ssh', host: 'gpu-box' }, cmd)).toBe(`ssh gpu-box "${cmd}"`)
    const login: PlaceSpec = { kind: 'slurm', via: 'hpc-login', options: { args: [] }, nodes: 1 }
    expect(placeModule(login).runThere(login, cmd)).toBe(`ssh hpc-login "${cmd}"`)
  })
})
