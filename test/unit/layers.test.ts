// The code stays in floors: each module imports only from modules below it,
// never back up (places/ ↔ plan.ts ↔ server/spec.ts, cli/commands.ts ↔
// cli/commands/*.ts were such circles). A circle means two modules can only be
// read, changed and tested together; this finds every one, type-only and
// dynamic imports included.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '..', '..', 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Each module's relative imports: static (`import … from`, `export … from`, `import type`) and dynamic (`import('…')`). */
function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files)
  const graph = new Map<string, string[]>()
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    const deps = [...text.matchAll(/(?:^(?:import|export)\s[^'"]*?from\s+|import\()'(\.[^']+)'/gm)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')))
    graph.set(file, [...new Set(deps)].filter((d) => known.has(d)))
  }
  return graph
}

/** Strongly connected components of more than one module (Tarjan): the import circles. */
export function circles(graph: Map<string, string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component)
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

describe('the import floors', () => {
  it('finds a circle when there is one (the check itself works)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ])
    expect(circles(graph).map((c) => c.sort())).toEqual([['a', 'b', 'c']])
  })

  it('src/ has no import circle: every module imports only from below', () => {
    const graph = importGraph(sourceFiles(SRC))
    expect(graph.size).toBeGreaterThan(50)
    expect(circles(graph).map((c) => c.map((f) => relative(SRC, f)).sort())).toEqual([])
  })
})
