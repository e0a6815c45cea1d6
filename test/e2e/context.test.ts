// End to end against the fake mistralrs: the context window the client is
// told is the one the server holds, and a model is quantized only when it
// does not fit the machine, never costing a model that loads without it. Protects the
// order of the sources (--context-window, the KV cache line, the model's
// config.json read after the load), the server sized for an asked window,
// a shared server's memory of its window, the too-small warning; the
// quantization mrs chooses (full precision where the model fits, the level
// that fits, mistral.rs's --quant auto where none does, nothing where the
// user chose), retried without, followed to a -UQFF repository; and a model
// mistral.rs cannot get said once.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectNoLeftovers, withSandbox, type Sandbox } from '../helpers/sandbox.js'

const MODEL = 'Qwen/Qwen3-4B'

const starts = (sb: Sandbox) => sb.records().filter((r) => r.event === 'start').map((r) => r.argv as string[])
/** What the (fake) Claude Code was told: its CLAUDE_CODE_MAX_CONTEXT_TOKENS, or <unset>. */
const toldWindow = (sb: Sandbox) => sb.clientLines().find((l) => l.startsWith('env CLAUDE_CODE_MAX_CONTEXT_TOKENS='))!.split('=')[1]
const ready = (stderr: string) => /^mrs: mistral\.rs is ready at .*$/m.exec(stderr)?.[0] ?? ''

describe('the context window told to the client', () => {
  it('--context-window N: the server is sized for N (--max-seq-len, --pa-context-len) and the client told N', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_CONFIG_CONTEXT: '40960' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--context-window', '32768'])
      expect(result.code, result.stderr).toBe(0)
      const argv = starts(sb)[0]!
      expect(argv.slice(argv.indexOf('--max-seq-len'))).toEqual(['--max-seq-len', '32768', '--pa-context-len', '32768'])
      expect(toldWindow(sb)).toBe('32768')
      expect(ready(result.stderr)).toMatch(/context 32k tokens \(32768\), from --context/)
      await expectNoLeftovers(sb)
    })
  })

  it('takes the KV cache the load log reports when the model\'s config.json is not in the cache', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '65536' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(toldWindow(sb)).toBe('65536')
      expect(ready(result.stderr)).toMatch(/context 64k tokens \(65536\), from its KV cache/)
    })
  })

  it('reads config.json after the load, so a first run that downloads it counts', async () => {
    // nothing in the cache before: the fake writes config.json during its load, as a first download does
    await withSandbox({ env: { FAKE_MISTRALRS_CONFIG_CONTEXT: '40960' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(toldWindow(sb)).toBe('40960')
      expect(ready(result.stderr)).toMatch(/context 40k tokens \(40960\), from the model's config\.json/)
    })
  })

  it.each([
    ['a KV cache larger than the model takes: the model\'s maximum', '200000', '40960', '40960'],
    ['a model larger than the KV cache holds: the cache', '50000', '131072', '50000'],
  ])('takes the smaller of both: %s', async (_, pa, config, told) => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: pa, FAKE_MISTRALRS_CONFIG_CONTEXT: config } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(toldWindow(sb)).toBe(told)
    })
  })

  it('does not depend on the log line alone: with RUST_LOG=warn hiding it, config.json still tells', async () => {
    await withSandbox({ env: { RUST_LOG: 'warn', FAKE_MISTRALRS_PA_TOKENS: '20000', FAKE_MISTRALRS_CONFIG_CONTEXT: '40960' } }, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(toldWindow(sb)).toBe('40960')
    })
  })

  it('tells nothing when neither is known, so the client keeps its own default', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(toldWindow(sb)).toBe('<unset>')
      expect(sb.clientLines()).toContain('env CLAUDE_CODE_AUTO_COMPACT_WINDOW=<unset>')
      expect(ready(result.stderr)).not.toMatch(/context/)
      expect(result.stderr).not.toMatch(/warning/)
    })
  })

  it('says so in one line when the cached config.json is corrupt, and goes on', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '65536' } }, async (sb) => {
      const dir = join(sb.env.HF_HOME!, 'hub', 'models--Qwen--Qwen3-4B', 'snapshots', 'r1')
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'config.json'), '{"max_position_embeddings": 40')
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/^mrs: warning: .*config\.json.*; the client is not told the model's context window$/m)
      // what the server holds still counts
      expect(toldWindow(sb)).toBe('65536')
    })
  })

  it('a shared server remembers its window for every session that attaches (mrs serve --context-window)', async () => {
    await withSandbox({}, async (sb) => {
      const serve = sb.start(['serve', '-m', MODEL, '--context-window', '32768'])
      await serve.waitForStderr(/with a 32768-token context/)
      expect(starts(sb)[0]).toEqual(expect.arrayContaining(['--max-seq-len', '32768', '--pa-context-len', '32768']))
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      expect(starts(sb)).toHaveLength(1)
      expect(toldWindow(sb)).toBe('32768')
      serve.kill('SIGINT')
      expect((await serve.done()).code).toBe(130)
      await expectNoLeftovers(sb)
    })
  })

  it('a session attaching to another session\'s server is told the window that server measured', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_PA_TOKENS: '65536', FAKE_CLIENT_MODE: 'sleep:30' } }, async (sb) => {
      const first = sb.start(['claude', '-m', MODEL])
      await first.waitForStderr(/context 64k tokens \(65536\)/)
      const second = await sb.run(['claude', '-m', MODEL], { env: { FAKE_CLIENT_MODE: 'exit:0' } })
      expect(second.code, second.stderr).toBe(0)
      expect(starts(sb)).toHaveLength(1)
      expect(sb.clientLines().filter((l) => l === 'env CLAUDE_CODE_MAX_CONTEXT_TOKENS=65536')).toHaveLength(2)
      first.kill('SIGTERM')
      await first.done()
      await expectNoLeftovers(sb, 5000)
    })
  })

  it('warns when the window is too small for Claude Code, with how to raise it', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', MODEL, '--context-window', '8192'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/^mrs: warning: the context window is 8192 tokens, but Claude Code needs about 40000 to work \(its first request alone is most of that\); raise it with --context-window 65536 \(mistral\.rs sizes its KV cache for it\) or use a model with a larger window$/m)
    })
  })

  it('warns before the client starts, so the warning is not lost behind it (the real Codex)', async () => {
    await withSandbox({ clients: 'real' }, async (sb) => {
      const result = await sb.run(['codex', '-m', MODEL, '--context-window', '8192', '--', '--disable', 'plugins', 'exec', '--skip-git-repo-check', '--ephemeral', 'say hi'])
      expect(result.code, result.stderr).toBe(0)
      const warning = result.stderr.search(/mrs: warning: the context window is 8192 tokens, but the Codex CLI needs about 16384 to work .*--context-window 16384 /)
      expect(warning).toBeGreaterThanOrEqual(0)
      expect(warning).toBeLessThan(result.stderr.indexOf('provider: mrs'))
    })
  })
})

/** An NVIDIA GPU of this many MiB, as nvidia-smi reports it, first on the sandbox's PATH. */
function gpu(sb: Sandbox, mib: number): void {
  const smi = join(sb.root, 'bin', 'nvidia-smi')
  writeFileSync(smi, `#!/bin/sh\necho "NVIDIA GeForce RTX 4090, ${mib}, 0"\n`)
  chmodSync(smi, 0o755)
}

/** 61 GB of BF16 weights (the recommended list's figure): q4k on a 24 GB GPU, nothing on an 8 GB one. */
const BIG = 'Qwen/Qwen3-Coder-30B-A3B-Instruct'

describe('the quantization mrs chooses', () => {
  it('serves a model that fits at full precision without a quantization flag, and says why on the ready line', async () => {
    await withSandbox({}, async (sb) => {
      gpu(sb, 24564)
      const result = await sb.run(['claude', '-m', MODEL])
      expect(result.code, result.stderr).toBe(0)
      // mistral.rs's --quant auto would have made it q6k (its Balanced profile picks q6k whenever q6k fits)
      expect(starts(sb)[0]).not.toEqual(expect.arrayContaining(['--quant']))
      expect(starts(sb)[0]).not.toEqual(expect.arrayContaining(['--isq']))
      expect(ready(result.stderr)).toMatch(/; full precision: 7\.5 GB of weights fit the 24 GB GPU;/)
    })
  })

  it('quantizes a model that does not fit to the largest level that fits the GPU alone (--quant q4k), and says why', async () => {
    await withSandbox({}, async (sb) => {
      gpu(sb, 24564)
      const result = await sb.run(['claude', '-m', BIG])
      expect(result.code, result.stderr).toBe(0)
      expect(starts(sb)[0]).toEqual(expect.arrayContaining(['--quant', 'q4k']))
      expect(ready(result.stderr)).toMatch(/; q4k: 56\.8 GB of weights do not fit the 24 GB GPU at full precision; as q4k \(~\d+\.\d GB\) they do;/)
    })
  })

  it("leaves a model that fits the GPU at no level to mistral.rs's --quant auto, and says what it picked", async () => {
    await withSandbox({}, async (sb) => {
      gpu(sb, 8192)
      const result = await sb.run(['claude', '-m', BIG])
      expect(result.code, result.stderr).toBe(0)
      expect(starts(sb)[0]).toEqual(expect.arrayContaining(['--quant', 'auto']))
      expect(result.stderr).toMatch(/^mrs: mistral\.rs: --quant auto -> q6k \(backend=cuda, vram=24\.0 GB\)$/m)
      expect(ready(result.stderr)).toMatch(/; --quant auto -> q6k \(backend=cuda, vram=24\.0 GB\): 56\.8 GB of weights do not fit the 8 GB GPU, not even as q3k/)
    })
  })

  it('gives a mistral.rs before 0.8.2 (no --quant) the level as --isq', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_VERSION: '0.8.1' } }, async (sb) => {
      gpu(sb, 24564)
      const result = await sb.run(['claude', '-m', BIG])
      expect(result.code, result.stderr).toBe(0)
      expect(starts(sb)[0]).toEqual(expect.arrayContaining(['--isq', 'q4k']))
      expect(starts(sb)[0]).not.toContain('--quant')
    })
  })

  it.each([
    ['--isq', ['--server-arg=--isq', '--server-arg=q4k']],
    ['--quant', ['--server-arg=--quant', '--server-arg=auto']],
    ['--from-uqff', ['--server-arg=--from-uqff', '--server-arg=q4k-0.uqff']],
    ['a GGUF --format', ['--server-arg=--format', '--server-arg=gguf', '--server-arg=-f', '--server-arg=model.gguf']],
  ])('adds nothing when the user quantizes (%s)', async (_, args) => {
    await withSandbox({}, async (sb) => {
      gpu(sb, 8192)
      const result = await sb.run(['claude', '-m', BIG, ...args, '--dry-run'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^quant: +yours/m)
      expect(/^server:.*$/m.exec(result.stdout)![0].match(/--quant|--isq/g) ?? []).toHaveLength(args.includes('--server-arg=--isq') || args.includes('--server-arg=--quant') ? 1 : 0)
    })
  })

  it('when the quantization fails, starts mistral.rs again at full precision, once, and says so', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_QUANT: 'fail' } }, async (sb) => {
      gpu(sb, 8192)
      const result = await sb.run(['claude', '-m', BIG])
      expect(result.code, result.stderr).toBe(0)
      const [first, second, ...more] = starts(sb)
      expect(first).toEqual(expect.arrayContaining(['--quant', 'auto']))
      expect(second).not.toContain('--quant')
      expect(more).toEqual([])
      expect(result.stderr).toMatch(/^mrs: warning: --quant auto failed \(`--quant auto` failed during tune analysis: No suitable quantization level fits on the available devices\. Try a smaller model or enable CPU offload\.\); starting mistral\.rs again at full precision$/m)
      await expectNoLeftovers(sb)
    })
  })

  it('follows a switch to a pre-quantized -UQFF repository: said, and its config.json gives the window', async () => {
    await withSandbox({ env: { FAKE_MISTRALRS_QUANT: 'uqff', FAKE_MISTRALRS_CONFIG_CONTEXT: '32768' } }, async (sb) => {
      gpu(sb, 24564)
      const result = await sb.run(['claude', '-m', BIG])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toMatch(/^mrs: loading the pre-quantized weights of mistralrs-community\/Qwen3-Coder-30B-A3B-Instruct-UQFF$/m)
      expect(toldWindow(sb)).toBe('32768')
    })
  })

  it('for two models (from-config): judged together, each model gets [models.quantization], and the server reads it', async () => {
    await withSandbox({}, async (sb) => {
      gpu(sb, 24564)
      const result = await sb.run(['claude', '-m', BIG, '--small-model', MODEL])
      expect(result.code, result.stderr).toBe(0)
      const argv = starts(sb)[0]!
      expect(argv[0]).toBe('from-config')
      // the fake parsed the TOML and resolved the level as for one model
      expect(result.stderr).not.toMatch(/--quant auto ->/)
      expect(sb.serverLog()).toMatch(/quant: --quant q4k -> ISQ q4k/)
    })
  })
})

describe('a model mistral.rs cannot get', () => {
  it('is one line naming the model, exit 68, loaded once: not taken for a quantization failure', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', 'Qwen/does-not-exist'])
      expect(result.code).toBe(68)
      expect(result.stderr).toMatch(/^mrs: error: Hugging Face refused Qwen\/does-not-exist \(HTTP 401\): there is no such model, or it is private or gated and mistral\.rs has no token for it; check the id, or log in \(mistralrs login, or set HF_TOKEN\); log: \S+$/m)
      expect(starts(sb)).toHaveLength(1)
      expect(result.stderr).not.toMatch(/starting mistral\.rs again/)
      await expectNoLeftovers(sb)
    })
  })

  it('under --quant auto, whose tune step fails first with hf-hub\'s own error: the same line, once', async () => {
    await withSandbox({}, async (sb) => {
      const result = await sb.run(['claude', '-m', 'Qwen/does-not-exist', '--server-arg=--quant', '--server-arg=auto'])
      expect(result.code).toBe(68)
      expect(result.stderr).toMatch(/^mrs: error: Hugging Face refused Qwen\/does-not-exist \(HTTP 401\)/m)
      expect(starts(sb)).toHaveLength(1)
      // mistral.rs ran its tune analysis and stopped there, before any load
      expect(sb.serverLog()).toMatch(/`--quant auto` failed during tune analysis: request error: https:\/\/huggingface\.co\/Qwen\/does-not-exist\/resolve\/main\/config\.json: status code 401/)
    })
  })
})
