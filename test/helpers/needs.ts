/**
 * What a test (or the benchmark) needs that a fresh machine may lack (zsh, fish,
 * tcsh, busybox, tmux, script, curl, nc, ncat, socat, getent, root, an OpenSSH server, a Slurm cluster), and what
 * is missing here, as reasons a person can act on.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { slurmAvailable, slurmMissing } from './slurm.js'

export type Requirement = 'root' | 'zsh' | 'fish' | 'tmux' | 'script' | 'curl' | 'setsid' | 'bash' | 'tcsh' | 'busybox' | 'python3' | 'perl' | 'nc' | 'ncat' | 'socat' | 'getent' | 'sshd' | 'slurm'

const why: Record<Requirement, string> = {
  root: 'needs root (CI runs as root)',
  zsh: 'needs zsh, which is not installed (.ci/run installs it)',
  fish: 'needs fish, which is not installed (.ci/run installs it)',
  tmux: 'needs tmux, which is not installed (.ci/run installs it)',
  script: 'needs script(1) from util-linux / bsdutils, which is not installed (.ci/run installs it)',
  curl: 'needs curl, which is not installed (.ci/run installs it)',
  setsid: 'needs setsid from util-linux, which is not installed (.ci/run installs it)',
  bash: 'needs bash, which is not installed (.ci/run installs it)',
  tcsh: 'needs tcsh, which is not installed (.ci/run installs it)',
  busybox: 'needs busybox, which is not installed (.ci/run installs it)',
  python3: 'needs python3, which is not installed (.ci/run installs it)',
  perl: 'needs perl, which is not installed (.ci/run installs it)',
  nc: 'needs nc (OpenBSD netcat, Debian\'s netcat-openbsd), which is not installed (.ci/run installs it)',
  ncat: 'needs ncat (Nmap\'s netcat), which is not installed (.ci/run installs it)',
  socat: 'needs socat, which is not installed (.ci/run installs it)',
  getent: "needs getent (glibc's; Debian's libc-bin, always there)",
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

