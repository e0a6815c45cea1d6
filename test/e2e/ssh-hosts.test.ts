// `--on HOST` on every kind of host people have, each a real login (test/helpers/sshd.ts): the login shells that
// parse the bootstrap and are asked for a login shell's PATH (bash, zsh, fish, tcsh — mistralrs where a user of that
// shell has it, on no PATH sh sees), mistralrs only in ~/.local/bin (mistral.rs's installer), busybox's sh and tools
// (Alpine, embedded hosts), and macOS (its uname, sysctl, lsof, netstat -an and BSD stat, on a PATH without Linux's
// own). On each, a session works, its server ran there, its listener was proved, its model's config.json (a
// multimodal one's ~60 KB, sent in chunks) gave the window, `mrs models --on` lists the host's cache and memory, and
// nothing is left on either side.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, type TestAPI } from 'vitest'
import { withSandbox, type Sandbox } from '../helpers/sandbox.js'
import { requires } from '../helpers/requires.js'
import { impostorOnHost, nothingLeft, remoteStarts } from '../helpers/on-host.js'
import { startSshd, type SshHost, type SshdOptions } from '../helpers/sshd.js'

const MODEL = 'Qwen/Qwen3-4B'
/** The window MODEL's config.json on every host declares (in text_config, as a multimodal model's does). */
const CONTEXT = 131072

/** What ran the fake there: its path, and the program of its parent (the remote program's shell). */
const execs = (host: SshHost) => host.records().filter((r) => r.event === 'exec')
/** The macOS stand-ins' calls (test/fixtures/hosts/macos). */
const toolCalls = (host: SshHost, tool: string) => host.records().filter((r) => r.event === 'host-tool' && r.tool === tool)


/**
 * The host's Hugging Face cache: a downloaded model (12 MB of weights), and MODEL's config.json alone, the size of a
 * multimodal model's (~60 KB, several of the program's 8 KiB chunks, with text that is not ASCII across them).
 */
function seedCache(host: SshHost): void {
  const hub = join(host.dir, 'hf', 'hub')
  const repo = (id: string) => join(hub, `models--${id.replace(/\//g, '--')}`)
  const small = repo('Qwen/Remote-1B')
  mkdirSync(join(small, 'blobs'), { recursive: true })
  mkdirSync(join(small, 'snapshots', 'rev1'), { recursive: true })
  mkdirSync(join(small, 'refs'), { recursive: true })
  writeFileSync(join(small, 'refs', 'main'), 'rev1')
  writeFileSync(join(small, 'blobs', 'weights'), Buffer.alloc(12 * 1024 * 1024))
  writeFileSync(join(small, 'snapshots', 'rev1', 'config.json'), JSON.stringify({ max_position_embeddings: 40960 }))
  const big = repo(MODEL)
  mkdirSync(join(big, 'snapshots', 'rev2'), { recursive: true })
  mkdirSync(join(big, 'refs'), { recursive: true })
  writeFileSync(join(big, 'refs', 'main'), 'rev2\n')
  const config = {
    architectures: ['Qwen3VLForConditionalGeneration'],
    model_type: 'qwen3_vl',
    text_config: { model_type: 'qwen3_vl_text', hidden_size: 2560, num_hidden_layers: 36, max_position_embeddings: CONTEXT },
    vision_config: {
      depth: 24,
      // what makes a multimodal config long: tables of per-layer and per-token settings
      layer_types: Array.from({ length: 900 }, (_, i) => (i % 4 === 3 ? 'full_attention' : 'sliding_attention')),
      token_labels: Object.fromEntries(Array.from({ length: 750 }, (_, i) => [`<|vision_${i}|>`, `région ${i} – 画像`])),
    },
  }
  const text = JSON.stringify(config, null, 2)
  expect(Buffer.byteLength(text)).toBeGreaterThan(55_000)
  expect(Buffer.byteLength(text)).toBeLessThan(70_000)
  writeFileSync(join(big, 'snapshots', 'rev2', 'config.json'), text)
  execFileSync('chown', ['-R', `${host.uid}:${host.gid}`, join(host.dir, 'hf')])
}

/** A session against the host: the fake client asks the server for its models through mrs's port. */
async function session(sb: Sandbox, host: SshHost) {
  const result = await sb.run(['claude', '--on', host.alias, '-m', MODEL])
  expect(result.code, result.stderr).toBe(0)
  expect(result.stdout).toContain('"id":"Qwen/Qwen3-4B"')
  const [start, ...more] = remoteStarts(host)
  expect(more).toEqual([])
  // on the host's loopback, on a port of its own, told the host's hub cache
  expect(start!.argv).toEqual(['serve', '-p', expect.stringMatching(/^\d+$/), '--host', '127.0.0.1', '-m', MODEL, '--hf-cache', join(host.dir, 'hf', 'hub')])
  // the window from the ~60 KB config.json there (no KV-cache line in this load's log)
  expect(result.stderr).toMatch(/context 128k tokens \(131072\), from the model's config\.json/)
  expect(result.stderr).not.toMatch(/is not valid JSON|names no context length|warning/i)
  return { result, start: start! }
}

interface Kind {
  name: string
  opts: SshdOptions
  /** What runs the remote program: the shell the bootstrap execs (`sh` on PATH). */
  programShell: RegExp
  /** Where the fake is there, relative to the host's HOME. */
  where: string
  /** The memory line of `mrs models --on`. */
  memory: RegExp
  needs?: TestAPI
  /** Also `mrs models --on --json`: the memory to the byte (Debian's mawk prints a number past 2^31 as 1.67772e+10). */
  exactMemory?: () => number
}

const LINUX_MEMORY = /^CPU on gpu-box: \d+ GB \(\d+ GB free\)$/m
/** This machine's memory, as the Linux hosts (this machine) say it. */
const memTotal = () => Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024
const DASH = /\/dash$/

const KINDS: Kind[] = [
  { name: 'bash, mistralrs on the PATH of ~/.bash_profile', opts: { shell: 'bash' }, programShell: DASH, where: 'opt/mistralrs/bin', memory: LINUX_MEMORY, needs: requires('sshd', 'bash') },
  { name: 'zsh, mistralrs on the PATH of ~/.zprofile', opts: { shell: 'zsh' }, programShell: DASH, where: 'opt/mistralrs/bin', memory: LINUX_MEMORY, needs: requires('sshd', 'zsh') },
  { name: 'fish, mistralrs on the PATH of ~/.config/fish/config.fish', opts: { shell: 'fish' }, programShell: DASH, where: 'opt/mistralrs/bin', memory: LINUX_MEMORY, needs: requires('sshd', 'fish') },
  { name: 'tcsh, mistralrs on the PATH of ~/.login', opts: { shell: 'tcsh' }, programShell: DASH, where: 'opt/mistralrs/bin', memory: LINUX_MEMORY, needs: requires('sshd', 'tcsh') },
  { name: 'sh, mistralrs only in ~/.local/bin (on no PATH)', opts: { mistralrs: 'local-bin' }, programShell: DASH, where: '.local/bin', memory: LINUX_MEMORY, exactMemory: memTotal },
  { name: "busybox's sh and tools (Alpine)", opts: { userland: 'busybox' }, programShell: /\/busybox$/, where: '.cargo/bin', memory: LINUX_MEMORY, needs: requires('sshd', 'busybox') },
  { name: "macOS (its uname, sysctl, lsof, netstat, BSD stat)", opts: { userland: 'macos', shell: 'zsh' }, programShell: DASH, where: 'opt/mistralrs/bin', memory: /^Apple silicon \(unified memory\) on gpu-box: 64 GB$/m, needs: requires('sshd', 'zsh'), exactMemory: () => 64 * 2 ** 30 },
]

describe('mrs --on HOST on every kind of host', () => {
  for (const kind of KINDS) {
    (kind.needs ?? requires('sshd'))(`${kind.name}: a session, its server there proved and sized, the config.json's window, mrs models --on; nothing left`, async () => {
      await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
        const host = await startSshd(sb, kind.opts)
        expect(host.mistralrs).toBe(join(host.home, kind.where, 'mistralrs'))
        seedCache(host)
        const { result, start } = await session(sb, host)
        // the mistralrs the program found where this host's user has it, run by the shell the bootstrap runs there
        const run = execs(host).find((e) => e.pid === start.pid)
        expect(run).toMatchObject({ path: host.mistralrs, parent: expect.stringMatching(kind.programShell) })
        if (kind.opts.userland === 'macos') {
          // Apple silicon: full precision fits its unified memory
          expect(result.stderr).toMatch(/; full precision: 7\.5 GB of weights fit the 64 GB unified;/)
          // the listener proved by lsof (the server's PID listening on its port), memory by sysctl
          const port = start.argv[start.argv.indexOf('-p') + 1]
          expect(toolCalls(host, 'lsof')).toContainEqual(expect.objectContaining({ args: `-nP -a -p ${start.pid} -iTCP:${port} -sTCP:LISTEN -t`, status: 0 }))
          expect(toolCalls(host, 'sysctl')).toContainEqual(expect.objectContaining({ args: '-n hw.memsize' }))
          // its free port from macOS's netstat -an
          expect(toolCalls(host, 'netstat')).toContainEqual(expect.objectContaining({ args: '-an' }))
        } else {
          expect(result.stderr).toMatch(/; full precision: 7\.5 GB of weights fit the \d+ GB RAM;/)
        }
        await nothingLeft(sb, host)

        const models = await sb.run(['models', '--on', host.alias])
        expect(models.code, models.stderr).toBe(0)
        expect(models.stdout).toMatch(kind.memory)
        // the host's cache: its size (du), its last change (stat) — "just now", so the date was read
        expect(models.stdout).toMatch(/^ {2}Qwen\/Remote-1B +12 MB +just now +/m)
        if (kind.opts.userland === 'macos') expect(toolCalls(host, 'stat')).toContainEqual(expect.objectContaining({ args: '-f' }))
        if (kind.exactMemory) {
          const json = JSON.parse((await sb.run(['models', '--on', host.alias, '--json'])).stdout)
          expect(json.accelerator).toMatchObject({ kind: kind.opts.userland === 'macos' ? 'metal' : 'cpu', totalBytes: kind.exactMemory() })
          expect(json.cached).toContainEqual(expect.objectContaining({ id: 'Qwen/Remote-1B', bytes: expect.any(Number) }))
        }
        await nothingLeft(sb, host)
      })
    })
  }
})

describe('mrs --on HOST: macOS, who listens', () => {
  requires('sshd')("another user binds the port there during the load: lsof cannot see their process, netstat shows it: never talked to, the server starts again on another port", async () => {
    await withSandbox({}, async (sb) => {
      const model = `Qwen/Target-${sb.id.slice(0, 8)}`
      const host = await startSshd(sb, { userland: 'macos', remoteEnv: { FAKE_MISTRALRS_LOAD_MS: '1500' } })
      await impostorOnHost(sb, host, model, "another user's process on gpu-box")
      await nothingLeft(sb, host)
    })
  })

  requires('sshd')('a host with neither lsof nor sockstat cannot prove who listens: one line, exit 127, nothing sent there, nothing left', async () => {
    await withSandbox({ env: { FAKE_CLIENT_MODE: 'request' } }, async (sb) => {
      const host = await startSshd(sb, { userland: 'macos-without-lsof' })
      const result = await sb.run(['claude', '--on', host.alias, '-m', MODEL])
      expect(result.code).toBe(127)
      expect(result.stderr.trim().split('\n').filter((l) => /error:/.test(l))).toEqual([
        expect.stringMatching(/^mrs: error: cannot prove who listens on mistral\.rs's port on gpu-box: no lsof or sockstat on \S+ \(Darwin\); install lsof there/),
      ])
      expect(host.records().filter((r) => r.event === 'request')).toEqual([])
      expect(sb.clientLines()).toEqual([])
      await nothingLeft(sb, host)
    })
  })
})
