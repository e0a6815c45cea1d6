// Protects the argument rule users rely on in aliases: mrs's options are
// taken wherever they stand before `--`, everything else reaches the client
// in order, and after `--` everything does.
import { describe, expect, it } from 'vitest'
import { parseArgs, settingsFromFlags } from '../../src/cli/parse.js'
import { ExitCode, MrsError } from '../../src/errors.js'

describe('argument splitting for client commands', () => {
  const cases: [string, string[], Record<string, unknown>, string[]][] = [
    ['plain launch', ['claude', '-m', 'Qwen/Q'], { model: 'Qwen/Q' }, []],
    ['unknown option passes through', ['claude', '-m', 'Qwen/Q', '--continue'], { model: 'Qwen/Q' }, ['--continue']],
    ['everything after -- passes', ['claude', '-m', 'Qwen/Q', '--', '-p', 'explain src/cli'], { model: 'Qwen/Q' }, ['-p', 'explain src/cli']],
    ['alias with extra args: qc --resume', ['claude', '-m', 'Qwen/Q', '--resume'], { model: 'Qwen/Q' }, ['--resume']],
    ['flag with a separate value survives', ['claude', '-m', 'Qwen/Q', '--resume', 'abc-123'], { model: 'Qwen/Q' }, ['--resume', 'abc-123']],
    ['-p is claude --print, not the port', ['claude', '-m', 'Qwen/Q', '-p', 'say hi'], { model: 'Qwen/Q' }, ['-p', 'say hi']],
    ['own option after client args is still ours', ['claude', '--continue', '-m', 'Qwen/Q', '--web-search'], { model: 'Qwen/Q', webSearch: true }, ['--continue']],
    ['--model after -- is the client\'s', ['claude', '-m', 'Qwen/Q', '--', '--model', 'X'], { model: 'Qwen/Q' }, ['--model', 'X']],
    ['codex subcommand and its flags', ['codex', '-m', 'Qwen/Q', 'resume', '--last'], { model: 'Qwen/Q' }, ['resume', '--last']],
    ['codex exec after --', ['codex', '-m', 'Qwen/Q', '--', 'exec', 'fix the test'], { model: 'Qwen/Q' }, ['exec', 'fix the test']],
    ['codex --profile passes through', ['codex', '--profile', 'work'], {}, ['--profile', 'work']],
    ['codex -c passes through, values intact', ['codex', '-m', 'M', '-c', 'model="o3"'], { model: 'M' }, ['-c', 'model="o3"']],
    ['--port with = form', ['claude', '--port=8080', '-m', 'M'], { port: '8080', model: 'M' }, []],
    ['server arg that looks like an option', ['claude', '-m', 'M', '--server-arg=--isq', '--server-arg', '4'], { serverArgs: ['--isq', '4'] }, []],
    ['--no-share', ['codex', '-m', 'M', '--no-share'], { share: false }, []],
    ['a lone dash is a positional', ['claude', '-m', 'M', '-'], { model: 'M' }, ['-']],
    ['-- twice: the second is the client\'s', ['claude', '--', 'a', '--', 'b'], {}, ['a', '--', 'b']],
    // collisions: a client's own option is the client's; mrs's feature keeps a name no client uses
    ['claude --agent is Claude\'s agent', ['claude', '-m', 'M', '--agent', 'reviewer'], { model: 'M' }, ['--agent', 'reviewer']],
    ['claude --verbose and -v are Claude\'s', ['claude', '-m', 'M', '--verbose', '-v'], { model: 'M' }, ['--verbose', '-v']],
    ['--agent-tools is mrs\'s everywhere', ['claude', '-m', 'M', '--agent-tools'], { agent: true }, []],
    ['codex --agent is mrs\'s (Codex has none)', ['codex', '-m', 'M', '--agent'], { agent: true }, []],
    ['opencode --port and --agent are opencode\'s', ['opencode', '-m', 'M', '--port', '4096', '--agent', 'plan'], { model: 'M' }, ['--port', '4096', '--agent', 'plan']],
    ['--server-port is mrs\'s for opencode', ['opencode', '-m', 'M', '--server-port', '9000'], { port: '9000' }, []],
    ['copilot --context is Copilot\'s tier', ['copilot', '-m', 'M', '--context', 'long_context'], { model: 'M' }, ['--context', 'long_context']],
    ['--context-window is mrs\'s for copilot', ['copilot', '-m', 'M', '--context-window', '65536'], { context: '65536' }, []],
    ['codex --config is Codex\'s; --mrs-config is mrs\'s', ['codex', '--config', 'model="x"', '--mrs-config', '/c.toml'], { config: '/c.toml' }, ['--config', 'model="x"']],
    ['--server-log streams the server\'s log', ['claude', '-m', 'M', '--server-log'], { serverLog: true }, []],
  ]
  it.each(cases)('%s', (_, argv, options, passthrough) => {
    const p = parseArgs(argv)
    expect(p.passthrough).toEqual(passthrough)
    expect(p.options).toMatchObject(options)
  })

  it('gives mrs its own --help for the command, and leaves the client\'s --help behind --', () => {
    expect(parseArgs(['claude', '--help']).info).toBe('help')
    expect(parseArgs(['claude', '--', '--help']).passthrough).toEqual(['--help'])
  })

  it('keeps mrs\'s own tokens, for the way back to a session', () => {
    expect(parseArgs(['claude', '-m', 'Qwen/Q', '--continue', '--server-port=9000', '--web-search']).ownArgv).toEqual(['-m', 'Qwen/Q', '--server-port', '9000', '--web-search'])
  })
})

describe('the typo guard', () => {
  const message = (argv: string[]) => {
    try {
      parseArgs(argv)
    } catch (e) {
      expect((e as MrsError).exitCode).toBe(ExitCode.Usage)
      return (e as MrsError).message
    }
    return undefined
  }
  it.each([
    [['claude', '-m', 'X', '--dryrun', '-p', 'hi'], '--dryrun', '--dry-run'],
    [['codex', '--web-serch'], '--web-serch', '--web-search'],
    [['opencode', '--keep-alvie', '5m'], '--keep-alvie', '--keep-alive'],
  ])('refuses %j before anything starts: a near miss of an mrs option', (argv, typo, meant) => {
    expect(message(argv)).toBe(`unknown option ${typo} (did you mean ${meant}?); to pass ${typo} to ${argv[0]}, put it after --`)
  })
  it('catches a typo of --version or --help as of any other option', () => {
    expect(message(['--verison'])).toBe('unknown option --verison (did you mean --version?); run mrs --help')
    expect(message(['--hlep'])).toBe('unknown option --hlep (did you mean --help?); run mrs --help')
    // after a client's name, --version is the client's: its near miss would fail only after the load
    expect(message(['claude', '--verison'])).toBe('unknown option --verison (did you mean --version?); to pass --verison to claude, put it after --')
    expect(message(['codex', '-m', 'M', '--hepl'])).toBe('unknown option --hepl (did you mean --help?); to pass --hepl to codex, put it after --')
  })
  it('passes --version after a client\'s name to the client, and points elsewhere at mrs --version', () => {
    expect(parseArgs(['claude', '--version'])).toEqual(expect.objectContaining({ passthrough: ['--version'] }))
    expect(parseArgs(['claude', '--version']).info).toBeUndefined()
    expect(parseArgs(['codex', '-V']).passthrough).toEqual(['-V'])
    expect(message(['ps', '--version'])).toBe("mrs ps has no --version; mrs --version prints mrs's version")
  })
  it('never guesses at a client\'s own option, a short one, or one after --', () => {
    // Claude has --resume, Codex --search, opencode --share: near an mrs option, but the client's own
    expect(message(['claude', '--resume', 'x'])).toBeUndefined()
    expect(message(['codex', '--search'])).toBeUndefined()
    expect(message(['opencode', 'run', '--share'])).toBeUndefined()
    expect(message(['claude', '-q2'])).toBeUndefined()
    expect(message(['claude', '--', '--dryrun'])).toBeUndefined()
    // far from every mrs option: the client's to judge
    expect(message(['claude', '--totally-new-flag'])).toBeUndefined()
  })
})

describe('argument errors', () => {
  const usage = (argv: string[]) => {
    try {
      parseArgs(argv)
    } catch (e) {
      expect(e).toBeInstanceOf(MrsError)
      expect((e as MrsError).exitCode).toBe(ExitCode.Usage)
      return (e as MrsError).message
    }
    throw new Error(`no error for ${argv.join(' ')}`)
  }

  it('rejects an unknown option of mrs serve and suggests the closest', () => {
    expect(usage(['serve', '-m', 'M', '--prot', '80'])).toMatch(/unknown option --prot \(did you mean --port\?\)/)
  })
  it('rejects an unknown command and suggests the closest, whatever its case, and the usual words for ps', () => {
    expect(usage(['cluade'])).toMatch(/unknown command "cluade" \(did you mean "mrs claude"\?\)/)
    expect(usage(['CLAUDE'])).toMatch(/unknown command "CLAUDE" \(did you mean "mrs claude"\?\)/)
    expect(usage(['status'])).toMatch(/\(did you mean "mrs ps"\?\)/)
    expect(usage(['list'])).toMatch(/\(did you mean "mrs ps"\?\)/)
  })
  it('knows help and version as commands', () => {
    expect(parseArgs(['help']).info).toBe('help')
    expect(parseArgs(['help', 'codex'])).toMatchObject({ info: 'help', command: 'codex' })
    expect(parseArgs(['version']).info).toBe('version')
    expect(parseArgs(['-V']).info).toBe('version')
    expect(usage(['help', 'nope'])).toMatch(/no help for "nope"/)
  })
  it('says which option lacks its value', () => {
    expect(usage(['claude', '-m'])).toMatch(/option -m needs a value/)
  })
  it('rejects a value on a switch', () => {
    expect(usage(['serve', '--web-search=yes'])).toMatch(/takes no value/)
  })
  it('asks for the argument a command needs', () => {
    expect(usage(['completion'])).toMatch(/needs <shell>/)
  })
})

describe('flags to settings', () => {
  const settings = (argv: string[]) => {
    const p = parseArgs(argv)
    return settingsFromFlags(p.options, p.command === 'serve' ? 'serve' : 'client', p.spelled)
  }
  it('types and names every value', () => {
    expect(settings(['serve', '-m', 'Qwen/Q', '-p', '8080', '--timeout', '90s', '--agent', '--server-arg=--isq', '--server-arg=4'])).toEqual({
      model: 'Qwen/Q',
      port: 8080,
      timeoutMs: 90_000,
      agent: true,
      serverArgs: ['--isq', '4'],
    })
  })
  it.each([
    [['serve', '-p', '0'], /invalid -p "0": must be a port number from 1 to 65535/],
    [['serve', '-p', '70000'], /invalid -p "70000"/],
    [['serve', '--server-port', 'abc'], /invalid --server-port "abc"/],
    [['serve', '--timeout', 'soon'], /invalid --timeout "soon": must be a duration/],
    [['serve', '--keep-alive', '600h'], /invalid --keep-alive "600h": must be at most 596h/],
    [['claude', '--url', 'gpu-box:1234'], /invalid --url "gpu-box:1234": must be an http/],
    [['claude', '--url', 'not a url'], /invalid --url "not a url": must be a URL/],
    [['claude', '--api-key-env', '$KEY'], /invalid --api-key-env/],
    [['claude', '-m', ''], /invalid -m "": must be a model id/],
    [['claude', '--model', '--help'], /invalid --model "--help": a model id cannot start with "-"/],
  ])('%j is a usage error, naming the option as it was typed', (argv, message) => {
    expect(() => settings(argv)).toThrow(message)
  })
  it('treats --timeout 0 as no limit', () => {
    expect(settings(['serve', '--timeout', '0'])).toEqual({ timeoutMs: 0 })
  })
  it('keeps a numeric-looking model id a string', () => {
    expect(settings(['serve', '-m', '7'])).toEqual({ model: '7' })
  })
  it('strips a trailing /v1 from --url (the clients add their own path)', () => {
    expect(settings(['claude', '--url', 'http://gpu:1234/v1/'])).toEqual({ url: 'http://gpu:1234' })
  })
})
