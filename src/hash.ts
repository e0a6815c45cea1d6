/**
 * Short names for things mrs keys by (a server's request, a binary's
 * identity for a cache): 64-bit FNV-1a as 16 hex digits, and random ids.
 * Not node:crypto, which costs ~4 ms to load on every start; none of these
 * is a secret or meets an attacker (the files they name are in the user's
 * own private dirs, and every registry entry is verified before use).
 */

/** FNV-1a, 64 bits, over the UTF-8 bytes of `text`, computed in 16-bit limbs. */
export function digest(text: string): string {
  let h0 = 0x2325
  let h1 = 0x8422
  let h2 = 0x9ce4
  let h3 = 0xcbf2
  for (const byte of Buffer.from(text, 'utf8')) {
    h0 ^= byte
    // × 0x100000001b3 (2^40 + 0x1b3), mod 2^64
    const t0 = h0 * 0x1b3
    let t1 = h1 * 0x1b3
    let t2 = h2 * 0x1b3 + (h0 << 8)
    const t3 = h3 * 0x1b3 + (h1 << 8)
    t1 += t0 >>> 16
    h0 = t0 & 0xffff
    t2 += t1 >>> 16
    h1 = t1 & 0xffff
    h3 = (t3 + (t2 >>> 16)) & 0xffff
    h2 = t2 & 0xffff
  }
  return [h3, h2, h1, h0].map((l) => l.toString(16).padStart(4, '0')).join('')
}

/** `bytes` random bytes as hex: unique enough for an id next to a pid (no secret rides on it). */
export function randomHex(bytes: number): string {
  let out = ''
  for (let i = 0; i < bytes; i++) out += Math.floor(Math.random() * 256).toString(16).padStart(2, '0')
  return out
}
