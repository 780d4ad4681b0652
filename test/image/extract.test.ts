/**
 * Layer extraction of honest layers: every entry type, metadata (as root), PAX details, a real
 * GNU tar layer, compression handling.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { extractLayer } from "../../src/image/extract.js"
import {
  dir,
  file,
  FIXED_MTIME,
  getXattr,
  GZIP_LAYER,
  hardlink,
  listTree,
  paxHeader,
  setXattr,
  symlink,
  TAR_LAYER,
  tempDir,
  writeLayer
} from "../support/tarFixtures.js"

const root = process.geteuid?.() === 0
const extractInto = (blobPath: string, mediaType = GZIP_LAYER) =>
  Effect.gen(function*() {
    const dest = path.join(yield* tempDir("tank-dest-"), "layer")
    fs.mkdirSync(dest)
    yield* extractLayer({ blobPath, mediaType, dest })
    return dest
  })

describe("extractLayer", () => {
  it.scopedLive("extracts every entry type with modes, owners, times and content", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const blob = yield* writeLayer(work, "all.tar.gz", [
        dir("bin", { mode: 0o755, mtime: FIXED_MTIME - 100 }),
        file("bin/tool", "#!/bin/sh\necho hi\n", { mode: 0o4755, uid: 0, gid: 0 }),
        file("bin/group-tool", "x", { mode: 0o2711 }),
        dir("srv", { mode: 0o750, uid: 1000, gid: 1001, mtime: FIXED_MTIME - 200 }),
        file("srv/data.txt", "payload", { mode: 0o640, uid: 1000, gid: 1001, mtime: FIXED_MTIME - 300 }),
        hardlink("srv/data-link.txt", "srv/data.txt"),
        dir("tmp", { mode: 0o1777 }),
        symlink("etc-passwd", "/etc/passwd"),
        symlink("rel", "../srv/data.txt", { uid: 1000, gid: 1001 }),
        { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
        { name: "dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
        { name: "run/pipe", type: "fifo", mode: 0o620, uid: 5 },
        dir("ro", { mode: 0o555 }),
        file("ro/inside", "written into a read-only dir", { mode: 0o444 }),
        file("empty", "")
      ])
      const dest = yield* extractInto(blob)
      const st = (p: string) => fs.lstatSync(path.join(dest, p))
      expect(fs.readFileSync(path.join(dest, "srv/data.txt"), "utf8")).toBe("payload")
      expect(st("bin/tool").mode & 0o7777).toBe(0o4755)
      expect(st("bin/group-tool").mode & 0o7777).toBe(0o2711)
      expect(st("tmp").mode & 0o7777).toBe(0o1777)
      expect(st("srv").mode & 0o7777).toBe(0o750)
      expect(st("ro").mode & 0o7777).toBe(0o555)
      expect(fs.readFileSync(path.join(dest, "ro/inside"), "utf8")).toBe("written into a read-only dir")
      expect(st("srv/data-link.txt").ino).toBe(st("srv/data.txt").ino)
      expect(st("srv/data.txt").nlink).toBe(2)
      expect(fs.readlinkSync(path.join(dest, "etc-passwd"))).toBe("/etc/passwd")
      expect(fs.readlinkSync(path.join(dest, "rel"))).toBe("../srv/data.txt")
      expect(st("run/pipe").isFIFO()).toBe(true)
      expect(st("run/pipe").mode & 0o7777).toBe(0o620)
      expect(st("empty").size).toBe(0)
      // times: files and (after their contents were written) directories keep the archive's
      expect(st("srv/data.txt").mtimeMs).toBe((FIXED_MTIME - 300) * 1000)
      expect(st("srv").mtimeMs).toBe((FIXED_MTIME - 200) * 1000)
      expect(st("bin").mtimeMs).toBe((FIXED_MTIME - 100) * 1000)
      expect(st("etc-passwd").mtimeMs).toBe(FIXED_MTIME * 1000)
      if (root) {
        expect([st("srv").uid, st("srv").gid]).toEqual([1000, 1001])
        expect([st("srv/data.txt").uid, st("srv/data.txt").gid]).toEqual([1000, 1001])
        expect([st("rel").uid, st("rel").gid]).toEqual([1000, 1001])
        expect(st("run/pipe").uid).toBe(5)
        expect(st("dev/null").isCharacterDevice()).toBe(true)
        expect([st("dev/null").rdev >> 8, st("dev/null").rdev & 0xff]).toEqual([1, 3])
        expect(st("dev/null").mode & 0o7777).toBe(0o666)
        expect(st("dev/loop0").isBlockDevice()).toBe(true)
        expect(st("dev/loop0").rdev).toBe(7 << 8)
        expect(st("dev/loop0").gid).toBe(6)
      }
    }))

  it.scopedLive("creates missing parent directories and replaces earlier entries with later ones", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const blob = yield* writeLayer(work, "replace.tar.gz", [
        file("a/b/c/deep.txt", "deep"),
        file("twice", "first"),
        file("twice", "second"),
        dir("d2f"),
        file("d2f/child", "x"),
        file("d2f", "now a file"),
        file("f2d", "a file"),
        dir("f2d", { mode: 0o711 }),
        file("f2d/child", "y"),
        symlink("l2f", "/nowhere"),
        file("l2f", "not a link any more"),
        dir("keep", { mode: 0o700 }),
        file("keep/one", "1"),
        dir("keep", { mode: 0o755 }) // a directory over a directory keeps its contents
      ])
      const dest = yield* extractInto(blob)
      const read = (p: string) => fs.readFileSync(path.join(dest, p), "utf8")
      expect(read("a/b/c/deep.txt")).toBe("deep")
      expect(fs.statSync(path.join(dest, "a/b")).mode & 0o777).toBe(0o755)
      expect(read("twice")).toBe("second")
      expect(read("d2f")).toBe("now a file")
      expect(read("f2d/child")).toBe("y")
      expect(fs.statSync(path.join(dest, "f2d")).mode & 0o777).toBe(0o711)
      expect(fs.lstatSync(path.join(dest, "l2f")).isFile()).toBe(true)
      expect(read("l2f")).toBe("not a link any more")
      expect(read("keep/one")).toBe("1")
      expect(fs.statSync(path.join(dest, "keep")).mode & 0o777).toBe(0o755)
    }))

  it.scopedLive("keeps long and non-ASCII names, PAX mtimes, ids and binary xattrs", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const longName = `${"segment-".repeat(30)}/${"n".repeat(200)}.txt`
      const cap = Buffer.from("0100000200200000000000000000000000000000", "hex") // cap_net_bind_service+ep, binary
      const blob = yield* writeLayer(work, "pax.tar.gz", [
        file(longName, "long"),
        file("héllo wörld ✓", "utf8"),
        paxHeader([
          ["mtime", "1600000000.123456789"],
          ["uid", "3000000000"],
          ["gid", "3000000001"],
          ["SCHILY.xattr.user.comment", "hello"],
          ["SCHILY.xattr.security.capability", cap],
          ["LIBARCHIVE.xattr.user.from%20bsdtar", Buffer.from("bsd").toString("base64")]
        ]),
        file("pax-file", "p"),
        paxHeader([["SCHILY.xattr.trusted.overlay.opaque", "y"], ["SCHILY.xattr.trusted.overlay.redirect", "/x"]]),
        dir("sneaky")
      ])
      const dest = yield* extractInto(blob)
      expect(fs.readFileSync(path.join(dest, longName), "utf8")).toBe("long")
      expect(fs.readFileSync(path.join(dest, "héllo wörld ✓"), "utf8")).toBe("utf8")
      const st = fs.lstatSync(path.join(dest, "pax-file"), { bigint: true })
      expect(st.mtimeNs).toBe(1_600_000_000_123_456_789n)
      expect(getXattr(path.join(dest, "pax-file"), "user.comment")?.toString()).toBe("hello")
      expect(getXattr(path.join(dest, "pax-file"), "user.from bsdtar")?.toString()).toBe("bsd")
      // overlay metadata never comes from the archive
      expect(getXattr(path.join(dest, "sneaky"), "trusted.overlay.opaque")).toBeUndefined()
      expect(getXattr(path.join(dest, "sneaky"), "trusted.overlay.redirect")).toBeUndefined()
      if (root) {
        expect([st.uid, st.gid]).toEqual([3_000_000_000n, 3_000_000_001n])
        expect(getXattr(path.join(dest, "pax-file"), "security.capability")).toEqual(cap)
      }
    }))

  it.scopedLive("extracts a real GNU tar layer (gnu and posix formats) to an identical tree", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const src = path.join(work, "src")
      fs.mkdirSync(path.join(src, "usr/bin"), { recursive: true })
      fs.writeFileSync(path.join(src, "usr/bin/app"), Buffer.alloc(300_000, 7))
      fs.chmodSync(path.join(src, "usr/bin/app"), 0o4755)
      fs.linkSync(path.join(src, "usr/bin/app"), path.join(src, "usr/bin/app-link"))
      fs.symlinkSync("/usr/bin/app", path.join(src, "usr/bin/abs-link"))
      fs.symlinkSync("app", path.join(src, "usr/bin/rel-link"))
      const deep = path.join(src, "x".repeat(120), "y".repeat(120))
      fs.mkdirSync(deep, { recursive: true })
      fs.writeFileSync(path.join(deep, "z".repeat(150)), "long names")
      fs.symlinkSync("t".repeat(150), path.join(src, "long-target"))
      fs.mkdirSync(path.join(src, "tmp"), { mode: 0o1777 })
      fs.chmodSync(path.join(src, "tmp"), 0o1777)
      execFileSync("mkfifo", [path.join(src, "fifo")])
      fs.writeFileSync(path.join(src, "owned"), "o")
      const latin1Name = Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9])]) // not valid UTF-8
      fs.writeFileSync(latin1Name, "bytes, not text")
      setXattr(path.join(src, "owned"), "user.tank", Buffer.from("xattr-value"))
      if (root) {
        fs.chownSync(path.join(src, "owned"), 1234, 5678)
        execFileSync("mknod", [path.join(src, "zero"), "c", "1", "5"])
        execFileSync("setcap", ["cap_net_raw+ep", path.join(src, "usr/bin/app")])
      }
      fs.utimesSync(path.join(src, "usr/bin"), 1_500_000_000, 1_500_000_000)
      const expected = listTree(src).slice(1) // the root dir itself is the caller's
      for (const format of ["gnu", "posix"]) {
        const blob = path.join(work, `${format}.tar.gz`)
        execFileSync("tar", [`--format=${format}`, "--xattrs", "--xattrs-include=*", "-C", src, "-czf", blob, "."])
        const dest = yield* extractInto(blob, GZIP_LAYER)
        const got = listTree(dest).slice(1)
        // GNU format stores whole seconds only
        const norm = (l: string) =>
          format === "gnu" ? l.replace(/ (\d+)(\d{9}) /, (_m, s: string) => ` ${s}000000000 `) : l
        expect(got.map(norm)).toEqual(expected.map(norm))
        expect(getXattr(path.join(dest, "owned"), "user.tank")?.toString()).toBe("xattr-value")
        expect(fs.readFileSync(Buffer.concat([Buffer.from(`${dest}/caf`), Buffer.from([0xe9])]), "utf8"))
          .toBe("bytes, not text")
        expect(fs.lstatSync(path.join(dest, "usr/bin/app-link")).ino).toBe(
          fs.lstatSync(path.join(dest, "usr/bin/app")).ino
        )
        if (root) {
          expect(execFileSync("getcap", [path.join(dest, "usr/bin/app")]).toString()).toContain("cap_net_raw")
        }
      }
    }))

  it.scopedLive("reads uncompressed layers and trusts the bytes over the declared compression", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const plain = yield* writeLayer(work, "plain.tar", [file("a", "plain")], false)
      const zipped = yield* writeLayer(work, "zipped.tar.gz", [file("a", "zipped")], true)
      const d1 = yield* extractInto(plain, TAR_LAYER)
      const d2 = yield* extractInto(zipped, TAR_LAYER) // mislabelled: still gzip
      const d3 = yield* extractInto(plain, "application/vnd.docker.image.rootfs.diff.tar.gzip")
      expect(fs.readFileSync(path.join(d1, "a"), "utf8")).toBe("plain")
      expect(fs.readFileSync(path.join(d2, "a"), "utf8")).toBe("zipped")
      expect(fs.readFileSync(path.join(d3, "a"), "utf8")).toBe("plain")
    }))

  it.scopedLive("rejects zstd, unknown media types, corrupt and truncated blobs with typed errors", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const dest = path.join(work, "dest")
      fs.mkdirSync(dest)
      const good = fs.readFileSync(yield* writeLayer(work, "good.tar.gz", [file("big", Buffer.alloc(200_000, 1))]))
      const blobs = {
        zstd: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]),
        garbage: Buffer.alloc(2048, 0x41),
        truncatedGzip: good.subarray(0, good.length - 100),
        truncatedTar: zlibTruncatedTar(good)
      }
      const outcome = (name: string, mediaType = GZIP_LAYER) =>
        Effect.gen(function*() {
          const p = path.join(work, name)
          fs.writeFileSync(p, blobs[name as keyof typeof blobs] ?? good)
          return yield* Effect.either(extractLayer({ blobPath: p, mediaType, dest }))
        })
      const reasonOf = (e: Either.Either<void, { reason: string; message: string }>) =>
        Either.isLeft(e) ? e.left.reason : "ok"
      const zstd = yield* outcome("zstd", "application/vnd.oci.image.layer.v1.tar+zstd")
      // a truncated zstd frame: refused as such, or as corrupt where Node can decode zstd
      expect(reasonOf(zstd)).toBe("createZstdDecompress" in zlib ? "Corrupt" : "Unsupported")
      expect(reasonOf(yield* outcome("good", "application/vnd.oci.image.config.v1+json"))).toBe("Unsupported")
      expect(reasonOf(yield* outcome("garbage"))).toBe("Corrupt")
      expect(reasonOf(yield* outcome("truncatedGzip"))).toBe("Corrupt")
      expect(reasonOf(yield* outcome("truncatedTar", TAR_LAYER))).toBe("Corrupt")
      const missing = yield* Effect.either(
        extractLayer({ blobPath: path.join(work, "nope"), mediaType: GZIP_LAYER, dest })
      )
      expect(Either.isLeft(missing) && [missing.left.reason, missing.left.code]).toEqual(["Io", "ENOENT"])
    }))
})

describe("extractLayer with zstd", () => {
  it.scopedLive("uses Node's zstd decoder when it has one, else refuses with Unsupported", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const plain = yield* writeLayer(work, "z.tar", [file("z", "zstd content")], false)
      execFileSync("zstd", ["-q", "-f", plain, "-o", `${plain}.zst`])
      const dest = path.join(work, "dest")
      fs.mkdirSync(dest)
      const r = yield* Effect.either(
        extractLayer({ blobPath: `${plain}.zst`, mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", dest })
      )
      if ("createZstdDecompress" in zlib) {
        expect(Either.isRight(r)).toBe(true)
        expect(fs.readFileSync(path.join(dest, "z"), "utf8")).toBe("zstd content")
      } else {
        expect(Either.isLeft(r) && [r.left.reason, r.left.detail]).toEqual([
          "Unsupported",
          "zstd-compressed layers are not supported (this Node has no zstd decoder)"
        ])
      }
    }))
})

describe("extractLayer resources", () => {
  const openFds = () => fs.readdirSync("/proc/self/fd").length

  it.scopedLive("closes every fd on success, failure and interruption", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const entries = Array.from({ length: 400 }, (_, i) => file(`d${i % 7}/f${i}`, Buffer.alloc(64 * 1024, i)))
      const big = yield* writeLayer(work, "big.tar.gz", entries)
      const bad = yield* writeLayer(work, "bad.tar.gz", [...entries.slice(0, 50), file("../x")])
      const before = openFds()
      yield* extractInto(big)
      expect(Either.isLeft(yield* Effect.either(extractInto(bad)))).toBe(true)
      // interrupted half-way: the fiber stops, the streams and fds are released
      const dest = path.join(work, "interrupted")
      fs.mkdirSync(dest)
      const fiber = yield* Effect.fork(extractLayer({ blobPath: big, mediaType: GZIP_LAYER, dest }))
      yield* Effect.sleep("15 millis")
      yield* Fiber.interrupt(fiber)
      yield* Effect.sleep("50 millis") // let destroyed streams close their fds
      expect(openFds()).toBe(before)
      const extracted = fs.readdirSync(dest, { recursive: true }).filter((n) => String(n).includes("/f")).length
      expect(extracted).toBeLessThan(400) // it stopped, and nothing runs on after the interrupt
      yield* Effect.sleep("200 millis")
      expect(fs.readdirSync(dest, { recursive: true }).filter((n) => String(n).includes("/f")).length).toBe(extracted)
    }))
})

/** The uncompressed tar of a gzip blob, cut in the middle of its file data. */
const zlibTruncatedTar = (gz: Buffer): Buffer => {
  const raw = zlib.gunzipSync(gz)
  return raw.subarray(0, 100_000)
}
