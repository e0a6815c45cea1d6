// When a launch starts its keeper before mrs has loaded (the spare keeper):
// only when the command line will most likely start a server. A wrong "yes"
// costs a process that exits with mrs; a wrong "no" costs a Node start-up.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { likelyToStartServer } from '../../src/server/keeper-process.js'
import { tempDir } from '../helpers/tmp.js'

const LAUNCH = ['claude', 'codex', 'serve', 'check']

describe('likelyToStartServer', () => {
  const env = () => ({ XDG_STATE_HOME: tempDir('mrs-spare-'), HOME: '/nonexistent' })

  it.each([
    [['claude', '-m', 'Qwen/Q'], true],
    [['serve'], true],
    [['claude', '--continue', '--', '-p', 'hi'], true],
    [['ps'], false],
    [['--help'], false],
    [['claude', '--url', 'http://gpu:1'], false],
    [['claude', '--url=http://gpu:1'], false],
    [['claude', '-m', 'Q', '--dry-run'], false],
    [['claude', '-h'], false],
    [['claude', '--', '--version'], false],
  ])('%j → %s', (argv, expected) => {
    expect(likelyToStartServer(argv, env(), LAUNCH)).toBe(expected)
  })

  it('not with MRS_URL, nor when a server runs that the launch may attach to', () => {
    expect(likelyToStartServer(['codex'], { ...env(), MRS_URL: 'http://gpu:1' }, LAUNCH)).toBe(false)
    const e = env()
    const servers = join(e.XDG_STATE_HOME, 'mrs', 'servers')
    mkdirSync(servers, { recursive: true })
    expect(likelyToStartServer(['codex'], e, LAUNCH)).toBe(true)
    writeFileSync(join(servers, 'abcd1234.json'), '{}')
    expect(likelyToStartServer(['codex'], e, LAUNCH)).toBe(false)
  })
})
