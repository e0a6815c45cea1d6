#!/usr/bin/env node
'use strict'
// `mrs --version`, `mrs --help` and `mrs <command> --help` are answered from
// text generated at build time from the CLI definitions (dist/help.json), so
// they cost little more than starting node; so is `mrs __complete KIND`, what
// shell completion asks at TAB time (dist/complete.cjs). Everything else
// loads mrs (with V8's code cache: dist/boot.cjs).
const argv = process.argv.slice(2)
const [first, second] = argv
const asks = (words) => words.includes(argv.length === 1 ? first : argv.length === 2 ? (first === 'help' ? 'help' : second) : undefined)
// the help text is read only when it is asked for: a launch does not parse it
const { version, help } = asks(['--version', '-V', 'version', '--help', '-h', 'help']) ? require('../dist/help.json') : {}
const text = !help
  ? undefined
  : argv.length === 1 && (first === '--version' || first === '-V' || first === 'version')
    ? version
    : argv.length === 1
      ? help['']
      : first === 'help'
        ? help[second]
        : help[first]
if (text !== undefined) process.stdout.write(text)
else if (first === '__complete') require('../dist/complete.cjs').complete(argv.slice(1))
else require('../dist/boot.cjs').boot(argv)
