/**
 * `mrs models [--json]`: the models on this machine (the Hugging Face cache),
 * the ones mrs servers run now, and the recommended ones, with their size,
 * context window (from each model's config.json) and whether they fit.
 */
import { isatty } from 'node:tty'
import { ExitCode } from '../../errors.js'
import { describePlace, placeModule } from '../../places/registry.js'
import { placeOfCommand } from '../commands.js'
import { getPaths } from '../../paths.js'
import { listServers } from '../../server/registry.js'
import { formatBytes } from '../../server/download.js'
import { printable } from '../../text.js'
import { formatDuration } from '../../duration.js'
import { describeFit, fitOf } from '../../models/fit.js'
import { RECOMMENDED } from '../../models/recommended.js'
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
  const cached = cache.models.map((m) => ({ ...m, fit: fitOf({ downloadGB: m.bytes / 1e9 }, accelerator) }))
  const recommended = RECOMMENDED.map((r) => ({ ...r, fit: fitOf(r, accelerator), cached: cache.models.some((m) => m.id === r.id) }))
  if (parsed.options.json) {
    const data = {
      accelerator: { kind: accelerator.kind, name: accelerator.name, totalBytes: accelerator.totalBytes, freeBytes: accelerator.freeBytes ?? null },
      cached: cached.map((m) => ({ id: m.id, bytes: m.bytes, lastUsed: m.lastUsed ? new Date(m.lastUsed).toISOString() : null, partial: m.partial, contextWindow: m.contextWindow ?? null, fit: m.fit })),
      running: running.map((s) => ({ id: s.id, models: s.models, url: s.url, state: s.state, contextWindow: s.contextWindow ?? null, sessions: s.sessions })),
      recommended: recommended.map((r) => ({ id: r.id, downloadBytes: r.downloadGB * 1e9, params: r.params, contextWindow: r.context, fit: r.fit, cached: r.cached, why: r.why, source: r.source })),
    }
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
    return ExitCode.Ok
  }
  const where = place.kind === 'local' ? '' : ` on ${describePlace(place)}`
  const lines = [`${accelerator.name}${where}: ${(accelerator.totalBytes / 2 ** 30).toFixed(0)} GB${accelerator.freeBytes !== undefined ? ` (${(accelerator.freeBytes / 2 ** 30).toFixed(0)} GB free)` : ''}`, '']
  lines.push(`Downloaded (Hugging Face cache${where}):`)
  if (!cached.length) lines.push('  none yet: the first run of a model downloads it')
  for (const m of cached)
    lines.push(`  ${printable(m.id)}  ${formatBytes(m.bytes)}${m.partial ? ', partial download' : ''}${m.lastUsed ? `, used ${formatDuration(now - m.lastUsed)} ago` : ''}${m.contextWindow ? `, ${m.contextWindow}-token context` : ''}, ${describeFit(m.fit, accelerator)}`)
  lines.push('', 'Running (mrs ps):')
  if (!running.length) lines.push('  none')
  for (const s of running) lines.push(`  ${s.models.join(' + ')}  ${s.url}  ${s.state}${s.contextWindow ? `, ${s.contextWindow}-token context` : ''}`)
  lines.push('', 'Recommended for coding agents:')
  for (const r of recommended) lines.push(`  ${r.id}  download ${r.downloadGB} GB, ${r.context}-token context, ${describeFit(r.fit, accelerator)}${r.cached ? ', downloaded' : ''} — ${r.why}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  return ExitCode.Ok
}
