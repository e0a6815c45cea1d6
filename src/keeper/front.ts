/**
 * The front door: the port the clients are given, bound by the keeper before
 * mistral.rs starts and held until the server stops. mistral.rs itself
 * listens on a private backend (a loopback port, or a tunnel's Unix socket),
 * which can change when it restarts; the front does not, so the clients carry
 * on, and no other local user can take the clients' port while mistral.rs
 * loads or restarts (a port mistral.rs binds only after its load is open to
 * anyone until then). Connections are passed through byte for byte, and only
 * to a backend the keeper has proved to be its server; while there is none
 * (loading, restarting) a connection is closed at once, as a refused one
 * would be.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export type Backend = { host: string; port: number } | { socketPath: string }

/** A request that asks the model for an answer (not a model list, a health check or /metrics). */
const ASKING = /(?:^|\r\n)POST \/v1\/(?:messages|chat\/completions|responses|completions)[ ?]/

export class FrontDoor {
  private readonly server: Server
  private backend?: Backend
  private readonly sockets = new Set<Socket>()
  /** Requests for an answer that came through, over the server's life (a session's conversation shows as some). */
  asked = 0

  private constructor(server: Server) {
    this.server = server
    server.on('connection', (client) => this.pass(client))
  }

  /** Binds host:port (0 picks a free one); rejects with the bind error (EADDRINUSE for a taken port). */
  static open(host: string, port: number): Promise<FrontDoor> {
    // half-open: a client that ends its side after the request still gets the answer
    const server = createServer({ noDelay: true, allowHalfOpen: true })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      // exclusive: a port another process holds with SO_REUSEPORT is not shared with it
      server.listen({ host: host === 'localhost' ? '127.0.0.1' : host, port, exclusive: true }, () => {
        server.off('error', reject)
        resolve(new FrontDoor(server))
      })
    })
  }

  get port(): number {
    return (this.server.address() as { port: number }).port
  }

  /** Where connections go from now on (undefined: nowhere, they are closed). Open connections keep their backend. */
  setBackend(backend: Backend | undefined): void {
    this.backend = backend
  }

  private pass(client: Socket): void {
    const backend = this.backend
    if (!backend) return void client.destroy()
    const upstream = 'socketPath' in backend ? connect({ path: backend.socketPath, allowHalfOpen: true }) : connect({ host: backend.host, port: backend.port, noDelay: true, allowHalfOpen: true })
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
      // either side going away ends the other: the client sees a closed connection, as with mistral.rs itself
      s.on('error', () => {})
    }
    client.setNoDelay(true)
    // a request line starts a chunk, or follows the previous request on a kept-alive connection
    client.on('data', (chunk: Buffer) => {
      if (chunk.includes('POST /v1/') && ASKING.test(chunk.toString('latin1'))) this.asked++
    })
    client.pipe(upstream)
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  }

  /** Stops listening and drops every open connection. */
  close(): void {
    this.server.close()
    for (const s of this.sockets) s.destroy()
  }
}
