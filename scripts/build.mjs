// Bundles mrs into dist/. What costs start-up time is the number of modules
// Node loads, so:
//   - dist/mrs.js, the CLI: one module for everything a launch needs; the
//     rarely used commands and execa (loaded while the server starts) are
//     chunks of their own, in dist/chunks/;
//   - dist/keeper.cjs, the server keeper: one CommonJS file, since it starts
//     the server as soon as it runs; wait-on, which it needs only once the
//     server is starting, is dist/vendor/wait-on.js;
//   - dist/help.json: the text of --help and --version, generated from the
//     CLI definitions, which bin/mrs.cjs answers without loading mrs at all.
import { build } from 'esbuild'
import { readFile, rm, writeFile } from 'node:fs/promises'

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: 'linked',
  // CommonJS dependencies (tree-kill, wait-on's axios) call require() for Node built-ins.
  banner: { js: "import { createRequire as __mrsCreateRequire } from 'node:module'; const require = __mrsCreateRequire(import.meta.url);" },
  define: { __MRS_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
}

/** `import('wait-on')` in the keeper becomes `import('./vendor/wait-on.js')`, a file of its own. */
const waitOnApart = {
  name: 'wait-on-apart',
  setup(b) {
    b.onResolve({ filter: /^wait-on$/ }, () => ({ path: './vendor/wait-on.js', external: true }))
  },
}

await Promise.all([
  build({ ...common, entryPoints: { mrs: 'src/cli/main.ts' }, outdir: 'dist', splitting: true, chunkNames: 'chunks/[name]-[hash]' }),
  // CommonJS starts a few ms sooner than an ES module, and the keeper is on the path to the server's start
  build({ ...common, entryPoints: { keeper: 'src/keeper/main.ts' }, outdir: 'dist', format: 'cjs', outExtension: { '.js': '.cjs' }, banner: {}, plugins: [waitOnApart] }),
  build({ ...common, entryPoints: { 'wait-on': 'wait-on' }, outdir: 'dist/vendor' }),
])

// The text of `mrs --help`, `mrs <command> --help` and `mrs --version`, generated
// from the CLI definitions themselves, so bin/mrs.cjs can answer them without
// loading mrs (they are what shell completion and a curious user run most).
const { buildCli, versionText } = await import(new URL('../dist/mrs.js', import.meta.url))
const help = {}
const capture = (fn) => {
  const original = console.info
  let text = ''
  console.info = (s) => (text += `${s}\n`)
  try {
    fn()
  } finally {
    console.info = original
  }
  return text
}
for (const name of ['', ...buildCli().commands.map((c) => c.name)]) {
  help[name] = capture(() => buildCli().parse(['node', 'mrs', ...(name ? [name] : []), '--help'], { run: false }))
}
await writeFile(new URL('../dist/help.json', import.meta.url), JSON.stringify({ version: versionText(), help }))
