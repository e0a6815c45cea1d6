/**
 * Is the server ready? mistral.rs binds its port only after the model is
 * loaded, so the first 200 from GET /v1/models means ready. Two ways to see
 * it, raced:
 *   - wait-on polls /v1/models: the steady mechanism, whatever the server
 *     prints (RUST_LOG may silence it). It runs in short rounds so it can be
 *     cancelled, and starts a moment after the server does, so that loading
 *     it does not compete with the server's own start for the CPU;
 *   - `checkNow()`, called when the server logs that it listens, asks at
 *     once, so readiness is seen within milliseconds of the bind.
 * The poll interval starts short and lengthens for long loads (a first run
 * may download for an hour).
 */
import { getJson, modelIds } from '../http.js'

export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 10
  if (elapsedMs < 120_000) return 25
  return 100
}

const ROUND_MS = 1500
export const POLL_DELAY_MS = 100

export class Readiness {
  /** The served model ids once ready; undefined when aborted. */
  readonly result: Promise<string[] | undefined>
  private resolve!: (ids: string[] | undefined) => void
  private done = false

  constructor(
    private readonly url: string,
    private readonly signal: AbortSignal,
  ) {
    this.result = new Promise((r) => (this.resolve = r))
    signal.addEventListener('abort', () => this.finish(undefined), { once: true })
    setTimeout(() => void this.poll(), POLL_DELAY_MS).unref()
  }

  /** Asks right now (the server said it listens). */
  checkNow(): void {
    void this.ask()
  }

  private finish(ids: string[] | undefined): void {
    if (this.done) return
    this.done = true
    this.resolve(ids)
  }

  private async ask(): Promise<boolean> {
    if (this.done) return true
    try {
      const res = await getJson(`${this.url}/v1/models`, { timeoutMs: 5000 })
      const ids = modelIds(res.body)
      if (res.status === 200 && ids && !this.signal.aborted) {
        this.finish(ids)
        return true
      }
    } catch {
      // not listening yet
    }
    return false
  }

  private async poll(): Promise<void> {
    if (this.done) return
    const { default: waitOn } = await import('wait-on')
    const started = Date.now()
    while (!this.done) {
      try {
        await waitOn({
          resources: [`${this.url.replace(/^http/, 'http-get')}/v1/models`],
          interval: pollInterval(Date.now() - started),
          timeout: ROUND_MS,
          httpTimeout: 5000,
          tcpTimeout: 1000,
          simultaneous: 1,
          window: 0,
          // axios would otherwise send loopback polls through $HTTP_PROXY
          proxy: false,
        })
        // answered 200: fetch the model list (it may have bound a moment ago)
        while (!this.done && !(await this.ask())) await new Promise((r) => setTimeout(r, 10))
      } catch {
        // round timed out: poll again unless done
      }
    }
  }
}
