/**
 * The large single-layer image of the pull bench: ~100 MB of this machine's /usr as one gzip layer,
 * streamed to a file (shared by bench/pull.ts and scratch profiling of extraction).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"

const LARGE_BUDGET = 100 * 1024 * 1024

export const CANDIDATES = [
  "/usr/lib/python3.11",
  "/usr/lib/python3",
  "/usr/share/perl",
  "/usr/share/vim",
  "/usr/lib/gcc"
]

const collect = (roots: ReadonlyArray<string>) => {
  const out: Array<{ abs: string; name: string; stat: fs.Stats }> = []
  let total = 0
  const walk = (abs: string) => {
    if (total > LARGE_BUDGET) return
    const stat = fs.lstatSync(abs)
    if (!stat.isFile() && !stat.isDirectory() && !stat.isSymbolicLink()) return
    out.push({ abs, name: abs.slice(1), stat })
    if (stat.isFile()) total += stat.size
    if (stat.isDirectory()) { for (const n of fs.readdirSync(abs).sort()) walk(path.join(abs, n)) }
  }
  for (const r of roots) if (fs.existsSync(r)) walk(r)
  return { entries: out, total }
}

export const buildLargeLayer = async (file: string) => {
  const { entries, total } = collect(CANDIDATES)
  const pack = tar.pack()
  const gz = zlib.createGzip({ level: 6 })
  const raw = createHash("sha256")
  const comp = createHash("sha256")
  let size = 0
  pack.on("data", (c) => void raw.update(c as Buffer))
  gz.on("data", (c: Buffer) => {
    comp.update(c)
    size += c.length
  })
  const written = pipeline(pack, gz, fs.createWriteStream(file))
  const parents = new Set<string>()
  for (const e of entries) {
    // parent dirs of the roots (usr, usr/lib, ...) first
    const parts = e.name.split("/")
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join("/")
      if (!parents.has(p)) {
        parents.add(p)
        pack.entry({ name: p, type: "directory", mode: 0o755, mtime: new Date(0) })
      }
    }
    const base = { name: e.name, mode: e.stat.mode & 0o7777, uid: e.stat.uid, gid: e.stat.gid, mtime: e.stat.mtime }
    if (e.stat.isDirectory()) {
      parents.add(e.name)
      pack.entry({ ...base, type: "directory" })
    } else if (e.stat.isSymbolicLink()) {
      pack.entry({ ...base, type: "symlink", linkname: fs.readlinkSync(e.abs) })
    } else {
      const data = fs.readFileSync(e.abs)
      await new Promise<void>((resolve, reject) =>
        pack.entry({ ...base, type: "file", size: data.length }, data, (err) => (err ? reject(err) : resolve()))
      )
    }
  }
  pack.finalize()
  await written
  return {
    digest: `sha256:${comp.digest("hex")}`,
    diffId: `sha256:${raw.digest("hex")}`,
    size,
    files: entries.length,
    total
  }
}
