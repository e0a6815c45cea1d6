#!/usr/bin/env node
'use strict'
// `mrs --version`, `mrs --help` and `mrs <command> --help` are answered from
// text generated at build time from the CLI definitions (dist/help.json), so
// they cost little more than starting node; so is `mrs __complete KIND`, what
// shell completion asks at TAB time (dist/complete.cjs). Everything else
// loads mrs (with V8's code cache: dist/boot.cjs).
const argv = process.argv.slice(2)
const [first, second] = argv
const isHelp = (word) => word === '--help' || word === '-h'
const asksVersion = argv.length === 1 && (first === '--version' || first === '-V' || first === 'version')
// whose help: '' for mrs's own. `mrs NAME --version` is not answered here: after a client's name it is the client's
const topic =
  argv.length === 1 && (isHelp(first) || first === 'help') ? '' : argv.length === 2 && first === 'help' ? second : argv.length === 2 && isHelp(second) ? first : undefined
// the help text is read only when it is asked for: a launch does not parse it
const answers = asksVersion || topic !== undefined ? require('../dist/help.json') : undefined
const text = !answers ? undefined : asksVersion ? answers.version : Object.hasOwn(answers.help, topic) ? answers.help[topic] : undefined
if (text !== undefined) process.stdout.write(text)
else if (first === '__complete') require('../dist/complete.cjs').complete(argv.slice(1))
else require('../dist/boot.cjs').boot(argv)
