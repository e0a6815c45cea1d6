/**
 * Everything mrs prints about itself goes to stderr through here: stdout
 * belongs to the client (and to commands whose output is data, such as
 * `mrs env` or `mrs ps --json`). Colour and the live status line only on a
 * TTY, never with NO_COLOR (colour) or off a TTY (status becomes a few plain
 * lines). A message is one line: whatever it quotes from outside (a file
 * name, a server's answer) has its control characters shown escaped, so
 * nothing can clear the screen or forge a line of mrs's own.
 */
import { formatDuration } from '../duration.js'
import { printable } from '../text.js'
import { maskCredentials } from '../http.js'

/** What mrs prints of a message: control characters escaped, a URL's password masked. */
const shown = (text: string) => maskCredentials(printable(text))

export interface OutputOptions {
  stream?: NodeJS.WriteStream
  env?: Record<string, string | undefined>
  quiet?: boolean
  verbose?: boolean
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
/** Off a TTY, a waiting line is repeated at most this often. */
const PLAIN_EVERY_MS = 30_000

export class Output {
  readonly stream: NodeJS.WriteStream
  readonly tty: boolean
  readonly colour: boolean
  readonly quiet: boolean
  readonly verbose: boolean
  private warned = new Set<string>()
  private status?: StatusLine

  constructor(opts: OutputOptions = {}) {
    const env = opts.env ?? process.env
    this.stream = opts.stream ?? process.stderr
    this.tty = Boolean(this.stream.isTTY) && env.TERM !== 'dumb'
    this.colour = env.FORCE_COLOR ? env.FORCE_COLOR !== '0' : this.tty && !env.NO_COLOR
    this.quiet = Boolean(opts.quiet)
    this.verbose = Boolean(opts.verbose)
  }

  private paint(code: string, text: string): string {
    return this.colour ? `\x1b[${code}m${text}\x1b[0m` : text
  }
  dim = (t: string) => this.paint('2', t)
  bold = (t: string) => this.paint('1', t)
  red = (t: string) => this.paint('31', t)
  yellow = (t: string) => this.paint('33', t)
  green = (t: string) => this.paint('32', t)
  cyan = (t: string) => this.paint('36', t)

  /** Writes lines, clearing the status line first so they never mix. */
  write(text: string): void {
    this.status?.clear()
    this.stream.write(text.endsWith('\n') ? text : `${text}\n`)
    this.status?.redraw()
  }

  /** Status: what mrs is doing. Silenced by -q. */
  info(message: string): void {
    if (!this.quiet) this.write(`${this.dim('mrs:')} ${shown(message)}`)
  }

  /** Always shown, once per distinct message. */
  warn(message: string): void {
    if (this.warned.has(message)) return
    this.warned.add(message)
    this.write(`${this.dim('mrs:')} ${this.yellow('warning:')} ${shown(message)}`)
  }

  error(message: string, details: string[] = []): void {
    this.write(`${this.dim('mrs:')} ${this.red('error:')} ${shown(message)}`)
    for (const line of details) this.write(`  ${this.dim('│')} ${shown(line)}`)
  }

  /** A server output line, shown with -v. */
  serverLine(line: string): void {
    if (this.verbose) this.write(`  ${this.dim('│')} ${shown(line)}`)
  }

  /** A live "waiting" line: spinner and elapsed time on a TTY, a few plain lines elsewhere. */
  startStatus(label: string): StatusLine {
    this.status?.stop()
    this.status = new StatusLine(this, printable(label))
    return this.status
  }

  endStatus(): void {
    this.status?.stop()
    this.status = undefined
  }
}

export class StatusLine {
  private detail = ''
  private frame = 0
  private readonly started = Date.now()
  private timer?: NodeJS.Timeout
  private lastPlain = 0
  private visible = false
  private readonly live: boolean

  constructor(
    private readonly out: Output,
    private readonly label: string,
  ) {
    // verbose output streams server lines, which a redrawn line would garble
    this.live = out.tty && !out.quiet && !out.verbose
    if (this.live) {
      this.timer = setInterval(() => this.redraw(), 80)
      this.timer.unref()
      this.redraw()
    } else if (!out.quiet) {
      this.lastPlain = Date.now()
      out.stream.write(`${out.dim('mrs:')} ${label}\n`)
    }
  }

  get elapsedMs(): number {
    return Date.now() - this.started
  }

  /** The latest meaningful thing the server said. */
  update(detail: string): void {
    this.detail = printable(detail)
    detail = this.detail
    if (this.live || this.out.quiet) return
    const now = Date.now()
    if (now - this.lastPlain >= PLAIN_EVERY_MS) {
      this.lastPlain = now
      this.out.stream.write(`${this.out.dim('mrs:')} still ${this.label.replace(/^\w/, (c) => c.toLowerCase())} (${formatDuration(this.elapsedMs)})${detail ? `: ${detail}` : ''}\n`)
    }
  }

  redraw(): void {
    if (!this.live || !this.timer) return
    const width = this.out.stream.columns || 80
    const spin = SPINNER[this.frame++ % SPINNER.length]!
    let text = `${spin} ${this.label} ${formatDuration(this.elapsedMs)}${this.detail ? ` · ${this.detail}` : ''}`
    if (text.length > width - 1) text = `${text.slice(0, width - 2)}…`
    this.out.stream.write(`\r\x1b[2K${this.out.cyan(text.slice(0, 1))}${text.slice(1)}`)
    this.visible = true
  }

  clear(): void {
    if (this.visible) this.out.stream.write('\r\x1b[2K')
    this.visible = false
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.clear()
  }
}
