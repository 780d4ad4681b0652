/**
 * PAX extended headers in hostile layers: their bytes count toward the layer's extraction budget (a
 * layer made of huge PAX headers and empty entries is a decompression bomb too), and the values
 * Tank keeps (xattrs) are copies that do not pin tar-stream's header buffers (up to 4 MiB each).
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import { decodePaxRecords, xattrsOf } from "../../src/image/extract/pax.js"
import {
  dir,
  encodePax,
  file,
  GZIP_LAYER,
  paxHeader,
  type TarEntry,
  tempDir,
  writeLayer
} from "../support/tarFixtures.js"

const MiB = 1024 * 1024

/** `n` directories, each behind a PAX header carrying `padding` bytes of comment and one xattr. */
const paxHeavy = (n: number, padding: number): Array<TarEntry> =>
  Array.from({ length: n }, (_, i) => [
    paxHeader([["comment", "z".repeat(padding)], ["SCHILY.xattr.user.tank", `v${i}`]]),
    dir(`d${i}/`)
  ]).flat()

const extractIn = (entries: ReadonlyArray<TarEntry>, limits: { maxBytes?: number } = {}) =>
  Effect.gen(function*() {
    const work = yield* tempDir("tank-pax-")
    const blobPath = yield* writeLayer(work, "layer.tar.gz", entries)
    const dest = path.join(work, "dest")
    fs.mkdirSync(dest)
    const r = yield* Effect.either(extractLayer({ blobPath, mediaType: GZIP_LAYER, dest, limits }))
    return { r, dest }
  })

describe("PAX headers in hostile layers", () => {
  it.scopedLive(
    "a layer of huge PAX headers over empty entries is refused by the byte budget",
    () =>
      Effect.gen(function*() {
        // 12 headers of ~1 MiB: 12 MiB of PAX, not one byte of file data.
        const bomb = paxHeavy(12, MiB)
        const { dest, r } = yield* extractIn(bomb, { maxBytes: 8 * MiB })
        assert(Either.isLeft(r), "refused")
        expect(r.left.reason).toBe("Limit")
        expect(r.left.detail).toContain("layer expands to more than 8 MiB (the layer size limit)")
        // Refused as the budget ran out, before the rest of the layer: not every directory was made.
        expect(fs.readdirSync(dest).length).toBeLessThan(12)
        // Within the budget the same kind of layer extracts: it is the byte count that refuses it.
        const fits = yield* extractIn(paxHeavy(4, MiB), { maxBytes: 8 * MiB })
        assert(Either.isRight(fits.r), Either.isLeft(fits.r) ? fits.r.left.message : "")
        expect(fs.readdirSync(fits.dest).sort()).toEqual(["d0", "d1", "d2", "d3"])
      }),
    60_000
  )

  it.scopedLive("PAX bytes and file data share one budget", () =>
    Effect.gen(function*() {
      // 5 MiB of file data alone fits 8 MiB, and so do 4 MiB of headers alone; together they do not.
      const data = [file("big", Buffer.alloc(5 * MiB, 1))]
      assert(Either.isRight((yield* extractIn(data, { maxBytes: 8 * MiB })).r))
      assert(Either.isRight((yield* extractIn(paxHeavy(4, MiB - 4096), { maxBytes: 8 * MiB })).r))
      const both = yield* extractIn([...paxHeavy(4, MiB - 4096), ...data], { maxBytes: 8 * MiB })
      assert(Either.isLeft(both.r))
      expect(both.r.left.reason).toBe("Limit")
    }), 60_000)

  it("record values are copies, not views pinning the header buffer", () => {
    const buf = encodePax([["comment", "z".repeat(MiB)], ["SCHILY.xattr.user.tank", "value"], ["path", "a/b"]])
    const records = decodePaxRecords(buf)
    assert.strictEqual(records.get("SCHILY.xattr.user.tank")?.toString(), "value")
    for (const [key, value] of records) {
      assert.notStrictEqual(value.buffer, buf.buffer, `${key} shares the header's memory`)
    }
    const [[name, value]] = xattrsOf(records) as [readonly [string, Buffer]]
    assert.strictEqual(name, "user.tank")
    // A small value lives in (at most) an 8 KiB pool slab, not the 1 MiB header.
    expect(value.buffer.byteLength).toBeLessThanOrEqual(8192)
    buf.fill(0)
    assert.strictEqual(value.toString(), "value", "unaffected by the header buffer's reuse")
  })
})
