// The pure pieces behind the third hardening round: who owns a listening
// socket (parsed per platform, so macOS and Windows are checked here too),
// text from outside made printable, credentials kept out of command lines, a
// picked id saved with TOML's escaping, an address given through
// --server-arg taken as the server's, and files read only when regular.
import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { listenerOwner, parseNetstat, parseProcNet, procAddress, type OwnerDeps } from '../../src/server/owner.js'
import { printable, shortList } from '../../src/text.js'
import { maskCredentials, splitCredentials } from '../../src/http.js'
import { withDefaultModel } from '../../src/config/write.js'
import { liftServerAddress } from '../../src/config/resolve.js'
import { DEFAULTS } from '../../src/config/schema.js'
import { readRegularFile } from '../../src/files.js'
import { codexOverrides } from '../../src/clients/codex.js'
import { tempDir } from '../helpers/tmp.js'

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 5551 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5552 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 5553 1 0000000000000000 100 0 0 10 0
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6661 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:1F93 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6662 1 0000000000000000 100 0 0 10 0
`

function deps(over: Partial<OwnerDeps>): OwnerDeps {
  return {
    platform: 'linux',
    readFile: (p) => (p.endsWith('tcp6') ? TCP6 : TCP),
    readdir: () => ['0', '1', '2', '7'],
    readlink: (p) => (p.endsWith('/7') ? 'socket:[5551]' : '/dev/null'),
    run: async () => undefined,
    accepts: async () => false,
    ...over,
  }
}

describe('who owns a listening socket', () => {
  it('reads /proc/net/tcp and tcp6: listening sockets only, with address, port, uid and inode', () => {
    expect(parseProcNet(TCP)).toEqual([
      { address: '127.0.0.1', port: 8080, uid: 1001, inode: '5551' },
      { address: '0.0.0.0', port: 80, uid: 0, inode: '5552' },
    ])
    expect(parseProcNet(TCP6).map((l) => [l.address, l.port])).toEqual([
      ['::1', 8082],
      ['::', 8083],
    ])
    expect(procAddress('0000000000000000FFFF00000100007F')).toBe('::ffff:127.0.0.1')
    // asked for one port: that port's listeners alone
    expect(parseProcNet(TCP, 80).map((l) => l.inode)).toEqual(['5552'])
  })

  it('Linux: the process when its fds hold the socket, someone else (by uid) when they do not, nobody when nothing listens', async () => {
    expect(await listenerOwner('127.0.0.1', 8080, 42, deps({}))).toEqual({ owner: 'process' })
    expect(await listenerOwner('127.0.0.1', 8080, 42, deps({ readlink: () => 'socket:[999]' }))).toEqual({ owner: 'other', who: 'uid 1001' })
    expect(await listenerOwner('127.0.0.1', 9999, 42, deps({}))).toEqual({ owner: 'none' })
    // a wildcard listener catches connections to loopback too: it is not the server's
    expect(await listenerOwner('127.0.0.1', 80, 42, deps({}))).toEqual({ owner: 'other', who: 'uid 0' })
    // a process that is gone owns nothing
    expect(await listenerOwner('127.0.0.1', 8080, 42, deps({ readdir: () => { throw new Error('ENOENT') } }))).toEqual({ owner: 'other', who: 'uid 1001' })
    // a dual-stack listener (::) catches IPv4 connections: with nothing on the IPv4 table, tcp6 is read and it is someone else's
    expect(await listenerOwner('127.0.0.1', 8083, 42, deps({}))).toEqual({ owner: 'other', who: 'uid 0' })
    expect(await listenerOwner('::1', 8082, 42, deps({}))).toEqual({ owner: 'other', who: 'uid 0' })
  })

  it('Linux: once the process is seen listening on the IPv4 address itself, tcp6 is not read (the kernel lets no other user overlap it)', async () => {
    const read: string[] = []
    const readFile = (p: string) => (read.push(p), p.endsWith('tcp6') ? TCP6 : TCP)
    expect(await listenerOwner('127.0.0.1', 8080, 42, deps({ readFile }))).toEqual({ owner: 'process' })
    expect(read).toEqual(['/proc/net/tcp'])
    read.length = 0
    expect(await listenerOwner('127.0.0.1', 9999, 42, deps({ readFile }))).toEqual({ owner: 'none' })
    expect(read).toEqual(['/proc/net/tcp', '/proc/net/tcp6'])
  })

  it('macOS: lsof -p lists the process\'s own listener; another listener, even one lsof cannot see, is someone else', async () => {
    const mac = (mine: string, any: string, accepts = false) =>
      deps({ platform: 'darwin', run: async (_b, args) => (args.includes('-p') ? mine : any), accepts: async () => accepts })
    expect(await listenerOwner('127.0.0.1', 8080, 42, mac('42\n', '42\n'))).toEqual({ owner: 'process' })
    expect(await listenerOwner('127.0.0.1', 8080, 42, mac('', '77\n'))).toEqual({ owner: 'other', who: 'pid 77' })
    expect(await listenerOwner('127.0.0.1', 8080, 42, mac('', '', true))).toEqual({ owner: 'other', who: 'a process mrs cannot see' })
    expect(await listenerOwner('127.0.0.1', 8080, 42, mac('', ''))).toEqual({ owner: 'none' })
  })

  it('Windows: netstat -ano names the listening PID', async () => {
    const text = '  Proto  Local Address   Foreign Address  State\r\n  TCP    127.0.0.1:8080    0.0.0.0:0    LISTENING    42\r\n  TCP    0.0.0.0:9090    0.0.0.0:0    LISTENING    77\r\n  TCP    127.0.0.1:8080    127.0.0.1:5000    ESTABLISHED    42\r\n'
    expect(parseNetstat(text, 8080)).toEqual([42])
    const win = deps({ platform: 'win32', run: async () => text })
    expect(await listenerOwner('127.0.0.1', 8080, 42, win)).toEqual({ owner: 'process' })
    expect(await listenerOwner('127.0.0.1', 9090, 42, win)).toEqual({ owner: 'other', who: 'pid 77' })
    expect(await listenerOwner('127.0.0.1', 7070, 42, win)).toEqual({ owner: 'none' })
  })
})

describe('text from outside', () => {
  it('shows control characters and text-reordering controls escaped, and keeps the rest', () => {
    expect(printable('a\x1b[2Jb\nmrs: error: x\r\t\x7f\x9b')).toBe('a\\x1b[2Jb\\nmrs: error: x\\r\\t\\x7f\\x9b')
    expect(printable('evil\u202etxt.exe')).toBe('evil\\u202etxt.exe')
    expect(printable('Qwen/Qwen3-Coder-Next · 日本語 ✓')).toBe('Qwen/Qwen3-Coder-Next · 日本語 ✓')
  })

  it('cuts a long list to a line: a few names and how many more', () => {
    const ids = Array.from({ length: 200_000 }, (_, i) => `org/m-${i}`)
    const text = shortList(ids)
    expect(text).toMatch(/^org\/m-0, org\/m-1, .* and 1999\d\d more$/)
    expect(text.length).toBeLessThan(500)
    expect(shortList(['a', 'b'])).toBe('a, b')
  })
})

describe('credentials in a URL', () => {
  it('become a Basic Authorization value, and the URL loses them', () => {
    expect(splitCredentials('http://alice:s%40cret@gpu:1234')).toEqual({ url: 'http://gpu:1234', authorization: `Basic ${Buffer.from('alice:s@cret').toString('base64')}` })
    expect(splitCredentials('http://gpu:1234')).toEqual({ url: 'http://gpu:1234' })
  })

  it('are masked wherever a URL with a password is printed', () => {
    expect(maskCredentials('using http://alice:s3cret@gpu:1234 (model x); also https://u:p@h/v1')).toBe('using http://alice:***@gpu:1234 (model x); also https://u:***@h/v1')
    expect(maskCredentials('http://gpu:1234 and user@host')).toBe('http://gpu:1234 and user@host')
  })

  it('reach Codex as a header named by a variable: its command line holds only the name', () => {
    const args = codexOverrides({ url: 'http://alice:s3cret@gpu:1234', model: { id: 'm', name: 'm' }, webSearch: false, authorization: 'Basic xyz' }).join(' ')
    expect(args).toContain('base_url="http://gpu:1234/v1"')
    expect(args).toContain('env_http_headers={Authorization="MRS_URL_AUTHORIZATION"}')
    expect(args).not.toContain('s3cret')
  })
})

describe('a picked model id saved into the config', () => {
  it('is written with TOML\'s escaping, so the file still parses (DEL, control characters, quotes)', () => {
    for (const id of ['org/a\x7fb', 'org/q"u\\o\te', 'org/\u202emirror']) {
      const text = withDefaultModel('# mine\n\n[presets.x]\nmodel = "y"\n', id)
      expect((parse(text) as { model: string }).model).toBe(id)
    }
  })
})

describe('--server-arg --host and --port', () => {
  it('are the server\'s address, taken out of its arguments (so the guard and the front door see them)', () => {
    const lifted = liftServerAddress({ ...DEFAULTS, serverArgs: ['--isq', '4', '--host=0.0.0.0', '--enable-shell', '-p', '4321'] })
    expect(lifted).toMatchObject({ host: '0.0.0.0', port: 4321, serverArgs: ['--isq', '4', '--enable-shell'], serverArgsAddress: true })
    expect(liftServerAddress({ ...DEFAULTS, serverArgs: ['--isq', '4'] }).serverArgsAddress).toBeUndefined()
    expect(() => liftServerAddress({ ...DEFAULTS, serverArgs: ['--port', 'high'] })).toThrow('invalid --server-arg=--port=high: must be a port number from 1 to 65535')
  })
})

describe('a file that is not mrs\'s own', () => {
  it('is read only when it is a regular file under the cap: a FIFO, /dev/zero or a big file is refused at once', () => {
    const dir = tempDir('mrs-files-')
    writeFileSync(join(dir, 'ok.json'), '{"a":1}')
    expect(readRegularFile(join(dir, 'ok.json'), 100)).toBe('{"a":1}')
    execFileSync('mkfifo', [join(dir, 'fifo')])
    expect(() => readRegularFile(join(dir, 'fifo'), 100)).toThrow(/not a regular file/)
    symlinkSync('/dev/zero', join(dir, 'zero'))
    expect(() => readRegularFile(join(dir, 'zero'), 100)).toThrow(/not a regular file/)
    writeFileSync(join(dir, 'big'), Buffer.alloc(1000))
    expect(() => readRegularFile(join(dir, 'big'), 100)).toThrow(/larger than 100 bytes/)
    mkdirSync(join(dir, 'd'))
    expect(() => readRegularFile(join(dir, 'd'), 100)).toThrow()
  })
})
