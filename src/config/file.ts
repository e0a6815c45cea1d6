/**
 * Reads and validates the TOML config file. Every problem is an MrsError
 * (exit code Config) naming the file, and the line:column for syntax errors
 * or the dotted key for unknown keys and wrong types.
 */
import { readFileSync } from 'node:fs'
import { parse, TomlError } from 'smol-toml'
import { ExitCode, MrsError } from '../errors.js'
import { closest } from '../text.js'
import { CLIENT_NAMES } from '../clients/registry.js'
import { PRESET_EXTRA_KEYS, SETTING_BY_TOML, type Settings, parseSettingValue } from './schema.js'

export interface Preset {
  settings: Partial<Settings>
  /** The values as written, for messages that quote them. */
  raw?: RawSettings
  /** The client its alias runs (`mrs alias`). */
  client?: string
  description?: string
}

export interface ConfigFile {
  path: string
  /** False when the default path has no file: that is fine, all defaults apply. */
  exists: boolean
  settings: Partial<Settings>
  /** The top-level values as written, for messages that quote them. */
  raw?: RawSettings
  presets: Record<string, Preset>
}

export type RawSettings = Partial<Record<keyof Settings, unknown>>

const configError = (path: string, message: string) => new MrsError(`config error in ${path}: ${message}`, ExitCode.Config)

export async function loadConfigFile(path: string, mustExist: boolean): Promise<ConfigFile> {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // ENOTDIR: a file where the config directory would be holds no config either
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !mustExist) return { path, exists: false, settings: {}, presets: {} }
    if (code === 'ENOENT') throw configError(path, 'no such file (check --config or MRS_CONFIG)')
    throw configError(path, code === 'EISDIR' ? 'it is a directory, not a file' : `cannot read it (${code ?? (e as Error).message})`)
  }
  const bad = firstInvalidUtf8(bytes)
  if (bad >= 0) {
    // TOML files are UTF-8; a silently replaced byte could change a model id or a path
    const before = bytes.subarray(0, bad).toString('utf8').split('\n')
    throw new MrsError(`${path}:${before.length}:${before.at(-1)!.length + 1}: invalid UTF-8 (byte 0x${bytes[bad]!.toString(16).padStart(2, '0')}); save the file as UTF-8`, ExitCode.Config)
  }
  return parseConfigText(path, bytes.toString('utf8'))
}

/** Index of the first byte that is not part of valid UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (len === 0 || i + len > bytes.length) return i
    for (let k = 1; k < len; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    // overlong forms, UTF-16 surrogates and code points above U+10FFFF
    const b1 = bytes[i + 1]!
    if ((b === 0xe0 && b1 < 0xa0) || (b === 0xed && b1 > 0x9f) || (b === 0xf0 && b1 < 0x90) || (b === 0xf4 && b1 > 0x8f)) return i
    i += len
  }
  return -1
}

export async function parseConfigText(path: string, text: string): Promise<ConfigFile> {
  let doc: Record<string, unknown>
  try {
    doc = parse(text) as Record<string, unknown>
  } catch (e) {
    if (e instanceof TomlError) {
      const open = unclosedString(text, e)
      if (open) throw new MrsError(`${path}:${open.line}:${open.column}: invalid TOML: this string is not closed; end it with ${open.quote}${open.quote.length === 1 ? ' on the same line' : ''}`, ExitCode.Config)
      const reason = e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')
      throw new MrsError(`${path}:${e.line}:${e.column}: invalid TOML: ${reason}`, ExitCode.Config)
    }
    throw e
  }
  const { presets: rawPresets, ...top } = doc
  const { settings, raw } = readSettings(path, top, '')
  // no prototype: a preset named "toString" or "__proto__" is just a name
  const presets: Record<string, Preset> = Object.create(null)
  if (rawPresets !== undefined) {
    if (!isTable(rawPresets)) throw configError(path, '"presets" must be a table of [presets.NAME] sections')
    for (const [name, raw] of Object.entries(rawPresets)) {
      if (!isTable(raw)) throw configError(path, `"presets.${name}" must be a table`)
      const { client, description, ...rest } = raw
      if (client !== undefined && (typeof client !== 'string' || !CLIENT_NAMES.includes(client)))
        throw configError(path, `"presets.${name}.client" must be one of ${CLIENT_NAMES.map((c) => `"${c}"`).join(', ')}, got ${JSON.stringify(client)}`)
      if (description !== undefined && typeof description !== 'string')
        throw configError(path, `"presets.${name}.description" must be a string`)
      presets[name] = { ...readSettings(path, rest, `presets.${name}.`), client: client as string | undefined, description }
    }
  }
  return { path, exists: true, settings, raw, presets }
}

/**
 * A string left open: smol-toml reports the line's end ("control characters
 * are not allowed in strings") or the file's ("unfinished string"); the user
 * needs the quote that opened it.
 */
function unclosedString(text: string, e: TomlError): { line: number; column: number; quote: string } | undefined {
  const lineText = text.split('\n')[e.line - 1]?.replace(/\r$/, '') ?? ''
  const atEnd = e.column > lineText.length
  if (!/unfinished string/.test(e.message) && !(atEnd && /control characters are not allowed in strings/.test(e.message))) return undefined
  // walk the line as TOML reads it: the string still open at its end is the one
  let open: { column: number; quote: string } | undefined
  for (let i = 0; i < lineText.length; i++) {
    const c = lineText[i]!
    if (open) {
      if (open.quote.startsWith('"') && c === '\\') i++
      else if (lineText.startsWith(open.quote, i)) {
        i += open.quote.length - 1
        open = undefined
      }
    } else if (c === '#') break
    else if (c === '"' || c === "'") {
      const quote = lineText.startsWith(c.repeat(3), i) ? c.repeat(3) : c
      open = { column: i + 1, quote }
      i += quote.length - 1
    }
  }
  return open && { line: e.line, ...open }
}

function readSettings(path: string, table: Record<string, unknown>, prefix: string): { settings: Partial<Settings>; raw: RawSettings } {
  const out: Partial<Settings> = {}
  const raw: RawSettings = {}
  for (const [key, value] of Object.entries(table)) {
    const def = SETTING_BY_TOML.get(key)
    if (!def) {
      const known = [...SETTING_BY_TOML.keys(), ...(prefix ? PRESET_EXTRA_KEYS : ['presets'])]
      const hint = closest(key, known)
      throw configError(path, `unknown key "${prefix}${key}"${hint ? ` (did you mean "${hint}"?)` : ''}`)
    }
    try {
      ;(out as Record<string, unknown>)[def.key] = parseSettingValue(def, value, 'toml')
    } catch (e) {
      throw configError(path, `"${prefix}${key}" ${(e as Error).message}, got ${JSON.stringify(value)}`)
    }
    raw[def.key] = value
  }
  return { settings: out, raw }
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
