#!/usr/bin/env node
// Builds dist/tank.blob, a V8 startup snapshot of the CLI bundle (dist/tank.cjs; and dist/exec.blob,
// dist/ps.blob and dist/ps-lite.blob of `tank exec`'s and `tank ps`'s small bundles, dist/quick-exec.cjs,
// quick-ps.cjs and quick-ps-lite.cjs, below): node evaluates the
// bundle's modules (Effect, Schema, @effect/cli's command tree, and the modules most commands load:
// src/cli/entry.ts) once, here, and every `tank` run started by bin/tank deserializes that heap
// instead of evaluating them again.
//   node scripts/snapshot.mjs [DIST]      (DIST: default ../dist beside this script)
// Run by scripts/build.mjs and by the package's install step: a blob only works with the node binary
// that built it, so it is built where it runs and never shipped. dist/tank.blob.stamp names that node
// binary (device:inode:size:mtime, for people) and the dist dir the blob was built for; beside it
// dist/tank.blob.node-mtime, an empty file whose mtime is that node's, to the nanosecond. bin/tank
// uses the blob only when both still match (the same directory; a node of the same mtime: its shell's
// own `-ef`, `-nt` and `-ot`, no program to run at every start), else the plain bundle.
// Never fails the install: when no blob can be built it says why on stderr and exits 0 (no blob).
//
// The blob is built, and so must run, with NODE_FLAGS (V8 refuses a blob built with other flags;
// bin/tank reads them from the stamp's third line): `--no-opt`, no optimizing compiler, as a short
// command ends before optimized code would pay back its compile time (`tank ps` ~15 % less CPU).
// bin/tank runs the long-lived and CPU-heavy commands (daemon, pull, load, save, cp, web) from the
// plain bundle, with the optimizing compiler.
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

const here = path.dirname(new URL(import.meta.url).pathname)
// Canonical, for people and tests (bin/tank compares directories, not spellings: `-ef`).
const realpath = (p) => {
  try {
    return fs.realpathSync(p)
  } catch {
    return p
  }
}
const dist = realpath(path.resolve(process.argv[2] ?? path.join(here, "../dist")))
const blob = path.join(dist, "tank.blob")
// `tank exec`'s own blob, of its small bundle (dist/quick-exec.cjs: src/cli/quickExec.ts, which
// rehearses an exec while it is built): ~4 MB less heap to deserialize than tank.blob at every exec.
// Valid under the same stamp (bin/tank uses it only beside a valid tank.blob.stamp).
const execBlob = path.join(dist, "exec.blob")
// `tank ps`/`list`'s, of theirs (dist/quick-ps.cjs: src/cli/quickPs.ts, whose rehearsal builds the
// whole Pod's parsers into it: the reader decodes every spec as the Store does).
const psBlob = path.join(dist, "ps.blob")
// ps's lite tier's, of dist/quick-ps-lite.cjs (src/cli/quickPsLite.ts: no Schema in its heap, ~1/3 of
// ps.blob's to deserialize), which bin/tank starts first for ps/list; it hands the lines it cannot
// serve to quick-ps.cjs from ps.blob.
const psLiteBlob = path.join(dist, "ps-lite.blob")
const stamp = blob + ".stamp"
const nodeMtime = blob + ".node-mtime"
const NODE_FLAGS = ["--no-opt"]

for (const stale of [blob, execBlob, psBlob, psLiteBlob, stamp, nodeMtime]) fs.rmSync(stale, { force: true })
if (!fs.existsSync(path.join(dist, "tank.cjs"))) process.exit(0) // a checkout before its first build: prepare builds it

/** The node binary's identity (the stamp's first line: for people; bin/tank compares mtimes). */
const nodeIdentity = () => {
  const s = fs.statSync(process.execPath)
  return `${s.dev}:${s.ino}:${s.size}:${Math.floor(s.mtimeMs / 1000)}`
}

// The bundle runs inside a CommonJS wrapper whose `require` is swapped once the snapshot is
// deserialized: while building, node allows built-in modules only, so anything else (the native
// addons, etcd3) fails the build loudly if a module evaluated here reaches for it; at run time the
// bundle's lazy imports load them from node_modules as usual.
//
// One exception: better-sqlite3 (the SQLite driver) is a stand-in while building, so the module that
// imports it (@effect/sql-sqlite-node, which most commands load) can be evaluated into the snapshot;
// the real driver is loaded when the first database is opened, by its resolved path and with its
// addon's path (\`nativeBinding\`: no search through the \`bindings\` package at every run). Either path
// gone since the build (a reinstalled driver): the driver as a plain require finds it.
const resolveFrom = (id) => {
  try {
    return createRequire(path.join(dist, "tank.cjs")).resolve(id)
  } catch {
    return undefined
  }
}
const sqliteMain = resolveFrom("better-sqlite3")
const sqliteAddon = sqliteMain && path.join(path.dirname(sqliteMain), "../build/Release/better_sqlite3.node")
// __tankPsMemoTag: the SHA-256 of ps's heavy bundle (quick-ps.cjs), the tag of ps's memo, defined
// into every blob: quickPs.ts writes and reads the memo under it, quickPsLite.ts reads it under the
// same tag, so the lite tier trusts only texts the decoder built beside it proved (a memo proven by
// other code is never trusted). __tankSqliteMain: the driver resolved
// here, which psReader.ts uses while it exists instead of resolving it again at every ps.
const psBundle = path.join(dist, "quick-ps.cjs")
const psMemoTag = fs.existsSync(psBundle) ? createHash("sha256").update(fs.readFileSync(psBundle)).digest("hex") : null
const entryOf = (bundle, text = fs.readFileSync(bundle, "utf8")) =>
  `"use strict";
const v8 = require("node:v8")
const fs = require("node:fs")
const Module = require("node:module")
const file = ${JSON.stringify(bundle)}
const sqliteMain = ${JSON.stringify(sqliteMain ?? null)}
const sqliteAddon = ${JSON.stringify(sqliteAddon ?? null)}
const __tankPsMemoTag = ${JSON.stringify(psMemoTag)}
const __tankSqliteMain = sqliteMain
let realSqlite
function BetterSqlite3(filename, options) {
  if (realSqlite === undefined) {
    realSqlite = sqliteMain && fs.existsSync(sqliteMain) ? load(sqliteMain) : load("better-sqlite3")
  }
  const addon = sqliteAddon && fs.existsSync(sqliteAddon) ? { nativeBinding: sqliteAddon } : {}
  return new realSqlite(filename, { ...addon, ...options })
}
let load = (id) => {
  if (id.startsWith("node:") || Module.isBuiltin(id)) return require(id)
  if (id === "better-sqlite3") return BetterSqlite3
  throw new Error("the snapshot cannot hold " + id + " (a native or external module): import it lazily")
}
// Made when the first module is required after the start, not at every start (createRequire: ~1-5 ms
// under --no-opt; a plain \`tank exec\` requires none).
v8.startupSnapshot.addDeserializeCallback(() => {
  let required
  load = (id) => (required ??= Module.createRequire(file))(id)
})
const module = { exports: {} }
;(function (exports, require, module, __filename, __dirname) {
${text}
})(module.exports, (id) => load(id), module, file, ${JSON.stringify(dist)})
`

/** Builds `out` from the bundle `bundle` (a path); false (with the reason on stderr) when it cannot. */
const buildBlob = (bundle, out) => {
  const entryFile = path.join(dist, `.snapshot-entry-${process.pid}.cjs`)
  const partial = `${out}.${process.pid}`
  try {
    fs.writeFileSync(entryFile, entryOf(bundle))
    const r = spawnSync(process.execPath, [...NODE_FLAGS, "--snapshot-blob", partial, "--build-snapshot", entryFile], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" }
    })
    if (r.status !== 0 || !fs.existsSync(partial)) {
      const why = r.error?.message ?? (r.stderr.trim().split("\n").slice(-5).join("\n") || `exit ${r.status}`)
      process.stderr.write(`tank: no startup snapshot ${path.basename(out)} (the CLI starts without it): ${why}\n`)
      return false
    }
    fs.renameSync(partial, out)
    return true
  } finally {
    fs.rmSync(entryFile, { force: true })
    fs.rmSync(partial, { force: true })
  }
}

const execBundle = path.join(dist, "quick-exec.cjs")
if (fs.existsSync(execBundle)) buildBlob(execBundle, execBlob)
// The lite blob only beside a heavy one: every line it cannot serve goes to ps.blob.
if (fs.existsSync(psBundle) && buildBlob(psBundle, psBlob)) {
  const psLiteBundle = path.join(dist, "quick-ps-lite.cjs")
  if (fs.existsSync(psLiteBundle)) buildBlob(psLiteBundle, psLiteBlob)
}
if (buildBlob(path.join(dist, "tank.cjs"), blob)) {
  // node's mtime copied whole by touch(1) (fs.utimes takes seconds as a double: not to the ns).
  fs.writeFileSync(nodeMtime, "")
  const touched = spawnSync("touch", ["-r", process.execPath, "--", nodeMtime], { encoding: "utf8" })
  if (touched.status === 0) fs.writeFileSync(stamp, `${nodeIdentity()}\n${dist}\n${NODE_FLAGS.join(" ")}\n`)
  else {
    const why = touched.error?.message ?? touched.stderr.trim()
    process.stderr.write(`tank: no startup snapshot stamp (the CLI starts without its blobs): touch: ${why}\n`)
  }
}
