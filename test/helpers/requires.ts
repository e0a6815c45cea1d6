/**
 * Tests that need something a fresh machine may lack (zsh, tmux, script,
 * curl, root, an OpenSSH server, a Slurm cluster). Where it is missing, the
 * test is skipped and its title says why; `.ci/run` installs everything and
 * sets MRS_TEST_REQUIRE_ALL=1, which turns a missing requirement into a
 * failure, so CI never passes by skipping.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { it, type TestAPI } from 'vitest'
import { slurmAvailable, slurmMissing } from './slurm.js'

export type Requirement = 'root' | 'zsh' | 'tmux' | 'script' | 'curl' | 'setsid' | 'bash' | 'sshd' | 'slurm'

const why: Record<Requirement, string> = {
  root: 'needs root (CI runs as root)',
  zsh: 'needs zsh, which is not installed (.ci/run installs it)',
  tmux: 'needs tmux, which is not installed (.ci/run installs it)',
  script: 'needs script(1) from util-linux / bsdutils, which is not installed (.ci/run installs it)',
  curl: 'needs curl, which is not installed (.ci/run installs it)',
  setsid: 'needs setsid from util-linux, which is not installed (.ci/run installs it)',
  bash: 'needs bash, which is not installed (.ci/run installs it)',
  sshd: 'needs root and OpenSSH: /usr/sbin/sshd (openssh-server), /usr/bin/ssh and ssh-keygen (openssh-client), useradd (.ci/run installs them)',
  slurm: 'needs root and Slurm with munge (slurmctld, slurmd, munged, sbatch, srun: Debian\'s slurm-wlm and munge) to run a throwaway cluster (.ci/run installs them)',
}

const check: Partial<Record<Requirement, () => boolean>> = {
  root: () => process.getuid?.() === 0,
  // a real sshd on loopback logging in a second local user: only root can start it as a server for another user
  sshd: () =>
    process.getuid?.() === 0 && ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/sbin/useradd'].every((p) => existsSync(p)),
  slurm: slurmAvailable,
}

const cache = new Map<Requirement, boolean>()
export function has(need: Requirement): boolean {
  if (!cache.has(need)) cache.set(need, check[need] ? check[need]() : spawnSync('sh', ['-c', `command -v ${need}`], { stdio: 'ignore' }).status === 0)
  return cache.get(need)!
}

/** What is missing for these requirements, as reasons. */
export function missing(needs: Requirement[]): string[] {
  return needs.filter((n) => !has(n)).map((n) => (n === 'slurm' ? `${why.slurm}; missing here: ${slurmMissing().join(', ')}` : why[n]))
}

const told = new Set<string>()

/** `it`, or a skip whose title says what is missing; under MRS_TEST_REQUIRE_ALL a missing requirement fails. */
export function requires(...needs: Requirement[]): TestAPI {
  const reasons = missing(needs)
  if (!reasons.length) return it
  if (process.env.MRS_TEST_REQUIRE_ALL) {
    return ((name: string) =>
      it(name, () => {
        throw new Error(`${reasons.join('; ')} — and MRS_TEST_REQUIRE_ALL is set, so this may not be skipped`)
      })) as unknown as TestAPI
  }
  for (const reason of reasons) {
    if (told.has(reason)) continue
    told.add(reason)
    process.stderr.write(`mrs tests: skipping the tests that ${reason.replace(/^needs/, 'need')}\n`)
  }
  return ((name: string, ...rest: unknown[]) => (it.skip as (...a: unknown[]) => void)(`${name} [skipped: ${reasons.join('; ')}]`, ...rest)) as unknown as TestAPI
}
