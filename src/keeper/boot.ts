/**
 * The keeper process's first code (dist/keeper.cjs): loads the keeper
 * (dist/keeper-main.cjs, src/keeper/main.ts) with V8's code cache, as
 * dist/boot.cjs loads mrs. A spare keeper starts beside mrs on every launch
 * that will likely start a server, and mrs waits for it before mistral.rs
 * starts: compiling the keeper's bundle on each start was that wait's part.
 */
import { join } from 'node:path'
import { loadWithCodeCache } from '../code-cache.js'

/** A hash of dist/keeper-main.cjs's content, set at build time: the code cache's key. */
declare const __KEEPER_HASH__: string

loadWithCodeCache(join(__dirname, 'keeper-main.cjs'), process.env, __KEEPER_HASH__, 'keeper')
