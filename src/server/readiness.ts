/**
 * Polls GET /v1/models with wait-on until it answers 200. mistral.rs binds
 * its port only after the model is loaded, so the first 200 means ready.
 * wait-on cannot be cancelled, so it runs in short rounds that stop as soon
 * as `signal` aborts (the server exited, or the session gave up). The poll
 * interval starts short, so readiness is seen within milliseconds of the
 * bind, and lengthens for long loads (a first run may download for an hour).
 */
export function pollInterval(elapsedMs: number): number {
  if (elapsedMs < 15_000) return 10
  if (elapsedMs < 120_000) return 25
  return 100
}

const ROUND_MS = 1500

export async function waitUntilServing(url: string, signal: AbortSignal, headers?: Record<string, string>): Promise<boolean> {
  const { default: waitOn } = await import('wait-on')
  const started = Date.now()
  while (!signal.aborted) {
    try {
      await waitOn({
        resources: [`${url.replace(/^http/, 'http-get')}/v1/models`],
        interval: pollInterval(Date.now() - started),
        timeout: ROUND_MS,
        httpTimeout: 5000,
        tcpTimeout: 1000,
        simultaneous: 1,
        window: 0,
        // axios would otherwise send loopback polls through $HTTP_PROXY
        proxy: false,
        ...(headers ? { headers } : {}),
      })
      return !signal.aborted
    } catch {
      // round timed out: poll again unless aborted
    }
  }
  return false
}
