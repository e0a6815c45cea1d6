/**
 * mrs's first code after bin/mrs.cjs: starts a spare keeper when a launch will
 * likely need one, then loads the CLI bundle (dist/mrs.cjs) with V8's code
 * cache (src/code-cache.ts).
 */
import { join } from 'node:path'
import { likelyToStartServer, startSpareKeeper, type SpareKeeper } from '../server/keeper-process.js'
import { loadWithCodeCache } from '../code-cache.js'

// the unit tests load bundles through the built boot (dist/boot.cjs), as a launch does
export { loadWithCodeCache }

/** The commands that start a server (the clients', serve, check): set at build time, as the registry is not loaded here. */
declare const __LAUNCH_COMMANDS__: string[]
/** A hash of dist/mrs.cjs's content, set at build time: the code cache's key. */
declare const __BUNDLE_HASH__: string

export function boot(argv: string[]): void {
  // a keeper started now boots while mrs loads and plans (see src/server/keeper-process.ts)
  const spare = likelyToStartServer(argv, process.env, __LAUNCH_COMMANDS__) ? startSpareKeeper(process.env) : undefined
  const mrs = loadWithCodeCache(join(__dirname, 'mrs.cjs'), process.env, __BUNDLE_HASH__) as { main: (argv: string[]) => Promise<void>; adoptSpareKeeper: (k: SpareKeeper | undefined) => void }
  mrs.adoptSpareKeeper(spare)
  void mrs.main(argv)
}
