// Keeps docs/reliability.md true: every bad-input case the tests run is
// in its table with the same exit code (and no other), and every test it
// cites for an exit path exists.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BAD_INPUT } from '../e2e/bad-input.cases.js'
import { ROOT } from '../helpers/sandbox.js'

const doc = readFileSync(join(ROOT, 'docs', 'reliability.md'), 'utf8')
const section = (title: string) => {
  const start = doc.indexOf(`## ${title}`)
  const end = doc.indexOf('\n## ', start + 1)
  return doc.slice(start, end < 0 ? undefined : end)
}
const rows = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !/^\| (input|what happens|attack) \|/.test(l))
    .map((l) => l.slice(2, -2).split(' | '))

describe('docs/reliability.md', () => {
  it('lists exactly the bad inputs the tests run, with their exit codes', () => {
    const documented = rows(section('Bad input')).map(([name, code]) => `${name} → ${code}`)
    expect(documented).toEqual(BAD_INPUT.map((c) => `${c.name} → ${c.code}`))
  })

  const titlesIn = (...files: string[]) => files.map((f) => readFileSync(join(ROOT, 'test', f), 'utf8').replace(/\\'/g, "'")).join('\n')
  const cited = (title: string) => rows(section(title)).flatMap((row) => [...row.at(-1)!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!))

  it('cites only exit-path tests that exist', () => {
    const tests = titlesIn('e2e/lifecycle.test.ts', 'e2e/keeper-death.test.ts')
    expect(cited('Exit paths').length).toBeGreaterThan(10)
    for (const title of cited('Exit paths')) expect(tests, title).toContain(title)
  })

  it('cites only --on tests that exist', () => {
    const tests = titlesIn('e2e/ssh.test.ts', 'e2e/ssh-hosts.test.ts')
    expect(cited('On another machine (`--on HOST`)').length).toBeGreaterThan(10)
    for (const title of cited('On another machine (`--on HOST`)')) expect(tests, title).toContain(title)
  })

  it('cites only --slurm tests that exist', () => {
    const tests = titlesIn('e2e/slurm.test.ts', 'e2e/slurm-limit.test.ts', 'e2e/slurm-tunnel.test.ts', 'e2e/slurm-site.test.ts')
    expect(cited('In a Slurm job (`--slurm`)').length).toBeGreaterThan(10)
    for (const title of cited('In a Slurm job (`--slurm`)')) expect(tests, title).toContain(title)
  })

  it('cites a test for every attack, and only tests that exist', () => {
    const tests = titlesIn('e2e/hardening.test.ts', 'e2e/claude.test.ts', 'e2e/shell.test.ts', 'e2e/bad-input.cases.ts', 'unit/boot.test.ts', 'unit/hardening.test.ts')
    expect(rows(section('Attacks')).length).toBeGreaterThanOrEqual(15)
    for (const title of cited('Attacks')) expect(tests, title).toContain(title)
  })
})
