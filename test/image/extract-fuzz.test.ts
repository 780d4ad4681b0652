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
      /** (Re)creates the sentinel identically, so a failing run cannot spoil the next (or shrinking). */
      const resetOutside = () => {
        fs.rmSync(outside, { recursive: true, force: true })
        fs.mkdirSync(path.join(outside, "a"), { recursive: true })
        fs.writeFileSync(path.join(outside, "a/secret"), "secret")
        fs.writeFileSync(path.join(outside, "b"), "b")
        for (const p of ["a/secret", "b", "a", "."]) fs.utimesSync(path.join(outside, p), 1e9, 1e9)
      }
      resetOutside()
      const before = listTree(outside)
      const fds = fs.readdirSync("/proc/self/fd").length

      // weighted towards few names so that later entries often go through earlier links
      const component = fc.oneof(
        { arbitrary: fc.constantFrom("a", "b"), weight: 6 },
        { arbitrary: fc.constantFrom("..", ".", "", ".wh.a", ".wh..wh..opq", "outside"), weight: 2 }
      )
      const name = fc.tuple(fc.boolean(), fc.array(component, { minLength: 1, maxLength: 3 })).map(([abs, cs]) =>
        (abs ? "/" : "") + cs.join("/")
      )
      const target = fc.oneof(
        { arbitrary: fc.constantFrom(outside, path.join(outside, "a"), "..", "../..", "/", "../outside"), weight: 3 },
        { arbitrary: name, weight: 1 }
      )
      const entry: fc.Arbitrary<TarEntry> = fc.oneof(
        { arbitrary: name.map((n) => file(n, "pwned")), weight: 3 },
        { arbitrary: name.map((n) => dir(n)), weight: 1 },
        { arbitrary: fc.tuple(name, target).map(([n, t]) => symlink(n, t)), weight: 3 },
        { arbitrary: fc.tuple(name, target).map(([n, t]) => hardlink(n, t)), weight: 1 },
        { arbitrary: name.map((n): TarEntry => ({ name: n, type: "fifo" })), weight: 1 }
      )

      let run = 0
      let extracted = 0
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 12 }), async (entries) => {
          resetOutside()
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
        { numRuns: 200, seed: 20261123 }
      )
      await new Promise((r) => setTimeout(r, 100)) // read streams close their fd asynchronously
      expect(fs.readdirSync("/proc/self/fd").length).toBe(fds)
      expect(extracted).toBeGreaterThan(20) // the generator is not only producing refused layers
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
