#!/usr/bin/env node
/**
 * Builds the store IT console (edge/http/console/src) into dist/console/ with esbuild: one ES module and
 * one stylesheet, minified, with source maps; Preact and uPlot are bundled in, so the gateway serves
 * everything itself (no CDN: the store may be offline). `npm run build` runs it after tsc.
 */
import { build } from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const root = join(here, '..', '..', '..')

export async function buildConsole(outdir = join(root, 'dist', 'console')) {
  const r = await build({
    entryPoints: { console: join(here, 'src', 'main.tsx') },
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome109', 'safari16', 'firefox115'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    outdir,
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  return Object.entries(r.metafile.outputs).map(([file, o]) => ({ file, bytes: o.bytes }))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildConsole()
  const shown = out.filter((o) => !o.file.endsWith('.map'))
  console.log(`console built: ${shown.map((o) => `${o.file.replace(`${root}/`, '')} ${(o.bytes / 1024).toFixed(1)} KiB`).join(', ')}`)
}
