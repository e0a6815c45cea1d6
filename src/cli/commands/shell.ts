/** `mrs alias` and `mrs completion`: shell integration generated from the config and the CLI definition. */
import { basename } from 'node:path'
import { ExitCode } from '../../errors.js'
import { usageError } from '../../errors.js'
import { loadConfig } from '../../config/resolve.js'
import { cliShape, type ParsedArgs } from '../parse.js'
import { CLIENT_NAMES } from '../../clients/registry.js'
import { Output } from '../output.js'
import { shellQuote } from '../../text.js'

type Parsed = ParsedArgs
type Shell = 'bash' | 'zsh' | 'fish'
const SHELLS: Shell[] = ['bash', 'zsh', 'fish']

function shellFrom(flag: unknown): Shell {
  const name = typeof flag === 'string' ? flag : basename(process.env.SHELL ?? 'bash')
  if (!SHELLS.includes(name as Shell)) {
    if (typeof flag === 'string') throw usageError(`--shell ${name}: mrs knows bash, zsh and fish`)
    return 'bash'
  }
  return name as Shell
}

/** A preset name a shell takes literally: an alias name, and a word bash's `compgen -W` does not expand. */
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

export function aliasLines(presets: Record<string, { client?: string }>, shell: Shell): { lines: string[]; skipped: string[] } {
  const lines: string[] = []
  const skipped: string[] = []
  for (const [name, preset] of Object.entries(presets)) {
    if (!PLAIN_NAME.test(name)) {
      skipped.push(name)
      continue
    }
    const command = `mrs ${preset.client ?? CLIENT_NAMES[0]} --preset ${name}`
    lines.push(shell === 'fish' ? `alias mrs-${name} ${shellQuote(command)}` : `alias mrs-${name}=${shellQuote(command)}`)
  }
  return { lines, skipped }
}

export async function aliasCommand(parsed: Parsed): Promise<number> {
  const shell = shellFrom(parsed.options.shellName)
  const config = await loadConfig(parsed.options.config as string | undefined, process.env)
  const { lines, skipped } = aliasLines(config.presets, shell)
  const out = new Output()
  for (const name of skipped) out.warn(`preset "${name}" cannot be an alias name; skipped`)
  if (!lines.length) out.info(`no presets in ${config.path}; add a [presets.NAME] section with a model and a client (mrs --help, under Configuration)`)
  process.stdout.write(lines.length ? `${lines.join('\n')}\n` : '')
  return ExitCode.Ok
}

export async function completionCommand(parsed: Parsed): Promise<number> {
  const which = parsed.args[0]
  if (which === 'presets') {
    // used by the completion scripts to complete --preset
    const config = await loadConfig(undefined, process.env).catch(() => undefined)
    process.stdout.write(Object.keys(config?.presets ?? {}).filter((n) => PLAIN_NAME.test(n)).map((n) => `${n}\n`).join(''))
    return ExitCode.Ok
  }
  if (!SHELLS.includes(which as Shell)) throw usageError(`mrs completion takes bash, zsh or fish, not "${which}"`)
  process.stdout.write(completionScript(which as Shell))
  return ExitCode.Ok
}

/** What the value of an option is, by the option's key: completed from mrs, from the file system, or from a fixed list. */
const VALUE_KINDS: Record<string, 'models' | 'files' | 'presets' | 'shells'> = {
  model: 'models',
  smallModel: 'models',
  config: 'files',
  mistralrs: 'files',
  preset: 'presets',
  shellName: 'shells',
}

/** The commands whose argument is a server's id. */
const TAKE_SERVER = ['stop', 'logs']

export function completionScript(shell: Shell): string {
  const shape = cliShape()
  const names = shape.map((c) => c.name).join(' ')
  const clients = CLIENT_NAMES.join(' ')
  // the commands whose first argument is a client (`mrs env NAME`, `mrs doctor [NAME]`)
  const takeClient = shape.filter((c) => /client/.test(c.args)).map((c) => c.name)
  const flagsOfKind = (kind: string) => [...new Set(shape.flatMap((c) => Object.entries(c.values).filter(([, key]) => VALUE_KINDS[key] === kind).map(([flag]) => flag)))]
  if (shell === 'fish') {
    const lines = [
      // a model is an id, or a local directory once the word starts like a path
      'function __mrs_models',
      "    set -l word (string replace -r -- '^--[^=]*=' '' (commandline -ct))",
      "    if string match -qr '^[/.~]' -- $word",
      '        __fish_complete_directories $word',
      '    else',
      '        mrs __complete models 2>/dev/null',
      '    end',
      'end',
      `complete -c mrs -f`,
      `complete -c mrs -n '__fish_use_subcommand' -a '${names}'`,
    ]
    // -x: a value, never a file; -r -F: a value that is a file
    const valueArgs: Record<string, string> = {
      models: " -x -a '(__mrs_models)'",
      files: ' -r -F',
      presets: " -x -a '(mrs completion presets 2>/dev/null)'",
      shells: " -x -a 'bash zsh fish'",
    }
    for (const c of shape) {
      for (const o of c.options) {
        const flag = o.startsWith('--') ? `-l ${o.slice(2)}` : `-s ${o.slice(1)}`
        const key = c.values[o]
        const value = key === undefined ? '' : (valueArgs[VALUE_KINDS[key] ?? ''] ?? ' -x')
        lines.push(`complete -c mrs -n '__fish_seen_subcommand_from ${c.name}' ${flag}${value}`)
      }
    }
    lines.push(`complete -c mrs -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`)
    lines.push(`complete -c mrs -n '__fish_seen_subcommand_from ${takeClient.join(' ')}' -a '${clients}'`)
    lines.push(`complete -c mrs -n '__fish_seen_subcommand_from ${TAKE_SERVER.join(' ')}' -a '(mrs __complete servers 2>/dev/null)'`)
    return `${lines.join('\n')}\n`
  }
  const cases = shape.map((c) => `    ${c.name}) opts="${c.options.join(' ')}" values="${Object.keys(c.values).join(' ')}" ;;`).join('\n')
  const bash = `_mrs() {
  local cur prev opt prefix="" opts values words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --help --version" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts="" values="" ;;
  esac
  # the option whose value this is: \`-m VALUE\`, or \`--model=VALUE\` (split at the = by bash, whole in zsh)
  opt="$prev"
  if [ "$prev" = "=" ] && [ "$COMP_CWORD" -gt 2 ]; then
    opt="\${COMP_WORDS[COMP_CWORD-2]}"
  elif [[ "$cur" == --*=* ]]; then
    opt="\${cur%%=*}" prefix="\${cur%%=*}=" cur="\${cur#*=}"
  fi
  if [[ " $values " == *" $opt "* ]]; then
    case "$opt" in
      ${flagsOfKind('models').join('|')})
        # a word that starts like a path is a local directory
        case "$cur" in /* | .* | "~"*) _mrs_files "$prefix" "$cur" dirs; return ;; esac
        words="$(mrs __complete models 2>/dev/null)" ;;
      ${flagsOfKind('presets').join('|')}) words="$(mrs completion presets 2>/dev/null)" ;;
      ${flagsOfKind('shells').join('|')}) words="bash zsh fish" ;;
      ${flagsOfKind('files').join('|')}) _mrs_files "$prefix" "$cur"; return ;;
      # a value no list holds (a port, a duration, a host): the shell's own completion
      *) COMPREPLY=(); return ;;
    esac
    COMPREPLY=( $(compgen -P "$prefix" -W "$words" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
    ${takeClient.join('|')}) [ "$COMP_CWORD" -eq 2 ] && opts="${clients} $opts" ;;
    ${TAKE_SERVER.join('|')}) [[ "$cur" != -* ]] && opts="$(mrs __complete servers 2>/dev/null)" ;;
    completion) opts="bash zsh fish" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
# file names: the shell's own completion (-o default), but after \`--option=\` in zsh, which does not split the word there
_mrs_files() {
  local f
  COMPREPLY=()
  [ -n "$1" ] || return
  for f in "$2"*; do
    if [ -d "$f" ]; then COMPREPLY+=("$1$f/")
    elif [ "$3" != dirs ] && [ -e "$f" ]; then COMPREPLY+=("$1$f")
    fi
  done
}
complete -o default -F _mrs mrs
`
  // zsh runs the bash completion through bashcompinit, which ships with zsh
  return shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${bash}` : bash
}
