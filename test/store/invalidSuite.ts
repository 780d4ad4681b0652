/**
 * The shared suite for unreadable records: what another writer (a bug, a downgrade, disk damage) can
 * leave in the store behind Tank's back, written raw by each layer's `Corrupt`, and how the Store
 * isolates it. Runs on SQLite (the project's own SQLite client writes the rows) and on etcd (a raw
 * client writes the keys); the memory layer cannot hold such records.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, type Scope, Stream } from "effect"
import { type InvalidRecord, isInvalidRecord, type StoreService } from "../../src/store/Store.js"
import { pod } from "./suite.js"

/** Raw writes, as a foreign writer makes them (each one a new store revision, like any write). */
export interface Corrupt {
  /** A pod record whose spec is this JSON value (the layer wraps it as it stores specs). */
  readonly podSpec: (name: string, spec: unknown) => Effect.Effect<void>
  /** A pod record whose whole stored value is this text. */
  readonly podRaw: (name: string, text: string) => Effect.Effect<void>
  readonly status: (name: string, text: string) => Effect.Effect<void>
  readonly event: (text: string) => Effect.Effect<void>
}

export interface InvalidEnv {
  readonly store: StoreService
  readonly corrupt: Corrupt
}

const spec = (name: string) => ({ name, restart: "always", containers: [{ name: "app", image: "busybox" }] })

const status = (name: string) => ({
  name,
  phase: "running" as const,
  restarts: 0,
  specRevision: 1,
  updatedAt: new Date().toISOString()
})

const keys = (rs: ReadonlyArray<InvalidRecord>) => rs.map((r) => `${r.kind}:${r.key}`)

export const invalidSuite = (label: string, env: Effect.Effect<InvalidEnv, never, Scope.Scope>) =>
  describe(`Store (${label}): unreadable records are isolated`, () => {
    it.scopedLive(
      "pods: not JSON, failing validation, named after another pod: listed apart, the rest readable",
      () =>
        Effect.gen(function*() {
          const { corrupt, store } = yield* env
          yield* store.put(pod("a"))
          yield* store.put(pod("good1"))
          yield* corrupt.podRaw("garbage", "\u0000\u0001 not json {{{")
          yield* corrupt.podSpec("nocontainers", { name: "nocontainers", containers: [] })
          yield* corrupt.podSpec("shadow", spec("good1"))
          const rev = yield* store.revision
          const { invalid, pods } = yield* store.list
          assert.deepStrictEqual(pods.map((p) => p.name), ["a", "good1"])
          assert.deepStrictEqual(keys(invalid), ["pod:garbage", "pod:nocontainers", "pod:shadow"])
          const [garbage, nocontainers, shadow] = invalid
          assert.isAbove(garbage!.revision!, 0)
          assert.include(nocontainers!.reason, "at least one container")
          assert.include(shadow!.reason, `the spec's name "good1" is not its key "shadow"`)
          assert.include(shadow!.message, "shadow")
          // Escaped where echoed: the NUL and ^A of the garbage never reach a message raw.
          for (const r of invalid) assert.isFalse([...r.message].some((c) => c.charCodeAt(0) < 0x20), r.message)
          // Single reads fail with the record; the others read as usual.
          const err = yield* Effect.flip(store.get("shadow"))
          assert.strictEqual(err._tag, "InvalidRecord")
          assert.isTrue(Option.isSome(yield* store.get("good1")))
          // Writes that need the spec refuse and write nothing.
          assert.strictEqual((yield* Effect.flip(store.requestRestart("shadow")))._tag, "InvalidRecord")
          assert.strictEqual((yield* Effect.flip(store.bind("garbage", "n1")))._tag, "InvalidRecord")
          assert.strictEqual(yield* store.revision, rev)
        }),
      { timeout: 30_000 }
    )

    it.scopedLive("the change feed reports an unreadable put and goes on", () =>
      Effect.gen(function*() {
        const { corrupt, store } = yield* env
        yield* store.put(pod("a"))
        const from = yield* store.revision
        const fiber = yield* store.watch(from).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* Effect.sleep("200 millis")
        yield* corrupt.podRaw("bad", "not json")
        yield* store.put(pod("b"))
        yield* store.delete("bad")
        const got = Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds")))
        assert.deepStrictEqual(
          got.map((c) =>
            c._tag === "PodInvalid"
              ? `invalid ${c.record.key}`
              : c._tag === "PodPut"
              ? `put ${c.pod.name}`
              : c._tag === "PodDeleted"
              ? `deleted ${c.name}`
              : c._tag
          ),
          ["invalid bad", "put b", "deleted bad"]
        )
      }), { timeout: 30_000 })

    it.scopedLive("a re-apply repairs an unreadable pod record; a delete removes one", () =>
      Effect.gen(function*() {
        const { corrupt, store } = yield* env
        yield* store.put(pod("a"))
        yield* store.requestRestart("a")
        yield* corrupt.podRaw("a", "garbage")
        const repaired = yield* store.put(pod("a", "never"))
        assert.strictEqual(repaired.spec.restart, "never")
        assert.strictEqual(Option.getOrThrow(yield* store.get("a")).spec.restart, "never")
        assert.deepStrictEqual((yield* store.list).invalid, [])
        yield* corrupt.podSpec("a", { name: "a" })
        assert.isTrue(yield* store.delete("a"))
        assert.deepStrictEqual(yield* store.list, { pods: [], invalid: [] })
      }), { timeout: 30_000 })

    it.scopedLive(
      "statuses and events: unreadable ones apart, the feed of events goes on past one",
      () =>
        Effect.gen(function*() {
          const { corrupt, store } = yield* env
          yield* store.putStatus(status("web"))
          yield* corrupt.status("db", "{\"name\": 42}")
          // A status about another pod than its key is unreadable too.
          yield* corrupt.status("x", JSON.stringify(status("web")))
          const { invalid, statuses } = yield* store.listStatus
          assert.deepStrictEqual(statuses.map((s) => s.name), ["web"])
          assert.deepStrictEqual(keys(invalid), ["status:db", "status:x"])
          assert.strictEqual((yield* Effect.flip(store.getStatus("db")))._tag, "InvalidRecord")
          const at = new Date().toISOString()
          const first = yield* store.appendEvent({ at, pod: "web", type: "starting" })
          const fiber = yield* store.events(first.id).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
          yield* Effect.sleep("200 millis")
          yield* corrupt.event("not an event")
          yield* store.appendEvent({ at, pod: "web", type: "running" })
          const feed = Chunk.toReadonlyArray(yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds")))
          assert.deepStrictEqual(feed.map((e) => isInvalidRecord(e) ? `invalid ${e.kind}` : e.type), [
            "invalid event",
            "running"
          ])
          const recent = yield* store.recentEvents(10)
          assert.deepStrictEqual(recent.events.map((e) => e.type), ["starting", "running"])
          assert.deepStrictEqual(recent.invalid.map((r) => r.kind), ["event"])
        }),
      { timeout: 30_000 }
    )

    it.scopedLive(
      "invalidRecords lists every kind; removeInvalid removes only what is still unreadable",
      () =>
        Effect.gen(function*() {
          const { corrupt, store } = yield* env
          yield* store.put(pod("good"))
          yield* corrupt.podRaw("bad", "{")
          yield* corrupt.podRaw("fixed", "{")
          yield* corrupt.status("bad", "{")
          yield* corrupt.event("{")
          const found = yield* store.invalidRecords
          assert.deepStrictEqual(keys(found).map((k) => k.replace(/^event:.*/, "event")), [
            "pod:bad",
            "pod:fixed",
            "status:bad",
            "event"
          ])
          // Repaired meanwhile: kept.
          yield* store.put(pod("fixed"))
          const fixed = found.find((r) => r.key === "fixed")!
          assert.isFalse(yield* store.removeInvalid(fixed.kind, fixed.key))
          assert.isTrue(Option.isSome(yield* store.get("fixed")))
          // A readable record is never removed this way.
          assert.isFalse(yield* store.removeInvalid("pod", "good"))
          for (const r of found.filter((r) => r.key !== "fixed")) {
            assert.isTrue(yield* store.removeInvalid(r.kind, r.key))
          }
          assert.deepStrictEqual(yield* store.invalidRecords, [])
          assert.deepStrictEqual((yield* store.list).pods.map((p) => p.name), ["fixed", "good"])
          assert.isTrue(Option.isNone(yield* store.get("bad")))
        }),
      { timeout: 30_000 }
    )
  })
