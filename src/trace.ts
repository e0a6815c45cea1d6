/**
 * MRS_TRACE=1 prints how long each startup step took (stderr, ms since the
 * process started): the first thing to look at when mrs feels slow.
 */
const enabled = Boolean(process.env.MRS_TRACE)

export function mark(label: string): void {
  if (enabled) process.stderr.write(`mrs trace ${performance.now().toFixed(1).padStart(7)} ms  ${label}\n`)
}
