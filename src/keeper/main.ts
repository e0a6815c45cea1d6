/**
 * Entry of the keeper process (dist/keeper.js). Its argv carries a marker and
 * the server id so `mrs ps` can tell a live keeper from a reused PID; the
 * configuration arrives as the first line on stdin.
 */
import { Keeper } from './keeper.js'
import { mark } from '../trace.js'
import type { KeeperStart } from './protocol.js'

function readFirstLine(): Promise<KeeperStart> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      const nl = buffer.indexOf('\n')
      if (nl < 0) return
      process.stdin.off('data', onData)
      process.stdin.off('end', onEnd)
      const rest = buffer.slice(nl + 1)
      if (rest) process.stdin.unshift(Buffer.from(rest))
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as KeeperStart)
      } catch (e) {
        reject(e)
      }
    }
    const onEnd = () => reject(new Error('mrs went away before sending the keeper its configuration'))
    process.stdin.on('data', onData)
    process.stdin.on('end', onEnd)
  })
}

mark('keeper main')
readFirstLine().then(
  (start) => new Keeper(start).run(),
  (e: Error) => {
    process.stderr.write(`[mrs keeper] ${e.message}\n`)
    process.exit(1)
  },
)
