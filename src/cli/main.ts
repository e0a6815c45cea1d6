/**
 * The top level: argv in, exit code out. The one place that prints errors
 * and the one place that calls process.exit.
 */
import { AbortedBySignal, ExitCode, MrsError, signalExitCode } from '../errors.js'
import { buildCli, parseArgs, type ParsedArgs } from './parse.js'
import { Output } from './output.js'
import { mark } from '../trace.js'
import { dispatch } from './commands.js'

export { buildCli, versionText } from './parse.js'

export async function main(argv: string[]): Promise<void> {
  const code = await run(argv).catch(report)
  // let stderr/stdout drain (they may be pipes) before leaving
  process.exitCode = code
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

export async function run(argv: string[]): Promise<number> {
  mark('main')
  const cli = buildCli()
  const parsed = parseArgs(argv, cli)
  if (parsed.handled) return ExitCode.Ok
  if (!parsed.command) {
    cli.outputHelp()
    return ExitCode.Ok
  }
  return dispatch(parsed as ParsedArgs & { command: string })
}

function report(error: unknown): number {
  const out = new Output()
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
