/**
 * Saves a default `model` into the config file, keeping everything else in
 * it byte for byte: the top-level `model = ...` line is replaced where it
 * is, or one is added above the first table (after leading comments). A
 * missing file (and its directory) is created.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { stringify } from 'smol-toml'

export function withDefaultModel(text: string, model: string): string {
  // TOML's own escaping (a JSON string is not a TOML string: a raw DEL or other control character makes the file unparseable)
  const line = stringify({ model }).trim()
  const lines = text.split('\n')
  const firstTable = lines.findIndex((l) => /^\s*\[/.test(l))
  const top = firstTable < 0 ? lines.length : firstTable
  const existing = lines.slice(0, top).findIndex((l) => /^\s*model\s*=/.test(l))
  if (existing >= 0) {
    lines[existing] = line
    return lines.join('\n')
  }
  // after the leading comment block, so a file's header stays on top
  let at = 0
  while (at < top && /^\s*(#.*)?$/.test(lines[at]!) && lines[at] !== '') at++
  lines.splice(at, 0, line)
  const out = lines.join('\n')
  return text === '' ? `${line}\n` : out
}

export function saveDefaultModel(path: string, model: string): void {
  let text = ''
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    mkdirSync(dirname(path), { recursive: true })
  }
  writeFileSync(path, withDefaultModel(text, model))
}
