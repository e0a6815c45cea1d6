// The typo guard refuses an unknown long option near one of mrs's only when
// it is not an option of that client: each client module lists its client's
// options. This checks those lists against the pinned clients' real help, so
// a client option mrs does not know about can never be refused as a typo.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/sandbox.js'
import { clientByName } from '../../src/clients/registry.js'

/** Help texts that list a client's options: its own and those of the subcommands people pass through mrs. */
const HELPS: Record<string, string[][]> = {
  claude: [['--help']],
  codex: [['--help'], ['exec', '--help'], ['resume', '--help']],
  opencode: [['--help'], ['run', '--help']],
  copilot: [['--help']],
  pi: [['--help']],
  qwen: [['--help']],
}

/** Every `--long` and `-s` option a help text lists at the start of a line or after a comma. */
export function optionsIn(help: string): string[] {
  const found = new Set<string>()
  for (const line of help.split('\n')) {
    const head = /^\s+((?:-{1,2}[A-Za-z][\w-]*(?:[ ,=]+(?:<[^>]+>|\[[^\]]+\]))?[ ,]*)+)/.exec(line)?.[1]
    if (!head) continue
    for (const m of head.matchAll(/(?:^|[\s,])(-{1,2}[A-Za-z][\w-]*)/g)) found.add(m[1]!)
  }
  return [...found]
}

describe.each(Object.entries(HELPS))('%s\'s real options', (name, helps) => {
  it('are all in its module\'s list', () => {
    const client = clientByName(name)!
    const home = mkdtempSync(join(tmpdir(), 'mrs-help-'))
    try {
      const env = { PATH: process.env.PATH, HOME: home, CODEX_HOME: join(home, 'codex'), CLAUDE_CONFIG_DIR: join(home, 'claude'), PI_CODING_AGENT_DIR: join(home, 'pi'), XDG_CONFIG_HOME: home, XDG_DATA_HOME: home, XDG_CACHE_HOME: home, XDG_STATE_HOME: home, TMPDIR: home, NO_COLOR: '1' }
      for (const args of helps) {
        // some print help on stderr (pi when stdin is not a terminal, opencode always)
        const text = execFileSync('sh', ['-c', `"$0" "$@" 2>&1 </dev/null`, join(ROOT, 'node_modules', '.bin', name), ...args], { env, encoding: 'utf8', timeout: 60_000 })
        const listed = optionsIn(text)
        expect(listed.length, `${name} ${args.join(' ')}:\n${text}`).toBeGreaterThan(3)
        for (const option of listed) expect(client.options, `${name} ${args.join(' ')} lists ${option}`).toContain(option)
      }
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})
