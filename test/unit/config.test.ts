// Protects the config file contract: precise errors (file:line:col, the
// offending key) and the precedence defaults < file < preset < env < flags.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { firstInvalidUtf8, parseConfigText, loadConfigFile } from '../../src/config/file.js'
import { defaultConfigPath, loadConfig, resolveSettings, settingsFromEnv } from '../../src/config/resolve.js'
import { DEFAULTS, nameOf, saidOf } from '../../src/config/schema.js'
import { flagOrigins, parseArgs, settingsFromFlags } from '../../src/cli/parse.js'
import { ExitCode, MrsError } from '../../src/errors.js'
import { tempDir } from '../helpers/tmp.js'

const configError = async (text: string) => {
  const e = await parseConfigText('/c/config.toml', text).catch((x) => x)
  expect(e).toBeInstanceOf(MrsError)
  expect((e as MrsError).exitCode).toBe(ExitCode.Config)
  return (e as MrsError).message
}

describe('config file errors', () => {
  it('shows file:line:column for a syntax error', async () => {
    expect(await configError('model = "a"\nport = [1,\nhost = "x"')).toMatch(/^\/c\/config\.toml:3:1: invalid TOML: /)
  })
  it('says a string is not closed, at its opening quote, not that a newline is a control character', async () => {
    expect(await configError('timeout = "1m"\nmodel = "Qwen/Qwen3-4B\nport = 8080\n')).toBe('/c/config.toml:2:9: invalid TOML: this string is not closed; end it with " on the same line')
    expect(await configError("model = 'a' # \"\nhost = 'x\r\n")).toBe("/c/config.toml:2:8: invalid TOML: this string is not closed; end it with ' on the same line")
    expect(await configError('model = "a\\"b')).toBe('/c/config.toml:1:9: invalid TOML: this string is not closed; end it with " on the same line')
    expect(await configError('model = """a\nb')).toBe('/c/config.toml:1:9: invalid TOML: this string is not closed; end it with """')
    // a control character inside a closed string is that, and said so
    expect(await configError('model = "a\u0001b"')).toMatch(/^\/c\/config\.toml:1:\d+: invalid TOML: control characters are not allowed in strings$/)
  })
  it('names an unknown key and suggests the closest', async () => {
    expect(await configError('prot = 8080')).toBe('config error in /c/config.toml: unknown key "prot" (did you mean "port"?)')
  })
  it('names an unknown key inside a preset by its dotted path', async () => {
    expect(await configError('[presets.qwen]\nmodle = "Qwen/Q"')).toMatch(/unknown key "presets\.qwen\.modle" \(did you mean "model"\?\)/)
  })
  it('names a key with the wrong type and what it got', async () => {
    expect(await configError('port = "eighty"')).toBe('config error in /c/config.toml: "port" must be a port number from 1 to 65535, got "eighty"')
    expect(await configError('web_search = "yes please"')).toMatch(/"web_search" must be true or false/)
    expect(await configError('[presets.a]\nclient = "vim"')).toMatch(/"presets\.a\.client" must be one of "claude", "codex", "opencode", "copilot", "pi", "qwen", got "vim"/)
  })
  it('wants server_args as a list: a string would reach mistralrs as one argument', async () => {
    expect(await configError('server_args = "--isq 4"')).toBe('config error in /c/config.toml: "server_args" must be a list of strings, e.g. server_args = ["--isq", "4"], got "--isq 4"')
  })
  it('rejects a duration past what a timer can hold (596 h), at the boundary', async () => {
    expect((await parseConfigText('x.toml', 'keep_alive = "596h"\n')).settings.keepAliveMs).toBe(596 * 3_600_000)
    expect(await configError('keep_alive = "597h"')).toMatch(/"keep_alive" must be at most 596h/)
  })
  it('rejects a model id that mistralrs would read as an option', async () => {
    expect(await configError('model = "--help"')).toMatch(/"model" a model id cannot start with "-"/)
  })
  it('rejects invalid UTF-8 with file:line:column instead of replacing it silently', async () => {
    const dir = tempDir('mrs-utf8-')
    const file = join(dir, 'config.toml')
    writeFileSync(file, Buffer.concat([Buffer.from('# ok\nmodel = "Qwen/'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]))
    const e = await loadConfigFile(file, true).catch((x: MrsError) => x)
    expect((e as MrsError).exitCode).toBe(ExitCode.Config)
    expect((e as MrsError).message).toBe(`${file}:2:15: invalid UTF-8 (byte 0xff); save the file as UTF-8`)
  })
  it('finds the first invalid byte of UTF-8 (overlong forms and surrogates too)', () => {
    expect(firstInvalidUtf8(Buffer.from('héllo ✓ 😀'))).toBe(-1)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1)
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1)
  })
  it('reads every kind of value', async () => {
    const c = await parseConfigText(
      'x.toml',
      `model = "Qwen/Q"\nport = 8080\ntimeout = "10m"\nkeep_alive = 30\nserver_args = ["--isq", "4"]\nweb_search = true\n[presets.small]\nmodel = "Qwen/Qwen3-4B"\nclient = "codex"\n`,
    )
    expect(c.settings).toEqual({ model: 'Qwen/Q', port: 8080, timeoutMs: 600_000, keepAliveMs: 30_000, serverArgs: ['--isq', '4'], webSearch: true })
    expect(c.presets.small).toMatchObject({ settings: { model: 'Qwen/Qwen3-4B' }, client: 'codex', description: undefined })
  })
})

describe('finding the config file', () => {
  it('uses XDG_CONFIG_HOME, else ~/.config', () => {
    expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/mrs/config.toml')
    expect(defaultConfigPath({ HOME: '/h' })).toBe('/h/.config/mrs/config.toml')
  })
  it('treats a missing default file as empty, but a missing --config / MRS_CONFIG file as an error', async () => {
    const dir = tempDir('mrs-cfg-')
    expect((await loadConfig(undefined, { XDG_CONFIG_HOME: dir })).exists).toBe(false)
    await expect(loadConfig(join(dir, 'nope.toml'), {})).rejects.toThrow(/no such file/)
    await expect(loadConfig(undefined, { MRS_CONFIG: join(dir, 'nope.toml') })).rejects.toThrow(/no such file/)
  })
  it('prefers --config over MRS_CONFIG', async () => {
    const dir = tempDir('mrs-cfg-')
    writeFileSync(join(dir, 'a.toml'), 'model = "from-flag"')
    writeFileSync(join(dir, 'b.toml'), 'model = "from-env"')
    expect((await loadConfig(join(dir, 'a.toml'), { MRS_CONFIG: join(dir, 'b.toml') })).settings.model).toBe('from-flag')
    expect((await loadConfigFile(join(dir, 'b.toml'), true)).settings.model).toBe('from-env')
  })
})

describe('precedence', () => {
  const config = {
    path: 'c.toml',
    exists: true,
    settings: { model: 'file-model', port: 1111, restarts: 5 },
    presets: { fast: { settings: { model: 'preset-model', port: 2222 } } },
  }
  it('defaults < file < preset < env < flags', () => {
    const r = resolveSettings({ config, preset: 'fast', env: { MRS_PORT: '3333' }, flags: { port: 4444 }, scope: 'client' })
    expect(r.settings).toMatchObject({ model: 'preset-model', port: 4444, restarts: 5, host: DEFAULTS.host })
    expect(resolveSettings({ config, preset: 'fast', env: { MRS_PORT: '3333' }, flags: {}, scope: 'client' }).settings.port).toBe(3333)
    expect(resolveSettings({ config, env: {}, flags: {}, scope: 'client' }).settings.port).toBe(1111)
  })
  it('remembers how each setting was given, so that messages name it as the user wrote it', async () => {
    const file = await parseConfigText('/c/config.toml', 'timeout = "30m"\nserver_args = ["--host", "0.0.0.0"]\n[presets.gpu]\napi_key_env = "KEY"\nurl = "http://gpu:1"\n')
    const parsed = parseArgs(['claude', '--preset', 'gpu', '--context', '8192', '-m', 'M'])
    const { origins } = resolveSettings({ config: file, preset: 'gpu', env: { MRS_RESTARTS: '0' }, flags: settingsFromFlags(parsed.options, 'client', parsed.spelled), flagOrigins: flagOrigins(parsed), scope: 'client' })
    expect(saidOf(origins, 'context', 8192)).toBe('--context 8192')
    expect(nameOf(origins, 'model')).toBe('-m')
    expect(saidOf(origins, 'restarts', 0)).toBe('MRS_RESTARTS=0')
    expect(nameOf(origins, 'timeoutMs')).toBe('timeout in /c/config.toml')
    expect(saidOf(origins, 'apiKeyEnv', 'KEY')).toBe('api_key_env = "KEY" in [presets.gpu]')
    // the address mistral.rs was given through server_args is the clients' address, and named where it was written
    expect(saidOf(origins, 'host', '0.0.0.0')).toBe('--host 0.0.0.0 in server_args in /c/config.toml')
    // what no layer gave is named by its canonical flag
    expect(nameOf(origins, 'port')).toBe('--server-port')
  })
  it('takes the preset from MRS_PRESET when --preset is absent', () => {
    expect(resolveSettings({ config, env: { MRS_PRESET: 'fast' }, flags: {}, scope: 'client' }).settings.model).toBe('preset-model')
  })
  it('rejects an unknown preset, listing the known ones', () => {
    const e = (() => {
      try {
        resolveSettings({ config, preset: 'fats', env: {}, flags: {}, scope: 'client' })
      } catch (x) {
        return x as MrsError
      }
    })()
    expect(e?.exitCode).toBe(ExitCode.Config)
    expect(e?.message).toBe('unknown preset "fats" (did you mean "fast"?) in c.toml; presets: fast')
  })
  it('never lets an undefined flag hide a lower layer', () => {
    expect(resolveSettings({ config, env: {}, flags: { port: undefined }, scope: 'client' }).settings.port).toBe(1111)
  })
  it('with a remote url, chooses among the server\'s ids: the preset\'s own model or none, never the local top-level one', () => {
    const remote = { ...config, presets: { gpu: { settings: { url: 'http://gpu:1234' } }, gpuq: { settings: { url: 'http://gpu:1234', model: 'Qwen/Remote' } } } }
    expect(resolveSettings({ config: remote, preset: 'gpu', env: {}, flags: {}, scope: 'client' }).settings.model).toBeUndefined()
    expect(resolveSettings({ config: remote, preset: 'gpuq', env: {}, flags: {}, scope: 'client' })).toMatchObject({ settings: { model: 'Qwen/Remote' }, modelSource: 'preset' })
    expect(resolveSettings({ config: remote, preset: 'gpu', env: {}, flags: { model: 'X' }, scope: 'client' }).modelSource).toBe('flag')
  })
  it('says which layer chose the model', () => {
    expect(resolveSettings({ config, env: {}, flags: {}, scope: 'client' }).modelSource).toBe('config')
    expect(resolveSettings({ config, env: { MRS_MODEL: 'E' }, flags: {}, scope: 'client' }).modelSource).toBe('env')
  })
  it('looks presets up as own names only: "toString" or "__proto__" is an unknown preset (exit 65)', () => {
    for (const name of ['toString', 'constructor', '__proto__']) {
      expect(() => resolveSettings({ config, preset: name, env: {}, flags: {}, scope: 'client' })).toThrow(/unknown preset/)
      expect(() => resolveSettings({ config, env: { MRS_PRESET: name }, flags: {}, scope: 'client' })).toThrow(/unknown preset/)
    }
  })
  it('validates MRS_* variables and names the variable', () => {
    expect(() => settingsFromEnv({ MRS_PORT: 'abc' }, 'serve')).toThrow('invalid MRS_PORT="abc": must be a port number from 1 to 65535')
    expect(settingsFromEnv({ MRS_TIMEOUT: '90s', MRS_SHARE: 'false' }, 'serve')).toEqual({ timeoutMs: 90_000, share: false })
  })
})
