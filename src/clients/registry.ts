/**
 * The clients mrs can launch, in the order help and menus show them. Adding
 * one is one module in this directory, its tests, and a README row.
 */
import { claude } from './claude.js'
import { codex } from './codex.js'
import { copilot } from './copilot.js'
import { opencode } from './opencode.js'
import { pi } from './pi.js'
import { qwen } from './qwen.js'
import type { ClientModule } from './types.js'

export const CLIENTS: readonly ClientModule[] = [claude, codex, opencode, copilot, pi, qwen]

export const CLIENT_NAMES: readonly string[] = CLIENTS.map((c) => c.name)

export function clientByName(name: string): ClientModule | undefined {
  return CLIENTS.find((c) => c.name === name)
}
