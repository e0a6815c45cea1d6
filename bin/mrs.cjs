#!/usr/bin/env node
'use strict'
// `mrs --version`, `mrs --help` and `mrs <command> --help` are answered from
// text generated at build time from the CLI definitions (dist/help.json), so
// they cost little more than starting node. Everything else loads mrs.
const argv = process.argv.slice(2)
const { version, help } = require('../dist/help.json')
const [first, second] = argv
const text =
  argv.length === 1 && (first === '--version' || first === '-V' || first === 'version')
    ? version
    : argv.length === 1 && (first === '--help' || first === '-h' || first === 'help')
      ? help['']
      : argv.length === 2 && (second === '--help' || second === '-h') && help[first] !== undefined
        ? help[first]
        : argv.length === 2 && first === 'help' && help[second] !== undefined
          ? help[second]
          : undefined
if (text !== undefined) process.stdout.write(text)
else import('../dist/mrs.js').then((mrs) => mrs.main(argv))
