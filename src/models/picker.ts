/**
 * The interactive pickers (client, model, running server, "save as default?"),
 * with @clack/prompts: type to filter, arrows, Enter, Esc or Ctrl-C to cancel.
 * This module is loaded only when a picker is shown, so no other command
 * pays for the library. Everything is drawn on stderr: stdout is the client's.
 */
import { autocomplete, cancel, confirm, isCancel, select } from '@clack/prompts'
import { Cancelled } from '../errors.js'

const io = { output: process.stderr, input: process.stdin }

/** A picker left with Esc or Ctrl-C: its last line says so (the prompt alone leaves only its struck-out question). */
function cancelled(): never {
  cancel('cancelled: nothing was started', io)
  throw new Cancelled()
}

export interface Choice {
  value: string
  label: string
  hint?: string
}

/** Type-to-filter list; a value typed that is in no row is offered as is (`typed` names that row). */
export async function pickOne(message: string, choices: Choice[], typed?: (input: string) => Choice): Promise<string> {
  const result = await autocomplete<string>({
    ...io,
    message,
    maxItems: 12,
    placeholder: 'type to filter',
    options(this: { userInput: string }) {
      const input = (this.userInput ?? '').trim()
      const q = input.toLowerCase()
      const shown = q ? choices.filter((c) => c.value.toLowerCase().includes(q) || c.label.toLowerCase().includes(q) || c.hint?.toLowerCase().includes(q)) : choices
      return typed && input && !choices.some((c) => c.value === input) ? [...shown, typed(input)] : shown
    },
  })
  if (isCancel(result)) cancelled()
  return result
}

export async function pickFromFew(message: string, choices: Choice[]): Promise<string> {
  const result = await select<string>({ ...io, message, options: choices })
  if (isCancel(result)) cancelled()
  return result
}

export async function yesNo(message: string, initialValue = true): Promise<boolean> {
  const result = await confirm({ ...io, message, initialValue })
  return isCancel(result) ? false : result
}
