// Protects what a user's Slurm choices become: the [slurm] table's checks
// (one clear error naming the key), a preset adding to the config's table
// key by key, --slurm-arg after the table's args, the sbatch and srun lines,
// the time left that `mrs ps` shows, in Slurm's own notation, and where a
// multi-node worker finds its head, and how a killed srun's step is cancelled.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseConfigText } from '../../src/config/file.js'
import { resolveSettings } from '../../src/config/resolve.js'
import { MrsError } from '../../src/errors.js'
import { placeFor } from '../../src/places/registry.js'
import { JOB_ID, batchScript, jobEnv, sbatchArgs, slurmDuration, slurmSeconds, srunArgs } from '../../src/places/slurm.js'
import type { SlurmPlace } from '../../src/places/slurm.js'
import { PROGRAM } from '../../src/places/remote-program.js'
import { CANCEL_STEP } from '../../src/places/srun-tunnel.js'
import { requires } from '../helpers/requires.js'
import { tempDir } from '../helpers/tmp.js'

const configError = async (text: string) => {
  const e = await parseConfigText('/c/config.toml', text).catch((x) => x)
  expect(e).toBeInstanceOf(MrsError)
  return (e as MrsError).message
}

describe('[slurm] in the config', () => {
  it('reads every key; numbers are taken as sbatch takes them', async () => {
    const { settings } = await parseConfigText('c.toml', '[slurm]\npartition = "gpu"\naccount = "lab"\nqos = "short"\ntime = "4:00:00"\ngpus = 2\ncpus = 8\nmem = "64G"\nconstraint = "a100"\nargs = ["--exclusive"]\nnodes = 2\n')
    expect(settings.slurm).toEqual({ partition: 'gpu', account: 'lab', qos: 'short', time: '4:00:00', gpus: '2', cpus: '8', mem: '64G', constraint: 'a100', args: ['--exclusive'], nodes: 2 })
  })
  it('reads a preset\'s own table, [presets.NAME.slurm]', async () => {
    const { presets } = await parseConfigText('c.toml', '[slurm]\npartition = "gpu"\n\n[presets.big.slurm]\ngpus = 4\n')
    expect(presets.big!.settings.slurm).toEqual({ gpus: '4' })
  })
  it('names an unknown key and what the table takes', async () => {
    expect(await configError('[slurm]\npartitoin = "gpu"')).toMatch(/"slurm" has an unknown key "partitoin" \(it takes partition, account, qos, time, gpus, cpus, mem, constraint, args, nodes, setup, tunnel\)/)
  })
  it('wants args as a list, nodes as a whole number, and no value sbatch would read as an option', async () => {
    expect(await configError('[slurm]\nargs = "--exclusive"')).toMatch(/"args" must be a list of sbatch options/)
    expect(await configError('[slurm]\nnodes = 0')).toMatch(/"nodes" must be a whole number from 1/)
    expect(await configError('[slurm]\npartition = "--wrap=rm"')).toMatch(/"partition" must be a value as sbatch takes it/)
    expect(await configError('[slurm]\ntime = "4 h"')).toMatch(/"time" must be a value as sbatch takes it/)
    expect(await configError('slurm = "gpu"')).toMatch(/must be a table: \[slurm\]/)
  })
  it('takes setup as a list of shell lines and tunnel as auto, ssh or srun', async () => {
    expect(await configError('[slurm]\nsetup = "module load cuda"')).toMatch(/"setup" must be a list of shell lines/)
    expect(await configError('[slurm]\nsetup = ["module load a\\nrm -rf x"]')).toMatch(/"setup" must be a list of shell lines, one command each/)
    expect(await configError('[slurm]\ntunnel = "carrier-pigeon"')).toMatch(/"tunnel" must be "auto", "ssh" or "srun"/)
  })
})

describe('what the job is given', () => {
  it("the submitter's environment (modules, conda, HF_*), without the clients' credentials", () => {
    const env = { PATH: '/opt/mistralrs/bin:/usr/bin', LD_LIBRARY_PATH: '/opt/cuda/lib64', MODULEPATH: '/opt/modules', HF_TOKEN: 'hf_x', HF_HOME: '/scratch/hf', ANTHROPIC_API_KEY: 'sk-ant', ANTHROPIC_AUTH_TOKEN: 't', OPENAI_API_KEY: 'sk', GITHUB_TOKEN: 'gh', GH_TOKEN: 'gh', COPILOT_GITHUB_TOKEN: 'c', MRS_URL_AUTHORIZATION: 'Basic x', CODEX_HOME: '/h/.codex' }
    expect(jobEnv(env)).toEqual({ PATH: '/opt/mistralrs/bin:/usr/bin', LD_LIBRARY_PATH: '/opt/cuda/lib64', MODULEPATH: '/opt/modules', HF_TOKEN: 'hf_x', HF_HOME: '/scratch/hf' })
  })
  it('a job id only as sbatch --parsable prints one (a digit a login shell printed is not one)', () => {
    expect(['4711', '4711;cluster1'].every((s) => JOB_ID.test(s))).toBe(true)
    expect(['10 GB of quota left', 'Welcome\n4711', '', '4711 ', 'x4711'].some((s) => JOB_ID.test(s))).toBe(false)
  })
  it("the batch script names the job's dir with the token, and uses it only when it is a private dir of the user's", () => {
    const script = batchScript('0123abcd')
    expect(script).toContain('MRS_JOB_TOKEN=0123abcd')
    expect(script).toContain('jd=/tmp/mrs-job-$SLURM_JOB_ID-$MRS_JOB_TOKEN')
    expect(script).toMatch(/\[ -O "\$jd" \] && case \$\(ls -ld "\$jd"\) in drwx------\*\)/)
    expect(script).not.toMatch(/mrs-\$\(id -u\)/)
  })
})

describe('the job a session asks for', () => {
  const config = {
    path: 'c.toml',
    exists: true,
    settings: { useSlurm: true, slurm: { partition: 'gpu', time: '1:00:00', args: ['--exclusive'] } },
    presets: { big: { settings: { slurm: { gpus: '4', time: '8:00:00' } } } },
  }
  it('a preset adds to the config\'s table key by key; --slurm-arg comes after its args', () => {
    const { settings } = resolveSettings({ config, preset: 'big', env: {}, flags: { slurmArgs: ['--mem=1M'] }, scope: 'client' })
    const place = placeFor(settings)
    expect(place).toEqual({ kind: 'slurm', options: { partition: 'gpu', time: '8:00:00', gpus: '4', args: ['--exclusive', '--mem=1M'] }, nodes: 1 })
    expect(sbatchArgs(place as SlurmPlace, 'mrs-x', '/o/job-%j.out')).toEqual(['--parsable', '--job-name=mrs-x', '--output=/o/job-%j.out', '--partition=gpu', '--time=8:00:00', '--gpus=4', '--exclusive', '--mem=1M'])
  })
  it('--on makes the login node the way in; --slurm-nodes spreads one task per node, GPUs per node', () => {
    const { settings } = resolveSettings({ config, env: {}, flags: { on: 'hpc-login', slurmNodes: 2 }, scope: 'client' })
    const place = placeFor(settings) as SlurmPlace
    expect(place).toMatchObject({ kind: 'slurm', via: 'hpc-login', nodes: 2 })
    expect(sbatchArgs({ ...place, options: { ...place.options, gpus: '4' } }, 'n', 'o')).toEqual(expect.arrayContaining(['--gpus-per-node=4', '--nodes=2', '--ntasks-per-node=1']))
    expect(srunArgs(place, '17', ['sh'])).toEqual(['srun', '--jobid=17', '--overlap', '--nodes=2', '--ntasks-per-node=1', '--kill-on-bad-exit=1', '--wait=2', 'sh'])
    expect(srunArgs({ ...place, nodes: 1 }, '17', ['sh'])).toEqual(['srun', '--jobid=17', '--overlap', '--nodes=1', '--ntasks-per-node=1', 'sh'])
  })
  it('without --slurm (and use_slurm), the same settings run here', () => {
    expect(placeFor({ slurmArgs: [] })).toEqual({ kind: 'local' })
  })
})

describe('time left, as Slurm writes it', () => {
  it.each([
    ['30:00', 1800],
    ['1:00:00', 3600],
    ['2-03:04:05', ((2 * 24 + 3) * 60 + 4) * 60 + 5],
    ['0:05', 5],
  ])('%s is %i s and back', (text, seconds) => {
    expect(slurmSeconds(text)).toBe(seconds)
    expect(slurmSeconds(slurmDuration(seconds))).toBe(seconds)
  })
  it('writes minutes:seconds under an hour, hours:minutes:seconds under a day, days-hh:mm:ss beyond', () => {
    expect([slurmDuration(1799), slurmDuration(3600), slurmDuration(90061)]).toEqual(['29:59', '1:00:00', '1-01:01:01'])
  })
  it('has no seconds for no limit', () => {
    expect(['UNLIMITED', 'INVALID', 'NOT_SET', ''].map(slurmSeconds)).toEqual([undefined, undefined, undefined, undefined])
  })
})

describe("a multi-node worker's place (the remote program, run as task 1 of a step)", () => {
  // mistral.rs parses MISTRALRS_MN_WORKER_SERVER_ADDR as IP:PORT (mistralrs-core/src/distributed.rs L724-727: a
  // SocketAddr, which takes no host name): the head's Slurm NodeAddr, resolved when it is a name
  const worker = (nodeAddr: string, env: Record<string, string> = {}) => {
    const dir = tempDir('mrs-worker-')
    const write = (name: string, text: string) => writeFileSync(join(dir, name), text, { mode: 0o755 })
    write('scontrol', `#!/bin/sh\ncase "$1 $2" in\n  "show hostnames") echo gpu01; echo gpu02 ;;\n  "show node") printf 'NodeName=%s Arch=x86_64 CoresPerSocket=1\\n   NodeAddr=%s NodeHostName=%s Version=23.11\\n' "$3" "${nodeAddr}" "$3" ;;\nesac\n`)
    write('mistralrs', '#!/bin/sh\necho "addr=$MISTRALRS_MN_WORKER_SERVER_ADDR id=$MISTRALRS_MN_WORKER_ID args=$*"\n')
    const r = spawnSync('sh', ['-c', PROGRAM, 'mrs-remote', 'serve', 'id', '0', '1', '5', '3', join(dir, 'mistralrs'), '12345', '--', 'serve', '-p', '@PORT@'], {
      env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir, TMPDIR: dir, SLURM_STEP_NUM_NODES: '2', SLURM_NODEID: '1', SLURM_STEP_NODELIST: 'gpu[01-02]', ...env },
      encoding: 'utf8',
      timeout: 10_000,
    })
    return { code: r.status, said: r.stderr.trim(), told: r.stdout.trim() }
  }

  it('an IPv4 NodeAddr is the address; the port is the seed in the range, the same on every node', () => {
    expect(worker('10.1.2.3')).toEqual({ code: 0, said: expect.stringMatching(/^addr=10\.1\.2\.3:32345 id=0 args=serve -p \d+$/), told: '' })
    expect(worker('10.1.2.3', { MRS_PORT_RANGE: '30000-30009' }).said).toMatch(/^addr=10\.1\.2\.3:30005 /)
  })
  requires('getent')('a NodeAddr that is a name is resolved to its IPv4 address (getent)', () => {
    expect(worker('localhost').said).toMatch(/^addr=127\.\d+\.\d+\.\d+:32345 id=0 /)
  })
  it('a head no address can be found for: one line saying so, exit 69, no mistral.rs', () => {
    expect(worker('nosuch.invalid')).toEqual({ code: 69, said: '', told: expect.stringMatching(/^@mrs workerfail 69 no IPv4 address for gpu01, the head node: its Slurm NodeAddr nosuch\.invalid does not resolve \(getent ahostsv4\) on \S+, and mistral\.rs's workers need one$/) })
  })
})

describe("cancelling a tunnel step whose srun was killed outright (srun-tunnel.ts CANCEL_STEP, squeue and scancel stand-ins)", () => {
  // each call of squeue answers the next line of `plan`: list (the step is there), none (it is not), fail (slurmctld
  // did not answer in time), gone (the job has ended)
  const cancel = (plan: string[], name = 'mrs-tunnel-3', id = '') => {
    const dir = tempDir('mrs-cancel-')
    writeFileSync(join(dir, 'plan'), `${plan.join('\n')}\n`)
    writeFileSync(
      join(dir, 'squeue'),
      `#!/bin/sh\nn=$(cat ${dir}/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n >${dir}/n\ncase $(sed -n "\${n}p" ${dir}/plan) in\n  list) echo '7.batch batch'; echo '7.3 mrs-tunnel-3' ;;\n  none) echo '7.batch batch' ;;\n  fail) echo 'squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation' >&2; exit 1 ;;\n  *) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1 ;;\nesac\n`,
      { mode: 0o755 },
    )
    writeFileSync(join(dir, 'scancel'), `#!/bin/sh\necho "$*" >>${dir}/cancelled\n`, { mode: 0o755 })
    const r = spawnSync('sh', ['-c', CANCEL_STEP, 'mrs-cancel', '7', name, id], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8', timeout: 20_000 })
    const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : '')
    return { code: r.status, cancelled: read('cancelled').split('\n').filter(Boolean), asked: Number(read('n')) }
  }

  it('scancels the step again each second until squeue no longer lists it; a squeue that failed proves nothing', () => {
    expect(cancel(['list', 'list', 'fail', 'list', 'none'])).toEqual({ code: 0, cancelled: ['--quiet 7.3', '--quiet 7.3', '--quiet 7.3'], asked: 5 })
  })
  it('finds the step by its id when the relay said it, and ends at once when it is already gone', () => {
    expect(cancel(['list', 'none'], 'mrs-tunnel-9', '7.3')).toEqual({ code: 0, cancelled: ['--quiet 7.3'], asked: 2 })
    expect(cancel(['none'], 'mrs-tunnel-9', '7.3')).toEqual({ code: 0, cancelled: [], asked: 1 })
  })
  it('a step not listed yet (its srun died while slurmctld made it) is waited for; an ended job ends the wait', () => {
    expect(cancel(['none', 'fail', 'list', 'none'])).toEqual({ code: 0, cancelled: ['--quiet 7.3'], asked: 4 })
    expect(cancel(['none', 'gone'])).toEqual({ code: 0, cancelled: [], asked: 2 })
  })
})
