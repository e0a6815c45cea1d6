/** Port questions, answered by trying to listen: the only reliable test. */
import { createServer } from 'node:net'
import getPort from 'get-port'

export function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.unref()
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'EADDRINUSE' && e.code !== 'EACCES'))
    probe.listen({ port, host: host === 'localhost' ? '127.0.0.1' : host, exclusive: true }, () => probe.close(() => resolve(true)))
  })
}

/** A free port on `host`. */
export async function freePort(host: string): Promise<number> {
  return getPort({ host: host === 'localhost' ? '127.0.0.1' : host })
}
