/**
 * events() over the SQLite Store: history, since, and following events appended by another process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Stream } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { events } from "../../src/observe/events.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"

const storeLayer = (file: string) =>
  Effect.map(Layer.build(layerSqlite(file, { pollInterval: "10 millis" })), (ctx) => Context.get(ctx, Store))

describe("events", () => {
  it.scopedLive("history, since, pod filter; follow receives another process's events in order", () =>
    Effect.gen(function*() {
      const dir = yield* tmpDir("tank-events-")
      const file = path.join(dir, "tank.db")
      const store = yield* storeLayer(file)
      const old = new Date(Date.now() - 3_600_000).toISOString()
      yield* store.appendEvent({ at: old, pod: "web", type: "applied" })
      yield* store.appendEvent({ at: new Date().toISOString(), pod: "db", type: "applied" })
      const run = <A, E>(s: Stream.Stream<A, E, Store>) =>
        Stream.runCollect(s).pipe(Effect.map(Chunk.toArray), Effect.provideService(Store, store))
      assert.deepStrictEqual((yield* run(events())).map((e) => e.pod), ["web", "db"])
      assert.deepStrictEqual((yield* run(events({ since: "10m" }))).map((e) => e.pod), ["db"])
      assert.deepStrictEqual((yield* run(events({ pod: "web" }))).map((e) => e.type), ["applied"])
      assert.deepStrictEqual((yield* run(events({ limit: 1 }))).map((e) => e.pod), ["db"])

      // Follow from a second connection while a separate process appends.
      const reader = yield* storeLayer(file)
      const types = ["applied", "pulling", "starting", "running", "exited", "backing-off"]
      const follower = yield* events({ follow: true, since: "1m", pod: "api" }).pipe(
        Stream.take(types.length),
        Stream.runCollect,
        Effect.provideService(Store, reader),
        Effect.fork
      )
      yield* Effect.sleep("50 millis")
      yield* Effect.promise(() =>
        promisify(execFile)(
          process.execPath,
          ["--import", "tsx", path.join(import.meta.dirname, "eventWriter.ts"), file, "api", ...types],
          { cwd: path.join(import.meta.dirname, "../..") }
        )
      )
      const got = Chunk.toArray(yield* Fiber.join(follower).pipe(Effect.timeout("10 seconds")))
      assert.deepStrictEqual(got.map((e) => e.type), types)
      assert.deepStrictEqual(got.map((e) => e.restarts), [0, 1, 2, 3, 4, 5])
      const ids = got.map((e) => e.id)
      assert.deepStrictEqual(ids, [...ids].sort((a, b) => a - b))
    }))
})
