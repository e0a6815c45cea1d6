/** Where the built keeper script is, whether this code runs from dist/ or dist/chunks/. */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export function keeperScript(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [here, join(here, '..'), join(here, '..', 'dist')]) {
    const candidate = join(dir, 'keeper.cjs')
    if (existsSync(candidate)) return candidate
  }
  throw new Error(`keeper.cjs not found next to ${here}: run npm run build`)
}
