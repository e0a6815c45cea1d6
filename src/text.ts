/** Edits between two words, a swap of two neighbouring letters counting as one (the commonest typo), for "did you mean". */
export function editDistance(a: string, b: string): number {
  // optimal string alignment: Levenshtein plus adjacent transpositions, over three rows
  let before: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1)
      row.push(d)
    }
    ;[before, prev] = [prev, row]
  }
  return prev[b.length]!
}

/** The candidate closest to `word`, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) [best, bestDistance] = [c, d]
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

/** Removes ANSI escape sequences (colours, cursor moves) from server output. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g, '')
}

/** Quotes a word for POSIX sh when it needs it. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * Text from outside (a file name, a server's model id or error body, a tool
 * name) made safe to print: control characters (C0, DEL, C1), which could
 * clear the screen, move the cursor or forge a line of mrs's own, and the
 * Unicode controls that reorder text, are shown escaped (`\n`, `\x1b`,
 * `\u202e`) instead of acting. Everything else, non-ASCII included, is kept.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }
    if (named[c]) return named[c]
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** A list for a message, cut to what a terminal line can hold: `a, b, c and 197 more`. */
export function shortList(items: readonly string[], max = 10, maxChars = 400): string {
  const shown: string[] = []
  let chars = 0
  for (const item of items) {
    const safe = printable(item.length > 120 ? `${item.slice(0, 117)}...` : item)
    if (shown.length >= max || chars + safe.length > maxChars) break
    shown.push(safe)
    chars += safe.length + 2
  }
  const rest = items.length - shown.length
  return rest > 0 ? `${shown.join(', ')} and ${rest} more` : shown.join(', ')
}

/** A count of tokens as every screen of mrs shows it: `256k` (262144), `40k`, `900`. */
export function formatTokens(n: number): string {
  return n >= 1024 ? `${Math.round(n / 1024)}k` : String(Math.round(n))
}

/** A window in a sentence: `32k tokens (32768)`, the exact figure kept for --context-window. */
export const windowText = (n: number) => (n >= 1024 ? `${formatTokens(n)} tokens (${n})` : `${n} tokens`)
