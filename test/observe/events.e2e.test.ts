/**
 * Events end to end (root): Api.apply into a SQLite store, the real Reconciler over the live
 * Runtime, and `events({ follow })` read through a second connection to the same file — the way
 * `tank events` in another process sees them.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Stream } from "effect"
import * as path from "node:path"
import * as Api from "../../src/api/Api.js"
import { events } from "../../src/observe/events.js"
import { formatEvent } from "../../src/observe/format.js"
import { layer as reconcilerLayer } from "../../src/reconciler/ReconcilerLive.js"
import { layerSqlite } from "../../src/store/sqlite.js"
import { Store } from "../../src/store/Store.js"
import { tmpDir } from "../support/tmp.js"
import { Machine, MachineLive, podName } from "./machine.js"

const storeAt = (file: string) =>
  Effect.map(Layer.build(layerSqlite(file, { pollInterval: "20 millis" })), (ctx) => Context.get(ctx, Store))

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("events (live, root)", (it) => {
  it.scoped("apply → starting → running → exited → backing-off arrive in order, from another connection", () =>
    Effect.gen(function*() {
      const { ctx, env } = yield* Machine
      const file = path.join(yield* tmpDir("tank-ev-"), "tank.db")
      const agentStore = yield* storeAt(file)
      const clientStore = yield* storeAt(file)
      const name = podName("ev")

      // The follower starts first, from "now": it must see everything that follows, in order.
      const follower = yield* events({ follow: true, pod: name }).pipe(
        Stream.takeUntil((e) => e.type === "backing-off"),
        Stream.runCollect,
        Effect.provideService(Store, clientStore),
        Effect.fork
      )
      yield* Effect.sleep("100 millis")
      yield* Layer.build(
        reconcilerLayer({ resyncIntervalMs: 60_000, backoff: { baseMs: 60_000 }, stopPodsOnExit: true }).pipe(
          Layer.provide(Layer.succeed(Store, agentStore)),
          Layer.provide(Layer.succeedContext(ctx))
        )
      )
      yield* Api.apply({
        name,
        restart: "always",
        containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", "sleep 0.3; exit 3"] }]
      }).pipe(Effect.provideService(Store, clientStore))

      const got = Chunk.toArray(yield* Fiber.join(follower).pipe(Effect.timeout("60 seconds")))
      const types: ReadonlyArray<string> = got.map((e) => e.type)
      const order = ["applied", "starting", "running", "exited", "backing-off"]
      const positions = order.map((t) => types.indexOf(t))
      assert.isTrue(positions.every((p) => p >= 0), types.join(","))
      assert.deepStrictEqual(positions, [...positions].sort((a, b) => a - b), types.join(","))
      assert.deepStrictEqual(got.map((e) => e.id), [...got.map((e) => e.id)].sort((a, b) => a - b))
      const exited = got.find((e) => e.type === "exited")!
      assert.strictEqual(exited.lastExit?.code, 3)
      assert.isAbove(got.find((e) => e.type === "backing-off")!.delayMs ?? 0, 0)
      // The text form carries the time, pod, type and details.
      assert.match(formatEvent(exited), new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${name} exited .*exit code 3`))

      // Not following: the same history, oldest first, from the other connection.
      const history = yield* events({ pod: name }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toArray),
        Effect.provideService(Store, clientStore)
      )
      assert.deepStrictEqual(history.map((e) => e.id).slice(0, got.length), got.map((e) => e.id))
      yield* Api.remove(name).pipe(Effect.provideService(Store, clientStore))
    }))
})
