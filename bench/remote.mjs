#!/usr/bin/env node
// Runs bench/remote.ts, which drives the tests' real sshd and Slurm harness:
// bundled here with esbuild (already mrs's build tool) into a temp file, with
// import.meta.dirname kept pointing at where each source file lives.
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync(join(tmpdir(), 'mrs-bench-remote-'))
const out = join(dir, 'remote.mjs')
const keepDirname = {
  name: 'keep-dirname',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises')
      const text = await readFile(args.path, 'utf8')
      return { contents: text.replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path))), loader: 'ts' }
    })
  },
}
try {
  await build({ entryPoints: [join(ROOT, 'bench', 'remote.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, plugins: [keepDirname], logLevel: 'warning' })
  const r = spawnSync(process.execPath, [out], { stdio: 'inherit', cwd: ROOT })
  process.exitCode = r.status ?? 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
