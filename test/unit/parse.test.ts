// Protects the argument rule users rely on in aliases: mrs's options are
// taken wherever they stand before `--`, everything else reaches the client
// in order, and after `--` everything does.
import { describe, expect, it } from 'vitest'
import { parseArgs, settingsFromFlags } from '../../src/cli/parse.js'
import { ExitCode, MrsError } from '../../src/errors.js'

const split = (argv: string[]) => {
  const p = parseArgs(argv)
  return { command: p.command, options: p.options, passthrough: p.passthrough }
}

describe('argument splitting for claude and codex', () => {
  const cases: [string, string[], Record<string, unknown>, string[]][] = [
    ['plain launch', ['claude', '-m', 'Qwen/Q'], { m: 'Qwen/Q', model: 'Qwen/Q' }, []],
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
    ['--port with = form', ['claude', '--port=8080', '-m', 'M'], { port: 8080, model: 'M' }, []],
    ['server arg that looks like an option', ['claude', '-m', 'M', '--server-arg=--isq', '--server-arg', '4'], { serverArg: ['--isq', 4] }, []],
    ['--no-share', ['codex', '-m', 'M', '--no-share'], { share: false }, []],
    ['a lone dash is a positional', ['claude', '-m', 'M', '-'], { model: 'M' }, ['-']],
    ['-- twice: the second is the client\'s', ['claude', '--', 'a', '--', 'b'], {}, ['a', '--', 'b']],
  ]
  it.each(cases)('%s', (_, argv, options, passthrough) => {
    const p = split(argv)
    expect(p.passthrough).toEqual(passthrough)
    expect(p.options).toMatchObject(options)
  })

  it('gives mrs its own --help for the command, and leaves claude --help behind --', () => {
    expect(parseArgs(['claude', '--', '--help']).passthrough).toEqual(['--help'])
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
  it('rejects an unknown command and suggests the closest', () => {
    expect(usage(['cluade'])).toMatch(/unknown command "cluade" \(did you mean "mrs claude"\?\)/)
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
    return settingsFromFlags(p.options, p.command as 'serve')
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
    [['serve', '-p', '0'], /invalid --port "0": must be a port number from 1 to 65535/],
    [['serve', '-p', '70000'], /invalid --port "70000"/],
    [['serve', '-p', 'abc'], /invalid --port "abc"/],
    [['serve', '--timeout', 'soon'], /invalid --timeout "soon": must be a duration/],
    [['claude', '--url', 'gpu-box:1234'], /invalid --url "gpu-box:1234": must be an http/],
    [['claude', '--url', 'not a url'], /invalid --url "not a url": must be a URL/],
    [['claude', '--api-key-env', '$KEY'], /invalid --api-key-env/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => settings(argv)).toThrow(message)
  })
  it('keeps a numeric-looking model id a string', () => {
    expect(settings(['serve', '-m', '7'])).toEqual({ model: '7' })
  })
  it('strips a trailing /v1 from --url (both clients add their own path)', () => {
    expect(settings(['claude', '--url', 'http://gpu:1234/v1/'])).toEqual({ url: 'http://gpu:1234' })
  })
})
