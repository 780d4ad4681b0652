#!/usr/bin/env node
// Bundles the `tank` CLI into dist/tank.mjs with esbuild, so the bin starts fast (no tsx at run time).
// Code splitting: each command imports what it needs with `import()`, so `tank ps` never loads the
// image client, the agent or undici; those land in dist/chunks/ and load on demand.
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname))
const entry = path.join(root, "src/cli/main.ts")
if (!fs.existsSync(entry)) process.exit(0)
// `--outdir DIR` (tests build a private copy; it must sit inside the repo so node_modules resolves).
const at = process.argv.indexOf("--outdir")
const outdir = at > 0 && process.argv[at + 1] ? path.resolve(process.argv[at + 1]) : path.join(root, "dist")
fs.rmSync(path.join(outdir, "chunks"), { recursive: true, force: true })
await build({
  entryPoints: { tank: entry },
  outdir,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // Native addons stay external: they are loaded from node_modules at run time.
  external: ["better-sqlite3", "node-pty", "koffi", "@parcel/watcher"],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning"
})
