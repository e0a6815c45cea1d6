// The main job, as a user does it: the real Claude Code / Codex TUI on a
// real terminal (tmux), through mrs. The client owns the terminal: a prompt
// typed into it is answered by the local model, Ctrl-C belongs to the
// client (twice exits it), and mrs exits with the client's code, the server
// gone.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect } from 'vitest'
import { expectNoLeftovers, sleep, waitFor, withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { terminal, type Terminal } from '../helpers/terminal.js'
import { requires } from '../helpers/requires.js'

const MODEL = 'Qwen/Qwen3-4B'

/** `pressEveryMs`: how long to give the client after a Ctrl-C before pressing again (a client that is exiting leaves raw mode, and a press then is a real SIGINT). */
async function converse(sb: Sandbox, args: string[], prompt: RegExp, afterAnswer?: (term: Terminal) => Promise<void>, pressEveryMs = 700) {
  const term = terminal(sb, args)
  try {
    await waitFor(() => prompt.test(term.screen()), 30_000, `the client's prompt; screen:\n${term.screen()}`)
    const welcome = term.screen()
    term.keys('say hi')
    await sleep(300)
    term.keys('Enter')
    await waitFor(() => term.screen().includes('Hello from fake mistral.rs'), 20_000, `the answer; screen:\n${term.screen()}`)
    expect(sb.serverPids()).toHaveLength(1)
    await afterAnswer?.(term)
    // Ctrl-C goes to the client, which decides: Claude wants it twice, Codex quits at once when idle.
    // Had mrs died of it, the exit code would be 130, and the server gone before the client.
    let presses = 0
    const exited = () => (term.exitCode() === undefined ? undefined : { code: term.exitCode() })
    const { code } = await waitFor(
      async () => {
        if (exited()) return exited()
        term.keys('C-c')
        presses++
        await sleep(pressEveryMs)
        return exited()
      },
      15_000,
      `mrs to exit; screen:\n${term.screen()}`,
    )
    // what mrs said last, once the client gave the terminal back
    const after = await waitFor(() => /to continue this session/.test(term.screen()) && term.screen(), 5000, 'mrs\'s last words').catch(() => term.screen())
    return { code, presses, welcome, after }

  } finally {
    term.close()
  }
}

describe('interactive sessions on a terminal (tmux; .ci/run installs it)', () => {
  requires('tmux')('Claude Code: the TUI answers from the local model, names it, shows mrs\'s status line; Ctrl-C is Claude\'s, twice ends it and the server', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_PA_TOKENS: '65536' } }, async (sb) => {
      // the user's Claude config says onboarding is done and the folder trusted (their file, not mrs's)
      writeFileSync(join(sb.claudeDir, '.claude.json'), JSON.stringify({ hasCompletedOnboarding: true, projects: { [sb.work]: { hasTrustDialogAccepted: true } } }))
      let modelPicker = ''
      const { code, presses, welcome, after } = await converse(sb, ['claude', '-m', MODEL], /❯/, async (term) => {
        // Claude ran mrs's status line: the model's name, the context in use of the server's, its speed (the fake records 25 ms a token)
        await waitFor(() => /Qwen3-4B · \d+\/64k · 40 tok\/s/.test(term.screen()), 15_000, `the status line; screen:\n${term.screen()}`)
        term.keys('/model')
        await sleep(300)
        term.keys('Enter')
        modelPicker = await waitFor(() => /Select model/.test(term.screen()) && term.screen(), 10_000, `/model; screen:\n${term.screen()}`)
        term.keys('Escape')
        await sleep(300)
      })
      expect(code).toBe(0)
      // one press only arms Claude's exit: the session (and mrs) survived the first Ctrl-C
      // (a loaded machine can let the arming lapse before the next press, hence at least two)
      expect(presses).toBeGreaterThanOrEqual(2)
      // the real model everywhere Claude names one: no `default`, no `[1m]`
      expect(welcome).toContain(`${MODEL} · API Usage Billing`)
      expect(modelPicker).toMatch(/Qwen3-4B +Qwen\/Qwen3-4B, served by mistral\.rs \(mrs\)/)
      expect(modelPicker).not.toContain('[1m]')
      expect(after).toMatch(/mrs: to continue this session on the local model: mrs claude -m Qwen\/Qwen3-4B -- --continue/)
      await expectNoLeftovers(sb, 3000)
    })
  })

  requires('tmux')('Claude Code: the user\'s own statusLine wins over mrs\'s', async () => {
    await withSandbox({ clients: 'real', env: { FAKE_MISTRALRS_PA_TOKENS: '65536' } }, async (sb) => {
      writeFileSync(join(sb.claudeDir, '.claude.json'), JSON.stringify({ hasCompletedOnboarding: true, projects: { [sb.work]: { hasTrustDialogAccepted: true } } }))
      const settings = JSON.stringify({ statusLine: { type: 'command', command: 'echo MY-OWN-STATUS-LINE' } })
      writeFileSync(join(sb.claudeDir, 'settings.json'), settings)
      const { code } = await converse(sb, ['claude', '-m', MODEL], /❯/, async (term) => {
        await waitFor(() => /MY-OWN-STATUS-LINE/.test(term.screen()), 15_000, `the user's status line; screen:\n${term.screen()}`)
        expect(term.screen()).not.toMatch(/tok\/s/)
      })
      expect(code).toBe(0)
      await expectNoLeftovers(sb, 3000)
    })
  })

  requires('tmux')('Codex: the TUI answers from the local model and names it in its footer; Ctrl-C ends it and the server', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      let footer = ''
      const { code, after } = await converse(sb, ['codex', '-m', MODEL, '--', '--disable', 'plugins'], /Ask Codex to do anything/, async (term) => {
        footer = await waitFor(() => /Qwen3-4B/.test(term.screen()) && term.screen(), 10_000, `the footer; screen:\n${term.screen()}`)
      })
      expect(code).toBe(0)
      // the footer shows the catalog's display name and the folder, not "default default"
      expect(footer).toMatch(/Qwen3-4B · /)
      expect(footer).not.toMatch(/default default/)
      expect(after).toMatch(/mrs: to continue this session on the local model: mrs codex -m Qwen\/Qwen3-4B resume --last/)
      await expectNoLeftovers(sb, 3000)
    })
  })

  requires('tmux')('opencode: the TUI answers from the local model; it exits cleanly and the server with it', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      // opencode quits on one Ctrl-C but can take more than a second to do so on a loaded machine
      const { code } = await converse(sb, ['opencode', '-m', MODEL], /Ask anything|ctrl\+p commands/, undefined, 4000)
      expect(code).toBe(0)
      expect(sb.requests().filter((r) => r.path === '/v1/chat/completions').every((r) => r.body.model === MODEL)).toBe(true)
      await expectNoLeftovers(sb, 5000)
    })
  })
})
