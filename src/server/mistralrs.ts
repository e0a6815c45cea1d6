/**
 * The mistralrs binary itself: where it is on this machine, how to install
 * it, and which of its versions have what mrs uses.
 */
import { ExitCode, MrsError } from '../errors.js'
import type { Settings } from '../config/schema.js'
import type { Env } from '../paths.js'
import { findExecutable } from '../process/which.js'

export const MISTRALRS_INSTALL =
  "curl --proto '=https' --tlsv1.2 -sSf https://raw.githubusercontent.com/EricLBuehler/mistral.rs/master/install.sh | sh"

/** mistral.rs versions from which `--quant auto` exists. */
export const QUANT_AUTO_SINCE = '0.8.2'

export function notFound(what: string, install: string, detail = 'not found on PATH'): MrsError {
  return new MrsError(`${what} ${detail}; install it: ${install}`, ExitCode.NotFound)
}

/** The mistralrs binary (--mistralrs, MRS_MISTRALRS or PATH), or exit 127 with how to install it. */
export function locateMistralrs(settings: Pick<Settings, 'mistralrs'>, env: Env): string {
  const binary = findExecutable(settings.mistralrs ?? 'mistralrs', env)
  if (!binary) throw notFound('mistralrs', `${MISTRALRS_INSTALL} (or pass --mistralrs PATH / set MRS_MISTRALRS)`, settings.mistralrs ? `not found at ${settings.mistralrs}` : 'not found on PATH')
  return binary
}
