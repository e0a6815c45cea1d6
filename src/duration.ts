const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Parses "90s", "10m", "1h30m", "500ms" or a bare number of seconds into
 * milliseconds. Returns undefined for anything else so callers can name the
 * offending flag or key in their error.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000)
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]!]!
    matched = re.lastIndex
  }
  return matched > 0 && matched === s.length ? Math.round(total) : undefined
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${(ms / 1000).toFixed(s < 10 ? 1 : 0)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
