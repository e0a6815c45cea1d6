// Keeps docs/fidelity.md true: every test it cites as keeping a behaviour of
// mistral.rs exists, by file and title, and it names the pinned version the
// fake answers as.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/sandbox.js'

const doc = readFileSync(join(ROOT, 'docs', 'fidelity.md'), 'utf8')
const fake = readFileSync(join(ROOT, 'test', 'fixtures', 'bin', 'mistralrs'), 'utf8')

/** `unit/x.test.ts: "a", "b"` in the last cell of each table row → [file, title] pairs. */
function citations(): [string, string][] {
  const pairs: [string, string][] = []
  for (const row of doc.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---') && !l.startsWith('| behaviour'))) {
    const cell = row.slice(2, -2).split(' | ').at(-1)!
    for (const m of cell.matchAll(/((?:unit|e2e)\/[\w.-]+\.test\.ts)(?::\s*((?:"[^"]+"(?:,\s*)?)+))?/g)) {
      const titles = [...(m[2] ?? '').matchAll(/"([^"]+)"/g)].map((t) => t[1]!)
      if (!titles.length) pairs.push([m[1]!, ''])
      for (const t of titles) pairs.push([m[1]!, t])
    }
  }
  return pairs
}

describe('docs/fidelity.md', () => {
  it('cites only tests that exist', () => {
    const cited = citations()
    expect(cited.length).toBeGreaterThan(30)
    for (const [file, title] of cited) {
      const path = join(ROOT, 'test', file)
      expect(existsSync(path), file).toBe(true)
      // titles are written as in the source, where quotes may be escaped
      expect(readFileSync(path, 'utf8').replace(/\\'/g, "'"), `${file}: ${title}`).toContain(title)
    }
  })

  it('names the version the fake answers as', () => {
    const pinned = /\*\*Pinned version: mistral\.rs v(\d+\.\d+\.\d+)\*\*/.exec(doc)?.[1]
    expect(pinned).toBeDefined()
    expect(fake).toContain(`const VERSION = process.env.FAKE_MISTRALRS_VERSION || '${pinned}'`)
  })
})
