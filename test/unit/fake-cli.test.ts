// Protects the fake mistralrs's model of the real command line (test/fixtures/mistralrs/cli.mjs): what mrs passes
// to a real mistralrs must be accepted, and what the real one refuses must be refused with its texts and exit
// codes — clap's (exit 2) from clap_builder 4.5.54 as mistral.rs v0.9.2 builds it, and the binary's own `Error: …`
// (exit 1) from mistralrs-cli's sources. Each case names the real behaviour it stands for.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
// @ts-ignore -- a plain ES module fixture, shared with the fake; it has no type declarations
import { ClapError, RuntimeError, didYouMean, parseCommandLine } from '../fixtures/mistralrs/cli.mjs'
import { tempDir } from '../helpers/tmp.js'

type Result = Record<string, any>
type Failure = { exitCode: number; stderr: string }

const parse = (argv: string[], options: Record<string, unknown> = {}): Result => parseCommandLine(argv, options)
function failure(argv: string[], options: Record<string, unknown> = {}): Failure {
  try {
    parseCommandLine(argv, options)
  } catch (e) {
    return e as Failure
  }
  throw new Error(`accepted: mistralrs ${argv.join(' ')}`)
}
const clap = (argv: string[], options?: Record<string, unknown>) => {
  const f = failure(argv, options)
  expect(f).toBeInstanceOf(ClapError)
  expect(f.exitCode).toBe(2)
  return f.stderr
}
const runtime = (argv: string[], options?: Record<string, unknown>) => {
  const f = failure(argv, options)
  expect(f).toBeInstanceOf(RuntimeError)
  expect(f.exitCode).toBe(1)
  return f.stderr
}

describe('what mrs passes to mistralrs serve is accepted', () => {
  it('the single-model launch line (server/spec.ts serverArgv) parses to its settings', () => {
    const r = parse(['serve', '-p', '1234', '--host', '127.0.0.1', '-m', 'Qwen/Qwen3-4B', '--quant', 'auto', '--max-seq-len', '32768', '--pa-context-len', '32768'])
    expect(r).toMatchObject({
      command: 'serve',
      target: 'mistralrs::commands::serve',
      models: ['Qwen/Qwen3-4B'],
      defaultModel: 'Qwen/Qwen3-4B',
      host: '127.0.0.1',
      port: 1234,
      quant: 'auto',
      maxSeqLen: 32768,
      paContextLen: 32768,
      pagedAttn: 'auto',
      metrics: true,
      prefixCacheN: 16,
      noKvCache: false,
      tokenSource: 'cache',
      verbose: 0,
      deferredError: null,
    })
  })

  it('defaults are the real ones: port 1234 on 0.0.0.0, max-seq-len 4096, 32 sequences', () => {
    expect(parse(['serve', '-m', 'M'])).toMatchObject({ port: 1234, host: '0.0.0.0', maxSeqLen: 4096, maxBatchSize: 1, maxSeqs: 32, cpu: false })
  })

  it('user server args mrs forwards: --hf-cache, --isq, --cpu, --paged-attn off, --pa-memory-mb', () => {
    expect(parse(['serve', '-m', 'M', '--hf-cache', '/tmp/hub'])).toMatchObject({ hfCache: '/tmp/hub' })
    expect(parse(['serve', '-m', 'M', '--isq', 'q4k'])).toMatchObject({ isq: 'q4k', quant: undefined })
    expect(parse(['serve', '-m', 'M', '--cpu', '--paged-attn', 'off'])).toMatchObject({ cpu: true, pagedAttn: 'off' })
    expect(parse(['serve', '-m', 'M', '--pa-memory-mb', '4096'])).toMatchObject({ paMemoryMb: 4096, paContextLen: undefined })
  })

  it('the tool flags: --enable-search alone, and --agent (alias --agentic) turning on search, code and shell', () => {
    expect(parse(['serve', '-m', 'M', '--enable-search']).runtime).toEqual({ enable_search: true, enable_code_execution: false, enable_shell: false })
    const all = { enable_search: true, enable_code_execution: true, enable_shell: true }
    expect(parse(['serve', '-m', 'M', '--agent']).runtime).toEqual(all)
    expect(parse(['serve', '-m', 'M', '--agentic'])).toMatchObject({ agent: true, runtime: all })
    // the agent's own options are allowed once --agent turned their tools on (serve.rs L1239-1266)
    expect(parse(['serve', '-m', 'M', '--agent', '--shell-timeout', '10', '--search-embedding-model', 'embedding-gemma']).runtime.enable_shell).toBe(true)
  })

  it('option forms clap takes: --opt=value, -p1234, clustered -vv, -n split on ";"', () => {
    const r = parse(['serve', '--model-id=M', '-p4321', '-vv', '-n', '0:10;1:20'])
    expect(r).toMatchObject({ models: ['M'], port: 4321, verbose: 2, deviceLayers: ['0:10', '1:20'] })
  })

  it('--lora takes one or more values, and --lora-modules / --max-lora-rank are its aliases', () => {
    const r = parse(['serve', '-m', 'M', '--lora', 'code=org/code', 'math=org/math', '--lora-modules', 'x=y', '--max-lora-rank', '64'])
    expect(r.lora.map((l: { alias: string }) => l.alias)).toEqual(['code', 'math', 'x'])
  })

  it('globals are accepted anywhere, and the deepest one wins (clap propagates global = true args)', () => {
    expect(parse(['--seed', '1', 'serve', '-m', 'M', '--token-source', 'none'])).toMatchObject({ seed: 1, tokenSource: 'none' })
    expect(parse(['--seed', '1', 'serve', '-m', 'M', '--seed', '2']).seed).toBe(2)
    // -v counts per level and the subcommand's count replaces the parent's
    expect(parse(['-v', 'serve', '-m', 'M', '-v']).verbose).toBe(1)
    expect(parse(['serve', 'auto', '-m', 'M', '--log', 'req.log']).log).toBe('req.log')
  })

  it('a model-type subcommand with its own -m replaces the serve-level model options', () => {
    const r = parse(['serve', '-m', 'Ignored', '--isq', '8', '-p', '9000', 'text', '-m', 'M', '--isq', '4'])
    expect(r).toMatchObject({ modelType: 'text', models: ['M'], isq: '4', port: 9000 })
  })

  it('--help and --version answer on stdout with exit 0, the version with the command path', () => {
    expect(parse(['--version'])).toEqual({ command: 'version', stdout: 'mistralrs 0.9.2\n', exitCode: 0 })
    expect(parse(['-V'], { version: '0.9.0' }).stdout).toBe('mistralrs 0.9.0\n')
    expect(parse(['serve', '--version']).stdout).toBe('mistralrs-serve 0.9.2\n')
    const help = parse(['serve', '-m', 'M', '--help'])
    expect(help).toMatchObject({ command: 'help', exitCode: 0 })
    expect(help.stdout).toContain('Usage: mistralrs serve [OPTIONS] [COMMAND]')
    expect(help.stdout).toContain('--isq <IN_SITU_QUANT>')
    expect(parse(['help', 'serve', 'auto']).stdout).toContain('Usage: mistralrs serve auto [OPTIONS] --model-id <MODEL_ID>')
  })

  it('mistralrs with no arguments prints its help on stderr and exits 2 (arg_required_else_help)', () => {
    expect(clap([])).toContain('Usage: mistralrs [OPTIONS] <COMMAND>')
  })

  it('other real subcommands are recognised (left unparsed), unknown ones are not', () => {
    expect(parse(['run', '-m', 'M'])).toMatchObject({ command: 'run', unparsed: ['-m', 'M'] })
    expect(clap(['serv'])).toBe(
      "error: unrecognized subcommand 'serv'\n\n  tip: a similar subcommand exists: 'serve'\n\nUsage: mistralrs [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n",
    )
  })
})

describe('clap refusals (exit 2, real texts)', () => {
  it('an unknown option, with the did-you-mean tip and the usage of what was given', () => {
    expect(clap(['serve', '-m', 'M', '--prot', '1234'])).toBe(
      "error: unexpected argument '--prot' found\n\n  tip: a similar argument exists: '--port'\n\nUsage: mistralrs serve --model-id <MODEL_ID> --port <PORT>\n\nFor more information, try '--help'.\n",
    )
  })

  it('an unknown option with nothing similar: no tip, the plain usage line', () => {
    expect(clap(['serve', '--zzzz'])).toBe("error: unexpected argument '--zzzz' found\n\nUsage: mistralrs serve [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n")
  })

  it('clap did-you-mean is strsim::jaro > 0.7, most similar last (clap suggestions.rs tests)', () => {
    expect(didYouMean('tst', ['test', 'possible', 'values'])).toEqual(['test'])
    expect(didYouMean('te', ['test', 'temp', 'possible', 'values'])).toEqual(['test', 'temp'])
    expect(didYouMean('hahaahahah', ['test', 'possible', 'values'])).toEqual([])
  })

  it('--quant conflicts with --isq (value names come from the field: <IN_SITU_QUANT>)', () => {
    expect(clap(['serve', '-m', 'M', '--quant', 'auto', '--isq', '4'])).toBe(
      "error: the argument '--quant <QUANT>' cannot be used with '--isq <IN_SITU_QUANT>'\n\nUsage: mistralrs serve --model-id <MODEL_ID> --quant <QUANT>\n\nFor more information, try '--help'.\n",
    )
    // the one given first is named first
    expect(clap(['serve', '-m', 'M', '--from-uqff', 'q4k', '--quant', '4'])).toContain("error: the argument '--from-uqff <FROM_UQFF>' cannot be used with '--quant <QUANT>'")
  })

  it('--pa-memory-mb conflicts with --pa-context-len, --pa-memory-fraction with both', () => {
    expect(clap(['serve', '-m', 'M', '--pa-memory-mb', '4096', '--pa-context-len', '8192'])).toContain(
      "error: the argument '--pa-memory-mb <MEMORY_MB>' cannot be used with '--pa-context-len <CONTEXT_LEN>'",
    )
    expect(clap(['serve', '-m', 'M', '--pa-memory-fraction', '0.5', '--pa-context-len', '1', '--pa-memory-mb', '2'])).toContain(
      "error: the argument '--pa-memory-fraction <MEMORY_FRACTION>' cannot be used with:\n  --pa-context-len <CONTEXT_LEN>\n  --pa-memory-mb <MEMORY_MB>\n",
    )
  })

  it('--mtp conflicts with --mtp-model', () => {
    expect(clap(['serve', '-m', 'M', '--mtp', '--mtp-model', 'd'])).toContain("error: the argument '--mtp' cannot be used with '--mtp-model <MTP_MODEL>'")
  })

  it('--xlora-order requires --xlora', () => {
    expect(clap(['serve', '-m', 'M', '--xlora-order', 'o.json'])).toBe(
      "error: the following required arguments were not provided:\n  --xlora <XLORA>\n\nUsage: mistralrs serve --xlora <XLORA> --model-id <MODEL_ID> --xlora-order <XLORA_ORDER>\n\nFor more information, try '--help'.\n",
    )
  })

  it('a value outside an enum lists the possible values (and a similar one)', () => {
    expect(clap(['serve', '-m', 'M', '--format', 'ggfu'])).toBe(
      "error: invalid value 'ggfu' for '--format <FORMAT>'\n  [possible values: plain, gguf, ggml]\n\n  tip: a similar value exists: 'gguf'\n\nFor more information, try '--help'.\n",
    )
    expect(clap(['serve', '-m', 'M', '--agent-permission', 'never'])).toContain("invalid value 'never' for '--agent-permission <PERMISSION>'\n  [possible values: auto, ask, deny]")
  })

  it('FromStr-parsed values carry mistral.rs own message (--dtype, --pa-cache-type, --token-source)', () => {
    expect(clap(['serve', '-m', 'M', '--dtype', 'f64'])).toBe("error: invalid value 'f64' for '--dtype <DTYPE>': Model DType `f64` is not supported.\n\nFor more information, try '--help'.\n")
    expect(clap(['serve', '-m', 'M', '--pa-cache-type', 'fp8'])).toContain('Unexpected `PagedCacheType`, got `fp8` but expected `auto` and `f8e4m3`.')
    expect(clap(['serve', '-m', 'M', '--token-source', 'vault'])).toContain("for '--token-source <TOKEN_SOURCE>': Invalid token source format")
  })

  it('port 70000 is out of u16 range (RangedI64ValueParser), abc is not a number', () => {
    expect(clap(['serve', '-m', 'M', '-p', '70000'])).toBe("error: invalid value '70000' for '--port <PORT>': 70000 is not in 0..=65535\n\nFor more information, try '--help'.\n")
    expect(clap(['serve', '-m', 'M', '--port', 'abc'])).toBe("error: invalid value 'abc' for '--port <PORT>': invalid digit found in string\n\nFor more information, try '--help'.\n")
    expect(clap(['serve', '-m', 'M', '--max-seq-len', '1.5'])).toContain("for '--max-seq-len <MAX_SEQ_LEN>': invalid digit found in string")
  })

  it('a missing value, and a negative number read as an unknown short option', () => {
    expect(clap(['serve', '-m', 'M', '--port'])).toBe("error: a value is required for '--port <PORT>' but none was supplied\n\nFor more information, try '--help'.\n")
    expect(clap(['serve', '-m', 'M', '--port', '-1'])).toContain("error: unexpected argument '-1' found")
  })

  it('an option given twice cannot be used multiple times', () => {
    expect(clap(['serve', '-m', 'M', '-p', '1', '--port', '2'])).toBe(
      "error: the argument '--port <PORT>' cannot be used multiple times\n\nUsage: mistralrs serve [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n",
    )
  })

  it('serve -m X auto: the subcommand needs its own -m', () => {
    expect(clap(['serve', '-m', 'Qwen/Qwen3-4B', 'auto'])).toBe(
      "error: the following required arguments were not provided:\n  --model-id <MODEL_ID>\n\nUsage: mistralrs serve auto --model-id <MODEL_ID>\n\nFor more information, try '--help'.\n",
    )
  })

  it('options a model-type subcommand lacks are unknown there (diffusion has no --isq)', () => {
    expect(clap(['serve', 'diffusion', '-m', 'M', '--isq', '4'])).toBe(
      "error: unexpected argument '--isq' found\n\nUsage: mistralrs serve diffusion --model-id <MODEL_ID>\n\nFor more information, try '--help'.\n",
    )
    // and serve-level options are not accepted after the subcommand
    expect(clap(['serve', 'auto', '-m', 'M', '--port', '1'])).toContain("error: unexpected argument '--port' found")
  })

  it('--lora swallows the words after it: serve --lora a=x auto fails on "auto"', () => {
    expect(clap(['serve', '-m', 'M', '--lora', 'a=x', 'auto'])).toBe(
      "error: invalid value 'auto' for '--lora <ALIAS=SOURCE|JSON>...': expected ALIAS=SOURCE or a JSON object with name and path\n\nFor more information, try '--help'.\n",
    )
  })

  it('a flag given a value', () => {
    expect(clap(['serve', '-m', 'M', '--cpu=true'])).toContain("error: unexpected value 'true' for '--cpu' found; no more were expected")
  })
})

describe('serve runtime refusals before loading (exit 1, `Error: …`)', () => {
  it('no -m and no -f', () => {
    expect(runtime(['serve', '-p', '1234'])).toBe('Error: --model-id (-m) is required unless `-f` is provided\n')
    expect(runtime(['serve'], { version: '0.9.0' })).toBe('Error: --model-id (-m) is required\n')
  })

  it('the agent options need their tool (serve.rs L1239-1266)', () => {
    expect(runtime(['serve', '-m', 'M', '--search-embedding-model', 'embedding-gemma'])).toBe('Error: `--search-embedding-model` requires `--enable-search` (or `--agent`/`--agentic`)\n')
    expect(runtime(['serve', '-m', 'M', '--code-exec-timeout', '5'])).toBe('Error: `--code-exec-*` options require `--enable-code-execution` (or `--agent`/`--agentic`)\n')
    expect(runtime(['serve', '-m', 'M', '--enable-code-execution', '--skills-dir', '/tmp'])).toBe('Error: `--shell-*` and `--skills-dir` options require `--enable-shell` (or `--agent`/`--agentic`)\n')
  })

  it('--quant with --quantized-file (serve.rs L949-951), and a suffix the format cannot be told from', () => {
    expect(runtime(['serve', '-m', 'org/M-GGUF', '--quant', 'q4k', '-f', 'm.gguf'])).toBe('Error: `--quant` and `--quantized-file` are mutually exclusive\n')
    expect(runtime(['serve', '-m', 'M', '-f', 'model.bin'])).toBe('Error: Cannot infer model format from `--quantized-file`; use `.gguf`/`.ggml` filenames or pass `--format`\n')
  })

  it('-f without -m names local files, which must exist; their directory becomes the model', () => {
    const dir = tempDir('fake-cli-')
    writeFileSync(join(dir, 'model.gguf'), '')
    expect(runtime(['serve', '-f', 'missing.gguf'], { cwd: dir })).toBe('Error: Local quantized model file `missing.gguf` does not exist or is not a file\n')
    expect(parse(['serve', '-f', join(dir, 'model.gguf')])).toMatchObject({ models: [dir], quantizedFile: 'model.gguf', format: 'gguf' })
  })

  it('LoRA limits without a dynamic LoRA runtime are refused; after --quant that error waits for the network step', () => {
    expect(runtime(['serve', '-m', 'M', '--lora-max-rank', '64'])).toBe('Error: LoRA runtime limits require --enable-lora or at least one --lora preload\n')
    const r = parse(['serve', '-m', 'M', '--quant', 'auto', '--lora-max-rank', '64'])
    expect(r.deferredError).toBeInstanceOf(RuntimeError)
    expect(r.deferredError.stderr).toBe('Error: LoRA runtime limits require --enable-lora or at least one --lora preload\n')
    // an explicit GGUF format without -f is refused, unless --quant is there to pick the file from the repository
    expect(runtime(['serve', '-m', 'org/M-GGUF', '--format', 'gguf'])).toBe(
      'Error: GGUF format requires a model file. Pass `-f <model.gguf>`, or use `-m <GGUF-repo> --quant <level>` to select one automatically.\n',
    )
    expect(parse(['serve', '-m', 'org/M-GGUF', '--format', 'gguf', '--quant', 'q4k']).deferredError).toBeNull()
  })
})

describe('versions', () => {
  it('--quant is refused by 0.8.1 (it arrived in 0.8.2)', () => {
    expect(clap(['serve', '-m', 'M', '--quant', 'auto'], { version: '0.8.1' })).toContain("error: unexpected argument '--quant' found")
    expect(parse(['serve', '-m', 'M', '--quant', 'auto'], { version: '0.8.2' }).quant).toBe('auto')
  })

  it('--disable-metrics is refused by 0.8.4 (the observability flags arrived in 0.8.11)', () => {
    expect(clap(['serve', '-m', 'M', '--disable-metrics'], { version: '0.8.4' })).toContain("error: unexpected argument '--disable-metrics' found")
    expect(clap(['serve', '-m', 'M', '--access-log-format', 'json'], { version: '0.8.10' })).toContain("unexpected argument '--access-log-format' found")
    expect(parse(['serve', '-m', 'M', '--disable-metrics'], { version: '0.9.0' }).metrics).toBe(false)
  })

  it("master's scheduler flags are unexpected arguments at 0.9.2", () => {
    expect(clap(['serve', '-m', 'M', '--max-num-batched-tokens', '8192'])).toContain("error: unexpected argument '--max-num-batched-tokens' found")
    expect(clap(['serve', '-m', 'M', '--max-decode-steps-before-prefill', '4'])).toContain("error: unexpected argument '--max-decode-steps-before-prefill' found")
    expect(parse(['serve', '-m', 'M', '--max-num-batched-tokens', '8192'], { version: 'master' }).options.max_num_batched_tokens).toBe(8192)
  })

  it('--mtp is new in 0.9.2, -v in 0.8.2, --agent in 0.8.2, --enable-shell in 0.8.4', () => {
    expect(clap(['serve', '-m', 'M', '--mtp'], { version: '0.9.1' })).toContain("unexpected argument '--mtp' found")
    expect(clap(['serve', '-m', 'M', '-v'], { version: '0.8.1' })).toContain("unexpected argument '-v' found")
    expect(clap(['serve', '-m', 'M', '--agent'], { version: '0.8.1' })).toContain("unexpected argument '--agent' found")
    expect(clap(['serve', '-m', 'M', '--enable-shell'], { version: '0.8.2' })).toContain("unexpected argument '--enable-shell' found")
    // --agent at 0.8.2/0.8.3 turns on search and code execution only: there is no shell tool yet
    expect(parse(['serve', '-m', 'M', '--agent'], { version: '0.8.2' }).runtime.enable_shell).toBe(false)
  })
})

describe('from-config', () => {
  const dir = tempDir('fake-cli-config-')
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }

  it('accepts the document mrs writes for several models (server/spec.ts multiModelConfig)', () => {
    const path = file(
      'models.toml',
      [
        'command = "serve"',
        'default_model_id = "Qwen/Qwen3-4B"',
        '[server]',
        'host = "127.0.0.1"',
        'port = 4321',
        '[runtime]',
        'agent = true',
        '[paged_attn]',
        'context_len = 32768',
        '[[models]]',
        'model_id = "Qwen/Qwen3-4B"',
        '[models.quantization]',
        'quant = "auto"',
        '[models.device]',
        'max_seq_len = 32768',
        'hf_cache = "/tmp/hub"',
        '[[models]]',
        'model_id = "Qwen/Qwen3-8B"',
        '[models.device]',
        'max_seq_len = 32768',
        'unknown_key = "ignored, like serde without deny_unknown_fields"',
        '',
      ].join('\n'),
    )
    const r = parse(['from-config', '-f', path])
    expect(r).toMatchObject({
      command: 'from-config',
      configCommand: 'serve',
      target: 'mistralrs::commands::config',
      models: ['Qwen/Qwen3-4B', 'Qwen/Qwen3-8B'],
      defaultModel: 'Qwen/Qwen3-4B',
      host: '127.0.0.1',
      port: 4321,
      runtime: { enable_search: true, enable_code_execution: true, enable_shell: true },
      agent: true,
      quant: 'auto',
      hfCache: '/tmp/hub',
      maxSeqLen: 32768,
      paContextLen: 32768,
      metrics: true,
      ignoredGlobals: {},
    })
    expect(r.modelEntries.map((m: { quant?: string }) => m.quant)).toEqual(['auto', undefined])
  })

  it('the default model is the first one when default_model_id is absent', () => {
    const path = file('two.toml', 'command = "serve"\n[[models]]\nmodel_id = "a/A"\n[[models]]\nmodel_id = "b/B"\n')
    expect(parse(['from-config', '--file', path])).toMatchObject({ defaultModel: 'a/A', port: 1234, host: '0.0.0.0' })
  })

  it('command-line --seed/--log/--token-source are accepted by clap and ignored; -v is honoured', () => {
    const path = file('seed.toml', 'command = "serve"\n[global]\nseed = 7\n[[models]]\nmodel_id = "a/A"\n')
    const r = parse(['from-config', '-f', path, '--seed', '42', '-v', '--token-source', 'none'])
    expect(r).toMatchObject({ seed: 7, tokenSource: 'cache', verbose: 1, ignoredGlobals: { seed: 42, tokenSource: 'none' } })
  })

  it('clap: -f is required, and serve options are not from-config options', () => {
    expect(clap(['from-config'])).toBe(
      "error: the following required arguments were not provided:\n  --file <FILE>\n\nUsage: mistralrs from-config --file <FILE>\n\nFor more information, try '--help'.\n",
    )
    expect(clap(['from-config', '-f', 'x.toml', '--isq', 'q4k'])).toBe(
      "error: unexpected argument '--isq' found\n\nUsage: mistralrs from-config --file <FILE>\n\nFor more information, try '--help'.\n",
    )
  })

  it('the file must be .toml, readable, TOML, and tagged with a known command', () => {
    expect(runtime(['from-config', '-f', 'models.yaml'], { cwd: dir })).toBe('Error: mistralrs-cli config files must be .toml\n')
    expect(runtime(['from-config', '-f', 'missing.toml'], { cwd: dir })).toBe('Error: Failed to read config file missing.toml\n\nCaused by:\n    No such file or directory (os error 2)\n')
    file('syntax.toml', 'command = "serve"\n[[models]\n')
    expect(runtime(['from-config', '-f', 'syntax.toml'], { cwd: dir })).toMatch(/^Error: Failed to parse TOML config file\n\nCaused by:\n {4}TOML parse error at line 2, column \d+\n/)
    file('tag.toml', 'command = "srve"\n[[models]]\nmodel_id = "a"\n')
    expect(runtime(['from-config', '-f', 'tag.toml'], { cwd: dir })).toBe(
      'Error: Failed to parse TOML config file\n\nCaused by:\n    TOML parse error at line 1, column 11\n      |\n    1 | command = "srve"\n      |           ^^^^^^\n    unknown variant `srve`, expected `serve` or `run`\n    \n',
    )
  })

  it('serde errors inside the document: a model without model_id, a port out of range', () => {
    file('noid.toml', 'command = "serve"\n[[models]]\nkind = "text"\n')
    expect(runtime(['from-config', '-f', 'noid.toml'], { cwd: dir })).toBe('Error: Failed to parse TOML config file\n\nCaused by:\n    missing field `model_id`\n    \n')
    file('port.toml', 'command = "serve"\n[server]\nport = 70000\n[[models]]\nmodel_id = "a"\n')
    expect(runtime(['from-config', '-f', 'port.toml'], { cwd: dir })).toContain('invalid value: integer `70000`, expected u16')
  })

  it('config validation (config/mod.rs L152-206)', () => {
    file('none.toml', 'command = "serve"\n')
    expect(runtime(['from-config', '-f', 'none.toml'], { cwd: dir })).toBe('Error: Config must define at least one model in [[models]]\n')
    file('default.toml', 'command = "serve"\ndefault_model_id = "z"\n[[models]]\nmodel_id = "a"\n')
    expect(runtime(['from-config', '-f', 'default.toml'], { cwd: dir })).toBe("Error: default_model_id 'z' does not match any model_id in [[models]]\n")
    file('cpu.toml', 'command = "serve"\n[[models]]\nmodel_id = "a"\n[models.device]\ncpu = true\n[[models]]\nmodel_id = "b"\n[models.device]\ncpu = false\n')
    expect(runtime(['from-config', '-f', 'cpu.toml'], { cwd: dir })).toBe('Error: cpu must be consistent across all models (found both true and false)\n')
  })

  it('the [runtime] agent options follow the same rules as the flags', () => {
    file('agent.toml', 'command = "serve"\n[runtime]\nshell_timeout = 5\n[[models]]\nmodel_id = "a"\n')
    expect(runtime(['from-config', '-f', 'agent.toml'], { cwd: dir })).toBe('Error: `--shell-*` and `--skills-dir` options require `--enable-shell` (or `--agent`/`--agentic`)\n')
  })
})
