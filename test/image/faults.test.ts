/**
 * Fault injection between the puller and a real registry: every fault ends in a retry that
 * succeeds or in a clear typed error, and the cache never keeps anything partial or corrupt.
 */
import { assert, expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tmpDir } from "../support/tmp.js"
import { type Fault, type FaultProxy, type RequestInfo, startFaultProxy, via } from "./faultProxy.js"
import {
  blobCount,
  cacheProblems,
  fastRetry,
  FixtureRegistry,
  FixtureRegistryLive,
  imagesIn,
  layerDirs
} from "./helpers.js"

const ATTEMPTS = fastRetry.retries + 1

const setup = (plan: (r: RequestInfo, layer: string) => Fault | undefined, options = {}) =>
  Effect.gen(function*() {
    const { fixtures, refs, registry } = yield* FixtureRegistry
    const proxy = yield* startFaultProxy(registry.host)
    const layerDigest = fixtures.busybox.oci.layers[0]!.digest
    proxy.plan((r) => plan(r, layerDigest))
    const { cacheDir, images } = yield* imagesIn(options)
    const layerGets = () => proxy.count((r) => r.kind === "blob" && r.path.endsWith(layerDigest))
    return { proxy, cacheDir, images, ref: via(proxy, refs.busybox), layerGets, fixtures, refs }
  })

const isLayer = (r: RequestInfo, layer: string) => r.kind === "blob" && r.path.endsWith(layer)

const clean = (cacheDir: string) => {
  expect(cacheProblems(cacheDir)).toEqual([])
}

const noLayer = (cacheDir: string) => {
  expect(layerDirs(cacheDir)).toEqual([])
}

const manifestGets = (p: FaultProxy) => p.count((r) => r.kind === "manifest")

layer(FixtureRegistryLive, { timeout: 120_000, excludeTestServices: true })("faults", (it) => {
  it.scoped("500 then 200 on the manifest and on a blob: retried, pulled", () =>
    Effect.gen(function*() {
      const { cacheDir, images, layerGets, proxy, ref } = yield* setup((r, l) =>
        (r.kind === "manifest" || isLayer(r, l)) && r.nth === 1 ? { kind: "status", status: 500 } : undefined
      )
      const img = yield* images.pull(ref)
      expect(img.layers).toHaveLength(1)
      expect([manifestGets(proxy), layerGets()]).toEqual([2, 2])
      clean(cacheDir)
    }))

  it.scoped("a 5xx that persists fails with the status after the bounded retries", () =>
    Effect.gen(function*() {
      const { cacheDir, images, layerGets, ref } = yield* setup((r, l) =>
        isLayer(r, l) ? { kind: "status", status: 503 } : undefined
      )
      const e = yield* Effect.flip(images.pull(ref))
      assert(e._tag === "RegistryHttpError")
      expect([e.status, e.step]).toEqual([503, "blob"])
      expect(e.message).toMatch(/injected 503/)
      expect(layerGets()).toBe(ATTEMPTS)
      clean(cacheDir)
      noLayer(cacheDir)
    }))

  it.scoped("connection reset mid-blob: retried; when it persists, RegistryUnreachable and a clean cache", () =>
    Effect.gen(function*() {
      const once = yield* setup((r, l) => isLayer(r, l) && r.nth === 1 ? { kind: "reset" } : undefined)
      expect((yield* once.images.pull(once.ref)).layers).toHaveLength(1)
      expect(once.layerGets()).toBe(2)
      clean(once.cacheDir)
      const always = yield* setup((r, l) => isLayer(r, l) ? { kind: "reset" } : undefined)
      const e = yield* Effect.flip(always.images.pull(always.ref))
      expect(e._tag).toBe("RegistryUnreachable")
      expect(always.layerGets()).toBe(ATTEMPTS)
      clean(always.cacheDir)
      noLayer(always.cacheDir)
    }))

  it.scoped("truncated blob (short body, consistent Content-Length): BlobTruncated after retries", () =>
    Effect.gen(function*() {
      const { cacheDir, fixtures, images, layerGets, ref } = yield* setup((r, l) =>
        isLayer(r, l) ? { kind: "truncate" } : undefined
      )
      const e = yield* Effect.flip(images.pull(ref))
      assert(e._tag === "BlobTruncated")
      const size = fixtures.busybox.oci.layers[0]!.size
      // Each retry resumes where the last stopped and gets half of the rest again.
      expect(e.expected).toBe(size)
      expect(e.received).toBeGreaterThan(size - size / 2 ** (ATTEMPTS - 1))
      expect(e.received).toBeLessThan(size)
      expect(layerGets()).toBe(ATTEMPTS)
      clean(cacheDir)
      noLayer(cacheDir)
    }))

  it.scoped("a stalled download resumes with a Range request from the bytes on disk", () =>
    Effect.gen(function*() {
      const { cacheDir, fixtures, images, proxy, ref } = yield* setup(
        (r, l) => isLayer(r, l) && r.nth === 1 ? { kind: "stall" } : undefined,
        { timeoutMs: 300 }
      )
      const img = yield* images.pull(ref)
      expect(img.layers).toHaveLength(1)
      const size = fixtures.busybox.oci.layers[0]!.size
      const gets = proxy.log.filter((r) => isLayer(r, fixtures.busybox.oci.layers[0]!.digest))
      expect(gets.map((r) => r.range)).toEqual([undefined, `bytes=${Math.floor(size / 2)}-`])
      clean(cacheDir)
    }))

  it.scoped("wrong digest (a flipped byte): DigestMismatch at once, nothing kept", () =>
    Effect.gen(function*() {
      const { cacheDir, images, layerGets, ref } = yield* setup((r, l) =>
        isLayer(r, l) ? { kind: "corrupt" } : undefined
      )
      const e = yield* Effect.flip(images.pull(ref))
      assert(e._tag === "DigestMismatch")
      expect(e.expected).not.toBe(e.actual)
      expect(layerGets()).toBe(1)
      clean(cacheDir)
      noLayer(cacheDir)
      // Only the manifest and config made it, both verified.
      expect(blobCount(cacheDir)).toBe(2)
    }))

  it.scoped("a manifest not matching its Docker-Content-Digest is refused", () =>
    Effect.gen(function*() {
      const { cacheDir, images, ref } = yield* setup((r) => r.kind === "manifest" ? { kind: "corrupt" } : undefined)
      const e = yield* Effect.flip(images.pull(ref))
      assert(e._tag === "DigestMismatch")
      expect(e.what).toMatch(/manifest/)
      expect(blobCount(cacheDir)).toBe(0)
    }))

  it.scoped("429 with Retry-After: waits as told, then pulls", () =>
    Effect.gen(function*() {
      const { cacheDir, images, layerGets, ref } = yield* setup((r, l) =>
        isLayer(r, l) && r.nth === 1 ? { kind: "status", status: 429, retryAfter: "1" } : undefined
      )
      const started = Date.now()
      yield* images.pull(ref)
      // The backoff alone would be ~5 ms; Retry-After: 1 makes it a second.
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
      expect(layerGets()).toBe(2)
      clean(cacheDir)
    }))

  it.scoped("a silent server times out (RegistryTimeout) after the retries; a hang once is retried", () =>
    Effect.gen(function*() {
      const hang = yield* setup((r) => r.kind === "manifest" ? { kind: "hang" } : undefined, {
        timeoutMs: 200,
        retry: { ...fastRetry, retries: 1 }
      })
      const e = yield* Effect.flip(hang.images.pull(hang.ref))
      assert(e._tag === "RegistryTimeout")
      expect([e.step, e.timeoutMs]).toEqual(["manifest", 200])
      expect(manifestGets(hang.proxy)).toBe(2)
      const once = yield* setup((r, l) => isLayer(r, l) && r.nth === 1 ? { kind: "hang" } : undefined, {
        timeoutMs: 200
      })
      expect((yield* once.images.pull(once.ref)).layers).toHaveLength(1)
      expect(once.layerGets()).toBe(2)
      clean(once.cacheDir)
    }))

  it.scoped("a layer is extracted while it downloads; a pull interrupted then leaves no temp files behind", () =>
    Effect.gen(function*() {
      const { fixtures, refs, registry } = yield* FixtureRegistry
      const proxy = yield* startFaultProxy(registry.host)
      const layer = fixtures.busybox.oci.layers[0]!.digest
      const cacheDir = yield* tmpDir("tank-images-")
      const scope = yield* Scope.make()
      const { images } = yield* imagesIn({ cacheDir, timeoutMs: 60_000 }).pipe(Scope.extend(scope))
      // Half the layer, then silence: the download is in progress, its temp file on disk.
      proxy.plan((r) => (isLayer(r, layer) ? { kind: "stall" } : undefined))
      const fiber = yield* Effect.fork(images.pull(via(proxy, refs.busybox)))
      while (proxy.count((r) => isLayer(r, layer)) === 0) yield* Effect.sleep("10 millis")
      // The layer is extracted while it downloads: its first half is on disk before the rest arrives.
      const tmp = path.join(cacheDir, "tmp")
      const extracted = () =>
        fs.readdirSync(tmp).filter((n) => n.endsWith("-layer")).flatMap((n) => fs.readdirSync(path.join(tmp, n)))
      for (let i = 0; i < 500 && extracted().length === 0; i++) yield* Effect.sleep("10 millis")
      expect(fs.readdirSync(tmp).map((n) => n.replace(/^.*-/, "")).sort()).toEqual(["blob", "layer"])
      expect(extracted().length).toBeGreaterThan(0)
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      clean(cacheDir)
      noLayer(cacheDir)
    }))

  it.scoped("schema1 manifests are rejected clearly", () =>
    Effect.gen(function*() {
      const body = JSON.stringify({ schemaVersion: 1, name: "tank/busybox", tag: "latest", fsLayers: [], history: [] })
      const { images, ref } = yield* setup((r) =>
        r.kind === "manifest"
          ? {
            kind: "body",
            status: 200,
            contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws",
            body
          }
          : undefined
      )
      const e = yield* Effect.flip(images.pull(ref))
      assert(e._tag === "UnsupportedManifest")
      expect(e.message).toMatch(/schema1 manifests are deprecated and not supported/)
    }))

  it.scoped("oversized manifests and malformed JSON are refused", () =>
    Effect.gen(function*() {
      const big = yield* setup((r) =>
        r.kind === "manifest"
          ? { kind: "body", status: 200, contentType: "application/json", body: " ".repeat(5000) }
          : undefined, { maxManifestBytes: 4096 })
      expect((yield* Effect.flip(big.images.pull(big.ref)))._tag).toBe("ContentTooLarge")
      const junk = yield* setup((r) =>
        r.kind === "manifest"
          ? {
            kind: "body",
            status: 200,
            contentType: "application/vnd.oci.image.manifest.v1+json",
            body: "{\"schemaVersion\":2"
          }
          : undefined
      )
      expect((yield* Effect.flip(junk.images.pull(junk.ref)))._tag).toBe("InvalidContent")
    }))

  it.scoped("a missing blob is BlobNotFound, not retried", () =>
    Effect.gen(function*() {
      const { cacheDir, images, layerGets, ref } = yield* setup((r, l) =>
        isLayer(r, l) ? { kind: "status", status: 404 } : undefined
      )
      const e = yield* Effect.flip(images.pull(ref))
      expect(e._tag).toBe("BlobNotFound")
      expect(layerGets()).toBe(1)
      clean(cacheDir)
    }))

  it.scoped("a corrupted cached layer blob is verified before extraction, deleted and fetched again", () =>
    Effect.gen(function*() {
      const { cacheDir, fixtures, images, layerGets, ref } = yield* setup(() => undefined)
      const first = yield* images.pull(ref)
      const hex = fixtures.busybox.oci.layers[0]!.digest.slice(7)
      fs.rmSync(first.layers[0]!, { recursive: true })
      const blob = path.join(cacheDir, "blobs", "sha256", hex)
      const bytes = fs.readFileSync(blob)
      bytes[100] = bytes[100]! ^ 0xff
      fs.writeFileSync(blob, bytes)
      const again = yield* images.pull(ref)
      expect(again.layers).toEqual(first.layers)
      expect(fs.readlinkSync(path.join(again.layers[0]!, "bin/sh"))).toBe("busybox")
      expect(layerGets()).toBe(2)
      clean(cacheDir)
    }))

  it.scoped("a corrupted cached config is detected on read and fetched again", () =>
    Effect.gen(function*() {
      const { cacheDir, fixtures, images, proxy, ref } = yield* setup(() => undefined)
      yield* images.pull(ref)
      const fs = yield* Effect.promise(() => import("node:fs"))
      const cfg = `${cacheDir}/blobs/sha256/${fixtures.busybox.oci.config.digest.slice(7)}`
      fs.writeFileSync(cfg, "{\"tampered\":true}")
      const before = proxy.count((r) => r.kind === "blob")
      const img = yield* images.pull(ref.replace(/:latest$/, `@${fixtures.busybox.oci.manifest.digest}`))
      expect(img.config.config?.Cmd).toEqual(["sh"])
      expect(proxy.count((r) => r.kind === "blob")).toBe(before + 1)
      clean(cacheDir)
    }))
})
