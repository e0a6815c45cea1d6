// "A client is one module that says everything about it": no file outside
// src/clients/ may name a client, so adding one stays one new module, its
// tests and a README row. (Model ids such as Qwen/... are not client names.)
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CLIENTS } from '../../src/clients/registry.js'
import { ROOT } from '../helpers/sandbox.js'

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}

describe('client names', () => {
  it('appear in no source file outside src/clients/', () => {
    const names = CLIENTS.flatMap((c) => [c.name, c.binary, c.title.replace(/^the /, '')])
    const words = new RegExp(`\\b(${[...new Set(names), 'Claude', 'Codex', 'Copilot', 'Qwen Code'].join('|')})\\b`, 'g')
    const found: string[] = []
    for (const file of sources(join(ROOT, 'src'))) {
      if (file.startsWith(join(ROOT, 'src', 'clients'))) continue
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // Hugging Face model ids (Qwen/Qwen3-4B) are models, not clients
          const text = line.replace(/\b[\w.-]+\/[\w.-]+/g, '')
          for (const m of text.matchAll(words)) found.push(`${relative(ROOT, file)}:${i + 1}: ${m[0]}`)
        })
    }
    expect(found).toEqual([])
  })
})
