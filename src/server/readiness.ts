/**
 * Is the server ready? mistral.rs binds its port only after the model is
 * loaded, so the first 200 from GET /v1/models means ready. Two ways to see
 * it, raced:
 *   - a poll of /v1/models: the steady mechanism, whatever the server prints
 *     (RUST_LOG may silence it), every 10 ms at first, less often as a load
 *     goes on (a first run may download for an hour);
 *   - `checkNow()`, called when the server logs that it listens, asks at
 *     once, so readiness is seen within milliseconds of the bind.
 * It is one small GET, on purpose: the keeper lives as long as the server,
 * and a polling library (wait-on, with axios and joi) would double its
 * memory for the whole session. mrs uses wait-on where it costs nothing
 * while a session runs: waiting for a --url server that is still starting.
 */
import { getJson, modelIds } from '../http.js'

export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 10
  if (elapsedMs < 120_000) return 25
  return 100
}

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
    const started = Date.now()
    while (!this.done) {
      if (await this.ask()) return
      await new Promise((r) => setTimeout(r, pollInterval(Date.now() - started)).unref())
    }
  }
}
