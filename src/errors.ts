/**
 * Every exit code mrs can produce, in one place. The README's table is
 * checked against this object by a unit test. When a client ran, mrs exits
 * with the client's own code instead (128 + N when it died by signal N).
 */
export const ExitCode = {
  Ok: 0,
  /** `mrs doctor` found problems, or nothing matched (`mrs stop`/`mrs logs`). */
  Failure: 1,
  /** Unknown option, missing or invalid value on the command line or in MRS_* variables. */
  Usage: 64,
  /** The config file is malformed, has an unknown key or a wrong type, or names an unknown preset. */
  Config: 65,
  /** The port is already in use. */
  PortInUse: 66,
  /** mistral.rs exited before it was ready (bad model id, out of memory, ...). */
  ServerFailed: 67,
  /** The server answers but does not serve the requested model. */
  ModelNotServed: 68,
  /** A `--url` server does not answer or refuses the key. */
  Unreachable: 69,
  /** The server died mid-session and could not be restarted, or `mrs stop` stopped it. */
  ServerLost: 70,
  /** A bug in mrs. Run with DEBUG=mrs for the stack trace. */
  Internal: 71,
  /** mrs cannot use its state, runtime or temp directory: not a directory, not the user's own, or not writable. */
  StateDir: 73,
  /** The keeper of a running shared server does not answer (stopped with SIGSTOP or Ctrl-Z, or hung). */
  KeeperUnresponsive: 75,
  /** The model failed the tool-call check (`mrs check`, `--check`): a client on it would not work. */
  CheckFailed: 76,
  /** ssh was refused: authentication, or a host key that is unknown or changed (`--on`). */
  Refused: 77,
  /** The server was not ready within `--timeout`. */
  Timeout: 124,
  /** `mistralrs` or the client is not installed. */
  NotFound: 127,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as const
export type ForwardedSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

/** The shell convention for "ended by signal N". */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (SIGNAL_NUMBERS as Record<string, number>)[signal]
  return 128 + (n ?? 15)
}

/**
 * An expected failure: its message is shown to the user as is (one line that
 * says what to do), its code becomes the exit code. `details` are extra lines
 * (a server's log tail) printed under the message.
 */
export class MrsError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly details: string[] = [],
  ) {
    super(message)
    this.name = 'MrsError'
  }
}

/** Thrown when a signal aborted startup; the top-level handler exits 128+N. */
export class AbortedBySignal extends Error {
  constructor(readonly signal: ForwardedSignal) {
    super(`interrupted by ${signal}`)
    this.name = 'AbortedBySignal'
  }
}

/** The user cancelled a picker (Esc, Ctrl-C): nothing was started; exit 130 without a word more. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled')
    this.name = 'Cancelled'
  }
}

export const usageError = (message: string) => new MrsError(message, ExitCode.Usage)
