/**
 * The terminal as a full-screen client found it. A client that mrs had to
 * stop (its server went away) may die before it undoes what it set up: the
 * alternate screen, a hidden cursor, mouse and bracketed-paste modes, the
 * kitty keyboard protocol, raw input. The shell would then draw its prompt
 * inside the client's last frame, and mrs's message with it.
 */
import { spawnSync } from 'node:child_process'
import { isatty } from 'node:tty'

/** Leave the alternate screen; show the cursor; mouse, bracketed paste, focus events and kitty keys off; plain colours. */
const RESET_MODES = '\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1004l\x1b[<u\x1b[0m'

/** Puts the terminal back in order (only when stderr is one); `stty sane` for the line discipline. */
export function restoreTerminal(): void {
  if (!isatty(2)) return
  process.stderr.write(RESET_MODES)
  // the terminal's own settings (echo, line editing) are the tty's: stty changes them for every process on it
  if (isatty(0)) spawnSync('stty', ['sane'], { stdio: ['inherit', 'ignore', 'ignore'], timeout: 2000 })
}
