// The end-to-end tests run the built mrs (bin/mrs.cjs → dist/): build it once, fresh.
// The Slurm test cluster is started by the first test that asks for it (ensureCluster);
// this run registers as one of its users, and when the run ends the cluster is stopped
// unless another run of this checkout still uses it; the second local user the
// --on tests log in as (test/helpers/sshd.ts) is removed too.
import { execFileSync } from 'node:child_process'
import { registerRun, releaseRun } from './slurm.js'
import { removeTestAccount } from './sshd.js'

export default function setup(): () => Promise<void> {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
  registerRun()
  return async () => {
    await releaseRun()
    if (process.getuid?.() === 0) removeTestAccount()
  }
}
