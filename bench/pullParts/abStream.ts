/**
 * A/B of extraction while downloading: cold pulls of the bench's large image with the default
 * extractor (follows the download) and with the same extractor passed explicitly (Images then waits
 * for the verified blob), interleaved, each into a fresh cache under /var/tmp, removed at the end.
 * `npx tsx bench/pullParts/abStream.ts [pairs=3]`
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { extractLayerOffThread } from "../../src/image/extractOffThread.js"
import { Images, layer } from "../../src/image/Images.js"
import { pushBlob, pushImage } from "../../test/support/fixtureImages.js"
import { startRegistry } from "../../test/support/registry.js"
import { buildLargeLayer } from "../largeLayer.js"

const pairs = Number(process.argv[2] ?? 3)
const layerFile = "/tmp/tank-pull-prof/large.tar.gz"

const program = Effect.gen(function*() {
  const work = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync("/var/tmp/tank-ab-")),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )
  if (!fs.existsSync(layerFile)) {
    fs.mkdirSync(path.dirname(layerFile), { recursive: true })
    yield* Effect.promise(() => buildLargeLayer(layerFile))
  }
  const bytes = fs.readFileSync(layerFile)
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`
  const diffId = `sha256:${
    createHash("sha256").update(
      yield* Effect.promise(async () => {
        const zlib = await import("node:zlib")
        return zlib.gunzipSync(bytes)
      })
    ).digest("hex")
  }`
  const registry = yield* startRegistry()
  const cfg = Buffer.from(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [diffId] }
  }))
  const cfgBlob = { bytes: cfg, digest: `sha256:${createHash("sha256").update(cfg).digest("hex")}`, size: cfg.length }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgBlob.digest, size: cfgBlob.size },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: bytes.length }]
  }))
  yield* Effect.promise(async () => {
    const t = { url: registry.url }
    await pushBlob(t, "tank/large", { digest, size: bytes.length, body: () => fs.createReadStream(layerFile) })
    await pushImage(t, "tank/large", "latest", {
      manifest: { bytes: manifest, digest: "", size: manifest.length },
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: cfgBlob,
      layers: []
    })
  })
  const ref = `${registry.host}/tank/large:latest`
  const pull = (name: string, streaming: boolean) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cacheDir = path.join(work, name)
      const opts = streaming ? { cacheDir } : { cacheDir, extract: extractLayerOffThread }
      const images = Context.get(yield* Layer.build(layer(opts)).pipe(Scope.extend(scope)), Images)
      const t0 = performance.now()
      let downloaded = 0
      yield* images.pull(ref, {
        onProgress: (e) => void (e._tag === "LayerDownloaded" && (downloaded = performance.now() - t0))
      })
      const total = performance.now() - t0
      yield* Scope.close(scope, Exit.void)
      return { total, downloaded }
    })
  yield* pull("warm-up", true)
  for (let i = 0; i < pairs; i++) {
    for (const streaming of i % 2 === 0 ? [true, false] : [false, true]) {
      const r = yield* pull(`${streaming ? "stream" : "after"}-${i}`, streaming)
      console.log(
        `${streaming ? "extract while downloading" : "extract after download  "} ` +
          `${r.total.toFixed(0).padStart(6)} ms (downloaded at ${r.downloaded.toFixed(0)} ms)`
      )
    }
  }
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
