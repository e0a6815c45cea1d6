// Bundles mrs into dist/. Start-up time is what users feel (an attach to a
// running server is mostly node starting and mrs loading), so:
//   - dist/mrs.cjs, the CLI: one CommonJS file for everything mrs does,
//     loaded by dist/boot.cjs with V8's code cache (see src/cli/boot.ts);
//     CommonJS, because an ES module graph loads measurably slower;
//   - dist/lib/*.cjs: the libraries a launch rarely needs (execa, for a
//     one-shot question to a program; the picker's prompts; wait-on, for a
//     --url server still starting), each required only when used;
//   - dist/keeper-main.cjs, the server keeper: one file with nothing it does
//     not use, since it lives as long as the server; loaded by dist/keeper.cjs
//     with V8's code cache, as mrs is;
//   - dist/statusline.cjs: a client's status line (Claude Code's), run after every message;
//   - dist/complete.cjs: `mrs __complete`, what shell completion asks at TAB time (model
//     ids, server ids), which bin/mrs.cjs runs without loading mrs;
//   - dist/help.json: the text of --help and --version, generated from the
//     CLI definitions, which bin/mrs.cjs answers without loading mrs at all.
// Every library mrs runs is bundled into these files, so the installed package
// needs nothing beside them: the libraries are devDependencies, and installing
// mrs (npm install -g --install-links .) fetches nothing from the registry.
import { build } from 'esbuild'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createHash } from 'node:crypto'

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })

/** Library → its own file in dist/lib/, required from the bundle only when the code that uses it runs. */
const LAZY_LIBS = { execa: 'execa', 'wait-on': 'wait-on', '@clack/prompts': 'clack' }
const target = (name) => (name in LAZY_LIBS ? `./lib/${LAZY_LIBS[name]}.cjs` : name)
// An `await import(x)` of a library or a Node module becomes a require() run when the import is: the
// bundle is loaded by vm.Script (for the code cache), where a real import() has no loader to call.
const lazyLibs = {
  name: 'lazy-libs',
  setup(b) {
    b.onResolve({ filter: /^(execa|wait-on|@clack\/prompts|node:.*)$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'lazy' } : { path: target(args.path), external: true },
    )
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)})`, loader: 'js' }))
  },
}

const cjs = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  sourcemap: 'linked',
  outExtension: { '.js': '.cjs' },
  define: { __MRS_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // minified: V8 reads, hashes and (without a code cache: boot, the keeper) parses less — ~3 ms off every
  // start; mrs never prints a stack trace, and the linked source maps name the real lines for a debugger
  minify: true,
  logLevel: 'warning',
}

/** A built bundle's content hash: its code cache's key (an edit that keeps its size and time must not run old compiled code). */
const contentHash = async (name) => createHash('sha256').update(await readFile(new URL(`../dist/${name}`, import.meta.url))).digest('hex').slice(0, 32)

await build({ ...cjs, entryPoints: { mrs: 'src/cli/main.ts' }, outdir: 'dist', plugins: [lazyLibs] })
const mrs = createRequire(import.meta.url)('../dist/mrs.cjs')
// boot decides, before it loads mrs, whether a launch will likely start a server: it needs the commands that do
const launchCommands = [...mrs.CLIENT_NAMES, 'serve', 'check']
await Promise.all([
  build({ ...cjs, entryPoints: { boot: 'src/cli/boot.ts' }, outdir: 'dist', sourcemap: false, define: { ...cjs.define, __LAUNCH_COMMANDS__: JSON.stringify(launchCommands), __BUNDLE_HASH__: JSON.stringify(await contentHash('mrs.cjs')) } }),
  // the keeper loads execa (a one-shot question to a program) only when it asks one, as mrs does
  build({ ...cjs, entryPoints: { 'keeper-main': 'src/keeper/main.ts' }, outdir: 'dist', plugins: [lazyLibs] }).then(async () =>
    build({ ...cjs, entryPoints: { keeper: 'src/keeper/boot.ts' }, outdir: 'dist', sourcemap: false, define: { ...cjs.define, __KEEPER_HASH__: JSON.stringify(await contentHash('keeper-main.cjs')) } }),
  ),
  build({ ...cjs, entryPoints: { statusline: 'src/clients/claude-statusline.ts' }, outdir: 'dist', sourcemap: false }),
  build({ ...cjs, entryPoints: { complete: 'src/cli/complete.ts' }, outdir: 'dist', sourcemap: false }),
  ...Object.entries(LAZY_LIBS).map(([lib, name]) =>
    build({ ...cjs, stdin: { contents: `export * from '${lib}'; ${lib === 'wait-on' ? "export { default } from 'wait-on';" : ''}`, resolveDir: '.', loader: 'js' }, outfile: `dist/lib/${name}.cjs`, sourcemap: false }),
  ),
])

// The text of `mrs --help`, `mrs <command> --help` and `mrs --version`, generated
// from the CLI definitions themselves, so bin/mrs.cjs can answer them without
// loading mrs (they are what shell completion and a curious user run most).
const { helpText, cliShape, versionText } = mrs
const help = {}
for (const name of ['', ...cliShape().map((c) => c.name)]) help[name] = helpText(name)
await writeFile(new URL('../dist/help.json', import.meta.url), JSON.stringify({ version: versionText(), help }))
