import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  cacheLayout,
  initCache,
  listRefs,
  readBlobVerified,
  readRef,
  writeBlob,
  writeRef
} from "../../src/image/cache.js"
import { makeSingleFlight } from "../../src/image/cacheCoalesce.js"
import { Images, layerStatic } from "../../src/image/Images.js"
import { type PullEvent, throttledBytes } from "../../src/image/progress.js"
import { sha256 } from "../../src/image/registry/client.js"
import { tmpDir } from "../support/tmp.js"

describe("single flight", () => {
  it.scoped("runs one execution per key and shares its result and its failure", () =>
    Effect.gen(function*() {
      const flight = makeSingleFlight(yield* Effect.scope)
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const work = Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as("done"))
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(flight("k", work)))
      const other = yield* Effect.fork(flight("other", work))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual(["done", "done", "done"])
      expect(yield* Fiber.join(other)).toBe("done")
      expect(yield* Ref.get(runs)).toBe(2)
      // Finished keys run again.
      expect(yield* flight("k", work)).toBe("done")
      expect(yield* Ref.get(runs)).toBe(3)
      const failing = flight("bad", Effect.fail("boom" as const))
      expect(yield* Effect.flip(Effect.all([failing, failing], { concurrency: 2 }))).toBe("boom")
    }))

  it.scoped("one waiter's interruption does not cancel the shared work; closing the scope does", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const flight = makeSingleFlight(scope)
      const gate = yield* Deferred.make<void>()
      const work = Deferred.await(gate).pipe(Effect.as(42))
      const a = yield* Effect.fork(flight("k", work))
      const b = yield* Effect.fork(flight("k", work))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(a)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(b)).toBe(42)
      const c = yield* Effect.fork(flight("never", Effect.never))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      expect(Exit.isInterrupted(yield* Fiber.await(c))).toBe(true)
    }))
})

describe("progress", () => {
  it("throttles byte events but always reports the last", () => {
    const seen: Array<PullEvent> = []
    const onBytes = throttledBytes((e) => seen.push(e), "sha256:x", 10_000, 3_000)
    for (let n = 1000; n <= 10_000; n += 1000) onBytes(n)
    expect(seen.map((e) => (e._tag === "LayerBytes" ? e.received : -1))).toEqual([1000, 4000, 7000, 10_000])
  })
})

describe("cache files", () => {
  it.scoped("blobs are stored by digest, re-verified on read, and a tampered one is dropped", () =>
    Effect.gen(function*() {
      const l = cacheLayout(yield* tmpDir())
      yield* initCache(l)
      const bytes = Buffer.from("{\"hello\":1}")
      const digest = sha256(bytes)
      yield* writeBlob(l, digest, bytes)
      expect((yield* readBlobVerified(l, digest, 1024))._tag).toBe("Some")
      expect((yield* readBlobVerified(l, digest, 4))._tag).toBe("None") // over the limit
      fs.writeFileSync(path.join(l.blobs, digest.slice(7)), "{\"hello\":2}")
      expect((yield* readBlobVerified(l, digest, 1024))._tag).toBe("None")
      expect(fs.existsSync(path.join(l.blobs, digest.slice(7)))).toBe(false)
      expect(fs.readdirSync(l.tmp)).toEqual([])
    }))

  it.scoped("ref records round-trip; unreadable ones count as absent; dead processes' tmp files go at start", () =>
    Effect.gen(function*() {
      const l = cacheLayout(yield* tmpDir())
      yield* initCache(l)
      const rec = {
        ref: "h:1/a:latest",
        platform: "linux/amd64",
        digest: "sha256:" + "1".repeat(64),
        manifest: "sha256:" + "1".repeat(64),
        config: "sha256:" + "2".repeat(64),
        layers: ["sha256:" + "3".repeat(64)],
        size: 3,
        pulledAt: new Date(0).toISOString()
      }
      yield* writeRef(l, rec)
      expect(Option.getOrNull(yield* readRef(l, rec.ref, rec.platform))).toEqual(rec)
      // A record decoded once is reused only while its text is the same: a pull that moved the ref
      // (another process) is seen at the next read, a removed record is absent.
      const moved = { ...rec, digest: "sha256:" + "4".repeat(64), pulledAt: new Date(1).toISOString() }
      yield* writeRef(l, moved)
      expect(Option.getOrNull(yield* readRef(l, rec.ref, rec.platform))).toEqual(moved)
      for (const f of fs.readdirSync(l.refs)) fs.rmSync(path.join(l.refs, f))
      expect(Option.isNone(yield* readRef(l, rec.ref, rec.platform))).toBe(true)
      yield* writeRef(l, rec)
      fs.writeFileSync(path.join(l.refs, "junk.json"), "{not json")
      expect((yield* listRefs(l)).map((r) => r.ref)).toEqual([rec.ref])
      fs.writeFileSync(path.join(l.tmp, "999999999-dead-blob"), "partial")
      fs.writeFileSync(path.join(l.tmp, `${process.pid}-alive-blob`), "in progress")
      yield* initCache(l)
      expect(fs.readdirSync(l.tmp)).toEqual([`${process.pid}-alive-blob`])
    }))
})

describe("layerStatic", () => {
  it.effect("answers from its table by written or canonical ref", () =>
    Effect.gen(function*() {
      const img = {
        digest: "sha256:" + "a".repeat(64),
        manifestDigest: "sha256:" + "a".repeat(64),
        platform: "linux/amd64",
        layers: ["/srv/rootfs"],
        config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }
      }
      const images = yield* Effect.provide(Images, layerStatic({ "localhost/app:1": img }))
      expect(yield* images.pull("localhost/app:1")).toEqual({ ...img, ref: "localhost/app:1" })
      expect((yield* Effect.flip(images.pull("localhost/other"))).message).toMatch(/not found/)
      expect((yield* Effect.flip(images.pull("Bad Ref")))._tag).toBe("InvalidReference")
    }))
})
