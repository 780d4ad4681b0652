/**
 * A/B of extraction while downloading: cold pulls of the bench's large image with extraction
 * following the download and with extraction after it, interleaved, each into a fresh cache under
 * /var/tmp, removed at the end. With `worker` the layer goes to the extraction worker bundle (built
 * here with esbuild, as scripts/build.mjs does), as in `tank daemon`; else on this thread, as from
 * source. `npx tsx bench/pullParts/abStream.ts [pairs=3] [worker]`
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { cacheLayout, initCache } from "../../src/image/cache.js"
import { makeSingleFlight } from "../../src/image/cacheCoalesce.js"
import { extractLayerOffThread } from "../../src/image/extractOffThread.js"
import { parseReference } from "../../src/image/reference.js"
import { makeClient } from "../../src/image/registry/client.js"
import { hostPlatform, normalizePlatform } from "../../src/image/registry/platform.js"
import { pullImage } from "../../src/image/registryPull.js"
import { buildExtractWorker } from "../../test/support/extractWorker.js"
import { pushBlob, pushImage } from "../../test/support/fixtureImages.js"
import { startRegistry } from "../../test/support/registry.js"
import { buildLargeLayer } from "../largeLayer.js"

const pairs = Number(process.argv[2] ?? 3)
const onWorker = process.argv[3] === "worker"
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
  const ref = yield* parseReference(`${registry.host}/tank/large:latest`)
  let workerFile: string | undefined
  if (onWorker) {
    const built = yield* Effect.acquireRelease(
      Effect.promise(() => buildExtractWorker(".bench-worker-")),
      (w) => Effect.sync(() => fs.rmSync(w.dir, { recursive: true, force: true }))
    )
    workerFile = built.file
  }
  const client = yield* makeClient({ registries: { [registry.host]: { insecure: true } } })
  const pull = (name: string, follows: boolean) =>
    Effect.scoped(Effect.gen(function*() {
      const layout = cacheLayout(path.join(work, name))
      yield* initCache(layout)
      const ctx = {
        layout,
        client,
        flight: makeSingleFlight(yield* Effect.scope),
        extract: (o: Parameters<typeof extractLayerOffThread>[0]) =>
          extractLayerOffThread(o, workerFile === undefined ? {} : { workerFile }),
        concurrency: 3,
        follows
      }
      const t0 = performance.now()
      let downloaded = 0
      yield* pullImage(ctx, ref, normalizePlatform(hostPlatform()), {
        onProgress: (e) => void (e._tag === "LayerDownloaded" && (downloaded = performance.now() - t0))
      })
      return { total: performance.now() - t0, downloaded }
    }))
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
