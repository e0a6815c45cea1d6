/** Where the built scripts are (the keeper, the status line), whether this code runs from dist/ or dist/chunks/. */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { shortName } from './clients/types.js'
import { shellQuote } from './text.js'
import { splitCredentials } from './http.js'

function builtScript(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [here, join(here, '..'), join(here, '..', 'dist')]) {
    const candidate = join(dir, name)
    if (existsSync(candidate)) return candidate
  }
  throw new Error(`${name} not found next to ${here}: run npm run build`)
}

export const keeperScript = () => builtScript('keeper.cjs')

/** The command a client runs for its status line: `node statusline.cjs URL NAME CONTEXT STATE_FILE`. */
export function statusLineCommand(server: { url: string; model: string; contextWindow?: number }, stateFile: string): string {
  // a command line is readable by every local user: the URL's credentials reach the status line in its environment
  return [process.execPath, builtScript('statusline.cjs'), splitCredentials(server.url).url, shortName(server.model), String(server.contextWindow ?? ''), stateFile].map(shellQuote).join(' ')
}
