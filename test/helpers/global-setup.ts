// The end-to-end tests run the built mrs (bin/mrs.cjs → dist/): build it once, fresh.
import { execFileSync } from 'node:child_process'

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
}
