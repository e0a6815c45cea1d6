// Status output on a real terminal (a pseudo-terminal from script(1)): one
// live line with a spinner, elapsed time and the latest progress, in colour
// unless NO_COLOR; off a terminal, plain lines only.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MRS, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'

const MODEL = 'Qwen/Qwen3-4B'

/** Runs mrs under script(1), so its stderr is a terminal; returns everything the terminal showed. */
function onTerminal(sb: Sandbox, args: string[], env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, MRS, ...args].map((a) => `'${a}'`).join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { ...sb.env, TERM: 'xterm-256color', ...env }, cwd: sb.work, stdio: ['ignore', 'pipe', 'pipe'] })
    let screen = ''
    child.stdout.on('data', (d) => (screen += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out; screen so far:\n${screen}`))
    }, 30_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, screen })
    })
  })
}

// a 2.5 s load that downloads 60 MB into the Hugging Face cache meanwhile
const LOADING = { FAKE_MISTRALRS_LOAD_MS: '2500', FAKE_MISTRALRS_DOWNLOAD_BYTES: String(60 * 1024 * 1024), FAKE_CLIENT_MODE: 'exit:0' }

describe('status output', () => {
  requires('script')('draws one live status line on a terminal: spinner, elapsed time, download progress, in colour', async () => {
    await withSandbox({ env: { ...LOADING } }, async (sb) => {
      // NO_COLOR set but empty means colour (no-color.org)
      const { code, screen } = await onTerminal(sb, ['claude', '-m', MODEL], { NO_COLOR: '' })
      expect(code).toBe(0)
      expect(screen).toMatch(/\r\x1b\[2K\x1b\[36m[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\x1b\[0m Loading Qwen\/Qwen3-4B in mistral\.rs \d/)
      expect(screen).toMatch(/· downloaded \d+ MB/)
      expect(screen).toMatch(/\x1b\[2mmrs:\x1b\[0m mistral\.rs is ready at/)
    })
  })

  requires('script')('follows the download to the -UQFF repository --quant switched to', async () => {
    // the fake downloads only into mistralrs-community/…-UQFF: progress can come from nowhere else
    await withSandbox({ env: { ...LOADING, FAKE_MISTRALRS_QUANT: 'uqff' } }, async (sb) => {
      // a 24 GB GPU, where a 30B model is served as q4k
      writeFileSync(join(sb.root, 'bin', 'nvidia-smi'), '#!/bin/sh\necho "NVIDIA GeForce RTX 4090, 24564, 0"\n', { mode: 0o755 })
      const { code, screen } = await onTerminal(sb, ['claude', '-m', 'Qwen/Qwen3-Coder-30B-A3B-Instruct'], { NO_COLOR: '1' })
      expect(code).toBe(0)
      expect(screen).toMatch(/mrs: loading the pre-quantized weights of mistralrs-community\/Qwen3-Coder-30B-A3B-Instruct-UQFF/)
      // (the line is cut at the terminal's width: the figure shows, not always its unit)
      expect(screen).toMatch(/· downloaded [1-9]/)
    })
  })

  requires('script')('honours NO_COLOR on a terminal: the live line stays, the colours go', async () => {
    await withSandbox({ env: { ...LOADING } }, async (sb) => {
      const { code, screen } = await onTerminal(sb, ['claude', '-m', MODEL], { NO_COLOR: '1' })
      expect(code).toBe(0)
      expect(screen).toMatch(/\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Loading/)
      expect(screen).not.toMatch(/\x1b\[(2|3\d)m/)
    })
  })

  it('prints plain lines off a terminal: no spinner, no escapes', async () => {
    await withSandbox({ env: { ...LOADING } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code).toBe(0)
      expect(result.stderr).not.toMatch(/[\r\x1b]/)
      expect(result.stderr.split('\n')[0]).toBe('mrs: Loading Qwen/Qwen3-4B in mistral.rs')
      expect(result.stderr).toMatch(/^mrs: mistral\.rs is ready at http:\/\/127\.0\.0\.1:\d+ \(\d/m)
    })
  })
})
