/**
 * Confinement as a property: random layers built from the usual tricks (`..`, absolute names,
 * symlinks to outside and to parents, hard links, whiteouts, file/dir swaps) either extract or
 * fail with an ExtractError, and never change anything outside `dest` or leak an fd.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExtractError, extractLayer } from "../../src/image/extract.js"
import { dir, file, hardlink, listTree, symlink, TAR_LAYER, type TarEntry, tarOf } from "../support/tarFixtures.js"

describe("extractLayer confinement (property)", () => {
  it("random hostile layers never touch the outside", async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tank-fuzz-"))
    try {
      const outside = path.join(work, "outside")
      fs.mkdirSync(path.join(outside, "a"), { recursive: true })
      fs.writeFileSync(path.join(outside, "a/secret"), "secret")
      fs.writeFileSync(path.join(outside, "b"), "b")
      const before = listTree(outside)
      const fds = fs.readdirSync("/proc/self/fd").length

      const component = fc.constantFrom("a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "outside")
      const name = fc.tuple(fc.boolean(), fc.array(component, { minLength: 1, maxLength: 4 })).map(([abs, cs]) =>
        (abs ? "/" : "") + cs.join("/")
      )
      const target = fc.oneof(name, fc.constantFrom(outside, path.join(outside, "a"), "..", "../..", "/", "../outside"))
      const entry: fc.Arbitrary<TarEntry> = fc.oneof(
        name.map((n) => file(n, "pwned")),
        name.map((n) => dir(n)),
        fc.tuple(name, target).map(([n, t]) => symlink(n, t)),
        fc.tuple(name, target).map(([n, t]) => hardlink(n, t)),
        name.map((n): TarEntry => ({ name: n, type: "fifo" }))
      )

      let run = 0
      let extracted = 0
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 12 }), async (entries) => {
          const dest = path.join(work, `dest${run}`)
          const blobPath = path.join(work, `layer${run++}.tar`)
          fs.mkdirSync(dest)
          fs.writeFileSync(blobPath, await tarOf(entries))
          const r = await Effect.runPromise(Effect.either(extractLayer({ blobPath, mediaType: TAR_LAYER, dest })))
          if (r._tag === "Left") expect(r.left).toBeInstanceOf(ExtractError)
          else extracted++
          expect(listTree(outside)).toEqual(before)
          fs.rmSync(dest, { recursive: true, force: true })
          fs.rmSync(blobPath)
        }),
        { numRuns: 300, seed: 20261123 }
      )
      await new Promise((r) => setTimeout(r, 100)) // read streams close their fd asynchronously
      expect(fs.readdirSync("/proc/self/fd").length).toBe(fds)
      expect(extracted).toBeGreaterThan(20) // the generator is not only producing refused layers
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
