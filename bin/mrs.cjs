#!/usr/bin/env node
'use strict'
// `mrs --version`, `mrs --help` and `mrs <command> --help` are answered from
// text generated at build time from the CLI definitions (dist/help.json), so
// they cost little more than starting node. Everything else loads mrs.
const argv = process.argv.slice(2)
const { version, help } = require('../dist/help.json')
const text =
  argv.length === 1 && argv[0] === '--version'
    ? version
    : argv.length <= 2 && ['--help', '-h'].includes(argv.at(-1)) && (argv.length === 1 || help[argv[0]] !== undefined)
      ? help[argv.length === 1 ? '' : argv[0]]
      : undefined
if (text !== undefined) process.stdout.write(text)
else import('../dist/mrs.js').then((mrs) => mrs.main(argv))
