// The end-to-end tests run the built mrs (bin/mrs.cjs → dist/): build it once, fresh.
// The Slurm test cluster is started by the first test that asks for it (ensureCluster);
// this run registers as one of its users, and when the run ends the cluster is stopped
// unless another run of this checkout still uses it.
import { execFileSync } from 'node:child_process'
import { registerRun, releaseRun } from './slurm.js'

export default function setup(): () => Promise<void> {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
  registerRun()
  return releaseRun
}
