// Bundles mrs into dist/. What costs start-up time is the number of modules
// Node loads, so:
//   - dist/mrs.js, the CLI: one module for everything a launch needs; what a
//     launch rarely needs (execa, loaded while the server starts; the picker;
//     the tool-call check; wait-on, for a --url server still starting) are
//     chunks of their own, in dist/chunks/;
//   - dist/keeper.cjs, the server keeper: one CommonJS file with nothing it
//     does not use, since it lives as long as the server;
//   - dist/statusline.cjs: a client's status line (Claude Code's), run after every message;
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
// CommonJS starts a few ms sooner than an ES module: for the processes on the path to a launch or a status line
const cjs = { ...common, format: 'cjs', outExtension: { '.js': '.cjs' }, banner: {} }

await Promise.all([
  build({ ...common, entryPoints: { mrs: 'src/cli/main.ts' }, outdir: 'dist', splitting: true, chunkNames: 'chunks/[name]-[hash]' }),
  build({ ...cjs, entryPoints: { keeper: 'src/keeper/main.ts' }, outdir: 'dist' }),
  build({ ...cjs, entryPoints: { statusline: 'src/clients/claude-statusline.ts' }, outdir: 'dist', sourcemap: false }),
])

// The text of `mrs --help`, `mrs <command> --help` and `mrs --version`, generated
// from the CLI definitions themselves, so bin/mrs.cjs can answer them without
// loading mrs (they are what shell completion and a curious user run most).
const { helpText, cliShape, versionText } = await import(new URL('../dist/mrs.js', import.meta.url))
const help = {}
for (const name of ['', ...cliShape().map((c) => c.name)]) help[name] = helpText(name)
await writeFile(new URL('../dist/help.json', import.meta.url), JSON.stringify({ version: versionText(), help }))
