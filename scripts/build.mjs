#!/usr/bin/env node
// Bundles the `tank` CLI so the bin starts fast (no tsx at run time):
//   dist/tank.cjs   the whole CLI, one CommonJS file (commands `import()` heavy modules; esbuild makes
//                   those lazy, so `tank ps` never evaluates the image client, the agent or undici)
//   dist/tank.mjs   a tiny loader that compiles tank.cjs with V8's code cache (dist/tank.cjs.cache),
//                   through dist/load.cjs (the one code-cache loader, shared with tank-quick.cjs)
//   dist/quick-ps.cjs  the small bundle of `tank ps`/`list` (src/cli/quickPs.ts): only what their
//                   plain lines run; other lines load tank.cjs from it. bin/tank starts it from its
//                   startup snapshot dist/ps.blob (scripts/snapshot.mjs), else through dist/tank-ps.cjs
//                   (code cache: quick-ps.cjs.cache)
//   dist/quick-ps-lite.cjs  ps's lite tier (src/cli/quickPsLite.ts: no Schema, serves what ps's memo
//                   proves, hands every other line to quick-ps.cjs), started first from dist/ps-lite.blob
// Why not plain ESM: Node 20 has no compile cache for modules; with the code cache `tank ps` needs
// ~40% less CPU at startup (measured: 0.14 s vs 0.23 s user on this VM).
//   dist/quick-exec.cjs  the small bundle of `tank exec` (src/cli/quickExec.ts), from which
//                   scripts/snapshot.mjs builds dist/exec.blob, exec's own startup snapshot
//   dist/tank.blob  a V8 startup snapshot of tank.cjs with its modules evaluated (scripts/snapshot.mjs),
//                   which bin/tank starts node from when it was built by the same node
//   dist/extractWorker.cjs  the layer extraction worker thread (src/image/extractOffThread.ts)
//   dist/web/       the web dashboard's client (app.js + app.css: src/web/client with xterm.js and uPlot),
//                   served by the agent; no CDN
// `--outdir DIR` builds elsewhere (tests; it must sit inside the repo so node_modules resolves);
// `--web-only` builds just the dashboard client; `--no-snapshot` skips tank.blob (tests of the plain bundle).
import { build } from "esbuild"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname))
const entry = path.join(root, "src/cli/entry.ts")
if (!fs.existsSync(entry)) process.exit(0)
const at = process.argv.indexOf("--outdir")
const outdir = at > 0 && process.argv[at + 1] ? path.resolve(process.argv[at + 1]) : path.join(root, "dist")
fs.mkdirSync(outdir, { recursive: true })

// The dashboard client: one ES module and one stylesheet (the libraries' CSS included).
const webDir = path.join(outdir, "web")
fs.rmSync(webDir, { recursive: true, force: true })
await build({
  entryPoints: { app: path.join(root, "src/web/client/main.ts") },
  outdir: webDir,
  bundle: true,
  platform: "browser",
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  minify: true,
  legalComments: "linked",
  logLevel: "warning"
})
if (process.argv.includes("--web-only")) process.exit(0)

// `exec` measured no faster from its own bundle than from the snapshot (its graph, the run record's
// and the helper's schemas, is most of the full CLI's cost): it starts from the snapshot.
const QUICK = ["ps"]
for (
  const stale of [
    "chunks",
    "tank.cjs.cache",
    "tank.cjs.no-opt.cache",
    "tank.mjs.map",
    ...QUICK.map((q) => `quick-${q}.cjs.cache`)
  ]
) {
  fs.rmSync(path.join(outdir, stale), { recursive: true, force: true })
}

// The CLI's bundles: the whole CLI, and the small one of its hot commands (cut at their lazy imports).
const cliBundle = (entryPoint, outfile, extra = {}) =>
  build({
    entryPoints: [entryPoint],
    outfile: path.join(outdir, outfile),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    sourcemap: "linked",
    // Native addons stay external: they are loaded from node_modules at run time.
    // etcd3 (cluster mode only, imported lazily) loads its gRPC .proto files from its package dir;
    // cockatiel stays the one copy etcd3 itself uses (its fault-handling policies).
    external: ["better-sqlite3", "node-pty", "koffi", "@parcel/watcher", "etcd3", "cockatiel"],
    // The bundle runs as a vm.Script (code cache), which cannot import(): external lazy imports
    // (etcd3) become require(); bundled ones stay lazy either way.
    supported: { "dynamic-import": false },
    // import.meta.url locates the package root (native/tank-helper) from the bundle's own path.
    define: { "import.meta.url": "__tankImportMetaUrl" },
    banner: { js: "const __tankImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: "warning",
    ...extra
  })
/**
 * The quick bundles' rule: a module of ours they import() is never bundled, only a stub that throws
 * if it is ever run. esbuild wraps a lazily required module and every module it imports, and a
 * wrapped `effect` index evaluates all of Effect (~570 KB, ~35 ms a start) instead of the
 * tree-shaken part the command uses. So their graphs import what they run, and the lines that need
 * more run the full CLI (src/cli/fullCli.ts); quick.test.ts runs each such line both ways.
 */
const noLazyModules = {
  name: "no-lazy-modules",
  setup(b) {
    b.onResolve(
      { filter: /^\./ },
      (args) =>
        args.kind === "dynamic-import" && args.importer.startsWith(path.join(root, "src") + path.sep)
          ? { path: path.relative(root, path.resolve(args.resolveDir, args.path)), namespace: "not-in-quick-bundle" }
          : undefined
    )
    b.onLoad({ filter: /.*/, namespace: "not-in-quick-bundle" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in this quick bundle (scripts/build.mjs)`)})`,
      loader: "js"
    }))
  }
}
/**
 * fast-check (Schema's Arbitrary imports it: test data generators) is never run by a quick bundle's
 * lines, yet evaluated at every start and held in their blobs (~45 KB of bundle): a stub stands in,
 * whose every use fails loudly (its members are undefined). cli.test.ts and quick.test.ts run every
 * quick line, so a line that reached it would fail there.
 */
const noFastCheck = {
  name: "no-fast-check",
  setup(b) {
    b.onResolve({ filter: /^(fast-check|pure-rand)$/ }, (args) => ({ path: args.path, namespace: "stubbed-out" }))
    // Evaluated at start (Schema imports it eagerly): an empty module, not one that throws.
    b.onLoad({ filter: /.*/, namespace: "stubbed-out" }, () => ({ contents: "module.exports = {}", loader: "js" }))
  }
}
/**
 * `import { Schema, Either } from "effect"` in our sources, read as `import * as Schema from
 * "effect/Schema"` (one namespace import per module) in every CLI bundle (tank.cjs too): through the barrel,
 * esbuild keeps a namespace object holding every export of each module named (all of Schema, and
 * with it DateTime, BigDecimal, Duration, SortedSet and more, evaluated at every start and held in
 * the blob); a direct namespace import lets it keep only what is used (Effect marks its
 * definitions pure). The same modules, the same code: only what is bundled changes
 * (quick-ps.cjs 361 -> ~270 KB; quick-exec.cjs 732 -> 424 KB, exec.blob 8.7 -> 7.1 MB, an exec
 * ~11 ms faster; tank.cjs 2.2 -> 1.9 MB, tank.blob 12.3 -> 10.6 MB, any other command 10-17 ms
 * faster). Type-only imports are left as they are.
 */
const noEffectBarrel = {
  name: "no-effect-barrel",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(path.join(root, "src") + path.sep)) return undefined
      const text = fs.readFileSync(args.path, "utf8").replace(
        /^import \{([^}]*)\} from "effect"$/gm,
        (_, names) => {
          const parts = names.split(",").map((n) => n.trim()).filter(Boolean)
          const types = parts.filter((n) => n.startsWith("type ")).map((n) => n.slice(5))
          return [
            ...parts.filter((n) => !n.startsWith("type ")).map((n) => {
              // `Foo as Bar`: the module Foo under the name Bar.
              const [name, alias] = n.split(/\s+as\s+/)
              return `import * as ${alias ?? name} from "effect/${name}"`
            }),
            ...(types.length ? [`import type { ${types.join(", ")} } from "effect"`] : [])
          ].join("\n")
        }
      )
      return { contents: text, loader: "ts" }
    })
  }
}
await cliBundle(entry, "tank.cjs", { plugins: [noEffectBarrel] })
// quick-ps also holds better-sqlite3's JS (its addon stays in node_modules; `bindings` is never used,
// the reader names the addon): src/store/psReader.ts runs it only with an addon of the same release.
// yaml stays out (115 KB to read at every start; required from node_modules when a config file exists).
const sqliteVersion = JSON.parse(fs.readFileSync(path.join(root, "node_modules/better-sqlite3/package.json"), "utf8"))
  .version
const quickExtra = {
  ps: {
    external: ["bindings", "yaml", "node-pty", "koffi", "@parcel/watcher", "etcd3", "cockatiel"],
    define: { "import.meta.url": "__tankImportMetaUrl", __tankBundledSqlite: JSON.stringify(sqliteVersion) }
  }
}
const quickPlugins = { ps: [noEffectBarrel] }
for (const q of QUICK) {
  const name = q[0].toUpperCase() + q.slice(1)
  await cliBundle(path.join(root, `src/cli/quick${name}.ts`), `quick-${q}.cjs`, {
    plugins: [noLazyModules, noFastCheck, ...(quickPlugins[q] ?? [])],
    ...quickExtra[q]
  })
}
// ps's lite tier (src/cli/quickPsLite.ts): what bin/tank starts first for ps/list, from its own blob
// (dist/ps-lite.blob). It must hold no Schema: Schema's modules and the parsers they build were most
// of ps.blob's heap, deserialized at every start. Its graph is checked here (esbuild's list of the
// inputs it bundled): a Schema module creeping in through a shared import fails the build, saying
// which (split that module's pure part apart, as psView.ts, listingText.ts or tables.ts are).
const lite = await cliBundle(path.join(root, "src/cli/quickPsLite.ts"), "quick-ps-lite.cjs", {
  plugins: [noLazyModules, noFastCheck, noEffectBarrel],
  ...quickExtra.ps,
  metafile: true
})
const SCHEMA_MODULE = /node_modules\/effect\/dist\/[^/]+\/(Schema|ParseResult|SchemaAST|internal\/schema\/[^/]+)\.js$/
const schemaInLite = Object.keys(lite.metafile.inputs).filter((f) => SCHEMA_MODULE.test(f))
if (schemaInLite.length > 0) {
  process.stderr.write(`build: quick-ps-lite.cjs must hold no Schema, yet it bundles ${schemaInLite.join(", ")}\n`)
  process.exit(1)
}
// `tank exec`'s small bundle (src/cli/quickExec.ts), under the same rule. It runs from its own startup
// snapshot, dist/exec.blob (scripts/snapshot.mjs), not through load.cjs: no starter, no code cache.
await cliBundle(path.join(root, "src/cli/quickExec.ts"), "quick-exec.cjs", {
  plugins: [noLazyModules, noFastCheck, noEffectBarrel]
})

// The layer extraction worker (src/image/extractOffThread.ts): its own small bundle beside tank.cjs.
await build({
  entryPoints: [path.join(root, "src/image/extractWorker.ts")],
  outfile: path.join(outdir, "extractWorker.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: true,
  external: ["koffi"],
  logLevel: "warning"
})

// The code-cache loader: load(name) compiles and runs the CommonJS bundle `name` beside it.
fs.writeFileSync(
  path.join(outdir, "load.cjs"),
  `// Generated by scripts/build.mjs: runs a bundle beside it through V8's code cache (see there for why).
"use strict"
const fs = require("node:fs")
const Module = require("node:module")
const path = require("node:path")
const vm = require("node:vm")

module.exports = (name) => {
  const file = path.join(__dirname, name)
  // V8 takes a cache only from a node with the same flags: exec's blob runs with --no-opt, and the
  // lines it hands to the full CLI keep their own cache, so neither rewrites the other's every run.
  const cacheFile = file + (process.execArgv.includes("--no-opt") ? ".no-opt.cache" : ".cache")
  let cachedData
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {}
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, "utf8")), { filename: file, cachedData })
  if (!cachedData || script.cachedDataRejected) {
    // At exit the cache holds the functions that ran compiled too ("exit", not "beforeExit": a
    // command that fails ends with process.exit). Unwritable dir: no cache.
    process.once("exit", () => {
      try {
        fs.writeFileSync(cacheFile + "." + process.pid, script.createCachedData())
        fs.renameSync(cacheFile + "." + process.pid, cacheFile)
      } catch {}
    })
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, Module.createRequire(file), module, file, __dirname)
  return module.exports
}
`
)
fs.writeFileSync(
  path.join(outdir, "tank.mjs"),
  `// Generated by scripts/build.mjs: runs tank.cjs through V8's code cache (load.cjs).
import { createRequire } from "node:module"

createRequire(import.meta.url)("./load.cjs")("tank.cjs")
`
)
// bin/tank's entry for ps/list (CommonJS: no ES module loader to start).
for (const q of QUICK) {
  fs.writeFileSync(
    path.join(outdir, `tank-${q}.cjs`),
    `// Generated by scripts/build.mjs: runs quick-${q}.cjs through V8's code cache (load.cjs).
require("./load.cjs")("quick-${q}.cjs")
`
  )
}
for (
  const stale of [
    "quick.cjs",
    "quick.cjs.map",
    "tank-quick.cjs",
    "quick-exec.cjs.cache",
    "tank-exec.cjs"
  ]
) {
  fs.rmSync(path.join(outdir, stale), { force: true })
}

// Warm the code caches with `tank ps` over a store holding a pod (in a temp data dir), so each cache
// holds the store's read path too, not only the CLI's: the first run writes a cache, so the pod is
// stored first (that run's caches are dropped) and the reads run last.
const warm = fs.mkdtempSync(path.join(outdir, ".warm-"))
const run = (entryFile, args, input) =>
  spawnSync(process.execPath, [path.join(outdir, entryFile), "--data-dir", warm, ...args], {
    input: input ?? "",
    stdio: ["pipe", "ignore", "ignore"]
  })
run("tank.mjs", ["apply", "-f", "-"], JSON.stringify({ name: "warm", containers: [{ name: "app", image: "busybox" }] }))
fs.rmSync(path.join(outdir, "tank.cjs.cache"), { force: true })
for (const q of QUICK) fs.rmSync(path.join(outdir, `quick-${q}.cjs.cache`), { force: true })
run("tank.mjs", ["ps"])
run("tank-ps.cjs", ["ps"])
fs.rmSync(warm, { recursive: true, force: true })

if (!process.argv.includes("--no-snapshot")) {
  const r = spawnSync(process.execPath, [path.join(root, "scripts/snapshot.mjs"), outdir], { stdio: "inherit" })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
