/**
 * Is the server ready? mistral.rs binds its port only after the model is
 * loaded, so the first 200 from GET /v1/models means ready — but only from
 * the server mrs started: until then its port is free for anyone to bind.
 * So each look first asks who listens (see owner.ts), and only a listener
 * proved to be the server is asked for its models; someone else's ends the
 * wait at once (the keeper starts the server again on another port). Two
 * ways to look, raced:
 *   - a poll: the steady mechanism, whatever the server prints (RUST_LOG may
 *     silence it), every 10 ms at first, less often as a load goes on (a
 *     first run may download for an hour);
 *   - `checkNow()`, called when the server logs that it listens, looks at
 *     once, so readiness is seen within milliseconds of the bind.
 * It is one small GET, on purpose: the keeper lives as long as the server,
 * and a polling library (wait-on, with axios and joi) would double its
 * memory for the whole session.
 */

/** What one look found. */
export type Look = { ids: string[] } | { impostor: string } | 'wait'

export type ReadinessResult = { ids: string[] } | { impostor: string }

export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 10
  if (elapsedMs < 120_000) return 25
  return 100
}

export const POLL_DELAY_MS = 100

export class Readiness {
  /** The served ids once ready, or the impostor found; undefined when aborted. */
  readonly result: Promise<ReadinessResult | undefined>
  private resolve!: (r: ReadinessResult | undefined) => void
  private done = false
  private looking = false

  constructor(
    private readonly look: () => Promise<Look>,
    private readonly signal: AbortSignal,
  ) {
    this.result = new Promise((r) => (this.resolve = r))
    signal.addEventListener('abort', () => this.finish(undefined), { once: true })
    setTimeout(() => void this.poll(), POLL_DELAY_MS).unref()
  }

  /** Looks right now (the server said it listens). */
  checkNow(): void {
    void this.ask()
  }

  private finish(r: ReadinessResult | undefined): void {
    if (this.done) return
    this.done = true
    this.resolve(r)
  }

  private async ask(): Promise<boolean> {
    if (this.done) return true
    // one look at a time: a slow answer is not asked again over itself
    if (this.looking) return false
    this.looking = true
    try {
      const found = await this.look()
      if (found !== 'wait' && !this.signal.aborted) {
        this.finish(found)
        return true
      }
    } catch {
      // not listening yet
    } finally {
      this.looking = false
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
