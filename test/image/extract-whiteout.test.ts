/**
 * Whiteouts: the pure classifier, their overlayfs form on disk, and a stacking test that mounts
 * the extracted layers with the kernel's overlayfs and compares the merged view with the expected
 * image and with `readImageFile` (which must agree with the kernel).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import { readImageFile } from "../../src/image/user.js"
import { classify } from "../../src/image/whiteout.js"
import {
  dir,
  file,
  getXattr,
  GZIP_LAYER,
  kernelView,
  symlink,
  type TarEntry,
  tempDir,
  writeLayer
} from "../support/tarFixtures.js"

const root = process.geteuid?.() === 0

describe("classify", () => {
  it("recognises whiteouts, opaque markers, AUFS metadata and malformed markers", () => {
    expect(classify("etc/passwd")).toEqual({ _tag: "Entry" })
    expect(classify("a.wh.b")).toEqual({ _tag: "Entry" })
    expect(classify("dir/.wh.file")).toEqual({ _tag: "Whiteout", dir: "dir", name: "file" })
    expect(classify(".wh.top")).toEqual({ _tag: "Whiteout", dir: "", name: "top" })
    expect(classify("a/b/.wh..hidden")).toEqual({ _tag: "Whiteout", dir: "a/b", name: ".hidden" })
    expect(classify("a/b/.wh..wh..opq")).toEqual({ _tag: "Opaque", dir: "a/b" })
    expect(classify(".wh..wh..opq")).toEqual({ _tag: "Opaque", dir: "" })
    expect(classify("a/.wh..wh..opq/")).toEqual({ _tag: "Opaque", dir: "a" })
    expect(classify(".wh..wh.plnk")).toEqual({ _tag: "Meta" })
    expect(classify("x/.wh..wh.aufs")).toEqual({ _tag: "Meta" })
    expect(classify(".wh..wh.plnk/123.456")).toEqual({ _tag: "Meta" })
    expect(classify(".wh..wh.plnk/.wh.x")).toEqual({ _tag: "Meta" })
    for (const bad of ["d/.wh.", ".wh..", "d/.wh..."]) expect(classify(bad)._tag).toBe("Invalid")
  })
})

const extractAll = (work: string, layers: ReadonlyArray<ReadonlyArray<TarEntry>>) =>
  Effect.forEach(layers, (entries, i) =>
    Effect.gen(function*() {
      const blobPath = yield* writeLayer(work, `l${i}.tar.gz`, entries)
      const dest = path.join(work, `layer${i}`)
      fs.mkdirSync(dest)
      yield* extractLayer({ blobPath, mediaType: GZIP_LAYER, dest })
      return dest
    }))

describe("whiteouts on disk", () => {
  it.scopedLive("become char 0/0 devices and trusted.overlay.opaque; markers are never written", () =>
    Effect.gen(function*() {
      if (!root) return
      const work = yield* tempDir()
      const [dest] = yield* extractAll(work, [[
        dir("etc"),
        file("etc/.wh.shadow", "", { mode: 0 }),
        file(".wh.gone", "", { uid: 7, gid: 8 }),
        file("opq/.wh..wh..opq"), // before its directory entry
        dir("opq", { mode: 0o711 }),
        file("opq/kept", "mine"),
        file(".wh..wh.plnk/123.456", "aufs link"), // AUFS bookkeeping: skipped
        // a whiteout only hides lower layers: this layer's own entries stay (directories turn opaque)
        file("file-then-wh", "kept"),
        file(".wh.file-then-wh"),
        file("dir-then-wh/x", "kept too"),
        file(".wh.dir-then-wh"),
        // and an entry after its whiteout replaces it, a directory becoming opaque
        file(".wh.wh-then-dir"),
        dir("wh-then-dir"),
        file(".wh.wh-then-file"),
        file("wh-then-file", "file"),
        file(".wh..wh..opq")
      ]])
      const st = (p: string) => fs.lstatSync(path.join(dest!, p))
      for (const p of ["etc/shadow", "gone"]) {
        expect(st(p).isCharacterDevice(), p).toBe(true)
        expect(st(p).rdev, p).toBe(0)
      }
      expect([st("gone").uid, st("gone").gid]).toEqual([7, 8])
      expect(getXattr(path.join(dest!, "opq"), "trusted.overlay.opaque")?.toString()).toBe("y")
      expect(getXattr(dest!, "trusted.overlay.opaque")?.toString()).toBe("y")
      expect(st("opq").mode & 0o777).toBe(0o711)
      const opaque = (p: string) => getXattr(path.join(dest!, p), "trusted.overlay.opaque")?.toString()
      expect(fs.readFileSync(path.join(dest!, "file-then-wh"), "utf8")).toBe("kept")
      expect(fs.readFileSync(path.join(dest!, "dir-then-wh/x"), "utf8")).toBe("kept too")
      expect(opaque("dir-then-wh")).toBe("y")
      expect(st("wh-then-dir").isDirectory()).toBe(true)
      expect(opaque("wh-then-dir")).toBe("y")
      expect(fs.readFileSync(path.join(dest!, "wh-then-file"), "utf8")).toBe("file")
      expect(opaque("etc")).toBeUndefined()
      expect(fs.readFileSync(path.join(dest!, "opq/kept"), "utf8")).toBe("mine")
      const all = execFileSync("find", [dest!], { encoding: "utf8" })
      expect(all).not.toMatch(/\.wh\./)
    }))
})

describe("stacked layers under overlayfs", () => {
  it.scopedLive("whiteouts hide lower files, opaque dirs hide lower contents, readImageFile agrees", () =>
    Effect.gen(function*() {
      if (!root) return
      const work = yield* tempDir()
      const layers = yield* extractAll(work, [
        [
          file("a/keep", "1"),
          file("a/gone", "x"),
          file("b/x", "bx"),
          file("b/y", "by"),
          file("c/z", "cz"),
          file("f2d", "file"),
          file("d2f/q", "q"),
          file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
          file("etc/group", "root:x:0:\n"),
          symlink("link", "a/keep"),
          file("e/old", "e-old"),
          file("g/old", "g-old")
        ],
        [
          file("a/.wh.gone"),
          file("b/.wh..wh..opq"),
          file("b/new", "bnew"),
          file(".wh.c"),
          dir("f2d"),
          file("f2d/inner", "inner"),
          file("d2f", "now a file"),
          file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ntank:x:1000:1000::/home/tank:/bin/sh\n"),
          file("etc/.wh.group"),
          file(".wh.e"),
          file("e/new", "e-new"),
          file("g/new", "g-new"),
          file(".wh.g")
        ],
        [file("c/again", "again")]
      ])
      const mnt = path.join(work, "mnt")
      fs.mkdirSync(mnt)
      const view = kernelView([...layers].reverse(), mnt)
      expect(Object.fromEntries(view)).toEqual({
        "/a": "<dir>",
        "/a/keep": "1",
        "/b": "<dir>",
        "/b/new": "bnew",
        "/c": "<dir>",
        "/c/again": "again",
        "/d2f": "now a file",
        "/e": "<dir>",
        "/e/new": "e-new",
        "/g": "<dir>",
        "/g/new": "g-new",
        "/etc": "<dir>",
        "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\ntank:x:1000:1000::/home/tank:/bin/sh\n",
        "/f2d": "<dir>",
        "/f2d/inner": "inner",
        "/link": "<l>"
      })
      expect(fs.readdirSync(mnt)).toEqual([]) // the mount lived only in the private namespace

      // the reader without a mount gives the kernel's answer for every path, shown or hidden
      const probes = [
        ...view.keys(),
        ...["/a/gone", "/b/x", "/b/y", "/c/z", "/d2f/q", "/etc/group", "/link", "/nope", "/e/old", "/g/old"]
      ]
      for (const p of probes) {
        const got = yield* readImageFile(layers, p)
        const want = p === "/link" ? "1" : view.get(p)
        if (want === undefined || want === "<dir>") expect(Option.isNone(got), p).toBe(true)
        else expect(Option.map(got, (b) => b.toString()), p).toEqual(Option.some(want))
      }
      // mountpoint is clean: nothing leaked to the host namespace
      expect(spawnSync("findmnt", ["-n", mnt], { encoding: "utf8" }).stdout.trim()).toBe("")
    }))
})
