/**
 * argv → which command, mrs's own options, and the arguments that belong to
 * the client. The option tables below are the single source: the splitter
 * reads them token by token, and cac is built from them for help (and
 * completion and `--dry-run` read them too).
 *
 * The argument rule for a client command (`mrs NAME` for each client module):
 * mrs's own options are taken wherever they stand before `--`, except those
 * the client module lists as its own (mrs gives way on a collision, and its
 * feature stays reachable under a name no client uses); unknown options and
 * positionals pass to the client in their order; after `--` everything
 * passes. An unknown long option one or two edits from an mrs option, and
 * not an option of that client, is a typo: refused before anything starts.
 */
import { cac, type CAC } from 'cac'
import { ExitCode, MrsError, usageError } from '../errors.js'
import { closest, editDistance } from '../text.js'
import { SETTINGS, type HelpCommand, type Origins, type Scope, type Settings, flagName, flagOrigin, parseSettingValue } from '../config/schema.js'
import { CLIENTS, clientByName } from '../clients/registry.js'
import type { ClientModule } from '../clients/types.js'

declare const __MRS_VERSION__: string
export const VERSION = typeof __MRS_VERSION__ === 'string' ? __MRS_VERSION__ : '0.0.0-dev'

export const versionText = () => `mrs ${VERSION}\n`

export interface ParsedArgs {
  /** '' when no command was given. */
  command: string
  /** Own positional arguments (e.g. the id of `mrs stop ID`). */
  args: string[]
  /** Own options by key (a setting's key, or the option's): strings, string lists, booleans. */
  options: Record<string, unknown>
  /** Arguments for the client, in order. */
  passthrough: string[]
  /** mrs's own tokens as the user typed them (for "the mrs way back" after a session). */
  ownArgv: string[]
  /** The spelling the user typed for each own option, by key (`--host` for `host`): messages name it so. */
  spelled?: Record<string, string>
  /** Help or version was asked for: print it, run nothing. */
  info?: 'help' | 'version'
}

/** One of mrs's own options that is not a setting. */
interface OwnOption {
  key: string
  flags: readonly string[]
  value?: string
  repeat?: boolean
  help: string
  commands: readonly string[]
}

const RUN = ['serve', 'client', 'check']
/** Options of the commands themselves (settings come from SETTINGS). */
const OWN: readonly OwnOption[] = [
  { key: 'preset', flags: ['--preset'], value: 'name', help: 'Use a [presets.NAME] section of the config file', commands: [...RUN, 'env', 'setup'] },
  { key: 'config', flags: ['--mrs-config', '--config'], value: 'path', help: 'Config file (default: $XDG_CONFIG_HOME/mrs/config.toml, or $MRS_CONFIG)', commands: [...RUN, 'env', 'setup', 'doctor', 'alias', 'models'] },
  { key: 'on', flags: ['--on'], value: 'host', help: 'The models, GPU and mistralrs of this SSH host (default: the config\'s `on`, or this machine)', commands: ['doctor', 'models'] },
  { key: 'preset', flags: ['--preset'], value: 'name', help: 'Use a [presets.NAME] section of the config file', commands: ['doctor', 'models'] },
  { key: 'quiet', flags: ['-q', '--quiet'], help: 'No status output', commands: RUN },
  { key: 'serverLog', flags: ['--server-log', '-v', '--verbose'], help: "Stream the server's log", commands: RUN },
  { key: 'dryRun', flags: ['--dry-run'], help: 'Print what would run, start nothing', commands: RUN },
  { key: 'dryRun', flags: ['--dry-run'], help: 'Print the file instead of writing it', commands: ['setup'] },
  { key: 'check', flags: ['--check'], help: "Check that the model calls tools through this client's API before launching it (costs a generation)", commands: ['client'] },
  { key: 'json', flags: ['--json'], help: 'Machine-readable output', commands: ['check', 'ps', 'doctor', 'models'] },
  { key: 'watch', flags: ['-w', '--watch'], help: 'Refresh every second (on a terminal)', commands: ['ps'] },
  { key: 'all', flags: ['--all'], help: 'Stop every server', commands: ['stop'] },
  { key: 'follow', flags: ['-f', '--follow'], help: 'Keep printing as the log grows', commands: ['logs'] },
  { key: 'lines', flags: ['-n', '--lines'], value: 'n', help: 'Only the last n lines', commands: ['logs'] },
  { key: 'shellName', flags: ['--shell'], value: 'shell', help: 'bash, zsh or fish (default: from $SHELL)', commands: ['alias'] },
  { key: 'help', flags: ['-h', '--help'], help: 'Show this help', commands: ['*'] },
]

/** `mrs env NAME --json` / `--toml`: the output formats clients offer besides the default, from their modules. */
function formatOptions(): OwnOption[] {
  const formats = new Map<string, string[]>()
  for (const c of CLIENTS) for (const [format, what] of Object.entries(c.env.formats)) formats.set(format, [...(formats.get(format) ?? []), `${c.name}: ${what}`])
  return [...formats].map(([format, what]) => ({ key: `format:${format}`, flags: [`--${format}`], help: what.join('; '), commands: ['env'] }))
}

/** What each command is, for help and for the splitter. */
interface CommandDef {
  name: string
  /** Positional arguments in help: `<client>`, `[id]`. */
  args: string
  description: string
  scope?: Scope
  kind: string
  client?: ClientModule
}

function commandDefs(): CommandDef[] {
  return [
    ...CLIENTS.map((c) => ({ name: c.name, args: '', description: `Run ${c.title} on a local mistral.rs model`, scope: 'client' as const, kind: 'client', client: c })),
    { name: 'serve', args: '', description: 'Start mistral.rs, wait until it is ready, keep it running until Ctrl-C', scope: 'serve', kind: 'serve' },
    { name: 'check', args: '', description: 'Check that the model calls tools through every API the clients use', scope: 'check', kind: 'check' },
    { name: 'models', args: '', description: 'Models on this machine, running, and recommended, with their size and fit', kind: 'models' },
    { name: 'env', args: '<client>', description: 'Print the environment or flags that point a client at a running server', scope: 'env', kind: 'env' },
    { name: 'setup', args: '<client>', description: `Write a client's config file that points it at a running server (${CLIENTS.filter((c) => c.setup).map((c) => c.name).join(', ')})`, scope: 'env', kind: 'setup' },
    { name: 'ps', args: '', description: 'List the servers mrs started, with their speed and load', kind: 'ps' },
    { name: 'stop', args: '[id]', description: 'Stop a server mrs started (or all of them)', kind: 'stop' },
    { name: 'logs', args: '[id]', description: "Print a server's log", kind: 'logs' },
    { name: 'doctor', args: '[client]', description: 'Check mistral.rs, the clients, the GPU, config, directories and ports', kind: 'doctor' },
    { name: 'alias', args: '', description: 'Print a shell alias per preset: eval "$(mrs alias)"', kind: 'alias' },
    { name: 'completion', args: '<shell>', description: 'Print a completion script for bash, zsh or fish', kind: 'completion' },
    { name: 'help', args: '[command]', description: 'Show help for mrs or a command', kind: 'help' },
    { name: 'version', args: '', description: 'Print the version', kind: 'version' },
  ]
}

/** Words people type for a command mrs spells otherwise. */
const SYNONYMS: Record<string, string> = { status: 'ps', list: 'ps', ls: 'ps', kill: 'stop', log: 'logs', start: 'serve' }

export interface OptionShape {
  key: string
  /** The spelling a message names: the canonical long one. */
  name: string
  takesValue: boolean
  repeat: boolean
  /** `--no-share`: the setting is false when given. */
  negate: boolean
  /** What it does in this command, for its help. */
  help: string
  /** The value's name in help. */
  value?: string
}

/** Every spelling mrs takes for a command, minus those its client keeps for itself. */
export function optionTable(def: Pick<CommandDef, 'kind' | 'scope' | 'name'>, client?: ClientModule): Map<string, OptionShape> {
  const table = new Map<string, OptionShape>()
  const give = new Set(client?.collisions ?? [])
  const add = (flags: readonly string[], shape: Omit<OptionShape, 'name'>) => {
    const name = flags.find((f) => f.startsWith('--')) ?? flags[0]!
    for (const f of flags) if (!give.has(f)) table.set(f, { ...shape, name })
  }
  for (const s of SETTINGS) {
    if (!s.flags || !def.scope || !s.scopes.includes(def.scope)) continue
    // `mistralrs serve -p` is the port; for the clients `-p` is their own (a print or profile option)
    const flags = s.key === 'port' && def.kind === 'serve' ? [...s.flags, '-p'] : s.flags
    const help = s.helpIn?.[def.kind as HelpCommand] ?? s.help
    add(flags, { key: s.key, takesValue: s.value !== undefined, repeat: s.kind === 'strings', negate: s.key === 'share', help, value: s.value })
  }
  for (const o of [...OWN, ...formatOptions()]) {
    if (!o.commands.includes('*') && !o.commands.includes(def.kind)) continue
    add(o.flags, { key: o.key, takesValue: o.value !== undefined, repeat: Boolean(o.repeat), negate: false, help: o.help, value: o.value })
  }
  return table
}

/** Splits argv (without node and script) into command, own options and passthrough. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const [first = '', ...rest] = argv
  const defs = commandDefs()
  if (first === '' || first.startsWith('-')) {
    if (first === '--version' || first === '-V') return { command: '', args: [], options: {}, passthrough: [], ownArgv: [], info: 'version' }
    if (first === '') return { command: '', args: [], options: {}, passthrough: [], ownArgv: [] }
    if (first === '--help' || first === '-h') return { command: '', args: [], options: {}, passthrough: [], ownArgv: [], info: 'help' }
    const hint = closest(first.split('=')[0]!, ['--version', '--help'])
    throw usageError(`unknown option ${first}${hint ? ` (did you mean ${hint}?)` : ''}; run mrs --help`)
  }
  const def = defs.find((d) => d.name === first)
  if (!def) {
    const lower = first.toLowerCase()
    const hint = defs.find((d) => d.name === lower)?.name ?? SYNONYMS[lower] ?? closest(lower, defs.map((d) => d.name))
    throw usageError(`unknown command "${first}"${hint ? ` (did you mean "mrs ${hint}"?)` : ''}; run mrs --help for the list`)
  }
  if ((def.kind === 'version' || def.kind === 'help') && (rest[0] === '--help' || rest[0] === '-h')) return { command: def.name, args: [], options: {}, passthrough: [], ownArgv: [], info: 'help' }
  if (def.kind === 'version') return { command: '', args: [], options: {}, passthrough: [], ownArgv: [], info: 'version' }
  if (def.kind === 'help') {
    const topic = rest[0]
    if (topic !== undefined && !defs.some((d) => d.name === topic && d.kind !== 'help')) throw usageError(`no help for "${topic}": it is not an mrs command; run mrs --help`)
    return { command: topic ?? '', args: [], options: {}, passthrough: [], ownArgv: [], info: 'help' }
  }
  const parsed = splitArgs(rest, def)
  if (parsed.info) return parsed
  const expected = def.args.split(' ').filter(Boolean)
  const required = expected.filter((a) => a.startsWith('<')).length
  if (parsed.args.length < required) throw usageError(`mrs ${first} needs ${expected.join(' ')}; run mrs ${first} --help`)
  if (parsed.args.length > expected.length) throw usageError(`unexpected argument "${parsed.args[expected.length]}" for mrs ${first}; run mrs ${first} --help`)
  return parsed
}

function splitArgs(args: readonly string[], def: CommandDef): ParsedArgs {
  const client = def.client
  const table = optionTable(def, client)
  const options: Record<string, unknown> = {}
  const spelled: Record<string, string> = {}
  const own: string[] = []
  const pass: string[] = []
  const positional: string[] = []
  const mrsLongs = [...table.keys()].filter((k) => k.startsWith('--'))
  // a near miss of the client's --version is caught too: run as it is, the client would refuse it only after the load
  const nearMisses = client?.options.includes('--version') ? [...mrsLongs, '--version'] : mrsLongs
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      if (client) pass.push(...args.slice(i + 1))
      else positional.push(...args.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      ;(client ? pass : positional).push(arg)
      continue
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const shape = table.get(name)
    if (!shape) {
      if (client) {
        // a client's own option passes; a near miss of one of mrs's would only fail after the load
        if (name.startsWith('--') && !client.options.includes(name)) {
          const hint = nearMisses.map((f) => [f, editDistance(name, f)] as const).filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1])[0]?.[0]
          if (hint) throw usageError(`unknown option ${name} (did you mean ${hint}?); to pass ${name} to ${client.name}, put it after --`)
        }
        pass.push(arg)
        continue
      }
      if (name === '--version' || name === '-V') throw usageError(`mrs ${def.name} has no ${name}; mrs --version prints mrs's version`)
      const hint = closest(name, mrsLongs)
      throw usageError(`unknown option ${name}${hint ? ` (did you mean ${hint}?)` : ''}; run mrs ${def.name} --help`)
    }
    // `mrs NAME SUBCOMMAND --help` is the client's help for its subcommand: after a client argument, --help is the client's
    if (shape.key === 'help' && client && pass.length) {
      pass.push(arg)
      continue
    }
    if (shape.key === 'help') return { command: def.name, args: [], options: {}, passthrough: [], ownArgv: [], info: 'help' }
    spelled[shape.key] = name
    if (!shape.takesValue) {
      if (eq > 0) throw usageError(`option ${name} takes no value`)
      options[shape.key] = shape.negate ? false : true
      own.push(arg)
      continue
    }
    let value: string | undefined
    if (eq > 0) value = arg.slice(eq + 1)
    else if (i + 1 < args.length && args[i + 1] !== '--') value = args[++i]
    if (value === undefined) throw usageError(`option ${name} needs a value`)
    options[shape.key] = shape.repeat ? [...((options[shape.key] as string[] | undefined) ?? []), value] : value
    own.push(name, value)
  }
  return { command: def.name, args: positional, options, passthrough: pass, ownArgv: own, spelled }
}

/** The settings given as flags, validated; keys absent when the flag was not given. */
export function settingsFromFlags(options: Record<string, unknown>, scope: Scope, spelled: Record<string, string> = {}): Partial<Settings> {
  const out: Partial<Settings> = {}
  for (const def of SETTINGS) {
    if (!def.flags || !def.scopes.includes(scope)) continue
    const raw = options[def.key]
    if (raw === undefined) continue
    try {
      ;(out as Record<string, unknown>)[def.key] = parseSettingValue(def, raw)
    } catch (e) {
      throw new MrsError(`invalid ${spelled[def.key] ?? flagName(def)} ${JSON.stringify(String(raw))}: ${(e as Error).message}`, ExitCode.Usage)
    }
  }
  return out
}

/** Where each setting given as a flag came from: the spelling typed, and its value. */
export function flagOrigins(parsed: Pick<ParsedArgs, 'options' | 'spelled'>): Origins {
  const out: Origins = {}
  for (const def of SETTINGS) {
    const raw = parsed.options[def.key]
    if (raw === undefined || !def.flags) continue
    out[def.key] = flagOrigin(parsed.spelled?.[def.key] ?? flagName(def)!, raw)
  }
  return out
}

/** The client module of a command, if it is a client command. */
export const clientOf = (command: string): ClientModule | undefined => clientByName(command)

// ---- help, built with cac from the same tables ---------------------------------------

function rawName(flags: readonly string[], value?: string): string {
  return `${flags.join(', ')}${value ? ` <${value}>` : ''}`
}

export function buildCli(): CAC {
  const cli = cac('mrs')
  for (const def of commandDefs()) {
    const cmd = cli.command(`${def.name}${def.args ? ` ${def.args}` : ''}`, def.description, { ignoreOptionDefaultValue: true })
    const table = [...optionTable(def, def.client)]
    const seen = new Set<string>()
    for (const [, shape] of table) {
      if (seen.has(shape.key) || shape.key === 'help') continue
      seen.add(shape.key)
      // taken, so that the refusal says why, but not offered where no client it serves has a slot for a second model
      if (shape.key === 'smallModel' && !offersSmallModel(def)) continue
      const spellings = table.filter(([, s]) => s.key === shape.key).map(([f]) => f)
      cmd.option(rawName(spellings, shape.value), shape.help)
    }
    if (def.client) {
      const c = def.client
      cmd.usage(`${c.name} [-m MODEL] [options] [${c.name} args...] [-- ${c.name} args...]`)
      cmd.example(c.examples.map((e) => `  $ mrs ${c.name} -m Qwen/Qwen3-Coder-Next${e ? ` ${e}` : ''}`).join('\n'))
    }
  }
  const [first, second] = CLIENTS
  cli.example(`  $ mrs ${second!.name}                                  # pick a model, start it, run ${second!.title} on it`)
  cli.example(`  $ mrs ${first!.name} -m Qwen/Qwen3-Coder-Next`)
  cli.example(`  $ mrs ${second!.name} -m Qwen/Qwen3-Coder-Next ${second!.examples[1] ?? ''}`)
  cli.example('  $ mrs serve -m Qwen/Qwen3-Coder-Next --port 1234')
  cli.help((sections) => {
    const name = cli.matchedCommandName
    const def = commandDefs().find((d) => d.name === name)
    sections[0] = { body: def ? `mrs ${def.name} — ${def.description}` : `mrs ${VERSION} — coding agents on a local mistral.rs model` }
    for (const s of sections) s.body = s.body.replace(/ \(default: true\)/g, '').replace(/ +$/gm, '')
    if (def?.client) sections.splice(sections.length - 1, 0, ...clientHelp(def.client))
    if (def) return sections
    // one pointer to every command's own help, not a line per command
    const main = sections.filter((s) => !s.title?.startsWith('For more info'))
    main.splice(main.length - 1, 0, ...mainHelp())
    return [...main, { body: "A command's options and examples: mrs COMMAND --help" }]
  })
  cli.option('-V, --version', 'Print the version')
  return cli
}

function offersSmallModel(def: CommandDef): boolean {
  if (def.client) return def.client.smallModelSlot
  if (def.kind === 'setup') return CLIENTS.some((c) => c.setup && c.smallModelSlot)
  return true
}

function clientHelp(c: ClientModule): { title: string; body: string }[] {
  const given = c.collisions.length ? `  ${c.collisions.join(', ')} ${c.collisions.length === 1 ? 'is' : 'are'} ${c.name}'s own: mrs gives way (its own spellings above still work).\n` : ''
  return [
    {
      title: 'Arguments',
      body: [
        `  mrs's own options above are taken wherever they stand before \`--\`.`,
        `  Every other option and argument is passed to ${c.name}, in order; after \`--\`, everything is.`,
        `${given}  ${c.name}'s own help: mrs ${c.name} -- --help (runs at once, no model loaded)`,
        '  Without -m: a server mrs runs, the config file\'s model, or a picker on a terminal.',
      ].join('\n'),
    },
  ]
}

function mainHelp(): { title: string; body: string }[] {
  return [
    {
      title: 'Configuration',
      body: [
        '  $XDG_CONFIG_HOME/mrs/config.toml (or --mrs-config / $MRS_CONFIG): defaults, and [presets.NAME] sections',
        '  used with --preset NAME; eval "$(mrs alias)" turns each preset into an mrs-NAME alias.',
      ].join('\n'),
    },
  ]
}

/** The text of a command's help (or the main help for ''). */
export function helpText(command: string): string {
  const cli = buildCli()
  let text = ''
  const original = console.info
  console.info = (s: string) => (text += `${s}\n`)
  try {
    cli.parse(['node', 'mrs', ...(command ? [command] : []), '--help'], { run: false })
  } finally {
    console.info = original
  }
  return text
}

/** Every command name, its options' spellings, and (for completion) the key of each option that takes a value. */
export function cliShape(): { name: string; args: string; options: string[]; values: Record<string, string> }[] {
  return commandDefs()
    .filter((d) => d.kind !== 'help' && d.kind !== 'version')
    .map((d) => {
      const table = optionTable(d, d.client)
      const values = Object.fromEntries([...table].filter(([, s]) => s.takesValue).map(([flag, s]) => [flag, s.key]))
      return { name: d.name, args: d.args, options: [...table.keys()], values }
    })
}
