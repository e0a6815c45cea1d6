// Another local user answering in the server's place: the impostor
// (test/fixtures/impostor.cjs) reads mistral.rs's port from ps and binds it first.
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor, type Sandbox } from './sandbox.js'
import { sharedFixtures } from './shared-fixtures.js'

/**
 * Starts the impostor as `nobody` when the tests run as root (else as this
 * user: the proof is the same, the socket is not the server's), watching for
 * a server of `model`. Returns what it recorded, and how to stop it.
 */
export async function impostor(sb: Sandbox, model: string, mode: 'during-load' | 'after-exit' = 'during-load') {
  // where nobody can write (a TMPDIR of the user's own may be closed to it)
  const dir = mkdtempSync('/tmp/mrs-impostor-')
  chmodSync(dir, 0o777)
  const record = join(dir, 'record')
  writeFileSync(record, '')
  chmodSync(record, 0o666)
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
  // from a copy every user can read: the checkout may be in a private (0700) directory
  const child = spawn(process.execPath, [join(sharedFixtures(), 'impostor.cjs'), model, record, ...(mode === 'after-exit' ? ['--after-exit'] : [])], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', MRS_TEST_ID: sb.env.MRS_TEST_ID! },
    ...asNobody,
  })
  await waitFor(() => readFileSync(record, 'utf8').includes('watching'), 5000, 'the impostor to start')
  return {
    lines: () => readFileSync(record, 'utf8').split('\n').filter(Boolean),
    stop: () => {
      child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
