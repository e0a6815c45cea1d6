/**
 * `mrs models [--json]`: the models on this machine (the Hugging Face cache),
 * the ones mrs servers run now, and the recommended ones, with their size,
 * context window (from each model's config.json) and whether they fit.
 */
import { isatty } from 'node:tty'
import { ExitCode } from '../../errors.js'
import { describePlace, placeModule } from '../../places/registry.js'
import { placeOfCommand } from '../settings.js'
import { getPaths } from '../../paths.js'
import { listServers } from '../../server/registry.js'
import { formatTokens, printable } from '../../text.js'
import { describeFit, fitOf } from '../../models/fit.js'
import { RECOMMENDED } from '../../models/recommended.js'
import { ago, elsewhereNote, fitOfDownloaded, fullSizeOf, sizeText } from '../../models/downloaded.js'
import type { ParsedArgs } from '../parse.js'
import { Output } from '../output.js'

export async function modelsCommand(parsed: ParsedArgs): Promise<number> {
  const env = process.env
  const out = new Output()
  const place = await placeOfCommand(parsed)
  // where the server would run: this machine's cache and memory, or the host's (asked over ssh)
  const inventory = await placeModule(place).inventory(place, { env, paths: getPaths(env), interactive: isatty(0) && Boolean(process.stderr.isTTY) })
  const { accelerator } = inventory
  const cache = inventory
  if (accelerator.problem) out.warn(accelerator.problem)
  if (cache.problem) out.warn(cache.problem)
  const running = (await listServers(getPaths(env), (m) => out.warn(m))).map((e) => e.info)
  const now = Date.now()
  const cached = cache.models.map((m) => ({ ...m, fullSize: fullSizeOf(m), fit: fitOfDownloaded(m, accelerator) }))
  const recommended = RECOMMENDED.map((r) => {
    // a model only in Python's cache is not downloaded for mistral.rs
    const here = cache.models.find((m) => m.id === r.id && !m.elsewhere)
    return { ...r, fit: fitOf(r, accelerator), cached: Boolean(here), partial: Boolean(here?.partial) }
  })
  if (parsed.options.json) {
    const data = {
      accelerator: { kind: accelerator.kind, name: accelerator.name, totalBytes: accelerator.totalBytes, freeBytes: accelerator.freeBytes ?? null },
      cached: cached.map((m) => ({ id: m.id, bytes: m.bytes, fullBytes: m.fullSize?.bytes ?? null, lastUsed: m.lastUsed ? new Date(m.lastUsed).toISOString() : null, partial: m.partial, elsewhere: m.elsewhere ?? null, contextWindow: m.contextWindow ?? null, fit: m.fit ?? null })),
      running: running.map((s) => ({ id: s.id, models: s.models, url: s.url, state: s.state, contextWindow: s.contextWindow ?? null, sessions: s.sessions })),
      recommended: recommended.map((r) => ({ id: r.id, downloadBytes: r.downloadGB * 1e9, params: r.params, contextWindow: r.context, fit: r.fit, cached: r.cached, partial: r.partial, why: r.why, source: r.source })),
    }
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
    return ExitCode.Ok
  }
  const where = place.kind === 'local' ? '' : ` on ${describePlace(place)}`
  const window = (tokens: number | undefined) => (tokens ? formatTokens(tokens) : '-')
  const lines = [`${accelerator.name}${where}: ${(accelerator.totalBytes / 2 ** 30).toFixed(0)} GB${accelerator.freeBytes !== undefined ? ` (${(accelerator.freeBytes / 2 ** 30).toFixed(0)} GB free)` : ''}`, '']
  lines.push(`Downloaded (Hugging Face cache${where}):`)
  if (!cached.length) lines.push('  none yet: the first run of a model downloads it')
  else
    lines.push(
      ...columns([
        ['MODEL', 'SIZE', 'USED', 'CONTEXT', 'FIT'],
        ...cached.map((m) => [printable(m.id), `${sizeText(m)}${m.elsewhere ? " (Python's cache only)" : m.partial ? ' (partial download)' : ''}`, m.lastUsed ? ago(now - m.lastUsed) : '-', window(m.contextWindow), describeFit(m.fit, accelerator)]),
      ]),
    )
  const note = elsewhereNote(cached)
  if (note) lines.push(`  (${note})`)
  lines.push('', 'Running (mrs ps):')
  if (!running.length) lines.push('  none')
  else lines.push(...columns([['MODEL', 'URL', 'STATE', 'CONTEXT'], ...running.map((s) => [printable(s.models.join(' + ')), s.url, s.state, window(s.contextWindow)])]))
  lines.push('', 'Recommended for coding agents:')
  lines.push(
    ...columns([
      ['MODEL', 'DOWNLOAD', 'CONTEXT', 'FIT', 'DOWNLOADED', 'WHY'],
      ...recommended.map((r) => [r.id, `${r.downloadGB} GB`, window(r.context), describeFit(r.fit, accelerator), r.partial ? 'partly' : r.cached ? 'yes' : 'no', r.why]),
    ]),
  )
  process.stdout.write(`${lines.join('\n')}\n`)
  return ExitCode.Ok
}

/** Rows as aligned columns, indented under their heading (the last column is not padded). */
function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => `  ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`)
}
