#!/usr/bin/env node
import { main } from '../dist/mrs.js'

main(process.argv.slice(2))
