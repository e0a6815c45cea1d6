/**
 * A server's output as lines: whole lines (ANSI removed), and the latest state
 * of a line a progress bar keeps redrawing with \r. Bounded: a line that never
 * ends is cut, so a server printing without newlines cannot fill memory.
 */
import { stripAnsi } from '../text.js'

/** Longer lines are cut here (a log line is a few hundred bytes; a progress bar redraws within one). */
export const MAX_LINE = 16 * 1024

export function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void, onProgress: (partial: string) => void): void {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split(/\r?\n/)
    pending = lines.pop()!
    // a progress bar redraws itself with \r: keep the last state of each line
    for (const line of lines) {
      const last = stripAnsi(line.split('\r').filter(Boolean).at(-1) ?? '')
      if (last.trim()) onLine(last.slice(0, MAX_LINE))
    }
    if (pending.length > MAX_LINE) pending = pending.slice(pending.lastIndexOf('\r') + 1).slice(-MAX_LINE)
    const progress = stripAnsi(pending.split('\r').filter((s) => s.trim()).at(-1) ?? '').trim()
    if (progress) onProgress(progress.slice(0, MAX_LINE))
  })
}
