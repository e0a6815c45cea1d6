// Protects the README's promises that code can check: the exit-code table
// matches the ExitCode enum, and every documented option exists.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ExitCode } from '../../src/errors.js'
import { SETTINGS, flagName } from '../../src/config/schema.js'
import { ROOT } from '../helpers/sandbox.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

describe('README', () => {
  it('documents every exit code mrs has, and no other', () => {
    const section = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('## Troubleshooting'))
    const documented = [...section.matchAll(/^\| (\d+)(?: \/ (\d+) \/ (\d+))? \|/gm)].flatMap((m) => m.slice(1).filter(Boolean).map(Number))
    const own = Object.values(ExitCode)
    expect(new Set(documented)).toEqual(new Set([...own, 129, 130, 143]))
  })
  it('documents every setting: its flag, config key and variable', () => {
    for (const def of SETTINGS) {
      const flag = flagName(def)
      if (flag) expect(readme, `flag ${flag}`).toMatch(new RegExp(`\`[^\`]*${flag}\\b[^\`]*\``))
      expect(readme, `config key ${def.toml}`).toContain(`\`${def.toml}\``)
      if (def.env) expect(readme, `variable ${def.env}`).toContain(`\`${def.env}\``)
    }
  })
  it('gives the test command that CI runs', () => {
    expect(readme).toContain('npm ci && npm test')
    expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/npm ci[\s\S]*npm test/)
  })
})
