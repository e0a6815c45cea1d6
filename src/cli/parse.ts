/**
 * argv → which command, mrs's own flags, and the arguments that belong to the
 * client. cac holds the option definitions (and prints help); the splitter
 * below reads them to decide, token by token, what is mrs's.
 *
 * The argument rule for `mrs claude` / `mrs codex`: mrs's own options are
 * consumed wherever they stand before `--`; unknown options and positionals
 * pass to the client in their order; after `--` everything passes.
 */
import { cac, type CAC, type Command as CacCommand } from 'cac'
import { ExitCode, MrsError, usageError } from '../errors.js'
import { closest } from '../text.js'
import { SETTINGS, type Command, type Settings, flagName, parseSettingValue } from '../config/schema.js'

declare const __MRS_VERSION__: string
export const VERSION = typeof __MRS_VERSION__ === 'string' ? __MRS_VERSION__ : '0.0.0-dev'

export const versionText = () => `mrs ${VERSION}\n`

export const PASSTHROUGH_COMMANDS = new Set(['claude', 'codex'])

export interface ParsedArgs {
  /** '' when no command was given. */
  command: string
  /** Own positional arguments (e.g. the id of `mrs stop ID`). */
  args: string[]
  /** Own options as cac parsed them (camelCase keys). */
  options: Record<string, unknown>
  /** Arguments for the client, in order. */
  passthrough: string[]
  /** Help or version was printed; nothing else should run. */
  handled: boolean
}

const RUN_COMMON = (cmd: CacCommand) =>
  cmd
    .option('--preset <name>', 'Use a [presets.NAME] section of the config file')
    .option('--config <path>', 'Config file (default: $XDG_CONFIG_HOME/mrs/config.toml, or $MRS_CONFIG)')
    .option('-q, --quiet', 'No status output')
    .option('-v, --verbose', "Stream the server's output")
    .option('--dry-run', 'Print what would run, start nothing')

function addSettings(cmd: CacCommand, command: Command, only?: ReadonlySet<keyof Settings>): CacCommand {
  for (const def of SETTINGS) {
    if (!def.flag || !def.commands.includes(command) || (only && !only.has(def.key))) continue
    // `mistralrs serve -p` is the port; for the clients `-p` is theirs (claude --print, codex --profile).
    const raw = def.key === 'port' && command === 'serve' ? '-p, --port <n>' : def.flag
    cmd.option(raw, def.help)
  }
  return cmd
}

const PASSTHROUGH_HELP = (client: string) => [
  {
    title: 'Arguments',
    body: [
      `  mrs's own options above are taken wherever they stand before \`--\`.`,
      `  Every other option and argument is passed to ${client}, in order; after \`--\`, everything is.`,
      `  ${client === 'claude' ? '-p means claude --print' : '-p means codex --profile'}; mrs's port is --port.`,
      `  ${client}'s own help: mrs ${client} -- --help`,
    ].join('\n'),
  },
]

export function buildCli(): CAC {
  const cli = cac('mrs')
  const config = { ignoreOptionDefaultValue: true }
  for (const client of ['claude', 'codex'] as const) {
    const cmd = cli.command(client, `Run ${client === 'claude' ? 'Claude Code' : 'the Codex CLI'} on a local mistral.rs model`, config)
    addSettings(cmd, client)
    RUN_COMMON(cmd)
    cmd.usage(`${client} -m MODEL [options] [${client} args...] [-- ${client} args...]`)
    cmd.example(
      client === 'claude'
        ? `  $ mrs claude -m Qwen/Qwen3-Coder-Next\n  $ mrs claude -m Qwen/Qwen3-Coder-Next --continue\n  $ mrs claude -m Qwen/Qwen3-Coder-Next -- -p "explain src/cli"`
        : `  $ mrs codex -m Qwen/Qwen3-Coder-Next\n  $ mrs codex -m Qwen/Qwen3-Coder-Next -- exec "fix the failing test"\n  $ mrs codex -m Qwen/Qwen3-Coder-Next resume --last`,
    )
  }
  const serve = cli.command('serve', 'Start mistral.rs, wait until it is ready, keep it running until Ctrl-C', config)
  addSettings(serve, 'serve')
  RUN_COMMON(serve)
  serve.usage('serve -m MODEL [options]')

  const clientArgs = new Set<keyof Settings>(['url', 'model', 'smallModel', 'context', 'webSearch', 'apiKeyEnv', 'port'])
  const env = cli.command('env <client>', 'Print the environment or flags that point claude or codex at a running server', config)
  addSettings(env, 'claude', clientArgs)
  env
    .option('--json', 'claude: print a settings.json snippet instead of export lines')
    .option('--toml', 'codex: print a profile (TOML) instead of -c flags')
    .option('--preset <name>', 'Use a preset')
    .option('--config <path>', 'Config file')

  const setup = cli.command('setup <client>', 'Write $CODEX_HOME/mistralrs.config.toml so `codex --profile mistralrs` works', config)
  addSettings(setup, 'codex', clientArgs)
  setup.option('--preset <name>', 'Use a preset').option('--config <path>', 'Config file').option('--dry-run', 'Print the file, write nothing')

  cli.command('ps', 'List the servers mrs started', config).option('--json', 'Machine-readable output')
  cli.command('stop [id]', 'Stop a server mrs started (or all of them)', config).option('--all', 'Stop every server')
  cli
    .command('logs [id]', "Print a server's log", config)
    .option('-f, --follow', 'Keep printing as the log grows')
    .option('-n, --lines <n>', 'Only the last n lines')
  cli.command('doctor [client]', 'Check mistral.rs, the clients (or only claude / codex), config, directories and ports', config).option('--json', 'Machine-readable output').option('--config <path>', 'Config file')
  cli
    .command('alias', 'Print a shell alias per preset: eval "$(mrs alias)"', config)
    .option('--shell <shell>', 'bash, zsh or fish (default: from $SHELL)')
    .option('--config <path>', 'Config file')
  cli.command('completion <shell>', 'Print a completion script for bash, zsh or fish', config)

  cli.example('  $ mrs claude -m Qwen/Qwen3-Coder-Next')
  cli.example('  $ mrs codex -m Qwen/Qwen3-Coder-Next -- exec "fix the failing test"')
  cli.example('  $ mrs serve -m Qwen/Qwen3-Coder-Next -p 1234')
  cli.help((sections) => {
    const name = cli.matchedCommandName
    if (name === 'claude' || name === 'codex') sections.splice(sections.length - 1, 0, ...PASSTHROUGH_HELP(name))
    return sections
  })
  cli.option('--version', 'Print the version')
  return cli
}

interface OptionShape {
  /** The flag as mrs passes it on to cac: the option's last long form. */
  long: string
  takesValue: boolean
}

/** The spellings a user types, from the raw definition (cac camelCases `names`). */
export function optionSpellings(option: { rawName: string }): string[] {
  return option.rawName
    .replace(/[<[].*$/, '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
}

/** Every spelling of every option of `command` (and the global ones), e.g. `-m`, `--model`, `--no-share`. */
function optionTable(cli: CAC, command: string): Map<string, OptionShape> {
  const table = new Map<string, OptionShape>()
  const cmd = cli.commands.find((c) => c.name === command)
  for (const o of [...cli.globalCommand.options, ...(cmd?.options ?? [])]) {
    const flags = optionSpellings(o)
    const shape = { long: flags.filter((f) => f.startsWith('--')).at(-1) ?? flags[0]!, takesValue: !o.isBoolean }
    for (const f of flags) table.set(f, shape)
  }
  return table
}

/** Splits argv (without node and script) into command, own options and passthrough. */
export function parseArgs(argv: readonly string[], cli: CAC = buildCli()): ParsedArgs {
  const [first = '', ...rest] = argv
  const known = cli.commands.map((c) => c.name)
  if (first === '' || first.startsWith('-')) {
    // `mrs`, `mrs --help`, `mrs --version`
    const own = splitArgs(argv, optionTable(cli, ''), false)
    return runCac(cli, '', own.own, [])
  }
  if (!known.includes(first)) {
    const hint = closest(first, known)
    throw usageError(`unknown command "${first}"${hint ? ` (did you mean "mrs ${hint}"?)` : ''}; run mrs --help for the list`)
  }
  const passthrough = PASSTHROUGH_COMMANDS.has(first)
  const { own, pass } = splitArgs(rest, optionTable(cli, first), passthrough)
  return runCac(cli, first, own, pass)
}

function splitArgs(args: readonly string[], table: Map<string, OptionShape>, passthrough: boolean) {
  const own: string[] = []
  const pass: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      if (passthrough) pass.push(...args.slice(i + 1))
      else own.push(...args.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      ;(passthrough ? pass : own).push(arg)
      continue
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const shape = table.get(name)
    if (!shape) {
      if (passthrough) {
        pass.push(arg)
        continue
      }
      const hint = closest(name, [...table.keys()].filter((k) => k.startsWith('--')))
      throw usageError(`unknown option ${name}${hint ? ` (did you mean ${hint}?)` : ''}; run mrs --help`)
    }
    const long = shape.long
    if (!shape.takesValue) {
      if (eq > 0) throw usageError(`option ${name} takes no value`)
      own.push(long)
      continue
    }
    let value: string | undefined
    if (eq > 0) value = arg.slice(eq + 1)
    else if (i + 1 < args.length && args[i + 1] !== '--') value = args[++i]
    if (value === undefined) throw usageError(`option ${name} needs a value`)
    // `=` keeps a value such as `--isq` from being read as an option by cac.
    own.push(`${long}=${value}`)
  }
  return { own, pass }
}

function runCac(cli: CAC, command: string, own: string[], passthrough: string[]): ParsedArgs {
  let parsed: { args: readonly string[]; options: Record<string, unknown> }
  try {
    parsed = cli.parse(['node', 'mrs', ...(command ? [command] : []), ...own], { run: false })
  } catch (e) {
    throw usageError(`${(e as Error).message}; run mrs --help`)
  }
  if (parsed.options.version && !command && !parsed.options.help) process.stdout.write(versionText())
  const handled = Boolean(parsed.options.help || (parsed.options.version && !command))
  if (!handled && command) {
    const cmd = cli.matchedCommand!
    const required = cmd.args.filter((a) => a.required).length
    if (parsed.args.length < required) throw usageError(`mrs ${command} needs ${cmd.args.map((a) => `<${a.value}>`).join(' ')}; run mrs ${command} --help`)
    if (parsed.args.length > cmd.args.length)
      throw usageError(`unexpected argument "${parsed.args[cmd.args.length]}" for mrs ${command}; run mrs ${command} --help`)
  }
  const { '--': _, ...options } = parsed.options
  return { command, args: [...parsed.args], options, passthrough, handled }
}

/** The settings given as flags, validated; keys absent when the flag was not given. */
export function settingsFromFlags(options: Record<string, unknown>, command: Command): Partial<Settings> {
  const out: Partial<Settings> = {}
  for (const def of SETTINGS) {
    if (!def.flag || !def.commands.includes(command)) continue
    const key = def.key === 'share' ? 'share' : camel(flagName(def)!.slice(2))
    let raw = options[key]
    if (raw === undefined) continue
    if (def.kind !== 'strings' && Array.isArray(raw)) raw = raw.at(-1)
    if (def.kind === 'strings') raw = [raw].flat().map(String)
    else if (def.kind !== 'bool' && typeof raw === 'number' && def.kind !== 'port' && def.kind !== 'int') raw = String(raw)
    try {
      ;(out as Record<string, unknown>)[def.key] = parseSettingValue(def, raw)
    } catch (e) {
      throw new MrsError(`invalid ${flagName(def)} ${JSON.stringify(String(raw))}: ${(e as Error).message}`, ExitCode.Usage)
    }
  }
  return out
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
