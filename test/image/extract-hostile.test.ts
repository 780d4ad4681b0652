/**
 * Hostile layers: every trick must fail (or be neutralised) without touching anything outside the
 * extraction directory. Each case checks a sentinel tree next to `dest` byte for byte.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import {
  dir,
  file,
  getXattr,
  GZIP_LAYER,
  hardlink,
  listTree,
  paxHeader,
  symlink,
  type TarEntry,
  tempDir,
  writeLayer
} from "../support/tarFixtures.js"

/** A work dir with `outside/` (the sentinel: a secret file and a dir) and an empty `dest/`. */
const setup = Effect.gen(function*() {
  const work = yield* tempDir("tank-hostile-")
  const outside = path.join(work, "outside")
  fs.mkdirSync(path.join(outside, "sub"), { recursive: true })
  fs.writeFileSync(path.join(outside, "secret"), "do not touch")
  fs.writeFileSync(path.join(outside, "sub/file"), "nor this")
  const dest = path.join(work, "dest")
  fs.mkdirSync(dest)
  const before = listTree(outside)
  const workBefore = fs.readdirSync(work).sort()
  return {
    work,
    outside,
    dest,
    /** Asserts the sentinel and the work dir look exactly as before (also nlink of the secret). */
    untouched: () => {
      expect(listTree(outside)).toEqual(before)
      expect(fs.statSync(path.join(outside, "secret")).nlink).toBe(1)
      expect(getXattr(outside, "trusted.overlay.opaque")).toBeUndefined()
      expect(fs.readdirSync(work).filter((n) => n !== "layer.tar.gz").sort()).toEqual(workBefore)
    }
  }
})

const extract = (env: { work: string; dest: string }, entries: ReadonlyArray<TarEntry>) =>
  Effect.gen(function*() {
    const blobPath = yield* writeLayer(env.work, "layer.tar.gz", entries)
    return yield* Effect.either(extractLayer({ blobPath, mediaType: GZIP_LAYER, dest: env.dest }))
  })

const reason = (r: Either.Either<void, { reason: string }>) => Either.isLeft(r) ? r.left.reason : "ok"

describe("extractLayer on hostile layers", () => {
  it.scopedLive("refuses names that climb out with '..'", () =>
    Effect.gen(function*() {
      for (const name of ["../escape", "a/../../escape", "./../outside/secret", "a/b/../../../outside/pwned"]) {
        const env = yield* setup
        const r = yield* extract(env, [file("ok", "fine"), file(name, "pwned")])
        expect(reason(r), name).toBe("Hostile")
        expect(Either.isLeft(r) && r.left.entry).toBe(name)
        env.untouched()
      }
    }))

  it.scopedLive("treats absolute names as relative to the layer root", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const abs = path.join(env.outside, "abs-pwned")
      const r = yield* extract(env, [file(abs, "inside after all"), file("/etc/passwd", "root:x:0:0::/:/bin/sh\n")])
      expect(reason(r)).toBe("ok")
      expect(fs.readFileSync(path.join(env.dest, abs), "utf8")).toBe("inside after all")
      expect(fs.readFileSync(path.join(env.dest, "etc/passwd"), "utf8")).toMatch(/^root/)
      env.untouched()
    }))

  it.scopedLive("refuses to write through a symlink, wherever it points", () =>
    Effect.gen(function*() {
      const cases: Array<[string, ReadonlyArray<TarEntry>]> = []
      const envs = []
      for (let i = 0; i < 6; i++) envs.push(yield* setup)
      cases.push(["absolute link out", [symlink("a", envs[0]!.outside), file("a/pwned", "x")]])
      cases.push(["relative link out", [symlink("a", "../../../../../../.."), file(`a${envs[1]!.outside}/pwned`, "x")]])
      cases.push(["link inside the layer", [dir("d"), symlink("b", "d"), file("b/f", "x")]])
      cases.push(["directory entry below a link", [symlink("a", envs[3]!.outside), dir("a/sub/newdir")]])
      cases.push(["link to parent", [symlink("up", ".."), file("up/outside/pwned", "x")]])
      cases.push(["directory swapped for a link", [
        dir("x"),
        file("x/a"),
        symlink("x", envs[5]!.outside),
        file("x/pwned")
      ]])
      for (const [i, [what, entries]] of cases.entries()) {
        const env = envs[i]!
        const r = yield* extract(env, entries)
        expect(reason(r), what).toBe("Hostile")
        env.untouched()
      }
    }))

  it.scopedLive("replaces a symlink by a later entry instead of following it", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const secret = path.join(env.outside, "secret")
      const r = yield* extract(env, [
        symlink("s", secret),
        file("s", "replaces the link"),
        symlink("d", env.outside),
        dir("d"),
        file("d/inside", "a real dir now"),
        symlink("h", secret),
        hardlink("h2", "h") // a hard link to the symlink itself, not to what it points at
      ])
      expect(reason(r)).toBe("ok")
      expect(fs.readFileSync(path.join(env.dest, "s"), "utf8")).toBe("replaces the link")
      expect(fs.lstatSync(path.join(env.dest, "d")).isDirectory()).toBe(true)
      expect(fs.readFileSync(path.join(env.dest, "d/inside"), "utf8")).toBe("a real dir now")
      expect(fs.lstatSync(path.join(env.dest, "h2")).isSymbolicLink()).toBe(true)
      expect(fs.readlinkSync(path.join(env.dest, "h2"))).toBe(secret)
      env.untouched()
    }))

  it.scopedLive("confines hard links to entries of the layer, reached without symlinks", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string, (o: string) => ReadonlyArray<TarEntry>]> = [
        ["absolute target outside", "Corrupt", (o) => [hardlink("h", path.join(o, "secret"))]],
        ["dot-dot target", "Hostile", () => [file("x"), hardlink("h", "../outside/secret")]],
        ["target via symlink", "Hostile", (o) => [symlink("s", o), hardlink("h", "s/secret")]],
        ["target via relative symlink", "Hostile", () => [symlink("s", "../outside"), hardlink("h", "s/secret")]],
        ["target is a directory", "Corrupt", () => [dir("d"), hardlink("h", "d")]],
        ["target is the root", "Hostile", () => [hardlink("h", ".")]],
        ["target missing", "Corrupt", () => [hardlink("h", "nothing")]],
        ["link through a symlinked parent", "Hostile", (o) => [file("t", "x"), symlink("s", o), hardlink("s/h", "t")]]
      ]
      for (const [what, want, entries] of cases) {
        const env = yield* setup
        const r = yield* extract(env, entries(env.outside))
        expect(reason(r), what).toBe(want)
        env.untouched()
      }
    }))

  it.scopedLive("whiteouts and opaque markers never act through symlinks", () =>
    Effect.gen(function*() {
      for (
        const entries of [(o: string) => [symlink("w", o), file("w/.wh.secret")], (o: string) => [
          symlink("w", o),
          file("w/.wh..wh..opq")
        ]]
      ) {
        const env = yield* setup
        const r = yield* extract(env, entries(env.outside))
        expect(reason(r)).toBe("Hostile")
        env.untouched()
      }
    }))

  it.scopedLive("does not write into a directory an earlier entry replaced", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const r = yield* extract(env, [dir("a"), dir("a/b"), file("a/b/x", "1"), file("a", "now a file"), file("a/b/y")])
      expect(reason(r)).toBe("Corrupt")
      expect(fs.readFileSync(path.join(env.dest, "a"), "utf8")).toBe("now a file")
      env.untouched()
    }))

  it.scopedLive("enforces size and length limits", () =>
    Effect.gen(function*() {
      const cases: Array<[string, ReadonlyArray<TarEntry>]> = [
        ["entry over 64 GiB", [paxHeader([["size", String(64 * 1024 ** 3 + 1)]]), file("huge")]],
        ["name over 4096 bytes", [file(`${"d/".repeat(2100)}f`, "x")]],
        ["link target over 4096 bytes", [symlink("l", "t".repeat(5000))]],
        ["PAX header over 4 MiB", [paxHeader([["comment", "c".repeat(5 * 1024 * 1024)]]), file("f")]]
      ]
      for (const [what, entries] of cases) {
        const env = yield* setup
        const r = yield* extract(env, entries)
        expect(reason(r), what).toBe("Limit")
        env.untouched()
      }
    }))

  it.scopedLive("a decompression bomb is refused from its headers, before its data is written", () =>
    Effect.gen(function*() {
      const env = yield* setup
      // 48 MiB of zeros gzip to ~50 KB: past an 8 MiB cap on what the layer expands to.
      const blobPath = yield* writeLayer(env.work, "layer.tar.gz", [
        file("small", "ok"),
        file("bomb", Buffer.alloc(48 * 1024 ** 2))
      ])
      expect(fs.statSync(blobPath).size).toBeLessThan(1024 ** 2)
      const r = yield* Effect.either(
        extractLayer({ blobPath, mediaType: GZIP_LAYER, dest: env.dest, limits: { maxBytes: 8 * 1024 ** 2 } })
      )
      expect(reason(r)).toBe("Limit")
      if (Either.isLeft(r)) expect(r.left.message).toMatch(/expands to more than 8 MiB \(the layer size limit\)/)
      expect(fs.existsSync(path.join(env.dest, "bomb"))).toBe(false)
      env.untouched()
      // The same layer under the default limits extracts.
      const ok = yield* setup
      const blob2 = yield* writeLayer(ok.work, "layer.tar.gz", [file("small", "ok"), file("big", Buffer.alloc(1024))])
      expect(reason(yield* Effect.either(extractLayer({ blobPath: blob2, mediaType: GZIP_LAYER, dest: ok.dest }))))
        .toBe(
          "ok"
        )
    }))

  it.scopedLive("a layer never eats into the reserve of free space, nor holds too many entries", () =>
    Effect.gen(function*() {
      const env = yield* setup
      const st = fs.statfsSync(env.dest)
      const blobPath = yield* writeLayer(env.work, "layer.tar.gz", [file("f", Buffer.alloc(4096))])
      // A reserve as large as the free space: not a byte may be written.
      const r = yield* Effect.either(extractLayer({
        blobPath,
        mediaType: GZIP_LAYER,
        dest: env.dest,
        limits: { reserveBytes: st.bavail * st.bsize }
      }))
      expect(reason(r)).toBe("Limit")
      if (Either.isLeft(r)) expect(r.left.message).toContain("free space")
      env.untouched()
      const many = yield* setup
      const blob2 = yield* writeLayer(
        many.work,
        "layer.tar.gz",
        Array.from({ length: 150 }, (_, i) => file(`f${i}`, "x"))
      )
      const r2 = yield* Effect.either(
        extractLayer({ blobPath: blob2, mediaType: GZIP_LAYER, dest: many.dest, limits: { maxEntries: 100 } })
      )
      expect(reason(r2)).toBe("Limit")
      if (Either.isLeft(r2)) expect(r2.left.message).toContain("more than 100 entries")
    }))

  it.scopedLive("rejects malformed whiteouts, sparse files and unknown entry types", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string, ReadonlyArray<TarEntry>]> = [
        ["empty whiteout", "Corrupt", [file("d/.wh.")]],
        ["whiteout of ..", "Corrupt", [file("d/.wh...")]],
        ["GNU sparse", "Unsupported", [paxHeader([["GNU.sparse.major", "1"], ["GNU.sparse.minor", "0"]]), file("s")]],
        ["malformed PAX", "Corrupt", [{ name: "PaxHeader", type: "pax-header", data: "99 path=x\n" }, file("f")]],
        ["directory with data (would stall tar-stream)", "Corrupt", [paxHeader([["size", "512"]]), dir("d"), file("x")]]
      ]
      for (const [what, want, entries] of cases) {
        const env = yield* setup
        const r = yield* extract(env, entries)
        expect(reason(r), what).toBe(want)
        env.untouched()
      }
    }))

  it.scopedLive("skips device nodes without root and still confines the layer", () =>
    Effect.gen(function*() {
      if (process.geteuid?.() !== 0) return
      const env = yield* setup
      const blobPath = yield* writeLayer(env.work, "layer.tar.gz", [
        { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0 },
        { name: "dev/mem", type: "character-device", devmajor: 1, devminor: 1 },
        { name: "fifo", type: "fifo" },
        file("ok", "x", { uid: 1000 })
      ])
      fs.chmodSync(env.work, 0o755)
      fs.chownSync(env.dest, 65534, 65534)
      const repo = path.join(import.meta.dirname, "../..")
      const script = [
        `import { Effect } from "effect"`,
        `import { extractLayer } from ${JSON.stringify(path.join(repo, "src/image/extract.ts"))}`,
        `const [blobPath, dest] = process.argv.slice(1)`,
        `await Effect.runPromise(extractLayer({ blobPath, dest, mediaType: "${GZIP_LAYER}" }))`,
        `console.log("ok")`
      ].join("\n")
      const out = execFileSync("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        process.execPath,
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        script,
        blobPath,
        env.dest
      ], { cwd: repo, encoding: "utf8" })
      expect(out).toContain("ok")
      expect(fs.existsSync(path.join(env.dest, "dev/sda"))).toBe(false)
      expect(fs.existsSync(path.join(env.dest, "dev/mem"))).toBe(false)
      expect(fs.lstatSync(path.join(env.dest, "fifo")).isFIFO()).toBe(true)
      expect(fs.lstatSync(path.join(env.dest, "ok")).uid).toBe(65534) // no chown without root
      env.untouched()
    }))
})
