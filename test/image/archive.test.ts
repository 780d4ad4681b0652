// tank load / save: image tarballs (OCI layout, docker-archive) into and out of the cache, through the
// pull's verification and safe extraction. Images are the busybox-static fixtures, built in memory.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import { load, save } from "../../src/image/archive/archive.js"
import { cacheLayout, readRef } from "../../src/image/cache.js"
import { formatPlatform, hostPlatform, normalizePlatform } from "../../src/image/registry/platform.js"
import { buildFixtures, type Image } from "../support/fixtureImages.js"
import { tmpDir } from "../support/tmp.js"
import { cacheProblems } from "./helpers.js"

const REF = "registry.example/tank/busybox:1.0"
const platform = formatPlatform(normalizePlatform(hostPlatform()))
const hex = (d: string) => d.slice("sha256:".length)

const writeTar = (
  file: string,
  entries: ReadonlyArray<{ name: string; data?: Buffer | string; type?: "symlink"; linkname?: string }>
) =>
  Effect.promise(async () => {
    const pack = tar.pack()
    const done = new Promise<void>((resolve, reject) => {
      const out = fs.createWriteStream(file)
      pack.pipe(out)
      out.on("finish", resolve)
      out.on("error", reject)
    })
    for (const e of entries) {
      if (e.type === "symlink") pack.entry({ name: e.name, type: "symlink", linkname: e.linkname! })
      else pack.entry({ name: e.name }, e.data!)
    }
    pack.finalize()
    await done
  })

const ociLayout = (file: string, image: Image, name: string, tamper?: (b: Buffer) => Buffer) =>
  writeTar(file, [
    { name: "oci-layout", data: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    {
      name: "index.json",
      data: JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: image.mediaType,
          digest: image.manifest.digest,
          size: image.manifest.size,
          annotations: { "io.containerd.image.name": name }
        }]
      })
    },
    ...[image.manifest, image.config, ...image.layers].map((b, i) => ({
      name: `blobs/sha256/${hex(b.digest)}`,
      data: tamper && i === 2 ? tamper(b.bytes) : b.bytes
    })),
    // Hostile names: never written where they point (entries are stored under generated names).
    { name: "../../escaped", data: "x" },
    { name: "/abs-escaped", data: "x" }
  ])

const layerTree = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort().map((p) => {
    const st = fs.lstatSync(path.join(dir, p))
    return `${p} ${(st.mode & 0o7777).toString(8)} ${
      st.isFile() ? st.size : st.isSymbolicLink() ? fs.readlinkSync(path.join(dir, p)) : "d"
    }`
  })

describe("image archives", () => {
  it.scoped("OCI layout: load → save → load elsewhere gives the same image and the same files", () =>
    Effect.gen(function*() {
      const fx = yield* Effect.promise(buildFixtures)
      const dir = yield* tmpDir("tank-archive-")
      const a = path.join(dir, "a"), b = path.join(dir, "b")
      const first = path.join(dir, "in.tar")
      yield* ociLayout(first, fx.busybox.oci, REF)
      const [loaded] = yield* load(first, { cacheDir: a })
      expect(loaded?.ref).toBe(REF)
      expect(loaded?.manifestDigest).toBe(fx.busybox.oci.manifest.digest)
      expect(fs.existsSync(path.join(loaded!.layers[0]!, "bin/busybox"))).toBe(true)
      expect(fs.existsSync(path.join(dir, "escaped")) || fs.existsSync("/abs-escaped")).toBe(false)

      const saved = path.join(dir, "saved.tar")
      yield* save([REF], saved, { cacheDir: a })
      const [again] = yield* load(saved, { cacheDir: b })
      expect(again?.manifestDigest).toBe(loaded!.manifestDigest)
      expect(layerTree(again!.layers[0]!)).toEqual(layerTree(loaded!.layers[0]!))
      const rec = yield* readRef(cacheLayout(b), REF, platform)
      expect(Option.map(rec, (r) => r.layers)).toEqual(Option.some(fx.busybox.oci.layers.map((l) => l.digest)))
      expect(cacheProblems(a)).toEqual([])
      expect(cacheProblems(b)).toEqual([])
    }))

  it.scoped("docker-archive (manifest.json, uncompressed layer.tar, a symlinked layer) loads", () =>
    Effect.gen(function*() {
      const fx = yield* Effect.promise(buildFixtures)
      const dir = yield* tmpDir("tank-archive-")
      const img = fx.busybox.docker
      const layerTar = zlib.gunzipSync(img.layers[0]!.bytes)
      const file = path.join(dir, "docker.tar")
      yield* writeTar(file, [
        { name: `${hex(img.config.digest)}.json`, data: img.config.bytes },
        { name: "aaaa/layer.tar", data: layerTar },
        { name: "bbbb/layer.tar", type: "symlink", linkname: "../aaaa/layer.tar" },
        {
          name: "manifest.json",
          data: JSON.stringify([{
            Config: `${hex(img.config.digest)}.json`,
            RepoTags: [REF],
            Layers: ["bbbb/layer.tar"]
          }])
        }
      ])
      const [loaded] = yield* load(file, { cacheDir: path.join(dir, "c") })
      expect(loaded?.ref).toBe(REF)
      expect(fs.readlinkSync(path.join(loaded!.layers[0]!, "bin/sh"))).toBe("busybox")
    }))

  it.scoped("a blob that does not match its digest is refused; no ref is recorded", () =>
    Effect.gen(function*() {
      const fx = yield* Effect.promise(buildFixtures)
      const dir = yield* tmpDir("tank-archive-")
      const file = path.join(dir, "bad.tar")
      yield* ociLayout(file, fx.busybox.oci, REF, (b) =>
        Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1]! ^ 1])]))
      const cache = path.join(dir, "c")
      const exit = yield* Effect.exit(load(file, { cacheDir: cache }))
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("DigestMismatch")
      expect(yield* readRef(cacheLayout(cache), REF, platform)).toEqual(Option.none())
      expect(fs.readdirSync(path.join(cache, "layers", "sha256"))).toEqual([])
      expect(cacheProblems(cache)).toEqual([])
    }))
})
