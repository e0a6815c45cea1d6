// Bundles mrs into a few files under dist/. One bundle instead of hundreds of
// node_modules files keeps `mrs --help` close to bare `node` start-up, and
// lazy `import()`s (execa, wait-on) become separate chunks loaded only when used.
import { build } from 'esbuild'
import { readFile, rm } from 'node:fs/promises'

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })

await build({
  entryPoints: { mrs: 'src/cli/main.ts', keeper: 'src/keeper/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  // CommonJS dependencies (tree-kill, wait-on's axios) call require() for Node built-ins.
  banner: { js: "import { createRequire as __mrsCreateRequire } from 'node:module'; const require = __mrsCreateRequire(import.meta.url);" },
  define: { __MRS_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
})
