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

export function aliasLines(presets: Record<string, { client?: string }>, shell: Shell): { lines: string[]; skipped: string[] } {
  const lines: string[] = []
  const skipped: string[] = []
  for (const [name, preset] of Object.entries(presets)) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) {
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
    process.stdout.write(Object.keys(config?.presets ?? {}).map((n) => `${n}\n`).join(''))
    return ExitCode.Ok
  }
  if (!SHELLS.includes(which as Shell)) throw usageError(`mrs completion takes bash, zsh or fish, not "${which}"`)
  process.stdout.write(completionScript(which as Shell))
  return ExitCode.Ok
}

export function completionScript(shell: Shell): string {
  const shape = cliShape()
  const names = shape.map((c) => c.name).join(' ')
  const clients = CLIENT_NAMES.join(' ')
  // the commands whose first argument is a client (`mrs env NAME`, `mrs doctor [NAME]`)
  const takeClient = shape.filter((c) => /client/.test(c.args)).map((c) => c.name)
  if (shell === 'fish') {
    const lines = [`complete -c mrs -f`, `complete -c mrs -n '__fish_use_subcommand' -a '${names}'`]
    for (const c of shape) {
      for (const o of c.options) {
        const flag = o.startsWith('--') ? `-l ${o.slice(2)}` : `-s ${o.slice(1)}`
        lines.push(`complete -c mrs -n '__fish_seen_subcommand_from ${c.name}' ${flag}${o === '--preset' ? " -r -a '(mrs completion presets)'" : ''}`)
      }
    }
    lines.push(`complete -c mrs -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`)
    lines.push(`complete -c mrs -n '__fish_seen_subcommand_from ${takeClient.join(' ')}' -a '${clients}'`)
    return `${lines.join('\n')}\n`
  }
  const cases = shape.map((c) => `    ${c.name}) opts="${c.options.join(' ')}" ;;`).join('\n')
  const bash = `_mrs() {
  local cur prev opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names} --help --version" -- "$cur") )
    return
  fi
  if [ "$prev" = "--preset" ]; then
    COMPREPLY=( $(compgen -W "$(mrs completion presets 2>/dev/null)" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts="" ;;
  esac
  case "\${COMP_WORDS[1]}" in
    ${takeClient.join('|')}) [ "$COMP_CWORD" -eq 2 ] && opts="${clients} $opts" ;;
    completion) opts="bash zsh fish" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _mrs mrs
`
  // zsh runs the bash completion through bashcompinit, which ships with zsh
  return shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${bash}` : bash
}
