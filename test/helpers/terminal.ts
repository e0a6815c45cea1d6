/**
 * A real terminal for a test: a private tmux server (its socket in the
 * sandbox) running `mrs args` in a 120x35 pane, with the sandbox's
 * environment. The pane outlives mrs (so what it printed last can be read),
 * and the exit code is kept in a file.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MRS, type Sandbox } from './sandbox.js'

export type Terminal = ReturnType<typeof terminal>

export function terminal(sb: Sandbox, args: string[], env: Record<string, string> = {}) {
  // a socket of its own: a terminal closed just before (its tmux server still going away) must not be joined
  const socket = join(sb.root, `tmux-${++terminals}.sock`)
  const exitFile = join(sb.root, 'mrs-exit')
  // a terminal before this one in the same sandbox left its code here
  rmSync(exitFile, { force: true })
  const script = join(sb.root, 'run.sh')
  const exports = Object.entries({ ...sb.env, TERM: 'xterm-256color', ...env })
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n')
  const command = [process.execPath, MRS, ...args].map((a) => `'${a}'`).join(' ')
  // the shell gets the terminal's Ctrl-C too: a trap (reset to the default in mrs) keeps it alive to record mrs's code
  // after mrs exits the pane stays (sleep), so what mrs printed last can be read
  writeFileSync(script, `${exports}\ncd '${sb.work}'\ntrap : INT\n${command}\necho $? > '${exitFile}'\nexec sleep 60\n`)
  const pane = tmuxPane(socket, `sh '${script}'`)
  const { tmux } = pane
  return {
    ...pane,
    /** The pane's modes a full-screen program sets: the alternate screen, a visible cursor. */
    modes: () => {
      const [alternate, cursor] = tmux('display-message', '-p', '#{alternate_on} #{cursor_flag}').trim().split(' ')
      return { alternateScreen: alternate === '1', cursorVisible: cursor === '1' }
    },
    exitCode: () => (existsSync(exitFile) ? Number(readFileSync(exitFile, 'utf8')) : undefined),
  }
}

/** Terminals opened so far in this test process (each has its own tmux server). */
let terminals = 0

/** A 120x35 pane of a private tmux server (its socket at `socket`) running `command`: what it shows, keys to it, and the end of it. */
export function tmuxPane(socket: string, command: string, cwd?: string) {
  const tmux = (...a: string[]) => execFileSync('tmux', ['-S', socket, ...a], { encoding: 'utf8' })
  tmux('new-session', '-d', '-x', '120', '-y', '35', ...(cwd ? ['-c', cwd] : []), command)
  return {
    tmux,
    screen: () => {
      try {
        return tmux('capture-pane', '-p')
      } catch {
        return ''
      }
    },
    keys: (...keys: string[]) => void tmux('send-keys', ...keys),
    close: () => spawnSync('tmux', ['-S', socket, 'kill-server']),
  }
}
