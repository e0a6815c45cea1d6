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
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !/^\| (input|what happens) \|/.test(l))
    .map((l) => l.slice(2, -2).split(' | '))

describe('docs/reliability.md', () => {
  it('lists exactly the bad inputs the tests run, with their exit codes', () => {
    const documented = rows(section('Bad input')).map(([name, code]) => `${name} → ${code}`)
    expect(documented).toEqual(BAD_INPUT.map((c) => `${c.name} → ${c.code}`))
  })

  it('cites only exit-path tests that exist', () => {
    const tests = readFileSync(join(ROOT, 'test', 'e2e', 'lifecycle.test.ts'), 'utf8').replace(/\\'/g, "'")
    const cited = rows(section('Exit paths')).flatMap(([, , test]) => [...test!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!))
    expect(cited.length).toBeGreaterThan(10)
    for (const title of cited) expect(tests, title).toContain(`'${title}'`)
  })
})
