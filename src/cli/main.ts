/**
 * The top level: argv in, exit code out. The one place that prints errors
 * and the one place that calls process.exit.
 */
import { AbortedBySignal, Cancelled, ExitCode, MrsError, signalExitCode } from '../errors.js'
import { parseArgs } from './parse.js'
import { Output } from './output.js'
import { mark } from '../trace.js'
import { dispatch } from './commands.js'

export { buildCli, helpText, cliShape, versionText } from './parse.js'
export { adoptSpareKeeper } from '../server/keeper-process.js'
export { CLIENT_NAMES } from '../clients/registry.js'

export async function main(argv: string[]): Promise<void> {
  const code = await run(argv).catch(report)
  // let stderr/stdout drain (they may be pipes) before leaving
  process.exitCode = code
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

export async function run(argv: string[]): Promise<number> {
  mark('main')
  return dispatch(parseArgs(argv))
}

function report(error: unknown): number {
  const out = new Output()
  if (error instanceof Cancelled) return signalExitCode('SIGINT')
  if (error instanceof AbortedBySignal) {
    out.info(`interrupted (${error.signal})`)
    return signalExitCode(error.signal)
  }
  if (error instanceof MrsError) {
    out.error(error.message, error.details)
    return error.exitCode
  }
  const e = error as Error
  out.error(`internal error: ${e?.message ?? String(error)}${process.env.DEBUG ? '' : ' (run with DEBUG=mrs for the stack trace)'}`)
  if (process.env.DEBUG) out.write(e?.stack ?? '')
  return ExitCode.Internal
}
