/**
 * The project's fixture images (test/support/fixtureImages.ts) through this module end to end:
 * extract every layer, stack them with the kernel's overlayfs, resolve the run parameters and the
 * user exactly as the runtime will.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import { ImageConfig } from "../../src/image/registry/oci.js"
import { runParams } from "../../src/image/runParams.js"
import { resolveUser } from "../../src/image/user.js"
import { buildFixtures, GREETING_CMD, type Image } from "../support/fixtureImages.js"
import { kernelView, tempDir } from "../support/tarFixtures.js"

const root = process.geteuid?.() === 0

/** Extracts the image's layers (manifest order) into `<work>/<digest>`; returns the dirs, bottom first. */
const extractImage = (work: string, image: Image) =>
  Effect.gen(function*() {
    const manifest = JSON.parse(image.manifest.bytes.toString()) as { layers: Array<{ mediaType: string }> }
    return yield* Effect.forEach(image.layers, (layer, i) =>
      Effect.gen(function*() {
        const hex = layer.digest.slice("sha256:".length)
        const blobPath = path.join(work, `${hex}.blob`)
        const dest = path.join(work, hex)
        if (fs.existsSync(dest)) return dest
        fs.writeFileSync(blobPath, layer.bytes)
        fs.mkdirSync(dest)
        yield* extractLayer({ blobPath, mediaType: manifest.layers[i]!.mediaType, dest })
        return dest
      }))
  })

const configOf = (image: Image) => Schema.decodeUnknownSync(ImageConfig)(JSON.parse(image.config.bytes.toString()))

describe("fixture images", () => {
  it.scopedLive("the multi-layer image stacks to the expected tree under overlayfs", () =>
    Effect.gen(function*() {
      if (!root) return
      const fixtures = yield* Effect.promise(buildFixtures)
      const work = yield* tempDir("tank-fixtures-")
      for (const flavour of ["oci", "docker"] as const) {
        const layers = yield* extractImage(work, fixtures.layers[flavour])
        const mnt = path.join(work, `mnt-${flavour}`)
        fs.mkdirSync(mnt)
        const view = kernelView([...layers].reverse(), mnt)
        const pick = (p: string) => view.get(p)
        expect(pick("/data/keep.txt")).toBe("keep v2\n")
        expect(pick("/data/hardlink.txt")).toBe("keep v1\n") // linked in layer 1, before keep.txt changed
        expect(pick("/data/remove-me.txt")).toBeUndefined()
        expect(pick("/data/sym.txt")).toBe("<l>")
        expect(pick("/data/exec.sh")).toBe("#!/bin/sh\necho exec\n")
        expect([...view.keys()].filter((k) => k.startsWith("/opaque/"))).toEqual(["/opaque/new.txt"])
        expect([...view.keys()].filter((k) => k.startsWith("/gone/"))).toEqual(["/gone/again.txt"])
        expect(pick("/replace")).toBe("<dir>")
        expect(pick("/replace/inside.txt")).toBe("now a dir\n")
        expect(pick("/dir2file")).toBe("now a file\n")
        expect(pick("/dir2file/inner.txt")).toBeUndefined()
        expect(pick("/emptydir")).toBe("<dir>")
        expect(pick("/etc/motd")).toBe("layered\n")
        expect(pick("/bin/busybox")).toMatch(/^\x7fELF/)
        expect(pick("/bin/sh")).toBe("<l>")
        const top = layers[layers.length - 1]!
        const motd = fs.statSync(path.join(top, "etc/motd"))
        expect([motd.mode & 0o7777, motd.uid, motd.gid]).toEqual([0o600, 1000, 1000])
        expect(fs.statSync(path.join(layers[0]!, "tmp")).mode & 0o7777).toBe(0o1777)
        expect(fs.statSync(path.join(layers[0]!, "home/tank")).uid).toBe(1000)
        const params = Either.getOrThrow(runParams(
          { name: "c", command: [], args: [], env: {} },
          configOf(fixtures.layers[flavour]).config
        ))
        expect(params).toMatchObject({ argv: ["sh"], cwd: "/data", env: ["PATH=/bin:/usr/bin:/sbin"] })
      }
    }))

  it.scopedLive("busybox-user resolves to its Entrypoint/Cmd, env, working dir and user tank", () =>
    Effect.gen(function*() {
      const fixtures = yield* Effect.promise(buildFixtures)
      const work = yield* tempDir("tank-fixtures-")
      const image = fixtures.busyboxUser
      const layers = yield* extractImage(work, image)
      const params = Either.getOrThrow(runParams(
        { name: "c", command: [], args: [], env: { GREETING: "overridden" } },
        configOf(image).config
      ))
      expect(params).toEqual({
        argv: ["/bin/sh", "-c", GREETING_CMD],
        env: ["PATH=/bin:/usr/bin:/sbin", "GREETING=overridden", "EMPTY="],
        cwd: "/home/tank",
        user: "tank",
        stopSignal: "SIGTERM"
      })
      expect(yield* resolveUser(layers, params.user)).toEqual({ uid: 1000, gid: 1000, groups: [], home: "/home/tank" })
      expect(yield* resolveUser(layers, "nobody:tank")).toEqual({
        uid: 65534,
        gid: 1000,
        groups: [],
        home: "/nonexistent"
      })
      const httpd = configOf(fixtures.busyboxHttpd).config
      expect(yield* resolveUser(layers, httpd?.User ?? undefined)).toEqual({
        uid: 1000,
        gid: 1000,
        groups: [],
        home: "/home/tank"
      })
    }))
})
