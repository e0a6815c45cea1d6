/**
 * Reading a file that is not mrs's own (a model's config.json in the Hugging
 * Face cache, which anything could have put there): only a regular file, only
 * up to a cap. A FIFO would block the reader forever (the keeper reads
 * config.json) and /dev/zero would fill memory; both are refused instead.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'

export function readRegularFile(path: string, maxBytes: number): string {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below)
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTREGULAR' })
    if (st.size > maxBytes) throw Object.assign(new Error(`${path} is larger than ${maxBytes} bytes`), { code: 'ETOOBIG' })
    const buffer = Buffer.alloc(st.size)
    let read = 0
    while (read < st.size) {
      const n = readSync(fd, buffer, read, st.size - read, read)
      if (n === 0) break
      read += n
    }
    return buffer.subarray(0, read).toString('utf8')
  } finally {
    closeSync(fd)
  }
}
