/**
 * Large layers are extracted on a worker thread (src/image/extractOffThread.ts), here the worker
 * bundle built as scripts/build.mjs builds it for `tank daemon`: the same tree and
 * the same typed errors as on this thread, progress while this thread is blocked, and an interrupted
 * extraction that leaves no descriptor open. The extractor's safety checks themselves are covered
 * by the other extract-*.test.ts files (the worker runs that very code).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import { finished, makeFollowCell, published } from "../../src/image/extract/follow.js"
import { extractLayerOffThread, OFF_THREAD_BYTES } from "../../src/image/extractOffThread.js"
import { buildExtractWorker } from "../support/extractWorker.js"
import { dir, file, GZIP_LAYER, listTree, tempDir, writeLayer } from "../support/tarFixtures.js"

let workerDir = ""
let workerFile = ""
beforeAll(async () => {
  const worker = await buildExtractWorker(".test-worker-")
  workerDir = worker.dir
  workerFile = worker.file
}, 60_000)
afterAll(() => fs.rmSync(workerDir, { recursive: true, force: true }))

const offThread = (blobPath: string, dest: string) =>
  extractLayerOffThread({ blobPath, mediaType: GZIP_LAYER, dest }, { workerFile })

/** Incompressible, so that the gzip blob is over the off-thread threshold. */
const bulk = (mb: number) => randomBytes(mb * 1024 * 1024)

const emptyDir = (parent: string, name: string) => {
  const d = path.join(parent, name)
  fs.mkdirSync(d)
  return d
}

const openFds = () => fs.readdirSync("/proc/self/fd").length

/** Blocks this thread (no event loop turn) until `p` exists or `ms` pass. */
const blockUntilExists = (p: string, ms: number) => {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const end = Date.now() + ms
  while (!fs.existsSync(p) && Date.now() < end) Atomics.wait(cell, 0, 0, 20)
  return fs.existsSync(p)
}

describe("extractLayerOffThread", () => {
  it.scopedLive("extracts a large layer to the same tree as the in-thread extractor", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const blob = yield* writeLayer(work, "big.tar.gz", [
        dir("data", { mode: 0o750 }),
        file("data/bulk", bulk(3), { mode: 0o640 }),
        file("data/small", "hello", { uid: 1000, gid: 1000 }),
        { name: "data/link", type: "symlink", linkname: "small" }
      ])
      expect(fs.statSync(blob).size).toBeGreaterThanOrEqual(OFF_THREAD_BYTES)
      const here = emptyDir(work, "here")
      const there = emptyDir(work, "there")
      yield* extractLayer({ blobPath: blob, mediaType: GZIP_LAYER, dest: here })
      yield* offThread(blob, there)
      expect(listTree(there)).toEqual(listTree(here))
      expect(fs.readFileSync(path.join(there, "data/small"), "utf8")).toBe("hello")
    }), { timeout: 60_000 })

  it.scopedLive(
    "follows a blob while it is written: the same tree; bytes that are not the blob's digest fail",
    () =>
      Effect.gen(function*() {
        const work = yield* tempDir()
        const blob = yield* writeLayer(work, "big.tar.gz", [
          file("first", "early"),
          file("bulk", bulk(3)),
          file("zz-last", "done")
        ])
        const bytes = fs.readFileSync(blob)
        const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`
        const here = emptyDir(work, "here")
        yield* extractLayer({ blobPath: blob, mediaType: GZIP_LAYER, dest: here })
        // Writes `content` into `growing` in steps, publishing each; the worker reads behind it.
        const follow = (content: Buffer, name: string) =>
          Effect.gen(function*() {
            const growing = path.join(work, `${name}.part`)
            const dest = emptyDir(work, name)
            const cell = makeFollowCell()
            const fd = fs.openSync(growing, "w")
            const fiber = yield* Effect.fork(
              extractLayerOffThread({
                blobPath: growing,
                mediaType: GZIP_LAYER,
                dest,
                follow: { cell, digest, size: content.length }
              }, { workerFile }).pipe(Effect.either)
            )
            const step = 256 * 1024
            for (let at = 0; at < content.length; at += step) {
              fs.writeSync(fd, content, at, Math.min(step, content.length - at), at)
              published(cell, Math.min(at + step, content.length))
              if (at === 0) {
                // the worker extracts what it has before the rest is written
                for (let i = 0; i < 1000 && !fs.existsSync(path.join(dest, "first")); i++) {
                  yield* Effect.sleep("10 millis")
                }
                expect(fs.existsSync(path.join(dest, "first"))).toBe(true)
              }
            }
            fs.closeSync(fd)
            finished(cell, true)
            return { result: yield* Fiber.join(fiber), dest }
          })
        const good = yield* follow(bytes, "good")
        expect(Either.isRight(good.result)).toBe(true)
        expect(listTree(good.dest)).toEqual(listTree(here))
        // Zeros after the gzip member, which gunzip ignores: every entry extracts, only the digest tells.
        const bad = yield* follow(Buffer.concat([bytes, Buffer.alloc(8)]), "bad")
        expect(Either.isLeft(bad.result) && bad.result.left.reason).toBe("Corrupt")
        expect(Either.isLeft(bad.result) && bad.result.left.detail).toContain("is not " + digest)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "makes progress while this thread is blocked (the work is on another thread)",
    () =>
      Effect.gen(function*() {
        const work = yield* tempDir()
        const blob = yield* writeLayer(work, "big.tar.gz", [file("bulk", bulk(3)), file("zz-last", "done")])
        const dest = emptyDir(work, "dest")
        const fiber = yield* Effect.fork(offThread(blob, dest))
        yield* Effect.sleep("20 millis") // the fiber has started the worker
        // On this thread the extraction could not advance at all while we hold the thread.
        expect(blockUntilExists(path.join(dest, "zz-last"), 30_000)).toBe(true)
        yield* Fiber.join(fiber)
        expect(fs.readFileSync(path.join(dest, "zz-last"), "utf8")).toBe("done")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a hostile large layer fails with the same typed error and writes nothing outside",
    () =>
      Effect.gen(function*() {
        const work = yield* tempDir()
        const outside = emptyDir(work, "outside")
        const blob = yield* writeLayer(work, "evil.tar.gz", [
          file("bulk", bulk(3)),
          dir("sub"),
          file("sub/../../outside/pwned", "gotcha")
        ])
        const a = yield* Effect.either(
          extractLayer({ blobPath: blob, mediaType: GZIP_LAYER, dest: emptyDir(work, "a") })
        )
        const b = yield* Effect.either(
          offThread(blob, emptyDir(work, "b"))
        )
        expect(Either.isLeft(a) && Either.isLeft(b)).toBe(true)
        if (Either.isLeft(a) && Either.isLeft(b)) {
          expect(b.left._tag).toBe("ExtractError")
          expect(b.left.reason).toBe("Hostile")
          expect({ ...b.left, blob: "" }).toEqual({ ...a.left, blob: "" })
          expect(b.left.message).toBe(a.left.message)
        }
        expect(fs.readdirSync(outside)).toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an interrupted extraction stops the worker and leaves no descriptor open",
    () =>
      Effect.gen(function*() {
        const work = yield* tempDir()
        const blob = yield* writeLayer(
          work,
          "huge.tar.gz",
          Array.from({ length: 40 }, (_, i) => file(`f${String(i).padStart(3, "0")}`, bulk(1)))
        )
        const dest = emptyDir(work, "dest")
        const before = openFds()
        const fiber = yield* Effect.fork(offThread(blob, dest))
        while (!fs.existsSync(path.join(dest, "f000"))) yield* Effect.sleep("5 millis")
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(fs.existsSync(path.join(dest, "f039"))).toBe(false) // it did stop midway
        expect(openFds()).toBe(before)
      }),
    { timeout: 60_000 }
  )
})
